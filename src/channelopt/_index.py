"""Customer index: id -> row for millions of customers without a Python object per customer.

Ids are stored as one byte buffer with offsets (UTF-8 for string ids, 8
little-endian bytes for integer ids), hashed with a 64-bit hash; the sorted
hashes with the (int32) permutation that sorts them answer look-ups (a guess
from the hash's value, then galloping: hashes are uniform), and the stored bytes
confirm each match (so hash collisions are harmless). The hash also keys every
Thompson draw of the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _grouping as G
from . import _kernels as K
from ._values import plain, short

__all__ = ["CustomerIndex", "encode_ids", "encode_one"]

_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
_MAX_CUSTOMERS = 2**31 - 1  # rows are int32 in the sorted order


def _first(values: Any) -> Any:
    """The first of a batch of ids (for an error message)."""
    return values.iloc[0] if isinstance(values, pd.Series) else next(iter(values))


def _take(offsets: np.ndarray, data: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)`` of the ids ``which`` of an encoded batch, in that order."""
    lengths = offsets[which + 1] - offsets[which]
    out = np.zeros(which.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out, K.gather_bytes(offsets, data, np.ascontiguousarray(which, dtype=np.int64), out)


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_RANGE = "outside the integer id range [-2**63, 2**63) (store such ids as strings)"


def _int_ids(arr: np.ndarray, n: int) -> tuple[str, np.ndarray, np.ndarray]:
    return "int", np.arange(n + 1, dtype=np.int64) * 8, arr.astype("<i8").view(np.uint8)


def _not_text(s: pd.Series, column: str, row_offset: int) -> ValueError:
    """The error for the first string id that is not valid Unicode text (a lone surrogate)."""
    for pos, v in enumerate(s):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return ValueError(f"column {column!r}: id {short(v)} in row {pos + row_offset} is not valid text "
                              "(it holds a lone surrogate, which has no UTF-8 encoding)")
        except AttributeError:
            break
    return ValueError(f"column {column!r}: ids are not valid text")


def encode_ids(values: Any, column: str = "customer_id", *, row_offset: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """Encode ids to ``(kind, offsets, data)``; ``kind`` is ``"int"`` or ``"str"``.

    Integer ids must fit in int64 (an id in ``[2**63, 2**64)`` would share its
    8 bytes with a negative one); string ids must be valid Unicode. Anything
    else -- nulls, mixed types, floats that are not whole numbers, ids out of
    range, lone surrogates -- is one ValueError naming ``column``, the row
    (plus ``row_offset``) and the value.

    Examples
    --------
    >>> kind, offsets, data = encode_ids(["a", "bc"])
    >>> kind, offsets.tolist(), bytes(data)
    ('str', [0, 1, 3], b'abc')
    >>> encode_ids(pd.Series([1, 2**63], dtype=np.uint64))
    Traceback (most recent call last):
    ...
    ValueError: column 'customer_id': id 9223372036854775808 in row 1 is outside the integer id range [-2**63, 2**63) (store such ids as strings)
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    n = len(s)
    if n and s.isna().any():
        pos = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"column {column!r}: missing id in row {pos + row_offset}")
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"column {column!r}: ids must be strings or integers, got booleans")
    if pd.api.types.is_integer_dtype(dtype):
        if pd.api.types.is_unsigned_integer_dtype(dtype) and n:
            raw = s.to_numpy(dtype=np.uint64)
            big = np.flatnonzero(raw > np.uint64(_INT64_MAX))
            if big.size:
                raise ValueError(f"column {column!r}: id {int(raw[big[0]])} in row {int(big[0]) + row_offset} "
                                 f"is {_RANGE}")
        return _int_ids(s.to_numpy(dtype=np.int64), n)
    if pd.api.types.is_float_dtype(dtype):
        arr = s.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            raise ValueError(f"column {column!r}: id {float(arr[bad[0]])!r} in row {int(bad[0]) + row_offset} "
                             "is not a whole number")
        out = np.flatnonzero((arr < -(2.0**63)) | (arr >= 2.0**63))
        if out.size:
            raise ValueError(f"column {column!r}: id {float(arr[out[0]])!r} in row {int(out[0]) + row_offset} "
                             f"is {_RANGE}")
        return _int_ids(arr.astype(np.int64), n)
    try:
        arrow = pa.array(s, type=pa.large_string(), from_pandas=True)
    except UnicodeEncodeError:
        raise _not_text(s, column, row_offset) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds = s.map(lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))
        if kinds.all():
            big = s.map(lambda v: not _INT64_MIN <= int(v) <= _INT64_MAX).to_numpy(dtype=bool)
            if big.any():
                pos = int(np.flatnonzero(big)[0])
                raise ValueError(f"column {column!r}: id {short(s.iloc[pos])} in row {pos + row_offset} "
                                 f"is {_RANGE}") from None
            return encode_ids(s.astype(np.int64), column, row_offset=row_offset)
        # name the first id whose kind differs from the first id's (or the first that is neither)
        is_str = s.map(lambda v: isinstance(v, str)).to_numpy()
        is_int = kinds.to_numpy(dtype=bool)
        if is_str[0]:
            pos = int(np.flatnonzero(~is_str)[0])
        elif is_int[0]:
            pos = int(np.flatnonzero(~is_int)[0])
        else:
            pos = 0
        raise ValueError(
            f"column {column!r}: ids must be all strings or all integers; found {short(s.iloc[pos])} "
            f"in row {pos + row_offset}"
        ) from None
    if n == 0:
        return "str", np.zeros(1, dtype=np.int64), _EMPTY_U8
    arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    if arrow.offset:
        arrow = pa.concat_arrays([arrow])  # normalise a sliced array
    bufs = arrow.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1)
    start = offsets[0]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else _EMPTY_U8
    data = data[start:offsets[-1]]
    return "str", np.ascontiguousarray(offsets - start), np.ascontiguousarray(data)


def encode_one(customer_id: Any) -> tuple[str, np.ndarray]:
    """Encode one id to ``(kind, bytes)`` without pandas (the single-decision path).

    Examples
    --------
    >>> encode_one(2**64)
    Traceback (most recent call last):
    ...
    ValueError: customer_id: 18446744073709551616 is outside the integer id range [-2**63, 2**63) (store such ids as strings)
    """
    if isinstance(customer_id, str):
        try:
            raw = customer_id.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"customer_id: {short(customer_id)} is not valid text (it holds a lone surrogate, "
                             "which has no UTF-8 encoding)") from None
        return "str", np.frombuffer(raw, dtype=np.uint8)
    if isinstance(customer_id, (int, np.integer)) and not isinstance(customer_id, (bool, np.bool_)):
        if not _INT64_MIN <= int(customer_id) <= _INT64_MAX:
            raise ValueError(f"customer_id: {short(customer_id)} is {_RANGE}")
        return "int", np.frombuffer(int(customer_id).to_bytes(8, "little", signed=True), dtype=np.uint8)
    raise ValueError(f"customer_id: must be a string or an integer, got {short(customer_id)}")


@dataclass(frozen=True)
class CustomerIndex:
    """Immutable id -> row map; :meth:`extend` returns a new index.

    Examples
    --------
    >>> idx, rows = CustomerIndex.empty().extend(["c-1", "c-2", "c-1"])
    >>> rows.tolist(), len(idx), idx.row_of("c-2"), idx.row_of("nobody")
    ([0, 1, 0], 2, 1, -1)
    """

    kind: str | None
    offsets: np.ndarray  # int64[n + 1]
    data: np.ndarray  # uint8 id bytes
    sorted_hashes: np.ndarray  # uint64[n]
    order: np.ndarray  # int32[n]: row of each sorted hash

    @classmethod
    def empty(cls) -> "CustomerIndex":
        return cls(None, np.zeros(1, dtype=np.int64), _EMPTY_U8, np.zeros(0, dtype=np.uint64),
                   np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return int(self.sorted_hashes.shape[0])

    @property
    def hashes(self) -> np.ndarray:
        """The hash of every id in row order (computed on each call: the index keeps only the sorted copy)."""
        out = np.empty(len(self), dtype=np.uint64)
        out[self.order] = self.sorted_hashes
        return out

    def _check_kind(self, kind: str, example: Any) -> None:
        if self.kind is not None and kind != self.kind:
            want = "integers" if self.kind == "int" else "strings"
            raise ValueError(f"customer_id: this model's ids are {want}, got {plain(example)!r}")

    def encode(self, values: Any, column: str = "customer_id") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encode a batch of ids to ``(offsets, data, hashes)`` after checking their kind."""
        kind, offsets, data = encode_ids(values, column)
        if len(offsets) > 1:
            self._check_kind(kind, _first(values))
        return offsets, data, K.hash_many(offsets, data)

    def rows_of(self, values: Any, column: str = "customer_id") -> tuple[np.ndarray, np.ndarray]:
        """Rows (-1 where unknown) and hashes of a batch of ids."""
        offsets, data, hashes = self.encode(values, column)
        rows = K.lookup_many(self.sorted_hashes, self.order, self.offsets, self.data, hashes, offsets, data)
        return rows, hashes

    def row_of(self, customer_id: Any) -> int:
        """Row of one id, -1 when unknown."""
        return self.locate(customer_id)[0]

    def locate(self, customer_id: Any) -> tuple[int, np.uint64]:
        """``(row, hash)`` of one id: the allocation-light path used by ``choose_channel``."""
        kind, raw = encode_one(customer_id)
        self._check_kind(kind, customer_id)
        h = np.uint64(K.hash_bytes(raw, 0, raw.shape[0]))  # numba returns a Python int: keep it unsigned
        if not len(self):
            return -1, h
        return int(K.lookup_one(self.sorted_hashes, self.order, self.offsets, self.data, h, raw, 0,
                                raw.shape[0])), h

    def extend(self, values: Any, column: str = "customer_id") -> tuple["CustomerIndex", np.ndarray]:
        """Add unseen ids; return the new index and the row of every value.

        New ids get the next rows in order of first occurrence in ``values``.
        The batch is grouped by two independent 64-bit hashes (no sort, no
        Python object per id) and only its distinct ids are looked up.
        """
        kind, offsets, data = encode_ids(values, column)
        if len(offsets) == 1:
            return self, np.zeros(0, dtype=np.int64)
        self._check_kind(kind, _first(values))
        hashes = K.hash_many(offsets, data)
        codes, first = G.factorize_hashes(hashes, G.second_hashes(offsets, data))
        u_offsets, u_data = _take(offsets, data, first)
        u_hashes = hashes[first]
        u_rows = K.lookup_many(self.sorted_hashes, self.order, self.offsets, self.data, u_hashes, u_offsets, u_data)
        new = np.flatnonzero(u_rows < 0)  # in order of first occurrence
        if new.size == 0:
            return self, u_rows[codes]
        n_old = len(self)
        if n_old + new.size > _MAX_CUSTOMERS:
            raise ValueError(f"{column}: more than {_MAX_CUSTOMERS:,} distinct customers in one model")
        u_rows[new] = n_old + np.arange(new.size, dtype=np.int64)
        n_offsets, n_data = _take(u_offsets, u_data, new)
        new_hashes = u_hashes[new]
        # merge into the sorted hashes: equal hashes stay in row order (as a stable argsort would)
        by_hash = np.argsort(new_hashes, kind="stable")
        at = np.searchsorted(self.sorted_hashes, new_hashes[by_hash], side="right")
        idx = CustomerIndex(
            kind,
            np.concatenate([self.offsets, self.offsets[-1] + n_offsets[1:]]),
            np.concatenate([self.data, n_data]),
            np.insert(self.sorted_hashes, at, new_hashes[by_hash]),
            np.insert(self.order, at, (n_old + by_hash).astype(np.int32)),
        )
        return idx, u_rows[codes]

    def ids(self) -> np.ndarray:
        """All ids in row order (int64 array, or object array of str)."""
        if self.kind == "int":
            return self.data.view("<i8").copy()
        if not len(self):
            return np.zeros(0, dtype=object)
        arr = pa.LargeStringArray.from_buffers(len(self), pa.py_buffer(self.offsets), pa.py_buffer(self.data))
        return arr.to_numpy(zero_copy_only=False)

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to persist."""
        return {"id_offsets": self.offsets, "id_data": self.data, "id_sorted_hashes": self.sorted_hashes,
                "id_order": self.order}

    @classmethod
    def from_arrays(cls, kind: str | None, arrays: dict[str, np.ndarray]) -> "CustomerIndex":
        return cls(kind, arrays["id_offsets"], arrays["id_data"], arrays["id_sorted_hashes"], arrays["id_order"])
