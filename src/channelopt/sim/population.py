"""The truth of a synthetic population: who the customers are and how each send would be answered.

A :class:`Population` (drawn by :func:`channelopt.sim.generate.make_population`)
holds, for every customer, a base response rate and multiplicative effects of
channel, wording, local send hour and local weekday, reply delays per channel,
consent per channel, an optional switch of the preferred channel and a fatigue
factor. The response probability of a send is::

    p = base_rate[i] * channel_effect[i, c] * wording_effect[i, w]
        * hour_effect[i, local_hour] * weekday_effect[i, local_weekday]

clipped to ``[0, MAX_P]`` (0.95). The customer's preferred channel has
multiplier 1 and every other channel a fraction of it (0.05 to 0.45), so the
best channel is clear; the wording, hour and weekday effects average 1 over
their arms, so ``base_rate[i]`` is the customer's response rate on their
preferred channel under a uniformly random wording, hour and weekday, and
``base_rate[i] * channel_effect[i, c]`` the rate of channel ``c`` under such a
policy. Extra dimensions of the arm space have no effect in the truth.

Non-stationarity and fatigue (both off by default):

* **switches**: from ``switch_ns[i]`` on, the old and the new preferred
  channel (``switch_to[i]``) of customer ``i`` swap their multipliers; the
  truth of a send is evaluated at its ``sent_at``.
* **fatigue**: the reply probability of a send is multiplied by
  ``(1 - fatigue) ** k``, where ``k`` is the number of messages the customer was
  sent in the ``fatigue_window`` before it (``sent_at`` in ``[t - window, t)``),
  on any channel.
* **seasons**: channel ``c``'s multiplier is further multiplied, at instant
  ``t``, by ``1 + season_amplitude * sin(2 pi (t mod season_period) / season_period
  + 2 pi c / n_channels)`` (``t`` in UTC ns since the epoch), so the channels peak
  in turn and a customer's best channel can change with the season.
* **arrivals**: a customer with ``arrival_ns[i]`` set is not contacted before
  that instant (:func:`channelopt.sim.loop.play_days` draws only among the
  customers who have arrived).

Customer features (``features``, off by default) are extra columns of the
customers table (e.g. a numeric and a categorical column correlated with the
customer's preferences), for policies that learn from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.config import parse_duration
from channelopt.core.validation import check_scalar
from channelopt.data.tz import NAT, as_utc_timestamp, local_hour_weekday, to_utc_ns, zone_codes

__all__ = ["MAX_P", "Population"]

#: Largest true reply probability of a send (before the fatigue factor).
MAX_P = 0.95


@dataclass(frozen=True, eq=False)
class Population:
    """Synthetic customers and how they respond (drawn by :func:`~channelopt.sim.generate.make_population`).

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
        (``channelopt.data.tz.NAT`` = never). Default: nobody switches.
    switch_to : int64 array (n,)
        The channel that becomes preferred at ``switch_ns`` (-1 = never): it
        swaps multipliers with the old preferred channel.
    fatigue : float
        Reply probabilities are multiplied by ``(1 - fatigue) ** k`` with ``k``
        the customer's messages in the ``fatigue_window`` before the send.
    fatigue_window : pandas.Timedelta
        Default 7 days.
    arrival_ns : int64 array (n,)
        UTC ns instant from which the customer can be contacted (``NAT`` = from
        the start). Default: everybody is there from the start.
    season_amplitude : float in [0, 1)
        Amplitude of the channel seasons (0 = none, the default).
    season_period : pandas.Timedelta
        Period of the seasons, default 28 days.
    features : DataFrame or None
        ``n`` rows of extra customer columns, appended to :meth:`customers_table`
        (None = none, the default).

    Examples
    --------
    >>> from channelopt.sim import make_population
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
    arrival_ns: np.ndarray = None  # type: ignore[assignment]
    season_amplitude: float = 0.0
    season_period: Any = "28D"
    features: pd.DataFrame | None = None
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
        fatigue = check_scalar(self.fatigue, "fatigue", float, min_val=0, max_val=1, include_boundaries="left")
        object.__setattr__(self, "fatigue", fatigue)
        object.__setattr__(self, "fatigue_window", parse_duration(self.fatigue_window, "fatigue_window"))
        arrival = np.full(n, NAT, dtype=np.int64) if self.arrival_ns is None else np.asarray(self.arrival_ns)
        if arrival.shape != (n,) or not np.issubdtype(arrival.dtype, np.integer):
            raise ValueError(f"arrival_ns: expected an integer array of shape ({n},), got {arrival.dtype} "
                             f"{arrival.shape}")
        object.__setattr__(self, "arrival_ns", arrival.astype(np.int64))
        amp = check_scalar(self.season_amplitude, "season_amplitude", float, min_val=0, max_val=1,
                           include_boundaries="left")
        object.__setattr__(self, "season_amplitude", amp)
        period = parse_duration(self.season_period, "season_period")
        if period <= pd.Timedelta(0):
            raise ValueError(f"season_period: must be positive, got {self.season_period!r}")
        object.__setattr__(self, "season_period", period)
        if self.features is not None:
            if not isinstance(self.features, pd.DataFrame) or len(self.features) != n:
                raise ValueError(f"features: expected a DataFrame of {n} rows, got {type(self.features).__name__}"
                                 + (f" of {len(self.features)} rows" if isinstance(self.features, pd.DataFrame)
                                    else ""))
            taken = {"customer_id", "tz", "segment"} | {f"consent_{c}" for c in self.space.channels}
            clash = sorted(taken & set(map(str, self.features.columns)))
            if clash:
                raise ValueError(f"features: column {clash[0]!r} is already a column of the customers table")
            object.__setattr__(self, "features", self.features.reset_index(drop=True))

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

    @property
    def time_varying(self) -> bool:
        """True when the channel multipliers depend on the send instant (switches or seasons)."""
        return bool(self._switchers.size) or self.season_amplitude > 0

    @property
    def has_arrivals(self) -> bool:
        """True when some customers arrive after the start (``arrival_ns`` not all ``NAT``)."""
        return bool((self.arrival_ns != NAT).any())

    def present(self, at: Any) -> np.ndarray:
        """Rows (int64, ascending) of the customers who have arrived by instant ``at``.

        Examples
        --------
        >>> from channelopt.sim import make_population
        >>> pop = make_population(ArmSpace(channels=["email"]), 4, seed=0, arrival_share=0.5,
        ...                       arrival_window=("2026-01-10", "2026-01-20"))
        >>> len(pop.present("2026-01-01")), len(pop.present("2026-02-01"))
        (2, 4)
        """
        t = int(as_utc_timestamp(at, "at").as_unit("ns").value)
        return np.flatnonzero((self.arrival_ns == NAT) | (self.arrival_ns <= t)).astype(np.int64)

    def season_factor(self, channel_codes: Any, at_ns: Any) -> np.ndarray:
        """The seasonal multiplier of channel ``channel_codes[i]`` at UTC ns instant ``at_ns[i]``.

        Examples
        --------
        >>> from channelopt.sim import make_population
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 1, seed=0, season_amplitude=0.5)
        >>> f = pop.season_factor([0, 1], [0, 0])   # at the epoch: sin(0) and sin(pi)
        >>> np.allclose(f, [1.0, 1.0])
        True
        >>> quarter = pop.season_period.value // 4
        >>> np.allclose(pop.season_factor([0, 1], [quarter, quarter]), [1.5, 0.5])
        True
        """
        ch = np.asarray(channel_codes, dtype=np.int64)
        t = np.asarray(at_ns, dtype=np.int64)
        if not self.season_amplitude:
            return np.ones(np.broadcast(ch, t).shape)
        period = int(self.season_period.value)
        phase = np.mod(t, period).astype(np.float64) / period
        n_ch = len(self.space.channels)
        return 1.0 + self.season_amplitude * np.sin(2.0 * np.pi * (phase + ch / n_ch))

    def rows_of(self, customer_ids: Any) -> np.ndarray:
        """Row of every id (int64); a ValueError names the first unknown id.

        Examples
        --------
        >>> from channelopt.sim import make_population
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
        >>> from channelopt.sim import make_population
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
        p = np.clip(p, 0.0, MAX_P)
        if recent is not None and self.fatigue:
            p = p * self.fatigue_factor(recent)
        return p

    def fatigue_factor(self, recent: Any) -> np.ndarray:
        """The multiplier ``(1 - fatigue) ** recent`` of a send after ``recent`` recent messages.

        Examples
        --------
        >>> from channelopt.sim import make_population
        >>> pop = make_population(ArmSpace(channels=["email"]), 1, seed=0, fatigue=0.1)
        >>> pop.fatigue_factor([0, 1, 2]).round(4).tolist()
        [1.0, 0.9, 0.81]
        """
        return np.power(1.0 - self.fatigue, np.asarray(recent, dtype=np.float64))

    def _channel_effect(self, rows: np.ndarray, ch: np.ndarray, at_ns: np.ndarray | None) -> np.ndarray:
        """``channel_effect[rows, ch]``, with the preferred channel swapped where a switch happened by ``at_ns``."""
        if at_ns is None or not self._switchers.size:
            eff = self.channel_effect[rows, ch]
        else:
            to = self.switch_to[rows]
            old = self._preferred[rows]
            switched = (self.switch_ns[rows] != NAT) & (self.switch_ns[rows] <= at_ns)
            col = np.where(switched & (ch == old), to, np.where(switched & (ch == to), old, ch))
            eff = self.channel_effect[rows, col]
        if at_ns is not None and self.season_amplitude:
            eff = eff * self.season_factor(ch, at_ns)
        return eff

    def channel_effect_at(self, at: Any) -> np.ndarray:
        """The channel multipliers of every customer at instant ``at`` (after the switches due by then).

        Examples
        --------
        >>> from channelopt.sim import make_population
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
        >>> from channelopt.sim import make_population
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
            ``customer_id, tz, segment, consent_<channel>...`` (one bool column per channel), then the
            ``features`` columns if any.

        Examples
        --------
        >>> from channelopt.sim import make_population
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 3, seed=0)
        >>> list(pop.customers_table().columns)
        ['customer_id', 'tz', 'segment', 'consent_email', 'consent_sms']
        """
        out = pd.DataFrame({"customer_id": self.customer_id, "tz": self.tz, "segment": self.segment})
        for c, name in enumerate(self.space.channels):
            out[f"consent_{name}"] = self.consent[:, c].copy()
        if self.features is not None:
            for col in self.features.columns:
                out[col] = self.features[col].to_numpy(copy=True)
        return out

    def local_time(self, rows: Any, sent_at: Any) -> tuple[np.ndarray, np.ndarray]:
        """Local hour (0-23) and weekday (0 = Monday) of send instants in each customer's zone.

        Examples
        --------
        >>> from channelopt.sim import make_population
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
