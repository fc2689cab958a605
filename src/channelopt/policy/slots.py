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

from channelopt.data.tz import LATENCY_EDGES_S, NS_PER_S, latency_bins

__all__ = ["LATENCY_EDGES_S", "latency_bins", "latency_quantile", "packed_slots", "slot_tables"]

_QUARTER_NS = 15 * 60 * NS_PER_S
_HOUR_NS = 3600 * NS_PER_S
_DAY_NS = 24 * _HOUR_NS

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
    if len(per_zone) == 1:  # choose_channel: no padding needed
        s, e, h, w = per_zone[0]
        return s[None, :], e[None, :], h[None, :], w[None, :], np.array([len(s)], dtype=np.int64)
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


#: packed_slots' tables by (zone, now // 15 min, deadline // 15 min); bounded (cleared when full)
_PACKED: dict[tuple[str, int, int], tuple[np.ndarray, int]] = {}
_PACKED_MAX = 4096


def packed_slots(zone: str, now_ns: int, deadline_ns: int) -> tuple[np.ndarray, int]:
    """One zone's slots as a read-only int64 table ``[start, end, hour, weekday]`` x slots, and their count.

    The single-decision path's form of :func:`slot_tables`: every local hour
    start lies on a quarter hour (``_day_boundaries`` steps by 15 minutes), so
    the slots depend only on the quarter hours of ``now`` and of the deadline,
    except ``start[0]``, which is ``now`` itself: the table is cached per
    ``(zone, now // 15 min, deadline // 15 min)`` and **its** ``start[0]`` **is
    the now of the call that built it** -- the caller puts its own ``now`` there
    (:func:`channelopt.policy.fast` does, in the kernel). Columns beyond the count
    are zeros (at least one column). Thread-safe: the tables are immutable and
    the cache is a dict (a lost race computes a table twice).

    Examples
    --------
    >>> now = pd.Timestamp("2026-03-29 00:30", tz="UTC").value   # Paris springs forward at 01:00 UTC
    >>> table, n = packed_slots("Europe/Paris", now, now + 6 * 3600 * 10**9)
    >>> table[2, :n].tolist() == slot_tables(now, now + 6 * 3600 * 10**9, ["Europe/Paris"])[2][0].tolist()
    True
    """
    if deadline_ns < now_ns:  # no slot (not cached: the key does not tell this case apart)
        return np.zeros((4, 1), dtype=np.int64), 0
    key = (zone, now_ns // _QUARTER_NS, deadline_ns // _QUARTER_NS)
    hit = _PACKED.get(key)
    if hit is not None:
        return hit
    s, e, h, w = _zone_slots(now_ns, deadline_ns, zone)
    n = len(s)
    table = np.zeros((4, max(n, 1)), dtype=np.int64)
    for k, col in enumerate((s, e, h, w)):
        table[k, :n] = col
    table.flags.writeable = False
    if len(_PACKED) >= _PACKED_MAX:
        _PACKED.clear()
    _PACKED[key] = (table, n)
    return table, n


def _zone_slots(now_ns: int, deadline_ns: int, zone: str) -> tuple[np.ndarray, ...]:
    if deadline_ns < now_ns:
        return (np.zeros(0, np.int64),) * 4
    b_ns, b_hour, b_wd = _boundaries(zone, int(now_ns // _DAY_NS), int(deadline_ns // _DAY_NS))
    # the boundary at or before now gives the current local hour (each day's list starts 3 h early)
    cur = int(np.searchsorted(b_ns, now_ns, side="right")) - 1
    stop = int(np.searchsorted(b_ns, deadline_ns, side="right"))
    start, end, hour, wd = _assembled(zone, int(now_ns // _DAY_NS), int(deadline_ns // _DAY_NS), cur, stop)
    start = start.copy()
    start[0] = now_ns
    return start, end, hour, wd


@functools.lru_cache(maxsize=4096)
def _assembled(zone: str, day: int, last_day: int, cur: int, stop: int) -> tuple[np.ndarray, ...]:
    """Slots from the hour current at boundary ``cur`` to the boundaries before ``stop`` (start[0] is patched)."""
    b_ns, b_hour, b_wd = _boundaries(zone, day, last_day)
    later = slice(cur + 1, stop)
    start = np.concatenate([[b_ns[cur]], b_ns[later]])
    # a slot ends at the next local hour start (the last one at most an hour later)
    end = np.concatenate([b_ns[later], [b_ns[stop] if stop < b_ns.size else start[-1] + _HOUR_NS]])
    hour = np.concatenate([[b_hour[cur]], b_hour[later]])
    wd = np.concatenate([[b_wd[cur]], b_wd[later]])
    return start, end, hour, wd  # shared by every call in this hour: callers must not write to them


@functools.lru_cache(maxsize=1024)
def _boundaries(zone: str, day: int, last_day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour starts from 3 h before UTC day ``day`` to the end of ``last_day``."""
    parts = [_day_boundaries(zone, day)]
    for d in range(day + 1, last_day + 1):  # days overlap by 3 h: keep what is new
        ns_d, h_d, w_d = _day_boundaries(zone, d)
        new = ns_d > parts[-1][0][-1]
        parts.append((ns_d[new], h_d[new], w_d[new]))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


@functools.lru_cache(maxsize=4096)
def _day_boundaries(zone: str, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour starts (UTC ns, local hour, weekday) from 3 h before UTC day ``day`` to its end.

    A local hour starts where the local clock shows minute 0, or where a clock change
    lands in the middle of an hour (Lord Howe moves by 30 minutes: 02:00 -> 02:30).
    Each day's list starts 3 h early so that the hour current at any instant of the
    day is in it; the caller drops what overlaps the previous day.
    """
    first = day * _DAY_NS - 3 * _HOUR_NS
    quarters = first + np.arange(0, (_DAY_NS + 3 * _HOUR_NS) // _QUARTER_NS + 1, dtype=np.int64) * _QUARTER_NS
    local = pd.DatetimeIndex(np.concatenate([[first - _QUARTER_NS], quarters]).view("M8[ns]")).tz_localize(
        "UTC").tz_convert(zone)
    hours = np.asarray(local.hour, dtype=np.int64)
    minutes = np.asarray(local.minute)
    starts = (minutes[1:] == 0) | (hours[1:] != hours[:-1])
    ns = quarters[starts]
    out = (ns, hours[1:][starts], np.asarray(local.day_of_week, dtype=np.int64)[1:][starts])
    for arr in out:
        arr.flags.writeable = False
    return out
