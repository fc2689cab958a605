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

The simulator does not enforce consent or unsubscriptions: that is the job of
a contact policy, not of the customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from ._time import NAT, NS_PER_S, as_utc_timestamp, local_hour_weekday, send_at_table, to_utc_ns, zone_codes
from .arms import ArmSpace
from .config import check_zone

__all__ = [
    "DEFAULT_ZONES",
    "DELAY_MEDIANS",
    "Policy",
    "Population",
    "UniformPolicy",
    "censor",
    "make_population",
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
                "unsubscribed", "complained")


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
    zones: tuple[str, ...] = field(init=False, repr=False)
    zone_code: np.ndarray = field(init=False, repr=False)
    _id_index: pd.Index = field(init=False, repr=False)

    def __post_init__(self) -> None:
        codes, zones = zone_codes(pd.Series(self.tz, dtype=object), len(self.tz), "UTC")
        object.__setattr__(self, "zones", tuple(zones))
        object.__setattr__(self, "zone_code", codes)
        object.__setattr__(self, "_id_index", pd.Index(self.customer_id, dtype=object))

    def __len__(self) -> int:
        return int(self.customer_id.shape[0])

    def __repr__(self) -> str:
        return (f"Population(n_customers={len(self)}, channels={list(self.space.channels)}, "
                f"segments={int(self.segment.max()) + 1 if len(self) else 0}, seed={self.seed})")

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
                      weekday: Any) -> np.ndarray:
        """True probability that each send gets a reply, clipped to ``[0, 0.95]``.

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

        Returns
        -------
        float64 array (m,)

        Examples
        --------
        >>> pop = make_population(ArmSpace(channels=["email", "sms"]), 5, seed=0)
        >>> p = pop.response_prob([0, 0], [0, 1], None, [9, 9], [0, 0])
        >>> p.shape, bool(((p >= 0) & (p <= 0.95)).all())
        ((2,), True)
        """
        n = len(self)
        rows = _int_array(rows, "rows", 0, n)
        m = rows.shape[0]
        ch = _int_array(channel_codes, "channel_codes", 0, len(self.space.channels), m)
        hour = _int_array(local_hour, "local_hour", 0, 24, m)
        wd = _int_array(weekday, "weekday", 0, 7, m)
        p = self.base_rate[rows] * self.channel_effect[rows, ch]
        p = p * self.hour_effect[rows, hour] * self.weekday_effect[rows, wd]
        if wording_codes is not None and self.wording_effect.shape[1]:
            w = _int_array(wording_codes, "wording_codes", -1, self.wording_effect.shape[1], m)
            p = p * np.where(w >= 0, self.wording_effect[rows, np.maximum(w, 0)], 1.0)
        return np.clip(p, 0.0, _MAX_P)

    def best_arm(self, dimension: str) -> np.ndarray:
        """The true best arm of every customer in one dimension (int64 positions).

        Parameters
        ----------
        dimension : {"channel", "wording", "hour", "weekday"}

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
                    n_segments: int = 4, base_rate: tuple[float, float] = (0.02, 0.25)) -> Population:
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

    width = max(6, len(str(n)))
    ids = ("c-" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(dtype=object)
    return Population(space=space, customer_id=ids, tz=tz, segment=segment, base_rate=base,
                      channel_effect=channel, wording_effect=wording, hour_effect=hour, weekday_effect=weekday,
                      peak_hour=peak, delay_median_s=delay_median, delay_sigma=_DELAY_SIGMA, consent=consent,
                      unsubscribe_prob=(0.001, 0.004), complaint_prob=(0.0002, 0.001), seed=int(seed))


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

    The logged ``propensity`` is the probability of the chosen channel,
    ``1 / n_channels``. Decisions are a deterministic function of ``seed``,
    ``now`` and the customers' order in the table.

    Parameters
    ----------
    space : ArmSpace
    seed : int

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "urgent"])
    >>> plan = UniformPolicy(space, seed=3).rank(pd.DataFrame({"customer_id": ["a", "b"], "tz": ["Asia/Tokyo", "UTC"]}),
    ...                                         now=pd.Timestamp("2026-11-23 09:00", tz="UTC"))
    >>> list(plan.columns)
    ['customer_id', 'channel', 'wording', 'hour', 'send_at', 'score', 'propensity']
    >>> plan["propensity"].tolist()
    [0.25, 0.25]
    """

    def __init__(self, space: ArmSpace, seed: int = 0) -> None:
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
        self.space = space
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"UniformPolicy(channels={list(self.space.channels)}, seed={self.seed})"

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
            "propensity": np.full(n, 1.0 / len(space.channels)),
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
    }, columns=list(_LOG_COLUMNS))


def simulate_logs(population: Population, policy: Policy, *, start: Any, days: int, sends_per_day: int, seed: int,
                  retrain: Callable[[pd.DataFrame, pd.Timestamp], Any] | None = None) -> pd.DataFrame:
    """Play ``policy`` against ``population`` for ``days`` days and return the response log.

    Each day ``d``: ``now = start + d days``; ``sends_per_day`` distinct customers
    are drawn at random; the policy decides for them (``policy.rank(table, now)``
    with their rows of :meth:`Population.customers_table`); each decision with a
    channel is sent at its ``send_at``; the reply is drawn from the truth at the
    local hour and weekday of ``send_at`` in the customer's zone, with a
    lognormal delay around the customer's median for that channel; an
    unsubscription or complaint is drawn with the population's small
    probabilities (higher after no reply). Decisions without a channel (holds)
    send nothing. Vectorised per day; deterministic for a seed (and a
    deterministic policy).

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
    if not isinstance(population, Population):
        raise ValueError(f"population: expected a Population, got {type(population).__name__}")
    if not callable(getattr(policy, "rank", None)):
        raise ValueError(f"policy: expected an object with a rank(customers, now) method, got {type(policy).__name__}")
    for name, value in (("days", days), ("sends_per_day", sends_per_day), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
    n = len(population)
    if not 1 <= sends_per_day <= n:
        raise ValueError(f"sends_per_day: must be between 1 and the population size ({n}), got {sends_per_day}")
    if retrain is not None and not callable(retrain):
        raise ValueError(f"retrain: expected a callable retrain(logs_so_far, as_of), got {type(retrain).__name__}")
    start_ts = as_utc_timestamp(start, "start").as_unit("ns")
    space = population.space
    customers = population.customers_table()
    zones = list(population.zones)
    pu_r, pu_n = population.unsubscribe_prob
    pc_r, pc_n = population.complaint_prob
    parts: list[dict[str, np.ndarray]] = []
    next_event = 1
    for day in range(int(days)):
        now = start_ts + pd.Timedelta(days=day)
        if day and retrain is not None:
            retrain(censor(_logs_frame(parts, population), now), now)
        rng = np.random.default_rng([int(seed), day])
        pick = np.sort(rng.choice(n, size=int(sends_per_day), replace=False))
        plan = policy.rank(customers.iloc[pick].reset_index(drop=True), now)
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
            continue
        rows = population.rows_of(plan["customer_id"])
        ch = ch_all[keep]
        w = _codes(plan["wording"], space.wordings, "wording") if space.wordings else np.full(m, -1, np.int64)
        sent = to_utc_ns(plan["send_at"], "send_at", allow_null=False)
        prop = pd.to_numeric(plan["propensity"], errors="coerce").to_numpy(dtype=np.float64)
        hour, wd = local_hour_weekday(sent, population.zone_code[rows], zones)
        p = population.response_prob(rows, ch, w, hour, wd)
        replied = u < p
        delay_s = population.delay_median_s[rows, ch] * np.exp(population.delay_sigma * z)
        delay_ns = np.maximum(np.round(delay_s), 1.0).astype(np.int64) * NS_PER_S
        responded = np.where(replied, sent + delay_ns, NAT)
        unsub = u_unsub < np.where(replied, pu_r, pu_n)
        compl = u_compl < np.where(replied, pc_r, pc_n)
        parts.append({"rows": rows, "channel": ch, "wording": w, "sent": sent, "responded": responded,
                      "propensity": prop, "event": np.arange(next_event, next_event + m, dtype=np.int64),
                      "unsubscribed": unsub, "complained": compl})
        next_event += m
    return _logs_frame(parts, population)
