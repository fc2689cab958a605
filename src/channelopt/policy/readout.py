"""Reading a fitted model: reply latencies, cascades, posterior read-out and ``explain``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd

from channelopt.core.validation import check_scalar
from channelopt.data.tz import NAT, now_timestamp
from channelopt.kernels.decide import NO_TIME
from channelopt.policy.cascade import plan_cascade
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.slots import latency_quantile
from channelopt.state.posteriors import posterior_arrays, posterior_frame

if TYPE_CHECKING:
    from channelopt.policy.cascade import CascadePlan

__all__ = ["ReadoutMixin"]

_SEGMENT_MIN_REPLIES = 30  # replies a (segment, channel) needs before its own latency is used


class ReadoutMixin:
    """Read-outs of a fitted model (mixed into :class:`~channelopt.ChannelModel`)."""

    def reply_latency(self, quantiles: Iterable[float] = (0.5, 0.8), *, segment: Any = None) -> pd.DataFrame:
        """Reply-latency quantiles per channel, learned from the logs (replies within the window).

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...     "channel": ["sms", "email"], "responded_at": ["2026-01-01 00:10", None]})
        >>> lat = co.ChannelModel(space).fit(logs, as_of="2026-01-05").reply_latency()
        >>> float(lat.loc["sms", "replies"]), bool(lat.loc["sms", "q0.5"] < pd.Timedelta("11min"))
        (1.0, True)
        """
        qs = [float(q) for q in quantiles]
        for q in qs:
            if not 0 < q < 1:
                raise ValueError(f"quantiles: each must be in (0, 1), got {q}")
        counts = self._latency_counts(segment)
        data = {"replies": np.array([c.sum() for c in counts])}
        for q in qs:
            data[f"q{q:g}"] = [self.latency_quantile(c, q, segment=segment) for c in self.space.channels]
        return pd.DataFrame(data, index=pd.Index(self.space.channels, name="channel"))

    def _latency_counts(self, segment: Any) -> list[np.ndarray]:
        """Latency counts per channel: the segment's where it has enough replies, else the population's."""
        st = self._state()
        out = [st.latency[c] for c in range(len(self.space.channels))]
        if segment is not None and str(segment) in st.segments:
            seg = st.latency_segment[st.segments.index(str(segment))]
            out = [seg[c] if seg[c].sum() >= _SEGMENT_MIN_REPLIES else out[c] for c in range(len(out))]
        return out

    def latency_quantile(self, channel: str, q: float = 0.8, *, segment: Any = None) -> pd.Timedelta:
        """One channel's reply-latency quantile (NaT before any reply was seen).

        With ``segment``, the segment's own distribution when it has at least 30
        replies on that channel (the log's ``segment`` column), else the population's.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 01:00"]})
        >>> co.ChannelModel(space).fit(logs, as_of="2026-01-05").latency_quantile("sms", 0.5) < pd.Timedelta("70min")
        True
        """
        pos = self._channel_pos.get(channel)
        if pos is None:
            raise ValueError(f"channel: unknown channel {channel!r} (known: {', '.join(self.space.channels)})")
        if not 0 < q < 1:
            raise ValueError(f"q: must be in (0, 1), got {q}")
        secs = latency_quantile(self._latency_counts(segment)[pos], q)
        return pd.NaT if np.isnan(secs) else pd.Timedelta(seconds=round(secs))

    def plan_cascade(self, customer_id: Any, now: Any = None, *, max_steps: int = 3, quantile: float = 0.8,
                     **decision_args: Any) -> "CascadePlan":
        """Escalation plan: the best channel, then the next if no reply came, and so on.

        See :func:`channelopt.policy.cascade.plan_cascade` (this is the same).

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "a"], "sent_at": ["2026-01-01", "2026-01-02"],
        ...     "channel": ["sms", "email"], "responded_at": ["2026-01-01 00:10", "2026-01-02 03:00"]})
        >>> plan = co.ChannelModel(space).fit(logs, as_of="2026-01-09").plan_cascade("a", now="2026-01-10")
        >>> [s.channel for s in plan.steps]
        ['sms', 'email']
        """
        return plan_cascade(self, customer_id, now, max_steps=max_steps, quantile=quantile, **decision_args)

    def _hour_span(self) -> tuple[int, int] | None:
        """Arm range of the hour dimension (None: no hours)."""
        return None if self._hour_dim < 0 else (self._offsets[self._hour_dim], self._offsets[self._hour_dim + 1])

    def _arm_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Dimension and label of every arm, in arm order."""
        dims = np.repeat(np.array(self.space.dimensions, dtype=object), self.space.sizes)
        return dims, np.concatenate([self._labels[d] for d in range(len(self.space.dimensions))])

    def posteriors(self, customer_ids: Iterable[Any] | None = None, *, level: float = 0.9,
                   segments: Iterable[Any] | None = None) -> pd.DataFrame:
        """Expected response rate and credible interval of every arm, for many customers.

        The Beta posteriors the decisions draw from (the same as :meth:`explain`'s
        columns), as one long table for notebooks: no private state needed.

        Parameters
        ----------
        customer_ids : iterable of str or int, optional
            Default: every customer of the model (one row per customer and arm:
            mind the size for millions of customers). Unknown ids get the prior.
        level : float, default 0.9
            Mass of the central credible interval.
        segments : iterable, optional
            One segment per id (None: the customer's own), as in :meth:`rank`.

        Returns
        -------
        DataFrame
            ``customer_id, dimension, arm, sends, responses, prior_mean, alpha,
            beta, mean, ci_low, ci_high``, customers in the order given, arms in
            the arm space's order.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
        >>> m = co.ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05")
        >>> p = m.posteriors(["a", "b"])
        >>> p[["customer_id", "arm", "responses"]].values.tolist()
        [['a', 'email', 0.0], ['a', 'sms', 1.0], ['b', 'email', 0.0], ['b', 'sms', 0.0]]
        >>> bool(((p["ci_low"] <= p["mean"]) & (p["mean"] <= p["ci_high"])).all())
        True
        """
        level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
        st = self._snapshot().store
        if customer_ids is None:
            ids = st.index.ids()
            rows = np.arange(len(ids), dtype=np.int64)
        else:
            ids = list(customer_ids)
            rows = st.index.rows_of(ids)[0] if ids else np.zeros(0, np.int64)
        seg = None
        if segments is not None:
            seg = st.segment_codes(list(segments))
            if seg.shape[0] != rows.shape[0]:
                raise ValueError(f"segments: {seg.shape[0]} values for {rows.shape[0]} customers")
        groups = st.prior_groups(rows, seg)
        arrays = posterior_arrays(st, rows, groups, self._smooth, self._hour_span())
        out = posterior_frame(ids, arrays, *self._arm_labels(), level)
        out.attrs["exploration"] = self._explore  # decisions draw from Beta(alpha / e, beta / e)
        return out

    def explain(self, customer_id: Any, *, level: float = 0.9, now: Any = None,
                policy: ContactPolicy | None = None, consent: Iterable[str] | None = None,
                segment: Any = None) -> pd.DataFrame:
        """The posterior of every arm for one customer, and the contact rules that shape a decision.

        Parameters
        ----------
        customer_id : str or int
        level : float, default 0.9
            Mass of the central credible interval.
        now : timestamp, optional
            Time at which the contact rules are evaluated (default: the model's
            ``as_of_``, so that the output is reproducible).
        policy : ContactPolicy, optional
            Default: the model's policy (None: no rules).
        consent : iterable of str, optional
            As in :meth:`choose_channel`.
        segment : optional
            As in :meth:`choose_channel`: whose prior to show (default: the
            customer's segment from the logs).

        Returns
        -------
        DataFrame
            One row per arm: ``dimension, arm, sends, responses, prior_mean, alpha,
            beta, mean, ci_low, ci_high`` -- sends and responses are the decayed
            statistics, ``alpha``/``beta`` the Beta posterior the decisions draw
            from (hour arms include their neighbours' evidence when
            ``hour_smoothing > 0``) -- then, on channel rows only: ``consent``
            (recorded and not revoked; True everywhere without a policy),
            ``available_from`` (first time caps, the minimum gap and consent
            allow the channel; NaT = not at all), ``quiet_hours`` (local,
            ``"21-08"``), ``reply_latency_p50`` and ``reply_latency_p80``.
            ``attrs["escalate_to_human"]`` and ``attrs["suppressed"]`` tell
            whether a complaint shapes the next decision; ``attrs["exploration"]``
            is the exploration ``e`` in use (the model's ``exploration``, or the
            value ``"auto"`` chose): decisions draw from ``Beta(alpha / e, beta / e)``,
            the same mean with a spread scaled by about ``sqrt(e)``.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> co.ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05").explain("a")[["dimension", "arm", "responses"]].values.tolist()
        [['channel', 'email', 0.0], ['channel', 'sms', 1.0]]
        """
        level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
        snap = self._snapshot()
        st = snap.store
        row = st.index.row_of(customer_id)
        n_arms = self.space.n_arms
        group = int(st.prior_groups(np.array([row]), None if segment is None else st.segment_codes([segment]))[0])
        arrays = posterior_arrays(st, np.array([row]), np.array([group]), self._smooth, self._hour_span())
        out = posterior_frame([customer_id], arrays, *self._arm_labels(), level).drop(columns="customer_id")
        # the contact rules, on channel rows
        n_ch = len(self.space.channels)
        now_ns = now_timestamp(now).value if now is not None or st.watermark_ns == NAT else int(st.watermark_ns)
        pol = self._policy(policy)
        rules = self._rules(snap, np.array([row], np.int64), [customer_id], now_ns, pol, self._all_channels, None,
                            consent, True, None)
        earliest = rules.earliest[0]
        pad = [None] * (n_arms - n_ch)
        out["consent"] = pd.array(list(rules.consented[0]) + pad, dtype="boolean")
        avail = np.where(earliest == NO_TIME, NAT, earliest)
        out["available_from"] = pd.DatetimeIndex(np.concatenate([avail, np.full(n_arms - n_ch, NAT)]).view("M8[ns]")
                                                 ).tz_localize("UTC")
        quiet = [f"{a:02d}-{b:02d}" if (pol is not None and (a, b) != (None, None)) else ""
                 for a, b in ((pol.quiet_hours.get(c, (None, None)) if pol is not None else (None, None))
                              for c in self.space.channels)]
        out["quiet_hours"] = pd.array([q or None for q in quiet] + pad, dtype="string")
        for q, col in ((0.5, "reply_latency_p50"), (0.8, "reply_latency_p80")):
            lat = [self.latency_quantile(c, q) for c in self.space.channels]
            out[col] = pd.to_timedelta(pd.Series(lat + [pd.NaT] * (n_arms - n_ch), dtype="object"))
        out.attrs["segment"] = st.segments[group - 1] if group > 0 else None  # whose prior: None = the population's
        out.attrs["escalate_to_human"] = bool(rules.escalate[0]) if rules.escalate is not None else False
        out.attrs["suppressed"] = bool(rules.suppressed[0]) if rules.suppressed is not None else False
        out.attrs["exploration"] = self._explore
        return out

    # -- persistence ----------------------------------------------------------------
