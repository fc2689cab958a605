"""Contact-state events between fits: sends recorded, consent granted or revoked, customers forgotten,
inbound contacts observed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Self

import numpy as np
import pandas as pd

from channelopt.core.validation import check_scalar
from channelopt.core.values import short
from channelopt.data.schema import parse_booleans
from channelopt.data.tz import NAT, as_utc_timestamp, now_timestamp, to_utc_ns
from channelopt.policy.contact import channel_bits
from channelopt.state.contact_state import Snapshot, check_ids, drop_customers
from channelopt.state.history import minutes_up
from channelopt.state.ledger import Event, apply_events, customer_key

__all__ = ["EventsMixin"]

def _column_ids(ids: pd.Series, kind: str | None) -> list[Any]:
    """A table's ``customer_id`` column, validated as :func:`check_ids` does (errors name the row)."""
    return check_ids(ids.tolist(), kind, "customers: column 'customer_id'", "row")


class EventsMixin:
    """Contact-state events (mixed into :class:`~channelopt.ChannelModel`)."""

    def record_send(self, customer_id: Any, channel: str, at: Any = None) -> None:
        """Remember a send made between fits, so caps and the minimum gap count it (thread-safe).

        The next ``fit`` / ``partial_fit`` folds it into the model's contact
        history (where the same send arriving again through the log is kept
        once), and :meth:`save` includes it.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = co.ChannelModel(space, policy=co.ContactPolicy(min_gap="1D")).fit(logs, as_of="2026-01-05")
        >>> model.update_consent("a", granted=["email", "sms"])
        >>> model.record_send("a", "email", at="2026-01-06 09:00")
        >>> model.choose_channel("a", now="2026-01-06 12:00", deadline="6h").hold_reason
        'cap'
        """
        if not isinstance(channel, str) or channel not in self._channel_pos:
            raise ValueError(f"channel: unknown channel {short(channel)} (known: {', '.join(self.space.channels)})")
        pos = self._channel_pos[channel]
        (cid,) = check_ids([customer_id], self._contacts.id_kind())
        ns = now_timestamp(None).value if at is None else as_utc_timestamp(at, "at").value
        minute = int(minutes_up(np.array([ns]))[0])
        self._contacts.record([(cid, "send", minute, pos, 0, 0)])

    def update_consent(self, customers: Any, *, granted: Iterable[str] = (), revoked: Iterable[str] = ()) -> None:
        """Record consent: for one customer (``granted`` / ``revoked`` channels), or from a table.

        The change is committed to the model's contact store (see
        :mod:`channelopt.state.contact_store`) before the call returns, and is never
        discarded by a fit, a refit, a reload or a crash. Everything is checked
        first: a call that raises records nothing.

        Parameters
        ----------
        customers : customer id, or DataFrame
            A table has ``customer_id`` and ``consent_<channel>`` columns
            (true/false, yes/no, 1/0 in any case, as booleans, numbers or text;
            null leaves the record unchanged), like the customers table of
            :meth:`rank`. Any other ``consent_*`` column, or any other value, is
            an error naming the column, row and value.
        granted, revoked : iterable of str
            For a single customer. Granting a channel also lifts an earlier
            unsubscription from it.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = co.ChannelModel(space, policy=co.ContactPolicy()).fit(logs, as_of="2026-01-05")
        >>> model.update_consent(pd.DataFrame({"customer_id": ["a"], "consent_email": ["yes"]}))
        >>> model.choose_channel("a", now="2026-01-06 12:00").channel
        'email'
        >>> model.update_consent("a", revoked=["email"])
        >>> model.choose_channel("a", now="2026-01-06 12:00").hold_reason
        'no_consent'
        """
        channels = self.space.channels
        if isinstance(customers, pd.DataFrame):
            if "customer_id" not in customers.columns:
                raise ValueError("customers: missing required column 'customer_id'")
            if customers.columns.duplicated().any():
                dup = customers.columns[customers.columns.duplicated()][0]
                raise ValueError(f"customers: duplicate column {short(dup)}")
            cols = self._consent_columns(customers)
            if not cols:
                raise ValueError("customers: no consent_<channel> column (expected one of "
                                 f"{', '.join('consent_' + c for c in channels)})")
            grant = np.zeros(len(customers), np.int64)
            revoke = np.zeros(len(customers), np.int64)
            for c, col in cols:
                given, yes = parse_booleans(customers[col], col)
                grant |= np.where(given & yes, 1 << c, 0)
                revoke |= np.where(given & ~yes, 1 << c, 0)
            ids = _column_ids(customers["customer_id"], self._contacts.id_kind())
            self._contacts.record([(cid, "consent", 0, -1, int(g), int(r))
                                   for cid, g, r in zip(ids, grant, revoke) if g or r])
            return
        if isinstance(granted, str) or isinstance(revoked, str):
            raise ValueError("granted / revoked: expected a list of channel names, got a string "
                             f"({short(granted if isinstance(granted, str) else revoked)}); write [\"email\"]")
        g = channel_bits(channels, list(granted))
        r = channel_bits(channels, list(revoked))
        if g & r:
            raise ValueError("granted and revoked name the same channel")
        (cid,) = check_ids([customers], self._contacts.id_kind())
        if g or r:
            self._contacts.record([(cid, "consent", 0, -1, g, r)])

    def _continue_contacts(self, previous: Self) -> None:
        """Take over ``previous``'s contact store and state, so that :meth:`fit` refits over it (CLI refits)."""
        prev = previous._contacts
        self._contacts.attach(prev.store_db(), prev.snap.store, prev.snap.folded)  # store None: never fitted

    def forget(self, customer_ids: Any) -> int:
        """Erase customers: statistics, index entries, contact events, segment and history.

        The model in memory and its contact store (see :mod:`channelopt.state.contact_store`)
        no longer hold the customers when this returns; :meth:`save` then writes
        model files without any byte of their ids (older versions are removed).
        A tombstone -- a keyed hash, not the id -- stops log rows of theirs sent
        before now from being learned again by a later fit, until those logs are
        purged. Other customers' decisions are unchanged. The population and
        segment priors still include the customers' past sends until the next
        :meth:`fit` recomputes them. Other processes using the same model drop
        the customers when they next load or save it.

        Parameters
        ----------
        customer_ids : id or sequence of ids

        Returns
        -------
        int
            How many of the customers the model or its contact store knew.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": [None, None]})
        >>> model = co.ChannelModel(space).fit(logs, as_of="2026-01-05")
        >>> model.forget(["a"]), model.state_.n_customers
        (1, 1)
        >>> model.fit(logs, as_of="2026-01-05").state_.n_customers   # the old log does not bring "a" back
        1
        """
        values = [customer_ids] if isinstance(customer_ids, (str, int, np.integer)) else list(customer_ids)
        cs = self._contacts
        with self._lock:
            ids = check_ids(values, cs.id_kind())
            if not ids:
                return 0
            db = cs.store_db()
            with cs.write_lock:
                snap, _, _ = cs.pending()
                keys = {customer_key(i) for i in ids}
                st = snap.store
                known = set()
                if st is not None:
                    rows, _ = st.index.rows_of(pd.Series(ids, dtype=object if st.index.kind == "str" else None))
                    keep = np.ones(st.n_customers, dtype=bool)
                    keep[rows[rows >= 0]] = False
                    known = {customer_key(i) for i, r in zip(ids, rows) if r >= 0}
                    st = drop_customers(st, keep)
                known |= keys & set(snap.events)
                db.forget(sorted(keys, key=str), now_timestamp(None).value)
                events = {k: v for k, v in snap.events.items() if k not in keys}
                cs.snap = Snapshot(st, snap.folded, events)
        return len(known)

    def observe_inbound(self, contacts: Any, *, weight: float | None = None) -> Self:
        """Count inbound contacts (a customer writing to us on a channel) as weighted successes.

        Parameters
        ----------
        contacts : DataFrame
            ``customer_id, channel, at``.
        weight : float, optional
            Successes per contact (default: the model's ``inbound_weight``),
            decayed like sends by the time from ``at`` to the model's watermark.
            Not idempotent: observe each contact once.

        Examples
        --------
        >>> import channelopt as co
        >>> space = co.ArmSpace(channels=["email", "whatsapp"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["email"],
        ...                      "responded_at": [None]})
        >>> model = co.ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05")
        >>> model.observe_inbound(pd.DataFrame({"customer_id": ["a"], "channel": ["whatsapp"],
        ...                                     "at": ["2026-01-04"]})).explain("a")["responses"].tolist()
        [0.0, 1.0]
        """
        w = self.config.inbound_weight if weight is None else check_scalar(weight, "weight", float, min_val=0)
        for col in ("customer_id", "channel", "at"):
            if col not in contacts.columns:
                raise ValueError(f"contacts: missing required column {col!r}")
        codes = contacts["channel"].map(self._channel_pos)
        bad = codes.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"column 'channel': unknown channel {contacts['channel'].iloc[i]!r} in row {i} "
                             f"(known: {', '.join(self.space.channels)})")
        at = to_utc_ns(contacts["at"], "at", allow_null=False)
        with self._lock:
            st = self.state_  # learned state needed (an unfitted model: fit an empty log with as_of first)
            # new customers get empty rows in every array: the ledger's growth (a "keep" of no consent bit)
            ids = contacts["customer_id"].reset_index(drop=True)
            grown = apply_events(st, [Event(0, customer_key(c), "keep", 0, -1, 0, 0) for c in ids])
            rows, _ = grown.index.rows_of(ids)
            sends, responses = np.array(grown.sends), np.array(grown.responses)
            squares = np.array(grown.squared_weights)
            dt = np.maximum(st.watermark_ns - at, 0) if st.watermark_ns != NAT else np.zeros_like(at)
            h = self.config.half_life_ns
            decay = np.exp2(-dt / h) if h else np.ones(at.shape[0])
            wt = w * decay
            ch = codes.to_numpy(dtype=np.int64)
            np.add.at(sends, (rows, ch), wt.astype(np.float32))
            np.add.at(responses, (rows, ch), wt.astype(np.float32))
            # a contact counts as ``w`` sends of the contact's decay weight (``w`` of them squared: w * decay ** 2)
            np.add.at(squares, (rows, ch), (w * decay * decay).astype(np.float32))
            self.state_ = replace(grown, sends=sends, responses=responses, squared_weights=squares)
        return self
