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

from channelopt import kernels as K
from channelopt.core.values import plain
from channelopt.data.ids import encode_ids, encode_one
from channelopt.kernels import grouping as G

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
