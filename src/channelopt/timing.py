"""Send slots in local time and reply-latency distributions.

Send slots
----------
Between ``now`` and a deadline, a customer's *slots* are the local clock hours
they span: slot 0 is the rest of the current local hour (it starts at ``now``),
then one slot per local hour start up to the deadline. Each slot has a UTC
start and end, a local hour and a local weekday. Slots are computed from the
zone's rules (``zoneinfo``), so they are right across DST changes: the day
clocks spring forward has 23 slots in 24 h (the skipped hour has none), the
day they fall back 25 (the repeated hour has two).

Reply latency
-------------
The time from a send to its reply, per channel, is kept as counts on a fixed
log-spaced grid (one minute to about 38 days, four bins per doubling), so it
is additive like the rest of the model's statistics. Quantiles are read off
the grid with geometric interpolation inside a bin (about 9% resolution).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ._time import LATENCY_EDGES_S, NS_PER_S, latency_bins

__all__ = ["LATENCY_EDGES_S", "latency_bins", "latency_quantile", "slot_tables"]

_QUARTER_NS = 15 * 60 * NS_PER_S
_HOUR_NS = 3600 * NS_PER_S

def latency_quantile(counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile (seconds) of latencies counted on the grid; NaN with no counts.

    Examples
    --------
    >>> counts = np.zeros(64); counts[latency_bins(np.array([3600 * 10**9]))] = 10
    >>> bin_lo, bin_hi = LATENCY_EDGES_S[23], LATENCY_EDGES_S[24]     # the bin holding 3600 s
    >>> bool(bin_lo < latency_quantile(counts, 0.5) < bin_hi)
    True
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if not total > 0:
        return float("nan")
    cum = np.cumsum(counts)
    target = q * total
    k = int(np.searchsorted(cum, target, side="left"))
    k = min(k, counts.size - 1)
    before = cum[k - 1] if k else 0.0
    frac = (target - before) / counts[k] if counts[k] > 0 else 1.0
    lo = LATENCY_EDGES_S[k - 1] if k else 0.0
    hi = LATENCY_EDGES_S[k]
    if lo == 0.0:
        return float(hi * frac)
    return float(lo * (hi / lo) ** frac)


def slot_tables(now_ns: int, deadline_ns: int, zones: list[str]) -> tuple[np.ndarray, ...]:
    """Send slots of every zone between ``now_ns`` and ``deadline_ns`` (inclusive).

    Returns
    -------
    start, end, hour, weekday : ndarray, shape (len(zones), max_slots)
        UTC ns start / end, local hour (0-23) and weekday (0 = Monday) of each
        slot (padding beyond a zone's slots: start = end = deadline + 1).
    n_slots : int64 ndarray, shape (len(zones),)

    Examples
    --------
    >>> now = pd.Timestamp("2026-03-29 00:30", tz="UTC").value   # Paris springs forward at 01:00 UTC
    >>> start, end, hour, wd, n = slot_tables(now, now + 6 * 3600 * 10**9, ["Europe/Paris"])
    >>> hour[0, :n[0]].tolist()
    [1, 3, 4, 5, 6, 7, 8]
    """
    per_zone = [_zone_slots(now_ns, deadline_ns, z) for z in zones]
    width = max((len(s[0]) for s in per_zone), default=0)
    z = len(zones)
    pad = deadline_ns + 1
    start = np.full((z, width), pad, dtype=np.int64)
    end = np.full((z, width), pad, dtype=np.int64)
    hour = np.zeros((z, width), dtype=np.int64)
    wd = np.zeros((z, width), dtype=np.int64)
    n = np.zeros(z, dtype=np.int64)
    for k, (s, e, h, w) in enumerate(per_zone):
        m = len(s)
        start[k, :m], end[k, :m], hour[k, :m], wd[k, :m] = s, e, h, w
        n[k] = m
    return start, end, hour, wd, n


def _zone_slots(now_ns: int, deadline_ns: int, zone: str) -> tuple[np.ndarray, ...]:
    if deadline_ns < now_ns:
        return (np.zeros(0, np.int64),) * 4
    q0 = now_ns // _QUARTER_NS
    span = (deadline_ns - q0 * _QUARTER_NS) // _QUARTER_NS + 1
    b_ns, b_hour, b_wd, cur_hour, cur_wd = _boundaries(zone, int(q0), int(span))
    keep = (b_ns > now_ns) & (b_ns <= deadline_ns)
    b_ns, b_hour, b_wd = b_ns[keep], b_hour[keep], b_wd[keep]
    start = np.concatenate([[now_ns], b_ns])
    # a slot ends at the next local hour start (the last one at most an hour later)
    nxt = np.concatenate([b_ns, [start[-1] + _HOUR_NS]])
    hour = np.concatenate([[cur_hour], b_hour])
    wd = np.concatenate([[cur_wd], b_wd])
    return start, nxt, hour, wd


@functools.lru_cache(maxsize=4096)
def _boundaries(zone: str, q0: int, span: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Local hour starts in the ``span + 4`` quarter hours after quarter ``q0`` and the local hour at ``q0``."""
    quarters = (q0 + np.arange(1, span + 5, dtype=np.int64)) * _QUARTER_NS
    local = pd.DatetimeIndex(quarters.view("M8[ns]")).tz_localize("UTC").tz_convert(zone)
    on_hour = np.asarray(local.minute == 0)
    cur = pd.Timestamp(q0 * _QUARTER_NS, tz="UTC").tz_convert(zone)
    ns = quarters[on_hour]
    ns.flags.writeable = False
    return (ns, np.asarray(local.hour[on_hour], dtype=np.int64), np.asarray(local.day_of_week[on_hour], dtype=np.int64),
            int(cur.hour), int(cur.day_of_week))
