"""Customer and event ids at the data boundary: strings or integers encoded once into bytes and offsets.

String ids are stored as UTF-8 and integer ids as 8 little-endian bytes, so the layers
below (the customer index, the kernels) see one byte buffer with offsets and never a
Python object per id. Anything that is not a valid id is one ValueError naming the
column, the row and the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from channelopt.core.values import short

__all__ = ["encode_ids", "encode_one"]

_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
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
