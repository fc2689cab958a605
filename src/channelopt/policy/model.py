"""ChannelModel: fit / partial_fit / choose_channel / rank / explain / save / load."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.config import DEFAULT_EXPLORATION, ModelConfig
from channelopt.core.decision import Decision
from channelopt.core.prior import declared_prior
from channelopt.data.tz import NAT
from channelopt.exceptions import NOT_FITTED, NotFittedError
from channelopt.kernels.smoothing import hour_kernel
from channelopt.policy.base import Policy
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.events import EventsMixin
from channelopt.policy.exploration import AUTO_FALLBACK, ExplorationChoice, LogTap, TappedIngestion, choose_exploration
from channelopt.policy.persistence import PersistenceMixin
from channelopt.policy.rank import RankMixin
from channelopt.policy.readout import ReadoutMixin
from channelopt.policy.rules import RulesMixin
from channelopt.state.contact_state import ContactState
from channelopt.state.contact_store import ContactStore
from channelopt.state.declared import cold_store
from channelopt.state.ingest import Ingestion
from channelopt.state.ledger import Event, apply_events, customer_key
from channelopt.state.store import PosteriorStore

__all__ = ["ChannelModel", "Decision", "load"]










class ChannelModel(RulesMixin, RankMixin, EventsMixin, ReadoutMixin, PersistenceMixin, Policy, persistent=True):
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
        (``channelopt.kernels.propensity``), not by Monte Carlo. Passing it warns;
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
    contact_store : path, optional
        The contact store's SQLite file (default: beside the saved model).
    prior : mapping, optional
        What is known before any data, per dimension: one ``(rate, strength)``
        (or :class:`channelopt.Prior`) for every arm, or ``{arm: (rate, strength)}``,
        e.g. ``{"channel": {"email": (0.03, 20), "sms": (0.05, 10)}}``: the arm's
        prior is ``Beta(rate * strength, (1 - rate) * strength)``. Arms not named
        are uniform, ``Beta(1, 1)``. Before any data the model decides from it;
        after a fit it is the centre of each arm's empirical-Bayes mean, worth
        ``strength`` sends, and the prior itself for arms nobody was sent on (see
        :mod:`channelopt.state.declared`). A change applies to an unfitted
        model at once, to a fitted one from its next fit.
    exploration : float or "auto", default 0.1
        Spread of the Thompson draws: every customer x arm is drawn from
        ``Beta(alpha / e, beta / e)``, ``(alpha, beta)`` its posterior -- the same
        mean, a spread scaled by about ``sqrt(e)``. ``e < 1`` exploits more, which
        pays when replies are sparse and the horizon short; 1 is plain Thompson
        sampling. Applies to every draw and every propensity (``rank``,
        ``choose_channel``, cascades, :func:`channelopt.evaluation.evaluate`);
        propensities stay exact for the decision taken. ``"auto"``: chosen at every
        fit from the logged propensities of recent traffic
        (:mod:`channelopt.policy.exploration`), kept in ``exploration_``. The
        default, 0.1, was chosen on the seven scenarios of
        ``benchmarks/bench_policy.py`` (README, "Choosing exploration"); models
        saved before the parameter existed load with 1.0.

    Attributes
    ----------
    state_ : PosteriorStore
        Everything learned (after ``fit``).
    as_of_ : pandas.Timestamp
        The watermark: the clock of the last fit.
    last_fit_ : dict
        Row counts of the last fit: rows, counted, responses, pending, before_watermark, after_as_of.
    exploration_ : float
        With ``exploration="auto"``, after a fit: the exploration chosen (the evaluation of
        every candidate in ``exploration_search_``, an
        :class:`~channelopt.policy.exploration.ExplorationChoice`).

    Notes
    -----
    This model applies no contact rules (consent, caps, quiet hours): every
    channel of the arm space is eligible unless ``allowed_channels`` /
    ``exclude`` say otherwise.

    A model that has seen no data decides: ``choose_channel``, ``rank``,
    ``explain``, ``posteriors`` and ``save`` treat every customer as unknown,
    decided from ``prior`` (else uniform), with exact propensities and the
    contact rules of its policy (consent stays default-deny). Only what needs
    learned state (``state_``, ``observe_inbound``, reports) raises
    :class:`~channelopt.NotFittedError`. ``fit(logs, as_of=T)`` of a log with no
    rows starts the clock: the watermark is ``T``.

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

    Before any data (a new deployment), decisions come from the declared prior:

    >>> cold = ChannelModel(space, prior={"channel": {"email": (0.01, 100), "sms": (0.2, 50)}})
    >>> cold.choose_channel("someone", now="2026-11-23 09:00").channel
    'sms'
    >>> cold.fit([], as_of="2026-11-20").as_of_
    Timestamp('2026-11-20 00:00:00+0000', tz='UTC')
    """
    def __init__(self, space: ArmSpace, response_window: Any = "72h", half_life: Any = "90D", seed: int = 0,
                 default_tz: str = "UTC", propensity_draws: int | None = None, prior_max_strength: float = 1000.0,
                 prior_sample: int = 5000, policy: ContactPolicy | None = None, hour_smoothing: float = 1.0,
                 inbound_weight: float = 1.0, resolve: str = "window", contact_store: Any = None,
                 prior: Any = None, exploration: float | str = DEFAULT_EXPLORATION) -> None:
        # the parameters, stored as given (the single source of truth: get_params / set_params / clone)
        self.__dict__.update(space=space, response_window=response_window, half_life=half_life, seed=seed,
                             default_tz=default_tz, propensity_draws=propensity_draws,
                             prior_max_strength=prior_max_strength, prior_sample=prior_sample, policy=policy,
                             hour_smoothing=hour_smoothing, inbound_weight=inbound_weight, resolve=resolve,
                             contact_store=contact_store, prior=prior, exploration=exploration)
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
                             self.resolve, self.exploration)
        if policy is not None:
            if not isinstance(policy, ContactPolicy):
                raise ValueError(f"policy: expected a ContactPolicy or None, got {type(policy).__name__}")
            policy.check_channels(space.channels)
        if contact_store is not None and not isinstance(contact_store, (str, os.PathLike)):
            raise ValueError(f"contact_store: expected a path or None, got {type(contact_store).__name__}")
        dims = space.dimensions
        explore = config.exploration if config.exploration != "auto" else self.__dict__.get("exploration_",
                                                                                            AUTO_FALLBACK)
        self.__dict__.update(
            config=config, _explore=float(explore), _policy_cache={}, _smooth=hour_kernel(config.hour_smoothing),
            _channel_pos={c: i for i, c in enumerate(space.channels)},
            _all_channels=np.ones(len(space.channels), dtype=np.uint8), _offsets=space.offsets, _dims=dims,
            _labels=[np.array(space.labels(d), dtype=object) for d in dims],
            _hour_dim=dims.index("hour") if "hour" in dims else -1,
            _wording_dim=dims.index("wording") if "wording" in dims else -1,
            _weekday_dim=dims.index("weekday") if "weekday" in dims else -1,
            _extra_dims=[(k, dims.index(k)) for k in space.extra])
        declared = declared_prior(self.prior, space)  # checked once here; None: nothing declared
        self.__dict__.update(_declared=declared, _cold=cold_store(space, config.default_tz, declared))
        self.__dict__.pop("_single_view", None)  # the fast path's cache of the above

    def _set_exploration(self, choice: ExplorationChoice) -> None:
        """Adopt a tuned exploration (``"auto"``): learned state, used by the next decision."""
        self.__dict__.update(exploration_=float(choice.value), exploration_search_=choice)
        if self.config.exploration == "auto":
            self.__dict__["_explore"] = float(choice.value)
            self.__dict__.pop("_single_view", None)

    def set_params(self, **params: Any) -> "ChannelModel":
        """Change parameters; every decision after the call uses them. Returns the model.

        A fitted model keeps what it learned (a new ``seed`` draws differently
        from the same posteriors; a new ``half_life`` applies from the next
        fit). Its arm space and contact store cannot change (fit a new model).
        A value that does not validate raises and changes nothing. Assigning
        an attribute (``model.seed = 5``) is the same call; :meth:`get_params`
        reads them back as given.

        Examples
        --------
        >>> m = ChannelModel(ArmSpace(channels=["email", "sms"])).set_params(seed=5, half_life=None)
        >>> m.config.seed, m.config.half_life, m.get_params()["seed"]
        (5, None, 5)
        >>> m.set_params(sede=5)
        Traceback (most recent call last):
        ...
        ValueError: Invalid parameter 'sede' for estimator ChannelModel. Valid parameters are: ['contact_store', 'default_tz', 'exploration', 'half_life', 'hour_smoothing', 'inbound_weight', 'policy', 'prior', 'prior_max_strength', 'prior_sample', 'propensity_draws', 'resolve', 'response_window', 'seed', 'space'].
        """
        return super().set_params(**params)

    def _check_change(self, params: dict[str, Any]) -> None:
        fixed = self._contacts.snap.store is not None or self._contacts.db is not None
        for name in ("space", "contact_store"):
            if name in params and params[name] != self.__dict__[name] and fixed:
                raise ValueError(f"{name}: cannot change on a fitted model (or one whose contact store is "
                                 f"open); build a new ChannelModel")
        if params.get("propensity_draws") is not None:
            warnings.warn("propensity_draws is deprecated and has no effect (propensities are exact, by "
                          "quadrature); it will be removed in channelopt 0.3", FutureWarning, stacklevel=4)

    def _changed(self, params: dict[str, Any]) -> None:
        if self._contacts.snap.store is None and self._contacts.db is None and (
                "space" in params or "contact_store" in params):
            store = self.contact_store
            self._contacts = ContactState(self.space.channels, None if store is None else Path(store))

    def __repr__(self) -> str:
        fitted = f", customers={self.state_.n_customers}" if hasattr(self, "state_") else ""
        e = self.config.exploration
        explore = ("" if e == DEFAULT_EXPLORATION
                   else f", exploration={e!r}" + (f" ({self._explore:g})" if e == "auto" else ""))
        return (f"ChannelModel(channels={list(self.space.channels)}, response_window='{self.config.response_window}', "
                f"half_life={self.half_life!r}, seed={self.seed}{explore}{fitted})")

    @property
    def state_(self) -> PosteriorStore:
        """The posterior store decisions read (see :class:`channelopt.state.store.PosteriorStore`)."""
        st = self._contacts.snap.store
        if st is None:
            raise NotFittedError(NOT_FITTED)
        return st

    @state_.setter
    def state_(self, store: PosteriorStore) -> None:
        self._contacts.replace_store(store)

    # -- learning -------------------------------------------------------------------

    # fit / partial_fit and the ingestion loop: channelopt.policy.base.Policy; the model's two steps of a fit:

    def _begin_ingest(self, incremental: bool, as_of_ns: int | None) -> tuple[Ingestion, Any, Any]:
        """Start a fit (under the model's lock): the base store with the contact events recorded since
        the last snapshot folded in, and the filter that drops forgotten customers' rows."""
        cs = self._contacts
        # the base and the contact events are read together, under both locks: concurrent fits apply
        # one after the other, and every event is either folded in here or kept for the next snapshot
        with cs.write_lock:
            snap, events, reach = cs.pending()
            tombs = cs.db.tombstones() if cs.db is not None else {}
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
        job: Any = Ingestion(base, self.config, as_of_ns, unsub_after_ns=previous.watermark_ns if carried else None,
                             declared=self._declared)
        keep = (lambda frame: _without_forgotten(frame, cs.db, tombs)) if tombs else None
        tap = None
        if self.config.exploration == "auto":  # the fit's logged propensities tune the exploration
            tap = LogTap(self.config.window_ns)
            job = TappedIngestion(job, tap)
        return job, keep, (reach, tap, int(base.watermark_ns))

    def _commit_ingest(self, store: PosteriorStore, token: Any) -> None:
        reach, tap, base_watermark = token
        if tap is not None:
            cfg = self.config
            self._set_exploration(choose_exploration(
                store, tap, base_watermark_ns=base_watermark, window_ns=cfg.window_ns, half_life_ns=cfg.half_life_ns,
                by_reply=cfg.resolve == "reply", smooth=self._smooth, prior_max_strength=cfg.prior_max_strength,
                prior_sample=cfg.prior_sample, previous=self.__dict__.get("exploration_"), declared=self._declared))
        # commit: one snapshot swap; readers holding the old snapshot are unaffected, and the events
        # recorded while the fit ran stay in the new snapshot
        self._contacts.publish(store, reach)

    # -- decisions ------------------------------------------------------------------

    def _state(self) -> PosteriorStore:
        return self._snapshot().store  # type: ignore[return-value]


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
    return ChannelModel._load(path, verify=verify, key=key)


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
