"""Population priors by empirical Bayes: a beta-binomial fit per arm.

For arm ``j`` every customer ``i`` with history contributes its (decayed) sends
``n_ij`` and responses ``k_ij``; the prior ``Beta(alpha_j, beta_j)`` maximises the
beta-binomial marginal likelihood ``sum_i log B(k + alpha, n - k + beta) - log B(alpha, beta)``.
It is parameterised by its mean ``m`` and strength ``s = alpha + beta`` (the
"learned strength": how many sends of evidence the population is worth), with
``s`` bounded to ``[0.5, max_strength]``. Arms with no history get the pooled
rate of their dimension with strength 2.

The customers used per arm are a deterministic sample by id hash, summed in
hash order, so the prior does not depend on the order in which customers were
first seen (fitting in any order of chunks gives the same prior).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

__all__ = ["fit_population_prior"]

_MIN_STRENGTH = 0.5


def _collect(sends, responses, hashes, j, sample):
    col = np.asarray(sends[:, j], dtype=np.float64)
    rows = np.flatnonzero(col > 0)
    if rows.size > sample:
        rows = rows[np.argpartition(hashes[rows], sample - 1)[:sample]]
    rows = rows[np.argsort(hashes[rows], kind="stable")]
    n = col[rows]
    k = np.minimum(np.asarray(responses[rows, j], dtype=np.float64), n)
    return n, k


def _moments(n, k):
    """Method-of-moments start (mean, strength) for one arm."""
    m = (k.sum() + 0.5) / (n.sum() + 1.0)
    rates = k / n
    w = n / n.sum()
    var = float(np.sum(w * (rates - m) ** 2))
    binom = m * (1 - m) * np.mean(1.0 / np.maximum(n, 1.0))
    excess = var - binom
    s = m * (1 - m) / excess - 1.0 if excess > 1e-12 else 100.0
    return float(np.clip(m, 1e-6, 1 - 1e-6)), float(s)


def fit_population_prior(
    sends: np.ndarray,
    responses: np.ndarray,
    hashes: np.ndarray,
    dim_offsets: np.ndarray,
    *,
    max_strength: float = 1000.0,
    sample: int = 5000,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``Beta(alpha_j, beta_j)`` for every arm ``j`` from per-customer statistics.

    Parameters
    ----------
    sends, responses : array (n_customers, n_arms)
        Decayed sufficient statistics.
    hashes : array (n_customers,) of uint64
        Customer id hashes (order the deterministic sample).
    dim_offsets : array
        Start of each dimension in the arm vector, plus the total.
    max_strength : float
        Upper bound of ``alpha + beta``.
    sample : int
        At most this many customers per arm enter the likelihood.

    Returns
    -------
    alpha, beta : arrays (n_arms,) of float64

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.beta(2, 18, size=3000)            # true rates, mean 0.1, strength 20
    >>> n = np.full((3000, 1), 40.0); k = rng.binomial(40, p)[:, None].astype(float)
    >>> a, b = fit_population_prior(n, k, np.arange(3000, dtype=np.uint64), np.array([0, 1]))
    >>> round(float(a[0] / (a[0] + b[0])), 2), 10 < a[0] + b[0] < 40
    (0.1, True)
    """
    n_arms = int(dim_offsets[-1])
    alpha = np.empty(n_arms)
    beta = np.empty(n_arms)
    max_strength = float(max_strength)
    cols = [_collect(sends, responses, hashes, j, sample) for j in range(n_arms)]
    fitted = [j for j in range(n_arms) if cols[j][0].size > 0]
    if fitted:
        arm_of = np.concatenate([np.full(cols[j][0].size, t) for t, j in enumerate(fitted)])
        n_all = np.concatenate([cols[j][0] for j in fitted])
        k_all = np.concatenate([cols[j][1] for j in fitted])
        f_all = n_all - k_all
        n_fit = len(fitted)
        counts = np.bincount(arm_of, minlength=n_fit).astype(np.float64)
        start = np.array([_moments(*cols[j]) for j in fitted])
        lo_s, hi_s = np.log(_MIN_STRENGTH), np.log(max_strength)
        x0 = np.concatenate([special.logit(start[:, 0]), np.clip(np.log(np.maximum(start[:, 1], 1e-9)), lo_s, hi_s)])

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            m = special.expit(x[:n_fit])
            s = np.exp(x[n_fit:])
            a, b = s * m, s * (1.0 - m)
            ae, be = a[arm_of], b[arm_of]
            ll = special.betaln(k_all + ae, f_all + be).sum() - float(np.dot(counts, special.betaln(a, b)))
            psi_n = special.digamma(n_all + ae + be)
            ga = np.bincount(arm_of, special.digamma(k_all + ae) - psi_n, minlength=n_fit)
            gb = np.bincount(arm_of, special.digamma(f_all + be) - psi_n, minlength=n_fit)
            psi_s = special.digamma(s)
            ga += counts * (psi_s - special.digamma(a))
            gb += counts * (psi_s - special.digamma(b))
            gu = (ga - gb) * s * m * (1.0 - m)
            gv = ga * a + gb * b
            return -ll, -np.concatenate([gu, gv])

        bounds = [(-20.0, 20.0)] * n_fit + [(lo_s, hi_s)] * n_fit
        res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-8})
        m = special.expit(res.x[:n_fit])
        s = np.exp(res.x[n_fit:])
        alpha[fitted] = s * m
        beta[fitted] = s * (1.0 - m)
    empty = [j for j in range(n_arms) if cols[j][0].size == 0]
    for j in empty:
        d = int(np.searchsorted(dim_offsets, j, side="right") - 1)
        lo, hi = int(dim_offsets[d]), int(dim_offsets[d + 1])
        tot_n = float(sum(cols[i][0].sum() for i in range(lo, hi)))
        tot_k = float(sum(cols[i][1].sum() for i in range(lo, hi)))
        m = (tot_k + 1.0) / (tot_n + 2.0)
        alpha[j], beta[j] = 2.0 * m, 2.0 * (1.0 - m)
    return alpha, beta
