"""Numba: one customer's whole decision in two calls, for the fast path of ``choose_channel``.

:func:`locate_one` finds the customer's state row (and learned zone) from the
bytes of the id; :func:`choose_one` then runs, for that row, the contact rules
(:func:`channelopt.kernels.rules.contact_rules`, the batch path's very kernel),
the decision (:func:`channelopt.kernels.decide.decide_core`, on scratch of its own) and the hold reason
(:func:`channelopt.kernels.rules.hold_reason`).

Both take the store as tuples of typed, C-contiguous, read-only arrays (see
:class:`channelopt.policy.fast_view.StoreView`), and the model's and the
policy's constants as one read-only int64 array, laid out by
:func:`choose_config`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from channelopt.kernels.decide import decide_core, work_size
from channelopt.kernels.hashing import hash_bytes, lookup_one
from channelopt.kernels.rules import R_POLICY, contact_rules, hold_reason

__all__ = ["C_HEADER", "choose_config", "choose_one", "locate_one"]

#: Layout of the configuration of :func:`choose_one`: hour and weekday dimensions, length of the arm
#: offsets, seed (bit pattern), propensity draws, number of float64 entries, length of the rules
#: configuration; then the arm offsets, the quiet-hour mask of every channel, the rules configuration
#: and, bit-cast, the float64 entries (the cost of every channel, the exploration, the hour smoothing
#: weights).
C_HOUR, C_WD, C_N_OFF, C_SEED, C_N_PROP, C_N_F, C_N_RULES = range(7)
C_HEADER = 7

_I32_MIN = np.iinfo(np.int32).min  # no complaint (the store's HISTORY_EMPTY)


def choose_config(hour_dim: int, wd_dim: int, offsets: np.ndarray, seed: np.uint64, n_prop: int,
                  quiet: list[int], rules: np.ndarray, cost: list[float], smooth: np.ndarray,
                  explore: float = 1.0) -> np.ndarray:
    """The read-only int64 configuration array of :func:`choose_one`.

    ``explore`` is the model's exploration (the divisor of every posterior's
    parameters before the draw, see :func:`channelopt.kernels.decide.decide_core`);
    it travels in the float64 entries, right after the costs, so that the fast
    path's kernel takes no extra argument.

    Examples
    --------
    >>> from channelopt.kernels.rules import rules_config
    >>> conf = choose_config(-1, -1, np.array([0, 2]), np.uint64(7), 0, [0, 0], rules_config(policy=False),
    ...                      [0.0, 0.5], np.ones(1), 0.25)
    >>> conf[:C_HEADER].tolist(), conf[-4:].view(np.float64).tolist()
    ([-1, -1, 2, 7, 0, 4, 4], [0.0, 0.5, 0.25, 1.0])
    """
    floats = np.concatenate([np.array(cost, dtype=np.float64), np.array([explore], dtype=np.float64),
                             np.asarray(smooth, dtype=np.float64)])
    head = [hour_dim, wd_dim, offsets.shape[0], int(np.uint64(seed).view(np.int64)), n_prop, floats.shape[0],
            rules.shape[0]]
    ints = np.array(head + np.asarray(offsets).tolist() + list(quiet) + rules.tolist(), dtype=np.int64)
    conf = np.concatenate([ints, floats.view(np.int64)])
    conf.flags.writeable = False
    return conf


@njit(cache=True, nogil=True)
def locate_one(ids, raw):
    """``(row, zone code, hash)`` of the id whose bytes are ``raw`` (row and zone -1 when unknown).

    ``ids`` is ``(sorted hashes, order, id offsets, id bytes, zone codes)`` of a store. The hash
    is returned as int64 (its bit pattern), so that it passes to :func:`choose_one` as one type.
    """
    sorted_hash, order, id_offsets, id_data, zone = ids
    h = hash_bytes(raw, 0, len(raw))
    row = lookup_one(sorted_hash, order, id_offsets, id_data, h, raw, 0, len(raw))
    return row, np.int64(zone[row]) if row >= 0 else np.int64(-1), np.int64(h)


@njit(cache=True, nogil=True)
def choose_one(store, hist_min, hist_c, h, row, seg_code, hrow, bits_in, unsub_in, mask, conf, slots, n_slots, now,
               deadline, value, urgent, promotional, propensity, choice, draws):
    """One customer's decision with its contact rules; returns ``(send_ns, score, propensity, reason, escalate)``.

    ``reason`` is -1 for a send, else an index into ``REASONS``. ``store`` is
    ``(sends, responses, prior tables [2, n_groups, n_arms], segment, consent,
    unsubscribed, last complaint)``; ``h`` the id's hash (its int64 bit pattern), ``row`` the state row
    (-1: unknown), ``seg_code`` a given segment (-1: the stored one). The send
    history is row ``hrow`` of ``hist_min`` / ``hist_c`` (the store's, or the
    customer's own copy with ledger events and planned sends). Consent bits and
    unsubscriptions are read from the store at ``row`` unless ``bits_in`` /
    ``unsub_in`` >= 0 give them. ``conf`` is laid out by :func:`choose_config`,
    ``slots`` is the zone's packed slot table (``slots[0, 0]`` is replaced by ``now``).
    """
    sends, responses, prior, segment, consent, unsub, complaint = store
    hour_dim = conf[C_HOUR]
    n_off = conf[C_N_OFF]
    n_f = conf[C_N_F]
    n_ch = conf[C_HEADER + 1]
    q0 = C_HEADER + n_off
    rules = conf[q0 + n_ch:q0 + n_ch + conf[C_N_RULES]]
    n_h = hist_min.shape[1]
    n_tab = slots.shape[1]
    n_arms = conf[C_HEADER + n_off - 1]
    # scratch, one allocation per dtype (decide_one would make four more): arrays of the types the general
    # path gives decide_core
    n_int = n_off + 2 * n_ch + 4 * n_tab + n_h
    scratch = np.empty(n_int + 4 * n_arms, dtype=np.int64)
    fscratch = np.empty(n_f + work_size(n_arms), dtype=np.float64)
    n_cols = max(n_slots, 1)
    bscratch = np.empty(n_ch * n_cols + n_ch, dtype=np.uint8)
    offsets = scratch[:n_off]
    quiet = scratch[n_off:n_off + n_ch]
    earliest = scratch[n_off + n_ch:n_off + 2 * n_ch]
    p0 = n_off + 2 * n_ch
    s_start = scratch[p0:p0 + n_tab]
    s_end = scratch[p0 + n_tab:p0 + 2 * n_tab]
    s_hour = scratch[p0 + 2 * n_tab:p0 + 3 * n_tab]
    s_wd = scratch[p0 + 3 * n_tab:p0 + 4 * n_tab]
    times = scratch[p0 + 4 * n_tab:n_int]
    iwork = scratch[n_int:]
    offsets[:] = conf[C_HEADER:q0]
    quiet[:] = conf[q0:q0 + n_ch]
    fscratch[:n_f] = conf[conf.shape[0] - n_f:].view(np.float64)
    cost = fscratch[:n_ch]
    explore = fscratch[n_ch]
    smooth = fscratch[n_ch + 1:n_f]
    work = fscratch[n_f:]
    slot_ok = bscratch[:n_ch * n_cols].reshape((n_ch, n_cols))
    chan_ok = bscratch[n_ch * n_cols:]
    s_start[:] = slots[0]
    s_end[:] = slots[1]
    s_hour[:] = slots[2]
    s_wd[:] = slots[3]
    s_start[0] = now
    g = 0
    if row >= 0:
        g = np.int64(segment[row]) + 1
    if seg_code >= 0:
        g = seg_code + 1
    bits = np.int64(consent[row]) if row >= 0 else np.int64(0)
    un = np.int64(unsub[row]) if row >= 0 else np.int64(0)
    if bits_in >= 0:
        bits = bits_in
    if unsub_in >= 0:
        un = unsub_in
    lc = np.int64(complaint[row]) if row >= 0 else np.int64(_I32_MIN)
    eff, suppressed, escalate = contact_rules(rules, now, bits, un, mask, hist_min[hrow], hist_c[hrow], lc,
                                              promotional, earliest, times)
    n_prop = conf[C_N_PROP] if propensity else 0
    send_ns, score, prop, status = decide_core(
        row, np.uint64(h), sends, responses, prior[0, g], prior[1, g], offsets, earliest, s_start, s_end, s_hour,
        s_wd, n_slots, deadline, quiet, value, cost, urgent, hour_dim, conf[C_WD], smooth, np.uint64(conf[C_SEED]),
        np.uint64(now // 1_000_000_000), n_prop, choice, draws, work, slot_ok, chan_ok, iwork, explore)
    reason = hold_reason(status, rules[R_POLICY] != 0, suppressed, eff, earliest, deadline)
    return send_ns, score, prop, reason, escalate
