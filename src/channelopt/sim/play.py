"""Playing a policy against a population: :func:`simulate_logs` (a log) and :func:`run` (a closed loop).

:func:`simulate_logs` plays a policy against a
:class:`~channelopt.sim.population.Population` day by day and returns a
response log in the schema of :mod:`channelopt.data.schema`, so a model can be
fitted on it and its learned preferences compared with the truth; an
unsubscription there is only a flag in the log.

:func:`run` plays a learning policy with daily retraining and returns a
:class:`SimulationResult`: the log and per-day metrics against an oracle that
knows the truth. In :func:`run` an unsubscription is final: the customer never
replies on that channel again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from channelopt.core.config import parse_duration
from channelopt.core.validation import check_scalar
from channelopt.data.tz import as_utc_timestamp
from channelopt.sim.logs import LOG_COLUMNS, censor, logs_frame
from channelopt.sim.loop import play_days
from channelopt.sim.policies import Policy, UniformPolicy
from channelopt.sim.population import Population

__all__ = ["SimulationResult", "run", "simulate_logs"]


def _check_play(population: Any, policy: Any, days: Any, sends_per_day: Any, seed: Any) -> None:
    if not isinstance(population, Population):
        raise ValueError(f"population: expected a Population, got {type(population).__name__}")
    if not callable(getattr(policy, "rank", None)):
        raise ValueError(f"policy: expected an object with a rank(customers, now) method, got {type(policy).__name__}")
    for name, value in (("days", days), ("sends_per_day", sends_per_day), ("seed", seed)):
        check_scalar(value, name, int, min_val=0)
    n = len(population)
    if not 1 <= sends_per_day <= n:
        raise ValueError(f"sends_per_day: must be between 1 and the population size ({n}), got {sends_per_day}")


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
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.sim import make_population
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
        for name, frame, columns in (("logs", self.logs, LOG_COLUMNS), ("daily", self.daily, _DAILY_COLUMNS)):
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
        >>> from channelopt.core.arms import ArmSpace
        >>> from channelopt.sim import make_population
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
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.sim import make_population
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
            retrain(censor(logs_frame(parts, population), now), now)

    parts, _ = play_days(population, lambda day: policy, start_ts=start_ts, days=int(days),
                     sends_per_day=int(sends_per_day), seed=int(seed), before_day=before_day,
                     final_unsubscribe=False, track=False)
    return logs_frame(parts, population)


_RETRAIN_EVERY = {"daily": 1, "weekly": 7, "never": 0}


def run(policy: Any, population: Population, *, days: int, sends_per_day: int, start: Any = "2026-01-05",
        seed: int = 0, explore_days: int = 1, retrain: str | int = "daily",
        log_window: Any = None) -> SimulationResult:
    """Play a learning policy against ``population`` with retraining, and measure it against an oracle.

    Every day ``d`` (``now = start + d days``, decisions at ``now``):

    1. **Retrain** (days ``d >= explore_days``, every ``retrain`` days from
       ``explore_days`` on): the log so far as it is known at ``now``
       (:func:`censor`: later replies unseen) is given to the policy -- the first
       time with ``policy.fit(seen, as_of=now)``, then with
       ``policy.partial_fit(seen, as_of=now)`` when the policy has it (else
       ``fit`` again). A policy without ``fit``/``partial_fit`` is used as given.
       With ``log_window``, a ``partial_fit`` gets only the days whose sends
       reach into ``log_window`` before the previous training (see below).
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
    :class:`UniformPolicy` and :mod:`channelopt.policy.baselines` are.

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
    log_window : duration, optional
        None (default): every training gets the whole log so far. A duration
        ``w``: each ``partial_fit`` gets only the days with a send at or after
        ``previous training - w`` (the first ``fit`` gets everything). For a
        policy that counts each send once, when its outcome resolves (the
        watermark rule of :class:`~channelopt.ChannelModel` and the
        baselines), this changes nothing as long as ``w`` is at least its
        response window -- every send not yet resolved at the previous
        training is passed again -- and it saves re-reading the whole log
        every day (quadratic in the run's length). Not for policies that refit
        from scratch every day.

    Returns
    -------
    SimulationResult
        ``.logs`` and ``.daily`` (see :class:`SimulationResult`); deterministic
        for a seed and a deterministic policy.

    Examples
    --------
    >>> from channelopt.sim import make_population
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
    explore_days = check_scalar(explore_days, "explore_days", int, min_val=0)
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
    tail_ns = None if log_window is None else int(parse_duration(log_window, "log_window").value)
    last_fit = [0]

    def before_day(day: int, now: pd.Timestamp, parts: list) -> None:
        if day < explore_days or not every or (day - explore_days) % every or (fit is None and partial_fit is None):
            return
        incremental = fitted[0] and partial_fit is not None
        if incremental and tail_ns is not None:  # only the days that reach into the window before the last fit
            parts = [p for p in parts if p["sent"].size and int(p["sent"].max()) >= last_fit[0] - tail_ns]
        seen = censor(logs_frame(parts, population), now)
        if not len(seen):
            return
        last_fit[0] = int(now.value)
        if incremental:
            partial_fit(seen, as_of=now)
        elif fit is not None:
            fit(seen, as_of=now)
        else:
            partial_fit(seen, as_of=now)  # type: ignore[misc]
        fitted[0] = True

    parts, daily = play_days(population, lambda day: explorer if day < explore_days else policy, start_ts=start_ts,
                         days=int(days), sends_per_day=int(sends_per_day), seed=int(seed), before_day=before_day,
                         final_unsubscribe=True, track=True)
    return SimulationResult(logs=logs_frame(parts, population), daily=_daily_frame(daily, explore_days),
                            policy=name, seed=int(seed), start=start_ts, explore_days=explore_days)
