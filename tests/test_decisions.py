"""Decisions: reproducibility, choose_channel == rank, masks, unknown customers, thread safety, Thompson frequencies."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import channelopt as co
from channelopt.policy.slots import slot_tables
from conftest import exact_win_probabilities as _exact_win_probabilities

NOW = pd.Timestamp("2026-11-23 09:00", tz="UTC")
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])


def _logs(n: int = 4000, n_customers: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, n)
    channel = rng.choice(np.array(SPACE.channels), n)
    sent = pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 60 * 86400, n), unit="s")
    pref = np.array(SPACE.channels)[cust % 3]
    p = np.where(channel == pref, 0.45, 0.05)
    replied = rng.random(n) < p
    return pd.DataFrame({
        "customer_id": [f"c-{c}" for c in cust],
        "sent_at": sent,
        "channel": channel,
        "wording": rng.choice(np.array(SPACE.wordings), n),
        "responded_at": sent.where(replied) + pd.Timedelta("2h"),
        "tz": np.where(cust % 2 == 0, "Europe/Paris", "America/New_York"),
    })


@pytest.fixture(scope="module")
def model() -> co.ChannelModel:
    return co.ChannelModel(SPACE, seed=11, exploration=1.0).fit(_logs(), as_of="2026-11-15")


def test_same_inputs_same_decision(model):
    a = model.choose_channel("c-5", now=NOW)
    b = model.choose_channel("c-5", now=NOW)
    assert a == b
    np.testing.assert_array_equal(a.draws, b.draws)


def test_other_round_or_seed_explores_independently(model):
    ids = [f"c-{i}" for i in range(200)]
    r1 = model.rank(ids, now=NOW, propensity=False)
    r2 = model.rank(ids, now=NOW + pd.Timedelta("1D"), propensity=False)
    # scores are fresh draws each round: (almost) all differ
    assert (r1["score"].to_numpy() != r2["score"].to_numpy()).mean() > 0.99
    other = co.ChannelModel(SPACE, seed=12, exploration=1.0)
    other.state_ = model.state_
    r3 = other.rank(ids, now=NOW, propensity=False)
    assert (r1["score"].to_numpy() != r3["score"].to_numpy()).mean() > 0.99


def test_choose_channel_agrees_with_rank(model):
    ids = [f"c-{i}" for i in range(0, 200, 7)] + ["nobody", "c-999"]
    ranked = model.rank(ids, now=NOW)
    for row in ranked.itertuples(index=False):
        d = model.choose_channel(row.customer_id, now=NOW)
        assert d.channel == row.channel
        assert d.wording == row.wording
        assert d.hour == row.hour
        assert d.send_at == row.send_at
        assert d.score == pytest.approx(row.score, rel=0, abs=0)
        assert d.propensity == pytest.approx(row.propensity, rel=0, abs=0)


def test_rank_is_invariant_to_batch_composition(model):
    ids = [f"c-{i}" for i in range(200)]
    whole = model.rank(ids, now=NOW).set_index("customer_id")
    parts = pd.concat([model.rank(ids[i:i + 33], now=NOW) for i in range(0, 200, 33)]).set_index("customer_id")
    pd.testing.assert_frame_equal(whole, parts.loc[whole.index])
    shuffled = model.rank(ids[::-1], now=NOW).set_index("customer_id")
    pd.testing.assert_frame_equal(whole, shuffled.loc[whole.index])


def test_learned_preference_drives_decisions(model):
    ids = [f"c-{i}" for i in range(200)]
    ranked = model.rank(ids, now=NOW, propensity=False)
    truth = np.array(SPACE.channels)[np.arange(200) % 3]
    # Thompson sampling still explores (about 7 sends per channel per customer here): well above chance (1/3)
    assert (ranked["channel"].astype(str).to_numpy() == truth).mean() > 0.65
    st = model.state_
    rows, _ = st.index.rows_of(ids)
    k = len(SPACE.channels)
    alpha = st.prior_alpha[:k] + st.responses[rows, :k]
    beta = st.prior_beta[:k] + st.sends[rows, :k] - st.responses[rows, :k]
    best = np.array(SPACE.channels)[np.argmax(alpha / (alpha + beta), axis=1)]
    assert (best == truth).mean() > 0.85


def test_exclude_and_allowed_channels(model):
    for cid in ["c-0", "c-1", "c-2", "nobody"]:
        assert model.choose_channel(cid, now=NOW, exclude=["email", "sms"]).channel == "push"
        assert model.choose_channel(cid, now=NOW, allowed_channels=["sms"]).channel == "sms"
        d = model.choose_channel(cid, now=NOW, allowed_channels=["sms", "push"], exclude=["sms"])
        assert d.channel == "push" and d.propensity == 1.0 or d.channel == "push"
    hold = model.choose_channel("c-0", now=NOW, allowed_channels=[])
    assert hold.channel is None and hold.hold_reason == "no_allowed_channel" and hold.send_at is None
    ranked = model.rank(["c-0", "c-1"], now=NOW, allowed_channels=["email"])
    assert (ranked["channel"] == "email").all()
    with pytest.raises(ValueError, match="exclude: unknown channel 'fax'"):
        model.choose_channel("c-0", now=NOW, exclude=["fax"])
    with pytest.raises(ValueError, match="allowed_channels: unknown channel 'fax'"):
        model.rank(["c-0"], now=NOW, allowed_channels=["fax"])


def test_single_allowed_channel_has_propensity_one():
    only = co.ArmSpace(channels=SPACE.channels, hours=False, weekdays=False)
    m = co.ChannelModel(only, seed=11, exploration=1.0).fit(_logs(n=300).drop(columns="wording"),
                                                           as_of="2026-11-15")
    d = m.choose_channel("c-3", now=NOW, allowed_channels=["sms"])
    assert d.channel == "sms" and d.propensity == 1.0 and d.send_at == NOW


def test_unknown_customer_uses_prior(model):
    st = model.state_
    d = model.choose_channel("never-seen", now=NOW)
    ex = model.explain("never-seen")
    np.testing.assert_allclose(ex["alpha"], st.prior_alpha)
    np.testing.assert_allclose(ex["beta"], st.prior_beta)
    assert (ex["sends"] == 0).all()
    assert d.channel in SPACE.channels and 0 < d.propensity <= 1


def test_send_at_is_next_local_hour_within_a_day(model):
    ranked = model.rank([f"c-{i}" for i in range(40)], now=NOW)
    for row in ranked.itertuples(index=False):
        tz = "Europe/Paris" if int(row.customer_id[2:]) % 2 == 0 else "America/New_York"
        local = row.send_at.tz_convert(tz)
        assert NOW <= row.send_at <= NOW + pd.Timedelta("24h")
        assert local.hour == row.hour
        if row.send_at > NOW:
            assert local.minute == 0 and local.second == 0


def test_explicit_tz_overrides_learned_zone(model):
    d = model.choose_channel("c-0", now=NOW, tz="Asia/Tokyo")
    assert d.send_at.tz_convert("Asia/Tokyo").hour == d.hour


def test_explain_columns_and_interval(model):
    ex = model.explain("c-4")
    assert list(ex.columns) == ["dimension", "arm", "sends", "responses", "prior_mean", "alpha", "beta", "mean",
                                "ci_low", "ci_high", "consent", "available_from", "quiet_hours",
                                "reply_latency_p50", "reply_latency_p80"]
    # without a policy every channel is available now; rows of other dimensions carry no rules
    channel_rows = ex["dimension"] == "channel"
    assert ex.loc[channel_rows, "consent"].all() and ex.loc[~channel_rows, "consent"].isna().all()
    assert (ex.loc[channel_rows, "reply_latency_p50"] > pd.Timedelta("1h")).all()  # replies came after 2 h
    assert len(ex) == SPACE.n_arms
    assert ((ex["ci_low"] <= ex["mean"]) & (ex["mean"] <= ex["ci_high"])).all()
    np.testing.assert_allclose(ex["ci_low"], stats.beta.ppf(0.05, ex["alpha"], ex["beta"]))
    np.testing.assert_allclose(ex["mean"], ex["alpha"] / (ex["alpha"] + ex["beta"]))


def test_top_k_picks_highest_scores(model):
    ids = [f"c-{i}" for i in range(200)]
    full = model.rank(ids, now=NOW, propensity=False)
    top = model.rank(ids, now=NOW, propensity=False, top_k=10)
    assert len(top) == 10
    np.testing.assert_allclose(top["score"].to_numpy(), np.sort(full["score"].to_numpy())[::-1][:10])
    with pytest.raises(ValueError, match="top_k"):
        model.rank(ids, now=NOW, top_k=-1)


def test_thread_safe_and_consistent_under_concurrent_fit(model):
    """Four threads decide on a model while another thread refits *that same model* again and again
    (its state swapped back, then a partial_fit of new sends): every decision, and every rank frame, is
    exactly the one of the model before or after the refit, never a mix of the two."""
    ids = [f"c-{i}" for i in range(60)]
    before = model.state_
    rng = np.random.default_rng(3)
    extra = _logs(n=1500, seed=3)
    # new sends between the watermark (2026-11-15) and the next as_of, all resolved by then
    extra["sent_at"] = pd.Timestamp("2026-11-15 01:00", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 2 * 86400, len(extra)), unit="s")
    extra["responded_at"] = extra["sent_at"].where(extra["responded_at"].notna()) + pd.Timedelta("2h")
    as_of = "2026-11-21"
    after_model = co.ChannelModel(SPACE, seed=11, exploration=1.0)
    after_model.state_ = before
    after_model.partial_fit(extra, as_of=as_of)
    assert after_model.last_fit_["counted"] == len(extra)
    exp_before = {c: model.choose_channel(c, now=NOW) for c in ids}
    exp_after = {c: after_model.choose_channel(c, now=NOW) for c in ids}
    rank_before = model.rank(ids, now=NOW)
    rank_after = after_model.rank(ids, now=NOW)
    assert sum(exp_before[c] != exp_after[c] for c in ids) >= 20  # the two models are told apart
    local = co.ChannelModel(SPACE, seed=11, exploration=1.0)
    local.state_ = before
    stop = threading.Event()
    fits = [0]

    def refit() -> None:
        while not stop.is_set():
            local.state_ = before
            local.partial_fit(extra, as_of=as_of)
            fits[0] += 1
            stop.wait(0.01)  # readers see the refitted state for a while, then the old one again

    t = threading.Thread(target=refit)
    t.start()
    got, frames = [], []

    def saw(which: dict) -> bool:
        return any(d == which[d.customer_id] and exp_before[d.customer_id] != exp_after[d.customer_id] for d in got)

    try:
        with ThreadPoolExecutor(4) as pool:
            give_up = time.monotonic() + 30
            while (fits[0] < 5 or len(got) < 1200 or not saw(exp_before) or not saw(exp_after)) \
                    and time.monotonic() < give_up:
                got += pool.map(lambda c: local.choose_channel(c, now=NOW), ids * 5)
                frames += pool.map(lambda _: local.rank(ids, now=NOW), range(4))
    finally:
        stop.set()
        t.join()
    assert fits[0] >= 5 and saw(exp_before) and saw(exp_after)  # the reads did overlap the refits
    for d in got:
        assert d in (exp_before[d.customer_id], exp_after[d.customer_id]), d
    for f in frames:
        assert f.equals(rank_before) or f.equals(rank_after)
    # the refits never wrote into the store they started from
    assert all(model.choose_channel(c, now=NOW) == exp_before[c] for c in ids)
    again = co.ChannelModel(SPACE, seed=11, exploration=1.0)
    again.state_ = before
    assert all(again.choose_channel(c, now=NOW) == exp_before[c] for c in ids)


def test_choice_frequencies_match_exact_thompson_probabilities(model):
    """Many customers with the same posterior (unknown ids: the prior) pick channels with the exact Thompson odds."""
    st = model.state_
    n = 20000
    ranked = model.rank([f"new-{i}" for i in range(n)], now=NOW)
    k = len(SPACE.channels)
    exact = _exact_win_probabilities(st.prior_alpha[:k], st.prior_beta[:k])
    freq = ranked["channel"].value_counts(normalize=True).reindex(list(SPACE.channels)).to_numpy()
    se = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(freq - exact) < 4.5 * se + 1e-9), (freq, exact)
    # each decision's propensity estimates the exact probability of the whole decision:
    # P(channel) x P(wording) x P(send slot), the slot's from 400k numpy draws of hour and weekday arms
    off = SPACE.offsets
    exact_w = _exact_win_probabilities(st.prior_alpha[off[1]:off[2]], st.prior_beta[off[1]:off[2]])
    start, end, hour, wd, n_slots = slot_tables(NOW.value, NOW.value + 24 * 3600 * 10**9, ["UTC"])
    rng = np.random.default_rng(0)
    th = rng.beta(st.prior_alpha[off[2]:off[3]], st.prior_beta[off[2]:off[3]], size=(400_000, 24))
    tw = rng.beta(st.prior_alpha[off[3]:off[4]], st.prior_beta[off[3]:off[4]], size=(400_000, 7))
    slot_score = th[:, hour[0, :n_slots[0]]] * tw[:, wd[0, :n_slots[0]]]
    p_slot = np.bincount(slot_score.argmax(axis=1), minlength=n_slots[0]) / 400_000
    slot_of = {int(t): s for s, t in enumerate(start[0, :n_slots[0]])}
    slot = np.array([slot_of[int(t.value)] for t in ranked["send_at"]])
    truth = exact[chosen := ranked["channel"].cat.codes.to_numpy()] * \
        exact_w[ranked["wording"].cat.codes.to_numpy()] * p_slot[slot]
    got = ranked["propensity"].to_numpy()
    # computed, not sampled (channelopt.kernels.propensity): measured MAE 7.7e-4 (the bound: 0.03) and mean
    # relative error 4.3%, of which ~1.5% is the Monte Carlo error of p_slot itself, when decay overrated the
    # priors' strength; with the true strength (issue 14 part 3: the same priors as half_life=None) some hour
    # priors are weak (Beta(0.44, 2.2)), where the quadrature is least exact (the known gap of
    # docs/architecture.md, "propensities stay exact"): mean relative error 10.7%, as with half_life=None before
    assert np.abs(got - truth).mean() < 0.005
    assert np.mean(np.abs(got - truth) / truth) < 0.12
    # the channel factor alone, on a space with channels only (measured MAE 4e-4)
    only = co.ArmSpace(channels=SPACE.channels, hours=False, weekdays=False)
    m2 = co.ChannelModel(only, seed=11, exploration=1.0).fit(_logs().drop(columns="wording"), as_of="2026-11-15")
    r2 = m2.rank([f"new-{i}" for i in range(2000)], now=NOW)
    ex2 = _exact_win_probabilities(m2.state_.prior_alpha, m2.state_.prior_beta)
    assert np.abs(r2["propensity"].to_numpy() - ex2[r2["channel"].cat.codes.to_numpy()]).mean() < 0.005
