"""Baseline policies to compare :class:`~channelopt.ChannelModel` with.

Every baseline has the decision interface of ``ChannelModel``:

* ``fit(logs, as_of=None)`` / ``partial_fit(logs, as_of=None)``: the same inputs
  and the same counting -- :class:`channelopt.state.Ingestion`, so the watermark
  rule, the response window, delayed feedback and the half-life decay are
  exactly the model's (``partial_fit`` with the same ``as_of`` is a no-op);
* ``rank(customers, now)``: one row per customer with the columns
  ``customer_id, channel, wording, hour, send_at, score, propensity`` (plus one
  per extra dimension) and the dtypes of ``ChannelModel.rank``;
* ``choose_channel(customer_id, now)``: a :class:`channelopt.Decision`, the same
  decision ``rank`` makes for that customer at that ``now``.

What is decided: a channel, a wording, a local send hour and an arm of every
extra dimension, each in its own dimension (as the model's posteriors are
factorised). The message goes out at the next start of the chosen local hour
at or after ``now`` (``now`` itself when already in that hour; ``now`` when the
arm space has no hours), in the customer's zone: the ``tz`` column of the
customers table, else the zone learned from the log (learning baselines), else
``default_tz``. Weekday arms are counted but not decided (a send falls within
24 hours). Baselines never hold and take no contact rules.

``propensity`` is the probability that the baseline makes the whole logged
decision (channel, wording, hour and extras together), exact where it is cheap:
``1 / (number of joint arms)`` for :class:`UniformRandom`, 1 for
:class:`FixedChannel`, ``(1 - eps) * [greedy] / ties + eps / arms`` for
:class:`EpsilonGreedy`, and for the Thompson baselines the product over
dimensions of the exact win probability of the chosen arm
(:mod:`channelopt._win`, deterministic quadrature, the probabilities
:mod:`channelopt.evaluation` uses for the model).

Randomness is counter based, as in the model: a decision is a pure function of
``(seed, now in whole seconds, customer-id hash)``, so ``rank`` and
``choose_channel`` agree and results do not depend on batch order.

Examples
--------
>>> import pandas as pd
>>> from channelopt import ArmSpace
>>> from channelopt.baselines import FixedChannel
>>> plan = FixedChannel(ArmSpace(channels=["email", "sms"])).rank(
...     pd.DataFrame({"customer_id": ["a"], "tz": ["Europe/Paris"]}), now="2026-11-23 00:00")
>>> plan[["channel", "hour", "propensity"]].values.tolist(), str(plan["send_at"][0])
([['email', 10, 1.0]], '2026-11-23 09:00:00+00:00')
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from . import _kernels as K
from ._time import NS_PER_S, as_utc_timestamp, next_hour_start_ns, send_at_table, zone_codes
from ._win import win_dim, win_many
from .arms import ArmSpace
from .config import ModelConfig, check_zone
from .schema import encode_logs
from .sources import iter_frames, read_table
from .state import Ingestion, PosteriorStore

__all__ = ["EpsilonGreedy", "FixedChannel", "FlatThompson", "PooledThompson", "UniformRandom"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


# -- counter-based uniforms, vectorised (the same splitmix64 stream as _kernels) --------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of every element (uint64 arithmetic wraps modulo 2**64)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _keys(seed: int, round_: int, hashes: np.ndarray) -> np.ndarray:
    """``_kernels.draw_key(seed, round, hash)`` for every customer hash."""
    with np.errstate(over="ignore"):
        s = _mix(np.array([seed], dtype=np.uint64))
        r = _mix(s ^ np.uint64(round_))
        return _mix(r ^ np.asarray(hashes, dtype=np.uint64))


def _uniforms(keys: np.ndarray, counter: int) -> np.ndarray:
    """``_kernels._uniform(key, counter)`` for every key: uniforms in the open interval (0, 1)."""
    with np.errstate(over="ignore"):
        x = _mix(keys + np.uint64(counter) * _GOLDEN)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _pick(u: np.ndarray, k: int) -> np.ndarray:
    """An index in ``[0, k)`` from each uniform."""
    return np.minimum((u * k).astype(np.int64), k - 1)


# -- Thompson kernel ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def _beta(a, b, key):
    """One exact Beta draw: a plain (not inlined) call site, so the sampler is compiled once."""
    return K.beta_draw(a, b, key)


@njit(cache=True, parallel=True)
def _thompson(rows, hashes, sends, responses, prior_a, prior_b, lo, hi, seed, round_, choice, score, draws):
    """Thompson decision per customer and decided dimension: the argmax of one Beta draw per arm.

    Dimension ``d`` is the arm block ``[lo[d], hi[d])`` of the state; row -1 means
    the prior alone. Arm ``j``'s draw is keyed by ``arm_key(draw_key(seed, round,
    hash), j)`` (the model's keys). ``draws`` (``(n, n_arms)`` or ``(0, 0)``)
    receives every draw.
    """
    n = rows.shape[0]
    n_dec = lo.shape[0]
    keep = draws.shape[0] == n and n > 0
    for i in prange(n):
        r = rows[i]
        key = K.draw_key(seed, round_, hashes[i])
        for d in range(n_dec):
            best = -1
            best_v = -1.0
            for j in range(lo[d], hi[d]):
                a, b = K.posterior(r, j, sends, responses, prior_a, prior_b)
                v = _beta(a, b, K.arm_key(key, np.uint64(j)))
                if keep:
                    draws[i, j] = v
                if v > best_v:
                    best_v = v
                    best = j
            choice[i, d] = best - lo[d]
            if d == 0:
                score[i] = best_v


# -- the shared machinery --------------------------------------------------------------


def _now(now: Any) -> pd.Timestamp:
    if isinstance(now, pd.Timestamp) and now.tzinfo is not None:
        return now
    if now is None:
        return pd.Timestamp(datetime.now(timezone.utc)).as_unit("ns")
    return as_utc_timestamp(now, "now").as_unit("ns")


class _Baseline:
    """Counting, zones, output frames and ``choose_channel`` shared by every baseline."""

    _learns = True

    def __init__(self, space: ArmSpace, *, seed: int = 0, response_window: Any = "72h", half_life: Any = "90D",
                 default_tz: str = "UTC") -> None:
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        self.space = space
        self.config = ModelConfig(response_window=response_window, half_life=half_life, seed=seed,
                                  default_tz=default_tz)
        self.seed = self.config.seed
        self.response_window = response_window
        self.half_life = half_life
        self.default_tz = self.config.default_tz
        self._lock = threading.Lock()
        offsets = space.offsets
        # decided dimensions: all but the weekday (a send falls within the next 24 hours)
        self._dec = [(d, dim) for d, dim in enumerate(space.dimensions) if dim != "weekday"]
        self._lo = np.array([offsets[d] for d, _ in self._dec], dtype=np.int64)
        self._hi = np.array([offsets[d + 1] for d, _ in self._dec], dtype=np.int64)
        self._sizes = self._hi - self._lo
        self._labels = [list(space.labels(dim)) for _, dim in self._dec]
        self._names = [dim for _, dim in self._dec]

    def _params(self) -> str:
        return f"seed={self.seed}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={list(self.space.channels)}, {self._params()})"

    # -- learning --------------------------------------------------------------------------
    def fit(self, logs: Any, as_of: Any = None) -> "_Baseline":
        """Learn from scratch from a response log (the inputs and counting of :meth:`ChannelModel.fit`).

        Examples
        --------
        >>> from channelopt import ArmSpace
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> FlatThompson(ArmSpace(channels=["email", "sms"])).fit(logs, as_of="2026-01-05").as_of_
        Timestamp('2026-01-05 00:00:00+0000', tz='UTC')
        """
        return self._ingest(False, logs, as_of)

    def partial_fit(self, logs: Any, as_of: Any = None) -> "_Baseline":
        """Add the sends resolved since the watermark (:meth:`ChannelModel.partial_fit`'s rule).

        Examples
        --------
        >>> from channelopt import ArmSpace
        >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> b = EpsilonGreedy(ArmSpace(channels=["email", "sms"])).partial_fit(logs, as_of="2026-01-05")
        >>> b.partial_fit(logs, as_of="2026-01-05").last_fit_["counted"]   # the same night again: a no-op
        0
        """
        return self._ingest(True, logs, as_of)

    def _ingest(self, incremental: bool, logs: Any, as_of: Any) -> "_Baseline":
        as_of_ns = None if as_of is None else as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        if not self._learns:  # nothing to learn: only the clock moves
            if as_of_ns is None:
                raise ValueError(f"as_of: {type(self).__name__} learns nothing from logs; give as_of explicitly")
            self.as_of_ = pd.Timestamp(as_of_ns, tz="UTC")
            self.last_fit_ = {"rows": 0, "counted": 0, "responses": 0}
            return self
        with self._lock:
            base = getattr(self, "state_", None) if incremental else None
            if base is None:
                base = PosteriorStore.empty(self.space, self.config.default_tz)
            job = Ingestion(base, self.config, as_of_ns)
            offset = 0
            seen = empty_seen = False
            for frame in iter_frames(logs, name="logs"):
                if len(frame) == 0:
                    empty_seen = True
                    continue
                job.add(encode_logs(frame, self.space, self.config.default_tz, row_offset=offset))
                offset += len(frame)
                seen = True
            if not seen:
                raise ValueError("logs: the frame is empty (0 rows)" if empty_seen else "logs: no frames to learn from")
            store = job.finish()
            self._learned(store)
            self.state_ = store
            self.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC")
            self.last_fit_ = dict(job.counts)
        return self

    def _learned(self, store: PosteriorStore) -> None:
        """Hook: derive what the decisions need from a new store (before it is published)."""

    def _store(self) -> PosteriorStore:
        st = getattr(self, "state_", None)
        if st is None:
            st = PosteriorStore.empty(self.space, self.config.default_tz)
        return st

    # -- deciding ------------------------------------------------------------------------
    def _decide(self, st: PosteriorStore, rows: np.ndarray, hashes: np.ndarray, round_: int, propensity: bool,
                keep_draws: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(choice (n, n_decided), score (n,), propensity (n,), draws (n, n_arms) or (0, 0))``."""
        raise NotImplementedError

    def _zones(self, table: pd.DataFrame, rows: np.ndarray, st: PosteriorStore) -> tuple[np.ndarray, list[str]]:
        n = len(table)
        if "tz" in table.columns:
            zc, zones = zone_codes(table["tz"], n, self.config.default_tz)
            learned = table["tz"].isna().to_numpy() & (rows >= 0)
        else:
            zc, zones = np.zeros(n, dtype=np.int64), [self.config.default_tz]
            learned = rows >= 0
        if learned.any() and st.n_customers:
            zc = zc.copy()
            zc[learned] = st.zone[rows[learned]].astype(np.int64) + len(zones)
            zones = zones + list(st.zones)
        return zc, zones

    def rank(self, customers: Any, now: Any = None, *, propensity: bool = True) -> pd.DataFrame:
        """Decide for a batch of customers: one row each, in input order.

        Parameters
        ----------
        customers : DataFrame, path, or sequence of ids
            Needs ``customer_id``; an optional ``tz`` column gives the zone.
        now : timestamp, optional
            Decision time (naive = UTC); default: the current time.
        propensity : bool, default True
            False skips :class:`FlatThompson`'s per-customer propensity (NaN).

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``
            (plus one column per extra dimension), the columns and dtypes of
            :meth:`channelopt.ChannelModel.rank`.

        Examples
        --------
        >>> from channelopt import ArmSpace
        >>> plan = UniformRandom(ArmSpace(channels=["email", "sms"], wordings=["a", "b"]), seed=1).rank(
        ...     ["c-1", "c-2"], now="2026-11-23 09:00")
        >>> list(plan.columns), plan["propensity"].round(6).tolist()
        (['customer_id', 'channel', 'wording', 'hour', 'send_at', 'score', 'propensity'], [0.010417, 0.010417])
        """
        now_ts = _now(now)
        if isinstance(customers, (pd.DataFrame, str)) or hasattr(customers, "__fspath__"):
            table = read_table(customers, name="customers")
        else:
            table = pd.DataFrame({"customer_id": list(customers)})
        if "customer_id" not in table.columns:
            raise ValueError(f"customers: missing required column 'customer_id' "
                             f"(columns present: {', '.join(map(str, table.columns))})")
        table = table.reset_index(drop=True)
        n = len(table)
        st = self._store()
        ids = table["customer_id"]
        if n:
            rows, hashes = st.index.rows_of(ids)
        else:
            rows, hashes = np.zeros(0, np.int64), np.zeros(0, np.uint64)
        choice, score, prop, _ = self._decide(st, rows.astype(np.int64), hashes.astype(np.uint64),
                                              _round_of(now_ts.value), propensity, False)
        zc, zones = self._zones(table, rows, st)
        return self._frame(ids, choice, score, prop, now_ts.value, zc, zones)

    def _frame(self, ids: pd.Series, choice: np.ndarray, score: np.ndarray, prop: np.ndarray, now_ns: int,
               zc: np.ndarray, zones: list[str]) -> pd.DataFrame:
        n = choice.shape[0]
        cols: dict[str, Any] = {"customer_id": ids.reset_index(drop=True)}
        by_name = {name: k for k, name in enumerate(self._names)}
        cols["channel"] = pd.Categorical.from_codes(choice[:, 0], categories=self._labels[0])
        if "wording" in by_name:
            k = by_name["wording"]
            cols["wording"] = pd.Categorical.from_codes(choice[:, k], categories=self._labels[k])
        else:
            cols["wording"] = pd.Categorical.from_codes(np.full(n, -1), categories=[])
        if "hour" in by_name:
            hour = choice[:, by_name["hour"]]
            send_ns = send_at_table(now_ns, zones)[zc, hour] if n else np.zeros(0, np.int64)
            cols["hour"] = pd.array(hour, dtype="Int8")
        else:
            send_ns = np.full(n, now_ns, dtype=np.int64)
            cols["hour"] = pd.array([pd.NA] * n, dtype="Int8")
        cols["send_at"] = pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC")
        cols["score"] = np.asarray(score, dtype=np.float64)
        cols["propensity"] = np.asarray(prop, dtype=np.float64)
        for name in self.space.extra:
            k = by_name[name]
            cols[name] = pd.Categorical.from_codes(choice[:, k], categories=self._labels[k])
        return pd.DataFrame(cols)

    def choose_channel(self, customer_id: Any, now: Any = None, *, tz: str | None = None) -> Any:
        """Decide for one customer: the same decision as :meth:`rank` makes for them at ``now``.

        Parameters
        ----------
        customer_id : str or int
        now : timestamp, optional
            Decision time; default: the current time.
        tz : str, optional
            The customer's zone; default: the zone learned from the log, else ``default_tz``.

        Returns
        -------
        channelopt.Decision
            ``draws`` holds the per-arm values the baseline ranked by (Thompson
            draws, posterior means, uniforms; NaN for arms it does not decide).

        Examples
        --------
        >>> from channelopt import ArmSpace
        >>> d = EpsilonGreedy(ArmSpace(channels=["email", "sms"]), seed=2).choose_channel(
        ...     "c-9", now="2026-11-23 09:00", tz="Asia/Tokyo")
        >>> d.channel in ("email", "sms"), d.send_at.tz_convert("Asia/Tokyo").hour == d.hour
        (True, True)
        """
        from .model import Decision  # imported here: baselines sit below model.py in the layers

        now_ts = _now(now)
        if tz is not None:
            tz = check_zone(tz, "tz")
        st = self._store()
        row, h = st.index.locate(customer_id)
        choice, score, prop, draws = self._decide(st, np.array([row], dtype=np.int64), np.array([h], dtype=np.uint64),
                                                  _round_of(now_ts.value), True, True)
        zone = tz if tz is not None else (st.zones[st.zone[row]] if row >= 0 else self.config.default_tz)
        picked = {name: self._labels[k][int(choice[0, k])] for k, name in enumerate(self._names)}
        if self.space.hours:
            hour: int | None = int(choice[0, self._names.index("hour")])
            send_at = pd.Timestamp(next_hour_start_ns(now_ts.value, zone, hour), tz="UTC")
        else:
            hour, send_at = None, now_ts.tz_convert("UTC")
        return Decision(customer_id=customer_id, channel=picked["channel"], wording=picked.get("wording"),
                        hour=hour, send_at=send_at, propensity=float(prop[0]), score=float(score[0]),
                        hold_reason=None, extra={k: picked[k] for k in self.space.extra},
                        draws=draws[0] if draws.shape[0] else np.full(self.space.n_arms, np.nan), space=self.space)


def _round_of(now_ns: int) -> int:
    """Decision round: whole seconds since the epoch (the model's)."""
    return int(now_ns // NS_PER_S) & 0xFFFFFFFFFFFFFFFF


def _check_fraction(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number in [0, 1], got {value!r}") from None
    if isinstance(value, bool) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: must be a number in [0, 1], got {value!r}")
    return v


# -- the baselines ---------------------------------------------------------------------


class UniformRandom(_Baseline):
    """Every decided arm uniformly at random; learns nothing.

    Unlike :class:`channelopt.simulate.UniformPolicy` (the explorer of
    :func:`channelopt.simulate.run`, whose log propensity is the channel's,
    ``1 / n_channels``), decisions are keyed per customer, so ``rank`` and
    ``choose_channel`` agree, and the propensity is the whole decision's:
    ``1 / (n_channels * n_wordings * 24 * ...)``. ``score`` is NaN.

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    default_tz : str, default "UTC"
    response_window, half_life
        Accepted for a uniform interface; unused.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> plan = UniformRandom(ArmSpace(channels=["email", "sms", "push"], hours=False), seed=0).rank(
    ...     ["a", "b", "c"], now="2026-11-23 09:00")
    >>> plan["propensity"].round(4).tolist(), bool(plan["score"].isna().all())
    ([0.3333, 0.3333, 0.3333], True)
    """

    _learns = False

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        keys = _keys(self.seed, round_, hashes)
        n = rows.shape[0]
        choice = np.empty((n, len(self._dec)), dtype=np.int64)
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        for k, size in enumerate(self._sizes):
            u = _uniforms(keys, k)
            choice[:, k] = _pick(u, int(size))
            if keep_draws:
                draws[:, self._lo[k]:self._hi[k]] = np.arange(size) == choice[:, k:k + 1]
        prop = np.full(n, 1.0 / float(np.prod(self._sizes.astype(np.float64))))
        return choice, np.full(n, np.nan), prop, draws


class FixedChannel(_Baseline):
    """Always the same message: one channel (default email) at one local hour (default 10:00).

    Parameters
    ----------
    space : ArmSpace
    channel : str, default "email"
    hour : int, default 10
        Local send hour (ignored when the arm space has no hours: sent at ``now``).
    wording : str, optional
        Default: the first wording of the space. Extra dimensions take their first arm.
    seed, default_tz, response_window, half_life
        As for every baseline (no randomness here).

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> d = FixedChannel(ArmSpace(channels=["sms", "email"]), hour=18).choose_channel(
    ...     "c-1", now="2026-11-23 09:00", tz="America/New_York")
    >>> d.channel, d.hour, d.propensity, str(d.send_at)
    ('email', 18, 1.0, '2026-11-23 23:00:00+00:00')
    """

    _learns = False

    def __init__(self, space: ArmSpace, channel: str = "email", hour: int = 10, wording: str | None = None, *,
                 seed: int = 0, response_window: Any = "72h", half_life: Any = "90D", default_tz: str = "UTC") -> None:
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)
        if channel not in space.channels:
            raise ValueError(f"channel: unknown channel {channel!r} (known: {', '.join(space.channels)})")
        if isinstance(hour, bool) or not isinstance(hour, (int, np.integer)) or not 0 <= hour <= 23:
            raise ValueError(f"hour: must be an integer local hour in 0..23, got {hour!r}")
        if wording is not None and wording not in space.wordings:
            known = ", ".join(space.wordings) if space.wordings else "none: the arm space has no wordings"
            raise ValueError(f"wording: unknown wording {wording!r} (known: {known})")
        self.channel = channel
        self.hour = int(hour)
        self.wording = wording
        fixed = []
        for name, labels in zip(self._names, self._labels):
            if name == "channel":
                fixed.append(labels.index(channel))
            elif name == "hour":
                fixed.append(self.hour)
            elif name == "wording" and wording is not None:
                fixed.append(labels.index(wording))
            else:
                fixed.append(0)
        self._fixed = np.array(fixed, dtype=np.int64)

    def _params(self) -> str:
        return f"channel={self.channel!r}, hour={self.hour}"

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        n = rows.shape[0]
        choice = np.tile(self._fixed, (n, 1))
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        if keep_draws:
            for k in range(len(self._dec)):
                draws[:, self._lo[k]:self._hi[k]] = np.arange(self._sizes[k]) == self._fixed[k]
        return choice, np.full(n, np.nan), np.ones(n), draws


class EpsilonGreedy(_Baseline):
    """Per customer: with probability ``1 - epsilon`` the arm with the best posterior mean, else a random arm.

    The posterior mean of each arm is ``(responses + 1) / (sends + 2)`` (a flat
    ``Beta(1, 1)`` prior, no pooling) from the customer's own decayed counts;
    ties are broken uniformly at random. One coin per decision: exploring draws
    every decided dimension uniformly. The propensity of the decision ``a`` is
    exact: ``(1 - epsilon) * prod_d [a_d is a best arm] / ties_d + epsilon / K``
    with ``K`` the number of joint arms -- ``1 - epsilon + epsilon / K`` for a
    unique greedy decision. ``score`` is the chosen channel's posterior mean.

    Parameters
    ----------
    space : ArmSpace
    epsilon : float in [0, 1], default 0.1
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "a"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
    >>> eg = EpsilonGreedy(space, epsilon=0.2).fit(logs, as_of="2026-01-10")   # sms 1/1, email 0/1: sms is greedy
    >>> hours = pd.date_range("2026-01-11", periods=40, freq="h")
    >>> sorted({(d.channel, round(d.propensity, 6)) for d in (eg.choose_channel("a", now=t) for t in hours)})
    [('email', 0.1), ('sms', 0.9)]
    """

    def __init__(self, space: ArmSpace, epsilon: float = 0.1, *, seed: int = 0, response_window: Any = "72h",
                 half_life: Any = "90D", default_tz: str = "UTC") -> None:
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)
        self.epsilon = _check_fraction(epsilon, "epsilon")

    def _params(self) -> str:
        return f"epsilon={self.epsilon}, seed={self.seed}"

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        n = rows.shape[0]
        eps = self.epsilon
        keys = _keys(self.seed, round_, hashes)
        explore = _uniforms(keys, 0) < eps
        known = rows >= 0
        choice = np.empty((n, len(self._dec)), dtype=np.int64)
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        greedy_p = np.ones(n)
        score = np.empty(n)
        for k, size in enumerate(self._sizes):
            lo, hi = int(self._lo[k]), int(self._hi[k])
            s = np.zeros((n, int(size)))
            r = np.zeros((n, int(size)))
            if known.any():
                s[known] = st.sends[rows[known], lo:hi]
                r[known] = st.responses[rows[known], lo:hi]
            mean = (r + 1.0) / (s + 2.0)
            best = mean == mean.max(axis=1, keepdims=True)
            ties = best.sum(axis=1)
            nth = np.minimum((_uniforms(keys, 1 + 2 * k) * ties).astype(np.int64), ties - 1)
            greedy = np.argmax(np.cumsum(best, axis=1) > nth[:, None], axis=1)
            random = _pick(_uniforms(keys, 2 + 2 * k), int(size))
            c = np.where(explore, random, greedy)
            choice[:, k] = c
            greedy_p *= best[np.arange(n), c] / ties
            if k == 0:
                score = mean[np.arange(n), c]
            if keep_draws:
                draws[:, lo:hi] = mean
        prop = (1.0 - eps) * greedy_p + eps / float(np.prod(self._sizes.astype(np.float64)))
        return choice, score, prop, draws


class FlatThompson(_Baseline):
    """Per-customer Thompson sampling with a flat ``Beta(1, 1)`` prior on every arm: no pooling.

    Each customer's posterior comes from their own decayed counts only, so a
    customer with little history explores nearly uniformly. The propensity is
    exact: the product over decided dimensions of the probability that the
    chosen arm has the largest draw (:func:`channelopt._win.win_many`);
    ``score`` is the chosen channel's draw.

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a"] * 6, "sent_at": pd.date_range("2026-01-01", periods=6),
    ...                      "channel": ["sms"] * 3 + ["email"] * 3,
    ...                      "responded_at": ["2026-01-01 02:00", "2026-01-02 02:00", "2026-01-03 02:00",
    ...                                       None, None, None]})
    >>> ts = FlatThompson(space, seed=1, half_life=None).fit(logs, as_of="2026-01-20")
    >>> plan = ts.rank(["a"], now="2026-01-21")   # Beta(4, 1) beats Beta(1, 4) with probability 1 - 4 B(4, 5)
    >>> plan["channel"].tolist(), round(float(plan["propensity"][0]), 4)
    (['sms'], 0.9857)
    """

    def __init__(self, space: ArmSpace, *, seed: int = 0, response_window: Any = "72h", half_life: Any = "90D",
                 default_tz: str = "UTC") -> None:
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)
        self._flat = np.ones(space.n_arms, dtype=np.float64)
        self._mask = np.ones((1, len(space.channels)), dtype=np.uint8)

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        choice, score, draws = _run_thompson(self, st, rows, hashes, round_, keep_draws, self._flat, self._flat)
        n = rows.shape[0]
        if not propensity or n == 0:
            return choice, score, np.full(n, np.nan), draws
        sends, responses = _stats(st, self.space.n_arms)
        win = np.zeros((n, self.space.n_arms))
        win_many(np.ascontiguousarray(rows, dtype=np.int64), np.zeros(n, np.int64), sends, responses,
                 self._flat[None, :], self._flat[None, :],
                 self.space.offsets, self._mask, -1, np.ones(1), win)
        prop = np.ones(n)
        for k in range(len(self._dec)):
            prop *= win[np.arange(n), self._lo[k] + choice[:, k]]
        return choice, score, prop, draws


class PooledThompson(_Baseline):
    """One Thompson bandit per arm for everyone: no personalisation.

    Every arm's posterior is ``Beta(1 + R, 1 + S - R)`` with ``S`` and ``R`` the
    decayed sends and responses of that arm summed over all customers. Each
    customer gets their own draw from these shared posteriors, so everyone has
    the same probability distribution over decisions; the propensity is that
    probability, computed exactly once per fit (:func:`channelopt._win.win_dim`,
    deterministic quadrature).

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
    ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
    >>> pooled = PooledThompson(space, half_life=None).fit(logs, as_of="2026-01-10")
    >>> pooled.probabilities_["channel"].round(4).tolist()   # P(email), P(sms): Beta(1, 2) vs Beta(2, 1)
    [0.1667, 0.8333]
    """

    def __init__(self, space: ArmSpace, *, seed: int = 0, response_window: Any = "72h", half_life: Any = "90D",
                 default_tz: str = "UTC") -> None:
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)
        self._learned(PosteriorStore.empty(space, self.config.default_tz))

    def _learned(self, store: PosteriorStore) -> None:
        s = np.asarray(store.sends, dtype=np.float64).sum(axis=0) if store.n_customers else np.zeros(
            self.space.n_arms)
        r = np.asarray(store.responses, dtype=np.float64).sum(axis=0) if store.n_customers else np.zeros(
            self.space.n_arms)
        alpha = 1.0 + r
        beta = 1.0 + np.maximum(s - r, 0.0)
        probs = {name: win_dim(np.ascontiguousarray(alpha[lo:hi]), np.ascontiguousarray(beta[lo:hi]))
                 for name, lo, hi in zip(self._names, self._lo, self._hi)}
        # published together: a reader sees one consistent (posterior, probabilities) pair
        self._pooled = (alpha, beta, probs)

    @property
    def probabilities_(self) -> dict[str, np.ndarray]:
        """P(each arm is chosen), per decided dimension (the same for every customer)."""
        return {k: v.copy() for k, v in self._pooled[2].items()}

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        alpha, beta, probs = self._pooled
        everyone = np.full(rows.shape[0], -1, dtype=np.int64)  # the posterior is the pooled one
        choice, score, draws = _run_thompson(self, st, everyone, hashes, round_, keep_draws, alpha, beta)
        prop = np.ones(rows.shape[0])
        for k, name in enumerate(self._names):
            prop *= probs[name][choice[:, k]]
        return choice, score, prop, draws


def _stats(st: PosteriorStore, n_arms: int) -> tuple[np.ndarray, np.ndarray]:
    sends = np.ascontiguousarray(st.sends, dtype=np.float32)
    responses = np.ascontiguousarray(st.responses, dtype=np.float32)
    if sends.shape[0] == 0:  # numba needs one row to index, even if no customer is known
        sends = responses = np.zeros((1, n_arms), dtype=np.float32)
    return sends, responses


def _run_thompson(policy: _Baseline, st: PosteriorStore, rows: np.ndarray, hashes: np.ndarray, round_: int,
                  keep_draws: bool, prior_a: np.ndarray,
                  prior_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = rows.shape[0]
    choice = np.empty((n, len(policy._dec)), dtype=np.int64)
    score = np.empty(n)
    draws = np.full((n, policy.space.n_arms) if keep_draws else (0, 0), np.nan)
    sends, responses = _stats(st, policy.space.n_arms)
    _thompson(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(hashes, dtype=np.uint64), sends,
              responses, np.ascontiguousarray(prior_a, dtype=np.float64),
              np.ascontiguousarray(prior_b, dtype=np.float64), policy._lo, policy._hi, np.uint64(policy.seed),
              np.uint64(round_), choice, score, draws)
    return choice, score, draws
