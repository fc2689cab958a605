"""Synthetic customers with known, different preferences, and response logs from any policy.

A :class:`Population` holds the *truth*: for every customer a base response
rate and multiplicative effects of channel, wording, local send hour and local
weekday, plus reply delays per channel. :func:`simulate_logs` plays a policy
against it day by day and returns a response log in the schema of
:mod:`channelopt.schema`, so a model can be fitted on it and its learned
preferences compared with the truth.

The response probability of a send is::

    p = base_rate[i] * channel_effect[i, c] * wording_effect[i, w]
        * hour_effect[i, local_hour] * weekday_effect[i, local_weekday]

clipped to ``[0, 0.95]``. The customer's preferred channel has multiplier 1 and
every other channel a fraction of it (0.05 to 0.45), so the best channel is
clear; the wording, hour and weekday effects average 1 over their arms, so
``base_rate[i]`` is the customer's response rate on their preferred channel
under a uniformly random wording, hour and weekday, and
``base_rate[i] * channel_effect[i, c]`` the rate of channel ``c`` under such a
policy. Extra dimensions of the arm space have no effect in the truth.

Effects are drawn from segment-level distributions: a segment has a favourite
channel and wording (most of its customers share them), typical ratios for the
other arms, a typical peak hour and a weekday pattern. Pooling across customers
therefore helps, as it does with real customers.

Policies
--------
A policy is any object with ``rank(customers: DataFrame, now: Timestamp) ->
DataFrame`` returning one row per customer with at least ``customer_id``,
``channel`` (null = hold, nothing sent), ``wording`` (may be all null),
``send_at`` (tz-aware UTC) and ``propensity`` -- exactly what
:meth:`channelopt.ChannelModel.rank` returns, so a fitted model is a policy.
:class:`UniformPolicy` is the logging policy of an A/B-style exploration.

The simulator does not enforce consent: that is the job of a contact policy,
not of the customers.

Non-stationarity and fatigue
----------------------------
Both are off by default (so a population drawn with the default arguments gives
the same logs as before they existed):

* **switches** (``make_population(..., switch_share=, switch_window=)``): a
  share of customers change their preferred channel once, at an instant drawn
  in ``switch_window``; from then on the old and the new preferred channel swap
  their multipliers. The truth of a send is evaluated at its ``sent_at``.
* **fatigue** (``make_population(..., fatigue=f, fatigue_window="7D")``): the
  reply probability of a send is multiplied by ``(1 - f) ** k``, where ``k`` is
  the number of messages the customer was sent in the ``fatigue_window`` before
  it (``sent_at`` in ``[t - window, t)``), on any channel.

Closed loop
-----------
:func:`run` plays a learning policy with daily retraining and returns a
:class:`SimulationResult`: the log and per-day metrics against an oracle that
knows the truth. In :func:`run` an unsubscription is final: the customer never
replies on that channel again (:func:`simulate_logs` keeps its historical
behaviour, where an unsubscription is only a flag in the log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from ._time import NAT, NS_PER_S, as_utc_timestamp, local_hour_weekday, send_at_table, to_utc_ns, zone_codes
from .arms import ArmSpace
from .config import check_zone, parse_duration

__all__ = [
    "DEFAULT_ZONES",
    "DELAY_MEDIANS",
    "Policy",
    "Population",
    "SimulationResult",
    "UniformPolicy",
    "censor",
    "make_population",
    "run",
    "simulate_logs",
]

DEFAULT_ZONES = ("Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo")

#: Median reply delay in seconds per channel name; other channels get one hour.
DELAY_MEDIANS: Mapping[str, float] = {
    "email": 3 * 3600.0,
    "sms": 8 * 60.0,
    "push": 20 * 60.0,
    "whatsapp": 12 * 60.0,
    "voice": 2 * 60.0,
    "in_app": 30 * 60.0,
    "web_chat": 5 * 60.0,
}
_DEFAULT_DELAY = 3600.0
_DELAY_SIGMA = 1.0  # log-scale spread of one reply delay around the customer's median
_MAX_P = 0.95
_LOG_COLUMNS = ("customer_id", "sent_at", "channel", "wording", "responded_at", "tz", "propensity", "event_id",
                "unsubscribed", "complained", "segment")


@runtime_checkable
class Policy(Protocol):
    """Anything that decides for a batch of customers (e.g. a fitted ChannelModel).

    Examples
    --------
    >>> isinstance(UniformPolicy(ArmSpace(channels=["email"])), Policy)
    True
    """

    def rank(self, customers: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:  # pragma: no cover - protocol
        ...


@dataclass(frozen=True, eq=False)
class Population:
    """Synthetic customers and the truth of how they respond (built by :func:`make_population`).

    Attributes
    ----------
    space : ArmSpace
        The arm space the truth is expressed in.
    customer_id : object array (n,)
        Ids ``"c-000001"``, ``"c-000002"``, ...
    tz : object array (n,)
        IANA zone of each customer.
    segment : int64 array (n,)
        Segment of each customer, ``0 .. n_segments - 1``.
    base_rate : float64 array (n,)
        Response rate on the preferred channel under uniform wording, hour and weekday.
    channel_effect : float64 array (n, n_channels)
        1 for the preferred channel, 0.05 to 0.45 for the others.
    wording_effect : float64 array (n, n_wordings)
        Mean 1 over the wordings (shape ``(n, 0)`` without wordings).
    hour_effect : float64 array (n, 24)
        Mean 1 over local hours: a circular (von Mises) bump around ``peak_hour``.
    weekday_effect : float64 array (n, 7)
        Mean 1 over local weekdays (Monday first), within about 0.8 to 1.2.
    peak_hour : float64 array (n,)
        Continuous local hour of the bump's top, in ``[0, 24)``.
    delay_median_s : float64 array (n, n_channels)
        Median reply delay in seconds per customer and channel (lognormal delays,
        spread ``delay_sigma`` on the log scale).
    delay_sigma : float
    consent : bool array (n, n_channels)
        Consent per channel (mostly True).
    unsubscribe_prob, complaint_prob : tuple of float
        Probability per send after a reply and after no reply.
    seed : int
        The seed the population was drawn with.
    switch_ns : int64 array (n,)
        UTC ns instant at which the customer's preferred channel switches
        (``channelopt._time.NAT`` = never). Default: nobody switches.
    switch_to : int64 array (n,)
        The channel that becomes preferred at ``switch_ns`` (-1 = never): it
        swaps multipliers with the old preferred channel.
    fatigue : float
        Reply probabilities are multiplied by ``(1 - fatigue) ** k`` with ``k``
        the customer's messages in the ``fatigue_window`` before the send.
    fatigue_window : pandas.Timedelta
        Default 7 days.

    Examples
    --------
    >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 2, seed=0)
    >>> pop.customer_id.tolist(), pop.channel_effect.shape
    (['c-000001', 'c-000002'], (2, 2))
    """

    space: ArmSpace
    customer_id: np.ndarray
    tz: np.ndarray
    segment: np.ndarray
    base_rate: np.ndarray
    channel_effect: np.ndarray
    wording_effect: np.ndarray
    hour_effect: np.ndarray
    weekday_effect: np.ndarray
    peak_hour: np.ndarray
    delay_median_s: np.ndarray
    delay_sigma: float
    consent: np.ndarray
    unsubscribe_prob: tuple[float, float]
    complaint_prob: tuple[float, float]
    seed: int
    switch_ns: np.ndarray = None  # type: ignore[assignment]
    switch_to: np.ndarray = None  # type: ignore[assignment]
    fatigue: float = 0.0
    fatigue_window: Any = "7D"
    zones: tuple[str, ...] = field(init=False, repr=False)
    zone_code: np.ndarray = field(init=False, repr=False)
    _id_index: pd.Index = field(init=False, repr=False)
    _preferred: np.ndarray = field(init=False, repr=False)
    _switchers: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        codes, zones = zone_codes(pd.Series(self.tz, dtype=object), len(self.tz), "UTC")
        object.__setattr__(self, "zones", tuple(zones))
        object.__setattr__(self, "zone_code", codes)
        object.__setattr__(self, "_id_index", pd.Index(self.customer_id, dtype=object))
        n, n_ch = self.channel_effect.shape
        object.__setattr__(self, "_preferred", np.argmax(self.channel_effect, axis=1).astype(np.int64))
        sw_ns = np.full(n, NAT, dtype=np.int64) if self.switch_ns is None else np.asarray(self.switch_ns)
        sw_to = np.full(n, -1, dtype=np.int64) if self.switch_to is None else np.asarray(self.switch_to)
        for name, arr in (("switch_ns", sw_ns), ("switch_to", sw_to)):
            if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{name}: expected an integer array of shape ({n},), got {arr.dtype} {arr.shape}")
        sw_ns, sw_to = sw_ns.astype(np.int64), sw_to.astype(np.int64)
        switchers = sw_ns != NAT
        bad = np.flatnonzero(switchers != (sw_to >= 0))
        if bad.size:
            raise ValueError(f"switch_to: row {int(bad[0])} has switch_to {int(sw_to[bad[0]])} but switch_ns "
                             f"{'NaT' if sw_ns[bad[0]] == NAT else int(sw_ns[bad[0]])} (both set or neither)")
        bad = np.flatnonzero((sw_to >= n_ch) | (switchers & (sw_to == self._preferred)))
        if bad.size:
            raise ValueError(f"switch_to: row {int(bad[0])} switches to channel {int(sw_to[bad[0]])}, which is not "
                             f"another of the {n_ch} channels")
        object.__setattr__(self, "switch_ns", sw_ns)
        object.__setattr__(self, "switch_to", sw_to)
        object.__setattr__(self, "_switchers", np.flatnonzero(switchers))
        fatigue = float(self.fatigue)
        if not 0.0 <= fatigue < 1.0:
            raise ValueError(f"fatigue: must be in [0, 1), got {self.fatigue!r}")
        object.__setattr__(self, "fatigue", fatigue)
        object.__setattr__(self, "fatigue_window", parse_duration(self.fatigue_window, "fatigue_window"))

    def __len__(self) -> int:
        return int(self.customer_id.shape[0])

    def __repr__(self) -> str:
        drift = f", switchers={self._switchers.size}" if self._switchers.size else ""
        fatigue = f", fatigue={self.fatigue}" if self.fatigue else ""
        return (f"Population(n_customers={len(self)}, channels={list(self.space.channels)}, "
                f"segments={int(self.segment.max()) + 1 if len(self) else 0}{drift}{fatigue}, seed={self.seed})")

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self)

    def rows_of(self, customer_ids: Any) -> np.ndarray:
        """Row of every id (int64); a ValueError names the first unknown id.

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 3, seed=0)
        >>> pop.rows_of(["c-000003", "c-000001"]).tolist()
        [2, 0]
        """
        ids = pd.Series(customer_ids, dtype=object).reset_index(drop=True)
        rows = self._id_index.get_indexer(ids)
        bad = np.flatnonzero(rows < 0)
        if bad.size:
            raise ValueError(f"customer_id: {ids.iloc[bad[0]]!r} in row {int(bad[0])} is not in the population")
        return rows.astype(np.int64)

    def response_prob(self, rows: Any, channel_codes: Any, wording_codes: Any, local_hour: Any,
                      weekday: Any, *, at: Any = None, recent: Any = None) -> np.ndarray:
        """True probability that each send gets a reply, clipped to ``[0, 0.95]``, times the fatigue factor.

        Parameters
        ----------
        rows : int array (m,)
            Customer rows (see :meth:`rows_of`).
        channel_codes : int array (m,)
            Position of the channel in ``space.channels``.
        wording_codes : int array (m,) or None
            Position of the wording in ``space.wordings``; -1 or None means no
            wording (multiplier 1, the wordings' mean).
        local_hour : int array (m,)
            Local send hour, 0-23, in the customer's zone.
        weekday : int array (m,)
            Local send weekday, 0 = Monday.
        at : timestamps (m,) or one timestamp, optional
            Send instants (naive = UTC): a customer whose preferred channel
            switched at or before ``at`` is evaluated with the switched
            channel effects. None: the truth before any switch.
        recent : int array (m,), optional
            Messages the customer was sent in the ``fatigue_window`` before
            each send; the probability is multiplied by ``(1 - fatigue) ** recent``
            after the clip. None: no fatigue.

        Returns
        -------
        float64 array (m,)

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 5, seed=0, fatigue=0.2)
        >>> p = pop.response_prob([0, 0], [0, 1], None, [9, 9], [0, 0])
        >>> p.shape, bool(((p >= 0) & (p <= 0.95)).all())
        ((2,), True)
        >>> tired = pop.response_prob([0, 0], [0, 1], None, [9, 9], [0, 0], recent=[2, 2])
        >>> np.allclose(tired, p * 0.8 ** 2)
        True
        """
        n = len(self)
        rows = _int_array(rows, "rows", 0, n)
        m = rows.shape[0]
        ch = _int_array(channel_codes, "channel_codes", 0, len(self.space.channels), m)
        hour = _int_array(local_hour, "local_hour", 0, 24, m)
        wd = _int_array(weekday, "weekday", 0, 7, m)
        w = None
        if wording_codes is not None and self.wording_effect.shape[1]:
            w = _int_array(wording_codes, "wording_codes", -1, self.wording_effect.shape[1], m)
        at_ns = None
        if at is not None:
            at_ns = _instants(at, m)
        k = None
        if recent is not None:
            k = _int_array(recent, "recent", 0, np.iinfo(np.int64).max, m)
        return self._prob(rows, ch, w, hour, wd, at_ns, k)

    def _prob(self, rows: np.ndarray, ch: np.ndarray, w: np.ndarray | None, hour: np.ndarray, wd: np.ndarray,
              at_ns: np.ndarray | None, recent: np.ndarray | None) -> np.ndarray:
        """:meth:`response_prob` on validated arrays (the simulator's inner loop)."""
        p = self.base_rate[rows] * self._channel_effect(rows, ch, at_ns)
        p = p * self.hour_effect[rows, hour] * self.weekday_effect[rows, wd]
        if w is not None and self.wording_effect.shape[1]:
            p = p * np.where(w >= 0, self.wording_effect[rows, np.maximum(w, 0)], 1.0)
        p = np.clip(p, 0.0, _MAX_P)
        if recent is not None and self.fatigue:
            p = p * self.fatigue_factor(recent)
        return p

    def fatigue_factor(self, recent: Any) -> np.ndarray:
        """The multiplier ``(1 - fatigue) ** recent`` of a send after ``recent`` recent messages.

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email"]), 1, seed=0, fatigue=0.1)
        >>> pop.fatigue_factor([0, 1, 2]).round(4).tolist()
        [1.0, 0.9, 0.81]
        """
        return np.power(1.0 - self.fatigue, np.asarray(recent, dtype=np.float64))

    def _channel_effect(self, rows: np.ndarray, ch: np.ndarray, at_ns: np.ndarray | None) -> np.ndarray:
        """``channel_effect[rows, ch]``, with the preferred channel swapped where a switch happened by ``at_ns``."""
        if at_ns is None or not self._switchers.size:
            return self.channel_effect[rows, ch]
        to = self.switch_to[rows]
        old = self._preferred[rows]
        switched = (self.switch_ns[rows] != NAT) & (self.switch_ns[rows] <= at_ns)
        col = np.where(switched & (ch == old), to, np.where(switched & (ch == to), old, ch))
        return self.channel_effect[rows, col]

    def channel_effect_at(self, at: Any) -> np.ndarray:
        """The channel multipliers of every customer at instant ``at`` (after the switches due by then).

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms", "push"])
        >>> pop = make_population(space, 100, seed=0, switch_share=0.5,
        ...                       switch_window=("2026-01-10", "2026-01-20"))
        >>> before, after = pop.channel_effect_at("2026-01-01"), pop.channel_effect_at("2026-02-01")
        >>> bool((before == pop.channel_effect).all()), int((before != after).any(axis=1).sum())
        (True, 50)
        """
        n, n_ch = self.channel_effect.shape
        t = int(as_utc_timestamp(at, "at").as_unit("ns").value)
        rows = np.repeat(np.arange(n, dtype=np.int64), n_ch)
        ch = np.tile(np.arange(n_ch, dtype=np.int64), n)
        return self._channel_effect(rows, ch, np.full(n * n_ch, t, dtype=np.int64)).reshape(n, n_ch)

    def best_arm(self, dimension: str, at: Any = None) -> np.ndarray:
        """The true best arm of every customer in one dimension (int64 positions).

        Parameters
        ----------
        dimension : {"channel", "wording", "hour", "weekday"}
        at : timestamp, optional
            For ``"channel"``: the best channel at this instant, after the
            preference switches due by then (default: before any switch).

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 4, seed=0)
        >>> best = pop.best_arm("channel")
        >>> best.shape, bool(((best == 0) | (best == 1)).all())
        ((4,), True)
        """
        effects = {"channel": self.channel_effect, "wording": self.wording_effect, "hour": self.hour_effect,
                   "weekday": self.weekday_effect}
        if dimension not in effects:
            raise ValueError(f"dimension: expected one of {', '.join(effects)}, got {dimension!r}")
        eff = effects[dimension]
        if dimension == "channel" and at is not None:
            eff = self.channel_effect_at(at)
        if eff.shape[1] == 0:
            raise ValueError("dimension: 'wording' has no arms (the arm space has no wordings)")
        return np.argmax(eff, axis=1).astype(np.int64)

    def customers_table(self) -> pd.DataFrame:
        """The customers table of :meth:`channelopt.ChannelModel.rank`.

        Returns
        -------
        DataFrame
            ``customer_id, tz, segment, consent_<channel>...`` (one bool column per channel).

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 3, seed=0)
        >>> list(pop.customers_table().columns)
        ['customer_id', 'tz', 'segment', 'consent_email', 'consent_sms']
        """
        out = pd.DataFrame({"customer_id": self.customer_id, "tz": self.tz, "segment": self.segment})
        for c, name in enumerate(self.space.channels):
            out[f"consent_{name}"] = self.consent[:, c].copy()
        return out

    def local_time(self, rows: Any, sent_at: Any) -> tuple[np.ndarray, np.ndarray]:
        """Local hour (0-23) and weekday (0 = Monday) of send instants in each customer's zone.

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email"]), 1, seed=0, zones=("Asia/Tokyo",))
        >>> h, d = pop.local_time([0], pd.to_datetime(["2026-11-23 00:30"], utc=True))
        >>> int(h[0]), int(d[0])   # 09:30 on Monday in Tokyo
        (9, 0)
        """
        rows = _int_array(rows, "rows", 0, len(self))
        ns = to_utc_ns(pd.Series(sent_at), "sent_at", allow_null=False)
        if ns.shape[0] != rows.shape[0]:
            raise ValueError(f"sent_at: expected {rows.shape[0]} values, got {ns.shape[0]}")
        hour, wd = local_hour_weekday(ns, self.zone_code[rows], list(self.zones))
        return hour.astype(np.int64), wd.astype(np.int64)


def _int_array(values: Any, name: str, lo: int, hi: int, length: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected integers, got {arr[:1].tolist()[0]!r}")
    arr = arr.astype(np.int64)
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}: expected {length} values, got {arr.shape[0]}")
    bad = np.flatnonzero((arr < lo) | (arr >= hi))
    if bad.size:
        raise ValueError(f"{name}: value {int(arr[bad[0]])} at position {int(bad[0])} is outside [{lo}, {hi - 1}]")
    return arr


def _instants(at: Any, m: int) -> np.ndarray:
    """``at`` (one timestamp or ``m`` of them, naive = UTC) as int64 UTC ns of length ``m``."""
    if np.ndim(at) == 0 and not isinstance(at, (pd.Series, pd.Index)):
        return np.full(m, as_utc_timestamp(at, "at").as_unit("ns").value, dtype=np.int64)
    ns = to_utc_ns(pd.Series(at), "at", allow_null=False)
    if ns.shape[0] != m:
        raise ValueError(f"at: expected {m} values, got {ns.shape[0]}")
    return ns


def _check_rate_range(base_rate: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in base_rate)
    except (TypeError, ValueError):
        raise ValueError(f"base_rate: expected a pair (low, high), got {base_rate!r}") from None
    if not (0.0 < lo <= hi < _MAX_P):
        raise ValueError(f"base_rate: need 0 < low <= high < {_MAX_P}, got {base_rate!r}")
    return lo, hi


def _normalise_mean(x: np.ndarray) -> np.ndarray:
    return x / x.mean(axis=1, keepdims=True)


def _preferred(rng: np.random.Generator, favourite: np.ndarray, segment: np.ndarray, k: int,
               loyalty: float) -> np.ndarray:
    """Each customer's preferred arm: the segment's favourite with prob ``loyalty``, else another at random."""
    n = segment.shape[0]
    fav = favourite[segment]
    other = (fav + 1 + rng.integers(0, max(k - 1, 1), size=n)) % k
    return np.where(rng.random(n) < loyalty, fav, other) if k > 1 else fav


def make_population(space: ArmSpace, n_customers: int, *, seed: int, zones: Sequence[str] = DEFAULT_ZONES,
                    n_segments: int = 4, base_rate: tuple[float, float] = (0.02, 0.25), switch_share: float = 0.0,
                    switch_window: tuple[Any, Any] | None = None, fatigue: float = 0.0,
                    fatigue_window: Any = "7D") -> Population:
    """Draw a synthetic population with true, different preferences.

    Parameters
    ----------
    space : ArmSpace
        Channels and wordings of the truth (hours and weekdays always have effects).
    n_customers : int
        Number of customers (ids ``"c-000001"`` ...).
    seed : int
        Everything is a deterministic function of the arguments.
    zones : sequence of str
        IANA zones, assigned uniformly at random.
    n_segments : int
        Segments (of unequal, random sizes); each has a favourite channel and wording (shared by 70% and
        60% of its customers), typical ratios for the other arms, a typical
        peak hour (between 08:00 and 21:00 local) and a weekday pattern.
    base_rate : (low, high)
        Range of the per-customer response rate on the preferred channel
        (segment means spread over the range, customers log-normal around them).
    switch_share : float, default 0
        Share of customers (exactly ``round(switch_share * n_customers)``, drawn
        at random) whose preferred channel switches once, to another channel
        drawn uniformly, at an instant drawn uniformly in ``switch_window``
        (whole seconds). The old and new preferred channels swap multipliers.
    switch_window : (start, end) timestamps
        Required when ``switch_share > 0`` (naive = UTC), ``start < end``.
    fatigue : float in [0, 1), default 0
        Each message in the ``fatigue_window`` before a send multiplies its
        reply probability by ``1 - fatigue``.
    fatigue_window : duration, default "7D"

    Drift and fatigue come from their own random stream: the other attributes
    do not depend on them (a population with and without them has the same
    customers, effects and zones).

    Returns
    -------
    Population

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
    >>> pop = make_population(space, 1000, seed=1)
    >>> len(pop), pop.channel_effect.shape, pop.wording_effect.shape, pop.hour_effect.shape
    (1000, (1000, 3), (1000, 2), (1000, 24))
    >>> bool((pop.channel_effect.max(axis=1) == 1).all())     # the preferred channel has multiplier 1
    True
    >>> float(np.sort(pop.channel_effect, axis=1)[:, -2].max()) <= 0.45   # the others at most 0.45
    True
    """
    if not isinstance(space, ArmSpace):
        raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 1:
        raise ValueError(f"n_customers: must be a positive integer, got {n_customers!r}")
    if isinstance(n_segments, bool) or not isinstance(n_segments, (int, np.integer)) or n_segments < 1:
        raise ValueError(f"n_segments: must be a positive integer, got {n_segments!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    if isinstance(zones, str) or len(zones) == 0:
        raise ValueError(f"zones: expected a non-empty list of IANA zone names, got {zones!r}")
    zones = tuple(check_zone(z, "zones") for z in zones)
    lo, hi = _check_rate_range(base_rate)
    n, n_seg = int(n_customers), int(n_segments)
    n_ch, n_w = len(space.channels), len(space.wordings)
    try:
        share = float(switch_share)
    except (TypeError, ValueError):
        raise ValueError(f"switch_share: must be a number in [0, 1], got {switch_share!r}") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"switch_share: must be in [0, 1], got {switch_share!r}")
    n_switch = int(round(share * n))
    if n_switch and n_ch < 2:
        raise ValueError("switch_share: a preferred channel can only switch with at least 2 channels")
    if n_switch:
        if switch_window is None or isinstance(switch_window, str) or len(switch_window) != 2:
            raise ValueError(f"switch_window: expected (start, end) timestamps when switch_share > 0, "
                             f"got {switch_window!r}")
        w0 = as_utc_timestamp(switch_window[0], "switch_window").as_unit("ns").value
        w1 = as_utc_timestamp(switch_window[1], "switch_window").as_unit("ns").value
        if not w0 < w1:
            raise ValueError(f"switch_window: start must be before end, got {switch_window!r}")

    # independent streams per attribute: changing one never shifts another
    g = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(9)]
    seg_share = g[0].dirichlet(np.full(n_seg, 3.0))  # segments of unequal size
    segment = np.minimum(np.searchsorted(np.cumsum(seg_share), g[0].random(n), side="right"), n_seg - 1)
    segment = segment.astype(np.int64)
    tz = np.array(zones, dtype=object)[g[1].integers(0, len(zones), size=n)]

    # base rate: segment means spread over [lo, hi] (log scale), customers log-normal around them
    r = g[2]
    seg_mean = np.exp(r.uniform(math.log(lo) + 0.25 * math.log(hi / lo), math.log(hi) - 0.15 * math.log(hi / lo),
                                size=n_seg)) if hi > lo else np.full(n_seg, lo)
    base = np.clip(seg_mean[segment] * np.exp(r.normal(0.0, 0.35, size=n)), lo, hi)

    # channels: a preferred channel with multiplier 1, the others a fraction of it
    r = g[3]
    fav_ch = r.permutation(np.resize(np.arange(n_ch), max(n_seg, n_ch)))[:n_seg]
    seg_ratio = r.uniform(0.12, 0.32, size=(n_seg, n_ch))
    pref_ch = _preferred(r, fav_ch, segment, n_ch, 0.7)
    channel = np.clip(seg_ratio[segment] * np.exp(r.normal(0.0, 0.25, size=(n, n_ch))), 0.05, 0.45)
    channel[np.arange(n), pref_ch] = 1.0

    # wordings: same shape, milder, then mean 1
    r = g[4]
    if n_w:
        fav_w = r.permutation(np.resize(np.arange(n_w), max(n_seg, n_w)))[:n_seg]
        seg_wr = r.uniform(0.45, 0.75, size=(n_seg, n_w))
        pref_w = _preferred(r, fav_w, segment, n_w, 0.6)
        wording = np.clip(seg_wr[segment] * np.exp(r.normal(0.0, 0.15, size=(n, n_w))), 0.3, 0.85)
        wording[np.arange(n), pref_w] = 1.0
        wording = _normalise_mean(wording)
    else:
        wording = np.zeros((n, 0))

    # local hour: von Mises bump around a per-customer peak, mean 1 over the day
    r = g[5]
    seg_peak = r.uniform(8.0, 21.0, size=n_seg)
    peak = np.mod(seg_peak[segment] + r.normal(0.0, 1.5, size=n), 24.0)
    kappa = r.uniform(0.8, 1.5, size=n)
    hours = np.arange(24.0)
    hour = np.exp(kappa[:, None] * np.cos(2.0 * np.pi * (hours[None, :] - peak[:, None]) / 24.0))
    hour = _normalise_mean(hour)

    # weekday: a mild segment pattern, mean 1
    r = g[6]
    seg_wd = np.exp(r.normal(0.0, 0.08, size=(n_seg, 7)))
    weekday = _normalise_mean(np.clip(seg_wd[segment] * np.exp(r.normal(0.0, 0.04, size=(n, 7))), 0.8, 1.25))

    # reply delays: channel medians, customers faster or slower
    r = g[7]
    med = np.array([DELAY_MEDIANS.get(c, _DEFAULT_DELAY) for c in space.channels])
    delay_median = med[None, :] * np.exp(r.normal(0.0, 0.5, size=(n, 1)) + r.normal(0.0, 0.25, size=(n, n_ch)))

    # consent: mostly given, a channel-specific rate
    r = g[8]
    consent_rate = r.uniform(0.85, 0.98, size=n_ch)
    consent = r.random((n, n_ch)) < consent_rate[None, :]

    # preference switches: a stream of their own (child 9), so the draws above never move
    switch_ns = np.full(n, NAT, dtype=np.int64)
    switch_to = np.full(n, -1, dtype=np.int64)
    if n_switch:
        r = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(10)[9])
        who = np.sort(r.choice(n, size=n_switch, replace=False))
        span_s = (w1 - w0) // NS_PER_S
        switch_ns[who] = w0 + r.integers(0, max(span_s, 1), size=n_switch) * NS_PER_S
        switch_to[who] = (pref_ch[who] + 1 + r.integers(0, n_ch - 1, size=n_switch)) % n_ch

    width = max(6, len(str(n)))
    ids = ("c-" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(dtype=object)
    return Population(space=space, customer_id=ids, tz=tz, segment=segment, base_rate=base,
                      channel_effect=channel, wording_effect=wording, hour_effect=hour, weekday_effect=weekday,
                      peak_hour=peak, delay_median_s=delay_median, delay_sigma=_DELAY_SIGMA, consent=consent,
                      unsubscribe_prob=(0.001, 0.004), complaint_prob=(0.0002, 0.001), seed=int(seed),
                      switch_ns=switch_ns, switch_to=switch_to, fatigue=fatigue, fatigue_window=fatigue_window)


def _customers_frame(customers: Any) -> pd.DataFrame:
    if isinstance(customers, pd.DataFrame):
        table = customers.reset_index(drop=True)
    else:
        table = pd.DataFrame({"customer_id": list(customers)})
    if "customer_id" not in table.columns:
        raise ValueError(f"customers: missing required column 'customer_id' "
                         f"(columns present: {', '.join(map(str, table.columns))})")
    return table


class UniformPolicy:
    """Pick channel, wording, local hour (and every extra dimension) uniformly at random.

    The logged ``propensity`` is, by default, the probability of the chosen
    channel, ``1 / n_channels`` (what the sample data carries); with
    ``propensity="decision"`` it is the probability of the whole decision --
    channel, wording, local hour and extra dimensions, ``1 / (n_channels *
    n_wordings * 24 * ...)`` -- the action :class:`~channelopt.ChannelModel`'s
    propensities and :mod:`channelopt.baselines` describe (:func:`run`'s
    explorer logs that). Decisions are a deterministic function of ``seed``,
    ``now`` and the customers' order in the table.

    Parameters
    ----------
    space : ArmSpace
    seed : int
    propensity : {"channel", "decision"}, default "channel"

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "urgent"])
    >>> plan = UniformPolicy(space, seed=3).rank(pd.DataFrame({"customer_id": ["a", "b"], "tz": ["Asia/Tokyo", "UTC"]}),
    ...                                         now=pd.Timestamp("2026-11-23 09:00", tz="UTC"))
    >>> list(plan.columns)
    ['customer_id', 'channel', 'wording', 'hour', 'send_at', 'score', 'propensity']
    >>> plan["propensity"].tolist()
    [0.25, 0.25]
    >>> UniformPolicy(space, propensity="decision").rank(["a"], now="2026-11-23")["propensity"].tolist() == [1 / 192]
    True
    """

    def __init__(self, space: ArmSpace, seed: int = 0, *, propensity: str = "channel") -> None:
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
        if propensity not in ("channel", "decision"):
            raise ValueError(f"propensity: expected 'channel' or 'decision', got {propensity!r}")
        self.space = space
        self.seed = int(seed)
        self.propensity = propensity
        k = len(space.channels)
        if propensity == "decision":
            k *= max(len(space.wordings), 1) * (24 if space.hours else 1)
            for labels in space.extra.values():
                k *= len(labels)
        self._p = 1.0 / k

    def __repr__(self) -> str:
        extra = ", propensity='decision'" if self.propensity == "decision" else ""
        return f"UniformPolicy(channels={list(self.space.channels)}, seed={self.seed}{extra})"

    def rank(self, customers: Any, now: Any) -> pd.DataFrame:
        """Decide for every customer of ``customers`` (a table with ``customer_id`` and optional ``tz``).

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``
            (plus one column per extra dimension), like
            :meth:`channelopt.ChannelModel.rank`; ``score`` is NaN.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> plan = UniformPolicy(space, seed=0).rank(pd.DataFrame({"customer_id": ["a"]}), now="2026-11-23 09:00")
        >>> bool(plan["wording"].isna().all()), str(plan["send_at"].dt.tz)
        (True, 'UTC')
        """
        now_ts = as_utc_timestamp(now, "now").as_unit("ns")
        table = _customers_frame(customers)
        n = len(table)
        space = self.space
        rng = np.random.default_rng([self.seed, int(now_ts.value // NS_PER_S) % (1 << 63)])
        channel = rng.integers(0, len(space.channels), size=n)
        wording = rng.integers(0, len(space.wordings), size=n) if space.wordings else np.full(n, -1)
        hour = rng.integers(0, 24, size=n)
        extra = {k: rng.integers(0, len(v), size=n) for k, v in space.extra.items()}
        if space.hours:
            tz = table["tz"] if "tz" in table.columns else None
            codes, zones = zone_codes(tz, n, "UTC")
            send_ns = send_at_table(now_ts.value, zones)[codes, hour] if n else np.zeros(0, np.int64)
            hours = pd.array(hour, dtype="Int8")
        else:
            send_ns = np.full(n, now_ts.value, dtype=np.int64)
            hours = pd.array([pd.NA] * n, dtype="Int8")
        cols: dict[str, Any] = {
            "customer_id": table["customer_id"],
            "channel": pd.Categorical.from_codes(channel, categories=list(space.channels)),
            "wording": pd.Categorical.from_codes(wording, categories=list(space.wordings)),
            "hour": hours,
            "send_at": pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC"),
            "score": np.full(n, np.nan),
            "propensity": np.full(n, self._p),
        }
        for k, codes_k in extra.items():
            cols[k] = pd.Categorical.from_codes(codes_k, categories=list(space.extra[k]))
        return pd.DataFrame(cols)


def censor(logs: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """What the log looks like at ``as_of``: rows sent by then, replies after it not yet seen.

    Parameters
    ----------
    logs : DataFrame
        A log from :func:`simulate_logs`.
    as_of : timestamp
        The observation time (naive = UTC).

    Returns
    -------
    DataFrame
        Rows with ``sent_at <= as_of``; ``responded_at`` is NaT where it is after ``as_of``.

    Examples
    --------
    >>> logs = pd.DataFrame({"sent_at": pd.to_datetime(["2026-01-01 09:00", "2026-01-02 09:00"], utc=True),
    ...                      "responded_at": pd.to_datetime(["2026-01-01 12:00", None], utc=True)})
    >>> censor(logs, "2026-01-01 10:00")["responded_at"].isna().tolist()
    [True]
    """
    t = as_utc_timestamp(as_of, "as_of")
    for col in ("sent_at", "responded_at"):
        if col not in logs.columns:
            raise ValueError(f"logs: missing required column {col!r}")
    out = logs.loc[logs["sent_at"] <= t].copy()
    late = out["responded_at"] > t
    if late.any():
        out.loc[late, "responded_at"] = pd.NaT
    return out.reset_index(drop=True)


def _codes(values: pd.Series, labels: Sequence[str], column: str) -> np.ndarray:
    """Position of every value in ``labels`` (-1 for nulls); a ValueError names the first unknown value."""
    s = values.reset_index(drop=True)
    if isinstance(s.dtype, pd.CategoricalDtype):  # the fast path: ChannelModel.rank and UniformPolicy
        pos = pd.Index(list(labels), dtype=object).get_indexer(s.cat.categories.astype(object))
        raw = s.cat.codes.to_numpy().astype(np.int64)
        null = raw < 0
        codes = np.append(pos, -1)[raw]
        s = s.astype(object)
    else:
        s = s.astype(object)
        null = s.isna().to_numpy()
        codes = pd.Index(list(labels), dtype=object).get_indexer(s.where(~null, None)).astype(np.int64)
        codes[null] = -1
    bad = np.flatnonzero((codes < 0) & ~null)
    if bad.size:
        raise ValueError(f"policy output: column {column!r} has unknown value {s.iloc[bad[0]]!r} in row {int(bad[0])} "
                         f"(known: {', '.join(labels)})")
    return codes


def _logs_frame(parts: list[dict[str, np.ndarray]], population: Population) -> pd.DataFrame:
    def cat(key: str, dtype: Any) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0, dtype=dtype)

    rows = cat("rows", np.int64)
    ch = cat("channel", np.int64)
    w = cat("wording", np.int64)
    sent = cat("sent", np.int64)
    resp = cat("responded", np.int64)
    channels = np.array(population.space.channels, dtype=object)
    wordings = np.array(list(population.space.wordings) + [None], dtype=object)  # code -1 -> None
    eid = cat("event", np.int64)
    return pd.DataFrame({
        "customer_id": population.customer_id[rows],
        "sent_at": pd.DatetimeIndex(sent.view("M8[ns]")).tz_localize("UTC"),
        "channel": channels[ch],
        "wording": wordings[w],
        "responded_at": pd.DatetimeIndex(resp.view("M8[ns]")).tz_localize("UTC"),
        "tz": population.tz[rows],
        "propensity": cat("propensity", np.float64),
        "event_id": ("e-" + pd.Series(eid, dtype=np.int64).astype(str).str.zfill(9)).to_numpy(dtype=object),
        "unsubscribed": cat("unsubscribed", bool),
        "complained": cat("complained", bool),
        "segment": population.segment[rows],
    }, columns=list(_LOG_COLUMNS))


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def _check_play(population: Any, policy: Any, days: Any, sends_per_day: Any, seed: Any) -> None:
    if not isinstance(population, Population):
        raise ValueError(f"population: expected a Population, got {type(population).__name__}")
    if not callable(getattr(policy, "rank", None)):
        raise ValueError(f"policy: expected an object with a rank(customers, now) method, got {type(policy).__name__}")
    for name, value in (("days", days), ("sends_per_day", sends_per_day), ("seed", seed)):
        _check_count(name, value)
    n = len(population)
    if not 1 <= sends_per_day <= n:
        raise ValueError(f"sends_per_day: must be between 1 and the population size ({n}), got {sends_per_day}")


def _recent_counts(history: list[dict[str, np.ndarray]], rows: np.ndarray, at_ns: np.ndarray,
                   window_ns: int) -> np.ndarray:
    """For each ``(rows[i], at_ns[i])``: the sends in ``history`` to that row with ``sent`` in ``[at - window, at)``.

    Exact for any history (repeated customers included): times are replaced by
    their rank among all the times involved, so ``row * R + rank`` is one sortable
    int64 key and two binary searches count each window.
    """
    m = rows.shape[0]
    if m == 0 or not history:
        return np.zeros(m, dtype=np.int64)
    lo_t = int(at_ns.min()) - window_ns
    hi_t = int(at_ns.max())
    h_rows, h_sent = [], []
    for part in history:
        sent = part["sent"]
        if sent.size == 0 or int(sent.max()) < lo_t or int(sent.min()) >= hi_t:
            continue
        sel = (sent >= lo_t) & (sent < hi_t)
        h_rows.append(part["rows"][sel])
        h_sent.append(sent[sel])
    if not h_rows:
        return np.zeros(m, dtype=np.int64)
    hr, hs = np.concatenate(h_rows), np.concatenate(h_sent)
    times = np.unique(np.concatenate([hs, at_ns, at_ns - window_ns]))
    r = np.int64(times.size + 1)
    key = np.sort(hr * r + np.searchsorted(times, hs))
    upper = np.searchsorted(key, rows * r + np.searchsorted(times, at_ns), side="left")
    lower = np.searchsorted(key, rows * r + np.searchsorted(times, at_ns - window_ns), side="left")
    return (upper - lower).astype(np.int64)


def _oracle(population: Population, rows: np.ndarray, now_ns: int, blocked: np.ndarray | None,
            history: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Expected reply probability of the best send the truth allows for each customer (see :func:`run`)."""
    space = population.space
    zones = list(population.zones)
    zc = population.zone_code[rows]
    m = rows.shape[0]
    if space.hours:
        cand = send_at_table(now_ns, zones)[zc]  # (m, 24): the next start of every local hour
    else:
        cand = np.full((m, 1), now_ns, dtype=np.int64)
    c = cand.shape[1]
    frow = np.repeat(rows, c)
    flat = np.ascontiguousarray(cand).reshape(-1)
    hour, wd = local_hour_weekday(flat, np.repeat(zc, c), zones)
    at = flat if population._switchers.size else None
    best_ch = np.zeros(m * c)
    for k in range(len(space.channels)):
        eff = population._channel_effect(frow, np.full(m * c, k, dtype=np.int64), at)
        if blocked is not None:
            eff = np.where(blocked[frow, k], 0.0, eff)
        best_ch = np.maximum(best_ch, eff)
    # the same operations, in the same order, as Population._prob: never below a policy's own p
    p = population.base_rate[frow] * best_ch
    p = p * population.hour_effect[frow, hour] * population.weekday_effect[frow, wd]
    if population.wording_effect.shape[1]:
        p = p * population.wording_effect[frow].max(axis=1)
    p = np.clip(p, 0.0, _MAX_P)
    if population.fatigue:
        p = p * population.fatigue_factor(_recent_counts(history, frow, flat, int(population.fatigue_window.value)))
    return p.reshape(m, c).max(axis=1)


def _play(population: Population, policy_of_day: Callable[[int], Any], *, start_ts: pd.Timestamp, days: int,
          sends_per_day: int, seed: int, before_day: Callable[[int, pd.Timestamp, list], Any] | None,
          final_unsubscribe: bool, track: bool) -> tuple[list[dict[str, np.ndarray]], list[dict[str, Any]]]:
    """The day loop shared by :func:`simulate_logs` and :func:`run` (one random stream per day)."""
    space = population.space
    customers = population.customers_table()
    zones = list(population.zones)
    pu_r, pu_n = population.unsubscribe_prob
    pc_r, pc_n = population.complaint_prob
    n = len(population)
    blocked = np.zeros((n, len(space.channels)), dtype=bool) if final_unsubscribe else None
    window_ns = int(population.fatigue_window.value)
    drift = population._switchers.size > 0
    parts: list[dict[str, np.ndarray]] = []
    daily: list[dict[str, Any]] = []
    next_event = 1
    for day in range(int(days)):
        now = start_ts + pd.Timedelta(days=day)
        if before_day is not None:
            before_day(day, now, parts)
        rng = np.random.default_rng([int(seed), day])
        pick = np.sort(rng.choice(n, size=int(sends_per_day), replace=False))
        plan = policy_of_day(day).rank(customers.iloc[pick].reset_index(drop=True), now)
        if not isinstance(plan, pd.DataFrame):
            raise ValueError(f"policy output: expected a DataFrame, got {type(plan).__name__}")
        missing = [c for c in ("customer_id", "channel", "wording", "send_at", "propensity") if c not in plan.columns]
        if missing:
            raise ValueError(f"policy output: missing column {missing[0]!r} "
                             f"(columns present: {', '.join(map(str, plan.columns))})")
        plan = plan.reset_index(drop=True)
        ch_all = _codes(plan["channel"], space.channels, "channel")
        keep = np.flatnonzero(ch_all >= 0)  # holds send nothing
        plan = plan.iloc[keep].reset_index(drop=True)
        m = len(plan)
        u = rng.random(m)
        z = rng.standard_normal(m)
        u_unsub = rng.random(m)
        u_compl = rng.random(m)
        if m == 0:
            if track:
                daily.append(_day_metrics(day, now, np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool),
                                          np.zeros(0, bool)))
            continue
        rows = population.rows_of(plan["customer_id"])
        ch = ch_all[keep]
        w = _codes(plan["wording"], space.wordings, "wording") if space.wordings else np.full(m, -1, np.int64)
        sent = to_utc_ns(plan["send_at"], "send_at", allow_null=False)
        prop = pd.to_numeric(plan["propensity"], errors="coerce").to_numpy(dtype=np.float64)
        hour, wd = local_hour_weekday(sent, population.zone_code[rows], zones)
        recent = _recent_counts(parts, rows, sent, window_ns) if population.fatigue else None
        p = population._prob(rows, ch, w, hour, wd, sent if drift else None, recent)
        if blocked is not None:
            p = np.where(blocked[rows, ch], 0.0, p)  # an unsubscribed channel never answers again
        replied = u < p
        delay_s = population.delay_median_s[rows, ch] * np.exp(population.delay_sigma * z)
        delay_ns = np.maximum(np.round(delay_s), 1.0).astype(np.int64) * NS_PER_S
        responded = np.where(replied, sent + delay_ns, NAT)
        unsub = u_unsub < np.where(replied, pu_r, pu_n)
        compl = u_compl < np.where(replied, pc_r, pc_n)
        if track:
            oracle = _oracle(population, rows, int(now.value), blocked, parts)
            daily.append(_day_metrics(day, now, p, oracle, replied, unsub, compl))
        parts.append({"rows": rows, "channel": ch, "wording": w, "sent": sent, "responded": responded,
                      "propensity": prop, "event": np.arange(next_event, next_event + m, dtype=np.int64),
                      "unsubscribed": unsub, "complained": compl})
        next_event += m
        if blocked is not None:
            blocked[rows[unsub], ch[unsub]] = True
    return parts, daily


def _day_metrics(day: int, now: pd.Timestamp, p: np.ndarray, oracle: np.ndarray, replied: np.ndarray,
                 unsub: np.ndarray, compl: np.ndarray) -> dict[str, Any]:
    return {"day": day, "now": now, "sends": int(p.shape[0]), "responses": int(replied.sum()),
            "unsubscribes": int(unsub.sum()), "complaints": int(compl.sum()),
            "expected_responses": float(p.sum()), "oracle_responses": float(oracle.sum())}


_DAILY_COLUMNS = ("day", "now", "explore", "sends", "responses", "unsubscribes", "complaints", "expected_responses",
                  "oracle_responses", "response_rate", "expected_response_rate", "oracle_response_rate",
                  "pct_of_oracle", "unsubscribe_rate", "complaint_rate", "messages_per_reply", "regret",
                  "cumulative_regret")


def _ratio(num: Any, den: Any) -> Any:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _daily_frame(daily: list[dict[str, Any]], explore_days: int) -> pd.DataFrame:
    d = pd.DataFrame(daily, columns=["day", "now", "sends", "responses", "unsubscribes", "complaints",
                                     "expected_responses", "oracle_responses"])
    d["day"] = d["day"].astype(np.int64)
    for col in ("sends", "responses", "unsubscribes", "complaints"):
        d[col] = d[col].astype(np.int64)
    for col in ("expected_responses", "oracle_responses"):
        d[col] = d[col].astype(np.float64)
    d["explore"] = d["day"].to_numpy() < explore_days
    d["response_rate"] = _ratio(d["responses"], d["sends"])
    d["expected_response_rate"] = _ratio(d["expected_responses"], d["sends"])
    d["oracle_response_rate"] = _ratio(d["oracle_responses"], d["sends"])
    d["pct_of_oracle"] = 100.0 * _ratio(d["expected_responses"], d["oracle_responses"])
    d["unsubscribe_rate"] = _ratio(d["unsubscribes"], d["sends"])
    d["complaint_rate"] = _ratio(d["complaints"], d["sends"])
    d["messages_per_reply"] = _ratio(d["sends"], d["responses"])
    d["regret"] = d["oracle_responses"] - d["expected_responses"]
    d["cumulative_regret"] = d["regret"].cumsum()
    return d[list(_DAILY_COLUMNS)]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What :func:`run` returns: the response log and the metrics of every day.

    Attributes
    ----------
    logs : DataFrame
        The response log, schema of :func:`simulate_logs` (with the policy's
        ``propensity``), in day order; ``responded_at`` is not censored.
    daily : DataFrame
        One row per day: ``day, now, explore`` (played by the uniform explorer),
        ``sends, responses, unsubscribes, complaints`` (counts over that day's
        sends; ``responses`` counts replies whenever they come),
        ``expected_responses`` (sum of the true reply probabilities of the sends),
        ``oracle_responses`` (the same for the oracle's best send to each of those
        customers), ``response_rate``, ``expected_response_rate``,
        ``oracle_response_rate`` (each divided by ``sends``), ``pct_of_oracle``
        (``100 * expected / oracle``), ``unsubscribe_rate``, ``complaint_rate``,
        ``messages_per_reply`` (``sends / responses``), ``regret`` (``oracle -
        expected`` replies) and ``cumulative_regret``. Rates are NaN on a day
        without sends.
    policy : str
        ``repr`` of the policy before the run.
    seed : int
    start : pandas.Timestamp
    explore_days : int

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> res = run(UniformPolicy(space), make_population(space, 30, seed=0), days=2, sends_per_day=10)
    >>> res.daily[["day", "sends", "explore"]].values.tolist()
    [[0, 10, True], [1, 10, False]]
    """

    logs: pd.DataFrame
    daily: pd.DataFrame
    policy: str
    seed: int
    start: pd.Timestamp
    explore_days: int

    def __post_init__(self) -> None:
        for name, frame, columns in (("logs", self.logs, _LOG_COLUMNS), ("daily", self.daily, _DAILY_COLUMNS)):
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(f"{name}: expected a DataFrame, got {type(frame).__name__}")
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{name}: missing column {missing[0]!r}")

    def __repr__(self) -> str:
        return (f"SimulationResult(policy={self.policy!r}, days={len(self.daily)}, sends={len(self.logs)}, "
                f"seed={self.seed})")

    def summary(self, start_day: int = 0, end_day: int | None = None) -> dict[str, float]:
        """Totals and rates over days ``start_day <= day < end_day`` (ratios of sums, not means of ratios).

        Returns
        -------
        dict
            ``days, sends, responses, response_rate, expected_response_rate,
            oracle_response_rate, pct_of_oracle, unsubscribe_rate, complaint_rate,
            messages_per_reply, regret``.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
        >>> res = run(UniformPolicy(space), make_population(space, 30, seed=0), days=3, sends_per_day=10)
        >>> s = res.summary(start_day=1)
        >>> s["days"], s["sends"], s["pct_of_oracle"] <= 100
        (2, 20, True)
        """
        d = self.daily
        sel = d["day"] >= start_day
        if end_day is not None:
            sel &= d["day"] < end_day
        d = d[sel]
        sends, responses = int(d["sends"].sum()), int(d["responses"].sum())
        expected, oracle = float(d["expected_responses"].sum()), float(d["oracle_responses"].sum())
        return {
            "days": int(len(d)), "sends": sends, "responses": responses,
            "response_rate": float(_ratio(responses, sends)),
            "expected_response_rate": float(_ratio(expected, sends)),
            "oracle_response_rate": float(_ratio(oracle, sends)),
            "pct_of_oracle": float(100.0 * _ratio(expected, oracle)),
            "unsubscribe_rate": float(_ratio(d["unsubscribes"].sum(), sends)),
            "complaint_rate": float(_ratio(d["complaints"].sum(), sends)),
            "messages_per_reply": float(_ratio(sends, responses)),
            "regret": oracle - expected,
        }


def simulate_logs(population: Population, policy: Policy, *, start: Any, days: int, sends_per_day: int, seed: int,
                  retrain: Callable[[pd.DataFrame, pd.Timestamp], Any] | None = None) -> pd.DataFrame:
    """Play ``policy`` against ``population`` for ``days`` days and return the response log.

    Each day ``d``: ``now = start + d days``; ``sends_per_day`` distinct customers
    are drawn at random; the policy decides for them (``policy.rank(table, now)``
    with their rows of :meth:`Population.customers_table`); each decision with a
    channel is sent at its ``send_at``; the reply is drawn from the truth at the
    local hour and weekday of ``send_at`` in the customer's zone (after the
    preference switches due by then, times the fatigue factor of the customer's
    earlier sends in this log, when the population has them), with a
    lognormal delay around the customer's median for that channel; an
    unsubscription or complaint is drawn with the population's small
    probabilities (higher after no reply) and is only a flag: later sends on
    that channel still reply (use :func:`run` for final unsubscriptions).
    Decisions without a channel (holds) send nothing. Vectorised per day;
    deterministic for a seed (and a deterministic policy).

    Parameters
    ----------
    population : Population
    policy : Policy
        Any object with ``rank(customers, now)`` (see the module docstring).
    start : timestamp
        ``now`` of the first day (naive = UTC).
    days : int
        Number of days.
    sends_per_day : int
        Customers contacted per day, at most the population size.
    seed : int
        Seed of the customers drawn and of the outcomes.
    retrain : callable, optional
        ``retrain(logs_so_far, as_of)`` is called at the start of every day
        after the first with ``as_of = now`` and the log as it is known then
        (:func:`censor`: replies after ``now`` are not yet visible), e.g. to
        refit a :class:`~channelopt.ChannelModel` used as the policy.

    Returns
    -------
    DataFrame
        ``customer_id, sent_at, channel, wording, responded_at, tz, propensity,
        event_id, unsubscribed, complained``, in day order. ``responded_at`` is
        NaT without a reply; it is not censored (replies can come after the last
        day); use :func:`censor` to cut the log at a time.

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], wordings=["plain", "urgent"])
    >>> pop = make_population(space, 50, seed=0)
    >>> logs = simulate_logs(pop, UniformPolicy(space, seed=0), start="2026-11-01", days=3,
    ...                      sends_per_day=20, seed=0)
    >>> len(logs), logs["event_id"].is_unique, str(logs["sent_at"].dt.tz)
    (60, True, 'UTC')
    """
    _check_play(population, policy, days, sends_per_day, seed)
    if retrain is not None and not callable(retrain):
        raise ValueError(f"retrain: expected a callable retrain(logs_so_far, as_of), got {type(retrain).__name__}")
    start_ts = as_utc_timestamp(start, "start").as_unit("ns")

    def before_day(day: int, now: pd.Timestamp, parts: list) -> None:
        if day and retrain is not None:
            retrain(censor(_logs_frame(parts, population), now), now)

    parts, _ = _play(population, lambda day: policy, start_ts=start_ts, days=int(days),
                     sends_per_day=int(sends_per_day), seed=int(seed), before_day=before_day,
                     final_unsubscribe=False, track=False)
    return _logs_frame(parts, population)


_RETRAIN_EVERY = {"daily": 1, "weekly": 7, "never": 0}


def run(policy: Any, population: Population, *, days: int, sends_per_day: int, start: Any = "2026-01-05",
        seed: int = 0, explore_days: int = 1, retrain: str | int = "daily") -> SimulationResult:
    """Play a learning policy against ``population`` with retraining, and measure it against an oracle.

    Every day ``d`` (``now = start + d days``, decisions at ``now``):

    1. **Retrain** (days ``d >= explore_days``, every ``retrain`` days from
       ``explore_days`` on): the log so far as it is known at ``now``
       (:func:`censor`: later replies unseen) is given to the policy -- the first
       time with ``policy.fit(seen, as_of=now)``, then with
       ``policy.partial_fit(seen, as_of=now)`` when the policy has it (else
       ``fit`` again). A policy without ``fit``/``partial_fit`` is used as given.
    2. **Decide**: ``sends_per_day`` distinct customers drawn at random are ranked,
       ``policy.rank(customers, now)`` with their rows of
       :meth:`Population.customers_table`. The first ``explore_days`` days are
       played by ``UniformPolicy(population.space, seed=seed,
       propensity="decision")`` whatever the policy, so every policy starts from
       the same log (an unfitted :class:`~channelopt.ChannelModel` cannot rank),
       and every logged propensity is that of the whole decision.
    3. **Outcomes** as in :func:`simulate_logs` (same random streams), except
       that an unsubscription is final: once a send carries ``unsubscribed``,
       the customer never replies on that channel again in this run.

    The policy is trained in place (pass a fresh one to each run).

    The oracle
    ----------
    For each customer the policy sent to that day, the oracle knows the truth
    and picks the send with the highest true reply probability among: every
    channel the customer has not unsubscribed from (in this run), every wording,
    and every send instant the policies can use -- the next start of each of the
    24 local hours at or after ``now`` (``now`` itself for the current hour; just
    ``now`` when the arm space has no hours), so the weekday is the one of that
    instant. It knows the preference switches due at each instant and the
    customer's fatigue (the messages this run sent them before, i.e. the same
    history as the policy's send). It is a per-message oracle: it does not plan
    ahead (e.g. to avoid fatigue) and is evaluated on the policy's history. Its
    expected rate is therefore at least the policy's for every send made at one
    of those instants, as those of :class:`~channelopt.ChannelModel`,
    :class:`UniformPolicy` and :mod:`channelopt.baselines` are.

    Parameters
    ----------
    policy : object
        Anything with ``rank(customers, now)`` (see the module docstring), and
        optionally ``fit(logs, as_of=)`` / ``partial_fit(logs, as_of=)``.
    population : Population
    days : int
        Days to play.
    sends_per_day : int
        Customers contacted per day (at most the population size).
    start : timestamp, default "2026-01-05" (a Monday)
        ``now`` of the first day (naive = UTC).
    seed : int, default 0
        Seed of the customers drawn, the outcomes and the explorer.
    explore_days : int, default 1
        Days played by the uniform explorer before the policy takes over.
    retrain : "daily", "weekly", "never" or int, default "daily"
        Days between two trainings (``"never"``: the policy is used as given).

    Returns
    -------
    SimulationResult
        ``.logs`` and ``.daily`` (see :class:`SimulationResult`); deterministic
        for a seed and a deterministic policy.

    Examples
    --------
    >>> import channelopt as co
    >>> space = co.ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
    >>> pop = make_population(space, 200, seed=1, fatigue=0.1)
    >>> res = run(co.ChannelModel(space, seed=1), pop, days=4, sends_per_day=100, seed=1)
    >>> len(res.logs), res.daily["sends"].tolist()
    (400, [100, 100, 100, 100])
    >>> bool((res.daily["oracle_response_rate"] >= res.daily["expected_response_rate"]).all())
    True
    """
    _check_play(population, policy, days, sends_per_day, seed)
    explore_days = _check_count("explore_days", explore_days)
    if isinstance(retrain, str):
        if retrain not in _RETRAIN_EVERY:
            raise ValueError(f"retrain: expected 'daily', 'weekly', 'never' or a positive number of days, "
                             f"got {retrain!r}")
        every = _RETRAIN_EVERY[retrain]
    else:
        if isinstance(retrain, bool) or not isinstance(retrain, (int, np.integer)) or retrain < 1:
            raise ValueError(f"retrain: expected 'daily', 'weekly', 'never' or a positive number of days, "
                             f"got {retrain!r}")
        every = int(retrain)
    start_ts = as_utc_timestamp(start, "start").as_unit("ns")
    fit = getattr(policy, "fit", None)
    partial_fit = getattr(policy, "partial_fit", None)
    fit = fit if callable(fit) else None
    partial_fit = partial_fit if callable(partial_fit) else None
    explorer = UniformPolicy(population.space, seed=int(seed), propensity="decision")
    name = repr(policy)
    fitted = [False]

    def before_day(day: int, now: pd.Timestamp, parts: list) -> None:
        if day < explore_days or not every or (day - explore_days) % every or (fit is None and partial_fit is None):
            return
        seen = censor(_logs_frame(parts, population), now)
        if not len(seen):
            return
        if fitted[0] and partial_fit is not None:
            partial_fit(seen, as_of=now)
        elif fit is not None:
            fit(seen, as_of=now)
        else:
            partial_fit(seen, as_of=now)  # type: ignore[misc]
        fitted[0] = True

    parts, daily = _play(population, lambda day: explorer if day < explore_days else policy, start_ts=start_ts,
                         days=int(days), sends_per_day=int(sends_per_day), seed=int(seed), before_day=before_day,
                         final_unsubscribe=True, track=True)
    return SimulationResult(logs=_logs_frame(parts, population), daily=_daily_frame(daily, explore_days),
                            policy=name, seed=int(seed), start=start_ts, explore_days=explore_days)
