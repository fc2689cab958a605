"""Validate a response-log frame and encode it to typed arrays, once, at the boundary.

Required columns: ``customer_id``, ``sent_at``, ``channel``, ``responded_at``.
Optional: ``wording``, ``tz``, ``unsubscribed``, ``complained``, ``propensity``,
``event_id`` and one column per extra dimension of the arm space. Other
columns are ignored. Every problem raises one ValueError naming the column,
the row (0-based position in the input, counted across chunks) and the value.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from channelopt import kernels as K
from channelopt.core.arms import ArmSpace
from channelopt.core.values import short
from channelopt.data.ids import encode_ids
from channelopt.data.tz import NAT, local_hour_weekday, to_utc_ns, zone_codes

__all__ = ["LOG_COLUMNS", "REQUIRED_COLUMNS", "EncodedLogs", "encode_logs"]

REQUIRED_COLUMNS = ("customer_id", "sent_at", "channel", "responded_at")
LOG_COLUMNS = REQUIRED_COLUMNS + ("wording", "tz", "unsubscribed", "complained", "propensity", "event_id")


@dataclass(frozen=True)
class EncodedLogs:
    """A validated chunk of the response log as contiguous typed arrays."""

    customer_id: pd.Series  # original ids, positional index
    sent_ns: np.ndarray  # int64 UTC ns
    responded_ns: np.ndarray  # int64 UTC ns, NAT = no response
    arms: np.ndarray  # int16 [n, n_dims]: flat arm index per dimension, -1 unknown
    unsubscribed: np.ndarray  # bool
    complained: np.ndarray  # bool
    propensity: np.ndarray  # float64, NaN where not logged
    event_hash: np.ndarray | None  # uint64 hash of event_id, None without the column
    zone_codes: np.ndarray  # int64 index into ``zones`` per row
    tz_known: np.ndarray  # bool: the row carries its own ``tz`` (else the default zone was assumed)
    zones: list[str]  # distinct IANA zones of the chunk
    event_id: pd.Series | None = None  # original event ids (for error messages), positional index
    row_offset: int = 0  # position of the chunk's first row in the whole input
    segment_codes: np.ndarray | None = None  # int64 index into ``segments`` (-1 = none); None without the column
    segments: list[str] = field(default_factory=list)  # distinct segments of the chunk (as text)

    def __len__(self) -> int:
        return int(self.sent_ns.shape[0])


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of a column, nulls coded -1: per-row work in pandas, Python only per distinct value."""
    codes, uniques = pd.factorize(s.reset_index(drop=True), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _unhashable(s: pd.Series, column: str, row_offset: int, expected: str) -> ValueError:
    """The error for the first value of ``s`` that cannot be compared (a list, a dict...)."""
    s = s.reset_index(drop=True)
    bad = next((i for i, v in enumerate(s) if not isinstance(v, Hashable)), 0)
    return ValueError(f"column {column!r}: value {short(s.iloc[bad])} in row {bad + row_offset} is not {expected}")


def _known(labels: tuple[str, ...], limit: int = 10) -> str:
    """The labels of a dimension for a message: all of them, or the first ``limit`` and how many in all."""
    if len(labels) <= limit:
        return ", ".join(labels)
    return ", ".join(short(lab, 20) if len(lab) > 20 else lab for lab in labels[:limit]) + f", ... ({len(labels)} in all)"


def _codes(s: pd.Series, labels: tuple[str, ...], column: str, *, required: bool, row_offset: int) -> np.ndarray:
    """Category codes of ``s`` in ``labels`` (values compared as text); -1 for nulls (an error when ``required``)."""
    try:
        codes, uniques = _factorize(s)
    except TypeError:  # an unhashable value
        raise _unhashable(s, column, row_offset, "a name (expected a string)") from None
    null = codes < 0
    if required and null.any():
        pos = int(np.flatnonzero(null)[0])
        raise ValueError(f"column {column!r}: missing value in row {pos + row_offset}")
    text = [v if isinstance(v, str) else str(v) for v in uniques]
    label_of = pd.Index(list(labels), dtype=object).get_indexer(pd.Index(text, dtype=object))
    label_of = np.append(label_of, -1).astype(np.int16)  # code -1 (null) -> -1
    out = label_of[codes]
    unknown = (out < 0) & ~null
    if unknown.any():
        pos = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"column {column!r}: unknown value {short(s.iloc[pos])} in row {pos + row_offset} "
                         f"(known: {_known(labels)})")
    return out


_TRUE = frozenset(("true", "1", "yes"))
_FALSE = frozenset(("false", "0", "no"))


def _flag_value(v: Any) -> int:
    """1 for true, 0 for false, -1 for no value (null, NaN, empty text), -2 for anything else."""
    if isinstance(v, (bool, np.bool_)):
        return int(bool(v))
    if isinstance(v, (int, np.integer)):
        return int(v) if v in (0, 1) else -2
    if isinstance(v, (float, np.floating)):
        if v != v:
            return -1
        return int(v) if v in (0.0, 1.0) else -2
    if isinstance(v, str):
        t = v.strip().lower()
        if t in _TRUE:
            return 1
        if t in _FALSE:
            return 0
        return -1 if t == "" else -2
    return -2


def parse_booleans(values: Any, column: str, *, row_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column of booleans strictly: ``(given, value)`` as two bool arrays.

    Accepted, in any case and with surrounding spaces: ``true``/``false``,
    ``yes``/``no``, ``1``/``0`` (as text or numbers) and booleans; null, NaN and
    empty text mean *no value* (``given`` False). Anything else is one
    ``ValueError`` naming the column, the row and the value (shortened).

    Examples
    --------
    >>> given, value = parse_booleans(pd.Series(["Yes", "no", None, "0", True]), "consent_email")
    >>> given.tolist(), value.tolist()
    ([True, True, False, True, True], [True, False, False, False, True])
    >>> parse_booleans(pd.Series(["true", "maybe"]), "consent_sms")
    Traceback (most recent call last):
    ...
    ValueError: column 'consent_sms': 'maybe' in row 1 is not a boolean (expected true/false, yes/no or 1/0)
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    s = s.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype) and not s.hasnans:
        v = s.to_numpy(dtype=bool)
        return np.ones(len(s), dtype=bool), v
    codes, uniques = _factorize(s)  # nulls are code -1
    parsed = np.array([_flag_value(v) for v in uniques] + [-1], dtype=np.int64)[codes]
    bad = parsed == -2
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column {column!r}: {short(s.iloc[pos])} in row {pos + row_offset} is not a boolean "
                         "(expected true/false, yes/no or 1/0)")
    return parsed >= 0, parsed == 1


def _flags(frame: pd.DataFrame, column: str, row_offset: int) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return parse_booleans(frame[column], column, row_offset=row_offset)[1]  # no value = False


def _propensity(frame: pd.DataFrame, row_offset: int) -> np.ndarray:
    n = len(frame)
    if "propensity" not in frame.columns:
        return np.full(n, np.nan)
    s = frame["propensity"].reset_index(drop=True)
    try:
        p = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    except TypeError:  # an unhashable value or a type to_numeric refuses outright
        raise _unhashable(s, "propensity", row_offset, "a number") from None
    unparsed = np.isnan(p) & s.notna().to_numpy()
    if unparsed.any():
        pos = int(np.flatnonzero(unparsed)[0])
        raise ValueError(f"column 'propensity': {short(s.iloc[pos])} in row {pos + row_offset} is not a number")
    bad = ~np.isnan(p) & ~((p > 0.0) & (p <= 1.0))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column 'propensity': value {float(p[pos])!r} in row {pos + row_offset} is outside (0, 1]")
    return p


def _clean_ids(ids: pd.Series, row_offset: int) -> pd.Series:
    """Customer ids checked once, at the boundary: all strings (valid Unicode) or all whole integers
    that fit in int64; the first row that is not is one ValueError. Returns the ids in the form the
    index encodes without copying again (int64, or Arrow strings for an object column of strings)."""
    dtype = ids.dtype
    if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_unsigned_integer_dtype(dtype):
        encode_ids(ids, "customer_id", row_offset=row_offset)  # raises on fractions, inf, ids >= 2**63
        return ids.astype(np.int64) if pd.api.types.is_float_dtype(dtype) else ids
    if dtype != object:
        return ids
    inferred = pd.api.types.infer_dtype(ids, skipna=False)
    if inferred == "string":
        try:
            arrow = pa.array(ids, type=pa.large_string(), from_pandas=True)
        except UnicodeEncodeError:
            encode_ids(ids, "customer_id", row_offset=row_offset)  # names the row of the lone surrogate
            raise
        return pd.Series(pd.arrays.ArrowStringArray(arrow))
    if inferred == "integer":
        encode_ids(ids, "customer_id", row_offset=row_offset)  # raises on ids outside int64
        return ids.astype(np.int64)

    def kind(v: Any) -> str:
        if isinstance(v, str):
            return "a string"
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return "an integer"
        return f"a {type(v).__name__}"

    kinds = ids.map(kind).to_numpy()
    if kinds[0] not in ("a string", "an integer"):
        pos = 0
    else:
        pos = int(np.flatnonzero(kinds != kinds[0])[0])
    first = "" if pos == 0 else f" after {kinds[0].split()[-1]} ids"
    raise ValueError(f"column 'customer_id': ids must be all strings or all integers; found {short(ids.iloc[pos])} "
                     f"({kinds[pos]}) in row {pos + row_offset}{first}")


def _event_hash(frame: pd.DataFrame, row_offset: int) -> np.ndarray | None:
    if "event_id" not in frame.columns:
        return None
    s = frame["event_id"].reset_index(drop=True)
    if s.isna().any():
        pos = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"column 'event_id': missing value in row {pos + row_offset}")
    _, offsets, data = encode_ids(s, "event_id", row_offset=row_offset)  # strings or integers, nothing else
    dup = s.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = s.iloc[rows[0]]
        same = rows[(s.iloc[rows] == first).to_numpy()]
        raise ValueError(f"column 'event_id': duplicate value {short(first)} in rows {same[0] + row_offset} "
                         f"and {same[1] + row_offset}")
    return K.hash_many(offsets, data)


def _check_columns(frame: pd.DataFrame, space: ArmSpace) -> None:
    """A column that is read must have one name: ``frame[name]`` of a repeated name is a frame, not a column."""
    if frame.columns.is_unique:
        return
    read = set(LOG_COLUMNS) | set(space.dimensions) | {"segment"}
    names = [str(c) for c in frame.columns]
    for name in names:
        if name in read and names.count(name) > 1:
            raise ValueError(f"logs: column {short(name)} appears {names.count(name)} times "
                             "(the columns of a log must have distinct names)")


def encode_logs(frame: pd.DataFrame, space: ArmSpace, default_tz: str, *, row_offset: int = 0) -> EncodedLogs:
    """Validate one chunk of the response log and encode it against ``space``.

    Parameters
    ----------
    frame : DataFrame
        Rows of the response log (schema in the module docstring).
    space : ArmSpace
        The arm space; channels, wordings and extra dimensions must be in it.
    default_tz : str
        Zone of rows without a ``tz`` value.
    row_offset : int
        Added to row numbers in error messages (position of the chunk).

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"])
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-05 09:00"],
    ...                      "channel": ["sms"], "responded_at": [None]})
    >>> enc = encode_logs(logs, space, "UTC")
    >>> enc.arms.tolist()  # channel sms, hour 9, Monday
    [[1, 11, 26]]
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"logs: expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ValueError("logs: the frame is empty (0 rows)")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"logs: missing required column {missing[0]!r} (columns present: {', '.join(map(str, frame.columns))})")
    _check_columns(frame, space)
    n = len(frame)
    ids = frame["customer_id"].reset_index(drop=True)
    if ids.isna().any():
        pos = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise ValueError(f"column 'customer_id': missing id in row {pos + row_offset}")
    ids = _clean_ids(ids, row_offset)
    sent = to_utc_ns(frame["sent_at"], "sent_at", allow_null=False, row_offset=row_offset)
    responded = to_utc_ns(frame["responded_at"], "responded_at", allow_null=True, row_offset=row_offset)
    early = (responded != NAT) & (responded < sent)
    if early.any():
        pos = int(np.flatnonzero(early)[0])
        raise ValueError(
            f"column 'responded_at': {pd.Timestamp(responded[pos], tz='UTC')} in row {pos + row_offset} is before "
            f"sent_at {pd.Timestamp(sent[pos], tz='UTC')}")
    codes, zones = zone_codes(frame["tz"] if "tz" in frame.columns else None, n, default_tz, row_offset=row_offset)
    if space.hours or space.weekdays:
        hour, weekday = local_hour_weekday(sent, codes, zones)

    offsets = space.offsets
    arms = np.full((n, len(space.dimensions)), -1, dtype=np.int16)
    for d, dim in enumerate(space.dimensions):
        if dim == "channel":
            local = _codes(frame["channel"], space.channels, "channel", required=True, row_offset=row_offset)
        elif dim == "hour":
            local = hour
        elif dim == "weekday":
            local = weekday
        elif dim in frame.columns:
            local = _codes(frame[dim], space.labels(dim), dim, required=False, row_offset=row_offset)
        else:
            continue
        arms[:, d] = np.where(local >= 0, local.astype(np.int16) + np.int16(offsets[d]), np.int16(-1))
    return EncodedLogs(
        customer_id=ids,
        sent_ns=sent,
        responded_ns=responded,
        arms=np.ascontiguousarray(arms),
        unsubscribed=_flags(frame, "unsubscribed", row_offset),
        complained=_flags(frame, "complained", row_offset),
        propensity=_propensity(frame, row_offset),
        event_hash=_event_hash(frame, row_offset),
        zone_codes=codes,
        tz_known=(frame["tz"].notna().to_numpy(dtype=bool) if "tz" in frame.columns else np.zeros(n, dtype=bool)),
        zones=zones,
        event_id=frame["event_id"].reset_index(drop=True) if "event_id" in frame.columns else None,
        row_offset=row_offset,
        **_segments(frame),
    )


def segment_text_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes (int64, -1 = null) and distinct names of segment values, compared as text."""
    values = values.reset_index(drop=True)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # nulls -> -1
    except TypeError:  # an unhashable value (a list, a dict...)
        bad = next(i for i, v in enumerate(values) if not isinstance(v, Hashable))
        raise ValueError(f"column 'segment': value {short(values.iloc[bad])} in row {bad} is not a segment name "
                         "(expected a string or a number)") from None
    # distinct values, then their text (1 and "1" are one segment), merged once per distinct value
    text_codes, names = pd.factorize(np.array([str(u) for u in uniques], dtype=object))
    lookup = np.append(text_codes.astype(np.int64), -1)
    return lookup[codes], [str(u) for u in names]


def _segments(frame: pd.DataFrame) -> dict[str, Any]:
    """Codes of the optional ``segment`` column (any values, compared as text; null = none)."""
    if "segment" not in frame.columns:
        return {}
    codes, names = segment_text_codes(frame["segment"])
    return {"segment_codes": codes, "segments": names}
