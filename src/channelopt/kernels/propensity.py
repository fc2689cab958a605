"""Numba: the probability of a Thompson decision, computed (no sampling).

A decision of :mod:`channelopt.kernels.decide` takes, per dimension, the arm with the
largest independent ``Beta(a_j, b_j)`` draw (the send slot: the largest product
of an hour draw and a weekday draw). Its probability factorises into
P(channel) x P(wording) x ... x P(slot | channel), each factor of the form::

    P(j wins) = integral of f_j(x) * prod_{k != j} F_k(x) dx

Exact quadrature (:mod:`channelopt.kernels.win`, ~100 us per customer) is too slow for
a batch kernel, and so is Monte Carlo (each factor needs thousands of decisions
for an error of 0.01). Every factor is computed in a *Gaussian world*: each arm
a Gaussian in ``c = (-log(1 - x)) ** (1/3)`` and the win probability of one
Gaussian among others by Clark's approximation and Gauss-Hermite /
Gauss-Legendre nodes (:mod:`channelopt.kernels.quadrature`). The shapes of the
distributions are approximated in the same way for every arm, and the errors
largely cancel (identical arms win with probability 1/n in this world). This
module builds the factors of a decision from that machinery:

* **Channel, wording, extra dimensions.** The win probability of the chosen
  arm among the arms of its dimension (the feasible channels only).
* **Send slot.** Without weekday arms (or with one weekday among the usable
  slots) it is the win probability of the slot's hour among the usable hours.
  With two or more weekdays, hour ``h`` beats the chosen slot at ``x`` when
  ``H_h > x * W_ws / W_d`` on one of its usable days ``d``; in ``c`` that is
  ``c(H_h) * R^(1/3) > c(x)`` (``c(x / R) ~ c(x) R^(-1/3)``, exact for small x).
  The hours usable on the chosen day only are compared exactly; the others are
  grouped by their set of usable days and each group's maximum is one Gaussian
  (Clark). ``log(W_d / W_ws)`` is Gaussian with the exact first two moments of the
  log Beta draws. Two weekdays: the integral over that log ratio is exact given
  the group maximum (8 Gauss-Hermite nodes in it), split at ``R = 1`` for the
  hours usable on both days (and only ``R < 1`` when the chosen hour is usable on
  the other day too). Three or more weekdays (deadlines beyond a day): a 64-point
  lattice rule over the weekday draws.
* **Value and cost.** The channel factor of ``value * theta - cost`` compares
  ``theta_c`` with ``theta_k - (cost_k - cost_c) / value`` (mapped into ``c``
  per node) above ``cost_c / value``; a hold's probability is the exact product
  of the feasible channels' Beta CDFs at ``cost / value``.

Accuracy against the exact probabilities (``tests/test_propensity.py``): the
mean absolute error of a factor is ~4e-4 on the benchmark's posteriors (prior
Beta(1, 15), a few sends per arm; 90% of relative errors below 2% for
probabilities >= 1e-3), ~3e-5 with a strong prior, ~2e-3 when most arms have
shape ``a < 1``, ~5e-3 for arms without history (prior strength 2) and ~1e-2 in
the worst family tested (prior strength 0.5: Beta(0.05, 0.45)); on the issue's
grid of shapes ~5e-3 (up to 0.027 next to Beta(0.5, 0.5)). The slot with two
weekdays: ~1e-3 (1% relative), three weekdays ~3e-3 (6%). Whole decisions of the
benchmark: MAE 3e-5, median relative error 0.6% (the former Monte Carlo on 256
draws: 8e-4 and 21%). Cost: about that of the decision itself (no random draws):
per dimension one moment match per arm, Clark's recursion over the competitors
and 6 nodes x competitors normal CDFs (vectorised).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numba import njit

from channelopt.kernels.quadrature import (
    CUT_J,
    QMAX,
    arm_gauss,
    c_of,
    clark,
    ncdf,
    nodes,
    products,
    psi_diff,
    win_gauss,
    x_of,
)
from channelopt.kernels.win import betainc  # the exact Beta CDF (Lentz continued fraction), shared with the quadrature

__all__ = ["QMAX", "WORK_FIXED", "decision_propensity"]

_TINY = 1e-300

# probabilists' Gauss-Hermite nodes as an expectation under N(0, 1) (the weekday log ratio of a slot)
_Z8, _W8 = np.polynomial.hermite_e.hermegauss(8)
_GH8_Z = np.ascontiguousarray(_Z8)
_GH8_W = np.ascontiguousarray(_W8 / _W8.sum())


def _lattice(m: int, dims: int, gen: int = 5) -> np.ndarray:
    """Normal scores of an ``m``-point rank-1 (Korobov) lattice in ``dims`` dimensions, shifted by 1 / (2m)."""
    inv = NormalDist().inv_cdf
    out = np.empty((m, dims))
    for i in range(m):
        for d in range(dims):
            out[i, d] = inv((((i * gen ** d) % m) + 0.5) / m)
    return out


_LAT_M = 64
_LAT = np.ascontiguousarray(_lattice(_LAT_M, 8, 27))

#: :func:`decision_propensity` needs ``(6 + QMAX) * n_arms + WORK_FIXED`` float64 entries of scratch.
WORK_FIXED = 9 * QMAX + 8 + _LAT_M * 7

# error_model="numpy": IEEE division (no zero checks), which lets LLVM vectorise the Phi loops
_JIT = dict(cache=True, nogil=True, error_model="numpy")
_INNER = dict(_JIT, no_cpython_wrapper=True)  # helpers never called from Python: no wrapper to compile


@njit(**_INNER)
def _dim_factor(post_a, post_b, lo, hi, jj, mask, work, na):
    """Win probability of arm ``jj`` among the arms ``j`` of ``lo..hi-1`` with ``mask[j - lo] != 0``."""
    cmu = work[:na]
    csd = work[na:2 * na]
    mu_j, sd_j = arm_gauss(post_a[jj], post_b[jj])
    m = np.int64(0)
    for j in range(lo, hi):
        if j == jj or mask[j - lo] == 0:
            continue
        cmu[m], csd[m] = arm_gauss(post_a[j], post_b[j])
        m += 1
    return win_gauss(mu_j, sd_j, cmu, csd, m, work[2 * na:])


@njit(**_INNER)
def _value_factor(post_a, post_b, n_ch, c, chan_ok, value, cost, work, na):
    """P(channel c has the best ``value * theta - cost`` and it is >= 0)."""
    cmu = work[:na]
    csd = work[na:2 * na]
    xs = work[2 * na:5 * na]  # per competitor: mean, sd, shift
    b = 6 * na
    t = work[b:b + QMAX]
    w = work[b + QMAX:b + 2 * QMAX]
    mu_j, sd_j = arm_gauss(post_a[c], post_b[c])
    lower = c_of(cost[c] / value) if cost[c] > 0.0 else -np.inf
    hi = mu_j + CUT_J * sd_j
    m = np.int64(0)
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
            tm = c_of(x_of(mk) - dk)
            tp = c_of(x_of(mk + sk) - dk)
            tn = c_of(x_of(mk - sk) - dk)
            if tm == np.inf:  # k's typical draw beats any draw of c
                tm = hi + 1e3 * sd_j
            cmu[m] = tm
            csd[m] = 0.5 * (tp - tn) if tp < np.inf and tp > tn else sk
        m += 1
    n = nodes(mu_j, sd_j, cmu, csd, m, lower, t, w, work[b + 2 * QMAX:b + 2 * QMAX + m],
               work[b + 3 * QMAX:b + 3 * QMAX + m])
    p = 0.0
    for i in range(n):
        xi = x_of(t[i])
        gi = w[i]
        for k in range(m):
            dk = xs[3 * k + 2]
            thr = t[i] if dk == 0.0 else c_of(xi + dk)
            if thr < np.inf:
                gi *= ncdf((thr - xs[3 * k]) / xs[3 * k + 1])
        p += gi
    return p


@njit(**_INNER)
def _slot_factor(post_a, post_b, offsets, hour_dim, wd_dim, c, slot_ok, slot, n_slots, s_hour, s_wd, work, iwork,
                 na):
    """P(the chosen slot has the best hour x weekday draw among the usable slots of channel c)."""
    masks = iwork[:na]  # per hour: the weekdays on which it is usable
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
        return _dim_factor(post_a, post_b, lo, lo + size, jj, masks, work, na)
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
        return _dim_factor(post_a, post_b, hl, hl + nh, hl + hs, masks, work, na)
    # Two or more weekdays. With Clark's Gaussian M_g for the maximum of the hours of each set of usable
    # days g (in c), hour h beats the chosen slot at x iff H_h > x * W_ws / W_d on one of its days d: in c,
    # M_g * R_g^(1/3) > c(x) with R_g = max_{d in g} W_d / W_ws (c(x / R) ~ c(x) R^(-1/3): exact for small x).
    cmu = work[:na]
    csd = work[na:2 * na]
    b = 6 * na
    t = work[b:b + QMAX]
    w = work[b + QMAX:b + 2 * QMAX]
    ga = work[b + 2 * QMAX:b + 3 * QMAX]
    gm = work[b + 3 * QMAX:b + 4 * QMAX]  # per group: Clark mean and sd
    gs = work[b + 4 * QMAX:b + 5 * QMAX]
    pair = work[b + 5 * QMAX:b + 7 * QMAX]
    lt = work[b + 7 * QMAX:b + 8 * QMAX]
    fp = work[b + 8 * QMAX:b + 9 * QMAX]
    lw = work[b + 9 * QMAX:b + WORK_FIXED]  # mean log(W_d / W_ws) per weekday, then the lattice points
    gmask = iwork[na:2 * na]  # per group: its usable weekdays
    order = iwork[2 * na:3 * na]  # competitors' hours, grouped
    ends = iwork[3 * na:4 * na]  # per group: the end of its competitors in ``order``
    tmu = work[4 * na:5 * na]  # competitors' own Gaussians, in ``order``
    tsd = work[5 * na:6 * na]
    # log W has mean psi(a) - psi(a + b) and variance psi1(a) - psi1(a + b) (psi_diff gives minus the mean)
    e_s, v_s = psi_diff(post_b[wl + ws], post_a[wl + ws])
    for d in range(nw):
        lw[d] = 0.0
        if d != ws and (days >> d) & 1:
            e_d, v_d = psi_diff(post_b[wl + d], post_a[wl + d])
            lw[d] = e_s - e_d
    # groups: the chosen day only (group 0, compared exactly), then one per distinct set of days
    one = np.int64(1) << ws
    n_grp = np.int64(1)
    gmask[0] = one
    m = np.int64(0)
    for gi in range(nh + 1):
        if gi >= n_grp:
            break
        for h in range(nh):
            if h == hs or masks[h] == 0:
                continue
            if gi == 0 and masks[h] != one:
                known = False
                for k in range(1, n_grp):
                    if gmask[k] == masks[h]:
                        known = True
                if not known:
                    gmask[n_grp] = masks[h]
                    n_grp += 1
            if masks[h] == gmask[gi]:
                order[m] = h
                m += 1
        ends[gi] = m
    # placement: every competitor at its group's typical ratio
    mu_j, sd_j = arm_gauss(post_a[hl + hs], post_b[hl + hs])
    g = 0
    for k in range(m):
        while k >= ends[g]:
            g += 1
        top = -np.inf
        for d in range(nw):
            if (gmask[g] >> d) & 1:
                top = max(top, lw[d])
        mk, sk = arm_gauss(post_a[hl + order[k]], post_b[hl + order[k]])
        sc = math.exp(top * (1.0 / 3.0))
        tmu[k] = mk
        tsd[k] = sk
        cmu[k] = mk * sc if mk > 0.0 else mk
        csd[k] = sk * sc
    n = nodes(mu_j, sd_j, cmu, csd, m, -np.inf, t, w, work[2 * na:3 * na], work[3 * na:4 * na])
    if n == 0:
        return 0.0
    # every other group as its Clark Gaussian
    for gi in range(1, n_grp):
        lo = ends[gi - 1]
        mg, vg = clark(tmu[lo:], tsd[lo:], ends[gi] - lo, work[2 * na:3 * na], work[3 * na:4 * na])
        gm[gi] = mg
        gs[gi] = math.sqrt(vg)
    # the chosen-day hours exactly (tsd becomes its inverse; products's scratch: beyond 6 * n_arms)
    for i in range(n):
        ga[i] = w[i]
    for k in range(ends[0]):
        tsd[k] = 1.0 / tsd[k]
    products(t, n, tmu, tsd, ends[0], ga, fp, work[b + WORK_FIXED:])
    total = 0.0
    if n_days == 2:
        other = 0
        for d in range(nw):
            if d != ws and (days >> d) & 1:
                other = d
        _, v_o = psi_diff(post_b[wl + other], post_a[wl + other])
        mu_r = lw[other]
        sd_r = math.sqrt(v_o + v_s)
        trunc = (masks[hs] >> other) & 1  # the chosen hour is usable on the other day: R < 1 needed
        gb = -1
        gc = -1
        for gi in range(1, n_grp):
            if gmask[gi] == np.int64(1) << other:
                gb = gi
            else:
                gc = gi
        # both days' hours: below x when R < 1, below x / R when R > 1: with them as one Clark Gaussian
        mbc = 0.0
        sbc = 1.0
        if gc > 0:
            mbc, vbc = clark(tmu[ends[0]:], tsd[ends[0]:], ends[n_grp - 1] - ends[0], work[2 * na:3 * na],
                              work[3 * na:4 * na])
            sbc = math.sqrt(vbc)
        for i in range(n):
            lt[i] = math.log(t[i]) if t[i] > 0.0 else 0.0
        # R < 1: the both-days hours meet x, the other day's hours x / R
        for i in range(n):
            pair[i] = ga[i] * (ncdf((t[i] - gm[gc]) / gs[gc]) if gc > 0 else 1.0)
        _ratio_prob(t, lt, n, gm[gb] if gb > 0 else -np.inf, gs[gb] if gb > 0 else 1.0, mu_r, sd_r, -np.inf, 0.0,
                    pair)
        for i in range(n):
            total += pair[i]
        if not trunc:  # R > 1: every hour of the other day meets x / R
            for i in range(n):
                pair[i] = ga[i]
            if gc > 0:
                _ratio_prob(t, lt, n, mbc, sbc, mu_r, sd_r, 0.0, np.inf, pair)
            else:
                _ratio_prob(t, lt, n, gm[gb] if gb > 0 else -np.inf, gs[gb] if gb > 0 else 1.0, mu_r, sd_r, 0.0,
                            np.inf, pair)
            for i in range(n):
                total += pair[i]
        return total
    # three or more weekdays: a lattice rule over the weekday draws, each group's CDF at its threshold
    k = 1
    sq_s = math.sqrt(v_s)
    for d in range(nw):
        if d != ws and (days >> d) & 1:
            _, v_d = psi_diff(post_b[wl + d], post_a[wl + d])
            sq_d = math.sqrt(v_d)
            for p in range(_LAT_M):
                lw[8 + p * 7 + d] = lw[d] + sq_d * _LAT[p, k] - sq_s * _LAT[p, 0]
            k += 1
    for p in range(_LAT_M):
        bad = False
        for d in range(nw):
            if d != ws and (masks[hs] >> d) & 1 and lw[8 + p * 7 + d] >= 0.0:
                bad = True
        if bad:
            continue
        s = 0.0
        for i in range(n):
            gi_ = ga[i]
            for gi in range(1, n_grp):
                top = -np.inf
                for d in range(nw):
                    if (gmask[gi] >> d) & 1:
                        top = max(top, lw[8 + p * 7 + d] if d != ws else 0.0)
                gi_ *= ncdf((t[i] * math.exp(-top * (1.0 / 3.0)) - gm[gi]) / gs[gi])
            s += gi_
        total += s / _LAT_M
    return total


@njit(**_INNER)
def _ratio_prob(t, lt, n, mg, sg, mu_r, sd_r, r_lo, r_hi, out):
    """``out[i] *= P(r_lo < r < r_hi and M e^(r/3) < t[i])`` for M ~ N(mg, sg) and r ~ N(mu_r, sd_r).

    ``mg = -inf``: no M (the probability of the interval alone). ``lt[i] = log(t[i])``
    where ``t[i] > 0``. The expectation over M by 8 Gauss-Hermite nodes, exact in r.
    """
    p_hi = ncdf((r_hi - mu_r) / sd_r) if r_hi < np.inf else 1.0
    p_lo = ncdf((r_lo - mu_r) / sd_r) if r_lo > -np.inf else 0.0
    if mg == -np.inf:
        for i in range(n):
            out[i] *= max(p_hi - p_lo, 0.0)
        return
    acc = out[QMAX:2 * QMAX]
    for i in range(n):
        acc[i] = 0.0
    for k in range(_GH8_Z.shape[0]):
        mk = mg + sg * _GH8_Z[k]
        wk = _GH8_W[k]
        if mk > 0.0:
            lmk = math.log(mk)
            for i in range(n):
                if t[i] > 0.0:  # M e^(r/3) < t iff r < 3 log(t / M)
                    u = 3.0 * (lt[i] - lmk)
                    if u > r_lo:
                        acc[i] += wk * (ncdf((min(u, r_hi) - mu_r) / sd_r) - p_lo)
        else:
            for i in range(n):
                if t[i] > 0.0 or mk == 0.0:  # always below
                    acc[i] += wk * (p_hi - p_lo)
                elif t[i] < 0.0:  # both negative: M e^(r/3) < t iff r > 3 log(t / M)
                    v = max(3.0 * math.log(t[i] / mk), r_lo)
                    if v < r_hi:
                        acc[i] += wk * (p_hi - ncdf((v - mu_r) / sd_r))
    for i in range(n):
        out[i] *= max(acc[i], 0.0)


@njit(**_JIT)
def decision_propensity(offsets, post_a, post_b, chan_ok, choice, c, hold, value, cost, hour_dim, wd_dim,
                        slot_ok, slot, n_slots, s_hour, s_wd, first_only, work, iwork):
    """The probability of a whole decision (see the module docstring), in [1e-300, 1].

    ``post_a``/``post_b`` are the arms' posteriors (hour arms smoothed as drawn),
    ``choice`` the chosen arm of every dimension, ``c`` the chosen channel (any
    feasible one on a hold), ``slot`` the chosen slot. ``work`` is float64 scratch
    of ``(6 + QMAX) * n_arms + WORK_FIXED`` entries, ``iwork`` int64 scratch of
    ``4 * n_arms``.
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
    # (no literal arguments: numba would compile a version per literal value)
    mask = iwork[:na]
    for k in range(n_ch):
        mask[k] = chan_ok[k]
    if np.isnan(value):
        p = _dim_factor(post_a, post_b, offsets[0], n_ch, c, mask, work, na)
    else:
        p = _value_factor(post_a, post_b, n_ch, c, chan_ok, value, cost, work, na)
    for d in range(1, n_dims):
        if d != hour_dim and d != wd_dim:
            lo = offsets[d]
            for k in range(offsets[d + 1] - lo):
                mask[k] = 1
            p *= _dim_factor(post_a, post_b, lo, offsets[d + 1], lo + choice[d], mask, work, na)
    if not first_only:
        p *= _slot_factor(post_a, post_b, offsets, hour_dim, wd_dim, c, slot_ok, slot, n_slots, s_hour, s_wd, work,
                          iwork, na)
    return min(max(p, _TINY), 1.0)
