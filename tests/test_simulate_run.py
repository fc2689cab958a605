"""channelopt.sim.population: preference switches, fatigue, final unsubscriptions, and run() against an oracle."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timezone

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.data.tz import NAT, next_hour_start
from channelopt.policy.baselines import FixedChannel, FlatThompson, UniformRandom
from channelopt.sim import Population, SimulationResult, UniformPolicy, make_population, run, simulate_logs

SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
START = pd.Timestamp("2026-03-02", tz="UTC")  # the US DST change (March 8) falls inside the runs
ZONES = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Tokyo")
DAYS, PER_DAY = 12, 60


def _population(**kwargs) -> Population:
    """150 customers whose preferences switch, who tire, and who unsubscribe often (so it shows)."""
    pop = make_population(SPACE, 150, seed=4, zones=ZONES, base_rate=(0.1, 0.4), switch_share=0.4,
                          switch_window=(START + pd.Timedelta("2D"), START + pd.Timedelta("9D")), fatigue=0.2,
                          **kwargs)
    return dataclasses.replace(pop, unsubscribe_prob=(0.04, 0.06))


@pytest.fixture(scope="module")
def population() -> Population:
    return _population()


@pytest.fixture(scope="module")
def result(population: Population) -> SimulationResult:
    return run(FlatThompson(SPACE, seed=2), population, days=DAYS, sends_per_day=PER_DAY, start=START, seed=7,
               explore_days=2)


def _day_of_row(res: SimulationResult) -> np.ndarray:
    """The day of every log row: the log is in day order and ``sends`` counts each day's rows."""
    return np.repeat(res.daily["day"].to_numpy(), res.daily["sends"].to_numpy())


def _recent_and_blocked(logs: pd.DataFrame, window: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Independently of the simulator: messages in [t - window, t) and earlier unsubscriptions, per send."""
    recent = np.zeros(len(logs), dtype=np.int64)
    blocked = np.zeros(len(logs), dtype=bool)
    for _, idx in logs.groupby("customer_id").indices.items():
        sent = logs["sent_at"].to_numpy()[idx]
        chan = logs["channel"].to_numpy()[idx]
        unsub = logs["unsubscribed"].to_numpy()[idx]
        for j, i in enumerate(idx):
            recent[i] = int(((sent >= sent[j] - window.to_timedelta64()) & (sent < sent[j])).sum())
            blocked[i] = bool((unsub & (chan == chan[j]) & (sent < sent[j])).any())
    return recent, blocked


def _local(logs_sent: pd.Series, tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hour = np.empty(len(tz), dtype=np.int64)
    weekday = np.empty(len(tz), dtype=np.int64)
    for zone in np.unique(tz):
        sel = tz == zone
        local = logs_sent[sel].dt.tz_convert(zone)
        hour[sel], weekday[sel] = local.dt.hour.to_numpy(), local.dt.day_of_week.to_numpy()
    return hour, weekday


# -- the defaults keep the old behaviour ----------------------------------------------


def test_defaults_give_the_logs_and_populations_they_always_gave() -> None:
    """Pinned before drift and fatigue existed: data/samples and test_simulate.py rely on this."""
    space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
    pop = make_population(space, 300, seed=5, zones=("Europe/Paris", "Asia/Kolkata", "America/New_York"))
    logs = simulate_logs(pop, UniformPolicy(space, seed=2), start="2026-03-02", days=10, sends_per_day=120, seed=3)
    # the segment column came later: the columns pinned before it are unchanged
    np.testing.assert_array_equal(logs["segment"].to_numpy(), pop.segment[pop.rows_of(logs["customer_id"])])
    logs = logs.drop(columns="segment")
    digest = hashlib.sha256(pd.util.hash_pandas_object(logs, index=True).to_numpy().tobytes()).hexdigest()
    assert digest == "b2291c973c35fa360cc4b8b689b659c057e7954ceacada833bdd0faa59fc2fd8"
    arrays = np.concatenate([pop.base_rate, pop.channel_effect.ravel(), pop.wording_effect.ravel(),
                             pop.hour_effect.ravel(), pop.weekday_effect.ravel(), pop.peak_hour,
                             pop.delay_median_s.ravel(), pop.consent.ravel().astype(float), pop.segment.astype(float)])
    # rounded to 9 decimals: numpy's exp/cos may differ in the last bit between CPUs (AVX2 vs AVX-512);
    # the unrounded digest 6c68263b... was pinned on an AMD EPYC machine
    assert hashlib.sha256(np.round(arrays, 9).tobytes()).hexdigest() == \
        "443c4b2a748f3621328e826b6692ec1796c61733653cea2b17108e7ba4ef6b49"
    assert (pop.switch_ns == NAT).all() and (pop.switch_to == -1).all() and pop.fatigue == 0.0


def test_drift_and_fatigue_leave_every_other_attribute_alone(population: Population) -> None:
    plain = make_population(SPACE, 150, seed=4, zones=ZONES, base_rate=(0.1, 0.4))
    for name in ("tz", "segment", "base_rate", "channel_effect", "wording_effect", "hour_effect", "weekday_effect",
                 "delay_median_s", "consent"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(population, name), err_msg=name)


# -- drift, fatigue, unsubscriptions ---------------------------------------------------


def test_switches_change_the_truth_for_the_configured_share(population: Population) -> None:
    n = len(population)
    switchers = population.switch_ns != NAT
    assert switchers.sum() == round(0.4 * n)  # exactly the share
    lo, hi = (START + pd.Timedelta("2D")).value, (START + pd.Timedelta("9D")).value
    assert np.all((population.switch_ns[switchers] >= lo) & (population.switch_ns[switchers] < hi))
    before = population.best_arm("channel", at=START)
    after = population.best_arm("channel", at=START + pd.Timedelta("10D"))
    np.testing.assert_array_equal(before, population.best_arm("channel"))
    np.testing.assert_array_equal(after[switchers], population.switch_to[switchers])
    np.testing.assert_array_equal(after[~switchers], before[~switchers])
    assert np.all(before[switchers] != after[switchers])
    # the old and the new favourite swap multipliers, at the switch instant and not before
    rows = np.flatnonzero(switchers)
    t = population.switch_ns[rows]
    h, d = np.full(rows.size, 12), np.zeros(rows.size, dtype=np.int64)
    at_before = pd.to_datetime(t - 1, utc=True)
    at_switch = pd.to_datetime(t, utc=True)
    p_old_before = population.response_prob(rows, before[rows], None, h, d, at=at_before)
    p_new_before = population.response_prob(rows, after[rows], None, h, d, at=at_before)
    np.testing.assert_array_equal(population.response_prob(rows, after[rows], None, h, d, at=at_switch), p_old_before)
    np.testing.assert_array_equal(population.response_prob(rows, before[rows], None, h, d, at=at_switch), p_new_before)
    assert np.all(p_old_before > 2 * p_new_before)
    # a run sees it: switchers' replies move to the new channel
    logs = simulate_logs(population, UniformPolicy(SPACE, seed=1), start=START, days=14, sends_per_day=150, seed=1)
    r = population.rows_of(logs["customer_id"])
    ch = pd.Categorical(logs["channel"], categories=SPACE.channels).codes
    late = (logs["sent_at"] >= START + pd.Timedelta("9D")).to_numpy() & switchers[r]
    replied = logs["responded_at"].notna().to_numpy()
    assert replied[late & (ch == after[r])].mean() > 2 * replied[late & (ch == before[r])].mean()


def test_fatigue_multiplies_by_one_minus_f_per_recent_message(population: Population) -> None:
    rows = np.arange(20)
    args = (rows, rows % 3, rows % 2, (rows * 5) % 24, rows % 7)
    fresh = population.response_prob(*args)
    np.testing.assert_array_equal(population.response_prob(*args, recent=np.zeros(20, dtype=int)), fresh)
    for k in (1, 2, 5):
        tired = population.response_prob(*args, recent=np.full(20, k))
        np.testing.assert_allclose(tired, fresh * 0.8 ** k, rtol=1e-14)
    assert population.fatigue_factor([0, 1, 3]).tolist() == [1.0, 0.8, 0.8 ** 3]
    # without fatigue the count changes nothing
    calm = make_population(SPACE, 20, seed=4, zones=ZONES)
    np.testing.assert_array_equal(calm.response_prob(*args, recent=np.full(20, 9)), calm.response_prob(*args))


def test_expected_rates_are_the_truth_of_each_logged_send(result: SimulationResult, population: Population) -> None:
    """Recomputed here from the log alone: switches at sent_at, fatigue counts, final unsubscriptions."""
    logs = result.logs
    rows = population.rows_of(logs["customer_id"])
    hour, weekday = _local(logs["sent_at"], logs["tz"].to_numpy(dtype=object))
    recent, blocked = _recent_and_blocked(logs, pd.Timedelta("7D"))
    assert recent.max() >= 2 and blocked.sum() >= 5 and (recent == 0).any()  # every effect is exercised
    p = population.response_prob(rows, pd.Categorical(logs["channel"], categories=SPACE.channels).codes,
                                 pd.Categorical(logs["wording"], categories=SPACE.wordings).codes, hour, weekday,
                                 at=logs["sent_at"], recent=recent)
    p = np.where(blocked, 0.0, p)
    day = _day_of_row(result)
    expected = np.bincount(day, weights=p, minlength=DAYS)
    np.testing.assert_allclose(result.daily["expected_responses"], expected, rtol=1e-12)
    # an unsubscribed channel never answers again; before it did
    assert not logs["responded_at"].notna().to_numpy()[blocked].any()
    old = simulate_logs(population, UniformPolicy(SPACE, seed=7), start=START, days=DAYS, sends_per_day=PER_DAY, seed=7)
    _, old_blocked = _recent_and_blocked(old, pd.Timedelta("7D"))
    assert old["responded_at"].notna().to_numpy()[old_blocked].any()


# -- run ---------------------------------------------------------------------------------


def test_daily_metrics_are_the_logs(result: SimulationResult) -> None:
    logs, daily = result.logs, result.daily
    assert list(logs.columns) == ["customer_id", "sent_at", "channel", "wording", "responded_at", "tz", "propensity",
                                  "event_id", "unsubscribed", "complained", "segment"]
    assert daily["day"].tolist() == list(range(DAYS)) and daily["sends"].sum() == len(logs)
    assert (daily["sends"] == PER_DAY).all()  # baselines never hold
    day = _day_of_row(result)
    assert (pd.Series(logs["sent_at"].to_numpy()).groupby(day).min() >= daily["now"].to_numpy()).all()
    for column, flag in (("responses", logs["responded_at"].notna()), ("unsubscribes", logs["unsubscribed"]),
                         ("complaints", logs["complained"])):
        np.testing.assert_array_equal(daily[column], np.bincount(day, weights=flag.to_numpy(), minlength=DAYS))
    np.testing.assert_allclose(daily["response_rate"], daily["responses"] / daily["sends"])
    np.testing.assert_allclose(daily["messages_per_reply"], daily["sends"] / daily["responses"])
    np.testing.assert_allclose(daily["pct_of_oracle"], 100 * daily["expected_responses"] / daily["oracle_responses"])
    np.testing.assert_allclose(daily["cumulative_regret"], np.cumsum(daily["oracle_responses"]
                                                                     - daily["expected_responses"]))
    assert daily["explore"].tolist() == [True, True] + [False] * (DAYS - 2)
    s = result.summary(start_day=2, end_day=10)
    sel = daily[(daily["day"] >= 2) & (daily["day"] < 10)]
    assert s["days"] == 8 and s["sends"] == sel["sends"].sum() and s["responses"] == sel["responses"].sum()
    assert s["pct_of_oracle"] == pytest.approx(100 * sel["expected_responses"].sum() / sel["oracle_responses"].sum())
    assert s["regret"] == pytest.approx(sel["regret"].sum())


def test_oracle_is_the_best_send_the_truth_allows(result: SimulationResult, population: Population) -> None:
    """Brute force on one day: every channel not unsubscribed, wording, and next start of each local hour."""
    logs, daily = result.logs, result.daily
    day_of = _day_of_row(result)
    recent_all, blocked_all = _recent_and_blocked(logs, pd.Timedelta("7D"))
    for day in (3, 9):
        today = logs[day_of == day]
        before = logs[day_of < day]
        now = daily["now"][day].to_pydatetime()
        total = 0.0
        for cid, zone in zip(today["customer_id"], today["tz"]):
            row = population.rows_of([cid])
            mine = before[before["customer_id"] == cid]
            gone = set(mine.loc[mine["unsubscribed"], "channel"])
            arms = []  # (instant, local hour, weekday, recent messages, channel, wording)
            for h in range(24):
                t = pd.Timestamp(next_hour_start(now.astimezone(timezone.utc), zone, h))
                local = t.tz_convert(zone)
                k = int(((mine["sent_at"] >= t - pd.Timedelta("7D")) & (mine["sent_at"] < t)).sum())
                arms += [(t, local.hour, local.day_of_week, k, c, w) for c, name in enumerate(SPACE.channels)
                         if name not in gone for w in range(2)]
            t, hour, wd, k, c, w = (list(x) for x in zip(*arms))
            p = population.response_prob(np.repeat(row, len(arms)), c, w, hour, wd, at=pd.Series(t), recent=k)
            total += p.max()
        assert daily["oracle_responses"][day] == pytest.approx(total, rel=1e-12), day
    assert (daily["oracle_response_rate"] >= daily["expected_response_rate"]).all()


def test_oracle_bounds_every_policy_every_day(population: Population) -> None:
    kwargs = dict(days=6, sends_per_day=PER_DAY, start=START + pd.Timedelta("10h"), seed=3)
    for policy in (co.ChannelModel(SPACE, seed=3), FixedChannel(SPACE), UniformRandom(SPACE, seed=3)):
        daily = run(policy, population, **kwargs).daily
        assert (daily["oracle_responses"] >= daily["expected_responses"]).all(), policy
        assert (daily["pct_of_oracle"] <= 100).all() and (daily["regret"] >= 0).all()


def test_run_is_deterministic_for_a_seed(result: SimulationResult, population: Population) -> None:
    again = run(FlatThompson(SPACE, seed=2), population, days=DAYS, sends_per_day=PER_DAY, start=START, seed=7,
                explore_days=2)
    pd.testing.assert_frame_equal(result.logs, again.logs)
    pd.testing.assert_frame_equal(result.daily, again.daily)
    other = run(FlatThompson(SPACE, seed=2), population, days=DAYS, sends_per_day=PER_DAY, start=START, seed=8,
                explore_days=2)
    assert not result.logs["customer_id"].equals(other.logs["customer_id"])


def test_explore_days_are_the_same_for_every_policy(result: SimulationResult, population: Population) -> None:
    model = run(co.ChannelModel(SPACE, seed=9), population, days=4, sends_per_day=PER_DAY, start=START, seed=7,
                explore_days=2)
    n = 2 * PER_DAY
    pd.testing.assert_frame_equal(result.logs.iloc[:n], model.logs.iloc[:n])
    pd.testing.assert_frame_equal(result.daily.iloc[:2], model.daily.iloc[:2])
    # the explorer's propensity is its whole decision's: 3 channels x 2 wordings x 24 hours, then the model's own
    assert (model.logs["propensity"].iloc[:n] == 1 / 144).all()
    assert (model.logs["propensity"].iloc[n:] != 1 / 144).mean() > 0.9


def test_run_plays_the_same_streams_as_simulate_logs() -> None:
    """With only the explorer and no unsubscriptions, run() and simulate_logs() give the same log."""
    pop = dataclasses.replace(_population(), unsubscribe_prob=(0.0, 0.0))
    res = run(FixedChannel(SPACE), pop, days=5, sends_per_day=40, start=START, seed=11, explore_days=5)
    logs = simulate_logs(pop, UniformPolicy(SPACE, seed=11, propensity="decision"), start=START, days=5,
                         sends_per_day=40, seed=11)
    pd.testing.assert_frame_equal(res.logs, logs)


def test_training_calls_fit_then_partial_fit(population: Population) -> None:
    calls: list[tuple[str, pd.Timestamp, int, pd.Timestamp]] = []

    class Spy(UniformPolicy):
        def fit(self, logs: pd.DataFrame, as_of: pd.Timestamp) -> None:
            calls.append(("fit", as_of, len(logs), logs["responded_at"].max()))

        def partial_fit(self, logs: pd.DataFrame, as_of: pd.Timestamp) -> None:
            calls.append(("partial_fit", as_of, len(logs), logs["responded_at"].max()))

    run(Spy(SPACE), population, days=5, sends_per_day=10, start=START, seed=0, explore_days=2)
    assert [c[0] for c in calls] == ["fit", "partial_fit", "partial_fit"]
    assert [c[1] for c in calls] == [START + pd.Timedelta(days=d) for d in (2, 3, 4)]
    assert [c[2] for c in calls] == [20, 30, 40] and all(c[3] <= c[1] for c in calls)  # censored at as_of
    calls.clear()
    run(Spy(SPACE), population, days=9, sends_per_day=10, start=START, seed=0, explore_days=1, retrain="weekly")
    assert [c[1] for c in calls] == [START + pd.Timedelta(days=d) for d in (1, 8)]
    calls.clear()
    run(Spy(SPACE), population, days=3, sends_per_day=10, start=START, seed=0, retrain="never")
    assert calls == []


def test_bad_arguments_raise_clear_errors(population: Population) -> None:
    policy = UniformPolicy(SPACE)
    with pytest.raises(ValueError, match=r"^retrain: expected 'daily', 'weekly', 'never' or a positive number of "
                                         r"days, got 'hourly'$"):
        run(policy, population, days=1, sends_per_day=1, retrain="hourly")
    with pytest.raises(ValueError, match=r"^explore_days: must be an integer >= 0, got -1$"):
        run(policy, population, days=1, sends_per_day=1, explore_days=-1)
    with pytest.raises(ValueError, match=r"^population: expected a Population, got str$"):
        run(policy, "pop", days=1, sends_per_day=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^policy: expected an object with a rank\(customers, now\) method"):
        run(object(), population, days=1, sends_per_day=1)
    with pytest.raises(ValueError, match=r"^propensity: expected 'channel' or 'decision', got 'joint'$"):
        UniformPolicy(SPACE, propensity="joint")
    with pytest.raises(ValueError, match=r"^fatigue: must be a number in \[0, 1\), got 1.0$"):
        make_population(SPACE, 5, seed=0, fatigue=1.0)
    with pytest.raises(ValueError, match=r"^switch_window: expected \(start, end\) timestamps when switch_share > 0"):
        make_population(SPACE, 5, seed=0, switch_share=0.5)
    with pytest.raises(ValueError, match=r"^switch_window: start must be before end"):
        make_population(SPACE, 5, seed=0, switch_share=0.5, switch_window=("2026-02-01", "2026-01-01"))
    with pytest.raises(ValueError, match=r"^switch_share: must be a number in \[0, 1\], got 1.5$"):
        make_population(SPACE, 5, seed=0, switch_share=1.5)
    with pytest.raises(ValueError, match=r"^switch_share: a preferred channel can only switch with at least 2"):
        make_population(co.ArmSpace(channels=["email"]), 5, seed=0, switch_share=0.5,
                        switch_window=("2026-01-01", "2026-02-01"))
    with pytest.raises(ValueError, match=r"^fatigue_window: must be a positive duration"):
        make_population(SPACE, 5, seed=0, fatigue_window="-1D")
    with pytest.raises(ValueError, match=r"^recent: value -1 at position 0 is outside"):
        population.response_prob([0], [0], None, [1], [1], recent=[-1])
    with pytest.raises(ValueError, match=r"^at: expected 2 values, got 1$"):
        population.response_prob([0, 1], [0, 0], None, [1, 1], [1, 1], at=pd.Series([START]))
