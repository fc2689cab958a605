"""A model's contact state: its posterior store and the contact events after it, as one snapshot.

A decision reads :attr:`ContactState.snap` once: a :class:`Snapshot` holding the
store *and* the contact events recorded since the store was built (``folded``
is the last contact-store ``seq`` folded into the store's arrays). A fit or a
save builds a new store with more events folded in and publishes a new
snapshot in one reference swap, so a decision sees either the old store with
the old events or the new store with the remaining ones, never a store
without the events it lacks (the race a separate event list had).

Writers (:meth:`ContactState.record`) commit to the :class:`~channelopt.state.contact_store.ContactStore`
first, then append the event to the current snapshot's per-customer tuples
(under :attr:`ContactState.write_lock`), so a service sees its own changes as
soon as the call returns. Events committed by *other* processes sharing the
file are picked up by :meth:`ContactState.current` within ``poll_interval``
seconds: it checks SQLite's ``PRAGMA data_version`` (a few microseconds) at
most once per interval and never waits for a busy connection.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from channelopt.core.values import short
from channelopt.state.contact_store import ContactStore
from channelopt.state.index import CustomerIndex
from channelopt.state.ledger import Event
from channelopt.state.store import PosteriorStore

__all__ = ["Snapshot", "ContactState", "check_ids", "drop_customers"]

_I64 = (-(1 << 63), 1 << 63)


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: the store (None before a fit) and the contact events after ``folded``."""

    store: PosteriorStore | None
    folded: int = 0
    events: dict[Any, tuple[Event, ...]] = field(default_factory=dict)


def _id_kind(v: Any) -> str | None:
    if isinstance(v, str):
        return "str"
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return "int"
    return None


def check_ids(values: Sequence[Any], kind: str | None, name: str = "customer_id", where: str = "position",
              ) -> list[Any]:
    """Validate ids before anything is recorded: all strings or all integers, of the model's kind.

    Returns the ids normalised (numpy integers as ``int``). Raises one
    ``ValueError`` naming the position and the value.

    Examples
    --------
    >>> check_ids(["a", "b"], "str")
    ['a', 'b']
    >>> check_ids([12345], "str")
    Traceback (most recent call last):
    ...
    ValueError: customer_id: 12345 is an integer but this model's customer ids are strings
    """
    out = []
    for i, v in enumerate(values):
        k = _id_kind(v)
        at = f" ({where} {i})" if len(values) > 1 else ""
        if k is None:
            raise ValueError(f"{name}: {short(v)}{at} is not a customer id (expected a string or an integer)")
        if k == "str":
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{name}: {short(v)}{at} is not valid text (lone surrogate)") from None
        else:
            v = int(v)
            if not _I64[0] <= v < _I64[1]:
                raise ValueError(f"{name}: {short(v)}{at} is outside the 64-bit integer range")
        if kind is not None and k != kind:
            have = "strings" if kind == "str" else "integers"
            raise ValueError(f"{name}: {short(v)}{at} is {'a string' if k == 'str' else 'an integer'} but this "
                             f"model's customer ids are {have}")
        kind = k
        out.append(v)
    return out


def drop_customers(store: PosteriorStore, keep: np.ndarray) -> PosteriorStore:
    """The store without the customers whose ``keep`` is False (their rows and index entries removed).

    Population and segment priors and latency counts are left as they are (the
    next fit recomputes them without the customers).
    """
    if keep.all():
        return store
    ids = store.index.ids()[keep]
    index = CustomerIndex.empty()
    if len(ids):
        index, _ = index.extend(ids)
    if index.kind is None and store.index.kind is not None:
        index = replace(index, kind=store.index.kind)
    per_row = ("sends", "responses", "squared_weights", "unsubscribed", "complained", "last_complaint_min", "last_sent_min", "zone",
               "consent", "history_min", "history_channel", "segment")
    return replace(store, index=index, pending=store.pending.keep_customers(keep),
                   **{f: np.ascontiguousarray(getattr(store, f)[keep]) for f in per_row})


class ContactState:
    """The snapshot a model decides from, its contact store, and the polling of other processes' events.

    Parameters
    ----------
    channels : sequence of str
        The model's channels.
    path : path or None
        The contact store's file; None: in memory until the model is saved.
    poll_interval : float
        Seconds between checks for events committed by other processes.
    """

    def __init__(self, channels: Sequence[str], path: str | Path | None = None, poll_interval: float = 1.0) -> None:
        self.channels = tuple(channels)
        self.poll_interval = float(poll_interval)
        self.write_lock = threading.RLock()
        self.snap = Snapshot(None)
        self.db: ContactStore | None = None
        self.path = None if path is None else Path(path)
        self._seen = 0  # highest seq read from the db (every event up to it is folded or in snap.events)
        self._own: set[int] = set()  # seqs this process wrote above _seen
        self._version: int | None = None
        self._next_poll = math.inf

    # -- the store ----------------------------------------------------------------
    def store_db(self) -> ContactStore:
        """The contact store, opened on first use."""
        if self.db is None:
            with self.write_lock:
                if self.db is None:
                    self._open(ContactStore(self.path, self.channels))
        return self.db  # type: ignore[return-value]

    def _open(self, db: ContactStore) -> None:
        self.db = db
        if db.path is not None:
            self._version = db.data_version()
            self._next_poll = time.monotonic() + self.poll_interval

    def attach(self, db: ContactStore, store: PosteriorStore | None, folded: int) -> None:
        """Use ``db`` with ``store``, which has ``db``'s events up to ``folded`` folded in (load, switch)."""
        with self.write_lock:
            self._open(db)
            self.path = db.path
            events: dict[Any, tuple[Event, ...]] = {}
            for e in db.events_after(folded):
                events[e.customer_id] = events.get(e.customer_id, ()) + (e,)
            self._seen = max([folded] + [max(e.seq for e in v) for v in events.values()])
            self._own = set()
            self.snap = Snapshot(store, folded, events)

    # -- reading ------------------------------------------------------------------
    def current(self) -> Snapshot:
        """The snapshot to decide from (other processes' events polled at most every ``poll_interval`` s)."""
        if time.monotonic() >= self._next_poll:
            self.refresh(block=False)
        return self.snap

    def refresh(self, *, block: bool = True) -> None:
        """Read events other processes committed since the last read (``block=False``: skip when busy)."""
        db = self.db
        if db is None or db.path is None:
            return
        if not self.write_lock.acquire(blocking=block):
            return
        try:
            self._next_poll = time.monotonic() + self.poll_interval
            version = db.data_version() if block else db.try_data_version()
            if version is None or (version == self._version and not block):
                return
            self._version = version
            self._read_new()
        finally:
            self.write_lock.release()

    def _read_new(self) -> None:
        events = self.snap.events
        for e in self.db.events_after(self._seen):  # type: ignore[union-attr]
            if e.seq not in self._own:
                events[e.customer_id] = events.get(e.customer_id, ()) + (e,)
            self._seen = e.seq
        self._own = {s for s in self._own if s > self._seen}

    # -- writing ------------------------------------------------------------------
    def id_kind(self) -> str | None:
        st = self.snap.store
        if st is not None and st.index.kind is not None:
            return st.index.kind
        for key in self.snap.events:
            return _id_kind(key)
        return None

    def record(self, rows: Iterable[tuple[Any, str, int, int, int, int]]) -> None:
        """Commit events to the contact store, then make them visible to this process's decisions."""
        db = self.store_db()
        with self.write_lock:
            written = db.append(rows)
            events = self.snap.events
            for e in written:
                events[e.customer_id] = events.get(e.customer_id, ()) + (e,)
                if e.seq == self._seen + 1 and not self._own:
                    self._seen = e.seq
                else:
                    self._own.add(e.seq)

    def pending(self) -> tuple[Snapshot, list[Event], int]:
        """Under ``write_lock``: the snapshot, its events in commit order, and the seq they reach."""
        self.store_db()
        self.refresh(block=True)
        snap = self.snap
        events = sorted((e for v in snap.events.values() for e in v), key=lambda e: e.seq)
        reach = max([self._seen, snap.folded] + ([events[-1].seq] if events else []))
        return snap, events, reach

    def publish(self, store: PosteriorStore, folded: int) -> None:
        """Swap in ``store`` (events up to ``folded`` in it), keeping the events recorded after ``folded``."""
        with self.write_lock:
            kept = {}
            for k, v in self.snap.events.items():
                rest = tuple(e for e in v if e.seq > folded)
                if rest:
                    kept[k] = rest
            self.snap = Snapshot(store, folded, kept)

    def replace_store(self, store: PosteriorStore) -> None:
        """Swap the store only (a change that folds no event in, e.g. inbound contacts)."""
        with self.write_lock:
            self.snap = Snapshot(store, self.snap.folded, self.snap.events)
