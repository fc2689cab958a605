"""Population priors by empirical Bayes: a beta-binomial fit per arm.

For arm ``j`` every customer ``i`` with history contributes its (decayed) sends
``n_ij`` and responses ``k_ij``; the prior ``Beta(alpha_j, beta_j)`` maximises the
beta-binomial marginal likelihood ``sum_i log B(k + alpha, n - k + beta) - log B(alpha, beta)``.
It is parameterised by its mean ``m`` and strength ``s = alpha + beta`` (the
"learned strength": how many sends of evidence the population is worth), with
``s`` bounded to ``[0.5, max_strength]``. Arms with no history get the pooled
rate of their dimension with strength 2.

Decayed sends weigh ``w < 1``, and their sum ``n`` is not a number of sends: the
binomial noise of a weighted rate ``k / n`` is ``p (1 - p) q / n ** 2`` with
``q = sum(w ** 2)``, i.e. that of ``n_eff = n ** 2 / q >= n`` whole sends. Taking
``n`` for whole sends overstates the noise, leaves too little of the spread of
the rates to the population and drives the strength to ``max_strength``. So
every customer enters the likelihood with ``n_eff`` sends and ``k n_eff / n``
responses (``squares`` = the store's ``squared_weights``); without decay
``q == n`` and nothing changes, bit for bit. The fitted strength is then in
whole sends, while a customer's posterior adds the decayed ``n``: forgetting
still moves every customer toward the prior.

Two weak hyperpriors make the optimum unique and interior, so the fit is well
conditioned: the mean gets ``Beta(1 + 2 p, 1 + 2 (1 - p))`` where ``p`` is the
pooled response rate of the arm's dimension (an arm on which nobody answered yet
keeps a small positive prior mean instead of collapsing to 0, so it is still
explored), and ``log s`` gets the penalty ``0.01 (log s - log 10) ** 2`` (a
Gaussian of standard deviation 7: it only matters where the data cannot tell the
strength at all). Arms are independent; the maximum of each is found by damped
Newton steps, all arms at once, to where the exact gradient vanishes, so float32 rounding differences in the statistics (e.g. from
summing chunks in another order) move the prior by about as little as they move
the statistics.

The customers used per arm are a deterministic sample by id hash, summed in
hash order, so the prior does not depend on the order in which customers were
first seen (fitting in any order of chunks gives the same prior). No BLAS call
is involved (their summation order can depend on threads and memory alignment).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from channelopt import kernels as K

__all__ = ["fit_population_prior", "fit_segment_priors"]

_MIN_STRENGTH = 0.5
_MEAN_PSEUDO = 2.0  # weight of the hyperprior of each arm's mean, centred on its dimension's pooled rate
_LOG_STRENGTH_PENALTY = 0.01  # curvature of the penalty on log strength
_LOG_STRENGTH_CENTRE = float(np.log(10.0))
_U_BOUND = 30.0  # |logit(mean)| bound (never reached: the mean's hyperprior keeps it interior)
#: Weight, in sends, of the population prior's mean as the hyperprior of a segment's mean.
SEGMENT_MEAN_PSEUDO = 50.0
#: Customers with history a segment needs for a prior of its own (fewer: the population's).
SEGMENT_MIN_CUSTOMERS = 30


def _columns(sends, responses, hashes, sample, by_hash=None, squares=None):
    """``(n, k)`` per arm: the sends and responses of the first ``sample`` customers in id-hash
    order among those with sends on it (``k`` capped at ``n``), in that order, as effective
    whole sends (``n ** 2 / q`` with ``q`` = ``squares``; ``squares=None``: ``n`` as it is)."""
    sends = np.ascontiguousarray(sends)
    squares = sends if squares is None else np.ascontiguousarray(squares)
    if squares.shape != sends.shape:
        raise ValueError(f"squares: shape {squares.shape}, expected that of sends {sends.shape}")
    if by_hash is None:
        by_hash = np.argsort(np.asarray(hashes), kind="stable")
    sample = int(max(0, min(sample, sends.shape[0])))
    n, k, count = K.sample_in_order(sends, np.ascontiguousarray(responses), squares,
                                    np.ascontiguousarray(by_hash, dtype=np.int64), sample)
    return [(n[j, :count[j]], k[j, :count[j]]) for j in range(sends.shape[1])]


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
    centre: np.ndarray | None = None,
    centre_weight: float = _MEAN_PSEUDO,
    by_hash: np.ndarray | None = None,
    squares: np.ndarray | None = None,
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
    centre : array (n_arms,), optional
        Centre of each arm's mean hyperprior ``Beta(1 + w p, 1 + w (1 - p))``
        (default: the pooled rate of the arm's dimension); an arm with no
        history gets ``centre`` with strength 2.
    centre_weight : float, default 2
        ``w``: the hyperprior's weight in sends.
    by_hash : array (n_customers,) of int, optional
        The customers' rows sorted by ``hashes`` (``CustomerIndex.order``);
        computed with a stable argsort when not given.
    squares : array (n_customers, n_arms), optional
        Decayed sums of squared send weights ``q``: each customer counts as
        ``n ** 2 / q`` sends with ``k n / q`` responses (its effective sample
        size). Default (None) and ``squares == sends`` (whole sends): ``n``
        and ``k`` as they are.

    Returns
    -------
    alpha, beta : arrays (n_arms,) of float64

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.beta(2, 18, size=3000)            # true rates, mean 0.1, strength 20
    >>> n = np.full((3000, 1), 40.0); k = rng.binomial(40, p)[:, None].astype(float)
    >>> a, b = fit_population_prior(n, k, np.arange(3000, dtype=np.uint64), np.array([0, 1]))
    >>> round(float(a[0] / (a[0] + b[0])), 2), bool(10 < a[0] + b[0] < 40)
    (0.1, True)

    The same customers seen through 80 sends of weight 1/2 each: ``n = 40``
    again, but each rate is as precise as 80 sends; with ``squares`` the fit
    knows it (without, the spread looks like noise and the strength is overrated):

    >>> k80 = rng.binomial(80, p)[:, None] / 2.0
    >>> a, b = fit_population_prior(n, k80, np.arange(3000, dtype=np.uint64), np.array([0, 1]), squares=n / 2)
    >>> bool(10 < a[0] + b[0] < 40)
    True
    """
    n_arms = int(dim_offsets[-1])
    alpha = np.empty(n_arms)
    beta = np.empty(n_arms)
    max_strength = float(max_strength)
    cols = _columns(sends, responses, hashes, sample, by_hash, squares)
    dim_of = np.searchsorted(dim_offsets, np.arange(n_arms), side="right") - 1
    tot_n = np.array([cols[j][0].sum() for j in range(n_arms)])
    tot_k = np.array([cols[j][1].sum() for j in range(n_arms)])
    n_dims = len(dim_offsets) - 1
    if centre is None:
        pooled = ((np.bincount(dim_of, tot_k, minlength=n_dims) + 1.0)
                  / (np.bincount(dim_of, tot_n, minlength=n_dims) + 2.0))[dim_of]
    else:
        pooled = np.clip(np.asarray(centre, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    fitted = np.array([j for j in range(n_arms) if cols[j][0].size > 0], dtype=np.int64)
    if fitted.size:
        data = _Data([cols[j] for j in fitted], pooled[fitted], float(centre_weight))
        start = np.array([_moments(*cols[j]) for j in fitted])
        lo_s, hi_s = float(np.log(_MIN_STRENGTH)), float(np.log(max_strength))
        v0 = float(np.clip(_LOG_STRENGTH_CENTRE, lo_s, hi_s))
        u = np.clip(special.logit(start[:, 0]), -_U_BOUND, _U_BOUND)
        v = np.clip(np.log(np.maximum(start[:, 1], 1e-9)), lo_s, hi_s)
        u, v = data.maximise(u, v, v0, lo_s, hi_s)
        m = special.expit(u)
        s = np.exp(v)
        alpha[fitted] = s * m
        beta[fitted] = s * (1.0 - m)
    for j in range(n_arms):
        if cols[j][0].size == 0:
            alpha[j], beta[j] = 2.0 * pooled[j], 2.0 * (1.0 - pooled[j])
    return alpha, beta


class _Data:
    """The (n, k) entries of the fitted arms, flattened, and the penalised log likelihood per arm
    as a function of ``u = logit(mean)`` and ``v = log(strength)`` (arms are independent)."""

    def __init__(self, cols: list[tuple[np.ndarray, np.ndarray]], pooled: np.ndarray,
                 weight: float = _MEAN_PSEUDO) -> None:
        self.n_fit = len(cols)
        self.arm_of = np.concatenate([np.full(c[0].size, t, dtype=np.int64) for t, c in enumerate(cols)])
        self.n_all = np.concatenate([c[0] for c in cols])
        self.k_all = np.concatenate([c[1] for c in cols])
        self.f_all = self.n_all - self.k_all
        self.counts = np.bincount(self.arm_of, minlength=self.n_fit).astype(np.float64)
        self.pooled = pooled
        self.weight = weight

    def _sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.arm_of, values, minlength=self.n_fit)  # sequential: deterministic

    def loglik(self, u: np.ndarray, v: np.ndarray, v0: float) -> np.ndarray:
        """Penalised log likelihood of every arm."""
        m = special.expit(u)
        s = np.exp(v)
        a, b = s * m, s * (1.0 - m)
        p = self.pooled
        ll = self._sum(special.betaln(self.k_all + a[self.arm_of], self.f_all + b[self.arm_of]))
        ll -= self.counts * special.betaln(a, b)
        return ll + self.weight * (p * np.log(m) + (1.0 - p) * np.log1p(-m)) \
            - _LOG_STRENGTH_PENALTY * (v - v0) ** 2

    def gradient(self, u: np.ndarray, v: np.ndarray, v0: float) -> tuple[np.ndarray, np.ndarray]:
        """Derivatives of :meth:`loglik` in ``u`` and ``v``."""
        m = special.expit(u)
        s = np.exp(v)
        a, b = s * m, s * (1.0 - m)
        ae, be = a[self.arm_of], b[self.arm_of]
        psi_n = special.digamma(self.n_all + ae + be)
        psi_s = special.digamma(s)
        la = self._sum(special.digamma(self.k_all + ae) - psi_n) + self.counts * (psi_s - special.digamma(a))
        lb = self._sum(special.digamma(self.f_all + be) - psi_n) + self.counts * (psi_s - special.digamma(b))
        gu = (la - lb) * s * m * (1.0 - m) + self.weight * (self.pooled - m)
        gv = la * a + lb * b - 2.0 * _LOG_STRENGTH_PENALTY * (v - v0)
        return gu, gv

    def maximise(self, u: np.ndarray, v: np.ndarray, v0: float, lo_s: float, hi_s: float,
                 iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Damped Newton ascent, every arm at once, ``v`` kept in ``[lo_s, hi_s]``.

        The Hessian comes from finite differences of the exact gradient (only the
        speed of convergence depends on it; the answer is where the exact gradient
        vanishes, or where the strength sits on a bound it pushes against). A
        Levenberg-Marquardt shift makes every step an ascent direction, and a
        backtracking line search keeps every large step from lowering an arm's
        objective. Stops when every Newton step is below 1e-7.
        """
        u, v = u.copy(), v.copy()
        ll = self.loglik(u, v, v0)
        gu, gv = self.gradient(u, v, v0)
        h = 1e-6
        for _ in range(iterations):
            guu, gvu = self.gradient(u + h, v, v0)
            guv, gvv = self.gradient(u, v + h, v0)
            huu, hvv = (guu - gu) / h, (gvv - gv) / h
            huv = 0.5 * ((gvu - gv) + (guv - gu)) / h
            pinned = ((v >= hi_s) & (gv > 0)) | ((v <= lo_s) & (gv < 0))
            gv_free = np.where(pinned, 0.0, gv)
            huv = np.where(pinned, 0.0, huv)
            hvv = np.where(pinned, -1.0, hvv)
            # shift H down until negative definite: lam > largest eigenvalue of the 2x2 Hessian
            top = 0.5 * (huu + hvv) + np.sqrt(0.25 * (huu - hvv) ** 2 + huv ** 2)
            lam = np.where(top < 0, 0.0, top + 1e-6 * (np.abs(huu) + np.abs(hvv)) + 1e-9)
            a11, a22 = huu - lam, hvv - lam
            det = a11 * a22 - huv * huv
            du = (huv * gv_free - a22 * gu) / det
            dv = (huv * gu - a11 * gv_free) / det
            big = np.maximum(np.abs(du), np.abs(dv))
            if np.max(big) < 1e-7:  # converged; a flat arm cannot be pinned much closer (the gradient is rounded)
                break
            shrink = np.where(big > 2.0, 2.0 / np.maximum(big, 1e-300), 1.0)  # at most 2 units per step
            du, dv = du * shrink, dv * shrink
            new_u, new_v = np.clip(u + du, -_U_BOUND, _U_BOUND), np.clip(v + dv, lo_s, hi_s)
            new_ll = self.loglik(new_u, new_v, v0)
            # far from the optimum a step that lowers the objective is halved until it does not;
            # near it (small steps) Newton is trusted, as the change is below the objective's rounding
            tol = 1e-12 * (1.0 + np.abs(ll))
            search = (big > 1e-4) & ~(new_ll >= ll - tol)
            step = np.ones(self.n_fit)
            for _halving in range(60):
                if not search.any():
                    break
                step = np.where(search, 0.5 * step, step)
                cu = np.clip(u + step * du, -_U_BOUND, _U_BOUND)
                cv = np.clip(v + step * dv, lo_s, hi_s)
                cll = self.loglik(cu, cv, v0)
                ok = search & (cll >= ll - tol)
                new_u[ok], new_v[ok], new_ll[ok] = cu[ok], cv[ok], cll[ok]
                search &= ~ok
            new_u[search], new_v[search], new_ll[search] = u[search], v[search], ll[search]  # no ascent found
            moved = np.maximum(np.abs(new_u - u), np.abs(new_v - v))
            u, v, ll = new_u, new_v, new_ll
            gu, gv = self.gradient(u, v, v0)
            if not np.any(moved > 0.0):
                break
        return u, v


def fit_segment_priors(
    sends: np.ndarray,
    responses: np.ndarray,
    hashes: np.ndarray,
    dim_offsets: np.ndarray,
    segment: np.ndarray,
    n_segments: int,
    population_alpha: np.ndarray,
    population_beta: np.ndarray,
    *,
    max_strength: float = 1000.0,
    sample: int = 5000,
    squares: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes prior of every segment, shrunk toward the population prior.

    The middle level of the hierarchy population -> segment -> customer: each
    segment's prior is the beta-binomial fit of :func:`fit_population_prior` on
    its own customers, with each arm's mean pulled toward the population
    prior's mean by a hyperprior worth :data:`SEGMENT_MEAN_PSEUDO` sends (a
    small segment stays close to the population; a large one speaks for
    itself). A segment with fewer than :data:`SEGMENT_MIN_CUSTOMERS` customers
    with history keeps the population prior, and so does every arm on which
    none of its customers has history yet.

    Parameters
    ----------
    sends, responses : array (n_customers, n_arms)
        Decayed sufficient statistics.
    hashes : array (n_customers,) of uint64
        Customer id hashes (order the deterministic sample).
    dim_offsets : array
        Start of each dimension in the arm vector, plus the total.
    segment : int array (n_customers,)
        Each customer's segment (``-1``: none).
    n_segments : int
        Number of segments (rows of the result).
    population_alpha, population_beta : arrays (n_arms,)
        The population prior (:func:`fit_population_prior`).
    max_strength, sample, squares :
        As in :func:`fit_population_prior`.

    Returns
    -------
    alpha, beta : arrays (n_segments, n_arms) of float64

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> seg = np.repeat([0, 1], 2000)
    >>> p = np.where(seg == 0, rng.beta(4, 36, 4000), rng.beta(12, 28, 4000))   # means 0.1 and 0.3
    >>> n = np.full((4000, 1), 20.0); k = rng.binomial(20, p)[:, None].astype(float)
    >>> h, off = np.arange(4000, dtype=np.uint64), np.array([0, 1])
    >>> a, b = fit_population_prior(n, k, h, off)
    >>> sa, sb = fit_segment_priors(n, k, h, off, seg, 2, a, b)
    >>> np.round(sa[:, 0] / (sa[:, 0] + sb[:, 0]), 2).tolist()
    [0.1, 0.3]
    """
    n_arms = int(dim_offsets[-1])
    pa = np.asarray(population_alpha, dtype=np.float64)
    pb = np.asarray(population_beta, dtype=np.float64)
    alpha = np.tile(pa, (int(n_segments), 1))
    beta = np.tile(pb, (int(n_segments), 1))
    if n_arms == 0 or sends.shape[0] == 0:
        return alpha, beta
    segment = np.asarray(segment)
    has_history = np.asarray(sends).sum(axis=1, dtype=np.float64) > 0
    centre = pa / (pa + pb)
    for s in range(int(n_segments)):
        rows = np.flatnonzero((segment == s) & has_history)
        if rows.size < SEGMENT_MIN_CUSTOMERS:
            continue
        sub_s, sub_k = sends[rows], responses[rows]
        sub_q = None if squares is None else np.asarray(squares)[rows]
        a, b = fit_population_prior(sub_s, sub_k, hashes[rows], dim_offsets, max_strength=max_strength,
                                    sample=sample, centre=centre, centre_weight=SEGMENT_MEAN_PSEUDO,
                                    squares=sub_q)
        seen = np.asarray(sub_s > 0).any(axis=0)
        alpha[s, seen], beta[s, seen] = a[seen], b[seen]
    return alpha, beta
