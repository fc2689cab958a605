"""Numba: grouping log rows by customer without sorting them.

A log of ``N`` rows over ``M`` customers is grouped twice during ingestion:
ids to customer rows (:func:`factorize_hashes`) and, per customer, the row
that sets their zone or segment (:func:`latest_per_group`). Both used to be
``np.lexsort``/``pd.factorize`` passes over all ``N`` rows with a random
memory access each; here they are linear passes whose random accesses stay in
cache (a radix partition by hash for the first, one small record per customer
for the second).

Ids are identified by two independent 64-bit hashes of their bytes (128 bits):
two different ids are taken for one only if both hashes agree, which for a
billion distinct ids has a probability below ``1e-20``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from channelopt.kernels.rng import splitmix64

__all__ = ["factorize_hashes", "latest_per_group", "second_hashes"]

_FNV_PRIME = np.uint64(0x100000001B3)
_SECOND_OFFSET = np.uint64(0x84222325CBF29CE4)  # another FNV start: a hash independent of ``hash_bytes``
_SECOND_SALT = np.uint64(0xA5A5A5A5A5A5A5A5)
_RADIX_BITS = 8
_N_PARTS = 1 << _RADIX_BITS


@njit(cache=True, parallel=True)
def second_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A second 64-bit hash of every id ``data[offsets[i]:offsets[i+1]]``, independent of ``hash_bytes``."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in prange(n):
        h = _SECOND_OFFSET
        for k in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[k])) * _FNV_PRIME
        out[i] = splitmix64(h ^ _SECOND_SALT ^ np.uint64(offsets[i + 1] - offsets[i]))
    return out


@njit(cache=True, parallel=True)
def factorize_hashes(h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, first)``: the code of every key ``(h1[i], h2[i])``, codes numbered in order of first
    occurrence, and the position of each code's first occurrence.

    Rows are partitioned by the top bits of ``h1`` (256 parts, each hashed with
    a table that fits in cache, in parallel), then codes are numbered in row
    order. The result does not depend on the number of threads.

    Examples
    --------
    >>> h = np.array([7, 3, 7, 9, 3], dtype=np.uint64) << np.uint64(56)
    >>> codes, first = factorize_hashes(h, h)
    >>> codes.tolist(), first.tolist()
    ([0, 1, 0, 2, 1], [0, 1, 3])
    """
    n = h1.shape[0]
    shift = np.uint64(64 - _RADIX_BITS)
    start = np.zeros(_N_PARTS + 1, dtype=np.int64)
    for i in range(n):
        start[np.int64(h1[i] >> shift) + 1] += 1
    for b in range(_N_PARTS):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    perm = np.empty(n, dtype=np.int64)  # rows grouped by part, in row order within each part
    for i in range(n):
        b = np.int64(h1[i] >> shift)
        perm[fill[b]] = i
        fill[b] += 1
    first_row = np.empty(n, dtype=np.int64)  # the first row with the same key as row i
    for b in prange(_N_PARTS):
        lo = start[b]
        hi = start[b + 1]
        size = 16
        while size < 2 * (hi - lo):
            size *= 2
        mask = np.uint64(size - 1)
        table = np.zeros((size, 3), dtype=np.uint64)  # h1, h2, first row + 1 (0: empty)
        for q in range(lo, hi):
            i = perm[q]
            a = h1[i]
            c = h2[i]
            p = a & mask
            while True:
                f = table[p, 2]
                if f == 0:
                    table[p, 0] = a
                    table[p, 1] = c
                    table[p, 2] = np.uint64(i + 1)
                    first_row[i] = i
                    break
                if table[p, 0] == a and table[p, 1] == c:
                    first_row[i] = np.int64(f) - 1
                    break
                p = (p + np.uint64(1)) & mask
    codes = np.empty(n, dtype=np.int64)
    n_codes = 0
    for i in range(n):
        f = first_row[i]
        if f == i:
            codes[i] = n_codes
            n_codes += 1
        else:
            codes[i] = codes[f]  # f < i: already numbered
    first = np.empty(n_codes, dtype=np.int64)
    for i in range(n):
        if first_row[i] == i:
            first[codes[i]] = i
    return codes, first


@njit(cache=True)
def latest_per_group(groups: np.ndarray, t: np.ndarray, codes: np.ndarray, rank_of_code: np.ndarray,
                     n_groups: int) -> np.ndarray:
    """For every group, the row with the largest ``(t, rank_of_code[codes])`` (-1 for a group without rows).

    Among rows with equal ``t`` and rank the first is kept (callers rank the
    values rows set, so such rows set the same value).

    Examples
    --------
    >>> latest_per_group(np.array([0, 1, 0, 0]), np.array([5, 1, 9, 9]), np.array([0, 0, 1, 2]),
    ...                  np.array([0, 1, 2]), 3).tolist()
    [3, 1, -1]
    """
    best = np.full(n_groups, -1, dtype=np.int64)
    for i in range(groups.shape[0]):
        g = groups[i]
        b = best[g]
        if b < 0 or t[i] > t[b] or (t[i] == t[b] and rank_of_code[codes[i]] > rank_of_code[codes[b]]):
            best[g] = i
    return best
