"""Low-level time helpers on int64 UTC nanoseconds, vectorised per time zone."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from channelopt.core.clock import NAT, NS_PER_S
from channelopt.core.config import check_zone
from channelopt.core.values import short

__all__ = ["LATENCY_EDGES_S",
           "NAT",
           "NS_PER_H",
           "NS_PER_S",
           "as_utc_timestamp",
           "latency_bins",
           "local_hour_weekday",
           "next_hour_start",
           "next_hour_start_ns",
           "now_timestamp",
           "send_at_table",
           "to_utc_ns",
           "zone_codes"]

NS_PER_H = 3600 * NS_PER_S

#: Upper edges (seconds) of the latency grid; bin 0 is [0, 60 s).
LATENCY_EDGES_S = 60.0 * 2.0 ** (np.arange(64) / 4.0)


def latency_bins(latency_ns: np.ndarray) -> np.ndarray:
    """Bin index of each latency on the grid (the last bin takes everything beyond it).

    Examples
    --------
    >>> latency_bins(np.array([0, 59, 60, 3600], dtype=np.int64) * 10**9).tolist()
    [0, 0, 1, 24]
    """
    secs = np.asarray(latency_ns, dtype=np.float64) / NS_PER_S
    return np.minimum(np.searchsorted(LATENCY_EDGES_S, secs, side="right"), LATENCY_EDGES_S.size - 1)


def to_utc_ns(values: Any, column: str, *, allow_null: bool, row_offset: int = 0) -> np.ndarray:
    """Parse a column of timestamps (tz-aware, naive = UTC, or strings) to int64 UTC ns.

    Nulls become ``NAT`` when ``allow_null``; otherwise, and for any value that
    cannot be parsed, a ValueError names the column, the row and the value.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    s = s.reset_index(drop=True)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        parsed = s.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        parsed = s.dt.tz_localize("UTC")
    else:
        if pd.api.types.is_numeric_dtype(s.dtype) and not s.isna().all():
            pos = int(np.flatnonzero(s.notna().to_numpy())[0])
            raise ValueError(f"column {column!r}: cannot parse {short(s.iloc[pos])} in row {pos + row_offset} "
                             "as a timestamp (numbers are not timestamps)")
        try:
            parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            try:
                parsed = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
            except (ValueError, TypeError, OverflowError):
                parsed = _one_by_one(s)
        bad = parsed.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"column {column!r}: cannot parse {short(s.iloc[pos])} in row {pos + row_offset} "
                             "as a timestamp")
    try:
        ns = parsed.dt.as_unit("ns").array.asi8.copy() if len(parsed) else np.zeros(0, dtype=np.int64)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        out = ((parsed < lo) | (parsed > hi)).to_numpy(dtype=bool)
        pos = int(np.flatnonzero(out)[0]) if out.any() else 0
        raise ValueError(f"column {column!r}: {short(s.iloc[pos])} in row {pos + row_offset} is outside the "
                         "supported range of timestamps (years 1677-2262)") from None
    if not allow_null:
        missing = ns == NAT
        if missing.any():
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(f"column {column!r}: missing timestamp in row {pos + row_offset}")
    return ns


def _one_by_one(s: pd.Series) -> pd.Series:
    """Parse value by value (the vectorised parsers gave up on the column): NaT where a value does not parse."""
    def one(v: Any) -> Any:
        try:
            ts = pd.Timestamp(v)
        except (ValueError, TypeError, OverflowError):
            return pd.NaT
        return ts if ts.tzinfo is not None or ts is pd.NaT else ts.tz_localize("UTC")

    return pd.to_datetime(pd.Series([one(v) for v in s], dtype=object), utc=True, errors="coerce")


def zone_codes(tz: Any, n: int, default_tz: str, *, column: str = "tz", row_offset: int = 0) -> tuple[np.ndarray, list[str]]:
    """Factorise a per-row zone column (None = every row in ``default_tz``); check every zone name."""
    if tz is None:
        return np.zeros(n, dtype=np.int64), [default_tz]
    s = pd.Series(tz).reset_index(drop=True)
    s = s.where(s.notna(), default_tz)
    try:
        codes, uniques = pd.factorize(s.astype(str))
    except (TypeError, UnicodeEncodeError):
        codes, uniques = pd.factorize(pd.Series([str(v) for v in s], dtype=object))
    zones = [str(z) for z in uniques]
    for k, z in enumerate(zones):
        try:
            check_zone(z, f"column {column!r}")
        except ValueError as exc:
            pos = int(np.flatnonzero(codes == k)[0])
            raise ValueError(f"{exc} in row {pos + row_offset}") from None
    return codes.astype(np.int64), zones


_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR
_QUARTER_NS = 15 * 60 * NS_PER_S
_MAX_TABLE = 1 << 22  # most (zone, quarter hour) offsets tabulated per call
# quarter hours whose bounds pandas can hold (the first and last partial ones go through pandas)
_MIN_TABLE_NS = int(pd.Timestamp.min.value)
_MAX_TABLE_NS = int(pd.Timestamp.max.value)


def local_hour_weekday(utc_ns: np.ndarray, codes: np.ndarray, zones: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Local hour (0-23) and weekday (0 = Monday) of each instant.

    The UTC offset of every zone is tabulated per quarter hour of UTC over the
    span of the instants (modern zone offsets change on quarter hours) and one
    compiled pass reads each instant's offset from that table; the few quarter
    hours in which an offset changes (historical local mean times) and spans
    too long to tabulate go through pandas' ``tz_convert``. Exact either way.

    Examples
    --------
    >>> t = np.array([0, 12 * _NS_PER_HOUR])          # 1970-01-01 00:00 and 12:00 UTC
    >>> hour, weekday = local_hour_weekday(t, np.array([0, 1]), ["UTC", "America/New_York"])
    >>> hour.tolist(), weekday.tolist()                 # a Thursday; 07:00 in New York
    ([0, 7], [3, 3])
    """
    utc_ns = np.ascontiguousarray(utc_ns, dtype=np.int64)
    n = utc_ns.shape[0]
    hour = np.empty(n, dtype=np.int16)
    weekday = np.empty(n, dtype=np.int16)
    if n == 0:
        return hour, weekday
    codes = np.zeros(n, dtype=np.int64) if len(zones) == 1 else np.ascontiguousarray(codes, dtype=np.int64)
    first = int(utc_ns.min()) // _QUARTER_NS
    n_slots = int(utc_ns.max()) // _QUARTER_NS - first + 1
    in_range = _MIN_TABLE_NS <= first * _QUARTER_NS and (first + n_slots) * _QUARTER_NS <= _MAX_TABLE_NS
    if in_range and n_slots * len(zones) <= min(_MAX_TABLE, n):  # else tabulating costs more than it saves
        offset, exact = _offset_table(first, n_slots, zones)
        todo = _wall_fields(utc_ns, codes, first, offset, exact, hour, weekday)
    else:
        todo = np.arange(n)
    if todo.size:
        for k, zone in enumerate(zones):
            rows = todo[codes[todo] == k]
            if rows.size:
                wall = _wall_ns(utc_ns[rows], zone)
                hour[rows] = (wall // _NS_PER_HOUR) % 24
                weekday[rows] = (wall // _NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday
    return hour, weekday


def _wall_ns(utc_ns: np.ndarray, zone: str) -> np.ndarray:
    """Local wall-clock time in ns of UTC instants."""
    return pd.DatetimeIndex(utc_ns.view("M8[ns]")).tz_localize("UTC").tz_convert(zone).tz_localize(None).asi8


def _offset_table(first: int, n_slots: int, zones: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTC offset (ns) of each zone at the start of each quarter hour, and whether it holds to the quarter's end."""
    start = (first + np.arange(n_slots, dtype=np.int64)) * _QUARTER_NS
    last = start + (_QUARTER_NS - 1)
    offset = np.empty((len(zones), n_slots), dtype=np.int64)
    exact = np.empty((len(zones), n_slots), dtype=np.bool_)
    for k, zone in enumerate(zones):
        offset[k] = _wall_ns(start, zone) - start
        exact[k] = offset[k] == _wall_ns(last, zone) - last
    return offset, exact


@njit(cache=True, parallel=True)
def _wall_fields(utc_ns, codes, first, offset, exact, hour, weekday):
    """Fill hour and weekday from the offset table; return the rows whose quarter hour is not exact."""
    n = utc_ns.shape[0]
    miss = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        k = codes[i]
        s = utc_ns[i] // _QUARTER_NS - first
        if exact[k, s]:
            wall = utc_ns[i] + offset[k, s]
            hour[i] = (wall // _NS_PER_HOUR) % 24
            weekday[i] = (wall // _NS_PER_DAY + 3) % 7
        else:
            miss[i] = True
    return np.flatnonzero(miss)


def as_utc_timestamp(value: Any, name: str) -> pd.Timestamp:
    """A single timestamp as tz-aware UTC in ns (naive = UTC).

    Text, ``datetime``, ``numpy.datetime64`` and pandas Timestamps are accepted;
    numbers are not timestamps (``5`` would be 5 ns after 1970), and instants
    outside pandas' nanosecond range (years 1677-2262) are refused, each with one
    ValueError naming ``name`` and the value.

    Examples
    --------
    >>> as_utc_timestamp("2026-01-05 09:00+01:00", "now")
    Timestamp('2026-01-05 08:00:00+0000', tz='UTC')
    >>> as_utc_timestamp(datetime(2500, 1, 1), "now")
    Traceback (most recent call last):
    ...
    ValueError: now: datetime.datetime(2500, 1, 1, 0, 0) is outside the supported range of timestamps (years 1677-2262)
    """
    if isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
        if isinstance(value, (float, np.floating)) and value != value:
            raise ValueError(f"{name}: a timestamp is required, got {short(value)}")
        raise ValueError(f"{name}: cannot parse {short(value)} as a timestamp (numbers are not timestamps)")
    try:
        ts = pd.Timestamp(value)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise ValueError(f"{name}: {short(value)} is outside the supported range of timestamps "
                         "(years 1677-2262)") from None
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError(f"{name}: cannot parse {short(value)} as a timestamp") from None
    if pd.isna(ts):
        raise ValueError(f"{name}: a timestamp is required, got {short(value)}")
    try:
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        raise ValueError(f"{name}: {short(value)} is outside the supported range of timestamps "
                         "(years 1677-2262)") from None


def next_hour_start(now: datetime, zone: str, hour: int) -> datetime:
    """The next start of local ``hour`` in ``zone`` at or after ``now`` (UTC), within 24 h.

    When ``now`` already lies in that local hour the answer is ``now`` (send
    right away). DST-correct: wall-clock hours are counted in local time; a local
    hour skipped by a spring-forward change maps to the instant the clock jumps
    to, and a repeated hour (fall back) to its first occurrence.

    Examples
    --------
    >>> now = datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc)   # the day before CEST starts
    >>> next_hour_start(now, "Europe/Paris", 9).isoformat()       # 09:00 CEST = 07:00 UTC
    '2026-03-29T07:00:00+00:00'
    """
    tz = _zone(zone)
    local = now.astimezone(tz)
    if local.hour == hour:
        return now
    ahead = (hour - local.hour) % 24
    wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(hours=ahead)
    start = wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    return max(start, now)


def send_at_table(now_ns: int, zones: list[str]) -> np.ndarray:
    """UTC ns of :func:`next_hour_start` at ``now_ns`` for every (zone, hour): shape ``(len(zones), 24)``."""
    out = np.empty((len(zones), 24), dtype=np.int64)
    for z, zone in enumerate(zones):
        for h in range(24):
            out[z, h] = next_hour_start_ns(now_ns, zone, h)
    return out


_SLOT_NS = 15 * 60 * NS_PER_S  # every zone offset and DST change falls on a quarter hour


def next_hour_start_ns(now_ns: int, zone: str, hour: int) -> int:
    """:func:`next_hour_start` on int64 UTC ns, from a per-(zone, quarter hour) cache.

    Within one quarter hour of UTC the local hour and the next start of every
    other local hour do not change, so the answer is a table look-up.

    Examples
    --------
    >>> now = datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc)
    >>> next_hour_start_ns(_to_ns(now), "Europe/Paris", 9) == _to_ns(next_hour_start(now, "Europe/Paris", 9))
    True
    """
    local_hour, starts = _hour_starts(zone, now_ns // _SLOT_NS)
    if hour == local_hour:
        return now_ns
    return max(starts[hour], now_ns)


@functools.lru_cache(maxsize=8192)
def _hour_starts(zone: str, slot: int) -> tuple[int, tuple[int, ...]]:
    start = _EPOCH + timedelta(microseconds=slot * (_SLOT_NS // 1000))
    local_hour = start.astimezone(_zone(zone)).hour
    return local_hour, tuple(_to_ns(next_hour_start(start, zone, h)) for h in range(24))


def _to_ns(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def now_timestamp(now: Any) -> pd.Timestamp:
    """``now`` as a UTC-aware nanosecond Timestamp (the wall clock when None).

    Examples
    --------
    >>> now_timestamp("2026-03-02 09:00+01:00").value
    1772438400000000000
    """
    if isinstance(now, pd.Timestamp) and now.tzinfo is not None and now.unit == "ns":
        return now  # .value is UTC ns whatever the zone
    if now is None:
        return pd.Timestamp(datetime.now(timezone.utc)).as_unit("ns")
    return as_utc_timestamp(now, "now")  # ns; out of range, numbers and NaT are one ValueError
