"""The fast path of ``ChannelModel.choose_channel``: one decision in a few microseconds.

:meth:`ChannelModel._choose` (the general path) builds a one-row batch: numpy
arrays for the contact rules, slot tables, hold reasons, then a
:class:`~channelopt.core.decision.Decision`. That costs tens of microseconds of
Python and numpy per call, for a numba kernel of a few.

:func:`choose_fast` gives exactly the same Decision for the same inputs; it only
marshals arguments and caches constants, and runs the rules through the very
kernels of the batch path:

* the id lookup (and the customer's zone) in one small numba call
  (:func:`channelopt.kernels.single.locate_one`);
* everything else in one numba call (:func:`channelopt.kernels.single.choose_one`):
  the prior row of the customer's group, the contact rules
  (:func:`channelopt.kernels.rules.contact_rules`, which ``rank`` runs over its
  batch), :func:`channelopt.kernels.decide.decide_one`, then the hold reason
  (:func:`channelopt.kernels.rules.hold_reason`);
* per-model, per-policy and per-store constants built once and cached
  (:mod:`channelopt.policy.fast_view`): channel masks per ``(allowed_channels,
  exclude)``, the model's and the policy's constants in one int64 array, the
  store as tuples of read-only arrays, slot tables per ``(zone, quarter hour of
  now, quarter hour of the deadline)`` (:func:`channelopt.policy.slots.packed_slots`);
* the kernels called through their compiled entry points once the first call
  on a store has resolved their (fixed) signature (:func:`channelopt.policy.fast_view.call`);
* a Decision built without the frozen-dataclass ``__init__`` and ``send_at``
  Timestamps shared through a small cache (Timestamps are immutable).

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

from channelopt.core.config import check_zone, parse_duration
from channelopt.core.decision import REASONS, Decision
from channelopt.data.tz import as_utc_timestamp
from channelopt.kernels import remember_sends
from channelopt.kernels.single import choose_one, locate_one
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.fast_view import ModelView, StoreView, call, model_view, store_view
from channelopt.policy.slots import _PACKED, _QUARTER_NS, packed_slots
from channelopt.state.history import HISTORY_EMPTY, minutes_up
from channelopt.state.ledger import adjust, customer_key

__all__ = ["REASONS", "choose_fast"]

_CACHE_MAX = 256
# the kernels under their former names (benchmarks report their compile / cache status)
_decide = choose_one
_locate = locate_one


_TLS = threading.local()
_NOW: list[tuple[Any, int, int]] = [(None, 0, 0)]  # (the last Timestamp ``now``, its ns, its quarter hour)
_TIMESTAMPS: dict[int, pd.Timestamp] = {}
_ZONES_OK: set[str] = set()
_DURATIONS: dict[Any, int] = {}
_DECISION_FIELDS = ("customer_id", "channel", "wording", "hour", "send_at", "propensity", "score", "hold_reason",
                    "extra", "draws", "space", "escalate_to_human")
_VALUE_TYPES = (float, int, np.float64, np.float32, np.int64)
_INF = float("inf")


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
    """A :class:`~channelopt.policy.model.Decision` of these fields.

    Built without the frozen dataclass ``__init__`` (a dozen
    ``object.__setattr__``, ~2 us) by filling its ``__dict__``, when the class is
    a plain dataclass with exactly these fields (then ``_DECISION[0]`` is set
    and :func:`choose_fast` does it inline); else through ``__init__``.
    """
    if (not hasattr(Decision, "__slots__") and not hasattr(Decision, "__post_init__")
            and tuple(f.name for f in fields(Decision)) == _DECISION_FIELDS):
        _DECISION[0] = Decision
        d = _new(Decision)
        _setattr(d, "__dict__", fields_)
        return d
    return Decision(**fields_)


def _encode(customer_id: Any) -> tuple[str, bytes] | None:
    """``(kind, bytes)`` of an id as :func:`channelopt.state.index.encode_one` encodes it; None if it cannot."""
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


def _own_history(view: ModelView, sv: StoreView, row: int, events: Any,
                 planned: Any) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """The customer's consent, unsubscriptions and send history with ledger events and planned sends
    applied, as ``ChannelModel._rules`` builds them: ``(hist_min, hist_channel, consent, unsub)``; the
    history is one read-only row, of the store's array types."""
    hist_min, hist_c = sv.hist
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
    ht.flags.writeable = False
    hc.flags.writeable = False
    return ht, hc, b, u


def choose_fast(model: Any, customer_id: Any, now: Any, allowed_channels: Iterable[str] | None = None,
                exclude: Iterable[str] | None = None, tz: str | None = None, policy: ContactPolicy | None = None,
                consent: Iterable[str] | None = None, deadline: Any = None, urgent: bool = False,
                promotional: bool = True, value: float | None = None, propensity: bool = True,
                planned: Iterable[tuple[int, str]] = (), segment: Any = None) -> Any:
    """``model._choose(...)`` for the common cases, or None (then run the general path).

    Same arguments as :meth:`ChannelModel._choose`; returns the same
    :class:`~channelopt.policy.model.Decision`. Returns None, having consumed no
    argument, whenever an argument is of an unusual type or does not validate,
    so that the general path raises its usual error.
    """
    snap = model._contacts.current()  # one snapshot: the store and the contact events after it
    st = snap.store
    if st is None:  # not fitted: every customer is unknown, decided from the declared prior (else uniform)
        st = model._cold
    view = model.__dict__.get("_single_view")
    if view is None or view.config is not model.config:
        view = model_view(model)
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
        sv = store_view(st)
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
    locate = sv.locate_fn
    if locate is not None:
        row, zcode, h = locate(sv.ids, raw)
    else:
        (row, zcode, h), sv.locate_fn = call(locate_one, (sv.ids, raw))
    if row >= 0:
        hist_min, hist_c = sv.hist
        hrow = row
    else:
        hist_min, hist_c = sv.empty
        hrow = 0
    bits_in = unsub_in = -1
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
            hist_min, hist_c = own[0], own[1]
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
    decide = sv.choose_fn
    if decide is not None:
        send_ns, score, prop, reason, escalate = decide(
            sv.arrays, hist_min, hist_c, h, row, seg_code, hrow, bits_in, unsub_in, mask, conf, table, n_slots,
            now_ns, deadline_ns, v, True if urgent else False, True if promotional else False,
            True if propensity else False, choice, draws)
    else:
        (send_ns, score, prop, reason, escalate), sv.choose_fn = call(choose_one, (
            sv.arrays, hist_min, hist_c, h, row, seg_code, hrow, bits_in, unsub_in, mask, conf, table, n_slots,
            now_ns, deadline_ns, v, True if urgent else False, True if promotional else False,
            True if propensity else False, choice, draws))
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
