"""ChannelModel: fit / partial_fit / choose_channel / rank / explain / save / load."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from . import _kernels as K
from ._time import NAT, NS_PER_S, as_utc_timestamp, next_hour_start_ns, send_at_table, zone_codes
from ._version import __version__
from .arms import ArmSpace
from .config import ModelConfig, check_zone
from .schema import encode_logs
from .sources import iter_frames, read_table
from .state import Ingestion, PosteriorStore

__all__ = ["ChannelModel", "Decision", "load"]



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
        Why nothing is sent (``"no_allowed_channel"``), else None.
    extra : mapping
        Chosen arm of each extra dimension of the arm space.
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


class ChannelModel:
    """Per-customer Thompson-sampling model of channel, wording, local hour and weekday.

    Parameters
    ----------
    space : ArmSpace
        The dimensions decided over.
    response_window : str or Timedelta, default "72h"
        A send with no reply counts as a failure once this has passed as of the fit time.
    half_life : str, Timedelta or None, default "90D"
        Half-life of evidence in event time; None keeps everything.
    seed : int, default 0
        Seed of the counter-based randomness (decisions are reproducible).
    default_tz : str, default "UTC"
        Zone of customers whose ``tz`` is unknown.
    propensity_draws : int, default 256
        Monte Carlo draws per decision for the propensity.
    prior_max_strength : float, default 1000
        Bound on the empirical-Bayes prior strength.
    prior_sample : int, default 5000
        Customers per arm used to fit the prior.

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
                 default_tz: str = "UTC", propensity_draws: int = 256, prior_max_strength: float = 1000.0,
                 prior_sample: int = 5000) -> None:
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        self.space = space
        self.response_window = response_window
        self.half_life = half_life
        self.seed = seed
        self.default_tz = default_tz
        self.propensity_draws = propensity_draws
        self.prior_max_strength = prior_max_strength
        self.prior_sample = prior_sample
        self.config = ModelConfig(response_window, half_life, seed, default_tz, propensity_draws,
                                  prior_max_strength, prior_sample)
        self._lock = threading.Lock()
        self._channel_pos = {c: i for i, c in enumerate(space.channels)}
        self._all_channels = np.ones(len(space.channels), dtype=np.uint8)
        self._offsets = space.offsets
        self._dims = space.dimensions
        self._labels = [np.array(space.labels(d), dtype=object) for d in self._dims]
        self._hour_dim = self._dims.index("hour") if "hour" in self._dims else -1
        self._wording_dim = self._dims.index("wording") if "wording" in self._dims else -1
        self._extra_dims = [(k, self._dims.index(k)) for k in space.extra]

    def __repr__(self) -> str:
        fitted = f", customers={self.state_.n_customers}" if hasattr(self, "state_") else ""
        return (f"ChannelModel(channels={list(self.space.channels)}, response_window='{self.config.response_window}', "
                f"half_life={self.half_life!r}, seed={self.seed}{fitted})")

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

    def _ingest(self, incremental: bool, logs: Any, as_of: Any, progress: bool) -> "ChannelModel":
        as_of_ns = None if as_of is None else as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        with self._lock:
            # the base is read under the lock, so concurrent partial_fits apply one after the other
            base = getattr(self, "state_", None) if incremental else None
            if base is None:
                base = PosteriorStore.empty(self.space, self.config.default_tz)
            job = Ingestion(base, self.config, as_of_ns)
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
                job.add(encode_logs(frame, self.space, self.config.default_tz, row_offset=offset))
                offset += len(frame)
                seen = True
            if not seen:
                raise ValueError("logs: the frame is empty (0 rows)" if empty_seen else "logs: no frames to learn from")
            store = job.finish()
            # commit: one reference swap; readers holding the old snapshot are unaffected
            self.state_ = store
            self.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC")
            self.last_fit_ = dict(job.counts)
        return self

    # -- decisions ------------------------------------------------------------------
    def _state(self) -> PosteriorStore:
        try:
            return self.state_
        except AttributeError:
            raise ValueError("this ChannelModel is not fitted yet: call fit(logs) first") from None

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

    def choose_channel(self, customer_id: Any, now: Any = None, *, allowed_channels: Iterable[str] | None = None,
                       exclude: Iterable[str] | None = None, tz: str | None = None) -> Decision:
        """Decide channel, wording and send time for one customer (thread-safe).

        Parameters
        ----------
        customer_id : str or int
            Unknown customers are decided from the population prior.
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
        """
        st = self._state()
        now_ts = _now(now)
        now_ns = now_ts.value
        mask = self._mask(allowed_channels, exclude)
        if tz is not None:
            tz = check_zone(tz, "tz")
        row, h = st.index.locate(customer_id)
        n_dims = self._offsets.shape[0] - 1
        choice = np.empty(n_dims, dtype=np.int64)
        draws = np.empty(int(self._offsets[-1]), dtype=np.float64)
        score, prop = K.decide_one(row, h, st.sends, st.responses, st.prior_alpha, st.prior_beta, self._offsets,
                                   mask, np.uint64(self.config.seed), _round_of(now_ns),
                                   self.config.propensity_draws, choice, draws)
        zone = tz if tz is not None else (st.zones[st.zone[row]] if row >= 0 else self.config.default_tz)
        return self._decision(customer_id, choice, score, prop, draws, now_ts, zone)

    def _decision(self, customer_id: Any, choice: np.ndarray, score: float, prop: float, draws: np.ndarray,
                  now_ts: pd.Timestamp, zone: str) -> Decision:
        if choice[0] < 0:
            return Decision(customer_id, None, None, None, None, float(prop), float("nan"), "no_allowed_channel",
                            {}, draws, self.space)
        labels = self._labels
        wording = labels[self._wording_dim][choice[self._wording_dim]] if self._wording_dim >= 0 else None
        if self._hour_dim >= 0:
            hour: int | None = int(choice[self._hour_dim])
            send_at = pd.Timestamp(next_hour_start_ns(now_ts.value, zone, hour), tz="UTC")
        else:
            hour, send_at = None, now_ts.tz_convert("UTC")
        extra = {k: labels[d][choice[d]] for k, d in self._extra_dims}
        return Decision(customer_id, labels[0][choice[0]], wording, hour, send_at, float(prop), float(score), None,
                        extra, draws, self.space)

    def rank(self, customers: Any, now: Any = None, *, allowed_channels: Iterable[str] | None = None,
             propensity: bool = True, top_k: int | None = None) -> pd.DataFrame:
        """Decide for a batch of customers: one row each.

        Parameters
        ----------
        customers : DataFrame, path, or sequence of ids
            Needs ``customer_id``; an optional ``tz`` column overrides the learned zone.
        now : timestamp, optional
            Decision time; the same ``now`` gives the same decisions as
            :meth:`choose_channel` for each customer.
        allowed_channels : iterable of str, optional
            Channels eligible for everyone.
        propensity : bool, default True
            Compute each decision's propensity (False is faster; the column is NaN).
        top_k : int, optional
            Keep only the ``top_k`` customers with the highest score.

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``
            (plus one column per extra dimension), in input order, or by
            decreasing score with ``top_k``.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
        ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
        >>> model = ChannelModel(space).fit(logs, as_of="2026-01-10")
        >>> model.rank(["a", "b", "new"], now="2026-01-11 09:00").shape
        (3, 7)
        """
        st = self._state()
        now_ts = _now(now)
        if isinstance(customers, (pd.DataFrame, str)) or hasattr(customers, "__fspath__"):
            table = read_table(customers, name="customers")
        else:
            table = pd.DataFrame({"customer_id": list(customers)})
        if "customer_id" not in table.columns:
            raise ValueError(f"customers: missing required column 'customer_id' (columns present: {', '.join(map(str, table.columns))})")
        n = len(table)
        ids = table["customer_id"].reset_index(drop=True)
        rows, hashes = st.index.rows_of(ids) if n else (np.zeros(0, np.int64), np.zeros(0, np.uint64))
        mask = self._mask(allowed_channels, None)[None, :]
        n_dims = self._offsets.shape[0] - 1
        choice = np.empty((n, n_dims), dtype=np.int64)
        score = np.empty(n)
        prop = np.empty(n)
        K.decide_many(rows, hashes, st.sends, st.responses, st.prior_alpha, st.prior_beta, self._offsets, mask,
                      np.uint64(self.config.seed), _round_of(now_ts.value),
                      self.config.propensity_draws if propensity else 0, choice, score, prop)
        out = pd.DataFrame({"customer_id": ids})
        hold = choice[:, 0] < 0
        for d, dim in enumerate(self.space.dimensions):
            if dim in ("hour", "weekday"):
                continue
            codes = np.where(hold, -1, choice[:, d])
            out[dim] = pd.Categorical.from_codes(codes, categories=list(self._labels[d]))
        if "hour" in self.space.dimensions:
            hour = choice[:, self.space.dimension_index("hour")]
            if "tz" in table.columns:
                zcodes, zones = zone_codes(table["tz"], n, self.config.default_tz)
                known = table["tz"].reset_index(drop=True).isna().to_numpy() & (rows >= 0)
            else:
                zcodes, zones, known = np.zeros(n, np.int64), [self.config.default_tz], rows >= 0
            # customers without a given zone take the one learned from their logs
            zcodes = zcodes.copy()
            zcodes[known] = st.zone[rows[known]].astype(np.int64) + len(zones)
            zones = zones + list(st.zones)
            table_ns = send_at_table(now_ts.value, zones)
            send_ns = table_ns[zcodes, np.clip(hour, 0, 23)]
            send_ns[hold] = NAT
            out["hour"] = pd.array(np.where(hold, -1, hour), dtype="Int8")
            out.loc[hold, "hour"] = pd.NA
            out["send_at"] = pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC")
        else:
            out["hour"] = pd.array([pd.NA] * n, dtype="Int8")
            out["send_at"] = pd.DatetimeIndex(np.where(hold, NAT, now_ts.value).view("M8[ns]")).tz_localize("UTC")
        out["score"] = score
        out["propensity"] = prop if propensity else np.nan
        cols = ["customer_id", "channel"] + (["wording"] if "wording" in out else []) + \
            ["hour", "send_at", "score", "propensity"] + list(self.space.extra)
        if "wording" not in out:
            out["wording"] = pd.Categorical.from_codes(np.full(n, -1), categories=[])
            cols.insert(2, "wording")
        out = out[cols]
        if top_k is not None:
            k = int(top_k)
            if k < 0:
                raise ValueError(f"top_k: must be >= 0, got {top_k}")
            s = np.where(np.isnan(score), -np.inf, score)
            if k < n:
                part = np.argpartition(-s, k)[:k] if k else np.zeros(0, np.int64)
            else:
                part = np.arange(n)
            part = part[np.argsort(-s[part], kind="stable")]
            out = out.iloc[part].reset_index(drop=True)
        return out

    # -- inspection -----------------------------------------------------------------
    def explain(self, customer_id: Any, *, level: float = 0.9) -> pd.DataFrame:
        """The posterior of every arm for one customer, with a credible interval.

        Returns
        -------
        DataFrame
            ``dimension, arm, sends, responses, prior_mean, alpha, beta, mean, ci_low, ci_high``
            where sends and responses are the decayed statistics, ``alpha``/``beta``
            the Beta posterior and the interval the central ``level`` one (default 90%).

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> ChannelModel(space, half_life=None).fit(logs).explain("a")[["dimension", "arm", "responses"]].values.tolist()
        [['channel', 'email', 0.0], ['channel', 'sms', 1.0]]
        """
        if not 0 < level < 1:
            raise ValueError(f"level: must be in (0, 1), got {level}")
        st = self._state()
        row = st.index.row_of(customer_id)
        alpha, beta = st.posterior(row)
        n_arms = self.space.n_arms
        sends = st.sends[row].astype(np.float64) if row >= 0 else np.zeros(n_arms)
        responses = st.responses[row].astype(np.float64) if row >= 0 else np.zeros(n_arms)
        dims = np.repeat(np.array(self.space.dimensions, dtype=object), self.space.sizes)
        arms = np.concatenate([self._labels[d] for d in range(len(self.space.dimensions))])
        tail = (1 - level) / 2
        return pd.DataFrame({
            "dimension": dims, "arm": arms, "sends": sends, "responses": responses,
            "prior_mean": st.prior_alpha / (st.prior_alpha + st.prior_beta),
            "alpha": alpha, "beta": beta, "mean": alpha / (alpha + beta),
            "ci_low": stats.beta.ppf(tail, alpha, beta), "ci_high": stats.beta.ppf(1 - tail, alpha, beta),
        })

    # -- persistence ----------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Save to directory ``path`` atomically: ``.npy`` arrays plus ``manifest.json``.

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
        st = self._state()
        st.save(path, {"library_version": __version__, "config": self.config.to_dict(),
                       "last_fit": dict(getattr(self, "last_fit_", {}))})

    @classmethod
    def load(cls, path: Any, *, verify: bool = True) -> "ChannelModel":
        """Load a model saved with :meth:`save` (see :func:`channelopt.load`)."""
        store, manifest = PosteriorStore.load(path, verify=verify)
        try:
            config = ModelConfig.from_dict(manifest["config"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: manifest has no valid config ({exc})") from None
        model = cls(store.space, response_window=config.response_window, half_life=config.half_life,
                    seed=config.seed, default_tz=config.default_tz, propensity_draws=config.propensity_draws,
                    prior_max_strength=config.prior_max_strength, prior_sample=config.prior_sample)
        model.state_ = store
        model.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC") if store.watermark_ns != NAT else None
        model.last_fit_ = dict(manifest.get("last_fit", {}))
        return model


def load(path: Any, *, verify: bool = True) -> ChannelModel:
    """Load a saved model: arrays memory-mapped, checksums and format version checked.

    Parameters
    ----------
    path : str or PathLike
        Directory written by :meth:`ChannelModel.save`.
    verify : bool, default True
        Check the SHA-256 of every array (reads every byte once); False opens instantly.

    Examples
    --------
    >>> load("no/such/dir")
    Traceback (most recent call last):
    ...
    ValueError: no/such/dir: not a saved model (no manifest.json)
    """
    return ChannelModel.load(path, verify=verify)


def _now(now: Any) -> pd.Timestamp:
    if isinstance(now, pd.Timestamp) and now.tzinfo is not None:
        return now  # .value is UTC ns whatever the zone and unit
    if now is None:
        return pd.Timestamp(datetime.now(timezone.utc)).as_unit("ns")
    return as_utc_timestamp(now, "now").as_unit("ns")
