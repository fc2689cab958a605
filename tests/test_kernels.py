"""Numba kernels: exact Beta sampler, counter-based determinism, hashing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from channelopt import kernels as K
from channelopt.kernels.ingest import _NAT

GRID = [(0.5, 0.5), (1, 1), (1, 100), (1, 500), (5, 200), (50, 60), (2000, 30000), (0.2, 3.0)]


@pytest.mark.parametrize("a,b", GRID)
def test_beta_sampler_matches_scipy(a, b):
    x = K.beta_sample(float(a), float(b), np.uint64(2026), 100_000)
    assert np.all((x >= 0) & (x <= 1))
    assert stats.kstest(x, stats.beta(a, b).cdf).statistic <= 0.01


def test_draws_are_pure_functions_of_the_counter():
    a = K.beta_sample(2.0, 5.0, np.uint64(1), 1000)
    b = K.beta_sample(2.0, 5.0, np.uint64(1), 3000)
    np.testing.assert_array_equal(a, b[:1000])  # draw i depends on (seed, i) only, not on n or threads
    c = K.beta_sample(2.0, 5.0, np.uint64(2), 1000)
    assert np.mean(a == c) < 0.01


def test_uniform_stream_is_uniform():
    x = K.beta_sample(1.0, 1.0, np.uint64(9), 200_000)
    assert stats.kstest(x, "uniform").statistic < 0.005
    # successive draws are uncorrelated
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01


def test_hash_depends_on_every_byte_and_length():
    data = np.frombuffer(b"abcabcd", dtype=np.uint8)
    h1 = K.hash_bytes(data, 0, 3)
    h2 = K.hash_bytes(data, 3, 6)
    h3 = K.hash_bytes(data, 3, 7)
    assert h1 == h2 and h1 != h3
    offsets = np.array([0, 3, 6, 7], dtype=np.int64)
    np.testing.assert_array_equal(K.hash_many(offsets, data), [h1, h2, K.hash_bytes(data, 6, 7)])


def _log(seed: int, n: int = 3000, customers: int = 97, arms: int = 12):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, customers, size=n)
    arm = np.stack([rng.integers(0, 4, n), 4 + rng.integers(0, 8, n), np.where(rng.random(n) < 0.2, -1, 0)], axis=1)
    h = 3_600 * 10**9
    sent = rng.integers(0, 100 * h, size=n)
    resp = np.where(rng.random(n) < 0.3, sent + rng.integers(0, 80 * h, size=n), _NAT)
    negative = rng.random(n) < 0.05
    return rows, np.ascontiguousarray(arm), sent, resp, negative, customers, arms


@pytest.mark.parametrize("by_reply", [True, False])
def test_resolve_sends_matches_the_vectorised_rule(by_reply):
    rows, arm, sent, resp, negative, _, _ = _log(0)
    h = 3_600 * 10**9
    as_of, watermark, window, half_life = 100 * h, 80 * h, 72 * h, 500 * h
    outcome, weight = K.resolve_sends(sent, resp, negative, as_of, watermark, window, by_reply, half_life)
    in_window = (resp != _NAT) & (resp - sent <= window)
    resolved = np.where(in_window & by_reply, resp, sent + window)
    counted = (resolved <= as_of) & (resolved > watermark)
    np.testing.assert_array_equal(outcome == K.PENDING, resolved > as_of)
    np.testing.assert_array_equal(outcome == K.BEFORE_WATERMARK, resolved <= watermark)
    np.testing.assert_array_equal(outcome == K.RESPONDED, counted & in_window & ~negative)
    np.testing.assert_array_equal(outcome >= K.COUNTED, counted)
    np.testing.assert_allclose(weight, np.where(counted, np.exp2(-(as_of - sent) / half_life), 0.0), rtol=1e-15)
    assert {0, 1, 2, 3} <= set(outcome.tolist())  # the log exercises every outcome


def test_log_kernels_do_not_depend_on_the_number_of_parts():
    rows, arm, sent, resp, negative, customers, arms = _log(1)
    outcome, weight = K.resolve_sends(sent, resp, negative, 100 * 3_600 * 10**9, _NAT, 72 * 3_600 * 10**9,
                                      True, 0)
    minutes = K.ceil_minutes(sent)
    channel = arm[:, 0].astype(np.int8)
    results = []
    for parts in (1, 2, 5):
        sends = np.zeros((customers, arms), np.float32)
        responses = np.zeros((customers, arms), np.float32)
        squares = np.zeros((customers, arms), np.float32)
        hist_t = np.full((customers, 4), np.iinfo(np.int32).min, np.int32)
        hist_c = np.zeros((customers, 4), np.int8)
        K.accumulate(rows, arm, weight, outcome, sends, responses, squares, parts)
        K.remember_log_sends(rows, minutes, channel, hist_t, hist_c, parts)
        results.append((sends, responses, hist_t, hist_c, squares))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    # the serial reference: one customer row at a time, in log order
    hist_t = np.full((customers, 4), np.iinfo(np.int32).min, np.int32)
    hist_c = np.zeros((customers, 4), np.int8)
    K.remember_sends(rows, minutes, channel, hist_t, hist_c)
    np.testing.assert_array_equal(hist_t, results[0][2])
    counted = outcome >= K.COUNTED
    expected = np.zeros((customers, arms))
    for d in range(arm.shape[1]):
        ok = counted & (arm[:, d] >= 0)
        np.add.at(expected, (rows[ok], arm[ok, d]), weight[ok])
    np.testing.assert_allclose(results[0][0], expected, rtol=1e-6)
    np.testing.assert_array_equal(results[0][4], results[0][0])  # whole sends (no decay): squares == sends
