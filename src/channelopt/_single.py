"""The fast path of ``ChannelModel.choose_channel``: one decision in a few microseconds.

:meth:`ChannelModel._choose` (the general path) builds a one-row batch: numpy
arrays for the contact rules (:func:`channelopt.contact.earliest_send_times`),
slot tables, hold reasons, then a :class:`~channelopt.model.Decision`. That costs
~100-300 us of Python and numpy per call, for a numba kernel of a few us.

:func:`choose_fast` gives exactly the same Decision for the same inputs with:

* the id lookup (and the customer's zone) in one small numba call (:func:`_locate`);
* everything else in one numba call (:func:`_decide`): the prior row of the
  customer's group, the contact rules of one customer on scalars (a transcription
  of :func:`~channelopt.contact.earliest_send_times` for one row), then
  :func:`channelopt._decide.decide_one` (the very kernel of the general path),
  then the hold reason (``ChannelModel._hold_reasons`` for one row);
* per-model, per-policy and per-store constants built once and cached: channel
  masks per ``(allowed_channels, exclude)``, the policy's quiet hours, costs and
  caps in one int64 array, the store as one table of array addresses
  (:class:`_StoreView`), slot tables per ``(zone, quarter hour of now, quarter
  hour of the deadline)`` (:func:`channelopt.timing.packed_slots`);
* the kernels called through their compiled entry points once the first call
  has resolved their (fixed) signature (:func:`_call`);
* a Decision built without the frozen-dataclass ``__init__`` and ``send_at``
  Timestamps shared through a small cache (Timestamps are immutable).

Measured (benchmarks/bench_choose.py, scenarios table, 100k customers x 38
arms, 2 shared cores): p50 ~10 us, p99 ~30 us without the propensity, against
~90-230 us for the general path. Of a warm call's ~7.5 us, ~3 us are the 38
Beta draws of the kernel, ~1.5 us the two kernel calls and their scratch, ~3 us
Python (argument checks, cache look-ups, the Decision).

Anything unusual (a type other than the common ones, an unknown channel or zone,
a value or deadline that does not validate, a model that is not fitted...) makes
:func:`choose_fast` return None *before consuming any argument*, and the caller
runs the general path, which raises the usual error or handles the case.

Thread safety: the caches are dicts filled (or cleared when full) atomically
under the GIL (a lost race builds an entry twice) and hold immutable values;
the kernels allocate their own scratch, never write to shared arrays and
release the GIL; the per-call ``choice`` buffer is thread-local.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields
from datetime import timedelta
from typing import Any, Iterable

import numpy as np
import pandas as pd
from numba import carray, njit, types
from numba.extending import intrinsic

from ._decide import NO_TIME, NOT_WORTH_COST, OK, decide_one
from ._kernels import hash_bytes, lookup_one, remember_sends
from ._ledger import adjust, customer_key
from ._time import NAT, NS_PER_S, as_utc_timestamp
from .config import check_zone, parse_duration
from .contact import HOLD_REASONS, ContactPolicy, channel_bits
from .state import HISTORY_EMPTY, minutes_up
from .timing import _PACKED, _QUARTER_NS, packed_slots

__all__ = ["REASONS", "choose_fast"]

#: Hold reasons by code, as in model.py: the policy's, then "no_allowed_channel", "capacity".
REASONS = HOLD_REASONS + ("no_allowed_channel", "capacity")
_R_SUPPRESSED = REASONS.index("suppressed")
_R_NO_CONSENT = REASONS.index("no_consent")
_R_CAP = REASONS.index("cap")
_R_QUIET = REASONS.index("quiet_hours_until_deadline")
_R_NOT_WORTH = REASONS.index("not_worth_cost")
_R_NO_ALLOWED = REASONS.index("no_allowed_channel")

_DEFAULT_DEADLINE_NS = 24 * 3600 * NS_PER_S
_NS_PER_MIN = 60 * NS_PER_S
_I64_MIN = np.iinfo(np.int64).min
_I32_MIN = np.iinfo(np.int32).min

# layout of the int64 configuration array of the kernel (see _ModelView._conf)
_C_POLICY, _C_MIN_GAP, _C_COOLOFF, _C_HOUR, _C_WD, _C_N_CAPS, _C_N_OFF, _C_SEED, _C_N_PROP, _C_N_F = range(10)
_C_HEADER = 10

# layout of a store's address table (see _StoreView): array addresses, then sizes
(_A_SENDS, _A_RESPONSES, _A_PRIOR_A, _A_PRIOR_B, _A_SEGMENT, _A_CONSENT, _A_UNSUB, _A_HIST_MIN, _A_HIST_CH,
 _A_COMPLAINT, _A_SORTED, _A_ORDER, _A_ID_OFFSETS, _A_ID_DATA, _A_ZONE,
 _A_N, _A_N_ARMS, _A_N_GROUPS, _A_N_HIST_ROWS, _A_N_HIST, _A_N_BYTES, _A_SIZE) = range(22)
#: dtype of every array of the address table, in its order
_A_DTYPES = (np.float32, np.float32, np.float64, np.float64, np.int16, np.uint32, np.uint32, np.int32, np.int8,
             np.int32, np.uint64, np.int32, np.int64, np.uint8, np.uint16)

_LIST_TYPES = (list, tuple, set, frozenset)
_CACHE_MAX = 256


# -- kernels -------------------------------------------------------------------------


@intrinsic
def _at(typingctx, address, kind):
    """A typed pointer to ``address`` (an int64 from ``ndarray.ctypes.data``) for :func:`numba.carray`."""
    target = kind.dtype
    sig = types.CPointer(target)(address, kind)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _store_arrays(addr):
    """The store's arrays from its address table (see :class:`_StoreView`)."""
    n = addr[_A_N]
    n_arms = addr[_A_N_ARMS]
    sends = carray(_at(addr[_A_SENDS], np.float32), (n, n_arms))
    responses = carray(_at(addr[_A_RESPONSES], np.float32), (n, n_arms))
    prior_a = carray(_at(addr[_A_PRIOR_A], np.float64), (addr[_A_N_GROUPS], n_arms))
    prior_b = carray(_at(addr[_A_PRIOR_B], np.float64), (addr[_A_N_GROUPS], n_arms))
    segment = carray(_at(addr[_A_SEGMENT], np.int16), (n,))
    consent = carray(_at(addr[_A_CONSENT], np.uint32), (n,))
    unsub = carray(_at(addr[_A_UNSUB], np.uint32), (n,))
    hist_min = carray(_at(addr[_A_HIST_MIN], np.int32), (addr[_A_N_HIST_ROWS], addr[_A_N_HIST]))
    hist_c = carray(_at(addr[_A_HIST_CH], np.int8), (addr[_A_N_HIST_ROWS], addr[_A_N_HIST]))
    complaint = carray(_at(addr[_A_COMPLAINT], np.int32), (n,))
    return sends, responses, prior_a, prior_b, segment, consent, unsub, hist_min, hist_c, complaint


@njit(cache=True, nogil=True)
def _locate(addr, raw):
    """``(row, zone code)`` of the id whose bytes are ``raw`` (``(-1, -1)`` when unknown)."""
    n = addr[_A_N]
    sorted_hash = carray(_at(addr[_A_SORTED], np.uint64), (n,))
    order = carray(_at(addr[_A_ORDER], np.int32), (n,))
    id_offsets = carray(_at(addr[_A_ID_OFFSETS], np.int64), (n + 1,))
    id_data = carray(_at(addr[_A_ID_DATA], np.uint8), (addr[_A_N_BYTES],))
    zone = carray(_at(addr[_A_ZONE], np.uint16), (n,))
    h = hash_bytes(raw, 0, len(raw))
    row = lookup_one(sorted_hash, order, id_offsets, id_data, h, raw, 0, len(raw))
    return row, np.int64(zone[row]) if row >= 0 else np.int64(-1)


@njit(cache=True, nogil=True, inline="always")
def _cap_release(t_ns, h_c, ch, k, window, times):
    """:func:`channelopt.contact._cap_release` for one row (``ch`` >= 0: that channel's sends only);
    ``times`` is scratch of the row's length."""
    slots = t_ns.shape[0]
    if slots < k:
        return _I64_MIN
    for s in range(slots):  # insertion sort (a handful of slots)
        t = t_ns[s] if ch < 0 or h_c[s] == ch else _I64_MIN
        j = s
        while j > 0 and times[j - 1] > t:
            times[j] = times[j - 1]
            j -= 1
        times[j] = t
    kth = times[slots - k]  # the k-th most recent send must be at least a window old
    return kth + window if kth > _I64_MIN else _I64_MIN


@njit(cache=True, nogil=True)
def _decide(raw, addr, row, seg_code, hrow, bits_in, unsub_in, mask, conf, slots, n_slots, now, deadline, value,
            urgent, promotional, propensity, choice, draws):
    """One customer's decision with its contact rules; returns ``(send_ns, score, propensity, reason, escalate)``.

    ``reason`` is -1 for a send, else an index into :data:`REASONS`. ``row`` is the
    customer's state row (-1: unknown), ``seg_code`` a given segment (-1: the
    stored one). ``addr`` is the store's address table (:class:`_StoreView`).
    Consent bits, unsubscriptions and send history are read from the store at
    ``row``, unless ``bits_in`` / ``unsub_in`` >= 0 give them and ``addr`` points
    the history at the customer's own copy, row ``hrow`` (ledger events, planned sends).
    ``conf`` holds the model's and the policy's constants (see
    :meth:`_ModelView._conf`; its float64 part bit-cast at its end), ``slots``
    the zone's packed slot table (``slots[0, 0]`` is replaced by ``now``).
    """
    sends, responses, prior_a, prior_b, segment, consent, unsub, hist_min, hist_c, complaint = _store_arrays(addr)
    n_off = conf[_C_N_OFF]
    n_ch = conf[_C_HEADER + 1]
    n_f = conf[_C_N_F]
    n_h = hist_min.shape[1]
    n_tab = slots.shape[1]
    # writable scratch, one allocation per dtype; decide_one gets arrays of exactly the types the general
    # path gives it, so that both share one compiled specialisation of it
    scratch = np.empty(n_off + 2 * n_ch + 4 * n_tab + 3 * n_h, dtype=np.int64)
    fscratch = np.empty(n_f, dtype=np.float64)
    offsets = scratch[:n_off]
    quiet = scratch[n_off:n_off + n_ch]
    earliest = scratch[n_off + n_ch:n_off + 2 * n_ch]
    p0 = n_off + 2 * n_ch
    s_start = scratch[p0:p0 + n_tab]
    s_end = scratch[p0 + n_tab:p0 + 2 * n_tab]
    s_hour = scratch[p0 + 2 * n_tab:p0 + 3 * n_tab]
    s_wd = scratch[p0 + 3 * n_tab:p0 + 4 * n_tab]
    p0 += 4 * n_tab
    t_ns = scratch[p0:p0 + n_h]
    h_c = scratch[p0 + n_h:p0 + 2 * n_h]
    times = scratch[p0 + 2 * n_h:p0 + 3 * n_h]
    offsets[:] = conf[_C_HEADER:_C_HEADER + n_off]
    q0 = _C_HEADER + n_off
    quiet[:] = conf[q0:q0 + n_ch]
    fscratch[:] = conf[conf.shape[0] - n_f:].view(np.float64)
    cost = fscratch[:n_ch]
    smooth = fscratch[n_ch:]
    s_start[:] = slots[0]
    s_end[:] = slots[1]
    s_hour[:] = slots[2]
    s_wd[:] = slots[3]
    s_start[0] = now
    seed = np.uint64(conf[_C_SEED])
    n_prop = conf[_C_N_PROP] if propensity else 0
    g = 0
    if row >= 0:
        g = np.int64(segment[row]) + 1
    if seg_code >= 0:
        g = seg_code + 1
    eff = mask
    suppressed = False
    escalate = False
    has_policy = conf[_C_POLICY] != 0
    if not has_policy:
        for c in range(n_ch):
            earliest[c] = now if (mask >> c) & 1 else NO_TIME
    else:
        # consent and unsubscriptions (an unsubscription wins over any grant)
        bits = np.int64(consent[row]) if row >= 0 else np.int64(0)
        un = np.int64(unsub[row]) if row >= 0 else np.int64(0)
        if bits_in >= 0:
            bits = bits_in
        if unsub_in >= 0:
            un = unsub_in
        eff = bits & ~un & mask
        # the latest sends in ns (empty slots: int64 min)
        last = _I64_MIN
        for s in range(n_h):
            h_c[s] = 0
            if hrow >= 0 and hist_min[hrow, s] != _I32_MIN:
                t_ns[s] = np.int64(hist_min[hrow, s]) * _NS_PER_MIN
                h_c[s] = hist_c[hrow, s]
            else:
                t_ns[s] = _I64_MIN
            if t_ns[s] > last:
                last = t_ns[s]
        base = now
        min_gap = conf[_C_MIN_GAP]
        if min_gap >= 0 and last > _I64_MIN:
            base = max(now, last + min_gap)
        for c in range(n_ch):
            earliest[c] = base
        p = q0 + n_ch
        for k in range(conf[_C_N_CAPS]):
            ch = conf[p]
            kmax = conf[p + 1]
            window = conf[p + 2]
            p += 3
            if ch == -1:
                rel = _cap_release(t_ns, h_c, -1, kmax, window, times)
                for c in range(n_ch):
                    earliest[c] = max(earliest[c], rel)
            elif ch >= 0:
                earliest[ch] = max(earliest[ch], _cap_release(t_ns, h_c, ch, kmax, window, times))
        for c in range(n_ch):
            if not (eff >> c) & 1:
                earliest[c] = NO_TIME
        lc = np.int64(NAT)
        if row >= 0 and complaint[row] != HISTORY_EMPTY:  # minutes, rounded up as the history
            lc = np.int64(complaint[row]) * _NS_PER_MIN
        recent = lc != NAT and now - lc < conf[_C_COOLOFF]
        suppressed = recent and promotional
        if suppressed:
            for c in range(n_ch):
                earliest[c] = NO_TIME
        contacted_since = False
        for s in range(n_h):
            if t_ns[s] > lc:
                contacted_since = True
        escalate = recent and not contacted_since
    round_ = np.uint64(now // 1_000_000_000)
    h = hash_bytes(raw, 0, len(raw))
    send_ns, score, prop, status = decide_one(
        row, h, sends, responses, prior_a[g], prior_b[g], offsets, earliest, s_start, s_end, s_hour, s_wd, n_slots,
        deadline, quiet, value, cost, urgent, conf[_C_HOUR], conf[_C_WD], smooth, seed, round_, n_prop, choice, draws)
    if status == OK:
        reason = -1
    elif status == NOT_WORTH_COST:
        reason = _R_NOT_WORTH
    elif not has_policy:
        reason = _R_NO_ALLOWED
    elif suppressed:
        reason = _R_SUPPRESSED
    elif eff == 0:
        reason = _R_NO_CONSENT
    else:
        reason = _R_CAP
        for c in range(n_ch):
            if (eff >> c) & 1 and earliest[c] <= deadline:
                reason = _R_QUIET
    return send_ns, score, prop, reason, escalate


# -- cached constants ----------------------------------------------------------------


class _StoreView:
    """A store as the kernels take it: one int64 *address table* (built once per store object).

    numba unboxes every array argument of a call (~0.05-0.1 us each); passing
    the store's 15 arrays as the addresses of their data (plus their sizes) in
    one read-only int64 array, rebuilt in the kernels with :func:`numba.carray`
    (no copy), saves most of that and gives each kernel one signature whatever
    the store (fitted, or memory-mapped read-only: the kernels never write to
    the store). Every array must be C-contiguous with the dtype of
    :data:`_A_DTYPES` and the expected shape; else ``ok`` is False and the
    general path runs. The view holds a reference to every array, so the
    addresses stay valid while it lives; it is kept in the store's ``__dict__``
    (as the store's ``prior_tables`` is) and holds no reference to the store.
    """

    def __init__(self, st: Any) -> None:
        idx = st.index
        self.kind = idx.kind
        tables = getattr(st, "prior_tables", None)
        if tables is None:  # a store without segment priors: one group, the population
            tables = tuple(np.ascontiguousarray(np.asarray(p, dtype=np.float64)[None, :])
                           for p in (st.prior_alpha, st.prior_beta))
        prior_a, prior_b = tables
        segment = getattr(st, "segment", None)
        if segment is None:
            segment = np.full(st.sends.shape[0], -1, np.int16)
        self.segment_code = {name: i for i, name in enumerate(getattr(st, "segments", ()))}
        self.zones = tuple(st.zones)
        self.consent, self.unsub = st.consent, st.unsubscribed
        self.hist_min, self.hist_c = st.history_min, st.history_channel
        self.arrays = (st.sends, st.responses, prior_a, prior_b, segment, st.consent, st.unsubscribed,
                       st.history_min, st.history_channel, st.last_complaint_min, idx.sorted_hashes, idx.order,
                       idx.offsets, idx.data, st.zone)
        n = len(idx)
        n_arms = st.sends.shape[1] if st.sends.ndim == 2 else -1
        n_hist = st.history_min.shape[-1]
        shapes = [(n, n_arms), (n, n_arms), (prior_a.shape[0], n_arms), (prior_b.shape[0], n_arms), (n,), (n,),
                  (n,), (n, n_hist), (n, n_hist), (n,), (n,), (n,), (n + 1,), (idx.data.shape[0],), (n,)]
        self.ok = all(isinstance(arr, np.ndarray) and arr.dtype == dt and arr.flags.c_contiguous
                      and arr.shape == shape for arr, dt, shape in zip(self.arrays, _A_DTYPES, shapes))
        addr = np.zeros(_A_SIZE, dtype=np.int64)
        if self.ok:
            addr[:len(self.arrays)] = [arr.ctypes.data for arr in self.arrays]
            addr[[_A_N, _A_N_ARMS, _A_N_GROUPS, _A_N_HIST_ROWS, _A_N_HIST, _A_N_BYTES]] = (
                n, n_arms, prior_a.shape[0], n, n_hist, idx.data.shape[0])
        addr.flags.writeable = False
        self.addr = addr

    def with_history(self, hist_min: np.ndarray, hist_c: np.ndarray) -> np.ndarray:
        """The address table with the send history pointing at one customer's own copy (row 0)."""
        addr = self.addr.copy()
        addr[_A_HIST_MIN] = hist_min.ctypes.data
        addr[_A_HIST_CH] = hist_c.ctypes.data
        addr[_A_N_HIST_ROWS] = 1
        addr.flags.writeable = False
        return addr


#: the kernels' compiled entry points, once known (see _call)
_ENTRY: dict[Any, Any] = {}


def _call(kernel: Any, args: tuple) -> Any:
    """``kernel(*args)`` through the dispatcher the first time, then straight to its compiled code.

    Every argument of the kernels has a fixed type (bytes, Python ints, floats
    and bools, and int64/float64 arrays of fixed layout and writeability), so
    each has one signature: the dispatcher's type resolution (~1 us for 19
    arguments) is done once, and later calls go to the compiled function's entry
    point (the same machine code; numba's ``Dispatcher.overloads``).
    """
    result = kernel(*args)
    fn = kernel
    try:
        from numba import typeof

        cres = kernel.overloads.get(tuple(typeof(a) for a in args))
        if cres is not None and callable(getattr(cres, "entry_point", None)):
            fn = cres.entry_point
    except Exception:  # noqa: BLE001 -- numba internals changed: keep the dispatcher
        fn = kernel
    _ENTRY[kernel] = fn
    return result


def _store_view(st: Any) -> _StoreView:
    view = st.__dict__.get("_single_view")
    if view is None:
        view = _StoreView(st)
        st.__dict__["_single_view"] = view  # a frozen dataclass: bypass its __setattr__, as cached_property does
    return view


class _ModelView:
    """A model's constants and caches (built once per model and config, kept in the model's ``__dict__``)."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        space = model.space
        self.config = cfg
        self.space = space
        self.channels = tuple(space.channels)
        self.n_ch = len(self.channels)
        self.all_bits = (1 << self.n_ch) - 1
        self.offsets = np.ascontiguousarray(space.offsets, dtype=np.int64)
        self.n_arms = int(self.offsets[-1])
        self.n_dims = self.offsets.shape[0] - 1
        dims = list(space.dimensions)
        self.hour_dim = dims.index("hour") if "hour" in dims else -1
        self.wd_dim = dims.index("weekday") if "weekday" in dims else -1
        self.wording_dim = dims.index("wording") if "wording" in dims else -1
        self.extra_dims = [(k, dims.index(k)) for k in space.extra]
        self.labels = [list(space.labels(d)) for d in dims]
        self.smooth = np.ascontiguousarray(model._smooth, dtype=np.float64)
        self.seed = np.uint64(cfg.seed)
        self.n_prop = int(cfg.propensity_draws)
        self.out = (self.n_dims, self.n_arms, space, self.labels, self.wording_dim, self.hour_dim, self.extra_dims)
        self.default_tz = cfg.default_tz
        self.pos = {c: i for i, c in enumerate(self.channels)}
        self.masks: dict[Any, int] = {}
        self.policies: dict[int, tuple[Any, np.ndarray, int, int, float]] = {}
        self.consents: dict[Any, int] = {}
        self.no_policy = self._conf(None)[1:]

    def mask(self, allowed: Any, exclude: Any) -> int | None:
        """Bits of the channels a call allows (``ChannelModel._mask``); None for an unusual argument."""
        if allowed is None and not exclude:
            return self.all_bits
        key = []
        for value in (allowed, exclude):
            if value is None or isinstance(value, str):
                key.append(value)
            elif isinstance(value, _LIST_TYPES):
                key.append(tuple(value))
            else:
                return None
        k = tuple(key)
        try:
            hit = self.masks.get(k)
        except TypeError:  # unhashable names: the general path says what is wrong
            return None
        if hit is not None:
            return hit
        bits = 0 if allowed is not None else self.all_bits
        for value, on in ((allowed, True), (exclude, False)):
            if value is None:
                continue
            for c in ([value] if isinstance(value, str) else value):
                pos = self.pos.get(c) if isinstance(c, str) else None
                if pos is None:
                    return None
                bits = bits | (1 << pos) if on else bits & ~(1 << pos)
        if len(self.masks) >= _CACHE_MAX:
            self.masks.clear()
        self.masks[k] = bits
        return bits

    def consent_bits(self, consent: Any) -> int | None:
        if not isinstance(consent, (str,) + _LIST_TYPES):
            return None
        key = consent if isinstance(consent, str) else tuple(consent)
        try:
            hit = self.consents.get(key)
        except TypeError:
            return None
        if hit is None:
            try:
                hit = channel_bits(self.channels, list(key) if isinstance(key, tuple) else key)
            except (ValueError, TypeError):
                return None
            if len(self.consents) >= _CACHE_MAX:
                self.consents.clear()
            self.consents[key] = hit
        return hit

    def policy(self, policy: ContactPolicy) -> tuple[Any, np.ndarray, int, int, float] | None:
        hit = self.policies.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit
        if not isinstance(policy, ContactPolicy):
            return None
        try:
            policy.check_channels(self.channels)
        except ValueError:
            return None
        hit = self._conf(policy)
        if len(self.policies) >= 16:
            self.policies.clear()
        self.policies[id(policy)] = hit  # holds the policy: its id stays unique
        return hit

    def _conf(self, policy: ContactPolicy | None) -> tuple[Any, np.ndarray, int, int, float]:
        """``(policy, conf, span, span_q, value)``: the kernel's configuration array, the default
        delivery window (ns, and in quarter hours when it is a whole number of them, else -1) and
        the value of a response.

        ``conf`` (int64, read-only): the header (``_C_*``: policy or not, minimum gap (-1: none),
        complaint cool-off, hour and weekday dimensions, number of caps, length of the offsets,
        seed (bit pattern), propensity draws, number of float64 entries), the arm offsets, the
        quiet-hour mask of every channel, ``(channel (-1: all, -2: not in the space), max
        messages, window)`` per cap, then float64 entries bit-cast: the cost of every channel
        and the hour smoothing weights.
        """
        caps: list[int] = []
        if policy is None:
            head = [0, -1, 0]
            quiet = [0] * self.n_ch
            cost = [0.0] * self.n_ch
            span = _DEFAULT_DEADLINE_NS
            value = float("nan")
        else:
            head = [1, -1 if policy.min_gap is None else int(policy.min_gap.value), int(policy.complaint_cooloff.value)]
            quiet = [policy.quiet_mask(c) for c in self.channels]
            cost = [float(policy.cost.get(c, 0.0)) for c in self.channels]
            for cap in policy.caps:
                ch = -1 if cap.channel is None else self.pos.get(cap.channel, -2)
                caps += [ch, int(cap.max_messages), int(cap.window.value)]
            span = int(policy.deadline.value)
            value = float("nan") if policy.value is None else float(policy.value)
        floats = np.concatenate([np.array(cost, dtype=np.float64), self.smooth])
        seed = int(self.seed.view(np.int64))
        ints = np.array(head + [self.hour_dim, self.wd_dim, len(caps) // 3, self.offsets.shape[0], seed,
                                self.n_prop, floats.shape[0]] + self.offsets.tolist() + quiet + caps, dtype=np.int64)
        conf = np.concatenate([ints, floats.view(np.int64)])
        conf.flags.writeable = False
        span_q = span // _QUARTER_NS if span % _QUARTER_NS == 0 else -1
        return policy, conf, span, span_q, value


_TLS = threading.local()
_NOW: list[tuple[Any, int, int]] = [(None, 0, 0)]  # (the last Timestamp ``now``, its ns, its quarter hour)
_TIMESTAMPS: dict[int, pd.Timestamp] = {}
_ZONES_OK: set[str] = set()
_DURATIONS: dict[Any, int] = {}
_DECISION_FIELDS = ("customer_id", "channel", "wording", "hour", "send_at", "propensity", "score", "hold_reason",
                    "extra", "draws", "space", "escalate_to_human")
_VALUE_TYPES = (float, int, np.float64, np.float32, np.int64)
_INF = float("inf")


def _view(model: Any) -> _ModelView:
    view = model.__dict__.get("_single_view")
    if view is None or view.config is not model.config:
        view = _ModelView(model)
        model.__dict__["_single_view"] = view
    return view


def _timestamp(ns: int) -> pd.Timestamp:
    """``pd.Timestamp(ns, tz="UTC")``, shared through a bounded cache (Timestamps are immutable)."""
    ts = _TIMESTAMPS.get(ns)
    if ts is None:
        ts = pd.Timestamp(ns, tz="UTC")
        if len(_TIMESTAMPS) >= 4096:
            _TIMESTAMPS.clear()
        _TIMESTAMPS[ns] = ts
    return ts


def _now_ns(now: Any) -> int | None:
    """``model._now(now).value``; None when ``now`` does not parse."""
    if now is None:  # as datetime.now(timezone.utc): microseconds
        return time.time_ns() // 1000 * 1000
    try:
        return as_utc_timestamp(now, "now").as_unit("ns").value
    except (ValueError, TypeError, OverflowError):
        return None


def _deadline_ns(model: Any, now_ns: int, deadline: Any, policy: Any) -> int | None:
    """``model._deadline_ns`` for a given deadline (durations parsed once); None when it raises."""
    if isinstance(deadline, (str, timedelta)):
        off = _DURATIONS.get(deadline)
        if off is None:
            try:
                off = int(parse_duration(deadline, "deadline").value)
            except ValueError:
                off = None  # maybe a timestamp
            else:
                if len(_DURATIONS) >= _CACHE_MAX:
                    _DURATIONS.clear()
                _DURATIONS[deadline] = off
        if off is not None:
            return now_ns + off
    try:
        return model._deadline_ns(now_ns, deadline, policy)
    except (ValueError, TypeError, OverflowError):
        return None


_DECISION: list[Any] = [None]  # the Decision class once it is known to be buildable by filling its __dict__
_new = object.__new__
_setattr = object.__setattr__
_empty = np.empty


def _decision(fields_: dict[str, Any]) -> Any:
    """A :class:`~channelopt.model.Decision` of these fields.

    Built without the frozen dataclass ``__init__`` (a dozen
    ``object.__setattr__``, ~2 us) by filling its ``__dict__``, when the class is
    a plain dataclass with exactly these fields (then ``_DECISION[0]`` is set
    and :func:`choose_fast` does it inline); else through ``__init__``.
    """
    from .model import Decision

    if (not hasattr(Decision, "__slots__") and not hasattr(Decision, "__post_init__")
            and tuple(f.name for f in fields(Decision)) == _DECISION_FIELDS):
        _DECISION[0] = Decision
        d = _new(Decision)
        _setattr(d, "__dict__", fields_)
        return d
    return Decision(**fields_)


def _encode(customer_id: Any) -> tuple[str, bytes] | None:
    """``(kind, bytes)`` of an id as :func:`channelopt._index.encode_one` encodes it; None if it cannot."""
    if isinstance(customer_id, str):
        try:
            return "str", customer_id.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if isinstance(customer_id, (int, np.integer)) and not isinstance(customer_id, (bool, np.bool_)):
        try:
            return "int", int(customer_id).to_bytes(8, "little", signed=True)
        except OverflowError:
            return None
    return None


def _own_history(view: _ModelView, sv: _StoreView, row: int, events: Any,
                 planned: Any) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """The customer's consent, unsubscriptions and send history with ledger events and planned sends
    applied, as ``ChannelModel._rules`` builds them: ``(hist_min, hist_channel, consent, unsub)``."""
    hist_min, hist_c = sv.hist_min, sv.hist_c
    if row >= 0:
        ht, hc = np.array(hist_min[row:row + 1]), np.array(hist_c[row:row + 1])
        b, u = int(sv.consent[row]), int(sv.unsub[row])
    else:
        ht = np.full((1, hist_min.shape[1]), HISTORY_EMPTY, dtype=hist_min.dtype)
        hc = np.zeros((1, hist_c.shape[1]), dtype=hist_c.dtype)
        b = u = 0
    if events:
        b, u = adjust(events, b, u, ht, hc)
    for ns, ch in planned:
        pos = view.pos.get(ch)
        if pos is None:
            return None
        remember_sends(np.zeros(1, np.int64), minutes_up(np.array([ns])), np.array([pos], np.int8), ht, hc)
    return ht, hc, b, u


def choose_fast(model: Any, customer_id: Any, now: Any, allowed_channels: Iterable[str] | None = None,
                exclude: Iterable[str] | None = None, tz: str | None = None, policy: ContactPolicy | None = None,
                consent: Iterable[str] | None = None, deadline: Any = None, urgent: bool = False,
                promotional: bool = True, value: float | None = None, propensity: bool = True,
                planned: Iterable[tuple[int, str]] = (), segment: Any = None) -> Any:
    """``model._choose(...)`` for the common cases, or None (then run the general path).

    Same arguments as :meth:`ChannelModel._choose`; returns the same
    :class:`~channelopt.model.Decision`. Returns None, having consumed no
    argument, whenever an argument is of an unusual type or does not validate,
    so that the general path raises its usual error.
    """
    snap = model._contacts.current()  # one snapshot: the store and the contact events after it
    st = snap.store
    if st is None:
        return None
    view = model.__dict__.get("_single_view")
    if view is None or view.config is not model.config:
        view = _view(model)
    # now (the last Timestamp seen is remembered: Timestamps are immutable)
    memo = _NOW[0]  # one tuple, replaced as a whole
    if now is memo[0] and now is not None:
        now_ns, now_q = memo[1], memo[2]
    else:
        if type(now) is pd.Timestamp and now.tzinfo is not None:
            try:
                now_ns = now.value
            except OverflowError:  # outside the ns range: the slow path says so
                return None
        else:
            now_ns = _now_ns(now)
            if now_ns is None:
                return None
        now_q = now_ns // _QUARTER_NS
        if type(now) is pd.Timestamp:
            _NOW[0] = (now, now_ns, now_q)
    if allowed_channels is None and not exclude:
        mask = view.all_bits
    else:
        mask = None
        if allowed_channels is None and (type(exclude) is list or type(exclude) is tuple):
            try:
                mask = view.masks.get((None, tuple(exclude)))
            except TypeError:
                return None
        if mask is None:
            mask = view.mask(allowed_channels, exclude)
            if mask is None:
                return None
    if tz is not None:
        if type(tz) is not str:
            return None
        if tz not in _ZONES_OK:
            try:
                check_zone(tz, "tz")
            except ValueError:
                return None
            _ZONES_OK.add(tz)
    pol = model.policy if policy is None else policy
    if pol is None:
        conf, span, span_q, v = view.no_policy
    else:
        hit = view.policies.get(id(pol))
        if hit is None or hit[0] is not pol:
            hit = view.policy(pol)
            if hit is None:
                return None
        _, conf, span, span_q, v = hit
    if type(customer_id) is str:
        kind = "str"
        try:
            raw = customer_id.encode()
        except UnicodeEncodeError:
            return None
    else:
        enc = _encode(customer_id)
        if enc is None:
            return None
        kind, raw = enc
    sv = st.__dict__.get("_single_view")
    if sv is None:
        sv = _store_view(st)
    if (kind != sv.kind and sv.kind is not None) or not sv.ok:
        return None
    if value is not None:
        if type(value) not in _VALUE_TYPES:
            return None
        v = float(value)
        if not 0 < v < _INF:
            return None
    if deadline is None:
        deadline_ns = now_ns + span
        deadline_q = now_q + span_q if span_q >= 0 else deadline_ns // _QUARTER_NS
    else:
        deadline_ns = _deadline_ns(model, now_ns, deadline, pol)
        if deadline_ns is None or deadline_ns < now_ns:
            return None
        deadline_q = deadline_ns // _QUARTER_NS
    if segment is None:
        seg_code = -1
    elif type(segment) is str:
        seg_code = sv.segment_code.get(segment, -1)
    else:
        try:
            seg_code = int(st.segment_codes([segment])[0])
        except Exception:  # noqa: BLE001 -- the general path reports it
            return None
    addr = sv.addr
    locate = _ENTRY.get(_locate)
    row, zcode = locate(addr, raw) if locate is not None else _call(_locate, (addr, raw))
    hrow = row
    bits_in = unsub_in = -1
    own = None
    if pol is not None:
        if consent is not None:
            bits_in = view.consent_bits(consent)
            if bits_in is None:
                return None
        recorded = snap.events
        events = recorded.get(customer_key(customer_id), ()) if recorded else ()
        if events or planned:
            if not isinstance(planned, (list, tuple)):
                return None
            own = _own_history(view, sv, row, events, planned)
            if own is None:
                return None
            addr = sv.with_history(own[0], own[1])  # ``own`` keeps the arrays alive during the call
            hrow = 0
            unsub_in = own[3]
            if consent is None:
                bits_in = own[2]
    # the zone's slots between now and the deadline
    if tz is None:
        zone = sv.zones[zcode] if row >= 0 else view.default_tz
    else:
        zone = tz
    packed = _PACKED.get((zone, now_q, deadline_q))
    table, n_slots = packed if packed is not None else packed_slots(zone, now_ns, deadline_ns)
    n_dims, n_arms, space, labels, wd, hd, extra_dims = view.out
    try:
        choice = _TLS.choice
        if choice.shape[0] != n_dims:
            raise AttributeError
    except AttributeError:
        choice = _TLS.choice = np.empty(n_dims, dtype=np.int64)
    draws = _empty(n_arms)
    decide = _ENTRY.get(_decide)
    if decide is not None:
        send_ns, score, prop, reason, escalate = decide(
            raw, addr, row, seg_code, hrow, bits_in, unsub_in, mask, conf, table, n_slots, now_ns, deadline_ns, v,
            True if urgent else False, True if promotional else False, True if propensity else False, choice, draws)
    else:
        send_ns, score, prop, reason, escalate = _call(_decide, (
            raw, addr, row, seg_code, hrow, bits_in, unsub_in, mask, conf, table, n_slots, now_ns, deadline_ns, v,
            True if urgent else False, True if promotional else False, True if propensity else False, choice, draws))
    # the Decision
    if reason >= 0:
        fields_ = {"customer_id": customer_id, "channel": None, "wording": None, "hour": None, "send_at": None,
                   "propensity": prop, "score": score, "hold_reason": REASONS[reason], "extra": {},
                   "draws": draws, "space": space, "escalate_to_human": escalate}
    else:
        ch = choice.tolist()
        ts = _TIMESTAMPS.get(send_ns)
        if ts is None:
            ts = _timestamp(send_ns)
        fields_ = {"customer_id": customer_id, "channel": labels[0][ch[0]],
                   "wording": labels[wd][ch[wd]] if wd >= 0 else None, "hour": ch[hd] if hd >= 0 else None,
                   "send_at": ts, "propensity": prop, "score": score, "hold_reason": None,
                   "extra": {k: labels[dd][ch[dd]] for k, dd in extra_dims} if extra_dims else {},
                   "draws": draws, "space": space, "escalate_to_human": escalate}
    cls = _DECISION[0]
    if cls is not None:
        d = _new(cls)
        _setattr(d, "__dict__", fields_)
        return d
    return _decision(fields_)
