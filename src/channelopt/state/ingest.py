"""Ingestion: streaming encoded log chunks into a new :class:`~channelopt.state.store.PosteriorStore`.

Ingestion rule (exactly-once by watermark)
------------------------------------------
Every send has a *resolution time*: ``sent_at + response_window`` (the default,
``resolve="window"``), or, with ``resolve="reply"``, its ``responded_at`` if a
reply came within the window, else ``sent_at + response_window``. (Counting
replies at once but silences only later overrates every arm in proportion to
its recent traffic, hence the default.) An ingestion at
``as_of = T`` into a store whose watermark is ``W`` counts exactly the sends
whose resolution time lies in ``(W, T]``, then sets the watermark to ``T``:

* a send resolving after ``T`` is *pending* and counts as nothing (yet);
* re-running the same ``T`` counts nothing (the interval is empty): a no-op;
* a send that resolves between two ``as_of`` values is counted once, by the
  first ingestion whose interval contains its resolution time;
* **late rows**: a row that reaches the log only after an ingestion whose
  ``as_of`` is already past its resolution time is not counted by later
  incremental ingestions (it is indistinguishable from a re-sent row). Ingest
  with an ``as_of`` that trails the log's completeness (e.g. yesterday's
  midnight), or refit from scratch with ``fit`` to include such rows.

**Pending sends are kept** (:mod:`channelopt.state.pending`): a send pending at
``T`` is stored with the model and counted by the first later ingestion whose
``as_of`` reaches its resolution time, even when that ingestion is not given its
row again; a row given again (the whole or a trailing log re-fed, or the row
updated with its reply) updates the kept send instead of counting twice. So
``partial_fit`` of only the rows new since the last call learns the same as one
``fit`` of the whole log.

A reply that comes after the window counts as none. ``unsubscribed`` and
``complained`` sends count as failures, and set per-customer, per-channel flags
(and the last complaint time) as soon as they are sent by ``T``, pending or not:
complaints for every such row, unsubscriptions for rows sent after the previous
watermark (so re-ingesting a log cannot undo a consent granted again since).

Decay: a send resolved by ``T`` weighs ``0.5 ** ((T - sent_at) / half_life)``;
moving the store from ``W`` to ``T`` multiplies existing statistics by
``0.5 ** ((T - W) / half_life)``. The sum of squared weights (the store's
``squared_weights``, which gives the prior fit each customer's effective number of
sends) is kept the same way, decaying by the square of that factor. So the
statistics are a pure function of the set of counted sends and ``T``: one fit and
any chunking of it agree (to float32 rounding).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import pandas as pd

from channelopt import kernels as K
from channelopt.core.config import ModelConfig
from channelopt.core.prior import DeclaredPrior
from channelopt.core.values import short
from channelopt.data.schema import EncodedLogs
from channelopt.data.tz import LATENCY_EDGES_S, NAT, latency_bins
from channelopt.kernels import grouping as G
from channelopt.state.declared import fit_declared_prior
from channelopt.state.history import HISTORY_EMPTY, minutes_up
from channelopt.state.pending import COMPLAINED, UNSUBSCRIBED, PendingBook, identity_dims, send_keys, warn_streaming
from channelopt.state.priors import fit_segment_priors
from channelopt.state.rows import SeenRows, check_default_as_of, drop_repeats, wall_clock_ns

if TYPE_CHECKING:  # pragma: no cover
    from channelopt.state.store import PosteriorStore

__all__ = ["Ingestion", "MAX_SEGMENTS"]

#: Segments a model can tell apart (``segment`` is int16 per customer).
MAX_SEGMENTS = 32767


def _latest(rows: np.ndarray, t: np.ndarray, codes: np.ndarray, rank_of_code: np.ndarray, n: int) -> np.ndarray:
    """Positions of each customer's latest row by ``(t, rank_of_code[codes])``, in row order of the customers."""
    best = G.latest_per_group(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(t),
                              np.ascontiguousarray(codes, dtype=np.int64),
                              np.ascontiguousarray(rank_of_code, dtype=np.int64), n)
    return best[best >= 0]


def _trim(arr: np.ndarray, n: int) -> np.ndarray:
    """A working array cut to its first ``n`` rows, so the store does not keep up to twice its
    size alive: shrunk in place (a ``realloc``, no copy) when it owns its memory and nothing
    else views it (working arrays are never shared), else copied."""
    if arr.shape[0] == n:
        return arr
    if arr.flags.owndata and arr.flags.c_contiguous:
        arr.resize((n,) + arr.shape[1:], refcheck=False)
        return arr
    return arr[:n].copy()


def _grow(arr: np.ndarray, n: int) -> np.ndarray:
    """``arr`` with at least ``n`` rows (doubling, new rows zeroed; :func:`_trim` cuts the spare rows)."""
    if arr.shape[0] >= n:
        return arr
    cap = max(n, 2 * arr.shape[0] + 1024)
    out = np.zeros((cap,) + arr.shape[1:], dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


class Ingestion:
    """One fit or partial_fit: streams encoded chunks into a copy of the store.

    Nothing touches the original store; :meth:`finish` returns a new one. When
    ``as_of`` is not known up front (None: the latest timestamp in the logs) the
    encoded chunks are held until :meth:`finish`, and a chunk whose latest
    timestamp lies more than a day past the wall clock is refused (one row sent
    in 2200 would move the watermark there). Without an ``event_id`` column,
    rows repeated within the ingestion count once (:mod:`channelopt.state.rows`).

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace, ModelConfig, PosteriorStore
    >>> from channelopt.data.schema import encode_logs
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-09"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 02:00", None]})
    >>> ing = Ingestion(PosteriorStore.empty(space, "UTC"), ModelConfig(), pd.Timestamp("2026-01-10", tz="UTC").value)
    >>> ing.add(encode_logs(logs, space, "UTC"))
    >>> store = ing.finish()
    >>> store.n_customers, ing.counts["counted"], ing.counts["pending"]
    (2, 1, 1)
    """

    def __init__(self, store: PosteriorStore, config: ModelConfig, as_of_ns: int | None,
                 unsub_after_ns: int | None = None, declared: DeclaredPrior | None = None) -> None:
        self.base = store
        self.declared = declared  # the model's prior= (channelopt.state.declared: how it meets the data)
        # unsubscriptions count from rows sent after this instant (default: the base's watermark),
        # so re-ingesting a log cannot undo a later re-grant of consent
        self.unsub_after_ns = store.watermark_ns if unsub_after_ns is None else unsub_after_ns
        self.config = config
        self.as_of_ns = as_of_ns
        if as_of_ns is not None and store.watermark_ns != NAT and as_of_ns < store.watermark_ns:
            raise ValueError("as_of: must not be before the model's watermark "
                             f"({_fmt(store.watermark_ns)}), got {_fmt(as_of_ns)}")
        self._held: list[EncodedLogs] = []
        self._latest = int(NAT)
        self._events = np.zeros(0, dtype=np.uint64)  # sorted hashes of the event_ids seen so far
        self._rows = SeenRows()  # keys of the rows seen so far (logs without event_id)
        self._clock_ns = wall_clock_ns()
        self._started = False
        self.counts = {"rows": 0, "counted": 0, "responses": 0, "pending": 0, "before_watermark": 0,
                       "after_as_of": 0, "duplicates": 0}
        self._identity = identity_dims(store.space)
        self.book = PendingBook(store.pending, store.watermark_ns, config.window_ns, config.resolve == "reply")
        self._segment_map: np.ndarray | None = None

    @property
    def moves_clock(self) -> bool:
        """Whether the ingestion may be given no rows at all: it continues a fitted store to an explicit
        ``as_of`` (moving the clock and counting the kept pending sends that resolve by then)."""
        return self.as_of_ns is not None and self.base.watermark_ns != NAT

    def _start(self, as_of_ns: int) -> None:
        st = self.base
        n = st.n_customers
        decay = self._decay(as_of_ns - st.watermark_ns) if st.watermark_ns != NAT else 1.0
        self.index = st.index
        self.sends = _grow(np.asarray(st.sends, dtype=np.float32) * np.float32(decay), n)
        self.responses = _grow(np.asarray(st.responses, dtype=np.float32) * np.float32(decay), n)
        self.squares = _grow(np.asarray(st.squared_weights, dtype=np.float32) * np.float32(decay * decay), n)
        self.unsub = _grow(np.array(st.unsubscribed, dtype=np.uint32), n)
        self.compl = _grow(np.array(st.complained, dtype=np.uint32), n)
        self.last_compl = _grow(np.array(st.last_complaint_min, dtype=np.int32), n)  # minutes, as stored
        self.last_compl[n:] = HISTORY_EMPTY
        self.last_sent = _grow(np.array(st.last_sent_min, dtype=np.int32), n)
        self.last_sent[n:] = HISTORY_EMPTY
        self.zone = _grow(np.array(st.zone, dtype=np.uint16), n)
        self.zones = list(st.zones)
        self.consent = _grow(np.array(st.consent, dtype=np.uint32), n)
        self.hist_t = _grow(np.array(st.history_min, dtype=np.int32), n)
        self.hist_t[n:] = HISTORY_EMPTY
        self.hist_c = _grow(np.array(st.history_channel, dtype=np.int8), n)
        self.latency = np.array(st.latency, dtype=np.float64)
        self.segments = list(st.segments)
        self.seg = _grow(np.array(st.segment, dtype=np.int16), n)
        self.seg[n:] = -1
        self.seg_t = np.full(self.seg.shape[0], NAT, dtype=np.int64)  # latest send naming a segment, this ingestion
        n_ch = len(st.space.channels)
        self.latency_segment = np.zeros((len(self.segments), n_ch, LATENCY_EDGES_S.size))
        if len(self.segments):
            self.latency_segment[:] = st.latency_segment
        self._started = True

    def _decay(self, dt_ns: Any) -> Any:
        h = self.config.half_life_ns
        if not h:
            return np.ones_like(dt_ns, dtype=np.float64) if isinstance(dt_ns, np.ndarray) else 1.0
        return np.exp2(-np.asarray(dt_ns, dtype=np.float64) / h) if isinstance(dt_ns, np.ndarray) \
            else float(2.0 ** (-dt_ns / h))

    def add(self, enc: EncodedLogs) -> None:
        """Take one validated chunk."""
        self.counts["rows"] += len(enc)
        if self.as_of_ns is None:
            check_default_as_of(enc, self._clock_ns)
        if enc.event_hash is not None:
            self._check_events(enc)
        else:
            enc, dropped = drop_repeats(enc, self._rows)
            self.counts["duplicates"] += dropped
        if self.as_of_ns is None:
            self._held.append(enc)
            self._latest = max(self._latest, int(enc.sent_ns.max()), int(enc.responded_ns.max()))
        else:
            self._process(enc, self.as_of_ns)

    def _check_events(self, enc: EncodedLogs) -> None:
        """Raise on an event_id already seen in an earlier chunk of this ingestion (duplicates
        inside one chunk are caught by the schema); keep the seen hashes sorted."""
        h = enc.event_hash
        seen = self._events
        if seen.size:
            pos = np.minimum(np.searchsorted(seen, h), seen.size - 1)
            dup = np.flatnonzero(seen[pos] == h)
            if dup.size:
                i = int(dup[0])
                value = short(enc.event_id.iloc[i] if enc.event_id is not None else h[i])
                raise ValueError(f"column 'event_id': duplicate value {value} in row {i + enc.row_offset} "
                                 "(the same event_id appears in an earlier chunk)")
        # two sorted runs: the stable sort merges them in linear time
        self._events = np.sort(np.concatenate([seen, np.sort(h)]), kind="stable")

    def _process(self, enc: EncodedLogs, t: int) -> None:
        if not self._started:
            self._start(t)
        w = self.base.watermark_ns
        keep = enc.sent_ns <= t
        self.counts["after_as_of"] += int((~keep).sum())
        if not keep.any():
            return
        whole = bool(keep.all())
        sel = None if whole else np.flatnonzero(keep)

        def take(a: Any) -> Any:
            return a if whole else a[sel]

        ids = enc.customer_id if whole else enc.customer_id.iloc[sel]
        self.index, rows = self.index.extend(ids)
        n = len(self.index)
        if n > self.sends.shape[0]:
            self.sends, self.responses = _grow(self.sends, n), _grow(self.responses, n)
            self.squares = _grow(self.squares, n)
            self.unsub, self.compl = _grow(self.unsub, n), _grow(self.compl, n)
            old = self.last_compl.shape[0]
            self.last_compl, self.last_sent = _grow(self.last_compl, n), _grow(self.last_sent, n)
            self.last_compl[old:] = HISTORY_EMPTY
            self.last_sent[old:] = HISTORY_EMPTY
            self.zone = _grow(self.zone, n)
            self.consent = _grow(self.consent, n)
            old = self.hist_t.shape[0]
            self.hist_t, self.hist_c = _grow(self.hist_t, n), _grow(self.hist_c, n)
            self.hist_t[old:] = HISTORY_EMPTY
            old = self.seg.shape[0]
            self.seg, self.seg_t = _grow(self.seg, n), _grow(self.seg_t, n)
            self.seg[old:] = -1
            self.seg_t[old:] = NAT
        sent = take(enc.sent_ns)
        resp = take(enc.responded_ns)
        arms = np.ascontiguousarray(take(enc.arms))
        unsubscribed, complained = take(enc.unsubscribed), take(enc.complained)
        outcome, weight = K.resolve_sends(sent, resp, unsubscribed | complained, t, w, self.config.window_ns,
                                          self.config.resolve == "reply", self.config.half_life_ns)
        # rows of sends kept pending by an earlier ingestion update them and count nothing themselves
        segment_codes = take(enc.segment_codes) if enc.segment_codes is not None else None
        seg_local = np.full(sent.shape[0], -1, dtype=np.int64)
        if segment_codes is not None and (segment_codes >= 0).any():
            named = segment_codes >= 0
            seg_local[named] = self._segment_index(enc.segments)[segment_codes[named]]
        outcomes = (np.where(unsubscribed, UNSUBSCRIBED, 0) | np.where(complained, COMPLAINED, 0)).astype(np.uint8)
        keys = send_keys(ids, sent, arms, take(enc.event_hash) if enc.event_hash is not None else None, self._identity)
        absorbed, new_unsub, n_open = self.book.match(keys, sent, resp, outcomes, seg_local)
        self.book.add(rows, sent, resp, arms, outcomes, seg_local, keys, outcome, absorbed, t)
        if absorbed.any():
            outcome[absorbed] = K.BEFORE_WATERMARK
            weight[absorbed] = 0.0
        tally = np.bincount(outcome, minlength=4)
        self.counts["before_watermark"] += int(tally[K.BEFORE_WATERMARK]) - n_open  # (rows of counted sends stay)
        self.counts["pending"] += int(tally[K.PENDING])
        self.counts["counted"] += int(tally[K.COUNTED] + tally[K.RESPONDED])
        self.counts["responses"] += int(tally[K.RESPONDED])
        parts = numba.get_num_threads()
        K.accumulate(rows, arms, weight, outcome, self.sends, self.responses, self.squares, parts)
        channel = arms[:, 0].astype(np.int8)  # at most 32 channels (uint32 masks)
        ok = np.flatnonzero(outcome == K.RESPONDED)
        if ok.size:
            bins = latency_bins(resp[ok] - sent[ok])
            np.add.at(self.latency, (channel[ok], bins), 1.0)
            if segment_codes is not None:
                self._add_segment_latency(segment_codes[ok], enc.segments, channel[ok], bins)
        # every send by T enters the contact history (idempotent: an identical send is kept once)
        sent_min = minutes_up(sent)
        K.remember_log_sends(rows, sent_min, channel, self.hist_t, self.hist_c, parts)
        unsub = unsubscribed & ((sent > self.unsub_after_ns) | new_unsub)
        for flags, target in ((unsub, self.unsub), (complained, self.compl)):
            f = np.flatnonzero(flags)
            if f.size:
                np.bitwise_or.at(target, rows[f], (np.uint32(1) << channel[f].astype(np.uint32)))
        f = np.flatnonzero(complained)
        if f.size:
            np.maximum.at(self.last_compl, rows[f], sent_min[f])
        if segment_codes is not None:
            named = np.flatnonzero(segment_codes >= 0)
            if named.size:
                self._update_segment(rows[named], sent[named], segment_codes[named], enc.segments)
        # only rows that name their zone teach it: a log without ``tz`` keeps the learned zones
        tz_known = take(enc.tz_known)
        if tz_known.all():
            self._update_zone(rows, sent_min, take(enc.zone_codes), enc.zones)
        elif tz_known.any():
            z = np.flatnonzero(tz_known)
            self._update_zone(rows[z], sent_min[z], take(enc.zone_codes)[z], enc.zones)

    def _segment_index(self, names: list[str]) -> np.ndarray:
        """Index in ``self.segments`` of each of a chunk's segment names (new names are appended)."""
        local = np.empty(len(names), dtype=np.int64)
        for k, name in enumerate(names):
            if name not in self.segments:
                if len(self.segments) >= MAX_SEGMENTS:
                    raise ValueError(f"column 'segment': more than {MAX_SEGMENTS} distinct segments "
                                     f"(at {name!r}); a segment groups many customers")
                self.segments.append(name)
            local[k] = self.segments.index(name)
        return local

    def _grow_latency_segment(self) -> None:
        if self.latency_segment.shape[0] < len(self.segments):
            grown = np.zeros((len(self.segments),) + self.latency_segment.shape[1:])
            grown[: self.latency_segment.shape[0]] = self.latency_segment
            self.latency_segment = grown

    def _add_segment_latency(self, codes: np.ndarray, names: list[str], channel: np.ndarray, bins: np.ndarray) -> None:
        """Count replies per (segment, channel, latency bin); rows without a segment count only in the population."""
        has = codes >= 0
        if not has.any():
            return
        local = self._segment_index(names)
        self._grow_latency_segment()
        np.add.at(self.latency_segment, (local[codes[has]], channel[has], bins[has]), 1.0)

    def _sort_segments(self, n: int) -> np.ndarray:
        """Put ``segments`` in name order (so the store does not depend on the order in which
        rows and chunks named them) and return the customers' segment indices remapped."""
        order = sorted(range(len(self.segments)), key=self.segments.__getitem__)
        new_of = np.empty(len(order), dtype=np.int64)
        new_of[order] = np.arange(len(order))
        seg = self.seg[:n].astype(np.int64)
        seg = np.where(seg >= 0, new_of[np.maximum(seg, 0)] if len(order) else -1, -1).astype(np.int16)
        self.segments = [self.segments[i] for i in order]
        self.latency_segment = self.latency_segment[order] if len(order) else self.latency_segment
        self._segment_map = new_of
        return seg

    def _count_pending(self, t: int) -> None:
        """Count the kept sends that resolve by ``t`` (:mod:`channelopt.state.pending`), in buffer order."""
        b = self.book
        due = b.due(t)
        if not due.size:
            return
        rows, sent, resp = b.row[due].astype(np.int64), b.sent[due], b.resp[due]
        arms = np.ascontiguousarray(b.arms[due])
        negative = (b.flags[due] & (UNSUBSCRIBED | COMPLAINED)) != 0
        outcome, weight = K.resolve_sends(sent, resp, negative, t, int(NAT), self.config.window_ns,
                                          self.config.resolve == "reply", self.config.half_life_ns)
        K.accumulate(rows, arms, weight, outcome, self.sends, self.responses, self.squares, numba.get_num_threads())
        ok = np.flatnonzero(outcome == K.RESPONDED)
        self.counts["counted"] += int(due.size)
        self.counts["responses"] += int(ok.size)
        if ok.size:
            channel, bins, seg = arms[ok, 0].astype(np.int64), latency_bins(resp[ok] - sent[ok]), b.seg[due][ok]
            np.add.at(self.latency, (channel, bins), 1.0)
            has = seg >= 0
            if has.any():
                self._grow_latency_segment()
                np.add.at(self.latency_segment, (seg[has].astype(np.int64), channel[has], bins[has]), 1.0)

    def _update_segment(self, rows: np.ndarray, sent: np.ndarray, codes: np.ndarray, names: list[str]) -> None:
        """The latest send of this ingestion that names a segment sets the customer's segment
        (ties: the larger name), whatever the order of rows and chunks; an earlier ingestion's
        segment stays until a send names another."""
        local = self._segment_index(names)
        rank_of = np.argsort(np.argsort(np.array(self.segments, dtype=object), kind="stable"), kind="stable")
        pick = _latest(rows, sent, codes, rank_of[local], len(self.index))
        r, t, sg = rows[pick], sent[pick], local[codes[pick]]
        cur = self.seg[r].astype(np.int64)
        cur_rank = np.where(cur >= 0, rank_of[np.maximum(cur, 0)], -1)
        newer = (t > self.seg_t[r]) | ((t == self.seg_t[r]) & (rank_of[sg] > cur_rank))
        self.seg[r[newer]] = sg[newer].astype(np.int16)
        self.seg_t[r[newer]] = t[newer]

    def _update_zone(self, rows: np.ndarray, sent: np.ndarray, codes: np.ndarray, zones: list[str]) -> None:
        """The latest send minute per customer (``sent`` in minutes) sets their zone; within a minute,
        the larger zone name wins, whatever the order of rows, chunks and fits."""
        names = np.array(zones, dtype=object)
        rank_of = {z: r for r, z in enumerate(sorted(set(zones) | set(self.zones)))}
        chunk_rank = np.array([rank_of[z] for z in zones], dtype=np.int64)
        pick = _latest(rows, sent, codes, chunk_rank, len(self.index))
        r, t = rows[pick], sent[pick]
        newer = t > self.last_sent[r]
        tie = np.flatnonzero(t == self.last_sent[r])
        if tie.size:  # same minute seen in an earlier chunk or fit: the larger zone name wins, as within a chunk
            stored_rank = np.array([rank_of[z] for z in self.zones], dtype=np.int64)
            newer[tie] = chunk_rank[codes[pick[tie]]] > stored_rank[self.zone[r[tie]]]
        if not newer.any():
            return
        r, t, zc = r[newer], t[newer], codes[pick][newer]
        local = np.zeros(len(zones), dtype=np.uint16)  # index in ``self.zones`` of each of the chunk's zones
        for code in np.flatnonzero(np.bincount(zc, minlength=len(zones))):
            name = str(names[code])
            if name not in self.zones:
                if len(self.zones) >= 65535:
                    raise ValueError("column 'tz': more than 65535 distinct time zones")
                self.zones.append(name)
            local[code] = self.zones.index(name)
        self.zone[r] = local[zc]
        self.last_sent[r] = t

    def finish(self) -> "PosteriorStore":
        """Check cross-chunk constraints, fit the prior and return the new store."""
        t = self.as_of_ns
        if t is None:
            if self.base.watermark_ns != NAT and self._latest < self.base.watermark_ns:
                t = self.base.watermark_ns
            else:
                t = self._latest
            if t == NAT:
                raise ValueError("logs: no rows to learn from")
            for enc in self._held:
                self._process(enc, t)
            self._held.clear()
        if not self._started:
            self._start(t)
        self._count_pending(t)
        n = len(self.index)
        sends, responses, squares = _trim(self.sends, n), _trim(self.responses, n), _trim(self.squares, n)
        hashes = self.index.hashes
        alpha, beta = fit_declared_prior(sends, responses, hashes, self.base.space.offsets, self.declared,
                                         max_strength=self.config.prior_max_strength,
                                         sample=self.config.prior_sample, by_hash=self.index.order,
                                         squares=squares)
        self._grow_latency_segment()
        seg = self._sort_segments(n)
        seg_alpha, seg_beta = fit_segment_priors(sends, responses, hashes, self.base.space.offsets, seg,
                                                 len(self.segments), alpha, beta,
                                                 max_strength=self.config.prior_max_strength,
                                                 sample=self.config.prior_sample, squares=squares)
        pending = self.book.finish(t, self._segment_map)
        self.counts.update(self.book.counts, pending_kept=pending.n_pending)
        warn_streaming(self.counts, self.base.watermark_ns, self.book.limit)
        totals = dict(self.base.counts)
        for k in ("counted", "responses"):
            totals[k] = totals.get(k, 0) + self.counts[k]
        return replace(self.base, index=self.index, sends=sends, responses=responses, squared_weights=squares,
                       unsubscribed=_trim(self.unsub, n), complained=_trim(self.compl, n),
                       last_complaint_min=_trim(self.last_compl, n), last_sent_min=_trim(self.last_sent, n),
                       zone=_trim(self.zone, n), zones=tuple(self.zones), consent=_trim(self.consent, n),
                       history_min=_trim(self.hist_t, n), history_channel=_trim(self.hist_c, n), latency=self.latency,
                       latency_segment=self.latency_segment, segments=tuple(self.segments),
                       prior_alpha=alpha, prior_beta=beta, segment=seg, segment_alpha=seg_alpha,
                       segment_beta=seg_beta, watermark_ns=int(t), counts=totals, pending=pending)



def _fmt(ns: int) -> str:
    return str(pd.Timestamp(ns, tz="UTC"))
