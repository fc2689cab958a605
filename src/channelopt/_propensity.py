"""Numba: the probability of a Thompson decision, computed (no sampling).

A decision of :mod:`channelopt._decide` takes, per dimension, the arm with the
largest independent ``Beta(a_j, b_j)`` draw (the send slot: the largest product
of an hour draw and a weekday draw). Its probability factorises into
P(channel) x P(wording) x ... x P(slot | channel), each factor of the form::

    P(j wins) = integral of f_j(x) * prod_{k != j} F_k(x) dx

Exact quadrature (:mod:`channelopt._win`, ~100 us per customer) is too slow for
a batch kernel, and so is Monte Carlo (each factor needs thousands of decisions
for an error of 0.01). This module computes every factor in a *Gaussian world*:

* **Coordinate.** Each arm becomes a Gaussian in ``c = (-log(1 - x)) ** (1/3)``:
  ``-log(1 - X)`` is moment-matched (exact mean ``psi(a + b) - psi(b)`` and
  variance ``psi1(b) - psi1(a + b)``) by a Gamma, whose cube root is nearly
  Gaussian (Wilson-Hilferty). All arms share the coordinate, which is monotone in
  x, so who beats whom is unchanged; only the shapes of the distributions are
  approximated, in the same way for every arm, and the errors largely cancel
  (identical arms give exactly 1/n).
* **Quadrature.** ``P(j wins) = E[prod_k Phi((X_j - mu_k) / sd_k)]`` with
  ``X_j ~ N(mu_j, sd_j)``. Two arms: closed form. More: the distribution of X_j
  given that it wins is located by Clark's (1961) Gaussian approximation of the
  maximum of the competitors (a skew-normal), and integrated with 6 Gauss-Hermite
  nodes there. When a competitor is much sharper than that distribution (a step
  in the integrand: an arm with far more data than the chosen one), a composite
  4-point Gauss-Legendre rule over panels sized by the sharpest arm nearby is
  used instead.
* **Send slot.** Without weekday arms (or with one weekday among the usable
  slots) it is the win probability of the slot's hour among the usable hours.
  With two weekdays the hour competitors of the other day compare against
  ``x / R``, ``R`` the ratio of the two weekday draws: ``log R`` is taken as
  Gaussian (exact first two moments) and integrated with 4 Gauss-Hermite nodes
  (6 Gauss-Legendre nodes over ``R < 1`` when the chosen hour is also usable on
  the other day). Three or more weekdays (deadlines beyond a day): a fixed
  16-point lattice rule over the log weekday draws.
* **Value and cost.** The channel factor of ``value * theta - cost`` compares
  ``theta_c`` with ``theta_k - (cost_k - cost_c) / value`` (mapped into ``c``
  per node) above ``cost_c / value``; a hold's probability is the exact product
  of the feasible channels' Beta CDFs at ``cost / value`` (incomplete beta by a
  continued fraction).

Accuracy against the exact probabilities (``tests/test_propensity.py``): the
mean absolute error of a factor is ~5e-4 for posteriors with a prior of
strength >= ~10 (relative error ~2% for probabilities >= 1e-3), ~2e-3 when most
arms have shape ``a < 1``, and ~1e-2 in the worst family tested (priors of
strength < 1 on every arm, shapes like Beta(0.05, 0.5)). Cost: ~1 us per
dimension (a few Phi evaluations per arm and node); no random draws.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._win import betainc  # the exact Beta CDF (Lentz continued fraction), shared with the quadrature

__all__ = ["QMAX", "WORK_FIXED", "arm_gauss", "decision_propensity", "win_gauss"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TINY = 1e-300

# probabilists' Gauss-Hermite (weight exp(-z^2 / 2)), weights times exp(z^2 / 2): integral f ~ sum w f(z)
_Z6, _W6 = np.polynomial.hermite_e.hermegauss(6)
_GH_Z = np.ascontiguousarray(_Z6)
_GH_W = np.ascontiguousarray(_W6 * np.exp(_Z6 ** 2 / 2.0))
_Z4, _W4 = np.polynomial.hermite_e.hermegauss(4)
_GH4_Z = np.ascontiguousarray(_Z4)
_GH4_W = np.ascontiguousarray(_W4 / _W4.sum())  # an expectation under N(0, 1)
_L4X, _L4W = np.polynomial.legendre.leggauss(4)
_GL_X = np.ascontiguousarray(_L4X)
_GL_W = np.ascontiguousarray(_L4W)
_L6X, _L6W = np.polynomial.legendre.leggauss(6)
_GL6_X = np.ascontiguousarray(_L6X)
_GL6_W = np.ascontiguousarray(_L6W)


def _lattice(m: int, dims: int) -> np.ndarray:
    """Normal scores of an ``m``-point rank-1 (Korobov) lattice in ``dims`` dimensions, shifted by 1 / (2m)."""
    from statistics import NormalDist

    gen = 5  # Korobov generator for m = 16 (good 2-D and 3-D projections)
    inv = NormalDist().inv_cdf
    out = np.empty((m, dims))
    for i in range(m):
        for d in range(dims):
            out[i, d] = inv((((i * gen ** d) % m) + 0.5) / m)
    return out


_LAT_M = 16
_LAT = np.ascontiguousarray(_lattice(_LAT_M, 8))

QMAX = 64  # most quadrature nodes per factor
_PANEL = 2.0  # composite-rule panel width, in standard deviations of the sharpest arm nearby
_SHARP = 0.7  # a competitor this much sharper than the winner's distribution makes a step: composite rule
_CUT_J = 8.0  # the chosen arm's Gaussian is integrated over mu +- 8 sd
_CUT_K = 6.0  # below mu - 6 sd a competitor's CDF is < 1e-9: nothing wins there

#: :func:`decision_propensity` needs ``(6 + QMAX) * n_arms + WORK_FIXED`` float64 entries of scratch.
WORK_FIXED = 8 * QMAX + 64

# error_model="numpy": IEEE division (no zero checks), which lets LLVM vectorise the Phi loops
_JIT = dict(cache=True, nogil=True, error_model="numpy")
_INNER = dict(_JIT, no_cpython_wrapper=True)  # helpers never called from Python: no wrapper to compile


@njit(**_INNER)
def _ncdf(z):
    """Standard normal CDF: Abramowitz-Stegun 7.1.28 (|error| < 2e-7) above -3, erfc below (relative accuracy)."""
    if z <= -3.0:
        return 0.5 * math.erfc(-z * _SQRT1_2)
    x = abs(z) * _SQRT1_2
    p = 1.0 + x * (0.0705230784 + x * (0.0422820123 + x * (0.0092705272 + x * (0.0001520143 + x * (
        0.0002765672 + x * 0.0000430638)))))
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    e = 0.5 / p
    return 1.0 - e if z > 0.0 else e


@njit(**_INNER)
def _phi_prod(thr, cmu, ik, lo, hi, zb, tol):
    """``prod_{k in [lo, hi)} Phi((thr - cmu[k]) * ik[k])`` (``zb``: scratch).

    The CDFs come from A-S 7.1.28 (|error| < 2e-7, vectorised over k); when some
    ``z <= -3`` and the product is above ``tol`` they are recomputed with relative
    accuracy (erfc), so that small products stay accurate where they matter.
    """
    for k in range(lo, hi):
        zb[k] = (thr - cmu[k]) * ik[k]
    zmin = np.inf
    for k in range(lo, hi):
        zmin = min(zmin, zb[k])
    if zmin <= -3.0 and tol <= 0.0:
        p = 1.0
        for k in range(lo, hi):
            p *= _ncdf(zb[k])
        return p
    for k in range(lo, hi):
        z = zb[k]
        x = abs(z) * _SQRT1_2
        q = 1.0 + x * (0.0705230784 + x * (0.0422820123 + x * (0.0092705272 + x * (0.0001520143 + x * (
            0.0002765672 + x * 0.0000430638)))))
        q = q * q
        q = q * q
        q = q * q
        q = q * q
        e = 0.5 / q
        zb[k] = 1.0 - e if z > 0.0 else e
    p0 = 1.0
    p1 = 1.0
    p2 = 1.0
    p3 = 1.0
    k = lo
    while k + 4 <= hi:
        p0 *= zb[k]
        p1 *= zb[k + 1]
        p2 *= zb[k + 2]
        p3 *= zb[k + 3]
        k += 4
    while k < hi:
        p0 *= zb[k]
        k += 1
    p = (p0 * p1) * (p2 * p3)
    if zmin <= -3.0 and p >= tol:  # it matters: redo with accurate tails
        for k in range(lo, hi):
            zb[k] = (thr - cmu[k]) * ik[k]
        p = 1.0
        for k in range(lo, hi):
            p *= _ncdf(zb[k])
    return p


@njit(**_INNER)
def _psi_diff(d, x0):
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
    """
    m, v = _psi_diff(a, b)
    m13 = math.exp(math.log(m) * (1.0 / 3.0))
    inv_alpha = v / (m * m)
    return m13 * (1.0 - inv_alpha * (1.0 / 9.0)), m13 * math.sqrt(inv_alpha) * (1.0 / 3.0)


@njit(**_INNER)
def _x_of(t):
    """x of the coordinate ``t`` (odd extension below 0: ``1 - exp(-t^3)``, negative for t < 0)."""
    y = t * t * t
    if y < -700.0:
        y = -700.0
    return -math.expm1(-y)


@njit(**_INNER)
def _c_of(x):
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
def _nodes(mu_j, sd_j, cmu, csd, m, lower, t, w, mm, vv):
    """Quadrature nodes ``t`` and weights ``w`` (density of the chosen arm included) for P(j wins).

    ``cmu``/``csd`` are the competitors' Gaussians in node coordinates (for
    placement only), ``lower`` a lower limit of the integral (-inf: none),
    ``mm``/``vv`` scratch. Returns the number of nodes (0: the integral is negligible).
    """
    hi = mu_j + _CUT_J * sd_j
    if lower >= hi:
        return 0
    if m > 0 and lower == -np.inf:
        # the competitors' maximum as a Gaussian (Clark 1961), pairwise in a tree (independent pairs overlap)
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
                pa = _ncdf(al)
                ph = _INV_SQRT_2PI * math.exp(-0.5 * al * al)
                # moments of max(X, Y) - mu_Y (the variance does not depend on the shift)
                e1 = dd * pa + th * ph
                e2 = (dd * dd + v1) * pa + v2 * (1.0 - pa) + dd * th * ph
                mm[i] = mm[j] + e1
                vv[i] = max(e2 - e1 * e1, 0.0)
            nn = off
        mean_m = mm[0]
        var_m = vv[0]
        # the distribution of X_j given that it beats that maximum: a skew normal
        s2 = sd_j * sd_j + var_m
        s = math.sqrt(s2)
        d = (mu_j - mean_m) / s
        if d < -35.0:
            d = -35.0
        lam = _INV_SQRT_2PI * math.exp(-0.5 * d * d) / _ncdf(d)
        cm = mu_j + sd_j * sd_j / s * lam
        shv = 1.0 - sd_j * sd_j / s2 * lam * (lam + d)
        sh = sd_j * math.sqrt(max(shv, 1e-6))
        regular = True
        for k in range(m):
            if csd[k] < _SHARP * sh and abs(cmu[k] - cm) < 6.0 * sh + 3.0 * csd[k]:
                regular = False
                break
        if regular:
            for i in range(_GH_Z.shape[0]):
                ti = cm + sh * _GH_Z[i]
                t[i] = ti
                u = (ti - mu_j) / sd_j
                w[i] = _GH_W[i] * sh * _INV_SQRT_2PI * math.exp(-0.5 * u * u) / sd_j
            return _GH_Z.shape[0]
    # composite Gauss-Legendre from where every competitor can still be below to the chosen arm's top
    lo = mu_j - _CUT_J * sd_j
    if lower > lo:
        lo = lower
    for k in range(m):
        v = cmu[k] - _CUT_K * csd[k]
        if v > lo:
            lo = v
    if lo >= hi:
        return 0
    n = 0
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
            t[n] = ti
            u = (ti - mu_j) / sd_j
            w[n] = h * _GL_W[i] * _INV_SQRT_2PI * math.exp(-0.5 * u * u) / sd_j
            n += 1
        x0 = x1
    return n


@njit(**_JIT)
def win_gauss(mu_j, sd_j, cmu, csd, m, t, w, g, mm, vv, buf):
    """P(X_j > max_k X_k) for independent Gaussians (competitors ``cmu[:m]``, ``csd[:m]``).

    ``t``, ``w`` and ``g`` are scratch of :data:`QMAX` entries, ``mm`` and ``vv``
    of ``m``, ``buf`` of ``m * QMAX``; ``cmu`` and ``csd`` are overwritten.
    """
    if m == 0:
        return 1.0
    if m == 1:
        return _ncdf((mu_j - cmu[0]) / math.sqrt(sd_j * sd_j + csd[0] * csd[0]))
    n = _nodes(mu_j, sd_j, cmu, csd, m, -np.inf, t, w, mm, vv)
    if n == 0:
        return 0.0
    lo = t[0]
    for i in range(n):
        lo = min(lo, t[i])
    # competitors whose CDF is > 1 - 1e-9 at every node do not matter: keep the others, inverse sd
    k2 = 0
    for k in range(m):
        if (lo - cmu[k]) / csd[k] <= 6.0:
            cmu[k2] = cmu[k]
            csd[k2] = 1.0 / csd[k]
            k2 += 1
    # every competitor's CDF at every node by A-S 7.1.28 (|error| < 2e-7; vectorised), then the products
    ne = k2 * n
    zmin = np.inf
    for k in range(k2):
        for i in range(n):
            buf[k * n + i] = (t[i] - cmu[k]) * csd[k]
    for e in range(ne):
        zmin = min(zmin, buf[e])
    for e in range(ne):
        z = buf[e]
        x = abs(z) * _SQRT1_2
        q = 1.0 + x * (0.0705230784 + x * (0.0422820123 + x * (0.0092705272 + x * (0.0001520143 + x * (
            0.0002765672 + x * 0.0000430638)))))
        q = q * q
        q = q * q
        q = q * q
        q = q * q
        u = 0.5 / q
        buf[e] = 1.0 - u if z > 0.0 else u
    for i in range(n):
        g[i] = w[i]
    for k in range(k2):
        for i in range(n):
            g[i] *= buf[k * n + i]
    p = 0.0
    for i in range(n - 1, -1, -1):  # from the top node down: the largest products first
        gi = g[i]
        if zmin <= -3.0 and gi >= 1e-7 * p:
            # a CDF below 1e-3 may carry a large relative error: redo this node with accurate tails
            gi = w[i]
            for k in range(k2):
                gi *= _ncdf((t[i] - cmu[k]) * csd[k])
        p += gi
    return p


# -- the factors of a decision ----------------------------------------------------------


@njit(**_INNER)
def _dim_factor(post_a, post_b, lo, hi, jj, use_mask, mask, work, na):
    """Win probability of arm ``jj`` among arms ``lo..hi-1`` (with ``mask[j - lo] != 0`` when ``use_mask``)."""
    cmu = work[:na]
    csd = work[na:2 * na]
    mu_j, sd_j = arm_gauss(post_a[jj], post_b[jj])
    m = 0
    for j in range(lo, hi):
        if j == jj or (use_mask and mask[j - lo] == 0):
            continue
        cmu[m], csd[m] = arm_gauss(post_a[j], post_b[j])
        m += 1
    b = 6 * na
    return win_gauss(mu_j, sd_j, cmu, csd, m, work[b:b + QMAX], work[b + QMAX:b + 2 * QMAX],
                     work[b + 2 * QMAX:b + 3 * QMAX], work[2 * na:3 * na], work[3 * na:4 * na], work[b + WORK_FIXED:])


@njit(**_INNER)
def _value_factor(post_a, post_b, n_ch, c, chan_ok, value, cost, work, na):
    """P(channel c has the best ``value * theta - cost`` and it is >= 0)."""
    cmu = work[:na]
    csd = work[na:2 * na]
    b = 6 * na
    t = work[b:b + QMAX]
    w = work[b + QMAX:b + 2 * QMAX]
    xs = work[b + 5 * QMAX:]
    mu_j, sd_j = arm_gauss(post_a[c], post_b[c])
    lower = _c_of(cost[c] / value) if cost[c] > 0.0 else -np.inf
    hi = mu_j + _CUT_J * sd_j
    m = 0
    for k in range(n_ch):
        if k == c or chan_ok[k] == 0:
            continue
        mk, sk = arm_gauss(post_a[k], post_b[k])
        dk = (cost[k] - cost[c]) / value
        xs[3 * m] = mk
        xs[3 * m + 1] = sk
        xs[3 * m + 2] = dk
        # k's Gaussian in node coordinates: theta_c beats theta_k iff theta_k < theta_c + dk
        if dk == 0.0:
            cmu[m] = mk
            csd[m] = sk
        else:
            tm = _c_of(_x_of(mk) - dk)
            tp = _c_of(_x_of(mk + sk) - dk)
            tn = _c_of(_x_of(mk - sk) - dk)
            if tm == np.inf:  # k's typical draw beats any draw of c
                tm = hi + 1e3 * sd_j
            cmu[m] = tm
            csd[m] = 0.5 * (tp - tn) if tp < np.inf and tp > tn else sk
        m += 1
    n = _nodes(mu_j, sd_j, cmu, csd, m, lower, t, w, work[2 * na:3 * na], work[3 * na:4 * na])
    p = 0.0
    for i in range(n):
        xi = _x_of(t[i])
        gi = w[i]
        for k in range(m):
            dk = xs[3 * k + 2]
            thr = t[i] if dk == 0.0 else _c_of(xi + dk)
            if thr < np.inf:
                gi *= _ncdf((thr - xs[3 * k]) / xs[3 * k + 1])
        p += gi
    return p


@njit(**_INNER)
def _slot_factor(post_a, post_b, offsets, hour_dim, wd_dim, c, slot_ok, slot, n_slots, s_hour, s_wd, work, na,
                 masks):
    """P(the chosen slot has the best hour x weekday draw among the usable slots of channel c).

    ``masks`` (int64 scratch, one entry per hour) receives the weekdays on which each hour is usable.
    """
    if wd_dim < 0 or hour_dim < 0:
        dim = hour_dim if hour_dim >= 0 else wd_dim
        lo = offsets[dim]
        size = offsets[dim + 1] - lo
        for k in range(size):
            masks[k] = 0
        for s in range(n_slots):
            if slot_ok[c, s] != 0:
                masks[s_hour[s] if hour_dim >= 0 else s_wd[s]] = 1
        jj = lo + (s_hour[slot] if hour_dim >= 0 else s_wd[slot])
        return _dim_factor(post_a, post_b, lo, lo + size, jj, True, masks, work, na)
    hl = offsets[hour_dim]
    nh = offsets[hour_dim + 1] - hl
    wl = offsets[wd_dim]
    nw = offsets[wd_dim + 1] - wl
    for h in range(nh):
        masks[h] = 0
    for s in range(n_slots):
        if slot_ok[c, s] != 0:
            masks[s_hour[s]] |= np.int64(1) << s_wd[s]
    hs = s_hour[slot]
    ws = s_wd[slot]
    days = np.int64(0)
    for h in range(nh):
        days |= masks[h]
    n_days = 0
    for d in range(nw):
        n_days += (days >> d) & 1
    if n_days == 1:
        return _dim_factor(post_a, post_b, hl, hl + nh, hl + hs, True, masks, work, na)
    cmu = work[:na]
    ik = work[na:2 * na]
    zb = work[4 * na:5 * na]
    b = 6 * na
    t = work[b:b + QMAX]
    w = work[b + QMAX:b + 2 * QMAX]
    ga = work[b + 2 * QMAX:b + 3 * QMAX]
    omega = work[b + 3 * QMAX:b + 4 * QMAX]
    xi = work[b + 4 * QMAX:b + 5 * QMAX]
    lw = work[b + 5 * QMAX:]  # lw[p * nw + d] = log(W_d / W_ws) at point p (weight omega[p])
    # points of the weekday draws
    # log W_d has mean psi(a) - psi(a + b) and variance psi1(a) - psi1(a + b)
    e_s, v_s = _psi_diff(post_b[wl + ws], post_a[wl + ws])
    n_pts = 0
    if n_days == 2:
        other = -1
        for d in range(nw):
            if d != ws and (days >> d) & 1:
                other = d
        e_o, v_o = _psi_diff(post_b[wl + other], post_a[wl + other])
        mu_r = e_s - e_o  # log(W_other / W_ws): psi_diff gives minus the means
        sd_r = math.sqrt(v_o + v_s)
        if (masks[hs] >> other) & 1:
            # the chosen hour is usable on the other day too: the chosen day must draw higher (R < 1)
            r_hi = min(0.0, mu_r + _CUT_J * sd_r)
            r_lo = mu_r - _CUT_J * sd_r
            if r_lo >= r_hi:
                return 0.0
            hr = 0.5 * (r_hi - r_lo)
            for i in range(_GL6_X.shape[0]):
                r = r_lo + hr * (1.0 + _GL6_X[i])
                u = (r - mu_r) / sd_r
                omega[n_pts] = hr * _GL6_W[i] * _INV_SQRT_2PI * math.exp(-0.5 * u * u) / sd_r
                for d in range(nw):
                    lw[n_pts * nw + d] = 0.0
                lw[n_pts * nw + other] = r
                n_pts += 1
        else:
            for i in range(_GH4_Z.shape[0]):
                omega[n_pts] = _GH4_W[i]
                for d in range(nw):
                    lw[n_pts * nw + d] = 0.0
                lw[n_pts * nw + other] = mu_r + sd_r * _GH4_Z[i]
                n_pts += 1
    else:
        # three or more weekdays: a lattice rule over the log draws of every weekday of the window
        sq_s = math.sqrt(v_s)
        for p in range(_LAT_M):
            omega[p] = 1.0 / _LAT_M
            for d in range(nw):
                lw[p * nw + d] = 0.0
        k = 1
        for d in range(nw):
            if d != ws and (days >> d) & 1:
                e_d, v_d = _psi_diff(post_b[wl + d], post_a[wl + d])
                sq_d = math.sqrt(v_d)
                for p in range(_LAT_M):
                    lw[p * nw + d] = e_s - e_d + sq_d * _LAT[p, k] - sq_s * _LAT[p, 0]
                k += 1
        n_pts = _LAT_M
    # mean log ratio of every weekday (for placing the nodes), in t[:nw] until the nodes are built
    tot = 0.0
    for p in range(n_pts):
        tot += omega[p]
    for d in range(nw):
        r = 0.0
        for p in range(n_pts):
            r += omega[p] * lw[p * nw + d]
        t[d] = r / tot if tot > 0.0 else 0.0
    # hour competitors grouped by their usable weekdays (chosen day only first), in node coordinates at the
    # typical ratios for the placement: competitor h beats the slot at x iff H_h > x / R, c(x / R) ~ c R^(-1/3)
    mu_j, sd_j = arm_gauss(post_a[hl + hs], post_b[hl + hs])
    one = np.int64(1) << ws
    csd = work[5 * na:6 * na]
    m = 0
    n_one = 0
    for pass_ in range(2):
        for h in range(nh):
            if h == hs or masks[h] == 0 or (masks[h] == one) != (pass_ == 0):
                continue
            mk, sk = arm_gauss(post_a[hl + h], post_b[hl + h])
            top = -np.inf
            for d in range(nw):
                if (masks[h] >> d) & 1 and t[d] > top:
                    top = t[d]
            sc = math.exp(top * (1.0 / 3.0))
            cmu[m] = mk * sc if mk > 0.0 else mk
            csd[m] = sk * sc
            zb[m] = mk  # the true centre
            ik[m] = 1.0 / sk
            masks[nh + m] = masks[h]
            m += 1
        if pass_ == 0:
            n_one = m
    n = _nodes(mu_j, sd_j, cmu, csd, m, -np.inf, t, w, work[2 * na:3 * na], work[3 * na:4 * na])
    if n == 0:
        return 0.0
    for k in range(m):
        cmu[k] = zb[k]
    # the hours usable on the chosen day only meet threshold x at every point: their product once
    for i in range(n):
        ga[i] = w[i] * _phi_prod(t[i], cmu, ik, 0, n_one, zb, 0.0)
        xi[i] = _x_of(t[i])
    total = 0.0
    for p in range(n_pts):
        # the chosen hour's other usable days must draw lower than the chosen day
        bad = False
        for d in range(nw):
            if d != ws and (masks[hs] >> d) & 1 and lw[p * nw + d] >= 0.0:
                bad = True
        if bad:
            continue
        s = 0.0
        for i in range(n):
            gi = ga[i]
            k = n_one
            while k < m and gi > 0.0:  # runs of competitors with the same usable days share a threshold
                mask = masks[nh + k]
                k1 = k + 1
                while k1 < m and masks[nh + k1] == mask:
                    k1 += 1
                top = -np.inf
                for d in range(nw):
                    if (mask >> d) & 1:
                        r = lw[p * nw + d] if d != ws else 0.0
                        if r > top:
                            top = r
                thr = t[i] if top == 0.0 else _c_of(xi[i] * math.exp(-top))
                gi *= _phi_prod(thr, cmu, ik, k, k1, zb, 0.0)
                k = k1
            s += gi
        total += omega[p] * s
    return total


@njit(**_JIT)
def decision_propensity(offsets, post_a, post_b, chan_ok, choice, c, hold, value, cost, hour_dim, wd_dim,
                        slot_ok, slot, n_slots, s_hour, s_wd, first_only, work, iwork):
    """The probability of a whole decision (see the module docstring), in [1e-300, 1].

    ``post_a``/``post_b`` are the arms' posteriors (hour arms smoothed as drawn),
    ``choice`` the chosen arm of every dimension, ``c`` the chosen channel (any
    feasible one on a hold), ``slot`` the chosen slot. ``work`` is float64 scratch
    of ``(6 + QMAX) * n_arms + WORK_FIXED`` entries, ``iwork`` int64 scratch of ``2 * n_arms``.
    """
    n_dims = offsets.shape[0] - 1
    na = offsets[n_dims]
    n_ch = offsets[1]
    if hold:  # every feasible channel's value * theta - cost < 0: a product of exact Beta CDFs
        p = 1.0
        for k in range(n_ch):
            if chan_ok[k] != 0:
                p *= betainc(post_a[k], post_b[k], cost[k] / value) if cost[k] > 0.0 else 0.0
        return min(max(p, _TINY), 1.0)
    for k in range(n_ch):
        iwork[k] = chan_ok[k]
    if np.isnan(value):
        p = _dim_factor(post_a, post_b, 0, n_ch, c, True, iwork, work, na)
    else:
        p = _value_factor(post_a, post_b, n_ch, c, chan_ok, value, cost, work, na)
    for d in range(1, n_dims):
        if d != hour_dim and d != wd_dim:
            lo = offsets[d]
            p *= _dim_factor(post_a, post_b, lo, offsets[d + 1], lo + choice[d], False, iwork, work, na)
    if not first_only:
        p *= _slot_factor(post_a, post_b, offsets, hour_dim, wd_dim, c, slot_ok, slot, n_slots, s_hour, s_wd, work,
                          na, iwork)
    return min(max(p, _TINY), 1.0)
