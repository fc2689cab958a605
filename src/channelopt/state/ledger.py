"""Contact events (sends a service made, consent changes) and how they apply to a store.

The events themselves live in the contact store (:mod:`channelopt.state.contact_store`);
decisions apply a customer's pending events on the fly (:func:`adjust`) and a
fit or a save folds them into the store (:func:`apply_events`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from channelopt.kernels import remember_sends
from channelopt.state.history import HISTORY_EMPTY
from channelopt.state.ingest import _grow
from channelopt.state.store import PosteriorStore

__all__ = ["Event", "adjust", "apply_events", "customer_key"]


class Event(NamedTuple):
    seq: int
    customer_id: Any
    kind: str  # "send" or "consent" (a refit also folds in "keep" and "unsub", see model._consent_events)
    minute: int  # send: minutes since the epoch
    channel: int  # send: channel code
    grant: int  # consent: bits granted
    revoke: int  # consent: bits revoked


def customer_key(customer_id: Any) -> Any:
    """Normalise an id for the ledger's dict: numpy integers become ``int``."""
    if isinstance(customer_id, np.integer):
        return int(customer_id)
    return customer_id


def _fold(e: Event, consent: int, unsub: int) -> tuple[int, int]:
    """Consent and unsubscription bits after one non-send event."""
    if e.kind == "consent":
        return (consent | e.grant) & ~e.revoke, unsub & ~e.grant  # a new grant lifts an unsubscription
    if e.kind == "keep":  # carried over by a refit: consent bits without lifting an unsubscription
        return consent | e.grant, unsub
    return consent, unsub | e.grant  # "unsub", carried over by a refit


def adjust(events: tuple[Event, ...], consent: int, unsub: int, hist_t: np.ndarray,
           hist_c: np.ndarray) -> tuple[int, int]:
    """Apply one customer's events to copies of their consent bits and send history (in place)."""
    for e in events:
        if e.kind == "send":
            remember_sends(np.zeros(1, np.int64), np.array([e.minute], np.int32), np.array([e.channel], np.int8),
                           hist_t, hist_c)
        else:
            consent, unsub = _fold(e, consent, unsub)
    return consent, unsub


def apply_events(store: PosteriorStore, events: list[Event]) -> PosteriorStore:
    """A new store with the events folded in (customers seen only in events get empty statistics)."""
    if not events:
        return store
    ids = [e.customer_id for e in events]
    index, rows = store.index.extend(ids)
    n = len(index)
    old = store.n_customers

    def grown(arr: np.ndarray, fill: Any = 0) -> np.ndarray:
        out = _grow(np.array(arr), n)[:n].copy()
        out[old:] = fill
        return out

    consent = grown(store.consent)
    unsub = grown(store.unsubscribed)
    hist_t = grown(store.history_min, HISTORY_EMPTY)
    hist_c = grown(store.history_channel)
    for e, r in zip(events, rows):
        if e.kind == "send":
            remember_sends(np.array([r], np.int64), np.array([e.minute], np.int32),
                           np.array([e.channel], np.int8), hist_t, hist_c)
        else:
            consent[r], unsub[r] = _fold(e, int(consent[r]), int(unsub[r]))
    return replace(store, index=index, sends=grown(store.sends), responses=grown(store.responses),
                   squared_weights=grown(store.squared_weights),
                   unsubscribed=unsub, complained=grown(store.complained),
                   last_complaint_min=grown(store.last_complaint_min, HISTORY_EMPTY),
                   last_sent_min=grown(store.last_sent_min, HISTORY_EMPTY),
                   zone=grown(store.zone), consent=consent, history_min=hist_t, history_channel=hist_c,
                   segment=grown(store.segment, -1))

