"""The day loop of the simulator: draw the day's customers, ask the policy, draw the outcomes from the truth.

:func:`play_days` is shared by :func:`channelopt.sim.play.simulate_logs` and
:func:`channelopt.sim.play.run`. Each day ``d`` has its own random stream,
``numpy.random.default_rng([seed, d])``, drawn in a fixed order: the customers
contacted (among those who have arrived by then, when the population has
arrivals), then per send a uniform for the reply, a normal for its delay and
uniforms for an unsubscription and a complaint. Along the way it counts each
send's recent messages (fatigue) exactly and, when asked, computes the oracle's
best expected reply probability for each customer of the day.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from channelopt.data.tz import NAT, NS_PER_S, local_hour_weekday, send_at_table, to_utc_ns
from channelopt.sim.population import MAX_P, Population

__all__ = ["play_days"]


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
    """Expected reply probability of the best send the truth allows for each customer (the oracle of
    :func:`channelopt.sim.play.run`)."""
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
    at = flat if population.time_varying else None
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
    p = np.clip(p, 0.0, MAX_P)
    if population.fatigue:
        p = p * population.fatigue_factor(_recent_counts(history, frow, flat, int(population.fatigue_window.value)))
    return p.reshape(m, c).max(axis=1)


def play_days(population: Population, policy_of_day: Callable[[int], Any], *, start_ts: pd.Timestamp, days: int,
              sends_per_day: int, seed: int, before_day: Callable[[int, pd.Timestamp, list], Any] | None,
              final_unsubscribe: bool, track: bool) -> tuple[list[dict[str, np.ndarray]], list[dict[str, Any]]]:
    """Play ``days`` days from ``start_ts``; return the sends of each day and (with ``track``) each day's metrics.

    ``policy_of_day(d)`` is the policy that ranks day ``d``; ``before_day(d, now,
    parts)`` runs at the start of every day with the sends so far (e.g. to
    retrain). With ``final_unsubscribe`` an unsubscribed channel never replies
    again. Arguments are validated by the callers.

    Examples
    --------
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.sim import UniformPolicy, make_population
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> parts, daily = play_days(make_population(space, 10, seed=0), lambda day: UniformPolicy(space),
    ...                          start_ts=pd.Timestamp("2026-01-05", tz="UTC"), days=2, sends_per_day=4, seed=0,
    ...                          before_day=None, final_unsubscribe=True, track=True)
    >>> [len(p["rows"]) for p in parts], [d["sends"] for d in daily]
    ([4, 4], [4, 4])
    """
    space = population.space
    customers = population.customers_table()
    zones = list(population.zones)
    pu_r, pu_n = population.unsubscribe_prob
    pc_r, pc_n = population.complaint_prob
    n = len(population)
    blocked = np.zeros((n, len(space.channels)), dtype=bool) if final_unsubscribe else None
    window_ns = int(population.fatigue_window.value)
    drift = population.time_varying
    arrivals = population.has_arrivals
    parts: list[dict[str, np.ndarray]] = []
    daily: list[dict[str, Any]] = []
    next_event = 1
    for day in range(int(days)):
        now = start_ts + pd.Timedelta(days=day)
        if before_day is not None:
            before_day(day, now, parts)
        rng = np.random.default_rng([int(seed), day])
        if arrivals:  # only the customers who have arrived by now, at most sends_per_day of them
            here = population.present(now)
            pick = here[np.sort(rng.choice(here.size, size=min(int(sends_per_day), here.size), replace=False))]
        else:
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
