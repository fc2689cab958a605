"""channelopt.sim.scenarios and the population options behind it: arrivals, seasons, weekday strength, features."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.data.tz import NAT
from channelopt.policy.baselines import PooledThompson, UniformRandom
from channelopt.sim import SCENARIOS, Population, Scenario, UniformPolicy, make_population, run

SPACE = co.ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "friendly", "urgent"])
START = pd.Timestamp("2026-01-05", tz="UTC")

ARRAYS = ("customer_id", "tz", "segment", "base_rate", "channel_effect", "wording_effect", "hour_effect",
          "weekday_effect", "peak_hour", "delay_median_s", "consent", "switch_ns", "switch_to")


def _same(a: Population, b: Population, skip: tuple[str, ...] = ()) -> None:
    for name in ARRAYS:
        if name not in skip:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _uniform_rate(pop: Population, seed: int = 0) -> float:
    """Mean true reply probability of uniformly random channel, wording and local hour/weekday sends."""
    rng = np.random.default_rng(seed)
    n = len(pop)
    rows = np.repeat(np.arange(n), 20)
    m = rows.size
    p = pop.response_prob(rows, rng.integers(0, len(pop.space.channels), m), rng.integers(0, len(pop.space.wordings), m),
                          rng.integers(0, 24, m), rng.integers(0, 7, m))
    return float(p.mean())


# -- defaults are untouched ---------------------------------------------------------------------------


def test_new_options_at_their_defaults_draw_the_same_population():
    implicit = make_population(SPACE, 500, seed=3)
    explicit = make_population(SPACE, 500, seed=3, arrival_share=0.0, weekday_strength=1.0, season_amplitude=0.0,
                               season_period="28D", features=False)
    _same(implicit, explicit)
    assert implicit.features is None and not implicit.has_arrivals and not implicit.time_varying
    assert list(implicit.customers_table().columns) == ["customer_id", "tz", "segment", "consent_email",
                                                        "consent_sms", "consent_push", "consent_whatsapp"]


def test_each_option_leaves_the_other_attributes_alone():
    base = make_population(SPACE, 400, seed=5)
    _same(base, make_population(SPACE, 400, seed=5, features=True))
    _same(base, make_population(SPACE, 400, seed=5, season_amplitude=0.5))
    _same(base, make_population(SPACE, 400, seed=5, arrival_share=0.3, arrival_window=(START, START + pd.Timedelta("9D"))))
    _same(base, make_population(SPACE, 400, seed=5, weekday_strength=2.0), skip=("weekday_effect",))


def test_a_run_without_the_new_options_is_unchanged_by_them():
    pop = make_population(SPACE, 120, seed=2, fatigue=0.1)
    a = run(PooledThompson(SPACE, seed=1), pop, days=4, sends_per_day=50, start=START, seed=3)
    b = run(PooledThompson(SPACE, seed=1), make_population(SPACE, 120, seed=2, fatigue=0.1, features=True), days=4,
            sends_per_day=50, start=START, seed=3)
    pd.testing.assert_frame_equal(a.logs, b.logs)  # features only add customers-table columns
    pd.testing.assert_frame_equal(a.daily, b.daily)


# -- arrivals ---------------------------------------------------------------------------------------------


def test_arrivals_are_drawn_in_their_window_and_exact_in_number():
    w = (START + pd.Timedelta("2D"), START + pd.Timedelta("8D"))
    pop = make_population(SPACE, 300, seed=1, arrival_share=0.4, arrival_window=w)
    late = pop.arrival_ns != NAT
    assert int(late.sum()) == 120
    assert (pop.arrival_ns[late] >= w[0].value).all() and (pop.arrival_ns[late] < w[1].value).all()
    assert len(pop.present(START)) == 180 and len(pop.present(w[1])) == 300
    with pytest.raises(ValueError, match="arrival_window"):
        make_population(SPACE, 10, seed=1, arrival_share=0.5)


def test_run_contacts_only_customers_who_have_arrived():
    sc = SCENARIOS["new_customers"]
    pop = sc.population(SPACE, 200, seed=4, start=START, days=10)
    res = run(UniformRandom(SPACE, seed=0), pop, days=10, sends_per_day=sc.sends_per_day(200), start=START, seed=1)
    rows = pop.rows_of(res.logs["customer_id"])
    day = np.repeat(res.daily["day"].to_numpy(), res.daily["sends"].to_numpy())
    now_ns = START.value + day * 86_400 * 10**9  # the decision time of each send's day
    assert ((pop.arrival_ns[rows] == NAT) | (pop.arrival_ns[rows] <= now_ns)).all()
    assert (pop.arrival_ns[rows] != NAT).any()  # some who arrived late were contacted
    # one message a day to every customer present: the daily traffic grows with the arrivals
    present = [len(pop.present(START + pd.Timedelta(days=d))) for d in range(10)]
    assert res.daily["sends"].tolist() == present
    assert present[0] == 100 and present[-1] > 150


# -- seasons and weekdays -------------------------------------------------------------------------------


def test_seasons_average_one_and_move_the_best_channel():
    pop = make_population(SPACE, 400, seed=6, season_amplitude=0.5, season_period="28D")
    t = START.value + np.arange(28 * 24) * 3600 * 10**9  # hourly over one period
    for c in range(4):
        f = pop.season_factor(np.full(t.size, c), t)
        assert abs(f.mean() - 1.0) < 1e-3 and f.min() >= 0.5 - 1e-9 and f.max() <= 1.5 + 1e-9
    early = pop.channel_effect_at(START).argmax(axis=1)
    later = pop.channel_effect_at(START + pd.Timedelta("14D")).argmax(axis=1)
    assert 0 < int((early != later).sum()) < 400
    with pytest.raises(ValueError, match="season_amplitude"):
        make_population(SPACE, 10, seed=1, season_amplitude=1.0)


def test_the_oracle_bounds_every_policy_under_seasons_and_drift():
    sc = SCENARIOS["seasonal"]
    pop = sc.population(SPACE, 150, seed=2, start=START, days=8)
    res = run(co.ChannelModel(SPACE, seed=0), pop, days=8, sends_per_day=150, start=START, seed=2)
    d = res.daily
    assert (d["oracle_response_rate"] >= d["expected_response_rate"] - 1e-12).all()


def test_weekday_strength_widens_the_weekday_effect():
    spread = [np.log(make_population(SPACE, 2000, seed=1, weekday_strength=s).weekday_effect).std()
              for s in (1.0, 3.0)]
    assert spread[1] > 2.0 * spread[0]
    with pytest.raises(ValueError, match="weekday_strength"):
        make_population(SPACE, 10, seed=1, weekday_strength=0.0)


# -- features -----------------------------------------------------------------------------------------------


def test_features_are_in_the_customers_table_and_correlate_with_preferences():
    pop = make_population(SPACE, 4000, seed=3, features=True)
    table = pop.customers_table()
    assert list(table.columns[-2:]) == ["age", "plan"]
    pref_ch = pop.channel_effect.argmax(axis=1)
    means = [table["age"][pref_ch == c].mean() for c in range(4)]
    assert all(b - a > 4.0 for a, b in zip(means, means[1:]))  # 6 a position, give or take noise
    pref_w = pop.wording_effect.argmax(axis=1)
    agree = (table["plan"].to_numpy() == np.array([f"p{w}" for w in pref_w], dtype=object)).mean()
    assert 0.75 < agree < 0.9  # 0.75 on purpose plus 1 in 3 by chance
    with pytest.raises(TypeError, match="features"):
        make_population(SPACE, 10, seed=1, features="yes")


def test_population_rejects_bad_features():
    pop = make_population(SPACE, 5, seed=0)
    with pytest.raises(ValueError, match="5 rows"):
        dataclasses.replace(pop, features=pd.DataFrame({"age": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="already a column"):
        dataclasses.replace(pop, features=pd.DataFrame({"segment": np.zeros(5)}))


# -- the scenarios ------------------------------------------------------------------------------------------


def test_the_standard_scenarios():
    assert list(SCENARIOS) == ["stationary", "habit_change", "new_customers", "seasonal", "sparse", "dense",
                               "fatigue"]
    assert all(isinstance(sc, Scenario) and sc.name == name for name, sc in SCENARIOS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        SCENARIOS["dense"].fatigue = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("name, low, high", [("stationary", 0.025, 0.045), ("sparse", 0.003, 0.007),
                                             ("dense", 0.15, 0.28)])
def test_reply_rates_at_random(name, low, high):
    pop = SCENARIOS[name].population(SPACE, 3000, seed=0, start=START, days=60)
    assert low < _uniform_rate(pop) < high


def test_scenario_windows_are_fractions_of_the_run():
    kw = SCENARIOS["habit_change"].population_kwargs(START, 50)
    assert kw["switch_window"] == (START + pd.Timedelta("20D"), START + pd.Timedelta("30D"))
    pop = SCENARIOS["habit_change"].population(SPACE, 1000, seed=0, start=START, days=50)
    assert int((pop.switch_ns != NAT).sum()) == 300
    assert SCENARIOS["fatigue"].sends_per_day(1000) == 500 and SCENARIOS["fatigue"].population(
        SPACE, 10, seed=0, start=START, days=5).fatigue == 0.15
    assert SCENARIOS["stationary"].population_kwargs(START, 10) == {
        "base_rate": (0.02, 0.25), "fatigue": 0.0, "weekday_strength": 1.0, "season_amplitude": 0.0,
        "season_period": "28D", "features": False}


def test_scenario_validation():
    with pytest.raises(ValueError, match="switch_span"):
        Scenario("x", "bad", switch_span=(0.6, 0.4))
    with pytest.raises(ValueError, match="contact_share"):
        Scenario("x", "bad", contact_share=0.0)
    with pytest.raises(ValueError, match="arrival_share"):
        Scenario("x", "bad", arrival_share=1.5)


def test_uniform_policy_plays_a_population_with_features():
    pop = SCENARIOS["new_customers"].population(SPACE, 60, seed=1, start=START, days=5)
    plan = UniformPolicy(SPACE, seed=0).rank(pop.customers_table(), START)
    assert len(plan) == 60 and plan["channel"].notna().all()
