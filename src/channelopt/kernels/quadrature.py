"""Numba: the win probability of one arm among independent Gaussians, and the Gaussian that stands for a Beta.

The machinery under :mod:`channelopt.kernels.propensity`, which computes the
probability of a Thompson decision in a *Gaussian world*:

* **Coordinate** (:func:`arm_gauss`). Each arm becomes a Gaussian in
  ``c = (-log(1 - x)) ** (1/3)``: ``-log(1 - X)`` for ``X ~ Beta(a, b)`` is
  moment-matched (exact mean ``psi(a + b) - psi(b)`` and variance
  ``psi1(b) - psi1(a + b)``, :func:`psi_diff`) by a Gamma, whose cube root is
  nearly Gaussian (Wilson-Hilferty). All arms share the coordinate, which is
  monotone in x (:func:`c_of`, :func:`x_of`), so who beats whom is unchanged.
* **Quadrature** (:func:`win_gauss`). ``P(j wins) = E[prod_k Phi((X_j - mu_k) / sd_k)]``
  with ``X_j ~ N(mu_j, sd_j)``. Two arms: closed form. More: the distribution of
  X_j given that it wins is located by Clark's (1961) Gaussian approximation of
  the maximum of the competitors (:func:`clark`, a skew-normal), and integrated
  with 6 Gauss-Hermite nodes there. When a competitor is much sharper than that
  distribution (a step in the integrand: an arm with far more data than the
  chosen one), a composite 4-point Gauss-Legendre rule over panels sized by the
  sharpest arm nearby is used instead (:func:`nodes`). The products of normal
  CDFs over the nodes (:func:`products`) use Abramowitz-Stegun 7.1.28, which
  vectorises, and accurate CDFs (:func:`ncdf`) where its error is not small.

Every kernel is compiled at module level with ``cache=True``; the helpers that
are never called from Python have no CPython wrapper.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["CUT_J", "QMAX", "arm_gauss", "c_of", "clark", "ncdf", "nodes", "products", "psi_diff", "win_gauss",
           "x_of"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# probabilists' Gauss-Hermite (weight exp(-z^2 / 2)), weights times exp(z^2 / 2): integral f ~ sum w f(z)
_Z6, _W6 = np.polynomial.hermite_e.hermegauss(6)
_GH_Z = np.ascontiguousarray(_Z6)
_GH_W = np.ascontiguousarray(_W6 * np.exp(_Z6 * _Z6 / 2.0))
_L4X, _L4W = np.polynomial.legendre.leggauss(4)
_GL_X = np.ascontiguousarray(_L4X)
_GL_W = np.ascontiguousarray(_L4W)

QMAX = 64  # most quadrature nodes per factor
_PANEL = 2.0  # composite-rule panel width, in standard deviations of the sharpest arm nearby
_SHARP = 0.7  # a competitor this much sharper than the winner's distribution makes a step: composite rule
CUT_J = 8.0  # the chosen arm's Gaussian is integrated over mu +- 8 sd
_CUT_K = 6.0  # below mu - 6 sd a competitor's CDF is < 1e-9: nothing wins there

# error_model="numpy": IEEE division (no zero checks), which lets LLVM vectorise the Phi loops
_JIT = dict(cache=True, nogil=True, error_model="numpy")
_INNER = dict(_JIT, no_cpython_wrapper=True)  # helpers never called from Python: no wrapper to compile


@njit(**_INNER, inline="always")
def _tail_as(z):
    """``min(Phi(z), 1 - Phi(z))`` by Abramowitz-Stegun 7.1.28 (absolute error < 2e-7; no branch to erfc,
    so loops over it vectorise)."""
    x = abs(z) * _SQRT1_2
    p = 1.0 + x * (0.0705230784 + x * (0.0422820123 + x * (0.0092705272 + x * (0.0001520143 + x * (
        0.0002765672 + x * 0.0000430638)))))
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return 0.5 / p


@njit(**_INNER)
def ncdf(z):
    """Standard normal CDF: Abramowitz-Stegun 7.1.28 (|error| < 2e-7) above -3, erfc below (relative accuracy)."""
    if z <= -3.0:
        return 0.5 * math.erfc(-z * _SQRT1_2)
    e = _tail_as(z)
    return 1.0 - e if z > 0.0 else e


@njit(**_INNER)
def psi_diff(d, x0):
    """``(psi(x0 + d) - psi(x0), psi1(x0) - psi1(x0 + d))`` for d, x0 > 0, without cancellation."""
    x1 = x0 + d
    m = 0.0
    v = 0.0
    while x0 < 6.0:  # psi(x) = psi(x + 1) - 1 / x, psi1(x) = psi1(x + 1) + 1 / x^2
        r0 = 1.0 / x0
        r1 = 1.0 / x1
        m += d * r0 * r1
        v += d * (x0 + x1) * r0 * r0 * r1 * r1
        x0 += 1.0
        x1 += 1.0
    r0 = 1.0 / x0
    r1 = 1.0 / x1
    q0 = r0 * r0
    q1 = r1 * r1
    dr = d * r0 * r1  # r0 - r1
    dq = dr * (r0 + r1)  # r0^2 - r1^2
    # asymptotic series of psi and psi1 (relative truncation error < 1e-8 for x >= 6)
    m += math.log1p(d * r0) + 0.5 * dr + dq / 12.0 - dq * (q0 + q1) / 120.0
    v += dr + 0.5 * dq + (q0 * r0 - q1 * r1) / 6.0 - (q0 * q0 * r0 - q1 * q1 * r1) / 30.0
    return m, v


@njit(**_JIT)
def arm_gauss(a, b):
    """Mean and standard deviation of the Gaussian that stands for Beta(a, b) in ``c = (-log(1 - x)) ** (1/3)``.

    ``Y = -log(1 - X)`` has mean ``m = psi(a + b) - psi(b)`` and variance
    ``v = psi1(b) - psi1(a + b)``; as a Gamma of shape ``m^2 / v`` its cube root is
    ``N(m^(1/3) (1 - v / (9 m^2)), m^(2/3) v / (9 m^2))`` (Wilson-Hilferty).

    Examples
    --------
    >>> mu, sd = arm_gauss(1.0, 1.0)   # Beta(1, 1): -log(1 - X) is Exp(1), a Gamma of shape 1
    >>> round(mu, 4), round(sd, 4)
    (0.8889, 0.3333)
    """
    m, v = psi_diff(a, b)
    m13 = math.exp(math.log(m) * (1.0 / 3.0))
    inv_alpha = v / (m * m)
    return m13 * (1.0 - inv_alpha * (1.0 / 9.0)), m13 * math.sqrt(inv_alpha) * (1.0 / 3.0)


@njit(**_INNER)
def x_of(t):
    """x of the coordinate ``t`` (odd extension below 0: ``1 - exp(-t^3)``, negative for t < 0)."""
    y = t * t * t
    if y < -700.0:
        y = -700.0
    return -math.expm1(-y)


@njit(**_INNER)
def c_of(x):
    """The coordinate of ``x`` (signed cube root of ``-log(1 - x)``; +inf from x = 1 on)."""
    if x >= 1.0:
        return np.inf
    y = -math.log1p(-x)
    if y > 0.0:
        return math.exp(math.log(y) * (1.0 / 3.0))
    if y < 0.0:
        return -math.exp(math.log(-y) * (1.0 / 3.0))
    return 0.0


@njit(**_INNER)
def clark(cmu, csd, m, mm, vv):
    """Mean and variance of the maximum of ``m`` independent Gaussians, as a Gaussian (Clark 1961).

    Pairwise in a tree, so that independent pairs overlap in the pipeline; ``mm``, ``vv``: scratch.
    """
    for k in range(m):
        mm[k] = cmu[k]
        vv[k] = csd[k] * csd[k]
    nn = m
    while nn > 1:
        half = nn // 2
        off = nn - half
        for i in range(half):
            j = i + off
            v1 = vv[i]
            v2 = vv[j]
            th = math.sqrt(v1 + v2)
            dd = mm[i] - mm[j]
            if th <= 1e-300:
                if dd < 0.0:
                    mm[i] = mm[j]
                    vv[i] = v2
                continue
            al = dd / th
            pa = ncdf(al)
            ph = _INV_SQRT_2PI * math.exp(-0.5 * al * al)
            # moments of max(X, Y) - mu_Y (the variance does not depend on the shift)
            e1 = dd * pa + th * ph
            e2 = (dd * dd + v1) * pa + v2 * (1.0 - pa) + dd * th * ph
            mm[i] = mm[j] + e1
            vv[i] = max(e2 - e1 * e1, 0.0)
        nn = off
    return mm[0], vv[0]


@njit(**_INNER)
def nodes(mu_j, sd_j, cmu, csd, m, lower, t, w, mm, vv):
    """Quadrature nodes ``t`` and weights ``w`` (density of the chosen arm included) for P(j wins).

    ``cmu``/``csd`` are the competitors' Gaussians in node coordinates (for
    placement only), ``lower`` a lower limit of the integral (-inf: none),
    ``mm``/``vv`` scratch. Returns the number of nodes (0: the integral is negligible).
    """
    hi = mu_j + CUT_J * sd_j
    if lower >= hi:
        return 0
    if m > 0 and lower == -np.inf:
        mean_m, var_m = clark(cmu, csd, m, mm, vv)
        # the distribution of X_j given that it beats that maximum: a skew normal
        s2 = sd_j * sd_j + var_m
        s = math.sqrt(s2)
        d = (mu_j - mean_m) / s
        if d < -35.0:
            d = -35.0
        lam = _INV_SQRT_2PI * math.exp(-0.5 * d * d) / ncdf(d)
        cm = mu_j + sd_j * sd_j / s * lam
        sh = sd_j * math.sqrt(max(1.0 - sd_j * sd_j / s2 * lam * (lam + d), 1e-6))
        regular = True
        for k in range(m):
            if csd[k] < _SHARP * sh and abs(cmu[k] - cm) < 6.0 * sh + 3.0 * csd[k]:
                regular = False
                break
        if regular:  # 6 Gauss-Hermite nodes there
            for i in range(_GH_Z.shape[0]):
                ti = cm + sh * _GH_Z[i]
                u = (ti - mu_j) / sd_j
                t[i] = ti
                w[i] = _GH_W[i] * sh * _INV_SQRT_2PI * math.exp(-0.5 * u * u) / sd_j
            return _GH_Z.shape[0]
    # composite Gauss-Legendre from where every competitor can still be below to the chosen arm's top
    lo = mu_j - CUT_J * sd_j
    if lower > lo:
        lo = lower
    for k in range(m):
        v = cmu[k] - _CUT_K * csd[k]
        if v > lo:
            lo = v
    if lo >= hi:
        return 0
    n = np.int64(0)
    x0 = lo
    q = _GL_X.shape[0]
    while x0 < hi and n + q <= QMAX:
        sharp = sd_j
        reach = x0 + _PANEL * sd_j
        for k in range(m):
            if csd[k] < sharp and cmu[k] - 7.0 * csd[k] < reach and cmu[k] + 7.0 * csd[k] > x0:
                sharp = csd[k]
        x1 = x0 + _PANEL * sharp
        if x1 > hi or n + 2 * q > QMAX:
            x1 = hi
        h = 0.5 * (x1 - x0)
        for i in range(q):
            ti = x0 + h * (1.0 + _GL_X[i])
            u = (ti - mu_j) / sd_j
            t[n] = ti
            w[n] = h * _GL_W[i] * _INV_SQRT_2PI * math.exp(-0.5 * u * u) / sd_j
            n += 1
        x0 = x1
    return n


@njit(**_INNER)
def products(t, n, cmu, ik, m, g, fp, buf):
    """``g[i] *= prod_{k < m} Phi((t[i] - cmu[k]) * ik[k])`` for the ``n`` nodes ``t``.

    The CDFs come from A-S 7.1.28 (|error| < 2e-7), vectorised over every
    (competitor, node); nodes with a CDF below 1.35e-3 (``z <= -3``, where that
    error is not small relative to the value) whose product still matters
    (>= 1e-7 of the largest) are redone with relatively accurate CDFs.
    ``fp`` (``n``) and ``buf`` (``m * n``) are scratch.
    """
    ne = m * n
    for k in range(m):
        for i in range(n):
            buf[k * n + i] = (t[i] - cmu[k]) * ik[k]
    zmin = np.inf
    for e in range(ne):
        zmin = min(zmin, buf[e])
    for e in range(ne):
        z = buf[e]
        u = _tail_as(z)
        buf[e] = 1.0 - u if z > 0.0 else u
    for i in range(n):
        fp[i] = 1.0
    for k in range(m):
        for i in range(n):
            fp[i] *= buf[k * n + i]
    gmax = 0.0
    for i in range(n):
        g[i] *= fp[i]
        gmax = max(gmax, g[i])
    if zmin > -3.0:
        return
    for i in range(n):
        if g[i] >= 1e-7 * gmax and fp[i] > 0.0:
            p = 1.0
            for k in range(m):
                p *= ncdf((t[i] - cmu[k]) * ik[k])
            g[i] *= p / fp[i]


@njit(**_JIT)
def win_gauss(mu_j, sd_j, cmu, csd, m, work):
    """P(X_j > max_k X_k) for independent Gaussians X_j ~ N(mu_j, sd_j) and X_k ~ N(cmu[k], csd[k]), k < m.

    ``work`` is float64 scratch of ``QMAX * (m + 4)`` entries; ``cmu`` and ``csd``
    are overwritten.

    Examples
    --------
    >>> round(win_gauss(0.0, 1.0, np.zeros(2), np.ones(2), 2, np.empty(400)), 4)   # three identical arms
    0.3333
    """
    if m == 0:
        return 1.0
    if m == 1:
        return ncdf((mu_j - cmu[0]) / math.sqrt(sd_j * sd_j + csd[0] * csd[0]))
    t = work[:QMAX]
    w = work[QMAX:2 * QMAX]
    fp = work[2 * QMAX:3 * QMAX]
    n = nodes(mu_j, sd_j, cmu, csd, m, -np.inf, t, w, work[4 * QMAX:4 * QMAX + m],
               work[4 * QMAX + m:4 * QMAX + 2 * m])
    if n == 0:
        return 0.0
    lo = t[0]
    for i in range(n):
        lo = min(lo, t[i])
    # competitors whose CDF is > 1 - 1e-9 at every node do not matter: keep the others, inverse sd
    k2 = np.int64(0)
    for k in range(m):
        if (lo - cmu[k]) / csd[k] <= 6.0:
            cmu[k2] = cmu[k]
            csd[k2] = 1.0 / csd[k]
            k2 += 1
    g = work[3 * QMAX:4 * QMAX]
    for i in range(n):
        g[i] = w[i]
    products(t, n, cmu, csd, k2, g, fp, work[4 * QMAX:])
    p = 0.0
    for i in range(n):
        p += g[i]
    return p
