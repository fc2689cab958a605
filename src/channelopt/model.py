"""ChannelModel: fit / partial_fit / choose_channel / rank / explain / save / load."""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import pandas as pd

from . import _kernels as K
from ._persist import MANIFEST, version_directory
from ._posteriors import posterior_arrays, posterior_frame
from ._decide import INFEASIBLE, NO_TIME, NOT_WORTH_COST, OK, decide_many, decide_one
from ._contact_state import ContactState, Snapshot, check_ids, drop_customers
from ._contacts import FILE_NAME as CONTACTS_FILE, ContactStore
from ._ledger import Event, adjust, apply_events, customer_key
from ._single import choose_fast
from ._time import NAT, NS_PER_S, as_utc_timestamp, zone_codes
from ._version import __version__
from .arms import ArmSpace
from .config import ModelConfig, _whole, check_zone, parse_duration
from .exceptions import NOT_FITTED, NotFittedError
from .contact import HOLD_REASONS, ContactPolicy, channel_bits, earliest_send_times
from .schema import encode_logs, parse_booleans
from .sources import iter_frames, read_table
from .state import HISTORY_EMPTY, NS_PER_MIN, Ingestion, PosteriorStore, minutes_up
from .timing import latency_quantile, slot_tables
from ._values import short

if TYPE_CHECKING:
    from .cascade import CascadePlan

__all__ = ["ChannelModel", "Decision", "load"]

#: Every hold reason: the contact policy's, then "no_allowed_channel" (no policy,
#: every channel masked by the call) and "capacity" (rank's per-channel capacity).
_REASONS = HOLD_REASONS + ("no_allowed_channel", "capacity")
_DEFAULT_DEADLINE = pd.Timedelta("24h")
_SEGMENT_MIN_REPLIES = 30  # replies a (segment, channel) needs before its own latency is used


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


def _positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be a positive number, got {value!r}")
    return v


def hour_kernel(width: float) -> np.ndarray:
    """Weights of the circular hour smoothing: a Gaussian of ``width`` hours, 1 for the hour itself.

    A reply at 09:00 counts fully for 09:00 and as weaker evidence for the
    neighbouring hours (0.61 one hour away at width 1). Evidence is counted more
    than once (about 2.5 times at width 1), so the hour posteriors are somewhat
    overconfident: keep widths small (1-2 h).

    Examples
    --------
    >>> hour_kernel(0).tolist()
    [1.0]
    >>> w = hour_kernel(1.0); len(w), float(w[3]), round(float(w[2]), 3)
    (7, 1.0, 0.607)
    """
    if width <= 0:
        return np.ones(1)
    half = min(int(np.ceil(3 * width)), 11)
    k = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-0.5 * (k / width) ** 2)



@dataclass(frozen=True)
class Decision:
    """One decision for one customer.

    Attributes
    ----------
    customer_id : str or int
    channel : str or None
        None when the decision is to hold (see ``hold_reason``).
    wording : str or None
        None when the arm space has no wordings.
    hour : int or None
        Chosen local send hour (0-23), None without an hour dimension.
    send_at : pandas.Timestamp or None
        UTC time to send: the next start of ``hour`` in the customer's zone at or
        after ``now`` (``now`` itself when already in that hour).
    propensity : float
        Probability that Thompson sampling picks ``channel`` among the allowed
        channels (Monte Carlo, never 0); 1.0 for a hold.
    score : float
        The chosen channel's sampled response probability.
    hold_reason : str or None
        Why nothing is sent (see :mod:`channelopt.contact`: ``suppressed``,
        ``no_consent``, ``cap``, ``quiet_hours_until_deadline``,
        ``not_worth_cost``; ``no_allowed_channel`` without a policy), else None.
    extra : mapping
        Chosen arm of each extra dimension of the arm space.
    escalate_to_human : bool
        The customer complained recently and has not been contacted since.
    """

    customer_id: Any
    channel: str | None
    wording: str | None
    hour: int | None
    send_at: pd.Timestamp | None
    propensity: float
    score: float
    hold_reason: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    draws: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    space: ArmSpace = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    escalate_to_human: bool = False

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        """The Thompson draw of every arm, by dimension (NaN for masked channels)."""
        out: dict[str, dict[str, float]] = {}
        offsets = self.space.offsets
        for d, dim in enumerate(self.space.dimensions):
            labels = self.space.labels(dim)
            out[dim] = {lab: float(self.draws[offsets[d] + k]) for k, lab in enumerate(labels)}
        return out


def _round_of(now_ns: int) -> np.uint64:
    """Decision round of a timestamp: whole seconds since the epoch (documented in the README)."""
    return np.uint64(now_ns // NS_PER_S & 0xFFFFFFFFFFFFFFFF)


#: The constructor's parameters (see :meth:`ChannelModel.get_params`).
_PARAMS = ("space", "response_window", "half_life", "seed", "default_tz", "propensity_draws", "prior_max_strength",
           "prior_sample", "policy", "hour_smoothing", "inbound_weight", "resolve", "contact_store")


class ChannelModel:
    """Per-customer Thompson-sampling model of channel, wording, local hour and weekday.

    Parameters
    ----------
    space : ArmSpace
        The dimensions decided over.
    response_window : str or Timedelta, default "72h"
        A reply within this counts as a success; a send is counted (success or
        failure) once this has passed as of the fit time (see ``resolve``).
    half_life : str, Timedelta or None, default "90D"
        Half-life of evidence in event time; None keeps everything.
    seed : int, default 0
        Seed of the counter-based randomness (decisions are reproducible).
    default_tz : str, default "UTC"
        Zone of customers whose ``tz`` is unknown.
    propensity_draws : int, optional
        Deprecated, no effect: the propensity is computed by quadrature
        (``channelopt._propensity``), not by Monte Carlo. Passing it warns;
        it will be removed in channelopt 0.3.
    prior_max_strength : float, default 1000
        Bound on the empirical-Bayes prior strength.
    prior_sample : int, default 5000
        Customers per arm used to fit the prior.
    policy : ContactPolicy, optional
        Contact rules for every decision (None: no rules at all).
    hour_smoothing : float, default 1.0
        Width in hours of the circular kernel sharing evidence between neighbouring hours (0: off).
    inbound_weight : float, default 1.0
        Successes counted per inbound contact (:meth:`observe_inbound`).
    resolve : {"window", "reply"}, default "window"
        Count every send when its response window closes (unbiased), or a
        replied send at its reply ("reply": faster, overrates arms whose traffic grows).

    Attributes
    ----------
    state_ : PosteriorStore
        Everything learned (after ``fit``).
    as_of_ : pandas.Timestamp
        The watermark: the clock of the last fit.
    last_fit_ : dict
        Row counts of the last fit: rows, counted, responses, pending, before_watermark, after_as_of.

    Notes
    -----
    This model applies no contact rules (consent, caps, quiet hours): every
    channel of the arm space is eligible unless ``allowed_channels`` /
    ``exclude`` say otherwise.

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], wordings=["plain", "urgent"])
    >>> logs = pd.DataFrame({"customer_id": ["c-1", "c-1", "c-2"],
    ...     "sent_at": pd.to_datetime(["2026-11-01 09:00", "2026-11-02 18:00", "2026-11-01 10:00"], utc=True),
    ...     "channel": ["email", "sms", "sms"], "wording": ["plain", "urgent", "plain"],
    ...     "responded_at": pd.to_datetime(["2026-11-01 09:30", None, None], utc=True)})
    >>> model = ChannelModel(space, seed=7).fit(logs, as_of="2026-11-20")
    >>> d = model.choose_channel("c-1", now=pd.Timestamp("2026-11-23 09:00", tz="UTC"))
    >>> d.channel in ("email", "sms") and 0 < d.propensity <= 1
    True
    """

    def __init__(self, space: ArmSpace, response_window: Any = "72h", half_life: Any = "90D", seed: int = 0,
                 default_tz: str = "UTC", propensity_draws: int | None = None, prior_max_strength: float = 1000.0,
                 prior_sample: int = 5000, policy: ContactPolicy | None = None, hour_smoothing: float = 1.0,
                 inbound_weight: float = 1.0, resolve: str = "window", contact_store: Any = None) -> None:
        # the parameters, stored as given (the single source of truth: get_params / set_params / clone)
        self.__dict__.update(space=space, response_window=response_window, half_life=half_life, seed=seed,
                             default_tz=default_tz, propensity_draws=propensity_draws,
                             prior_max_strength=prior_max_strength, prior_sample=prior_sample, policy=policy,
                             hour_smoothing=hour_smoothing, inbound_weight=inbound_weight, resolve=resolve,
                             contact_store=contact_store)
        if propensity_draws is not None:
            warnings.warn("propensity_draws is deprecated and has no effect (propensities are exact, by "
                          "quadrature); it will be removed in channelopt 0.3", FutureWarning, stacklevel=2)
        self._derive()
        self._lock = threading.Lock()  # one fit, save or erasure at a time
        self._contacts = ContactState(space.channels, None if contact_store is None else Path(contact_store))

    def _derive(self) -> None:
        """Check the parameters and compute what is derived from them (on construction and on
        every :meth:`set_params`): the configuration and the caches of the decision paths."""
        space, policy, contact_store = self.space, self.policy, self.contact_store
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        draws = 256 if self.propensity_draws is None else self.propensity_draws
        config = ModelConfig(self.response_window, self.half_life, self.seed, self.default_tz, draws,
                             self.prior_max_strength, self.prior_sample, self.hour_smoothing, self.inbound_weight,
                             self.resolve)
        if policy is not None:
            if not isinstance(policy, ContactPolicy):
                raise ValueError(f"policy: expected a ContactPolicy or None, got {type(policy).__name__}")
            policy.check_channels(space.channels)
        if contact_store is not None and not isinstance(contact_store, (str, os.PathLike)):
            raise ValueError(f"contact_store: expected a path or None, got {type(contact_store).__name__}")
        dims = space.dimensions
        self.__dict__.update(
            config=config, _policy_cache={}, _smooth=hour_kernel(config.hour_smoothing),
            _channel_pos={c: i for i, c in enumerate(space.channels)},
            _all_channels=np.ones(len(space.channels), dtype=np.uint8), _offsets=space.offsets, _dims=dims,
            _labels=[np.array(space.labels(d), dtype=object) for d in dims],
            _hour_dim=dims.index("hour") if "hour" in dims else -1,
            _wording_dim=dims.index("wording") if "wording" in dims else -1,
            _weekday_dim=dims.index("weekday") if "weekday" in dims else -1,
            _extra_dims=[(k, dims.index(k)) for k in space.extra])
        self.__dict__.pop("_single_view", None)  # the fast path's cache of the above

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as given (scikit-learn's convention).

        Examples
        --------
        >>> m = ChannelModel(ArmSpace(channels=["email", "sms"]), seed=3)
        >>> m.get_params()["seed"], ChannelModel(**m.get_params()).seed
        (3, 3)
        """
        return {name: self.__dict__[name] for name in _PARAMS}

    def set_params(self, **params: Any) -> "ChannelModel":
        """Change parameters; every decision after the call uses them. Returns the model.

        A fitted model keeps what it learned (a new ``seed`` draws differently
        from the same posteriors; a new ``half_life`` applies from the next
        fit). Its arm space and contact store cannot change (fit a new model).
        A value that does not validate raises and changes nothing. Assigning
        an attribute (``model.seed = 5``) is the same call.

        Examples
        --------
        >>> m = ChannelModel(ArmSpace(channels=["email", "sms"])).set_params(seed=5, half_life=None)
        >>> m.config.seed, m.config.half_life
        (5, None)
        >>> m.set_params(sede=5)
        Traceback (most recent call last):
        ...
        ValueError: Invalid parameter 'sede' for estimator ChannelModel. Valid parameters are: ['contact_store', 'default_tz', 'half_life', 'hour_smoothing', 'inbound_weight', 'policy', 'prior_max_strength', 'prior_sample', 'propensity_draws', 'resolve', 'response_window', 'seed', 'space'].
        """
        for name in params:
            if name not in _PARAMS:
                raise ValueError(f"Invalid parameter {name!r} for estimator ChannelModel. "
                                 f"Valid parameters are: {sorted(_PARAMS)!r}.")
        fixed = self._contacts.snap.store is not None or self._contacts.db is not None
        for name in ("space", "contact_store"):
            if name in params and params[name] != self.__dict__[name] and fixed:
                raise ValueError(f"{name}: cannot change on a fitted model (or one whose contact store is "
                                 f"open); build a new ChannelModel")
        if params.get("propensity_draws") is not None:
            warnings.warn("propensity_draws is deprecated and has no effect (propensities are exact, by "
                          "quadrature); it will be removed in channelopt 0.3", FutureWarning, stacklevel=2)
        old = {name: self.__dict__[name] for name in params}
        self.__dict__.update(params)
        try:
            self._derive()
        except BaseException:
            self.__dict__.update(old)
            self._derive()
            raise
        if not fixed and ("space" in params or "contact_store" in params):
            store = self.contact_store
            self._contacts = ContactState(self.space.channels, None if store is None else Path(store))
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PARAMS:  # a parameter: validated, and the derived state follows
            self.set_params(**{name: value})
        else:
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        fitted = f", customers={self.state_.n_customers}" if hasattr(self, "state_") else ""
        return (f"ChannelModel(channels={list(self.space.channels)}, response_window='{self.config.response_window}', "
                f"half_life={self.half_life!r}, seed={self.seed}{fitted})")

    @property
    def state_(self) -> PosteriorStore:
        """The posterior store decisions read (see :class:`channelopt.state.PosteriorStore`)."""
        st = self._contacts.snap.store
        if st is None:
            raise NotFittedError(NOT_FITTED)
        return st

    @state_.setter
    def state_(self, store: PosteriorStore) -> None:
        self._contacts.replace_store(store)

    # -- learning -------------------------------------------------------------------
    def fit(self, logs: Any, as_of: Any = None, *, progress: bool = False) -> "ChannelModel":
        """Learn from scratch from a response log.

        Parameters
        ----------
        logs : DataFrame, iterable of DataFrames, or Parquet/CSV path or glob
            The response log (one row per send; schema in :mod:`channelopt.schema`).
        as_of : timestamp, optional
            The clock: sends resolved by then are counted, later ones are pending.
            Default: the latest ``sent_at`` / ``responded_at`` in the logs.
        progress : bool
            Show a progress bar over chunks.

        Returns
        -------
        self

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": [1, 2], "sent_at": ["2026-01-01", "2026-01-02"],
        ...                      "channel": ["email", "sms"], "responded_at": [None, "2026-01-02 01:00"]})
        >>> ChannelModel(space).fit(logs, as_of="2026-01-10").last_fit_["counted"]
        2
        """
        return self._ingest(False, logs, as_of, progress)

    def partial_fit(self, logs: Any, as_of: Any = None, *, progress: bool = False) -> "ChannelModel":
        """Add a log to what is learned: counts the sends resolved since the watermark.

        Re-running with the same logs and ``as_of`` changes nothing; see
        :mod:`channelopt.state` for the exact rule, including late rows.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": [1], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> m = ChannelModel(space).partial_fit(logs, as_of="2026-01-05")
        >>> m.partial_fit(logs, as_of="2026-01-05").last_fit_["counted"]   # same night again: a no-op
        0
        """
        return self._ingest(True, logs, as_of, progress)

    def _ingest(self, incremental: bool, logs: Any, as_of: Any, progress: bool,
                previous: PosteriorStore | None = None) -> "ChannelModel":
        as_of_ns = None if as_of is None else as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        cs = self._contacts
        with self._lock:
            # the base and the contact events are read together, under both locks: concurrent fits apply
            # one after the other, and every event is either folded in here or kept for the next snapshot
            with cs.write_lock:
                snap, events, reach = cs.pending()
                tombs = cs.db.tombstones() if cs.db is not None else {}
            if previous is None:
                previous = snap.store
            base = previous if incremental else None
            if base is None:
                base = PosteriorStore.empty(self.space, self.config.default_tz)
            if previous is not None and not incremental:
                # consent is not learned from logs: a refit keeps the recorded consent
                events = _consent_events(previous) + events
            base = apply_events(base, events)
            # a refit from scratch keeps the consent state: recorded grants, and the unsubscriptions
            # the previous model had seen (rows sent by its watermark are not applied again)
            carried = previous is not None and not incremental and previous.watermark_ns != NAT
            job = Ingestion(base, self.config, as_of_ns,
                            unsub_after_ns=previous.watermark_ns if carried else None)
            frames = iter_frames(logs, name="logs")
            if progress:
                from tqdm.auto import tqdm

                frames = tqdm(frames, desc="reading logs", unit="chunk")
            offset = 0
            seen = empty_seen = False
            for frame in frames:
                if len(frame) == 0:  # e.g. a header-only file in a glob: skipped wherever it comes
                    empty_seen = True
                    continue
                n_rows = len(frame)
                if tombs:
                    frame = _without_forgotten(frame, cs.db, tombs)
                if len(frame):
                    job.add(encode_logs(frame, self.space, self.config.default_tz, row_offset=offset))
                offset += n_rows
                seen = True
            if not seen:
                raise ValueError("logs: the frame is empty (0 rows)" if empty_seen else "logs: no frames to learn from")
            store = job.finish()
            # commit: one snapshot swap; readers holding the old snapshot are unaffected, and the events
            # recorded while the fit ran stay in the new snapshot
            cs.publish(store, reach)
            self.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC")
            self.last_fit_ = dict(job.counts)
        return self

    # -- decisions ------------------------------------------------------------------
    def _state(self) -> PosteriorStore:
        return self._snapshot().store  # type: ignore[return-value]

    def _snapshot(self) -> Snapshot:
        """The one snapshot (store and contact events together) a decision reads."""
        snap = self._contacts.current()
        if snap.store is None:
            raise NotFittedError(NOT_FITTED)
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
        """Contact rules of a batch as arrays for the kernel (see :mod:`channelopt._decide`)."""
        st = snap.store
        n_ch = len(self.space.channels)
        n = rows.shape[0]
        if value is None:
            value = policy.value if policy is not None else None
        v = float("nan") if value is None else _positive(value, "value")
        if policy is None:
            earliest = np.where(mask.astype(bool), now_ns, NO_TIME).astype(np.int64)[None, :]
            return _Rules(earliest, np.zeros(n_ch, np.int64), v, np.zeros(n_ch), None, None, mask[None, :].astype(bool))
        known = rows >= 0
        safe = np.where(known, rows, 0)
        bits = np.where(known, st.consent[safe], 0).astype(np.uint32)
        unsub = np.where(known, st.unsubscribed[safe], 0).astype(np.uint32)
        hist_t = np.where(known[:, None], st.history_min[safe], HISTORY_EMPTY).astype(np.int32)
        hist_c = np.where(known[:, None], st.history_channel[safe], 0).astype(np.int8)
        complaint_min = np.where(known, st.last_complaint_min[safe], HISTORY_EMPTY)
        complaint = np.where(complaint_min != HISTORY_EMPTY, complaint_min.astype(np.int64) * NS_PER_MIN, NAT)
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
        effective = bits & ~unsub & np.uint32(int(np.sum(mask.astype(np.int64) << np.arange(n_ch))))
        earliest, suppressed, escalate = earliest_send_times(policy, self.space.channels, now_ns, effective, hist_t,
                                                             hist_c, complaint, promotional)
        quiet, cost = self._policy_arrays(policy)
        consented = (effective[:, None] & (np.uint32(1) << np.arange(n_ch, dtype=np.uint32))[None, :]) != 0
        return _Rules(earliest, quiet, v, cost, suppressed, escalate, consented)

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

    def _policy_arrays(self, policy: ContactPolicy) -> tuple[np.ndarray, np.ndarray]:
        """Quiet-hour masks and costs per channel, cached per policy object (policies are frozen)."""
        hit = self._policy_cache.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit[1], hit[2]
        quiet = np.array([policy.quiet_mask(c) for c in self.space.channels], dtype=np.int64)
        cost = np.array([policy.cost.get(c, 0.0) for c in self.space.channels], dtype=np.float64)
        if len(self._policy_cache) >= 16:
            self._policy_cache.clear()
        self._policy_cache[id(policy)] = (policy, quiet, cost)  # holds the policy: its id stays unique
        return quiet, cost

    def _hold_reasons(self, status: np.ndarray, rules: _Rules, deadline_ns: int, policy: ContactPolicy | None,
                      ) -> np.ndarray:
        """Reason code per decision: -1 = sent, else an index into HOLD_REASONS (+ no_allowed_channel)."""
        reason = np.full(status.shape[0], -1, dtype=np.int64)
        infeasible = status == INFEASIBLE
        reason[status == NOT_WORTH_COST] = _REASONS.index("not_worth_cost")
        if not infeasible.any():
            return reason
        if policy is None:
            reason[infeasible] = _REASONS.index("no_allowed_channel")
            return reason
        e = rules.earliest if rules.earliest.shape[0] == status.shape[0] else np.repeat(rules.earliest, status.shape[0], 0)
        no_consent = ~rules.consented.any(axis=1)
        capped = ((e > deadline_ns) | ~rules.consented).all(axis=1)
        code = np.where(rules.suppressed, _REASONS.index("suppressed"),
                        np.where(no_consent, _REASONS.index("no_consent"),
                                 np.where(capped, _REASONS.index("cap"), _REASONS.index("quiet_hours_until_deadline"))))
        reason[infeasible] = code[infeasible]
        return reason

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
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> model = ChannelModel(space, seed=1).fit(logs)
        >>> model.choose_channel("a", now="2026-01-02 08:00", exclude=["sms"]).channel
        'email'
        >>> model.choose_channel("a", now="2026-01-02 08:00", policy=ContactPolicy()).hold_reason
        'no_consent'
        """
        # the fast path (channelopt._single) gives the same Decision in microseconds, or None for unusual arguments
        fast = choose_fast(self, customer_id, now, allowed_channels, exclude, tz, policy, consent, deadline, urgent,
                           promotional, value, propensity, (), segment)
        if fast is not None:
            return fast
        return self._choose(customer_id, _now(now), allowed_channels=allowed_channels, exclude=exclude, tz=tz,
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
        now_ts = _now(now)
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
            _round_of(now_ns), self.config.propensity_draws if propensity else 0, choice, draws)
        reason = self._hold_reasons(np.array([status]), rules, deadline_ns, pol)[0]
        escalate = bool(rules.escalate[0]) if rules.escalate is not None else False
        return self._decision(customer_id, choice, score, prop, draws, send_ns, reason, escalate)

    def _decision(self, customer_id: Any, choice: np.ndarray, score: float, prop: float, draws: np.ndarray,
                  send_ns: int, reason: int, escalate: bool) -> Decision:
        if reason >= 0:
            return Decision(customer_id, None, None, None, None, float(prop), float(score), _REASONS[reason],
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
        top_k, budget : int, optional
            Keep only the ``top_k`` (``budget``: the same) customers with the
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
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
        >>> model = ChannelModel(space).fit(logs, as_of="2026-01-10")
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
        now_ts = _now(now)
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
        if top_k is not None and budget is not None and int(top_k) != int(budget):
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
        k = None
        if k_keep is not None:
            k = _whole(k_keep, "top_k")
            if k < 0:
                raise ValueError(f"top_k: must be >= 0, got {k_keep}")

        def run(idx: np.ndarray | None, earliest: np.ndarray, draws: int) -> None:
            sel = slice(None) if idx is None else idx
            c, t, s, p, stt = (choice[sel], send_ns[sel], score[sel], prop[sel], status[sel])
            if idx is not None:
                c, t, s, p, stt = (np.ascontiguousarray(a) for a in (c, t, s, p, stt))
            decide_many(rows[sel], hashes[sel], group[sel], st.sends, st.responses, prior_a, prior_b, self._offsets,
                        earliest, zcodes[sel], *slots, deadline_ns, rules.quiet, rules.value, rules.cost, bool(urgent),
                        self._hour_dim, self._weekday_dim, self._smooth, np.uint64(self.config.seed),
                        _round_of(now_ns), draws, c, t, s, p, stt)
            if idx is not None:
                choice[idx], send_ns[idx], score[idx], prop[idx], status[idx] = c, t, s, p, stt

        # decisions first; the (costly) propensities only for the rows returned, once capacity is settled
        late = bool(n_prop) and (bool(caps) or (k is not None and k < n))
        run(None, rules.earliest, 0 if late else n_prop)
        bumped = self._apply_capacity(caps, rules, choice, score, status, run) if caps else None
        reason = self._hold_reasons(status, rules, deadline_ns, pol)
        if bumped is not None:
            reason[bumped & (status == INFEASIBLE)] = _REASONS.index("capacity")
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
        see :func:`channelopt.batch.rank_to_parquet`. Returns the rows written.

        Examples
        --------
        >>> import os, tempfile
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> model.rank_to_parquet(pd.DataFrame({"customer_id": ["a", "b"]}),
        ...                       os.path.join(tempfile.mkdtemp(), "d.parquet"), now="2026-01-11", chunk_rows=1)
        2
        """
        from .batch import rank_to_parquet

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
            k = _whole(cap, f"capacity[{name!r}]")
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
        out["score"] = np.where(hold & (reason != _REASONS.index("not_worth_cost")), np.nan, score)
        out["propensity"] = prop
        out["hold_reason"] = pd.Categorical.from_codes(reason, categories=list(_REASONS))
        out["escalate_to_human"] = escalate
        cols = ["customer_id", "channel", "wording", "hour", "send_at", "score", "propensity", "hold_reason",
                "escalate_to_human"] + list(self.space.extra)
        return out[cols]

    # -- what a service reports between fits ------------------------------------------
    def record_send(self, customer_id: Any, channel: str, at: Any = None) -> None:
        """Remember a send made between fits, so caps and the minimum gap count it (thread-safe).

        The next ``fit`` / ``partial_fit`` folds it into the model's contact
        history (where the same send arriving again through the log is kept
        once), and :meth:`save` includes it.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = ChannelModel(space, policy=ContactPolicy(min_gap="1D")).fit(logs, as_of="2026-01-05")
        >>> model.update_consent("a", granted=["email", "sms"])
        >>> model.record_send("a", "email", at="2026-01-06 09:00")
        >>> model.choose_channel("a", now="2026-01-06 12:00", deadline="6h").hold_reason
        'cap'
        """
        if not isinstance(channel, str) or channel not in self._channel_pos:
            raise ValueError(f"channel: unknown channel {short(channel)} (known: {', '.join(self.space.channels)})")
        pos = self._channel_pos[channel]
        (cid,) = check_ids([customer_id], self._contacts.id_kind())
        ns = _now(None).value if at is None else as_utc_timestamp(at, "at").value
        minute = int(minutes_up(np.array([ns]))[0])
        self._contacts.record([(cid, "send", minute, pos, 0, 0)])

    def update_consent(self, customers: Any, *, granted: Iterable[str] = (), revoked: Iterable[str] = ()) -> None:
        """Record consent: for one customer (``granted`` / ``revoked`` channels), or from a table.

        The change is committed to the model's contact store (see
        :mod:`channelopt._contacts`) before the call returns, and is never
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
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> model = ChannelModel(space, policy=ContactPolicy()).fit(logs, as_of="2026-01-05")
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

    def _continue_contacts(self, previous: "ChannelModel") -> None:
        """Take over ``previous``'s contact store and state, so that :meth:`fit` refits over it (CLI refits)."""
        prev = previous._contacts
        self._contacts.attach(prev.store_db(), previous.state_, prev.snap.folded)

    def forget(self, customer_ids: Any) -> int:
        """Erase customers: statistics, index entries, contact events, segment and history.

        The model in memory and its contact store (see :mod:`channelopt._contacts`)
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
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": [None, None]})
        >>> model = ChannelModel(space).fit(logs, as_of="2026-01-05")
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
                db.forget(sorted(keys, key=str), _now(None).value)
                events = {k: v for k, v in snap.events.items() if k not in keys}
                cs.snap = Snapshot(st, snap.folded, events)
        return len(known)

    def observe_inbound(self, contacts: Any, *, weight: float | None = None) -> "ChannelModel":
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
        >>> space = ArmSpace(channels=["email", "whatsapp"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["email"],
        ...                      "responded_at": [None]})
        >>> model = ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05")
        >>> model.observe_inbound(pd.DataFrame({"customer_id": ["a"], "channel": ["whatsapp"],
        ...                                     "at": ["2026-01-04"]})).explain("a")["responses"].tolist()
        [0.0, 1.0]
        """
        w = self.config.inbound_weight if weight is None else float(weight)
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"weight: must be a finite number >= 0, got {weight!r}")
        for col in ("customer_id", "channel", "at"):
            if col not in contacts.columns:
                raise ValueError(f"contacts: missing required column {col!r}")
        codes = contacts["channel"].map(self._channel_pos)
        bad = codes.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"column 'channel': unknown channel {contacts['channel'].iloc[i]!r} in row {i} "
                             f"(known: {', '.join(self.space.channels)})")
        from ._time import to_utc_ns

        at = to_utc_ns(contacts["at"], "at", allow_null=False)
        with self._lock:
            st = self._state()
            # new customers get empty rows in every array: the ledger's growth (a "keep" of no consent bit)
            ids = contacts["customer_id"].reset_index(drop=True)
            grown = apply_events(st, [Event(0, customer_key(c), "keep", 0, -1, 0, 0) for c in ids])
            rows, _ = grown.index.rows_of(ids)
            sends, responses = np.array(grown.sends), np.array(grown.responses)
            dt = np.maximum(st.watermark_ns - at, 0) if st.watermark_ns != NAT else np.zeros_like(at)
            h = self.config.half_life_ns
            wt = (w * np.exp2(-dt / h)) if h else np.full(at.shape[0], w)
            ch = codes.to_numpy(dtype=np.int64)
            np.add.at(sends, (rows, ch), wt.astype(np.float32))
            np.add.at(responses, (rows, ch), wt.astype(np.float32))
            self.state_ = replace(grown, sends=sends, responses=responses)
        return self

    def reply_latency(self, quantiles: Iterable[float] = (0.5, 0.8), *, segment: Any = None) -> pd.DataFrame:
        """Reply-latency quantiles per channel, learned from the logs (replies within the window).

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...     "channel": ["sms", "email"], "responded_at": ["2026-01-01 00:10", None]})
        >>> lat = ChannelModel(space).fit(logs, as_of="2026-01-05").reply_latency()
        >>> float(lat.loc["sms", "replies"]), bool(lat.loc["sms", "q0.5"] < pd.Timedelta("11min"))
        (1.0, True)
        """
        self._state()  # not fitted: the usual error
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
        >>> space = ArmSpace(channels=["sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 01:00"]})
        >>> ChannelModel(space).fit(logs, as_of="2026-01-05").latency_quantile("sms", 0.5) < pd.Timedelta("70min")
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

        See :func:`channelopt.cascade.plan_cascade` (this is the same).

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "a"], "sent_at": ["2026-01-01", "2026-01-02"],
        ...     "channel": ["sms", "email"], "responded_at": ["2026-01-01 00:10", "2026-01-02 03:00"]})
        >>> plan = ChannelModel(space).fit(logs, as_of="2026-01-09").plan_cascade("a", now="2026-01-10")
        >>> [s.channel for s in plan.steps]
        ['email', 'sms']
        """
        from .cascade import plan_cascade

        return plan_cascade(self, customer_id, now, max_steps=max_steps, quantile=quantile, **decision_args)

    def report_customers(self, customers: Any = None, *, level: float = 0.9, draws: int = 500,
                         seed: int | None = None) -> pd.DataFrame:
        """Per-customer preferred channel (and hour, wording) with its credible interval and confidence.

        See :func:`channelopt.report.customer_report` (this is the same, seeded by the model's seed).

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "a"], "sent_at": ["2026-01-01", "2026-01-02"],
        ...     "channel": ["sms", "email"], "responded_at": ["2026-01-01 01:00", None]})
        >>> ChannelModel(space).fit(logs, as_of="2026-01-09").report_customers()["channel"].tolist()
        ['sms']
        """
        from .report import customer_report

        return customer_report(self, customers, level=level, draws=draws,
                               seed=self.config.seed if seed is None else seed)

    # -- inspection -----------------------------------------------------------------
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
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
        >>> m = ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05")
        >>> p = m.posteriors(["a", "b"])
        >>> p[["customer_id", "arm", "responses"]].values.tolist()
        [['a', 'email', 0.0], ['a', 'sms', 1.0], ['b', 'email', 0.0], ['b', 'sms', 0.0]]
        >>> bool(((p["ci_low"] <= p["mean"]) & (p["mean"] <= p["ci_high"])).all())
        True
        """
        if not 0 < level < 1:
            raise ValueError(f"level: must be in (0, 1), got {level}")
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
        return posterior_frame(ids, arrays, *self._arm_labels(), level)

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
            whether a complaint shapes the next decision.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-05").explain("a")[["dimension", "arm", "responses"]].values.tolist()
        [['channel', 'email', 0.0], ['channel', 'sms', 1.0]]
        """
        if not 0 < level < 1:
            raise ValueError(f"level: must be in (0, 1), got {level}")
        snap = self._snapshot()
        st = snap.store
        row = st.index.row_of(customer_id)
        n_arms = self.space.n_arms
        group = int(st.prior_groups(np.array([row]), None if segment is None else st.segment_codes([segment]))[0])
        arrays = posterior_arrays(st, np.array([row]), np.array([group]), self._smooth, self._hour_span())
        out = posterior_frame([customer_id], arrays, *self._arm_labels(), level).drop(columns="customer_id")
        # the contact rules, on channel rows
        n_ch = len(self.space.channels)
        now_ns = _now(now).value if now is not None or st.watermark_ns == NAT else int(st.watermark_ns)
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
        return out

    # -- persistence ----------------------------------------------------------------
    def save(self, path: Any, *, key: bytes | str | None = None) -> None:
        """Save to directory ``path`` atomically: a new version of ``.npy`` arrays plus ``manifest.json``.

        ``path`` always holds a complete model: the new version is written beside
        the live one and a pointer file is replaced in one atomic rename (see
        :mod:`channelopt._persist`); leftovers of saves that were killed are
        removed by the next save or load. The manifest carries a SHA-256 of
        itself; give ``key`` (bytes or text kept secret) to add an HMAC, which
        :func:`load` with the same key then requires: a file that a third party
        changed (and re-checksummed) is refused.

        Examples
        --------
        >>> import tempfile, os
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": [None]})
        >>> m = ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> d = os.path.join(tempfile.mkdtemp(), "model"); m.save(d)
        >>> load(d).state_.n_customers
        1
        """
        path = Path(path)
        cs = self._contacts
        with self._lock:
            self._state()  # not fitted: the usual error
            explicit = self.contact_store is not None
            target_path = Path(self.contact_store) if explicit else _default_contacts(path)
            with cs.write_lock:
                here = cs.db is not None and cs.db.path is not None and _same_file(cs.db.path, target_path)
                if explicit or here:
                    db = cs.store_db()
                    snap, events, reach = cs.pending()
                else:  # into another directory: that directory's store gets every event, and its own are folded in
                    path.parent.mkdir(parents=True, exist_ok=True)
                    db = ContactStore(target_path, self.space.channels)
                    snap, _, _ = cs.pending()
                    own = cs.store_db()
                    db.merge_from(own)
                    events = db.events_not_in(own.uids_through(snap.folded))
                    reach = db.max_seq()
                st = apply_events(snap.store, events)
                tombs = db.tombstones()
                if tombs:  # customers forgotten by another process since this one loaded the model
                    gone = db.forgotten(list(st.index.ids()), tombs) > np.iinfo(np.int64).min
                    st = drop_customers(st, ~gone)
                contacts = {"file": str(target_path.resolve()) if explicit else CONTACTS_FILE,
                            "store_id": db.store_id, "seq": int(reach)}
                st.save(path, {"library_version": __version__, "config": self.config.to_dict(),
                               "policy": None if self.policy is None else self.policy.to_dict(),
                               "last_fit": dict(getattr(self, "last_fit_", {})), "contacts": contacts}, key=key)
                if not (explicit or here):
                    cs.attach(db, st, int(reach))  # the model's contact store is now the directory's

    @classmethod
    def load(cls, path: Any, *, verify: bool = True, key: bytes | str | None = None) -> "ChannelModel":
        """Load a model saved with :meth:`save` (see :func:`channelopt.load`)."""
        store, manifest = PosteriorStore.load(path, verify=verify, key=key)
        try:
            config = ModelConfig.from_dict(manifest["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{version_directory(path) / MANIFEST}: field 'config' is not a model "
                             f"configuration ({short(str(exc))})") from None
        contacts = manifest.get("contacts", {"file": CONTACTS_FILE, "store_id": None, "seq": 0})
        db_path, store_id, folded = _contacts_entry(path, contacts)
        model = cls(store.space, response_window=config.response_window, half_life=config.half_life,
                    seed=config.seed, default_tz=config.default_tz,
                    prior_max_strength=config.prior_max_strength, prior_sample=config.prior_sample,
                    hour_smoothing=config.hour_smoothing, inbound_weight=config.inbound_weight,
                    resolve=config.resolve, policy=_policy_from(manifest.get("policy"), path),
                    contact_store=None if contacts.get("file") == CONTACTS_FILE else db_path)
        try:
            db = ContactStore(db_path, store.space.channels)
        except ValueError:
            if db_path.exists() or os.access(db_path.parent, os.W_OK):
                raise
            warnings.warn(f"{db_path}: cannot create the contact store in a read-only directory; consent "
                          "recorded with this model stays in memory (pass contact_store= to keep it)",
                          stacklevel=2)
            db = ContactStore(None, store.space.channels)
        # a store that is not the one the model was saved with: none of its events are folded in yet
        model._contacts.attach(db, store, folded if db.store_id == store_id else 0)
        model.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC") if store.watermark_ns != NAT else None
        model.last_fit_ = dict(manifest.get("last_fit", {}))
        return model


def load(path: Any, *, verify: bool = True, key: bytes | str | None = None) -> ChannelModel:
    """Load a saved model: arrays memory-mapped, every field and invariant checked.

    Whatever the files hold, loading either gives a model the kernels can use
    safely or raises one ValueError naming the file and the field: the
    manifest's checksum, bare entry names, every ``.npy`` header against its
    file size, and every invariant of the arrays (the customer index's
    permutation, offsets and sorted hashes, codes in range, finite statistics,
    positive priors) are checked on every load.

    Parameters
    ----------
    path : str or PathLike
        Directory written by :meth:`ChannelModel.save`.
    verify : bool, default True
        Also check the SHA-256 of every array (reads every byte once); False
        skips only that (the invariant checks still read the statistics once).
    key : bytes or str, optional
        The key the model was saved with: its manifest's HMAC must match
        (refuses unsigned models and any change made without the key).

    Examples
    --------
    >>> load("no/such/dir")
    Traceback (most recent call last):
    ...
    ValueError: no/such/dir: not a saved model (no manifest.json)
    """
    return ChannelModel.load(path, verify=verify, key=key)


def _default_contacts(path: Path) -> Path:
    """A model directory's contact store: the file beside it, ``<dir>.contacts.sqlite``."""
    path = Path(path)
    return path.parent / f"{path.name}.{CONTACTS_FILE}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _contacts_entry(path: Any, entry: Any) -> tuple[Path, str | None, int]:
    """The manifest's ``contacts`` entry checked: ``(database path, store id, contact watermark)``."""
    where = f"{version_directory(path) / MANIFEST}: field 'contacts'"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {type(entry).__name__}")
    file, store_id, seq = entry.get("file"), entry.get("store_id"), entry.get("seq")
    if not isinstance(file, str) or not (file == CONTACTS_FILE or os.path.isabs(file)):
        raise ValueError(f"{where}.file must be {CONTACTS_FILE!r} or an absolute path, got {short(file)}")
    if store_id is not None and not isinstance(store_id, str):
        raise ValueError(f"{where}.store_id must be text, got {short(store_id)}")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"{where}.seq must be a whole number >= 0, got {short(seq)}")
    return (_default_contacts(Path(path)) if file == CONTACTS_FILE else Path(file)), store_id, seq


def _policy_from(data: Any, path: Any) -> ContactPolicy | None:
    if data is None:
        return None
    try:
        return ContactPolicy.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{version_directory(path) / MANIFEST}: field 'policy' is not a contact policy "
                         f"({short(str(exc))})") from None


def _consent_events(store: PosteriorStore) -> list[Any]:
    """The store's consent state as events for a refit from scratch: the unsubscriptions it has
    seen (kind "unsub") and its consent bits (kind "keep": restored without lifting anything)."""
    has = np.flatnonzero((store.consent != 0) | (store.unsubscribed != 0))
    if not has.size:
        return []
    ids = store.index.ids()[has]
    out = []
    for i, c, u in zip(ids, store.consent[has], store.unsubscribed[has]):
        if u:  # first the unsubscriptions seen, then the grants (which never lift them: kind "consent" does)
            out.append(Event(0, customer_key(i), "unsub", 0, -1, int(u), 0))
        if c:
            out.append(Event(0, customer_key(i), "keep", 0, -1, int(c), 0))
    return out


def _column_ids(ids: pd.Series, kind: str | None) -> list[Any]:
    """A table's ``customer_id`` column, validated as :func:`check_ids` does (errors name the row)."""
    return check_ids(ids.tolist(), kind, "customers: column 'customer_id'", "row")


def _without_forgotten(frame: pd.DataFrame, db: ContactStore, tombs: dict[str, int]) -> pd.DataFrame:
    """The log rows not of a forgotten customer sent before their erasure (see :meth:`ChannelModel.forget`)."""
    if "customer_id" not in frame.columns or "sent_at" not in frame.columns:
        return frame  # encode_logs reports the missing column
    ids = frame["customer_id"]
    uniques = pd.unique(ids)
    at = db.forgotten(uniques, tombs)
    if not (at > np.iinfo(np.int64).min).any():
        return frame
    when = pd.Series(at, index=uniques)
    rows_at = ids.map(when).to_numpy()
    hit = np.flatnonzero(rows_at > np.iinfo(np.int64).min)
    sent = pd.to_datetime(frame["sent_at"].iloc[hit], utc=True, errors="coerce", format="mixed")
    sent_ns = sent.dt.as_unit("ns").astype("int64").to_numpy()
    drop = np.zeros(len(frame), dtype=bool)
    drop[hit] = sent.notna().to_numpy() & (sent_ns <= rows_at[hit])
    return frame.loc[~drop]


def _now(now: Any) -> pd.Timestamp:
    if isinstance(now, pd.Timestamp) and now.tzinfo is not None and now.unit == "ns":
        return now  # .value is UTC ns whatever the zone
    if now is None:
        return pd.Timestamp(datetime.now(timezone.utc)).as_unit("ns")
    return as_utc_timestamp(now, "now")  # ns; out of range, numbers and NaT are one ValueError
