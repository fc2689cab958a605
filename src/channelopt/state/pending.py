"""Sends pending at ``as_of``, kept with the model, so that streaming ``partial_fit`` calls count them.

The watermark rule (:mod:`channelopt.state.ingest`) counts a send at the first
ingestion whose interval ``(W, T]`` holds its resolution time. A send that is
still pending at ``T`` used to be dropped, to be counted only if its row came
again later: a stream of ``partial_fit`` calls given only the rows new since the
previous call counted nothing. Every ingestion now keeps its pending sends in
the store (:class:`PendingSends`, saved with the model) and counts them itself,
exactly once, at the first later ingestion whose ``as_of`` reaches their
resolution time.

Identity of a send
------------------
Two rows are the same send when they agree on: ``customer_id``; ``sent_at`` to
the nanosecond; the arm of every dimension the row names except the hour and
weekday (``channel``, ``wording``, the extra dimensions: the hour and weekday
follow from ``sent_at`` and ``tz``); and ``event_id`` when the log has that
column (a log given with and without it names different sends). The outcome
columns -- ``responded_at``, ``unsubscribed``, ``complained`` -- are not part of
it: they are what a later row may bring. Identities are two independent 64-bit
hashes (128 bits).

Rules
-----
At an ingestion at ``T`` into a store of watermark ``W``:

* a log row whose identity matches a buffered send is **absorbed**: it is not
  counted itself; it updates the buffered send, in a way that does not depend on
  row or chunk order: the reply is the earliest ``responded_at`` given, the
  ``unsubscribed`` / ``complained`` flags are or-ed, the hour and weekday arms
  and the segment stay those of the first sighting (a segment is filled in when
  the first had none). An unsubscription a later row brings sets the customer's
  flag even though the send is older than ``W``;
* every buffered send whose resolution time (with what is known of it now) is
  at or before ``T`` is then counted, with the decay weight of a send counted at
  ``T``, and leaves the buffer;
* the rows matching nothing follow the watermark rule; those pending at ``T``
  enter the buffer.

So every send is counted once whether the log is given whole, as the new (or
changed) rows only, or as a trailing window every time, in any chunking. Rows
are matched only against the sends buffered by *earlier* ingestions: two rows of
one call with the same identity are two sends, as in ``fit``. A reply reaches a
buffered send by giving its row again with ``responded_at`` filled (the log has
one row per send, the reply a column of it).

Recently counted sends are kept too (flagged :data:`COUNTED`) while their
resolution lies within one response window before ``T``, only to recognise
rows given again: a row matching one is not counted again; if it brings an
outcome the counted send lacked (a reply in the window, an unsubscription, a
complaint) it is a **late update** (too late to change the count:
``last_fit_["late_updates"]``, a warning). A row that matches nothing and
resolved in ``(since, W]`` -- after the start of that record, before the
watermark -- is a **late row**: never counted by an incremental ingestion
(``last_fit_["late_rows"]``, a warning; refit with ``fit`` or ingest with an
``as_of`` that trails the log's completeness).

Bound
-----
At most :data:`MAX_PENDING` entries (about ``37 + 2 * n_dims`` bytes each). When
more would be kept, the recently counted sends go first (oldest resolution first;
late rows are then recognised only after them), then the pending sends sent
last; a ``RuntimeWarning`` says how many (``last_fit_["pending_dropped"]``). A
dropped pending send is counted only if its row is given again (e.g. re-feeding
the trailing log) while its resolution time lies in ``(W, T]``: the behaviour
before this buffer existed. No send is ever counted twice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from channelopt import kernels as K
from channelopt.core.arms import ArmSpace
from channelopt.data.tz import NAT
from channelopt.kernels import grouping as G
from channelopt.state.index import encode_ids
from channelopt.state.rows import _mix

__all__ = ["COMPLAINED", "COUNTED", "MAX_PENDING", "UNSUBSCRIBED", "PendingBook", "PendingSends", "check_pending",
           "identity_dims", "send_keys"]

#: Most entries (pending and recently counted sends) a model keeps; see the module docstring.
MAX_PENDING = 10_000_000

UNSUBSCRIBED, COMPLAINED, COUNTED = np.uint8(1), np.uint8(2), np.uint8(4)  # bits of ``PendingSends.flags``
_OUTCOMES = UNSUBSCRIBED | COMPLAINED
_MAX = np.iinfo(np.int64).max
_SALT = np.uint64(0x8CB92BA72F3D8DD7)
_NAMES = ("row", "sent_ns", "responded_ns", "arms", "flags", "segment", "key")


@dataclass(frozen=True)
class PendingSends:
    """The sends an ingestion left pending (and the recently counted ones), as typed arrays.

    Attributes
    ----------
    row : int32 (n,)
        The customer's row in the store.
    sent_ns, responded_ns : int64 (n,)
        Send and first-reply times, UTC ns (``NAT``: no reply known).
    arms : int16 (n, n_dims)
        Flat arm index per dimension, -1 where the row named none (as in the log encoding).
    flags : uint8 (n,)
        :data:`UNSUBSCRIBED`, :data:`COMPLAINED`, :data:`COUNTED` (already counted, kept to recognise its row).
    segment : int16 (n,)
        Index into the store's ``segments`` of the row's segment (-1: none).
    key : uint64 (n, 2)
        The identity (see the module docstring).
    since_ns : int
        The counted sends resolved after this instant (and by the watermark) are all kept.

    Examples
    --------
    >>> p = PendingSends.empty(4)
    >>> len(p), p.arms.shape, sorted(p.arrays())[:2]
    (0, (0, 4), ['pending_arms', 'pending_flags'])
    """

    row: np.ndarray
    sent_ns: np.ndarray
    responded_ns: np.ndarray
    arms: np.ndarray
    flags: np.ndarray
    segment: np.ndarray
    key: np.ndarray
    since_ns: int = int(NAT)

    @classmethod
    def empty(cls, n_dims: int, since_ns: int = int(NAT)) -> "PendingSends":
        """No entries (``since_ns``: see the class docstring)."""
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros((0, n_dims), np.int16), np.zeros(0, np.uint8), np.zeros(0, np.int16),
                   np.zeros((0, 2), np.uint64), int(since_ns))

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def n_pending(self) -> int:
        """Entries not yet counted."""
        return int(((self.flags & COUNTED) == 0).sum())

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to persist (``pending_<name>``)."""
        return {f"pending_{name}": getattr(self, name) for name in _NAMES}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], n_dims: int, since_ns: int) -> "PendingSends":
        """From :meth:`arrays` (a model saved without them: empty, and nothing known before ``since_ns``)."""
        if "pending_row" not in a:
            return cls.empty(n_dims, since_ns)
        return cls(*(a[f"pending_{name}"] for name in _NAMES), since_ns=int(since_ns))

    def expected(self, n_dims: int) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Shape and dtype of every array, for the loader's checks."""
        n = len(self)
        return {"pending_row": ((n,), np.int32), "pending_sent_ns": ((n,), np.int64),
                "pending_responded_ns": ((n,), np.int64), "pending_arms": ((n, n_dims), np.int16),
                "pending_flags": ((n,), np.uint8), "pending_segment": ((n,), np.int16),
                "pending_key": ((n, 2), np.uint64)}

    def take(self, keep: np.ndarray, row_map: np.ndarray | None = None) -> "PendingSends":
        """The entries ``keep`` (mask or positions), rows renumbered by ``row_map`` (old row -> new row)."""
        row = self.row[keep]
        if row_map is not None:
            row = row_map[row].astype(np.int32)
        return PendingSends(np.ascontiguousarray(row), *(np.ascontiguousarray(getattr(self, name)[keep])
                                                           for name in _NAMES[1:]), since_ns=self.since_ns)

    def keep_customers(self, keep: np.ndarray) -> "PendingSends":
        """Without the sends of the customers whose ``keep`` is False; rows renumbered as the store's are.

        Examples
        --------
        >>> p = PendingSends.empty(1)
        >>> len(p.keep_customers(np.ones(3, bool)))
        0
        """
        if keep.all() or not len(self):
            return self
        row_map = np.cumsum(keep) - 1
        return self.take(np.flatnonzero(keep[self.row]), row_map)


def identity_dims(space: ArmSpace) -> np.ndarray:
    """Whether each dimension is part of a send's identity (all but the hour and weekday)."""
    return np.array([d not in ("hour", "weekday") for d in space.dimensions], dtype=bool)


def send_keys(customer_id: pd.Series, sent_ns: np.ndarray, arms: np.ndarray, event_hash: np.ndarray | None,
              dims: np.ndarray) -> np.ndarray:
    """The identity of every row: uint64 ``(n, 2)`` (see the module docstring).

    Examples
    --------
    >>> k = send_keys(pd.Series(["a", "a", "b"]), np.array([1, 1, 1]), np.zeros((3, 1), np.int16), None,
    ...               np.array([True]))
    >>> bool((k[0] == k[1]).all()), bool((k[0] == k[2]).all())
    (True, False)
    """
    _, offsets, data = encode_ids(customer_id, "customer_id")
    cols = [sent_ns, *np.asarray(arms)[:, dims].T]
    if event_hash is not None:
        cols.append(event_hash)
    out = np.empty((len(sent_ns), 2), dtype=np.uint64)
    for k, (h, salt) in enumerate(((K.hash_many(offsets, data), _SALT), (G.second_hashes(offsets, data), ~_SALT))):
        for j, col in enumerate(cols):
            h = _mix(h, np.asarray(col), salt + np.uint64(j + 1))
        out[:, k] = h
    return out


def resolution_ns(sent: np.ndarray, responded: np.ndarray, window: int, by_reply: bool) -> np.ndarray:
    """Resolution time of every send (the rule of :func:`channelopt.kernels.ingest.resolve_sends`)."""
    replied = (responded != NAT) & (responded - sent <= window)
    return np.where(replied & by_reply, responded, sent + window) if by_reply else sent + window


def _in_window(sent: np.ndarray, responded: np.ndarray, window: int) -> np.ndarray:
    return (responded != NAT) & (responded - sent <= window)


class PendingBook:
    """One ingestion's working copy of the buffer: matching rows, new entries, resolution, the next buffer.

    Parameters
    ----------
    base : PendingSends
        The buffer of the store the ingestion starts from (never modified).
    watermark_ns : int
        That store's watermark.
    window_ns : int
        The response window.
    by_reply : bool
        ``resolve="reply"``.
    limit : int, optional
        Most entries kept (default :data:`MAX_PENDING`).

    Examples
    --------
    >>> book = PendingBook(PendingSends.empty(1), int(NAT), 10, False)
    >>> keys = np.array([[1, 2]], np.uint64)
    >>> absorbed, new_unsub, n_open = book.match(keys, np.array([0]), np.array([NAT]), np.zeros(1, np.uint8),
    ...                                          np.array([-1]))
    >>> absorbed.tolist(), n_open
    ([False], 0)
    """

    def __init__(self, base: PendingSends, watermark_ns: int, window_ns: int, by_reply: bool,
                 limit: int | None = None) -> None:
        self.window, self.by_reply, self.watermark = int(window_ns), bool(by_reply), int(watermark_ns)
        self.limit = MAX_PENDING if limit is None else int(limit)
        self.since = base.since_ns
        n = len(base)
        self.row = np.array(base.row, dtype=np.int32)
        self.sent = np.array(base.sent_ns, dtype=np.int64)
        self.resp = np.array(base.responded_ns, dtype=np.int64)
        self.arms = np.array(base.arms, dtype=np.int16)
        self.flags = np.array(base.flags, dtype=np.uint8)
        self.seg = np.array(base.segment, dtype=np.int16)
        self.key = np.array(base.key, dtype=np.uint64).reshape(n, 2)
        self._by_key = np.lexsort((self.key[:, 1], self.key[:, 0])) if n else np.zeros(0, np.int64)
        self._k1 = self.key[self._by_key, 0]
        self._new: list[tuple[np.ndarray, ...]] = []
        self.counts = {"matched": 0, "late_rows": 0, "late_updates": 0, "pending_counted": 0, "pending_dropped": 0}

    def match(self, keys: np.ndarray, sent: np.ndarray, resp: np.ndarray, flags: np.ndarray,
              seg: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Rows matching a buffered send update it; returns ``(absorbed, new_unsubscription)`` per row and
        how many rows matched a send not yet counted (the others are rows of counted sends, given again)."""
        n = keys.shape[0]
        absorbed = np.zeros(n, dtype=bool)
        if not self._k1.size or not n:
            return absorbed, absorbed.copy(), 0
        lo = np.searchsorted(self._k1, keys[:, 0], side="left")
        cnt = np.searchsorted(self._k1, keys[:, 0], side="right") - lo
        q = np.repeat(np.arange(n), cnt)
        if not q.size:
            return absorbed, absorbed.copy(), 0
        start = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        e = self._by_key[start + np.arange(q.size)]
        same = self.key[e, 1] == keys[q, 1]
        q, e = q[same], e[same]
        if not q.size:
            return absorbed, absorbed.copy(), 0
        absorbed[q] = True
        done = (self.flags[e] & COUNTED) != 0
        open_rows = int(np.unique(q[~done]).size)
        self.counts["matched"] += open_rows
        row_flags = flags[q] & _OUTCOMES
        new_unsub = np.zeros(n, dtype=bool)
        new_unsub[q[((row_flags & UNSUBSCRIBED) != 0) & ((self.flags[e] & UNSUBSCRIBED) == 0)]] = True
        brings = ((row_flags & ~self.flags[e]) != 0) | (
            _in_window(sent[q], resp[q], self.window) & ~_in_window(self.sent[e], self.resp[e], self.window))
        self.counts["late_updates"] += int(np.unique(q[done & brings]).size)
        # order-independent merge: earliest reply, flags or-ed, a missing segment filled by the largest given
        first = np.where(self.resp == NAT, _MAX, self.resp)
        given = resp[q] != NAT
        np.minimum.at(first, e[given], resp[q][given])
        self.resp = np.where(first == _MAX, NAT, first)
        np.bitwise_or.at(self.flags, e, row_flags)
        fill = np.full(self.seg.shape[0], -1, dtype=np.int16)
        np.maximum.at(fill, e, seg[q].astype(np.int16))
        self.seg = np.where(self.seg >= 0, self.seg, fill).astype(np.int16)
        return absorbed, new_unsub, open_rows

    def add(self, rows: np.ndarray, sent: np.ndarray, resp: np.ndarray, arms: np.ndarray, flags: np.ndarray,
            seg: np.ndarray, keys: np.ndarray, outcome: np.ndarray, absorbed: np.ndarray, as_of: int) -> None:
        """Keep this call's unmatched rows that are pending at ``as_of`` (and the counted ones recent enough
        to be recognised later); count the late rows among those before the watermark."""
        free = ~absorbed
        res = resolution_ns(sent, resp, self.window, self.by_reply)
        late = free & (outcome == K.BEFORE_WATERMARK) & (res > self.since)
        self.counts["late_rows"] += int(late.sum())
        pending = free & (outcome == K.PENDING)
        # counted rows (and late ones, never counted) are kept while recent, so that their rows given again
        # are recognised (and a late row is warned about once)
        recent = free & ((outcome >= K.COUNTED) | late) & (res > as_of - self.window)
        pick = np.flatnonzero(pending | recent)
        if pick.size:
            f = (flags[pick] & _OUTCOMES) | np.where(recent[pick], COUNTED, np.uint8(0)).astype(np.uint8)
            self._new.append((rows[pick].astype(np.int32), sent[pick], resp[pick], arms[pick], f,
                              seg[pick].astype(np.int16), keys[pick]))

    def due(self, as_of: int) -> np.ndarray:
        """Positions of the buffered sends that resolve by ``as_of`` (in buffer order); they become counted."""
        res = resolution_ns(self.sent, self.resp, self.window, self.by_reply)
        due = np.flatnonzero(((self.flags & COUNTED) == 0) & (res <= as_of))
        self.flags[due] |= COUNTED
        self.counts["pending_counted"] += int(due.size)
        return due

    def finish(self, as_of: int, segment_map: np.ndarray | None) -> PendingSends:
        """The buffer after this ingestion: old entries still useful and the new ones, in a canonical order,
        segments renumbered by ``segment_map`` (old index -> new), at most ``limit`` entries."""
        parts = [(self.row, self.sent, self.resp, self.arms, self.flags, self.seg, self.key)] + self._new
        row, sent, resp, arms, flags, seg, key = (np.concatenate([p[i] for p in parts]) for i in range(7))
        horizon = as_of - self.window
        since = max(self.since, horizon)
        res = resolution_ns(sent, resp, self.window, self.by_reply)
        counted = (flags & COUNTED) != 0
        keep = ~counted | (res > horizon)
        order = np.flatnonzero(keep)
        order = order[np.lexsort((seg[order], flags[order], resp[order], key[order, 1], key[order, 0], sent[order]))]
        if order.size > self.limit:
            c = order[counted[order]]
            p = order[~counted[order]]
            n_drop_c = min(c.size, order.size - self.limit)
            if n_drop_c:
                by_res = c[np.argsort(res[c], kind="stable")]
                since = max(since, int(res[by_res[n_drop_c - 1]]))
                c = np.sort(by_res[n_drop_c:])
            n_drop_p = max(0, p.size + c.size - self.limit)
            if n_drop_p:
                p = p[:p.size - n_drop_p]  # the canonical order is by send time: the latest sent go
                self.counts["pending_dropped"] += n_drop_p
            kept = np.concatenate([p, c])
            order = order[np.isin(order, kept)]
        if segment_map is not None and segment_map.size:
            s = seg[order].astype(np.int64)
            seg_out = np.where(s >= 0, segment_map[np.maximum(s, 0)], -1).astype(np.int16)
        else:
            seg_out = seg[order]
        return PendingSends(np.ascontiguousarray(row[order]), np.ascontiguousarray(sent[order]),
                            np.ascontiguousarray(resp[order]), np.ascontiguousarray(arms[order]),
                            np.ascontiguousarray(flags[order]), np.ascontiguousarray(seg_out),
                            np.ascontiguousarray(key[order]), int(since))


def warn_streaming(counts: dict[str, int], watermark_ns: int, limit: int) -> None:
    """The warnings of an ingestion whose rows cannot all count as the user meant (see the module docstring)."""
    w = "none" if watermark_ns == NAT else str(pd.Timestamp(watermark_ns, tz="UTC"))
    if counts.get("late_rows"):
        warnings.warn(f"logs: {counts['late_rows']} rows resolved at or before the model's watermark ({w}) and "
                      "were never seen before (late rows): they are not counted. Give each row before its "
                      "response window closes (or use an as_of that trails the log's completeness), or refit "
                      "with fit to include them", RuntimeWarning, stacklevel=6)
    if counts.get("late_updates"):
        warnings.warn(f"logs: {counts['late_updates']} rows bring a reply, unsubscription or complaint to a send "
                      "already counted (late updates): its count does not change. Give the updated row before the "
                      "send's response window closes, or refit with fit", RuntimeWarning, stacklevel=6)
    if counts.get("pending_dropped"):
        warnings.warn(f"logs: {counts['pending_dropped']} pending sends exceed the buffer of {limit:,} entries "
                      "(channelopt.state.pending.MAX_PENDING) and are not kept: each is counted only if its row "
                      "is given again while its resolution time lies between two as_of", RuntimeWarning,
                      stacklevel=6)


def check_pending(path: Any, a: dict[str, np.ndarray], *, n_customers: int, offsets: np.ndarray,
                  n_segments: int) -> None:
    """Every invariant of a saved buffer the ingestion kernels rely on (rows and arms index without checks).

    Examples
    --------
    >>> a = PendingSends.empty(1).arrays()
    >>> a["pending_row"] = np.array([3], np.int32)
    >>> check_pending("m", a, n_customers=2, offsets=np.array([0, 2]), n_segments=0)
    Traceback (most recent call last):
    ...
    ValueError: m: array 'pending_row' refers to customers outside 0..1
    """
    if "pending_row" not in a or not a["pending_row"].size:
        return
    row = a["pending_row"]
    if int(row.min()) < 0 or int(row.max()) >= n_customers:
        raise ValueError(f"{path}: array 'pending_row' refers to customers outside 0..{n_customers - 1}")
    arms = a["pending_arms"].astype(np.int64)
    lo, hi = offsets[:-1][None, :], offsets[1:][None, :]
    if not bool(((arms == -1) | ((arms >= lo) & (arms < hi))).all()):
        raise ValueError(f"{path}: array 'pending_arms' holds an arm outside its dimension")
    if int(a["pending_flags"].max()) >= 8:
        raise ValueError(f"{path}: array 'pending_flags' has unknown bits")
    seg = a["pending_segment"]
    if int(seg.min()) < -1 or int(seg.max()) >= n_segments:
        raise ValueError(f"{path}: array 'pending_segment' refers to a segment outside -1..{n_segments - 1}")
