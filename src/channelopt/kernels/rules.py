"""Numba: the contact rules of one customer, once, for the batch path and the single-customer path.

A contact policy reaches the kernels as one int64 *rules configuration*
(:func:`rules_config`): whether a policy applies, the minimum gap, the complaint
cool-off and the frequency caps. :func:`contact_rules` folds it, with one
customer's consent bits, unsubscriptions, latest sends and latest complaint, into

* ``earliest[c]``: the first instant channel ``c`` may be used (``NO_TIME``:
  never), the input of :func:`channelopt.kernels.decide.decide_core`;
* the effective consent bits, whether the customer is suppressed (complained
  within the cool-off, promotional message) and whether a human should follow
  up (complained within the cool-off, not contacted since).

Once the decision is made, :func:`hold_reason` names why it holds (an index into
:data:`channelopt.core.decision.REASONS`). :func:`contact_rules_many` and
:func:`hold_reasons_many` run the same two functions over a batch (``rank``);
:func:`channelopt.kernels.single.choose_one` calls them for one customer
(``choose_channel``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from channelopt.core.clock import NAT, NS_PER_S
from channelopt.core.decision import REASONS
from channelopt.kernels.decide import NO_TIME, NOT_WORTH_COST, OK

__all__ = ["RULES_HEADER", "contact_rules", "contact_rules_many", "hold_reason", "hold_reasons_many",
           "rules_config"]

#: Layout of a rules configuration: a policy applies (0/1), minimum gap (ns, -1: none), complaint
#: cool-off (ns), number of caps; then ``(channel (-1: all, -2: not in the space), max messages,
#: window ns)`` per cap.
R_POLICY, R_MIN_GAP, R_COOLOFF, R_N_CAPS = range(4)
RULES_HEADER = 4

_R_SUPPRESSED = REASONS.index("suppressed")
_R_NO_CONSENT = REASONS.index("no_consent")
_R_CAP = REASONS.index("cap")
_R_QUIET = REASONS.index("quiet_hours_until_deadline")
_R_NOT_WORTH = REASONS.index("not_worth_cost")
_R_NO_ALLOWED = REASONS.index("no_allowed_channel")

_I64_MIN = np.iinfo(np.int64).min
_I32_MIN = np.iinfo(np.int32).min  # an empty history slot, no complaint (the store's HISTORY_EMPTY)
_NS_PER_MIN = 60 * NS_PER_S
_CHUNK = 1024


def rules_config(min_gap_ns: int | None = None, cooloff_ns: int = 0,
                 caps: list[tuple[int, int, int]] | None = None, policy: bool = True) -> np.ndarray:
    """The read-only int64 rules configuration of a policy (``policy=False``: no rules at all).

    ``caps`` holds ``(channel code (-1: all channels, -2: a channel the space lacks),
    max messages, window ns)``.

    Examples
    --------
    >>> rules_config(12 * 3600 * 10**9, 30 * 86400 * 10**9, [(-1, 3, 7 * 86400 * 10**9)]).tolist()[3:]
    [1, -1, 3, 604800000000000]
    >>> rules_config(policy=False).tolist()
    [0, -1, 0, 0]
    """
    caps = list(caps or []) if policy else []
    flat = [int(v) for cap in caps for v in cap]
    out = np.array([1 if policy else 0, -1 if min_gap_ns is None or not policy else int(min_gap_ns),
                    int(cooloff_ns) if policy else 0, len(caps)] + flat, dtype=np.int64)
    out.flags.writeable = False
    return out


@njit(cache=True, nogil=True, inline="always")
def _send_ns(minute):
    """A history slot in ns (int64 min when empty)."""
    return _I64_MIN if minute == _I32_MIN else np.int64(minute) * _NS_PER_MIN


@njit(cache=True, nogil=True, inline="always")
def _cap_release(hist_min, hist_c, ch, k, window, times):
    """Earliest instant at which fewer than ``k`` of the sends (``ch`` >= 0: on that channel) lie within
    the last ``window``; int64 min when none binds. ``times`` is scratch of the history's length."""
    slots = hist_min.shape[0]
    if slots < k:
        return _I64_MIN
    for s in range(slots):  # insertion sort (a handful of slots)
        t = _send_ns(hist_min[s])
        if ch >= 0 and hist_c[s] != ch:
            t = _I64_MIN
        j = s
        while j > 0 and times[j - 1] > t:
            times[j] = times[j - 1]
            j -= 1
        times[j] = t
    kth = times[slots - k]  # the k-th most recent send must be at least a window old
    return kth + window if kth > _I64_MIN else _I64_MIN


@njit(cache=True, nogil=True)
def contact_rules(conf, now, bits, unsub, mask, hist_min, hist_c, complaint_min, promotional, earliest, times):
    """One customer's rules into ``earliest`` (int64, one per channel); returns ``(effective bits, suppressed,
    escalate)``.

    ``bits`` / ``unsub``: consent and unsubscription bits (an unsubscription wins
    over any grant), ``mask``: the channels the call allows, ``hist_min`` /
    ``hist_c``: the latest sends (minutes since the epoch, int32 min = empty) and
    their channels, ``complaint_min``: the send time of the latest complained
    message in minutes (int32 min: none). ``times`` is int64 scratch of the
    history's length. Without a policy (``conf[R_POLICY] == 0``) every allowed
    channel may be used now and nothing else is read.
    """
    n_ch = earliest.shape[0]
    if conf[R_POLICY] == 0:
        for c in range(n_ch):
            earliest[c] = now if (mask >> c) & 1 else NO_TIME
        return mask, False, False
    eff = bits & ~unsub & mask
    n_h = hist_min.shape[0]
    last = _I64_MIN
    for s in range(n_h):
        t = _send_ns(hist_min[s])
        if t > last:
            last = t
    base = now
    min_gap = conf[R_MIN_GAP]
    if min_gap >= 0 and last > _I64_MIN:
        base = max(now, last + min_gap)
    for c in range(n_ch):
        earliest[c] = base
    p = RULES_HEADER
    for _ in range(conf[R_N_CAPS]):
        ch = conf[p]
        kmax = conf[p + 1]
        window = conf[p + 2]
        p += 3
        if ch == -1:
            rel = _cap_release(hist_min, hist_c, np.int64(-1), kmax, window, times)
            for c in range(n_ch):
                earliest[c] = max(earliest[c], rel)
        elif ch >= 0:
            earliest[ch] = max(earliest[ch], _cap_release(hist_min, hist_c, ch, kmax, window, times))
    for c in range(n_ch):
        if not (eff >> c) & 1:
            earliest[c] = NO_TIME
    lc = np.int64(NAT)
    if complaint_min != _I32_MIN:  # minutes, rounded up as the history
        lc = np.int64(complaint_min) * _NS_PER_MIN
    recent = lc != NAT and now - lc < conf[R_COOLOFF]
    suppressed = recent and promotional
    if suppressed:
        for c in range(n_ch):
            earliest[c] = NO_TIME
    contacted_since = False
    for s in range(n_h):
        if _send_ns(hist_min[s]) > lc:
            contacted_since = True
    return eff, suppressed, recent and not contacted_since


@njit(cache=True, nogil=True)
def hold_reason(status, has_policy, suppressed, eff, earliest, deadline):
    """Why a decision of this status holds: -1 (sent), else an index into ``REASONS``.

    Checked in order: not worth its cost; no policy (every channel masked by the
    call); suppressed; no allowed channel has consent; every consented channel
    capped until after the deadline; else quiet hours until the deadline.
    """
    if status == OK:
        return -1
    if status == NOT_WORTH_COST:
        return _R_NOT_WORTH
    if not has_policy:
        return _R_NO_ALLOWED
    if suppressed:
        return _R_SUPPRESSED
    if eff == 0:
        return _R_NO_CONSENT
    for c in range(earliest.shape[0]):
        if (eff >> c) & 1 and earliest[c] <= deadline:
            return _R_QUIET
    return _R_CAP


@njit(cache=True, parallel=True)
def contact_rules_many(conf, now, bits, unsub, mask, hist_min, hist_c, complaint_min, promotional, earliest,
                       effective, suppressed, escalate):
    """:func:`contact_rules` for every row, in parallel over chunks of rows.

    ``bits``, ``unsub`` (uint32), ``complaint_min`` (int32): one per row;
    ``hist_min`` (int32), ``hist_c`` (int8): ``[n, slots]``. Fills ``earliest``
    (int64 ``[n, n_channels]``), ``effective`` (uint32), ``suppressed`` and
    ``escalate`` (bool).
    """
    n = bits.shape[0]
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        times = np.empty(hist_min.shape[1], dtype=np.int64)
        for i in range(ci * _CHUNK, min(n, (ci + 1) * _CHUNK)):
            eff, sup, esc = contact_rules(conf, now, np.int64(bits[i]), np.int64(unsub[i]), mask, hist_min[i],
                                          hist_c[i], np.int64(complaint_min[i]), promotional, earliest[i], times)
            effective[i] = eff
            suppressed[i] = sup
            escalate[i] = esc


@njit(cache=True, nogil=True)
def hold_reasons_many(status, has_policy, suppressed, effective, earliest, deadline, reason):
    """:func:`hold_reason` for every decision into ``reason`` (int64); ``suppressed``, ``effective`` and
    ``earliest`` have one row per decision or a single shared row."""
    shared = effective.shape[0] == 1
    for i in range(status.shape[0]):
        r = 0 if shared else i
        reason[i] = hold_reason(np.int64(status[i]), has_policy, suppressed[r], np.int64(effective[r]), earliest[r],
                                deadline)
