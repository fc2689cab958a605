"""Empirical-Bayes population priors (beta-binomial per arm)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from channelopt.state.priors import fit_population_prior


def beta_binomial(rng: np.random.Generator, n_customers: int, alpha: float, beta: float,
                  sends: tuple[int, int] = (5, 60)) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer sends and responses with response rates drawn from Beta(alpha, beta)."""
    p = rng.beta(alpha, beta, size=n_customers)
    n = rng.integers(sends[0], sends[1] + 1, size=n_customers)
    return n.astype(np.float64), rng.binomial(n, p).astype(np.float64)


def mean_strength(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return alpha / (alpha + beta), alpha + beta


def test_recovers_mean_and_strength_of_known_betas():
    # two dimensions of one arm each: Beta(2, 18) (mean 0.1, strength 20) and Beta(6, 4) (0.6, 10).
    # With 3000 customers the standard errors are about 0.0015 on the mean and 1.1 on the strength
    # (measured over seeds); the bounds below are 4 standard errors wide.
    rng = np.random.default_rng(2026)
    n0, k0 = beta_binomial(rng, 3000, 2.0, 18.0)
    n1, k1 = beta_binomial(rng, 3000, 6.0, 4.0)
    sends = np.column_stack([n0, n1]).astype(np.float32)
    responses = np.column_stack([k0, k1]).astype(np.float32)
    hashes = rng.permutation(3000).astype(np.uint64)
    a, b = fit_population_prior(sends, responses, hashes, np.array([0, 1, 2]))
    m, s = mean_strength(a, b)
    assert abs(m[0] - 0.1) < 0.006 and 15.0 < s[0] < 25.0
    assert abs(m[1] - 0.6) < 0.01 and 6.0 < s[1] < 14.0


def test_recovers_from_a_sample_of_customers():
    rng = np.random.default_rng(7)
    n, k = beta_binomial(rng, 12000, 3.0, 27.0)  # mean 0.1, strength 30
    hashes = rng.integers(0, 2**63, size=12000).astype(np.uint64)
    a, b = fit_population_prior(n[:, None], k[:, None], hashes, np.array([0, 1]), sample=4000)
    m, s = mean_strength(a, b)
    assert abs(m[0] - 0.1) < 0.006 and 20.0 < s[0] < 45.0


def test_arm_without_data_gets_the_pooled_dimension_rate_with_strength_2():
    # dimension 0: arms 0, 1, 2 (arm 1 empty); dimension 1: arms 3, 4 (both empty)
    rng = np.random.default_rng(3)
    sends = np.zeros((50, 5))
    responses = np.zeros((50, 5))
    sends[:, 0] = rng.integers(1, 8, size=50)
    responses[:, 0] = rng.binomial(sends[:, 0].astype(int), 0.3)
    sends[:20, 2] = 4.0
    responses[:20, 2] = rng.binomial(4, 0.1, size=20)
    a, b = fit_population_prior(sends, responses, np.arange(50, dtype=np.uint64), np.array([0, 3, 5]))
    pooled = (responses.sum() + 1.0) / (sends.sum() + 2.0)
    np.testing.assert_allclose([a[1], b[1]], [2.0 * pooled, 2.0 * (1.0 - pooled)], rtol=1e-12)
    np.testing.assert_allclose([a[3], b[3], a[4], b[4]], [1.0, 1.0, 1.0, 1.0], rtol=1e-12)  # nothing at all: 1/2
    assert a[0] + b[0] != 2.0 and a[2] + b[2] != 2.0  # arms with data are fitted


@pytest.mark.parametrize("max_strength", [100.0, 1000.0])
def test_strength_is_bounded_without_overdispersion(max_strength):
    # every customer has the same rate 0.2: the marginal likelihood grows with the strength
    rng = np.random.default_rng(11)
    n = np.full(2000, 50.0)
    k = rng.binomial(50, 0.2, size=2000).astype(np.float64)
    a, b = fit_population_prior(n[:, None], k[:, None], np.arange(2000, dtype=np.uint64), np.array([0, 1]),
                                max_strength=max_strength)
    m, s = mean_strength(a, b)
    assert s[0] <= max_strength * (1 + 1e-12)
    np.testing.assert_allclose(s[0], max_strength, rtol=1e-9)
    assert abs(m[0] - 0.2) < 0.005


def test_arm_nobody_answered_keeps_a_small_positive_mean():
    rng = np.random.default_rng(5)
    sends = np.zeros((400, 2))
    responses = np.zeros((400, 2))
    sends[:, 0] = 5.0  # 2000 sends, no reply at all
    sends[:, 1] = rng.integers(1, 10, size=400)
    responses[:, 1] = rng.binomial(sends[:, 1].astype(int), 0.3)
    a, b = fit_population_prior(sends, responses, rng.permutation(400).astype(np.uint64), np.array([0, 2]))
    m, _ = mean_strength(a, b)
    pooled = (responses.sum() + 1.0) / (sends.sum() + 2.0)
    assert 1e-5 < m[0] < pooled
    assert np.all(np.isfinite(a)) and np.all(a > 0) and np.all(b > 0)


@pytest.mark.parametrize("sample", [5000, 60])
def test_prior_does_not_depend_on_the_order_of_customers(sample):
    rng = np.random.default_rng(9)
    n_customers, n_arms = 150, 6
    sends = rng.poisson(2.0, size=(n_customers, n_arms)).astype(np.float32) * np.float32(0.75)
    responses = np.minimum(rng.binomial(np.ceil(sends).astype(int), 0.25), sends).astype(np.float32)
    hashes = rng.integers(0, 2**63, size=n_customers).astype(np.uint64)
    offsets = np.array([0, 3, 6])
    a, b = fit_population_prior(sends, responses, hashes, offsets, sample=sample)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(n_customers)
        pa, pb = fit_population_prior(sends[perm], responses[perm], hashes[perm], offsets, sample=sample)
        np.testing.assert_array_equal(pa, a)
        np.testing.assert_array_equal(pb, b)


def test_prior_is_stable_under_float32_rounding_of_the_statistics():
    # summing chunks in another order changes the float32 statistics by an ulp or so; the prior
    # must move by little more (this is what makes a chunked fit equal one fit)
    rng = np.random.default_rng(21)
    worst = 0.0
    for trial in range(6):
        n_customers = int(rng.integers(2, 40))
        sends = (rng.poisson(3.0, size=(n_customers, 8)) * rng.uniform(0.3, 1.0, size=(n_customers, 8))).astype(np.float32)
        responses = (sends * (rng.random(sends.shape) < 0.3)).astype(np.float32)
        hashes = rng.integers(0, 2**63, size=n_customers).astype(np.uint64)
        offsets = np.array([0, 3, 8])

        def nudge(x: np.ndarray) -> np.ndarray:
            up = rng.random(x.shape) < 0.5
            return np.where(x > 0, np.nextafter(x, np.where(up, np.float32(np.inf), np.float32(0))), x).astype(np.float32)

        s2 = nudge(sends)
        r2 = np.minimum(nudge(responses), s2)
        a, b = fit_population_prior(sends, responses, hashes, offsets)
        a2, b2 = fit_population_prior(s2, r2, hashes, offsets)
        worst = max(worst, float(np.max(np.abs(a2 - a) / a)), float(np.max(np.abs(b2 - b) / b)))
    assert worst < 1e-5


def test_same_input_same_prior():
    rng = np.random.default_rng(4)
    sends = rng.poisson(4.0, size=(80, 4)).astype(np.float32)
    responses = np.minimum(rng.binomial(sends.astype(int), 0.2), sends).astype(np.float32)
    hashes = rng.integers(0, 2**63, size=80).astype(np.uint64)
    first = fit_population_prior(sends, responses, hashes, np.array([0, 4]))
    second = fit_population_prior(sends.copy(), responses.copy(), hashes.copy(), np.array([0, 4]))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@settings(max_examples=40, deadline=None)
@given(seed=hs.integers(0, 2**31 - 1), n=hs.integers(1, 300), sample=hs.integers(1, 120),
       density=hs.floats(0.0, 1.0))
def test_prior_sample_is_the_smallest_hashes_with_sends(seed, n, sample, density):
    # the customers with sends on an arm, ordered by id hash, first `sample` of them (k capped at n)
    from channelopt.state.priors import _columns

    rng = np.random.default_rng(seed)
    sends = np.where(rng.random((n, 5)) < density, rng.integers(1, 9, (n, 5)), 0).astype(np.float32)
    responses = np.floor(sends * rng.random((n, 5)) * 1.3).astype(np.float32)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    cols = _columns(sends, responses, hashes, sample)
    for j in range(5):
        rows = np.flatnonzero(sends[:, j] > 0)
        rows = rows[np.argsort(hashes[rows], kind="stable")][:sample]
        np.testing.assert_array_equal(cols[j][0], sends[rows, j].astype(np.float64))
        np.testing.assert_array_equal(cols[j][1], np.minimum(responses[rows, j], sends[rows, j]).astype(np.float64))
