"""Numba: one Thompson decision per customer -- channel, wording, extras and send slot.

The caller (model.py) turns every contact rule into plain arrays first:

* ``earliest[c]``: the earliest time channel ``c`` may be used for this
  customer (consent, caps and the minimum gap folded in; ``NO_TIME`` = never);
* a *slot table* per time zone: the local hours between ``now`` and the
  deadline, each with its UTC start and end, local hour and local weekday
  (slot 0 starts at ``now`` itself);
* ``quiet[c]``: a 24-bit mask of channel ``c``'s quiet local hours.

A channel is feasible when some slot is usable for it: not quiet, and
``max(slot start, earliest[c])`` before the slot ends and not after the
deadline. The decision draws one Beta sample per arm (hour arms optionally
smoothed over neighbouring hours), takes the feasible channel with the best
draw (or the best ``value * draw - cost``), the best arm of every other
dimension, and the usable slot of that channel whose (hour, weekday) draws
multiply to the most (the first usable slot when the message is urgent or the
space learns no time).

The propensity is the probability of the whole decision under Thompson
sampling. The dimensions are drawn independently, so it factorises into
P(channel) x P(wording) x ... x P(slot | channel) (a hold: P(every feasible
channel's value is negative)). ``n_prop`` selects how it is obtained:

* ``n_prop > 0``: computed, not sampled, by :func:`channelopt.kernels.propensity.decision_propensity`
  (Gaussian approximations of the posteriors in a common coordinate and a few
  quadrature nodes per factor; see that module for the method and its accuracy).
  Deterministic and about as costly as the decision itself; the value of
  ``n_prop`` does not matter.
* ``n_prop < 0``: the former Monte Carlo estimate on ``-n_prop`` fresh decisions
  from a separate stream, ``(wins + 1) / (-n_prop + 1)`` per factor (kept as a
  reference for tests and benchmarks: ~100x slower at 256 draws, and biased
  upwards by ``1 / (M + 1)`` per factor).
* ``n_prop == 0``: no propensity (NaN).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from channelopt.kernels.posterior import posterior
from channelopt.kernels.propensity import QMAX, WORK_FIXED, decision_propensity
from channelopt.kernels.rng import _PROPENSITY_STREAM, arm_key, beta_draw, draw_key, splitmix64

__all__ = ["INFEASIBLE", "NOT_WORTH_COST", "NO_TIME", "OK", "decide_core", "decide_many", "decide_one", "work_size"]

NO_TIME = np.iinfo(np.int64).max

OK = 0
INFEASIBLE = 1
NOT_WORTH_COST = 2

_CHUNK = 256


@njit(cache=True, nogil=True, inline="always")
def _smoothed_hours(r, lo, size, sends, responses, prior_a, prior_b, smooth, post_a, post_b):
    """Posteriors of the hour arms ``lo .. lo + size`` into ``post_a``/``post_b``, smoothed (circular).

    Hour ``h`` adds ``smooth[t]`` times the statistics of hour ``(h + t - half) mod size``
    (``half = len(smooth) // 2``), summed in ``t`` order; the index wraps by a compare, not
    an integer division per tap.
    """
    if r < 0:
        for j in range(lo, lo + size):
            post_a[j] = prior_a[j]
            post_b[j] = prior_b[j]
        return
    width = smooth.shape[0]
    start = (size - (width // 2) % size) % size  # (0 - half) mod size
    for h in range(size):
        s = 0.0
        k = 0.0
        jj = start
        for t in range(width):
            w = smooth[t]
            s += w * np.float64(sends[r, lo + jj])
            k += w * np.float64(responses[r, lo + jj])
            jj += 1
            if jj == size:
                jj = 0
        a = prior_a[lo + h] + k
        b = prior_b[lo + h]
        f = s - k
        if f > 0.0:
            b += f
        post_a[lo + h] = a
        post_b[lo + h] = b
        start += 1
        if start == size:
            start = 0


@njit(cache=True, nogil=True)
def _draw_all(key, base, r, sends, responses, prior_a, prior_b, offsets, chan_ok, hour_dim, smooth, theta,
              post_a, post_b, explore):
    """One Beta draw per arm into ``theta`` (NaN for channels that cannot be used).

    Arm ``j`` uses the stream ``arm_key(key, base + j)`` and draws from
    ``Beta(alpha / explore, beta / explore)``, ``(alpha, beta)`` its posterior;
    those drawn-from parameters go to ``post_a[j]``, ``post_b[j]`` (not for
    channels that cannot be used), so that the propensity is computed for the
    very distributions drawn from. ``explore == 1`` divides nothing (bit-identical).
    """
    n_dims = offsets.shape[0] - 1
    scaled = explore != 1.0
    for d in range(n_dims):
        lo = offsets[d]
        hi = offsets[d + 1]
        if d == hour_dim and smooth.shape[0] > 1:
            _smoothed_hours(r, lo, hi - lo, sends, responses, prior_a, prior_b, smooth, post_a, post_b)
            for j in range(lo, hi):
                if scaled:
                    post_a[j] = post_a[j] / explore
                    post_b[j] = post_b[j] / explore
                theta[j] = beta_draw(post_a[j], post_b[j], arm_key(key, np.uint64(base + j)))
            continue
        for j in range(lo, hi):
            if d == 0 and chan_ok[j] == 0:
                theta[j] = np.nan
                continue
            a, b = posterior(r, j, sends, responses, prior_a, prior_b)
            if scaled:
                a = a / explore
                b = b / explore
            post_a[j] = a
            post_b[j] = b
            theta[j] = beta_draw(a, b, arm_key(key, np.uint64(base + j)))


@njit(cache=True, nogil=True, inline="always")
def _best_channel(theta, n_ch, chan_ok, value, cost):
    """(channel, its value) maximising the draw, or value * draw - cost when ``value`` is set."""
    best = -1
    best_v = -np.inf
    use_value = not np.isnan(value)
    for c in range(n_ch):
        if chan_ok[c] == 0:
            continue
        v = value * theta[c] - cost[c] if use_value else theta[c]
        if v > best_v:
            best_v = v
            best = c
    return best, best_v


@njit(cache=True, nogil=True, inline="always")
def _best_arm(theta, lo, hi):
    best = lo
    best_v = theta[lo]
    for j in range(lo + 1, hi):
        if theta[j] > best_v:
            best_v = theta[j]
            best = j
    return best - lo


@njit(cache=True, nogil=True, inline="always")
def _best_slot(theta, c, slot_ok, n_slots, s_hour, s_wd, hour_lo, wd_lo, first_only):
    best = -1
    best_v = -1.0
    for s in range(n_slots):
        if slot_ok[c, s] == 0:
            continue
        if first_only:
            return s
        v = 1.0
        if hour_lo >= 0:
            v *= theta[hour_lo + s_hour[s]]
        if wd_lo >= 0:
            v *= theta[wd_lo + s_wd[s]]
        if v > best_v:
            best_v = v
            best = s
    return best


@njit(cache=True, nogil=True)
def _usable_slots(earliest, s_start, s_end, s_hour, n_slots, deadline, quiet, slot_ok, chan_ok) -> int:
    """Fill ``slot_ok[c, s]`` and ``chan_ok[c]``; return the number of feasible channels."""
    n_ch = earliest.shape[0]
    n_ok = 0
    for c in range(n_ch):
        e = earliest[c]
        any_ok = 0
        q = quiet[c]
        for s in range(n_slots):
            t = s_start[s]
            if e > t:
                t = e
            ok = e != NO_TIME and t < s_end[s] and t <= deadline and ((q >> s_hour[s]) & 1) == 0
            slot_ok[c, s] = 1 if ok else 0
            if ok:
                any_ok = 1
        chan_ok[c] = any_ok
        n_ok += any_ok
    return n_ok


@njit(cache=True, nogil=True)
def decide_core(r, cust_hash, sends, responses, prior_a, prior_b, offsets, earliest, s_start, s_end, s_hour, s_wd,
                n_slots, deadline, quiet, value, cost, urgent, hour_dim, wd_dim, smooth, seed, round_, n_prop,
                choice, theta, work, slot_ok, chan_ok, iwork, explore):
    """One customer's decision; returns ``(send_ns, score, propensity, status)``.

    ``explore`` (float64 > 0, the model's ``exploration``) divides both
    parameters of every posterior before the draw; the propensity is that of
    the scaled distributions, i.e. of the decision actually taken.

    ``choice[d]`` gets the chosen arm of every dimension (hour and weekday: the
    chosen slot's), or -1 everywhere on a hold. ``theta`` receives the
    decision's draws; ``work`` (float64, :func:`work_size` entries), ``slot_ok``,
    ``chan_ok`` and ``iwork`` (int64, ``4 * n_arms`` entries) are scratch.
    """
    n_dims = offsets.shape[0] - 1
    n_ch = offsets[1]
    n_arms = offsets[n_dims]
    for d in range(n_dims):
        choice[d] = -1
    if _usable_slots(earliest, s_start, s_end, s_hour, n_slots, deadline, quiet, slot_ok, chan_ok) == 0:
        for j in range(n_arms):
            theta[j] = np.nan
        return NO_TIME, np.nan, 1.0, INFEASIBLE
    post_a = work[:n_arms]
    post_b = work[n_arms:2 * n_arms]
    key = draw_key(seed, round_, cust_hash)
    # (np.int64(...): no literal arguments, which numba would compile a second version of the callee for)
    _draw_all(key, np.int64(0), r, sends, responses, prior_a, prior_b, offsets, chan_ok, hour_dim, smooth, theta,
              post_a, post_b, explore)
    c, c_value = _best_channel(theta, n_ch, chan_ok, value, cost)
    hour_lo = offsets[hour_dim] if hour_dim >= 0 else -1
    wd_lo = offsets[wd_dim] if wd_dim >= 0 else -1
    first_only = urgent or (hour_lo < 0 and wd_lo < 0)
    hold = c_value < 0.0
    slot = -1
    if not hold:
        choice[0] = c
        for d in range(1, n_dims):
            if d != hour_dim and d != wd_dim:
                choice[d] = _best_arm(theta, offsets[d], offsets[d + 1])
        slot = _best_slot(theta, c, slot_ok, n_slots, s_hour, s_wd, hour_lo, wd_lo, first_only)
        if hour_dim >= 0:
            choice[hour_dim] = s_hour[slot]
        if wd_dim >= 0:
            choice[wd_dim] = s_wd[slot]
    if n_prop > 0:
        prop = decision_propensity(offsets, post_a, post_b, chan_ok, choice, np.int64(c), hold, value, cost,
                                   hour_dim, wd_dim, slot_ok, np.int64(slot), n_slots, s_hour, s_wd, first_only,
                                   work[2 * n_arms:], iwork)
    elif n_prop < 0:
        prop = _monte_carlo(key, -n_prop, r, sends, responses, prior_a, prior_b, offsets, chan_ok, hour_dim, wd_dim,
                            smooth, value, cost, np.int64(c), hold, choice, slot_ok, np.int64(slot), n_slots, s_hour,
                            s_wd, first_only, work[2 * n_arms:3 * n_arms], post_a, post_b, iwork, explore)
    else:
        prop = np.nan
    if hold:
        return NO_TIME, theta[c], prop, NOT_WORTH_COST
    t = s_start[slot]
    if earliest[c] > t:
        t = earliest[c]
    return t, theta[c], prop, OK


@njit(cache=True, nogil=True)
def _monte_carlo(key, n_prop, r, sends, responses, prior_a, prior_b, offsets, chan_ok, hour_dim, wd_dim, smooth,
                 value, cost, c, hold, choice, slot_ok, slot, n_slots, s_hour, s_wd, first_only, theta2, post_a,
                 post_b, wins_dim, explore):
    """The former estimate: each factor's share of ``n_prop`` fresh decisions, ``(wins + 1) / (n_prop + 1)``."""
    n_dims = offsets.shape[0] - 1
    n_ch = offsets[1]
    n_arms = offsets[n_dims]
    hour_lo = offsets[hour_dim] if hour_dim >= 0 else -1
    wd_lo = offsets[wd_dim] if wd_dim >= 0 else -1
    pkey = splitmix64(key ^ _PROPENSITY_STREAM)
    wins_ch = 1
    wins_slot = 1
    holds = 1
    for d in range(n_dims):
        wins_dim[d] = 1
    for m in range(n_prop):
        _draw_all(pkey, m * n_arms, r, sends, responses, prior_a, prior_b, offsets, chan_ok, hour_dim, smooth,
                  theta2, post_a, post_b, explore)
        c2, v2 = _best_channel(theta2, n_ch, chan_ok, value, cost)
        if hold:
            if v2 < 0.0:
                holds += 1
            continue
        if c2 == c and v2 >= 0.0:
            wins_ch += 1
        for d in range(1, n_dims):
            if d != hour_dim and d != wd_dim:
                if _best_arm(theta2, offsets[d], offsets[d + 1]) == choice[d]:
                    wins_dim[d] += 1
        if not first_only:
            if _best_slot(theta2, c, slot_ok, n_slots, s_hour, s_wd, hour_lo, wd_lo, False) == slot:
                wins_slot += 1
    denom = n_prop + 1.0
    if hold:
        return holds / denom
    prop = wins_ch / denom
    for d in range(1, n_dims):
        if d != hour_dim and d != wd_dim:
            prop *= wins_dim[d] / denom
    if not first_only:
        prop *= wins_slot / denom
    return prop


@njit(cache=True, nogil=True, inline="always")
def work_size(n_arms):
    """Entries of the float64 scratch ``work`` of :func:`decide_core`."""
    return (8 + QMAX) * n_arms + WORK_FIXED


@njit(cache=True, nogil=True)
def decide_one(r, cust_hash, sends, responses, prior_a, prior_b, offsets, earliest, s_start, s_end, s_hour, s_wd,
               n_slots, deadline, quiet, value, cost, urgent, hour_dim, wd_dim, smooth, seed, round_, n_prop,
               choice, theta, explore=1.0):
    """:func:`decide_core` with its own scratch; ``theta`` receives the decision's draws.

    ``explore`` (default 1.0: plain Thompson sampling) as in :func:`decide_core`.
    """
    n_arms = offsets[offsets.shape[0] - 1]
    n_ch = offsets[1]
    work = np.empty(work_size(n_arms), dtype=np.float64)
    slot_ok = np.empty((n_ch, max(n_slots, 1)), dtype=np.uint8)
    chan_ok = np.empty(n_ch, dtype=np.uint8)
    iwork = np.empty(4 * n_arms, dtype=np.int64)
    return decide_core(r, cust_hash, sends, responses, prior_a, prior_b, offsets, earliest, s_start, s_end, s_hour,
                       s_wd, n_slots, deadline, quiet, value, cost, urgent, hour_dim, wd_dim, smooth, seed, round_,
                       n_prop, choice, theta, work, slot_ok, chan_ok, iwork, np.float64(explore))


@njit(cache=True, parallel=True)
def decide_many(rows, hashes, group, sends, responses, prior_a, prior_b, offsets, earliest, zone, s_start, s_end,
                s_hour, s_wd, n_slots, deadline, quiet, value, cost, urgent, hour_dim, wd_dim, smooth, seed, round_,
                n_prop, choice, send_ns, score, prop, status, explore=1.0):
    """:func:`decide_core` for every customer, in parallel over chunks of customers.

    ``explore`` (default 1.0: plain Thompson sampling) as in :func:`decide_core`.

    ``prior_a``/``prior_b`` are prior tables ``[n_groups, n_arms]`` (row 0 the
    population, the others segments) and ``group[i]`` is customer ``i``'s row;
    ``earliest`` has one row per customer or a single shared row; ``zone[i]``
    selects customer ``i``'s row of the slot tables.
    """
    n = rows.shape[0]
    n_arms = offsets[offsets.shape[0] - 1]
    n_ch = offsets[1]
    shared = earliest.shape[0] == 1
    max_slots = max(s_start.shape[1], 1)
    scale = np.float64(explore)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        theta = np.empty(n_arms, dtype=np.float64)
        work = np.empty(work_size(n_arms), dtype=np.float64)
        slot_ok = np.empty((n_ch, max_slots), dtype=np.uint8)
        chan_ok = np.empty(n_ch, dtype=np.uint8)
        iwork = np.empty(4 * n_arms, dtype=np.int64)
        stop = min(n, (ci + 1) * _CHUNK)
        for i in range(ci * _CHUNK, stop):
            e = earliest[0] if shared else earliest[i]
            z = zone[i]
            g = group[i]
            t, s, p, st = decide_core(rows[i], hashes[i], sends, responses, prior_a[g], prior_b[g], offsets, e,
                                      s_start[z], s_end[z], s_hour[z], s_wd[z], n_slots[z], deadline, quiet, value,
                                      cost, urgent, hour_dim, wd_dim, smooth, seed, round_, n_prop, choice[i], theta,
                                      work, slot_ok, chan_ok, iwork, scale)
            send_ns[i] = t
            score[i] = s
            prop[i] = p
            status[i] = st
