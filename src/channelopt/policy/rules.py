"""The batch path's contact rules: channel masks, deadlines, consent, caps, quiet hours and hold reasons,
as kernel arrays for :func:`channelopt.kernels.decide.decide_many`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd

from channelopt import kernels as K
from channelopt.core.config import parse_duration
from channelopt.core.values import short
from channelopt.data.schema import parse_booleans
from channelopt.data.tz import as_utc_timestamp
from channelopt.kernels.rules import contact_rules_many, hold_reasons_many
from channelopt.policy.contact import ContactPolicy, channel_bits, policy_rules
from channelopt.state.contact_state import Snapshot
from channelopt.state.history import HISTORY_EMPTY, minutes_up
from channelopt.state.ledger import adjust, customer_key

__all__ = ["RulesMixin"]

_DEFAULT_DEADLINE = pd.Timedelta("24h")


@dataclass
class _Rules:
    """A batch's contact rules as kernel arrays (internal)."""

    earliest: np.ndarray
    quiet: np.ndarray
    value: float
    cost: np.ndarray
    suppressed: np.ndarray | None
    escalate: np.ndarray | None
    consented: np.ndarray
    effective: np.ndarray  # uint32 consent bits per row (a single shared row without a policy)


_NO_RULES = policy_rules(None, ())


def _run(conf: np.ndarray, now_ns: int, bits: np.ndarray, unsub: np.ndarray, mask_bits: np.int64,
         hist_t: np.ndarray, hist_c: np.ndarray, complaint: np.ndarray, promotional: bool,
         n_ch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`contact_rules_many` on these rows: ``(earliest, effective, suppressed, escalate)``."""
    n = bits.shape[0]
    earliest = np.empty((n, n_ch), dtype=np.int64)
    effective = np.empty(n, dtype=np.uint32)
    suppressed = np.empty(n, dtype=bool)
    escalate = np.empty(n, dtype=bool)
    hist_t.flags.writeable = False  # the single-customer path passes the store's read-only history: one signature
    hist_c.flags.writeable = False
    contact_rules_many(conf, np.int64(now_ns), bits, unsub, mask_bits, hist_t, hist_c, complaint, bool(promotional),
                       earliest, effective, suppressed, escalate)
    return earliest, effective, suppressed, escalate


def _consented(effective: np.ndarray, n_ch: int) -> np.ndarray:
    """``[rows, n_ch]`` bool: the channels each row's effective consent bits allow."""
    return (effective[:, None] & (np.uint32(1) << np.arange(n_ch, dtype=np.uint32))[None, :]) != 0


def _positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be a positive number, got {value!r}")
    return v


class RulesMixin:
    """Contact rules of a batch of decisions (mixed into :class:`~channelopt.ChannelModel`)."""

    def _snapshot(self) -> Snapshot:
        """The one snapshot (store and contact events together) a decision reads; before any fit, the
        model's cold store (no customer, the declared prior: :func:`channelopt.state.declared.cold_store`)
        with the contact events recorded so far."""
        snap = self._contacts.current()
        if snap.store is None:
            return Snapshot(self._cold, snap.folded, snap.events)
        return snap

    def _mask(self, allowed: Iterable[str] | None, exclude: Iterable[str] | None) -> np.ndarray:
        if allowed is None and not exclude:
            return self._all_channels
        mask = np.zeros_like(self._all_channels) if allowed is not None else self._all_channels.copy()
        for name, value in (("allowed_channels", allowed), ("exclude", exclude)):
            if value is None:
                continue
            if isinstance(value, str):
                value = [value]
            for c in value:
                pos = self._channel_pos.get(c)
                if pos is None:
                    raise ValueError(f"{name}: unknown channel {c!r} (known: {', '.join(self.space.channels)})")
                mask[pos] = 1 if name == "allowed_channels" else 0
        return mask

    def _policy(self, policy: ContactPolicy | None) -> ContactPolicy | None:
        p = self.policy if policy is None else policy
        if p is not None:
            if not isinstance(p, ContactPolicy):
                raise ValueError(f"policy: expected a ContactPolicy, got {type(p).__name__}")
            p.check_channels(self.space.channels)
        return p

    def _deadline_ns(self, now_ns: int, deadline: Any, policy: ContactPolicy | None) -> int:
        if deadline is None:
            span = policy.deadline if policy is not None else _DEFAULT_DEADLINE
            return now_ns + int(span.value)
        if isinstance(deadline, (pd.Timestamp, datetime)):
            ns = as_utc_timestamp(deadline, "deadline").as_unit("ns").value
        else:
            try:
                ns = now_ns + int(parse_duration(deadline, "deadline").value)
            except ValueError:
                ns = as_utc_timestamp(deadline, "deadline").as_unit("ns").value
        if ns < now_ns:
            raise ValueError(f"deadline: must not be before now ({pd.Timestamp(now_ns, tz='UTC')}), "
                             f"got {pd.Timestamp(ns, tz='UTC')}")
        return ns

    def _rules(self, snap: Snapshot, rows: np.ndarray, ids: Any, now_ns: int, policy: ContactPolicy | None,
               mask: np.ndarray, table: pd.DataFrame | None, consent: Iterable[str] | None, promotional: bool,
               value: float | None, planned: Iterable[tuple[int, str]] = ()) -> _Rules:
        """Contact rules of a batch as arrays for the kernel (see :mod:`channelopt.kernels.decide`)."""
        st = snap.store
        n_ch = len(self.space.channels)
        n = rows.shape[0]
        if value is None:
            value = policy.value if policy is not None else None
        v = float("nan") if value is None else _positive(value, "value")
        mask_bits = np.int64(np.sum(mask.astype(np.int64) << np.arange(n_ch)))
        n_hist = st.history_min.shape[1]
        if policy is None:  # one row shared by every customer: the allowed channels, now
            earliest, effective, _, _ = _run(_NO_RULES, now_ns, np.zeros(1, np.uint32), np.zeros(1, np.uint32),
                                             mask_bits, np.full((1, n_hist), HISTORY_EMPTY, np.int32),
                                             np.zeros((1, n_hist), np.int8), np.full(1, HISTORY_EMPTY, np.int32),
                                             promotional, n_ch)
            return _Rules(earliest, np.zeros(n_ch, np.int64), v, np.zeros(n_ch), None, None,
                          _consented(effective, n_ch), effective)
        known = rows >= 0
        if st.n_customers:
            safe = np.where(known, rows, 0)
            bits = np.where(known, st.consent[safe], 0).astype(np.uint32)
            unsub = np.where(known, st.unsubscribed[safe], 0).astype(np.uint32)
            hist_t = np.where(known[:, None], st.history_min[safe], HISTORY_EMPTY).astype(np.int32)
            hist_c = np.where(known[:, None], st.history_channel[safe], 0).astype(np.int8)
            complaint = np.where(known, st.last_complaint_min[safe], HISTORY_EMPTY).astype(np.int32)
        else:  # nobody known (an unfitted model, or everyone forgotten): nothing recorded in the store
            bits, unsub = np.zeros(n, np.uint32), np.zeros(n, np.uint32)
            hist_t = np.full((n, n_hist), HISTORY_EMPTY, np.int32)
            hist_c = np.zeros((n, n_hist), np.int8)
            complaint = np.full(n, HISTORY_EMPTY, np.int32)
        recorded = snap.events
        if recorded:
            if n == 1 and not isinstance(ids, pd.Series):
                hits = [0] if customer_key(ids[0]) in recorded else []
            else:
                hits = np.flatnonzero(pd.Series(ids).map(customer_key).isin(list(recorded)).to_numpy())
            for i in hits:
                events = recorded.get(customer_key(ids.iloc[i] if isinstance(ids, pd.Series) else ids[i]), ())
                bits[i], unsub[i] = adjust(events, int(bits[i]), int(unsub[i]), hist_t[i:i + 1], hist_c[i:i + 1])
        for ns, ch in planned:
            K.remember_sends(np.zeros(1, np.int64), minutes_up(np.array([ns])),
                             np.array([self._channel_pos[ch]], np.int8), hist_t, hist_c)
        if table is not None:
            for c, col in self._consent_columns(table):
                given, granted = parse_booleans(table[col], col)
                bit = np.uint32(1 << c)
                bits = np.where(given & granted, bits | bit, np.where(given, bits & ~bit, bits)).astype(np.uint32)
        if consent is not None:
            bits = np.full(n, channel_bits(self.space.channels, consent), dtype=np.uint32)
        # an unsubscription is lifted only by update_consent(granted=...), never by a table or consent=
        quiet, cost, conf = self._policy_arrays(policy)
        earliest, effective, suppressed, escalate = _run(conf, now_ns, bits, unsub, mask_bits, hist_t, hist_c,
                                                         complaint, promotional, n_ch)
        return _Rules(earliest, quiet, v, cost, suppressed, escalate, _consented(effective, n_ch), effective)

    def _consent_columns(self, table: pd.DataFrame) -> list[tuple[int, str]]:
        """``(channel code, column)`` of the table's ``consent_<channel>`` columns; any other ``consent_*`` is an error."""
        out = []
        for col in table.columns:
            if isinstance(col, str) and col.startswith("consent_"):
                pos = self._channel_pos.get(col[len("consent_"):])
                if pos is None:
                    raise ValueError(f"customers: column {short(col)} names no channel of this model (expected "
                                     f"{', '.join('consent_' + c for c in self.space.channels)})")
                out.append((pos, col))
        return sorted(out)

    def _policy_arrays(self, policy: ContactPolicy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quiet-hour masks, costs per channel and the rules configuration (:func:`policy_rules`), cached per
        policy object (policies are frozen)."""
        hit = self._policy_cache.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit[1], hit[2], hit[3]
        quiet = np.array([policy.quiet_mask(c) for c in self.space.channels], dtype=np.int64)
        cost = np.array([policy.cost.get(c, 0.0) for c in self.space.channels], dtype=np.float64)
        conf = policy_rules(policy, self.space.channels)
        if len(self._policy_cache) >= 16:
            self._policy_cache.clear()
        self._policy_cache[id(policy)] = (policy, quiet, cost, conf)  # holds the policy: its id stays unique
        return quiet, cost, conf

    def _hold_reasons(self, status: np.ndarray, rules: _Rules, deadline_ns: int, policy: ContactPolicy | None,
                      ) -> np.ndarray:
        """Reason code per decision: -1 = sent, else an index into REASONS (:func:`hold_reasons_many`)."""
        reason = np.empty(status.shape[0], dtype=np.int64)
        suppressed = rules.suppressed if rules.suppressed is not None else np.zeros(rules.effective.shape[0], bool)
        hold_reasons_many(np.ascontiguousarray(status, dtype=np.int8), policy is not None, suppressed, rules.effective,
                          rules.earliest, np.int64(deadline_ns), reason)
        return reason
