"""Decisions: ``choose_channel`` for one customer and ``rank`` for a table, with capacity per channel."""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from channelopt.core.clock import round_of
from channelopt.core.config import check_zone
from channelopt.core.decision import REASONS, Decision
from channelopt.core.validation import whole
from channelopt.data.sources import read_table
from channelopt.data.tz import NAT, now_timestamp, zone_codes
from channelopt.kernels.decide import INFEASIBLE, NO_TIME, OK, decide_many, decide_one
from channelopt.policy.batch import rank_to_parquet
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.fast import choose_fast
from channelopt.policy.rules import _Rules
from channelopt.policy.slots import slot_tables
from channelopt.state.store import PosteriorStore

__all__ = ["RankMixin"]

class RankMixin:
    """Deciding for one customer or a table (mixed into :class:`~channelopt.ChannelModel`)."""

    def choose_channel(self, customer_id: Any, now: Any = None, *, allowed_channels: Iterable[str] | None = None,
                       exclude: Iterable[str] | None = None, tz: str | None = None,
                       policy: ContactPolicy | None = None, consent: Iterable[str] | None = None,
                       deadline: Any = None, urgent: bool = False, promotional: bool = True,
                       value: float | None = None, propensity: bool = True, segment: Any = None) -> Decision:
        """Decide channel, wording and send time for one customer (thread-safe).

        Parameters
        ----------
        customer_id : str or int
            Unknown customers are decided from their segment's prior (``segment=``),
            else the population's.
        now : timestamp, optional
            Decision time (tz-aware, or naive = UTC); default: the current time.
            The same model, seed, customer and ``now`` give the same decision.
        allowed_channels : iterable of str, optional
            Only these channels may be chosen.
        exclude : iterable of str, optional
            Channels not to choose, e.g. those already tried in this conversation.
        tz : str, optional
            The customer's zone; default: the zone of their latest logged send,
            else the model's ``default_tz``.
        policy : ContactPolicy, optional
            Contact rules for this call; default: the model's ``policy`` (None:
            no rules at all).
        consent : iterable of str, optional
            Channels the customer has consented to, overriding the consent store.
        deadline : duration or timestamp, optional
            Latest send time (default: the policy's ``deadline``, else 24 h).
        urgent : bool, default False
            Send at the first allowed instant instead of the best hour.
        promotional : bool, default True
            A promotional message is held during a complaint cool-off.
        value : float, optional
            Value of a response for this campaign (overrides ``policy.value``).
        propensity : bool, default True
            Compute the decision's propensity (most of a call's time); False
            leaves it NaN and gives the same decision.
        segment : optional
            The customer's segment (compared as text with the logs' ``segment``
            column): its prior is used instead of the one of the segment named by
            the customer's latest logged send. A segment the model has not seen
            means the population prior.

        Returns
        -------
        Decision

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> model = co.ChannelModel(space, seed=1).fit(logs)
        >>> model.choose_channel("a", now="2026-01-02 08:00", exclude=["sms"]).channel
        'email'
        >>> model.choose_channel("a", now="2026-01-02 08:00", policy=co.ContactPolicy()).hold_reason
        'no_consent'
        """
        # the fast path (channelopt.policy.fast) gives the same Decision in microseconds, or None for unusual arguments
        fast = choose_fast(self, customer_id, now, allowed_channels, exclude, tz, policy, consent, deadline, urgent,
                           promotional, value, propensity, (), segment)
        if fast is not None:
            return fast
        return self._choose(customer_id, now_timestamp(now), allowed_channels=allowed_channels, exclude=exclude, tz=tz,
                            policy=policy, consent=consent, deadline=deadline, urgent=urgent,
                            promotional=promotional, value=value, propensity=propensity, segment=segment)

    def _choose(self, customer_id: Any, now: Any, *, allowed_channels: Iterable[str] | None = None,
                exclude: Iterable[str] | None = None, tz: str | None = None, policy: ContactPolicy | None = None,
                consent: Iterable[str] | None = None, deadline: Any = None, urgent: bool = False,
                promotional: bool = True, value: float | None = None, propensity: bool = True,
                planned: Iterable[tuple[int, str]] = (), segment: Any = None) -> Decision:
        """:meth:`choose_channel`, also counting ``planned`` sends ``(ns, channel)`` (cascades)."""
        fast = choose_fast(self, customer_id, now, allowed_channels, exclude, tz, policy, consent, deadline, urgent,
                           promotional, value, propensity, planned, segment)
        if fast is not None:
            return fast
        snap = self._snapshot()
        st = snap.store
        now_ts = now_timestamp(now)
        now_ns = now_ts.value
        mask = self._mask(allowed_channels, exclude)
        if tz is not None:
            tz = check_zone(tz, "tz")
        pol = self._policy(policy)
        row, h = st.index.locate(customer_id)
        rows = np.array([row], dtype=np.int64)
        group = int(st.prior_groups(rows, None if segment is None else st.segment_codes([segment]))[0])
        prior_a, prior_b = st.prior_tables
        rules = self._rules(snap, rows, [customer_id], now_ns, pol, mask, None, consent, promotional, value, planned)
        deadline_ns = self._deadline_ns(now_ns, deadline, pol)
        zone = tz if tz is not None else (st.zones[st.zone[row]] if row >= 0 else self.config.default_tz)
        s_start, s_end, s_hour, s_wd, n_slots = slot_tables(now_ns, deadline_ns, [zone])
        n_dims = self._offsets.shape[0] - 1
        choice = np.empty(n_dims, dtype=np.int64)
        draws = np.empty(int(self._offsets[-1]), dtype=np.float64)
        send_ns, score, prop, status = decide_one(
            row, h, st.sends, st.responses, prior_a[group], prior_b[group], self._offsets, rules.earliest[0],
            s_start[0], s_end[0], s_hour[0], s_wd[0], int(n_slots[0]), deadline_ns, rules.quiet, rules.value,
            rules.cost, bool(urgent), self._hour_dim, self._weekday_dim, self._smooth, np.uint64(self.config.seed),
            round_of(now_ns), self.config.propensity_draws if propensity else 0, choice, draws, self._explore)
        reason = self._hold_reasons(np.array([status]), rules, deadline_ns, pol)[0]
        escalate = bool(rules.escalate[0]) if rules.escalate is not None else False
        return self._decision(customer_id, choice, score, prop, draws, send_ns, reason, escalate)

    def _decision(self, customer_id: Any, choice: np.ndarray, score: float, prop: float, draws: np.ndarray,
                  send_ns: int, reason: int, escalate: bool) -> Decision:
        if reason >= 0:
            return Decision(customer_id, None, None, None, None, float(prop), float(score), REASONS[reason],
                            {}, draws, self.space, escalate)
        labels = self._labels
        wording = labels[self._wording_dim][choice[self._wording_dim]] if self._wording_dim >= 0 else None
        hour = int(choice[self._hour_dim]) if self._hour_dim >= 0 else None
        extra = {k: labels[d][choice[d]] for k, d in self._extra_dims}
        return Decision(customer_id, labels[0][choice[0]], wording, hour, pd.Timestamp(int(send_ns), tz="UTC"),
                        float(prop), float(score), None, extra, draws, self.space, escalate)

    def rank(self, customers: Any, now: Any = None, *, allowed_channels: Iterable[str] | None = None,
             propensity: bool = True, top_k: int | None = None, budget: int | None = None,
             capacity: Mapping[str, int] | None = None, policy: ContactPolicy | None = None,
             deadline: Any = None, urgent: bool = False, promotional: bool = True,
             value: float | None = None) -> pd.DataFrame:
        """Decide for a batch of customers: one row each (holds included).

        Parameters
        ----------
        customers : DataFrame, path, or sequence of ids
            Needs ``customer_id``; an optional ``tz`` column overrides the learned
            zone, an optional ``segment`` column the segment whose prior a
            customer gets (null: the one of their latest logged send), and
            ``consent_<channel>`` columns (bool, null = no record) override the
            consent store when a policy applies.
        now : timestamp, optional
            Decision time; the same ``now`` gives the same decisions as
            :meth:`choose_channel` for each customer.
        allowed_channels : iterable of str, optional
            Channels eligible for everyone.
        propensity : bool, default True
            Compute each decision's propensity (False is faster; the column is NaN).
        top_k : int, optional
            Keep only the ``top_k`` customers with the
            highest score -- who to contact today.
        capacity : mapping channel -> int, optional
            At most this many sends per channel; the best-scoring customers keep
            the channel, the others are decided again without it.
        policy, deadline, urgent, promotional, value
            As in :meth:`choose_channel`.

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity,
            hold_reason, escalate_to_human`` (plus one column per extra dimension),
            in input order, or by decreasing score with ``top_k``.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
        >>> model = co.ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> model.rank(["a", "b", "new"], now="2026-01-11 09:00").shape
        (3, 9)
        >>> int(model.rank(["a", "b"], now="2026-01-11 09:00", capacity={"sms": 0, "email": 1})["channel"].isna().sum())
        1
        """
        if (customers is None or isinstance(customers, (bytes, Mapping)) or not (
                isinstance(customers, (pd.DataFrame, str, Iterable)) or hasattr(customers, "__fspath__"))):
            raise ValueError("customers: expected a DataFrame, a Parquet/CSV path or a sequence of ids, "
                             f"got {type(customers).__name__}")
        if capacity is not None and not isinstance(capacity, Mapping):
            raise ValueError("capacity: expected a mapping of channel to count, e.g. {'sms': 5000}, "
                             f"got {type(capacity).__name__}")
        snap = self._snapshot()
        st = snap.store
        now_ts = now_timestamp(now)
        now_ns = now_ts.value
        if isinstance(customers, (pd.DataFrame, str)) or hasattr(customers, "__fspath__"):
            table = read_table(customers, name="customers")
        else:
            table = pd.DataFrame({"customer_id": pd.Series(list(customers), dtype=object)})  # checked by the index
        if "customer_id" not in table.columns:
            raise ValueError(f"customers: missing required column 'customer_id' (columns present: {', '.join(map(str, table.columns))})")
        if not table.columns.is_unique:
            dup = table.columns[table.columns.duplicated()][0]
            raise ValueError(f"customers: column {str(dup)[:60]!r} appears more than once (columns must have distinct names)")
        table = table.reset_index(drop=True)
        if budget is not None:
            warnings.warn("rank(budget=) is deprecated: it is spelled top_k= (the same meaning); budget will be "
                          "removed in channelopt 0.3", FutureWarning, stacklevel=2)
            if top_k is not None and top_k != budget:
                raise ValueError(f"top_k and budget mean the same thing; got top_k={top_k}, budget={budget}")
        k_keep = top_k if top_k is not None else budget
        caps = self._capacity(capacity)
        pol = self._policy(policy)
        n = len(table)
        ids = table["customer_id"]
        rows, hashes = st.index.rows_of(ids) if n else (np.zeros(0, np.int64), np.zeros(0, np.uint64))
        group = st.prior_groups(rows, st.segment_codes(table["segment"]) if "segment" in table.columns else None)
        prior_a, prior_b = st.prior_tables
        mask = self._mask(allowed_channels, None)
        rules = self._rules(snap, rows, ids, now_ns, pol, mask, table, None, promotional, value)
        deadline_ns = self._deadline_ns(now_ns, deadline, pol)
        zcodes, zones = self._zones_of(st, table, rows)
        slots = slot_tables(now_ns, deadline_ns, zones)
        n_dims = self._offsets.shape[0] - 1
        choice = np.empty((n, n_dims), dtype=np.int64)
        send_ns = np.empty(n, dtype=np.int64)
        score = np.empty(n)
        prop = np.empty(n)
        status = np.empty(n, dtype=np.int8)
        n_prop = self.config.propensity_draws if propensity else 0
        explore = self._explore  # read once: every decision of the batch uses the same exploration
        k = None
        if k_keep is not None:
            k = whole(k_keep, "top_k", min_val=0)

        def run(idx: np.ndarray | None, earliest: np.ndarray, draws: int) -> None:
            sel = slice(None) if idx is None else idx
            c, t, s, p, stt = (choice[sel], send_ns[sel], score[sel], prop[sel], status[sel])
            if idx is not None:
                c, t, s, p, stt = (np.ascontiguousarray(a) for a in (c, t, s, p, stt))
            decide_many(rows[sel], hashes[sel], group[sel], st.sends, st.responses, prior_a, prior_b, self._offsets,
                        earliest, zcodes[sel], *slots, deadline_ns, rules.quiet, rules.value, rules.cost, bool(urgent),
                        self._hour_dim, self._weekday_dim, self._smooth, np.uint64(self.config.seed),
                        round_of(now_ns), draws, c, t, s, p, stt, explore)
            if idx is not None:
                choice[idx], send_ns[idx], score[idx], prop[idx], status[idx] = c, t, s, p, stt

        # decisions first; the (costly) propensities only for the rows returned, once capacity is settled
        late = bool(n_prop) and (bool(caps) or (k is not None and k < n))
        run(None, rules.earliest, 0 if late else n_prop)
        bumped = self._apply_capacity(caps, rules, choice, score, status, run) if caps else None
        reason = self._hold_reasons(status, rules, deadline_ns, pol)
        if bumped is not None:
            reason[bumped & (status == INFEASIBLE)] = REASONS.index("capacity")
        keep = None
        if k is not None:
            ranked = np.where(np.isnan(score) | (reason >= 0), -np.inf, score)
            keep = np.argpartition(-ranked, k)[:k] if k < n else np.arange(n)
            keep = keep[np.argsort(-ranked[keep], kind="stable")]
        if late:
            idx = np.sort(keep) if keep is not None else np.arange(n)
            earliest = rules.earliest if rules.earliest.shape[0] == 1 else np.ascontiguousarray(rules.earliest[idx])
            run(idx, earliest, n_prop)
        if not propensity:
            prop[:] = np.nan
        out = self._frame(ids, choice, send_ns, score, prop, reason,
                          rules.escalate if rules.escalate is not None else np.zeros(n, bool))
        if keep is not None:
            out = out.iloc[keep].reset_index(drop=True)
        return out

    def rank_to_parquet(self, customers: Any, out: Any, *, now: Any = None, chunk_rows: int = 1_000_000,
                        top_k: int | None = None, progress: bool = False, **rank_args: Any) -> int:
        """Rank a customers table larger than memory, chunk by chunk, into a Parquet file.

        The same decisions as one :meth:`rank` call (one ``now`` for all chunks);
        see :func:`channelopt.policy.batch.rank_to_parquet`. Returns the rows written.

        Examples
        --------
        >>> import channelopt as co
        >>> import os, tempfile
        >>> space = co.ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = co.ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> model.rank_to_parquet(pd.DataFrame({"customer_id": ["a", "b"]}),
        ...                       os.path.join(tempfile.mkdtemp(), "d.parquet"), now="2026-01-11", chunk_rows=1)
        2
        """
        return rank_to_parquet(self, customers, out, now=now, chunk_rows=chunk_rows, top_k=top_k,
                               progress=progress, **rank_args)

    def _capacity(self, capacity: Mapping[str, int] | None) -> dict[int, int]:
        if capacity is None:
            return {}
        out: dict[int, int] = {}
        for name, cap in dict(capacity).items():
            pos = self._channel_pos.get(name)
            if pos is None:
                raise ValueError(f"capacity: unknown channel {name!r} (known: {', '.join(self.space.channels)})")
            k = whole(cap, f"capacity[{name!r}]")
            if k < 0:
                raise ValueError(f"capacity[{name!r}]: must be >= 0, got {cap}")
            out[pos] = k
        return out

    def _apply_capacity(self, caps: dict[int, int], rules: _Rules, choice: np.ndarray, score: np.ndarray,
                        status: np.ndarray, run: Any) -> np.ndarray:
        """Keep each capped channel for its best-scoring customers; decide the rest again without it.

        Returns which customers lost a channel to capacity.
        """
        n = choice.shape[0]
        bumped = np.zeros(n, dtype=bool)
        earliest = rules.earliest if rules.earliest.shape[0] == n else np.repeat(rules.earliest, n, axis=0)
        earliest = earliest.copy()
        for _ in range(len(self.space.channels) + 1):
            redo = []
            for c, cap in caps.items():
                on = np.flatnonzero((status == OK) & (choice[:, 0] == c))
                if on.size > cap:
                    order = on[np.argsort(-score[on], kind="stable")]
                    redo.append(order[cap:])
            if not redo:
                return bumped
            idx = np.sort(np.concatenate(redo))
            bumped[idx] = True
            for c, cap in caps.items():
                full = ((status == OK) & (choice[:, 0] == c)).sum() >= cap
                if full:
                    earliest[idx, c] = NO_TIME
            rules.earliest = earliest
            run(idx, np.ascontiguousarray(earliest[idx]), 0)
        return bumped

    def _zones_of(self, st: PosteriorStore, table: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        n = len(table)
        if "tz" in table.columns:
            zcodes, zones = zone_codes(table["tz"], n, self.config.default_tz)
            learned = table["tz"].isna().to_numpy() & (rows >= 0)
        else:
            zcodes, zones, learned = np.zeros(n, np.int64), [self.config.default_tz], rows >= 0
        # customers without a given zone take the one learned from their logs
        zcodes = zcodes.copy()
        zcodes[learned] = st.zone[rows[learned]].astype(np.int64) + len(zones)
        return zcodes, zones + list(st.zones)

    def _frame(self, ids: pd.Series, choice: np.ndarray, send_ns: np.ndarray, score: np.ndarray, prop: np.ndarray,
               reason: np.ndarray, escalate: np.ndarray) -> pd.DataFrame:
        n = choice.shape[0]
        hold = reason >= 0
        out = pd.DataFrame({"customer_id": ids.reset_index(drop=True)})
        for d, dim in enumerate(self.space.dimensions):
            if dim in ("hour", "weekday"):
                continue
            out[dim] = pd.Categorical.from_codes(np.where(hold, -1, choice[:, d]), categories=list(self._labels[d]))
        if "wording" not in out:
            out["wording"] = pd.Categorical.from_codes(np.full(n, -1), categories=[])
        if self._hour_dim >= 0:
            out["hour"] = pd.array(np.where(hold, 0, choice[:, self._hour_dim]), dtype="Int8")
            out.loc[hold, "hour"] = pd.NA
        else:
            out["hour"] = pd.array([pd.NA] * n, dtype="Int8")
        out["send_at"] = pd.DatetimeIndex(np.where(hold, NAT, send_ns).view("M8[ns]")).tz_localize("UTC")
        out["score"] = np.where(hold & (reason != REASONS.index("not_worth_cost")), np.nan, score)
        out["propensity"] = prop
        out["hold_reason"] = pd.Categorical.from_codes(reason, categories=list(REASONS))
        out["escalate_to_human"] = escalate
        cols = ["customer_id", "channel", "wording", "hour", "send_at", "score", "propensity", "hold_reason",
                "escalate_to_human"] + list(self.space.extra)
        return out[cols]

    # -- what a service reports between fits ------------------------------------------
