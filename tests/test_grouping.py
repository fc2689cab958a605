"""Grouping kernels of ingestion (channelopt.kernels.grouping) against numpy/pandas references."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from channelopt.kernels import grouping as G
from channelopt import kernels as K
from channelopt.state.index import encode_ids


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=300), st.sampled_from([1, 2, 256]))
def test_factorize_hashes_is_pandas_factorize(keys, parts):
    # distinct keys, distinct hashes; their top 8 bits (the radix part) are ``key % parts``
    k = np.array(keys, dtype=np.uint64)
    low = (k * np.uint64(0x9E3779B97F4A7C15)) & np.uint64((1 << 56) - 1)
    h = low | ((k % np.uint64(parts)) << np.uint64(56))
    codes, first = G.factorize_hashes(h, h ^ np.uint64(5))
    want, uniques = pd.factorize(np.array(keys, dtype=np.int64))
    np.testing.assert_array_equal(codes, want)
    np.testing.assert_array_equal(first, [keys.index(u) for u in uniques])


def test_factorize_hashes_tells_keys_apart_by_either_hash():
    h1 = np.array([1, 1, 1, 2], dtype=np.uint64)
    h2 = np.array([5, 6, 5, 5], dtype=np.uint64)
    codes, first = G.factorize_hashes(h1, h2)
    assert codes.tolist() == [0, 1, 0, 2] and first.tolist() == [0, 1, 3]


def test_factorize_ids_of_a_large_log():
    rng = np.random.default_rng(0)
    ids = np.array([f"c-{i:07d}" for i in rng.integers(0, 30_000, size=200_000)], dtype=object)
    _, offsets, data = encode_ids(ids)
    codes, first = G.factorize_hashes(K.hash_many(offsets, data), G.second_hashes(offsets, data))
    want, uniques = pd.factorize(ids)
    np.testing.assert_array_equal(codes, want)
    assert ids[first].tolist() == list(uniques)


def test_second_hash_is_independent_of_the_first():
    _, offsets, data = encode_ids([f"id-{i}" for i in range(5000)])
    h1, h2 = K.hash_many(offsets, data), G.second_hashes(offsets, data)
    assert np.unique(h2).size == 5000
    # low bits of the two hashes agree about as often as chance (1/16)
    assert abs(np.mean((h1 & np.uint64(15)) == (h2 & np.uint64(15))) - 1 / 16) < 0.015


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(0, 3)), max_size=120))
def test_latest_per_group_is_the_last_of_a_lexsort(rows):
    g = np.array([r[0] for r in rows], dtype=np.int64)
    t = np.array([r[1] for r in rows], dtype=np.int64)
    codes = np.array([r[2] for r in rows], dtype=np.int64)
    rank_of_code = np.array([2, 0, 3, 1], dtype=np.int64)
    rank = rank_of_code[codes]
    best = G.latest_per_group(g, t, codes, rank_of_code, 7)
    order = np.lexsort((rank, t, g))
    for grp in range(7):
        mine = order[g[order] == grp]
        if mine.size == 0:
            assert best[grp] == -1
        else:
            b = best[grp]
            assert g[b] == grp and (t[b], rank[b]) == (t[mine[-1]], rank[mine[-1]])
