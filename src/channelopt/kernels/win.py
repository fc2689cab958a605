"""Numba kernel: the exact probability that Thompson sampling picks each arm.

For one dimension with independent posteriors ``X_j ~ Beta(a_j, b_j)`` the
probability that arm ``k`` has the largest draw is::

    P(k wins) = integral of f_k(x) * prod_{j != k} F_j(x) dx

(``f`` the density, ``F`` the CDF). It is computed by deterministic quadrature,
not by sampling:

* The integral is taken over the logit ``t = log(x / (1 - x))``. There every
  Beta density is log-concave and smooth (no singularity at 0 or 1, even for
  shapes below 1), with log-density ``psi(t) = a log x + b log(1 - x) - log B(a, b)``.
* Each arm's support is cut to ``[lo_j, hi_j]`` by a rigorous tail bound: for a
  log-concave density the mass beyond ``t`` is at most ``g(t) / |psi'(t)|``, so
  each cut drops at most ``_EPS`` (1e-8) of mass. Below ``L = max_j lo_j``
  some arm is almost surely above, so nothing wins there; an arm with
  ``hi_j <= L`` is dominated (probability below ``2 * _EPS``).
* ``[L, max_j hi_j]`` is split into panels whose width follows the local
  curvature of the log-densities of the arms still active there
  (``_WIDTH / sqrt(max_j (a_j + b_j) x (1 - x))``), so a sharp posterior
  (Beta(2000, 30000)) gets narrow panels only where it lives and a flat one
  (Beta(0.5, 0.5)) a few wide ones; about 7 panels per dimension in practice.
* On every panel, an 8-point Gauss-Legendre rule integrates the win integrand;
  each CDF at the nodes comes from its value at the panel start plus the
  spectral (Gauss-Legendre integration-matrix) integral of the density, so the
  regularised incomplete beta (a Lentz continued fraction) is evaluated only
  once per arm, at ``L``.

The probabilities of one dimension are finally divided by their sum (which
differs from 1 by about 1e-9; the division guarantees the contract). The
maximum absolute error against scipy adaptive quadrature over the test grid --
(0.5, 0.5), (2000, 30000), (1, 500), mixtures of them, up to 24 random arms --
is about 2e-7 (``tests/test_win.py`` asserts 1e-5; the project's target is 0.005).
Limitation: the logit is clamped to ``|t| <= 650``; only when *every* arm of a
dimension keeps mass below ``exp(-650)`` (shape parameters both far below 0.01,
which the empirical-Bayes prior's minimum strength 0.5 rules out) is the
result approximate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from channelopt.kernels.posterior import posterior

__all__ = ["win_probabilities", "win_dim", "win_many", "betainc"]

_NQ = 8
_EPS = 1e-8  # tail mass dropped at each end of each arm
_LOG_EPS = math.log(_EPS)
_Z = math.sqrt(-2.0 * _LOG_EPS)  # Gaussian tail point of mass ~_EPS
_WIDTH = 4.0  # panel width in units of the local curvature scale 1 / sqrt((a + b) x (1 - x))
_TMAX = 650.0  # logit clamp (exp(650) is finite)
_MAX_PANELS = 20000
_CF_EPS = 1e-15
_CF_TINY = 1e-300
_CF_MAXIT = 20000


def _gauss_legendre_tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes and weights on [-1, 1], and the matrix S with S[i, m] = integral from -1 to x_i of l_m,
    l_m the Lagrange polynomial of node m (so integral from -1 to x_i of p = sum_m S[i, m] p(x_m)
    exactly for every polynomial p of degree < n)."""
    x, w = np.polynomial.legendre.leggauss(n)
    vander = np.polynomial.legendre.legvander(x, n - 1)  # V[i, k] = P_k(x_i)
    q = np.empty((n, n))
    for k in range(n):
        c = np.zeros(n)
        c[k] = 1.0
        anti = np.polynomial.legendre.legint(c, lbnd=-1.0)
        q[:, k] = np.polynomial.legendre.legval(x, anti)
    s = q @ np.linalg.inv(vander)
    return np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(s)


_GL_X, _GL_W, _GL_S = _gauss_legendre_tables(_NQ)


@njit(cache=True, nogil=True, inline="always")
def _softplus(t: float) -> float:
    """log(1 + exp(t)) without overflow."""
    if t > 0.0:
        return t + math.log1p(math.exp(-t))
    return math.log1p(math.exp(t))


@njit(cache=True, nogil=True)
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz), for x < (a + 1) / (a + b + 2)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _CF_TINY:
        d = _CF_TINY
    d = 1.0 / d
    h = d
    for m in range(1, _CF_MAXIT + 1):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = 1.0 + aa / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CF_EPS:
            break
    return h


@njit(cache=True, nogil=True)
def _incbeta_logit(a: float, b: float, lbeta: float, t: float) -> float:
    """Regularised incomplete beta I_x(a, b) at x = 1 / (1 + exp(-t)) (log-space prefactor)."""
    lx = -_softplus(-t)
    l1x = -_softplus(t)
    x = math.exp(lx)
    front = math.exp(a * lx + b * l1x - lbeta)
    if x < (a + 1.0) / (a + b + 2.0):
        v = front * _betacf(a, b, x) / a
    else:
        v = 1.0 - front * _betacf(b, a, math.exp(l1x)) / b
    return min(max(v, 0.0), 1.0)


@njit(cache=True, nogil=True)
def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) (the Beta(a, b) CDF at x), for tests.

    Examples
    --------
    >>> round(betainc(2.0, 3.0, 0.5), 10)
    0.6875
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return _incbeta_logit(a, b, lbeta, math.log(x) - math.log1p(-x))


@njit(cache=True, nogil=True, inline="always")
def _log_tail(a: float, b: float, lbeta: float, t: float) -> float:
    """log of the log-concavity bound on the tail mass beyond ``t`` (left of the mode: below t,
    right of it: above t): log g(t) - log |psi'(t)|."""
    lx = -_softplus(-t)
    l1x = -_softplus(t)
    slope = abs(a * math.exp(l1x) - b * math.exp(lx))  # psi'(t) = a (1 - x) - b x
    if slope <= 0.0:
        return 0.0
    return a * lx + b * l1x - lbeta - math.log(slope)


@njit(cache=True, nogil=True)
def _tail_cut(a: float, b: float, lbeta: float, mode: float, sigma: float, direction: float) -> float:
    """A point beyond which (in ``direction``: -1 left, +1 right) at most _EPS of mass lies.

    Starts at the Gaussian guess ``mode -/+ _Z * sigma`` and doubles the distance until the
    log-concavity bound holds (most arms need one evaluation), then tightens by two bisections.
    """
    inner = mode
    step = _Z * sigma
    outer = mode + direction * step
    while True:
        if direction * outer >= _TMAX:
            outer = direction * _TMAX
            if _log_tail(a, b, lbeta, outer) > _LOG_EPS:
                return outer
            break
        if _log_tail(a, b, lbeta, outer) <= _LOG_EPS:
            break
        inner = outer
        step *= 2.0
        outer = mode + direction * step
    for _ in range(2):
        mid = 0.5 * (inner + outer)
        if _log_tail(a, b, lbeta, mid) <= _LOG_EPS:
            outer = mid
        else:
            inner = mid
    return outer


@njit(cache=True, nogil=True)
def _win_dim(a, b, active, out, gl_x, gl_w, gl_s) -> int:
    """Win probability of each arm of one dimension; ``active[j] == 0`` arms get 0.

    Returns the number of quadrature panels used (0 when no integral was needed).
    See the module docstring for the method.
    """
    n = a.shape[0]
    for j in range(n):
        out[j] = 0.0
    idx = np.empty(n, dtype=np.int64)
    m = 0
    for j in range(n):
        if active[j] != 0:
            idx[m] = j
            m += 1
    if m == 0:
        return 0
    if m == 1:
        out[idx[0]] = 1.0
        return 0
    lbeta = np.empty(m)
    lo = np.empty(m)
    hi = np.empty(m)
    aa = np.empty(m)
    bb = np.empty(m)
    for q in range(m):
        j = idx[q]
        aj = a[j]
        bj = b[j]
        aa[q] = aj
        bb[q] = bj
        lbeta[q] = math.lgamma(aj) + math.lgamma(bj) - math.lgamma(aj + bj)
        mode = math.log(aj) - math.log(bj)
        mode = min(max(mode, -_TMAX + 1.0), _TMAX - 1.0)
        scale = math.sqrt(1.0 / aj + 1.0 / bj)  # curvature scale at the mode
        lo[q] = _tail_cut(aj, bj, lbeta[q], mode, scale, -1.0)
        hi[q] = _tail_cut(aj, bj, lbeta[q], mode, scale, 1.0)
    lower = lo[0]
    upper = hi[0]
    for q in range(1, m):
        lower = max(lower, lo[q])
        upper = max(upper, hi[q])
    # arms entirely below ``lower`` are dominated: they never win, and their CDF is 1 on the range
    live = np.empty(m, dtype=np.int64)
    nl = 0
    for q in range(m):
        if hi[q] > lower:
            live[nl] = q
            nl += 1
    if nl == 1:
        out[idx[live[0]]] = 1.0
        return 0
    cdf0 = np.empty(nl)  # CDF at the current panel start
    for p in range(nl):
        q = live[p]
        cdf0[p] = _incbeta_logit(aa[q], bb[q], lbeta[q], lower)
    acc = np.zeros(nl)
    dens = np.empty((nl, _NQ))
    cdf = np.empty((nl, _NQ))
    prefix = np.empty(nl + 1)
    lxs = np.empty(_NQ)
    l1xs = np.empty(_NQ)
    t = lower
    panels = 0
    while t < upper and panels < _MAX_PANELS:
        panels += 1
        # curvature of the active arms' log-densities: (a + b) x (1 - x), maximal at x = 1/2
        kappa = 0.0
        for p in range(nl):
            q = live[p]
            if hi[q] > t:
                kappa = max(kappa, aa[q] + bb[q])
        xt = 1.0 / (1.0 + math.exp(-t))
        w = _WIDTH / math.sqrt(max(kappa * xt * (1.0 - xt), 1e-300))
        te = min(t + w, upper)
        # the curvature is unimodal in t (top at t = 0): take the larger end, or the top inside
        if t < 0.0 < te:
            k2 = 0.25
        else:
            xe = 1.0 / (1.0 + math.exp(-te))
            k2 = max(xt * (1.0 - xt), xe * (1.0 - xe))
        w = min(w, _WIDTH / math.sqrt(max(kappa * k2, 1e-300)))
        te = min(t + w, upper)
        h = 0.5 * (te - t)
        for i in range(_NQ):
            ti = t + h * (1.0 + gl_x[i])
            lxs[i] = -_softplus(-ti)
            l1xs[i] = -_softplus(ti)
        for p in range(nl):
            q = live[p]
            if hi[q] <= t:  # retired: its whole mass is below, CDF 1, density 0
                for i in range(_NQ):
                    dens[p, i] = 0.0
                    cdf[p, i] = 1.0
                continue
            for i in range(_NQ):
                # density of the logit: x^a (1 - x)^b / B(a, b)
                dens[p, i] = math.exp(aa[q] * lxs[i] + bb[q] * l1xs[i] - lbeta[q])
            for i in range(_NQ):
                s = 0.0
                for k in range(_NQ):
                    s += gl_s[i, k] * dens[p, k]
                c = cdf0[p] + h * s
                cdf[p, i] = min(max(c, 0.0), 1.0)
            s = 0.0
            for k in range(_NQ):
                s += gl_w[k] * dens[p, k]
            cdf0[p] = min(cdf0[p] + h * s, 1.0)
        for i in range(_NQ):
            # prod_{j != k} F_j by prefix and suffix products (no division by a tiny F_k)
            prefix[0] = 1.0
            for p in range(nl):
                prefix[p + 1] = prefix[p] * cdf[p, i]
            suffix = 1.0
            wi = h * gl_w[i]
            for p in range(nl - 1, -1, -1):
                d = dens[p, i]
                if d > 0.0:
                    acc[p] += wi * d * prefix[p] * suffix
                suffix *= cdf[p, i]
        t = te
    total = 0.0
    for p in range(nl):
        total += acc[p]
    if total > 0.0:
        for p in range(nl):
            out[idx[live[p]]] = acc[p] / total
    else:  # cannot happen for valid posteriors; fall back to the largest mean
        best = 0
        for p in range(1, nl):
            if aa[live[p]] / (aa[live[p]] + bb[live[p]]) > aa[live[best]] / (aa[live[best]] + bb[live[best]]):
                best = p
        out[idx[live[best]]] = 1.0
    return panels


@njit(cache=True, nogil=True)
def win_dim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Win probabilities of arms with posteriors Beta(a[j], b[j]) (one dimension, all allowed).

    Examples
    --------
    >>> p = win_dim(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    >>> np.round(p, 6).tolist()
    [0.5, 0.5]
    >>> round(float(win_dim(np.array([2.0, 1.0]), np.array([1.0, 1.0]))[0]), 6)   # P(max(U, U) < X), X ~ Beta(2, 1)
    0.666667
    """
    n = a.shape[0]
    out = np.zeros(n)
    active = np.ones(n, dtype=np.uint8)
    _win_dim(a, b, active, out, _GL_X, _GL_W, _GL_S)
    return out


@njit(cache=True, nogil=True)
def _win_row(r, sends, responses, prior_a, prior_b, dim_offsets, mask, hour_dim, smooth, out, explore) -> None:
    n_arms = prior_a.shape[0]
    a = np.empty(n_arms)
    b = np.empty(n_arms)
    for j in range(n_arms):
        a[j], b[j] = posterior(r, j, sends, responses, prior_a, prior_b)
    if hour_dim >= 0 and smooth.shape[0] > 1 and r >= 0:
        # hour arms draw from statistics mixed with their neighbours' (circular), as the decisions do
        lo = dim_offsets[hour_dim]
        size = dim_offsets[hour_dim + 1] - lo
        half = smooth.shape[0] // 2
        for h in range(size):
            s = 0.0
            k = 0.0
            for t in range(smooth.shape[0]):
                jj = lo + (h + t - half) % size
                s += smooth[t] * np.float64(sends[r, jj])
                k += smooth[t] * np.float64(responses[r, jj])
            a[lo + h] = prior_a[lo + h] + k
            f = s - k
            b[lo + h] = prior_b[lo + h] + (f if f > 0.0 else 0.0)
    if explore != 1.0:  # the draws' distributions: Beta(alpha / e, beta / e), as kernels.decide draws them
        for j in range(n_arms):
            a[j] = a[j] / explore
            b[j] = b[j] / explore
    n_dims = dim_offsets.shape[0] - 1
    for d in range(n_dims):
        j0 = dim_offsets[d]
        j1 = dim_offsets[d + 1]
        active = np.ones(j1 - j0, dtype=np.uint8)
        if d == 0:
            for j in range(j0, j1):
                active[j - j0] = mask[j]
        _win_dim(a[j0:j1], b[j0:j1], active, out[j0:j1], _GL_X, _GL_W, _GL_S)


@njit(cache=True, parallel=True)
def win_many(rows, group, sends, responses, prior_a, prior_b, dim_offsets, masks, hour_dim, smooth, out,
             explore=1.0) -> None:
    """Win probability of every arm for every state row, in parallel over rows.

    ``explore`` (default 1.0) divides both parameters of every posterior, as the
    model's ``exploration`` does for its draws (:func:`channelopt.kernels.decide.decide_core`).

    ``rows[i]`` is a state row (-1: the prior only) whose prior is row ``group[i]``
    of the tables ``prior_a``/``prior_b`` ``[n_groups, n_arms]``, ``masks`` uint8 ``[1 or n, n_channels]``
    (0 = channel not allowed), ``hour_dim`` the hour dimension (-1: none) and
    ``smooth`` its circular smoothing weights (length 1: none), ``out`` float64 ``[n, n_arms]``.
    """
    n = rows.shape[0]
    shared = masks.shape[0] == 1
    e = np.float64(explore)
    for i in prange(n):
        m = masks[0] if shared else masks[i]
        g = group[i]
        _win_row(rows[i], sends, responses, prior_a[g], prior_b[g], dim_offsets, m, hour_dim, smooth, out[i], e)


def win_probabilities(state: Any, rows: Any, channel_mask: Any = None, *, hour_weights: Any = None,
                      groups: Any = None, exploration: float = 1.0) -> np.ndarray:
    """Probability that the model's Thompson sampling picks each arm, for each state row.

    Parameters
    ----------
    state : PosteriorStore
        A fitted model's state (``model.state_``).
    rows : int array (n,)
        State rows (``state.index.rows_of(ids)[0]``); -1 means an unknown
        customer, decided from the prior alone.
    channel_mask : bool array (n_channels,) or (n, n_channels), optional
        Allowed channels (default: all). Masked channels get probability 0.
    hour_weights : float array (odd length), optional
        Circular smoothing weights of the hour statistics, as the model's
        decisions use them (``channelopt.policy.model.hour_kernel(hour_smoothing)``);
        default: none.
    groups : int array (n,), optional
        Row of ``state.prior_tables`` each customer is decided with (default:
        ``state.prior_groups(rows)``, their own segment's prior).
    exploration : float, default 1.0
        The model's exploration ``e``: the draws come from ``Beta(alpha / e, beta / e)``.

    Returns
    -------
    float64 array (n, n_arms)
        In the arm layout of ``state.space``; each dimension's block sums to 1
        (the channel block sums to 0 when every channel is masked).

    Examples
    --------
    >>> from channelopt import ArmSpace, PosteriorStore
    >>> st = PosteriorStore.empty(ArmSpace(channels=["email", "sms"], hours=False, weekdays=False), "UTC")
    >>> np.round(win_probabilities(st, [-1], channel_mask=[True, False]), 6).tolist()
    [[1.0, 0.0]]
    """
    space = state.space
    rows = np.ascontiguousarray(np.asarray(rows, dtype=np.int64).reshape(-1))
    n = rows.shape[0]
    n_ch = len(space.channels)
    n_state = int(state.n_customers)
    bad = np.flatnonzero((rows < -1) | (rows >= n_state))
    if bad.size:
        raise ValueError(f"rows: value {int(rows[bad[0]])} at position {int(bad[0])} is not a state row "
                         f"(-1 or 0..{n_state - 1})")
    if channel_mask is None:
        masks = np.ones((1, n_ch), dtype=np.uint8)
    else:
        arr = np.asarray(channel_mask)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != n_ch or arr.shape[0] not in (1, n):
            raise ValueError(f"channel_mask: expected shape ({n_ch},) or ({n}, {n_ch}), got {np.shape(channel_mask)}")
        masks = np.ascontiguousarray(arr.astype(bool).astype(np.uint8))
    out = np.zeros((n, space.n_arms), dtype=np.float64)
    if n == 0:
        return out
    sends = np.ascontiguousarray(state.sends, dtype=np.float32)
    responses = np.ascontiguousarray(state.responses, dtype=np.float32)
    if sends.shape[0] == 0:  # numba needs a 2-D array even when nobody is known
        sends = np.zeros((1, space.n_arms), dtype=np.float32)
        responses = sends
    prior_a, prior_b = state.prior_tables
    group = state.prior_groups(rows) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    if group.shape[0] != n or group.min() < 0 or group.max() >= prior_a.shape[0]:
        raise ValueError(f"groups: expected {n} rows of state.prior_tables (0..{prior_a.shape[0] - 1})")
    group = np.ascontiguousarray(group, dtype=np.int64)
    dims = space.dimensions
    hour_dim = dims.index("hour") if "hour" in dims else -1
    smooth = np.ones(1) if hour_weights is None else np.ascontiguousarray(hour_weights, dtype=np.float64).reshape(-1)
    if smooth.shape[0] % 2 == 0 or not np.all(np.isfinite(smooth)) or np.any(smooth < 0):
        raise ValueError(f"hour_weights: expected an odd number of non-negative weights, got {smooth.shape[0]}")
    win_many(rows, group, sends, responses, prior_a, prior_b, np.ascontiguousarray(space.offsets, dtype=np.int64), masks,
             hour_dim, smooth, out, float(exploration))
    return out
