"""Off-policy evaluation: estimators (closed forms, unbiasedness, bootstrap), evaluate and replay on the simulator."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt.data.tz import local_hour_weekday, send_at_table
from channelopt.evaluation import bootstrap_ci, dr, effective_sample_size, evaluate, ips, replay, snips
from channelopt.evaluation.target import posterior_mean
from channelopt.kernels.smoothing import hour_kernel
from channelopt.kernels.win import win_probabilities
from channelopt.sim import UniformPolicy, make_population, simulate_logs

# -- closed forms -------------------------------------------------------------------------


def _uniform_log(n: int = 400, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, k, n)
    reward = (rng.random(n) < np.array([0.6, 0.2, 0.1, 0.3])[action]).astype(float)
    return action, reward


def test_ips_and_snips_with_uniform_logging_and_a_deterministic_target():
    action, reward = _uniform_log()
    lp = np.full(action.size, 0.25)
    tp = (action == 0).astype(float)  # the target always picks action 0
    matched = action == 0
    assert ips(reward, lp, tp) == pytest.approx(reward[matched].sum() / (0.25 * action.size), rel=1e-12)
    assert snips(reward, lp, tp) == pytest.approx(reward[matched].mean(), rel=1e-12)
    # clipping caps every weight (here 4) at 2: IPS halves, SNIPS (self-normalised) does not move
    assert ips(reward, lp, tp, clip=2.0) == pytest.approx(reward[matched].sum() * 2.0 / action.size, rel=1e-12)
    assert snips(reward, lp, tp, clip=2.0) == pytest.approx(reward[matched].mean(), rel=1e-12)
    # a clip above every weight changes nothing
    assert ips(reward, lp, tp, clip=10.0) == ips(reward, lp, tp)


def test_snips_is_self_normalised():
    action, reward = _uniform_log(seed=1)
    lp = np.where(action == 0, 0.4, 0.2)
    tp = np.where(action == 0, 0.7, 0.1)
    w = tp / lp
    assert snips(reward, lp, tp) == pytest.approx(np.sum(w * reward) / np.sum(w), rel=1e-12)
    # invariant to a common scale of the target propensities; IPS is not
    assert snips(reward, lp, tp * 0.5) == pytest.approx(snips(reward, lp, tp), rel=1e-12)
    assert ips(reward, lp, tp * 0.5) == pytest.approx(0.5 * ips(reward, lp, tp), rel=1e-12)
    assert np.isnan(snips(reward, lp, np.zeros_like(tp)))  # no weight anywhere


def test_dr_limits():
    action, reward = _uniform_log(seed=2)
    n = action.size
    lp = np.full(n, 0.25)
    rng = np.random.default_rng(3)
    q_logged, q_target = rng.random(n), rng.random(n)
    tp = rng.random(n)
    # no importance weight: the reward model's value
    assert dr(reward, lp, np.zeros(n), q_logged, q_target) == pytest.approx(q_target.mean(), rel=1e-12)
    # no reward model: IPS
    assert dr(reward, lp, tp, np.zeros(n), np.zeros(n)) == pytest.approx(ips(reward, lp, tp), rel=1e-12)
    # clipping applies to the correction term
    w = np.minimum(tp / lp, 1.5)
    assert dr(reward, lp, tp, q_logged, q_target, clip=1.5) == pytest.approx(
        np.mean(q_target + w * (reward - q_logged)), rel=1e-12)


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10.0)
    assert effective_sample_size([5.0, 0, 0, 0]) == pytest.approx(1.0)
    assert effective_sample_size(np.zeros(3)) == 0.0
    assert effective_sample_size([1.0, 3.0]) == pytest.approx(16.0 / 10.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.01, 1.0), st.one_of(st.just(0.0), st.floats(1e-9, 1.0))),
                min_size=1, max_size=30),
       st.floats(0.1, 5.0))
def test_estimator_properties(rows, scale):
    r = np.array([x[0] for x in rows])
    lp = np.array([x[1] for x in rows])
    tp = np.array([x[2] for x in rows])
    w = tp / lp
    assert ips(scale * r, lp, tp) == pytest.approx(scale * ips(r, lp, tp), rel=1e-9, abs=1e-12)
    s = snips(r, lp, tp)
    if w.sum() > 0:
        assert r.min() - 1e-12 <= s <= r.max() + 1e-12
    else:
        assert np.isnan(s)
    ess = effective_sample_size(w)
    assert ess == 0.0 if w.sum() == 0 else 1.0 - 1e-9 <= ess <= len(rows) + 1e-9
    assert dr(r, lp, tp, r, r) == pytest.approx(r.mean(), rel=1e-9, abs=1e-12)  # a perfect reward model


# -- unbiasedness on a synthetic contextual bandit ----------------------------------------------


def _bandit(seed: int, n: int, mu: np.ndarray, pi: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, p.shape[0], n)
    u = rng.random(n)
    a = (u[:, None] > np.cumsum(mu[x], axis=1)).sum(axis=1)
    r = (rng.random(n) < p[x, a]).astype(float)
    return x, a, r


def test_estimators_are_unbiased_for_a_known_target_value():
    rng = np.random.default_rng(2026)
    n_ctx, n_act = 5, 4
    p = rng.uniform(0.05, 0.6, (n_ctx, n_act))
    mu = rng.dirichlet(np.full(n_act, 5.0), n_ctx)  # logging policy, every action possible
    pi = rng.dirichlet(np.full(n_act, 0.7), n_ctx)  # a concentrated target
    truth = float(np.mean(np.sum(pi * p, axis=1)))  # contexts are uniform
    q_bad = np.full((n_ctx, n_act), 0.3)  # a wrong reward model: DR stays unbiased
    q_good = p
    est = {"ips": [], "snips": [], "dr_bad": [], "dr_good": [], "ips_clip": []}
    for seed in range(400):
        x, a, r = _bandit(seed, 300, mu, pi, p)
        lp, tp = mu[x, a], pi[x, a]
        est["ips"].append(ips(r, lp, tp))
        est["snips"].append(snips(r, lp, tp))
        est["dr_bad"].append(dr(r, lp, tp, q_bad[x, a], np.sum(pi[x] * q_bad[x], axis=1)))
        est["dr_good"].append(dr(r, lp, tp, q_good[x, a], np.sum(pi[x] * q_good[x], axis=1)))
        est["ips_clip"].append(ips(r, lp, tp, clip=1.0))
    e = {k: np.array(v) for k, v in est.items()}
    for k in ("ips", "dr_bad", "dr_good"):
        se = e[k].std() / np.sqrt(e[k].size)
        assert abs(e[k].mean() - truth) < 4 * se, k
    # SNIPS: O(1/n) bias, far below its spread here
    assert abs(e["snips"].mean() - truth) < 0.1 * e["snips"].std()
    # a good reward model removes variance; clipping at 1 biases toward the logging policy (downward here)
    assert e["dr_good"].std() < 0.9 * e["ips"].std()
    assert e["ips_clip"].mean() < truth - 4 * e["ips_clip"].std() / np.sqrt(400)


# -- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_interval_covers_a_known_mean_at_its_level():
    rng = np.random.default_rng(7)
    covered = 0
    reps = 300
    for rep in range(reps):
        x = rng.exponential(2.0, 80)  # skewed; true mean 2
        one = np.ones_like(x)
        est, low, high = bootstrap_ci(ips, x, one, one, n_boot=400, level=0.9, seed=rep)
        assert est == pytest.approx(x.mean())
        covered += low <= 2.0 <= high
    # binomial sd at 0.9 over 300 reps is 0.017; the percentile bootstrap runs a little short at n = 80
    assert 0.83 <= covered / reps <= 0.95


def test_bootstrap_fast_and_generic_paths_agree():
    action, reward = _uniform_log(n=120, seed=4)
    lp = np.full(action.size, 0.25)
    tp = np.where(action == 0, 0.8, 0.05)
    for fn in (ips, snips):
        fast = bootstrap_ci(fn, reward, lp, tp, n_boot=200, seed=3, clip=3.0)
        slow = bootstrap_ci(lambda *a, **k: fn(*a, **k), reward, lp, tp, n_boot=200, seed=3, clip=3.0)
        np.testing.assert_allclose(fast, slow, rtol=1e-12)
    # q_logged != q_target, so that the two cannot be swapped unnoticed (in dr or in its fast terms)
    q_logged = np.where(action == 0, 0.55, 0.15)
    q_target = np.full(action.size, 0.3)
    fast = bootstrap_ci(dr, reward, lp, tp, q_logged, q_target, n_boot=200, seed=3)
    slow = bootstrap_ci(lambda *a: dr(*a), reward, lp, tp, q_logged, q_target, n_boot=200, seed=3)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    w = tp / lp
    assert fast[0] == pytest.approx(np.mean(q_target + w * (reward - q_logged)), rel=1e-12)
    swapped = np.mean(q_logged + w * (reward - q_target))
    assert abs(fast[0] - swapped) > 0.05
    assert bootstrap_ci(np.mean, reward, n_boot=50, seed=1) == bootstrap_ci(np.mean, reward, n_boot=50, seed=1)


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (([1, 0], [0.5], [0.5, 0.5]), "logged_propensity: has 1 values, reward has 2"),
    (([1, np.nan], [0.5, 0.5], [0.5, 0.5]), "reward: missing value (NaN) in row 1"),
    (([1, 0], [0.5, 0.0], [0.5, 0.5]), "logged_propensity: value 0.0 in row 1 is outside (0, 1]"),
    (([1, 0], [1.5, 0.5], [0.5, 0.5]), "logged_propensity: value 1.5 in row 0 is outside (0, 1]"),
    (([1, 0, 1], [0.5, 0.5, 0.5], [0.5, 0.5, -0.1]), "target_propensity: value -0.1 in row 2 is outside [0, 1]"),
    (([1, 0], [0.5, 0.5], [0.5, np.inf]), "target_propensity: value inf in row 1 is not finite"),
    (([[1, 0]], [0.5], [0.5]), "reward: expected a 1-D array, got shape (1, 2)"),
    (([], [], []), "reward: no rows (empty array)"),
    ((["a"], [0.5], [0.5]), "reward: expected an array of numbers"),
])
def test_estimator_errors(args, message):
    for fn in (ips, snips):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(*args)


def test_dr_and_clip_errors():
    with pytest.raises(ValueError, match=re.escape("q_target: has 1 values, reward has 2")):
        dr([1, 0], [0.5, 0.5], [0.5, 0.5], [0.1, 0.1], [0.1])
    with pytest.raises(ValueError, match=re.escape("q_logged: missing value (NaN) in row 0")):
        dr([1, 0], [0.5, 0.5], [0.5, 0.5], [np.nan, 0.1], [0.1, 0.1])
    with pytest.raises(ValueError, match=re.escape("clip: must be a number > 0, got 0")):
        ips([1], [0.5], [0.5], clip=0)
    with pytest.raises(ValueError, match=re.escape("weights: value -1.0 in row 1 is negative")):
        effective_sample_size([1.0, -1.0])
    with pytest.raises(ValueError, match=re.escape("n_boot: must be an integer >= 1, got 0")):
        bootstrap_ci(ips, [1], [1], [1], n_boot=0)
    with pytest.raises(ValueError, match=re.escape("level: must be a number in (0, 1), got 1.0")):
        bootstrap_ci(ips, [1], [1], [1], level=1.0)
    with pytest.raises(ValueError, match=re.escape("arrays: argument 1 has 1 values, argument 0 has 2")):
        bootstrap_ci(ips, [1, 0], [1], [1, 1])


# -- evaluate and replay on the simulator ---------------------------------------------------------

# No weekday arms: then the model's send slot is the argmax of its hour draws, exactly the factorised
# policy evaluate() targets (with weekday arms the slot maximises draw(hour) * draw(weekday), which
# evaluate does not model; see docs/evaluation.md).
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"], weekdays=False)
START = pd.Timestamp("2026-06-01", tz="UTC")  # no DST change in the window
DAYS = 24
JOINT = 1.0 / (3 * 2 * 24)  # UniformPolicy: channel, wording and local hour uniformly at random


def _scenario(seed: int) -> dict:
    pop = make_population(SPACE, 1000, seed=seed)
    logs = simulate_logs(pop, UniformPolicy(SPACE, seed=seed), start=START, days=DAYS, sends_per_day=250, seed=seed)
    channel_only = logs["propensity"].to_numpy().copy()
    logs["propensity"] = JOINT  # the probability of the whole logged action (UniformPolicy logs the channel's)
    logs["decided_at"] = START + (logs["sent_at"] - START).dt.floor("D")  # the day's decision time
    half = START + pd.Timedelta(days=DAYS // 2)
    train, test = logs[logs["sent_at"] < half], logs[logs["sent_at"] >= half].reset_index(drop=True)
    model = co.ChannelModel(SPACE, seed=seed, exploration=1.0).fit(train, as_of=half)
    sc = {"pop": pop, "model": model, "test": test, "channel_only": channel_only[logs["sent_at"] >= half],
          "as_of": START + pd.Timedelta(days=DAYS + 4)}
    sc["factorised"], sc["deployed"], sc["hybrid"] = _truths(sc)
    return sc


def _truths(sc: dict) -> tuple[float, float, float]:
    """(value of the factorised Thompson policy evaluate() targets, exactly; value of the model's own
    decisions from rank at each day's decision time; value of the model's channel with the logged
    wording and send time -- what replay on the channel estimates)."""
    pop, model, test = sc["pop"], sc["model"], sc["test"]
    st_ = model.state_
    win = win_probabilities(st_, st_.index.rows_of(test["customer_id"])[0],
                            hour_weights=hour_kernel(model.config.hour_smoothing),
                            exploration=model.config.exploration)  # the model's draws: Beta(a / e, b / e)
    off = SPACE.offsets
    rows = pop.rows_of(test["customer_id"])
    zones = list(pop.zones)
    now = test["decided_at"].to_numpy()
    factorised = np.zeros(len(test))
    deployed = np.zeros(len(test))
    n_ch, n_w = len(SPACE.channels), len(SPACE.wordings)
    c_, w_, h_ = (x.ravel() for x in np.meshgrid(np.arange(n_ch), np.arange(n_w), np.arange(24), indexing="ij"))
    for day in np.unique(now):
        sel = np.flatnonzero(now == day)
        now_ts = pd.Timestamp(day)
        # local weekday of the next start of every (zone, hour): the slot the hour's send lands in
        table = send_at_table(now_ts.value, zones)
        _, wd_tab = local_hour_weekday(table.ravel(), np.repeat(np.arange(len(zones)), 24), zones)
        wd_tab = wd_tab.reshape(len(zones), 24)
        zc = pop.zone_code[rows[sel]]
        r = np.repeat(rows[sel], c_.size)
        zr = np.repeat(zc, c_.size)
        cc, ww, hh = (np.tile(x, sel.size) for x in (c_, w_, h_))
        p = pop.response_prob(r, cc, ww, hh, wd_tab[zr, hh]).reshape(sel.size, -1)
        prob = (win[sel][:, off[0] + c_] * win[sel][:, off[1] + w_] * win[sel][:, off[2] + h_])
        factorised[sel] = np.sum(prob * p, axis=1)
        plan = model.rank(test.loc[sel, ["customer_id", "tz"]].reset_index(drop=True), now=now_ts, propensity=False)
        hh, wd = pop.local_time(rows[sel], plan["send_at"])
        deployed[sel] = pop.response_prob(rows[sel], pd.Index(SPACE.channels).get_indexer(plan["channel"].astype(object)),
                                          pd.Index(SPACE.wordings).get_indexer(plan["wording"].astype(object)), hh, wd)
    lh, lwd = pop.local_time(rows, test["sent_at"])
    lw = pd.Index(SPACE.wordings).get_indexer(test["wording"])
    hybrid = sum(win[:, c] * pop.response_prob(rows, np.full(len(test), c), lw, lh, lwd) for c in range(3))
    return float(factorised.mean()), float(deployed.mean()), float(hybrid.mean())


@pytest.fixture(scope="module")
def scenarios() -> list[dict]:
    return [_scenario(seed) for seed in range(4)]


def test_evaluate_intervals_cover_the_simulators_truth(scenarios):
    covered = {"ips": 0, "snips": 0, "dr": 0}
    for sc in scenarios:
        truth = sc["deployed"]  # the mean true reply probability of the model's own decisions
        # the exact value of the policy evaluate() targets; differs from the above by rank's sampling noise
        assert abs(sc["factorised"] - truth) < 0.06 * truth
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # fitted on earlier data, consistent propensities: no warning
            out = evaluate(sc["test"], sc["model"], as_of=sc["as_of"], n_boot=300, seed=1)
        assert out["n"].tolist() == [len(sc["test"])] * 3
        assert out.attrs["dimensions"] == ["channel", "wording", "hour"]
        assert 0.8 < out.attrs["mean_weight"] < 1.25
        for _, row in out.iterrows():
            assert row["ci_high"] - row["ci_low"] < 0.2  # informative (values 0.05 to 0.17), so the check can fail
            covered[row["estimator"]] += row["ci_low"] <= truth <= row["ci_high"]
    assert covered["dr"] >= 3 and covered["snips"] >= 3, covered


def test_replay_on_the_channel_covers_its_truth(scenarios):
    hits = 0
    for sc in scenarios[:3]:
        hybrid = sc["hybrid"]
        out = replay(sc["test"], sc["model"], now_column="decided_at", as_of=sc["as_of"], dimensions=("channel",))
        row = out.iloc[0]
        assert row["n"] == len(sc["test"]) and 0.2 * row["n"] < row["matched"] < 0.6 * row["n"]
        assert row["value"] == pytest.approx(row["responses"] / row["matched"])
        hits += row["ci_low"] <= hybrid <= row["ci_high"]
    assert hits >= 2


def test_replay_matches_the_models_own_decisions(scenarios):
    sc = scenarios[0]
    test = sc["test"].iloc[:40].reset_index(drop=True)
    out = replay(test, sc["model"], as_of=sc["as_of"], dimensions=("channel", "hour"))
    model, pop = sc["model"], sc["pop"]
    hours, _ = pop.local_time(pop.rows_of(test["customer_id"]), test["sent_at"])
    same = 0
    for i in range(len(test)):  # default now_column: the decision at sent_at itself
        d = model.choose_channel(test["customer_id"][i], now=test["sent_at"][i], tz=test["tz"][i])
        same += d.channel == test["channel"][i] and d.hour == hours[i]
    assert out["matched"].iloc[0] == same


def test_channel_only_propensities_are_flagged_and_handled(scenarios):
    sc = scenarios[0]
    logs = sc["test"].assign(propensity=sc["channel_only"])  # what UniformPolicy logs: P(channel) = 1/3
    with pytest.warns(UserWarning, match=r"mean importance weight is 0\.0\d+, expected about 1 \(effective sample size"):
        evaluate(logs, sc["model"], as_of=sc["as_of"], estimators=("snips",), n_boot=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evaluate(logs, sc["model"], as_of=sc["as_of"], n_boot=50, dimensions=("channel",))
    assert out.attrs["dimensions"] == ["channel"]
    assert 0.85 < out.attrs["mean_weight"] < 1.15


def test_learned_zones_stand_in_for_a_missing_tz_column(scenarios):
    sc = scenarios[1]
    known = sc["model"].state_.index.rows_of(sc["test"]["customer_id"])[0] >= 0
    test = sc["test"][known]
    assert 0 < len(test) < len(sc["test"])
    with_tz = evaluate(test, sc["model"], as_of=sc["as_of"], n_boot=20)
    without = evaluate(test.drop(columns=["tz"]), sc["model"], as_of=sc["as_of"], n_boot=20)
    np.testing.assert_allclose(without["value"], with_tz["value"], rtol=1e-12)
    # unknown customers without a tz fall back to the model's default zone (UTC): the hours move
    moved = evaluate(sc["test"].drop(columns=["tz"]), sc["model"], as_of=sc["as_of"], estimators=("ips",), n_boot=20)
    full = evaluate(sc["test"], sc["model"], as_of=sc["as_of"], estimators=("ips",), n_boot=20)
    assert moved["value"].iloc[0] != full["value"].iloc[0]


def test_pending_rows_are_dropped_and_leakage_warned(scenarios):
    sc = scenarios[2]
    as_of = START + pd.Timedelta(days=DAYS)  # the last 3 days (the response window) are pending
    out = evaluate(sc["test"], sc["model"], as_of=as_of, estimators=("ips",), n_boot=20)
    pending = int((sc["test"]["sent_at"] > as_of - pd.Timedelta("72h")).sum())
    assert out.attrs["pending"] == pending > 0
    assert out["n"].iloc[0] == len(sc["test"]) - pending
    train = sc["test"].iloc[:500]
    leaky = co.ChannelModel(SPACE, seed=0).fit(train, as_of=sc["as_of"])
    with pytest.warns(UserWarning, match=r"500 of the 500 evaluated rows were sent before the model's as_of"):
        evaluate(train, leaky, as_of=sc["as_of"], estimators=("ips",), n_boot=20)


def _skewed(sms_propensity: list[float]) -> tuple[co.ChannelModel, pd.DataFrame]:
    """A model sure that sms wins (email never answered), and a log whose logger nearly always sent email."""
    space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    rng = np.random.default_rng(0)
    n = 400
    sent = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 10, n), unit="D")
    channel = np.where(np.arange(n) % 2, "sms", "email")
    hist = pd.DataFrame({"customer_id": np.arange(n) % 40, "sent_at": sent, "channel": channel,
                         "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(channel == "sms")})
    model = co.ChannelModel(space, seed=0).fit(hist, as_of="2026-01-20")
    k = len(sms_propensity)
    logs = pd.DataFrame({"customer_id": rng.integers(0, 40, n), "sent_at": sent + pd.Timedelta(days=30),
                         "channel": np.where(np.arange(n) < k, "sms", "email"), "responded_at": pd.NaT,
                         "propensity": np.r_[sms_propensity, np.full(n - k, 0.99)]})
    return model, logs


def test_extreme_weights_warn_with_the_ess():
    model, logs = _skewed([0.01])  # one row carries nearly all the weight
    with pytest.warns(UserWarning, match=r"evaluate: effective sample size 1\.\d is below 1% of the 400 rows"):
        evaluate(logs, model, as_of="2026-03-01", estimators=("ips",), n_boot=20)
    model, logs = _skewed([0.002] + [0.01] * 9)  # ESS above 4, but one row has a third of the weight
    with pytest.warns(UserWarning, match=r"evaluate: extreme importance weights: one row carries 3\d% of the total "
                                         r"weight \(effective sample size \d\.\d of 400 rows\)"):
        evaluate(logs, model, as_of="2026-03-01", estimators=("ips",), n_boot=20)


def test_reward_model_features_use_the_posteriors_decisions_draw_from(space, logs):
    """The DR features (posterior means, hours smoothed) equal explain()'s means."""
    model = co.ChannelModel(space, half_life="30D", seed=7, hour_smoothing=1.5).fit(logs)
    ids = logs["customer_id"].unique()[:3].tolist() + ["nobody"]
    rows = model.state_.index.rows_of(pd.Series(ids))[0]
    pm = posterior_mean(model.state_, rows, hour_kernel(1.5))
    for i, cid in enumerate(ids):
        np.testing.assert_allclose(pm[i], model.explain(cid)["mean"].to_numpy(), rtol=1e-12)


def test_evaluate_errors(fitted_model, logs):
    recent = logs.assign(propensity=0.5)
    with pytest.raises(ValueError, match=re.escape("logs: missing column 'propensity' (the probability with which "
                                                   "the logging policy chose each logged action")):
        evaluate(logs, fitted_model)
    with pytest.raises(ValueError, match=re.escape("column 'propensity': value 0.0 in row 3 is outside (0, 1]")):
        evaluate(recent.assign(propensity=np.where(np.arange(len(logs)) == 3, 0.0, 0.5)), fitted_model)
    with pytest.raises(ValueError, match=re.escape("column 'propensity': missing value in row 5")):
        evaluate(recent.assign(propensity=np.where(np.arange(len(logs)) == 5, np.nan, 0.5)), fitted_model)
    with pytest.raises(ValueError, match=re.escape("estimators: unknown estimator 'ipw' (known: ips, snips, dr)")):
        evaluate(recent, fitted_model, estimators=("ips", "ipw"))
    with pytest.raises(ValueError, match=re.escape("dimensions: unknown dimension 'colour' (the model's: channel, "
                                                   "wording, hour, weekday)")):
        evaluate(recent, fitted_model, dimensions=("colour",))
    with pytest.raises(ValueError, match=r"logs: no row is resolved as of 2026-03-02 10:00:00\+00:00 .*all 200 rows "
                                         r"are pending"):
        evaluate(recent, fitted_model, as_of="2026-03-02 10:00")
    with pytest.raises(ValueError, match=re.escape("n_boot: must be an integer >= 1, got 0")):
        evaluate(recent, fitted_model, n_boot=0)
    with pytest.raises(ValueError, match=re.escape("model: expected a fitted ChannelModel (call model.fit(logs) "
                                                   "first)")):
        evaluate(recent, co.ChannelModel(fitted_model.space))


def test_replay_errors_and_warnings(fitted_model, logs):
    with pytest.raises(ValueError, match=re.escape("logs: missing column 'decided_at' (the decision time of each "
                                                   "row; columns present:")):
        replay(logs, fitted_model, now_column="decided_at")
    late = logs.assign(decided_at=logs["sent_at"] + pd.Timedelta("1h"))
    with pytest.raises(ValueError, match=r"column 'decided_at': .* in row 0 is after sent_at"):
        replay(late, fitted_model, now_column="decided_at")
    varied = logs.assign(propensity=np.where(np.arange(len(logs)) % 2, 0.2, 0.5))
    with pytest.warns(UserWarning, match=r"replay: the logged propensity varies \(0\.2 to 0\.5\)"):
        replay(varied.iloc[:30], fitted_model, dimensions=("channel",))
    with pytest.raises(ValueError, match=re.escape("level: must be a number in (0, 1), got 2")):
        replay(logs, fitted_model, level=2)


def test_a_saved_and_loaded_model_evaluates_the_same(scenarios, tmp_path):
    sc = scenarios[3]
    sc["model"].save(tmp_path / "model")
    loaded = co.load(tmp_path / "model")  # arrays memory-mapped read-only
    a = evaluate(sc["test"], sc["model"], as_of=sc["as_of"], n_boot=50)
    b = evaluate(sc["test"], loaded, as_of=sc["as_of"], n_boot=50)
    pd.testing.assert_frame_equal(a, b)
