"""Drawing a synthetic population with true, different preferences (:func:`make_population`).

Effects are drawn from segment-level distributions: a segment has a favourite
channel and wording (most of its customers share them), typical ratios for the
other arms, a typical peak hour and a weekday pattern. Pooling across customers
therefore helps, as it does with real customers. Every attribute has its own
random stream (children of ``numpy.random.SeedSequence(seed)``), so changing
one never shifts another; preference switches, fatigue, arrivals, seasons, a
stronger weekday effect and customer features are off by default and come
from streams of their own (or from none), so a population drawn with the
default arguments gives the same customers and logs as before they existed.
The drawn truth is a :class:`~channelopt.sim.population.Population`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.config import check_zone
from channelopt.core.validation import check_scalar, fraction
from channelopt.data.tz import NAT, NS_PER_S, as_utc_timestamp
from channelopt.sim.population import MAX_P, Population

__all__ = ["DEFAULT_ZONES", "DELAY_MEDIANS", "make_population"]

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


def _check_rate_range(base_rate: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in base_rate)
    except (TypeError, ValueError):
        raise ValueError(f"base_rate: expected a pair (low, high), got {base_rate!r}") from None
    if not (0.0 < lo <= hi < MAX_P):
        raise ValueError(f"base_rate: need 0 < low <= high < {MAX_P}, got {base_rate!r}")
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
                    fatigue_window: Any = "7D", arrival_share: float = 0.0,
                    arrival_window: tuple[Any, Any] | None = None, weekday_strength: float = 1.0,
                    season_amplitude: float = 0.0, season_period: Any = "28D",
                    features: bool = False) -> Population:
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
    arrival_share : float, default 0
        Share of customers (exactly ``round(arrival_share * n_customers)``,
        drawn at random) who arrive at an instant drawn uniformly in
        ``arrival_window`` (whole seconds) and cannot be contacted before it
        (``Population.arrival_ns``); the others are there from the start.
    arrival_window : (start, end) timestamps
        Required when ``arrival_share > 0`` (naive = UTC), ``start < end``.
    weekday_strength : float > 0, default 1
        Scales the weekday effect on the log scale: its draws are multiplied by
        it and its clip ``[0.8, 1.25]`` becomes ``[0.8 ** s, 1.25 ** s]`` (1 = the
        mild default pattern).
    season_amplitude : float in [0, 1), default 0
        Channel seasons (see :class:`~channelopt.sim.population.Population`):
        each channel's multiplier swings by this fraction over ``season_period``,
        the channels out of phase.
    season_period : duration, default "28D"
    features : bool, default False
        Add two customer features to the customers table: ``age`` (float,
        whose mean rises with the position of the customer's preferred channel
        in ``space.channels``: 30 + 6 per position, standard deviation 5) and
        ``plan`` (text ``"p0"``, ``"p1"``... : the position of the customer's
        preferred wording with probability 0.75, else a random one; the
        segment's favourite channel position when the space has no wordings).

    Drift, fatigue, arrivals and features come from their own random streams
    (seasons and the weekday strength from none): the other attributes do not
    depend on them (a population with and without them has the same
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
    check_scalar(n_customers, "n_customers", int, min_val=1)
    check_scalar(n_segments, "n_segments", int, min_val=1)
    check_scalar(seed, "seed", int, min_val=0)
    if isinstance(zones, str) or len(zones) == 0:
        raise ValueError(f"zones: expected a non-empty list of IANA zone names, got {zones!r}")
    zones = tuple(check_zone(z, "zones") for z in zones)
    lo, hi = _check_rate_range(base_rate)
    n, n_seg = int(n_customers), int(n_segments)
    n_ch, n_w = len(space.channels), len(space.wordings)
    share = fraction(switch_share, "switch_share")
    n_switch = int(round(share * n))
    if n_switch and n_ch < 2:
        raise ValueError("switch_share: a preferred channel can only switch with at least 2 channels")
    if n_switch:
        w0, w1 = _window(switch_window, "switch_window", "switch_share")
    n_arrive = int(round(fraction(arrival_share, "arrival_share") * n))
    if n_arrive:
        a0, a1 = _window(arrival_window, "arrival_window", "arrival_share")
    strength = check_scalar(weekday_strength, "weekday_strength", float, min_val=0, include_boundaries="neither")
    if not isinstance(features, (bool, np.bool_)):
        raise TypeError(f"features: must be True or False, got {features!r}")

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
    seg_wd = np.exp(strength * r.normal(0.0, 0.08, size=(n_seg, 7)))
    weekday = _normalise_mean(np.clip(seg_wd[segment] * np.exp(strength * r.normal(0.0, 0.04, size=(n, 7))),
                                      0.8 ** strength, 1.25 ** strength))

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

    # arrivals (child 10) and features (child 11): streams of their own as well
    arrival_ns = np.full(n, NAT, dtype=np.int64)
    if n_arrive:
        r = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(11)[10])
        who = np.sort(r.choice(n, size=n_arrive, replace=False))
        arrival_ns[who] = a0 + r.integers(0, max((a1 - a0) // NS_PER_S, 1), size=n_arrive) * NS_PER_S
    table = None
    if features:
        r = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(12)[11])
        age = np.round(30.0 + 6.0 * pref_ch + r.normal(0.0, 5.0, size=n), 1)
        k = n_w if n_w else n_ch
        liked = pref_w if n_w else fav_ch[segment]
        plan = np.where(r.random(n) < 0.75, liked, r.integers(0, k, size=n))
        table = pd.DataFrame({"age": age, "plan": np.array([f"p{j}" for j in range(k)], dtype=object)[plan]})

    width = max(6, len(str(n)))
    ids = ("c-" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(dtype=object)
    return Population(space=space, customer_id=ids, tz=tz, segment=segment, base_rate=base,
                      channel_effect=channel, wording_effect=wording, hour_effect=hour, weekday_effect=weekday,
                      peak_hour=peak, delay_median_s=delay_median, delay_sigma=_DELAY_SIGMA, consent=consent,
                      unsubscribe_prob=(0.001, 0.004), complaint_prob=(0.0002, 0.001), seed=int(seed),
                      switch_ns=switch_ns, switch_to=switch_to, fatigue=fatigue, fatigue_window=fatigue_window,
                      arrival_ns=arrival_ns, season_amplitude=season_amplitude, season_period=season_period,
                      features=table)


def _window(window: Any, name: str, share: str) -> tuple[int, int]:
    """``(start, end)`` of a ``(start, end)`` pair of timestamps as UTC ns, ``start < end``."""
    if window is None or isinstance(window, str) or len(window) != 2:
        raise ValueError(f"{name}: expected (start, end) timestamps when {share} > 0, got {window!r}")
    w0 = int(as_utc_timestamp(window[0], name).as_unit("ns").value)
    w1 = int(as_utc_timestamp(window[1], name).as_unit("ns").value)
    if not w0 < w1:
        raise ValueError(f"{name}: start must be before end, got {window!r}")
    return w0, w1
