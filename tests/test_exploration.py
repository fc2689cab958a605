"""``exploration``: Thompson draws from Beta(alpha / e, beta / e), everywhere a draw or a propensity is made.

* e = 1 is today's behaviour, bit for bit (the kernels called without the argument);
* e < 1 concentrates the decisions on the arm of higher mean, with the exact Thompson odds of the
  scaled posteriors (quadrature of scipy's Beta, ``_exact``) and propensities that match the
  choice frequencies and the kernel's Monte Carlo reference;
* the fast and the general path of ``choose_channel`` and ``rank`` agree at e != 1;
* the parameter is validated, cloned, saved and loaded (old files read as 1.0);
* ``exploration="auto"`` tunes e from logged propensities (one-standard-error rule).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import T0, make_logs, read_manifest, write_manifest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import channelopt as co
from channelopt.core.config import DEFAULT_EXPLORATION, ModelConfig
from channelopt.evaluation import snips
from channelopt.kernels import decide as D
from channelopt.policy import exploration as X
from channelopt.policy.fast import choose_fast
from channelopt.policy.slots import slot_tables
from conftest import assert_same_decision as _same
from conftest import general_decision as _general

NOW = pd.Timestamp("2026-04-06 09:10", tz="UTC")
AS_OF = T0 + pd.Timedelta(days=35)
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])


def _model(e=None, **kw) -> co.ChannelModel:
    args = {} if e is None else {"exploration": e}
    return co.ChannelModel(SPACE, response_window="72h", half_life="30D", seed=7, **args, **kw).fit(
        make_logs(n_customers=30, n_sends=400, seed=1), as_of=AS_OF)


PLAIN = _model(1.0)  # plain Thompson sampling, whatever the default
IDS = sorted(make_logs(n_customers=30, n_sends=400, seed=1)["customer_id"].unique()) + ["nobody"]


def _exact(a, b) -> np.ndarray:
    """P(arm c has the largest Beta draw), by scipy quadrature."""
    out = []
    for c in range(len(a)):
        def f(x, c=c):
            return stats.beta.pdf(x, a[c], b[c]) * np.prod([stats.beta.cdf(x, a[j], b[j]) for j in range(len(a))
                                                            if j != c])
        out.append(integrate.quad(f, 0, 1, limit=200, points=[a[c] / (a[c] + b[c])])[0])
    return np.array(out)


# -- the parameter -----------------------------------------------------------------------


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (0.0, ValueError), (101, ValueError),
                                        (float("inf"), ValueError), (float("nan"), ValueError), ("x", TypeError),
                                        ("AUTO", TypeError), (True, TypeError), (None, TypeError),
                                        ([0.5], TypeError)])
def test_bad_values_raise_naming_exploration(bad, error):
    with pytest.raises(error, match="exploration"):
        co.ChannelModel(SPACE, exploration=bad)
    with pytest.raises(error, match="exploration"):
        ModelConfig(exploration=bad)
    m = co.ChannelModel(SPACE, exploration=0.5)
    with pytest.raises(error, match="exploration"):
        m.set_params(exploration=bad)
    assert m.exploration == 0.5 and m.config.exploration == 0.5  # a failed set_params changes nothing


def test_stored_as_given_and_validated():
    m = co.ChannelModel(SPACE, exploration=1)
    assert m.get_params()["exploration"] == 1 and type(m.get_params()["exploration"]) is int
    assert m.config.exploration == 1.0 and type(m.config.exploration) is float
    assert co.ChannelModel(SPACE).exploration == DEFAULT_EXPLORATION
    assert co.ChannelModel(SPACE, exploration="auto").config.exploration == "auto"
    assert ModelConfig.from_dict({k: v for k, v in ModelConfig().to_dict().items() if k != "exploration"}
                                 ).exploration == 1.0  # configurations saved before the parameter


def test_clone_and_set_params_change_the_decisions_of_a_fitted_model():
    m = _model(0.2)
    twin = co.ChannelModel(**m.get_params())
    assert twin.exploration == 0.2 and twin.config == m.config
    before = m.rank(IDS, now=NOW)
    m.set_params(exploration=1.0)
    assert m.rank(IDS, now=NOW).equals(PLAIN.rank(IDS, now=NOW))  # the fast path's cache follows too
    for cid in IDS[:5]:
        _same(m.choose_channel(cid, now=NOW), PLAIN.choose_channel(cid, now=NOW))
    m.exploration = 0.2
    assert m.rank(IDS, now=NOW).equals(before)
    assert "exploration=0.2" in repr(m) and "exploration=1.0" in repr(PLAIN)
    assert "exploration" not in repr(co.ChannelModel(SPACE))  # the default is not shown


def test_a_model_without_the_parameter_decides_at_the_default_exploration():
    default, explicit = _model(), _model(DEFAULT_EXPLORATION)
    assert DEFAULT_EXPLORATION != 1.0  # the default sharpens plain Thompson sampling (README, "Choosing exploration")
    assert default.rank(IDS, now=NOW).equals(explicit.rank(IDS, now=NOW))
    assert not default.rank(IDS, now=NOW).equals(PLAIN.rank(IDS, now=NOW))
    for cid in IDS:
        _same(default.choose_channel(cid, now=NOW), explicit.choose_channel(cid, now=NOW))


# -- e = 1: bit-identical ----------------------------------------------------------------


def test_e1_is_the_kernels_without_the_argument():
    """rank / choose_channel at e = 1 equal the decision kernels called as before the parameter existed."""
    explicit = PLAIN
    st_ = PLAIN.state_
    off = np.ascontiguousarray(SPACE.offsets, dtype=np.int64)
    n_ch = len(SPACE.channels)
    deadline = NOW.value + 24 * 3600 * 10**9
    rows, hashes = st_.index.rows_of(IDS)
    s_start, s_end, s_hour, s_wd, n_slots = slot_tables(NOW.value, deadline, list(st_.zones) + ["UTC"])
    prior_a, prior_b = st_.prior_tables
    ranked = explicit.rank(IDS, now=NOW)
    assert ranked.equals(PLAIN.rank(IDS, now=NOW))
    dims = SPACE.dimensions
    for i, cid in enumerate(IDS):
        z = int(st_.zone[rows[i]]) if rows[i] >= 0 else len(st_.zones)
        choice = np.empty(len(dims), dtype=np.int64)
        theta = np.empty(int(off[-1]))
        g = int(st_.prior_groups(rows[i:i + 1])[0])
        t, score, prop, status = D.decide_one(  # the call of the former signature (no exploration)
            int(rows[i]), np.uint64(hashes[i]), st_.sends, st_.responses, prior_a[g], prior_b[g], off,
            np.full(n_ch, NOW.value, np.int64), s_start[z], s_end[z], s_hour[z], s_wd[z], int(n_slots[z]), deadline,
            np.zeros(n_ch, np.int64), np.nan, np.zeros(n_ch), False, dims.index("hour"), dims.index("weekday"),
            PLAIN._smooth, np.uint64(7), np.uint64(NOW.value // 10**9), 1, choice, theta)
        d = explicit.choose_channel(cid, now=NOW)
        np.testing.assert_array_equal(d.draws, theta)
        assert (d.propensity, d.score, d.send_at.value) == (prop, score, t)
        assert ranked["propensity"][i] == prop
        _same(d, PLAIN.choose_channel(cid, now=NOW))


# -- e < 1 exploits ----------------------------------------------------------------------


@pytest.mark.parametrize("e", [0.1, 0.4, 1.8])
def test_frequencies_follow_the_scaled_posteriors_and_propensities_are_exact(e):
    """20000 unknown customers (one posterior: the prior) pick channels with the exact odds of
    Beta(alpha / e, beta / e); each decision's propensity is that probability."""
    only = co.ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
    logs = make_logs(n_customers=200, n_sends=3000, seed=4).drop(columns="wording")
    # reply rates: sms 0.3, push 0.15, email 0.03; a weak prior (strength <= 5), so that the odds are not extreme
    keep = np.random.default_rng(0).random(len(logs)) < logs["channel"].map({"sms": 1.0, "push": 0.5, "email": 0.1})
    logs["responded_at"] = logs["responded_at"].where(keep)
    m = co.ChannelModel(only, seed=3, exploration=e, prior_max_strength=5).fit(logs, as_of=AS_OF)
    n = 20000
    ranked = m.rank([f"new-{i}" for i in range(n)], now=NOW)
    a, b = m.state_.prior_alpha / e, m.state_.prior_beta / e
    exact = _exact(a, b)
    freq = ranked["channel"].value_counts(normalize=True).reindex(list(only.channels)).to_numpy()
    assert np.all(np.abs(freq - exact) < 4.5 * np.sqrt(exact * (1 - exact) / n) + 1e-9), (freq, exact)
    prop = ranked["propensity"].to_numpy()
    # the quadrature's documented accuracy: ~1e-3, and ~1e-2 when shapes fall below 1 (e > 1 on this weak prior;
    # measured 1.5e-2 at e = 1.8, the same as at e = 1 with the prior divided by 1.8: test_exploration_is_the_scaled_prior)
    tol = 2e-3 if min(a.min(), b.min()) >= 1 or e < 1 else 2.5e-2
    np.testing.assert_allclose(prop, exact[ranked["channel"].cat.codes.to_numpy()], atol=tol)
    if e < 1:  # sharper draws: the arm of higher mean wins more often than plain Thompson sampling lets it
        plain = _exact(m.state_.prior_alpha, m.state_.prior_beta)
        best = int(np.argmax(a / (a + b)))
        assert exact[best] > plain[best] + 0.02 and freq[best] > plain[best] + 0.02, (exact, plain)


def test_smaller_e_concentrates_decisions_of_known_customers():
    # per customer, the share of 30 rounds that picks the channel of highest posterior mean grows as e shrinks
    shares = {}
    for e in (1.0, 0.3, 0.05):
        m = _model(e)
        post = m.posteriors(IDS[:-1])
        best = post[post["dimension"] == "channel"].groupby("customer_id")["mean"].apply(
            lambda s: s.reset_index(drop=True).idxmax())
        hits = []
        for day in range(30):
            r = m.rank(IDS[:-1], now=NOW + pd.Timedelta(days=day), propensity=False)
            hits.append(r["channel"].cat.codes.to_numpy() == best.reindex(r["customer_id"]).to_numpy())
        shares[e] = float(np.mean(hits))
    assert shares[0.05] > shares[0.3] + 0.03 > shares[1.0] + 0.06, shares
    assert shares[0.05] > 0.9, shares


def test_propensity_matches_the_monte_carlo_reference_on_the_whole_decision():
    """Channel x wording x send slot: the quadrature at e != 1 against the kernel's Monte Carlo
    estimate (4000 fresh decisions from the same scaled posteriors) on every customer."""
    st_ = PLAIN.state_
    off = np.ascontiguousarray(SPACE.offsets, dtype=np.int64)
    n_ch = len(SPACE.channels)
    deadline = NOW.value + 24 * 3600 * 10**9
    s_start, s_end, s_hour, s_wd, n_slots = slot_tables(NOW.value, deadline, ["UTC"])
    prior_a, prior_b = st_.prior_tables
    dims = SPACE.dimensions
    errors = {0.2: [], 3.0: []}
    absolute: dict[float, list[float]] = {}
    for e in errors:
        for r in range(st_.n_customers):
            out = []
            for n_prop in (1, -4000):
                choice = np.empty(len(dims), dtype=np.int64)
                theta = np.empty(int(off[-1]))
                out.append(D.decide_one(r, np.uint64(r * 7919 + 1), st_.sends, st_.responses, prior_a[0], prior_b[0],
                                        off, np.full(n_ch, NOW.value, np.int64), s_start[0], s_end[0], s_hour[0],
                                        s_wd[0], int(n_slots[0]), deadline, np.zeros(n_ch, np.int64), np.nan,
                                        np.zeros(n_ch), False, dims.index("hour"), dims.index("weekday"),
                                        PLAIN._smooth, np.uint64(5), np.uint64(NOW.value // 10**9), n_prop, choice,
                                        theta, e))
            (_, _, exact, _), (_, _, mc, _) = out
            errors[e].append(abs(exact - mc) / max(mc, 1e-3))
            absolute.setdefault(e, []).append(abs(exact - mc))
    med = {e: float(np.median(v)) for e, v in errors.items()}
    mae = {e: float(np.mean(v)) for e, v in absolute.items()}
    # Monte Carlo: ~4000 draws per factor and three factors: a relative error of a few percent on its own where
    # the propensity is large (e = 0.2); at e = 3 the whole decision's propensities are small (a few 1e-3) and the
    # estimate's own relative noise is ~30%, so there the absolute error is what is checked (measured: MAE 0.0094
    # at e = 0.2, 0.0097 at e = 3; the README's bound for the whole decision is 0.03)
    assert med[0.2] < 0.08, med
    assert mae[0.2] < 0.015 and mae[3.0] < 0.015, mae


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.floats(0.3, 60), min_size=3, max_size=3), b=st.lists(st.floats(0.5, 400), min_size=3, max_size=3),
       e=st.floats(0.02, 20), seed=st.integers(0, 2**32))
def test_exploration_is_the_scaled_prior(a, b, e, seed):
    """Without data, deciding at e from Beta(a, b) is deciding at e = 1 from Beta(a / e, b / e): the same draws,
    choice and propensity, bit for bit."""
    space = co.ArmSpace(channels=["a", "b", "c"], hours=False, weekdays=False)
    off = np.ascontiguousarray(space.offsets, dtype=np.int64)
    pa, pb = np.array(a), np.array(b)
    empty = np.zeros((1, 3), np.float32)
    s_start, s_end, s_hour, s_wd, n_slots = slot_tables(NOW.value, NOW.value + 3600 * 10**9, ["UTC"])
    got = []
    for prior_a, prior_b, explore in ((pa, pb, e), (pa / e, pb / e, 1.0)):
        choice = np.empty(1, np.int64)
        theta = np.empty(3)
        res = D.decide_one(-1, np.uint64(seed), empty, empty, prior_a, prior_b, off, np.full(3, NOW.value, np.int64),
                           s_start[0], s_end[0], s_hour[0], s_wd[0], int(n_slots[0]), NOW.value + 3600 * 10**9,
                           np.zeros(3, np.int64), np.nan, np.zeros(3), False, -1, -1, np.ones(1), np.uint64(1),
                           np.uint64(2), 1, choice, theta, explore)
        got.append((res, choice.copy(), theta.copy()))
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])
    np.testing.assert_array_equal(got[0][2], got[1][2])


# -- every path --------------------------------------------------------------------------


@pytest.mark.parametrize("e", [0.15, 4.0])
def test_rank_fast_and_general_paths_agree(e):
    m = _model(e, policy=co.ContactPolicy(value=1.0, cost={"sms": 0.05}))
    for cid in IDS[:-1]:  # "nobody" has no consent: a hold
        m.update_consent(cid, granted=["email", "sms"])
    for k, day in enumerate(range(0, 8, 2)):
        now = NOW + pd.Timedelta(days=day, minutes=17 * k)
        ranked = m.rank(IDS, now=now)
        for i, cid in enumerate(IDS):
            d = m.choose_channel(cid, now=now)
            assert choose_fast(m, cid, now) is not None  # the fast path took the call
            _same(d, _general(m, cid, now))
            assert d.channel == (None if pd.isna(ranked["channel"][i]) else ranked["channel"][i])
            assert d.hold_reason == (None if pd.isna(ranked["hold_reason"][i]) else ranked["hold_reason"][i])
            assert d.propensity == ranked["propensity"][i] or (math.isnan(d.propensity)
                                                                and math.isnan(ranked["propensity"][i]))
    # decisions really depend on e (a different model at e = 1)
    plain = _model(1.0, policy=m.policy).rank(IDS, now=NOW)["propensity"]
    assert not np.allclose(m.rank(IDS, now=NOW)["propensity"], plain)


def test_cascade_explain_and_evaluation_use_it(tmp_path):
    m = _model(0.25)
    plan = m.plan_cascade(IDS[0], now=NOW)
    first = m.choose_channel(IDS[0], now=NOW)
    assert plan.steps[0].channel == first.channel and plan.steps[0].propensity == first.propensity
    assert m.explain(IDS[0]).attrs["exploration"] == 0.25 and PLAIN.explain(IDS[0]).attrs["exploration"] == 1.0
    assert m.posteriors(IDS[:2]).attrs["exploration"] == 0.25
    # offline evaluation scores the model's own (sharpened) policy
    logs = make_logs(n_customers=30, n_sends=400, seed=9, start=AS_OF)
    logs["propensity"] = 1 / 6
    values = [co.evaluation.evaluate(logs, model, estimators=["snips"], n_boot=20, dimensions=("channel", "wording"),
                                     as_of=AS_OF + pd.Timedelta(days=40))["value"][0] for model in (m, PLAIN)]
    assert values[0] != values[1]


def test_save_and_load_round_trip(tmp_path):
    m = _model(0.3)
    m.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.exploration == 0.3 and loaded.config == m.config
    assert loaded.rank(IDS, now=NOW).equals(m.rank(IDS, now=NOW))
    _same(loaded.choose_channel(IDS[1], now=NOW), m.choose_channel(IDS[1], now=NOW))
    # a model saved before the parameter existed: no "exploration" in its config, read as 1.0
    manifest = read_manifest(tmp_path / "m")
    del manifest["config"]["exploration"]
    write_manifest(tmp_path / "m", manifest)
    old = co.load(tmp_path / "m")
    assert old.exploration == 1.0 and old.rank(IDS, now=NOW).equals(PLAIN.rank(IDS, now=NOW))


# -- "auto" ------------------------------------------------------------------------------

BANDIT = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
START = pd.Timestamp("2026-01-05", tz="UTC")


def _bandit_logs(seed: int, *, gap: float, n: int = 400, days: int = 56, every: float = 3.0,
                 propensity: bool = True) -> pd.DataFrame:
    """Uniformly random channel every ``every`` days per customer (propensity 1/2); each customer
    replies at 0.15 + gap/2 on one channel and 0.15 - gap/2 on the other."""
    rng = np.random.default_rng(seed)
    best = rng.integers(0, 2, n)
    per = int(days / every)
    cust = np.repeat(np.arange(n), per)
    sent = START + pd.to_timedelta(rng.uniform(0, days * 86400, cust.size).round(), unit="s")
    ch = rng.integers(0, 2, cust.size)
    rate = np.where(ch == best[cust], 0.15 + gap / 2, 0.15 - gap / 2)
    reply = rng.random(cust.size) < rate
    frame = pd.DataFrame({"customer_id": [f"u{c}" for c in cust], "sent_at": sent,
                          "channel": np.array(["email", "sms"])[ch],
                          "responded_at": pd.Series(sent + pd.Timedelta("2h")).where(reply)})
    if propensity:
        frame["propensity"] = 0.5
    return frame.sort_values("sent_at", ignore_index=True)


def _auto(logs: pd.DataFrame, **kw) -> co.ChannelModel:
    return co.ChannelModel(BANDIT, response_window="24h", half_life=None, exploration="auto", **kw).fit(
        logs, as_of=START + pd.Timedelta(days=58))


def test_auto_sharpens_when_customers_differ_and_is_deterministic():
    logs = _bandit_logs(1, gap=0.24)
    m = _auto(logs)
    choice = m.exploration_search_
    assert m.exploration_ < 1.0, choice.table
    assert m.exploration == "auto" and m.explain("u1").attrs["exploration"] == m.exploration_
    assert f"({m.exploration_:g})" in repr(m)
    assert choice.n >= X.MIN_ROWS and choice.table["eligible"].all()
    # the best candidate beats plain Thompson sampling by more than a standard error (why 1.0 lost)
    t = choice.table.set_index("exploration")
    assert t["value"].max() - t.loc[1.0, "value"] > t.loc[1.0, "std_error"] > 0
    again = _auto(logs)
    assert again.exploration_ == m.exploration_ and again.exploration_search_.table.equals(choice.table)
    # the decisions use it: the same as a model given that exploration
    fixed = co.ChannelModel(BANDIT, response_window="24h", half_life=None, exploration=m.exploration_).fit(
        logs, as_of=START + pd.Timedelta(days=58))
    ids = [f"u{i}" for i in range(50)]
    assert m.rank(ids, now=START + pd.Timedelta(days=59)).equals(fixed.rank(ids, now=START + pd.Timedelta(days=59)))
    _same(m.choose_channel("u3", now=START + pd.Timedelta(days=59)),
          fixed.choose_channel("u3", now=START + pd.Timedelta(days=59)))


def test_auto_keeps_plain_thompson_when_nothing_is_to_be_gained():
    # the same rate on both channels for everyone: any gain is noise, and the one-standard-error rule keeps
    # e = 1 unless the noise exceeds a standard error (measured: 4 of these 5 logs keep 1.0; seed 3's best
    # candidate is 1.4 standard errors above)
    chosen = [_auto(_bandit_logs(seed, gap=0.0)).exploration_ for seed in (2, 3, 4, 5, 6)]
    assert sum(c == 1.0 for c in chosen) >= 3, chosen


def test_auto_without_propensities_falls_back_and_partial_fit_tunes_later(tmp_path):
    logs = _bandit_logs(5, gap=0.24)
    m = _auto(logs.drop(columns="propensity"))
    assert m.exploration_ == X.AUTO_FALLBACK and "no logged propensities" in m.exploration_search_.reason
    assert m.rank(["u1", "u2"], now=START + pd.Timedelta(days=59)).equals(
        co.ChannelModel(BANDIT, response_window="24h", half_life=None, exploration=X.AUTO_FALLBACK).fit(
            logs.drop(columns="propensity"), as_of=START + pd.Timedelta(days=58)).rank(
            ["u1", "u2"], now=START + pd.Timedelta(days=59)))
    # nightly partial fits: the previous state scores the new traffic
    cut = START + pd.Timedelta(days=30)
    inc = co.ChannelModel(BANDIT, response_window="24h", half_life=None, exploration="auto").fit(
        logs[logs["sent_at"] < cut - pd.Timedelta("1D")], as_of=cut)
    inc.partial_fit(logs[logs["sent_at"] >= cut - pd.Timedelta("1D")], as_of=START + pd.Timedelta(days=58))
    assert inc.exploration_ < 1.0, inc.exploration_search_.table
    # saved with the model
    inc.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.exploration_ == inc.exploration_ and loaded.exploration == "auto"
    assert loaded.exploration_search_.table.equals(inc.exploration_search_.table)
    now = START + pd.Timedelta(days=59)
    assert loaded.rank(["u1", "u9"], now=now).equals(inc.rank(["u1", "u9"], now=now))
    manifest = read_manifest(tmp_path / "m")
    manifest["exploration"] = {"value": -1}
    write_manifest(tmp_path / "m", manifest)
    with pytest.raises(ValueError, match="exploration"):
        co.load(tmp_path / "m")


def test_snips_terms_are_the_librarys_estimator():
    rng = np.random.default_rng(0)
    r = (rng.random(500) < 0.2).astype(float)
    lp = rng.uniform(0.05, 1, 500)
    tp = rng.uniform(0, 1, 500)
    value, influence, ess = X._snips_terms(r, tp / lp)
    assert value == pytest.approx(snips(r, lp, tp), rel=1e-12)
    assert influence.mean() == pytest.approx(0.0, abs=1e-12)
    assert ess == pytest.approx(co.evaluation.effective_sample_size(tp / lp), rel=1e-12)
