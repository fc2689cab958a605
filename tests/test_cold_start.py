"""Issue 14, part 4: zero-history cold start.

An unfitted ``ChannelModel`` decides (``choose_channel`` on both paths, ``rank``,
``explain``, ``posteriors``, ``save`` / ``load``) from its declared ``prior=`` (else
uniform), with exact propensities and its contact rules; a fit of an empty log with
``as_of`` starts the clock; a declared prior is the centre of the empirical-Bayes fit
after data, and the prior itself for arms nobody was sent on.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import channelopt as co
from channelopt.apps.cli import main
from channelopt.core.prior import MIN_PSEUDO, declared_prior
from channelopt.state.declared import fit_declared_prior
from channelopt.state.priors import fit_population_prior
from conftest import exact_win_probabilities as _exact
from conftest import general_decision as _general

CHANNELS = co.ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
FULL = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
NOW = pd.Timestamp("2026-05-04 09:30", tz="UTC")
AS_OF = pd.Timestamp("2026-05-01", tz="UTC")
COLUMNS = ["customer_id", "sent_at", "channel", "responded_at"]


def _shares(plan: pd.DataFrame, space: co.ArmSpace) -> np.ndarray:
    return plan["channel"].value_counts(normalize=True).reindex(list(space.channels), fill_value=0).to_numpy()


def _same(a: co.Decision, b: co.Decision) -> None:
    assert (a.channel, a.wording, a.hour, a.send_at, a.hold_reason) == (b.channel, b.wording, b.hour, b.send_at,
                                                                        b.hold_reason)
    assert a.score == b.score or (math.isnan(a.score) and math.isnan(b.score))
    assert a.propensity == pytest.approx(b.propensity, rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(a.draws, b.draws)


def _log(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


# -- decisions of an unfitted model -------------------------------------------------------------------


def test_a_strong_prior_on_one_channel_wins_most_draws():
    prior = {"channel": {"email": (0.02, 200), "sms": (0.3, 200), "push": (0.02, 200)}}
    model = co.ChannelModel(CHANNELS, seed=5, prior=prior)
    n = 4000
    plan = model.rank([f"new-{i}" for i in range(n)], now=NOW)
    exact = _exact(np.array([4.0, 60.0, 4.0]), np.array([196.0, 140.0, 196.0]))
    shares = _shares(plan, CHANNELS)
    assert shares[1] > 0.99 and exact[1] > 0.999
    assert plan["hold_reason"].isna().all()
    np.testing.assert_allclose(plan["propensity"].to_numpy(), exact[plan["channel"].cat.codes.to_numpy()], atol=2e-3)


def test_without_a_prior_every_channel_gets_an_equal_share():
    model = co.ChannelModel(CHANNELS, seed=9)
    n = 6000
    plan = model.rank([f"new-{i}" for i in range(n)], now=NOW)
    shares = _shares(plan, CHANNELS)
    se = math.sqrt((1 / 3) * (2 / 3) / n)
    assert np.all(np.abs(shares - 1 / 3) < 4.5 * se), shares  # uniform Beta(1, 1) on every arm
    np.testing.assert_allclose(plan["propensity"].to_numpy(), 1 / 3, atol=2e-3)


def test_frequencies_and_propensities_follow_the_exact_thompson_odds_of_the_prior():
    # push is not declared: uniform Beta(1, 1), mean 0.5 -- it wins most draws against rates of 5-8 %
    prior = {"channel": {"email": (0.05, 20), "sms": co.Prior(0.08, 10)}}
    model = co.ChannelModel(CHANNELS, seed=3, prior=prior, exploration=1.0)
    n = 20000
    plan = model.rank([f"c-{i}" for i in range(n)], now=NOW)
    exact = _exact(np.array([1.0, 0.8, 1.0]), np.array([19.0, 9.2, 1.0]))
    shares = _shares(plan, CHANNELS)
    se = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(shares - exact) < 4.5 * se + 1e-9), (shares, exact)
    got = plan["propensity"].to_numpy()
    truth = exact[plan["channel"].cat.codes.to_numpy()]
    # the propensity is the quadrature of channelopt.kernels.propensity (docs/architecture.md, "Propensity"), exact
    # to its documented per-factor error (~1e-2 at worst); measured here: 0.006 on push, 0.003 on email
    assert np.abs(got - truth).max() < 0.01, np.abs(got - truth).max()
    # one propensity per arm (every customer has the same posterior: the prior)
    for code in range(3):
        p = got[plan["channel"].cat.codes.to_numpy() == code]
        if p.size:
            np.testing.assert_allclose(p, p[0], rtol=1e-9)


def test_one_customer_over_many_rounds_is_drawn_as_often_as_its_propensity_says():
    prior = {"channel": {"email": (0.3, 10), "sms": (0.2, 10), "push": (0.1, 10)}}
    model = co.ChannelModel(CHANNELS, seed=1, prior=prior)
    rounds = 800
    seen: dict[str, list[float]] = {}
    for k in range(rounds):
        d = model.choose_channel("only-one", NOW + pd.Timedelta(seconds=k))
        seen.setdefault(d.channel, []).append(d.propensity)
    assert sum(np.array(ps)[0] for ps in seen.values()) == pytest.approx(1.0, abs=2e-3)
    for arm, ps in seen.items():
        freq, p = len(ps) / rounds, ps[0]
        np.testing.assert_allclose(ps, p, rtol=1e-9)
        assert abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / rounds), (arm, freq, p)


def test_rank_agrees_with_choose_channel_on_the_fast_and_the_general_path():
    model = co.ChannelModel(FULL, seed=4, prior={"channel": (0.05, 20), "wording": {"urgent": (0.2, 10)}})
    ids = [f"u-{i}" for i in range(25)]
    plan = model.rank(ids, now=NOW)
    assert plan["channel"].notna().all() and plan["send_at"].notna().all()
    for i, cid in enumerate(ids):
        fast = model.choose_channel(cid, now=NOW)
        slow = _general(model, cid, NOW)
        _same(fast, slow)
        row = plan.iloc[i]
        assert (fast.channel, fast.wording, fast.hour, fast.send_at) == (row["channel"], row["wording"], row["hour"],
                                                                          row["send_at"])
        assert fast.propensity == pytest.approx(row["propensity"], rel=1e-9)


def test_explain_and_posteriors_of_an_unfitted_model_show_the_prior():
    prior = {"channel": {"sms": (0.1, 30)}}
    model = co.ChannelModel(CHANNELS, prior=prior)
    ex = model.explain("x", now=NOW)
    assert ex["alpha"].tolist() == [1.0, 3.0, 1.0]
    assert ex["beta"].tolist() == pytest.approx([1.0, 27.0, 1.0])
    assert ex["prior_mean"].tolist() == pytest.approx([0.5, 0.1, 0.5])
    assert ex["sends"].tolist() == [0.0, 0.0, 0.0] and ex["consent"].tolist() == [True, True, True]
    post = model.posteriors(["a", "b"])
    assert post.shape[0] == 6 and post["mean"].tolist() == pytest.approx([0.5, 0.1, 0.5] * 2)
    assert model.posteriors().shape[0] == 0  # no customer known yet
    assert model.reply_latency()["replies"].tolist() == [0, 0, 0]


def test_what_needs_learned_state_still_says_not_fitted():
    model = co.ChannelModel(CHANNELS)
    assert not hasattr(model, "state_")
    with pytest.raises(co.NotFittedError, match="not fitted yet"):
        model.state_
    with pytest.raises(co.NotFittedError, match="not fitted yet"):
        model.observe_inbound(pd.DataFrame({"customer_id": ["a"], "channel": ["sms"], "at": [NOW]}))


def test_a_prior_change_applies_to_an_unfitted_model_at_once():
    model = co.ChannelModel(CHANNELS, seed=2)
    model.prior = {"channel": {"push": (0.5, 400), "email": (0.01, 400), "sms": (0.01, 400)}}
    assert (model.rank([f"k{i}" for i in range(200)], now=NOW)["channel"] == "push").all()
    assert model.choose_channel("k0", now=NOW).channel == "push"


# -- contact rules ----------------------------------------------------------------------------------


def test_consent_stays_default_deny_for_an_unfitted_model():
    model = co.ChannelModel(CHANNELS, seed=1, policy=co.ContactPolicy())
    assert model.choose_channel("a", now=NOW).hold_reason == "no_consent"
    assert _general(model, "a", NOW).hold_reason == "no_consent"
    assert (model.rank(["a", "b"], now=NOW)["hold_reason"] == "no_consent").all()
    model.update_consent("a", granted=["sms"])
    for d in (model.choose_channel("a", now=NOW), _general(model, "a", NOW)):
        assert d.channel == "sms" and d.hold_reason is None
    plan = model.rank(pd.DataFrame({"customer_id": ["a", "b", "c"], "consent_push": [None, True, None]}), now=NOW)
    assert plan["channel"].tolist()[:2] == ["sms", "push"]
    assert plan["hold_reason"].tolist()[2] == "no_consent"
    assert model.explain("a", now=NOW)["consent"].tolist() == [False, True, False]


def test_caps_count_recorded_sends_before_any_fit():
    model = co.ChannelModel(CHANNELS, policy=co.ContactPolicy(min_gap="1D"))
    model.update_consent("a", granted=["email", "sms", "push"])
    model.record_send("a", "email", at=NOW - pd.Timedelta("2h"))
    assert model.choose_channel("a", now=NOW, deadline="6h").hold_reason == "cap"


# -- save / load ------------------------------------------------------------------------------------


def test_a_saved_unfitted_model_loads_unfitted_and_decides_the_same(tmp_path):
    prior = {"channel": {"email": (0.03, 20), "sms": co.Prior(0.05, 10)}, "hour": {9: (0.2, 5)}}
    model = co.ChannelModel(FULL, seed=8, prior=prior, policy=co.ContactPolicy())
    model.update_consent("a", granted=["email", "sms"])
    model.update_consent("b", granted=["push"])
    ids = ["a", "b", "c"] + [f"n{i}" for i in range(20)]
    before = model.rank(ids, now=NOW)
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert not hasattr(loaded, "state_") and not hasattr(loaded, "as_of_")
    assert loaded.get_params()["prior"] == {"channel": {"email": co.Prior(0.03, 20.0), "sms": co.Prior(0.05, 10.0)},
                                            "hour": {"09": co.Prior(0.2, 5.0)}}
    pd.testing.assert_frame_equal(loaded.rank(ids, now=NOW), before)
    pd.testing.assert_frame_equal(model.rank(ids, now=NOW), before)  # the model that saved, too
    for cid in ("a", "b", "n1"):
        _same(loaded.choose_channel(cid, now=NOW), model.choose_channel(cid, now=NOW))
    # consent recorded before the save is the loaded model's, and a fit folds it in
    logs = _log([("z", "2026-04-20 10:00", "email", None)])
    fitted = loaded.partial_fit(logs, as_of=AS_OF)
    assert fitted.state_.n_customers == 3  # z, and the consent records of a and b
    assert fitted.choose_channel("a", now=NOW).channel in ("email", "sms")
    assert fitted.choose_channel("c", now=NOW).hold_reason == "no_consent"


def test_a_saved_unfitted_model_without_prior_round_trips(tmp_path):
    model = co.ChannelModel(CHANNELS, seed=2)
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.prior is None
    pd.testing.assert_frame_equal(loaded.rank(["a", "b"], now=NOW), model.rank(["a", "b"], now=NOW))


def test_a_fitted_model_keeps_its_prior_through_save_and_load(tmp_path):
    prior = {"channel": {"push": (0.2, 30)}}
    model = co.ChannelModel(CHANNELS, prior=prior).fit(_log([("a", "2026-04-20", "email", None)]), as_of=AS_OF)
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.get_params()["prior"] == {"channel": {"push": co.Prior(0.2, 30.0)}}
    np.testing.assert_array_equal(loaded.state_.prior_alpha, model.state_.prior_alpha)
    assert loaded.as_of_ == AS_OF


# -- a fit of an empty log -----------------------------------------------------------------------------


@pytest.mark.parametrize("logs", [pd.DataFrame({c: [] for c in COLUMNS}), [], pd.DataFrame()],
                         ids=["0 rows", "no frames", "no columns"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_an_empty_log_with_as_of_starts_the_clock(logs, method):
    prior = {"channel": {"sms": (0.1, 30)}}
    model = getattr(co.ChannelModel(CHANNELS, prior=prior), method)(logs, as_of=AS_OF)
    assert model.as_of_ == AS_OF and model.state_.watermark_ns == AS_OF.value
    assert model.state_.n_customers == 0 and model.last_fit_["rows"] == 0 and model.last_fit_["counted"] == 0
    assert model.state_.prior_alpha.tolist() == pytest.approx([1.0, 3.0, 1.0])
    assert model.state_.prior_beta.tolist() == pytest.approx([1.0, 27.0, 1.0])
    unfitted = co.ChannelModel(CHANNELS, prior=prior, seed=model.seed)
    pd.testing.assert_frame_equal(model.rank(["a", "b"], now=NOW), unfitted.rank(["a", "b"], now=NOW))


def test_a_later_partial_fit_continues_exactly_once_from_the_empty_fit():
    model = co.ChannelModel(CHANNELS, half_life=None).fit(pd.DataFrame({c: [] for c in COLUMNS}), as_of=AS_OF)
    logs = _log([("old", "2026-04-20 10:00", "email", "2026-04-20 11:00"),   # resolved before the watermark
                 ("new", "2026-05-02 10:00", "sms", "2026-05-02 11:00"),     # resolves after it
                 ("late", "2026-05-09 10:00", "push", None)])                # still pending on 05-10
    t = pd.Timestamp("2026-05-10", tz="UTC")
    model.partial_fit(logs, as_of=t)
    assert model.last_fit_["counted"] == 1 and model.last_fit_["before_watermark"] == 1
    assert model.last_fit_["pending"] == 1 and model.as_of_ == t
    assert model.explain("new")["responses"].tolist() == [0.0, 1.0, 0.0]
    model.partial_fit(logs, as_of=t)  # the same night again: a no-op
    assert model.last_fit_["counted"] == 0
    model.partial_fit(logs, as_of="2026-05-13")
    assert model.last_fit_["counted"] == 1 and model.state_.counts["counted"] == 2


def test_an_empty_log_without_as_of_says_to_pass_it():
    hint = "; give as_of to fit no rows (the watermark moves to as_of, decisions use the prior)"
    with pytest.raises(ValueError, match="^" + re.escape("logs: the frame is empty (0 rows)" + hint) + "$"):
        co.ChannelModel(CHANNELS).fit(pd.DataFrame({c: [] for c in COLUMNS}))
    with pytest.raises(ValueError, match="^" + re.escape("logs: no frames to learn from" + hint) + "$"):
        co.ChannelModel(CHANNELS).partial_fit([])


def test_an_empty_log_with_the_wrong_columns_is_refused():
    with pytest.raises(ValueError, match=re.escape("logs: missing required column 'sent_at' (columns present: "
                                                   "customer_id, when)")):
        co.ChannelModel(CHANNELS).fit(pd.DataFrame({"customer_id": [], "when": []}), as_of=AS_OF)


# -- the declared prior after data -----------------------------------------------------------------


def test_after_a_fit_the_declared_prior_centres_empirical_bayes_and_stays_for_arms_without_history():
    prior = {"channel": {"email": (0.3, 100), "sms": (0.1, 40)}}
    rows = [(f"c{i}", f"2026-04-{10 + j:02d} 10:00", "email", None) for i in range(5) for j in range(2)]
    logs = _log(rows)
    declared = co.ChannelModel(CHANNELS, prior=prior).fit(logs, as_of=AS_OF).state_
    plain = co.ChannelModel(CHANNELS).fit(logs, as_of=AS_OF).state_
    mean = declared.prior_alpha / (declared.prior_alpha + declared.prior_beta)
    plain_mean = plain.prior_alpha / (plain.prior_alpha + plain.prior_beta)
    # email: 10 silent sends against a belief worth 100 sends at 30 %: stays near 30 %
    assert 0.25 < mean[0] < 0.3 and plain_mean[0] < 0.15
    # sms: nobody was sent on it -- the declared prior itself; push: not declared -- as without a prior
    assert (declared.prior_alpha[1], declared.prior_beta[1]) == pytest.approx((4.0, 36.0))
    assert (declared.prior_alpha[2], declared.prior_beta[2]) == (plain.prior_alpha[2], plain.prior_beta[2])


def test_plenty_of_data_outweighs_the_declared_prior():
    rng = np.random.default_rng(0)
    n = 2000
    p = rng.beta(4, 16, size=n)  # true rates: mean 0.2
    sends = np.full((n, 1), 30.0)
    responses = rng.binomial(30, p)[:, None].astype(float)
    hashes = np.arange(n, dtype=np.uint64)
    offsets = np.array([0, 1])
    space = co.ArmSpace(channels=["email"], hours=False, weekdays=False)
    a, b = fit_declared_prior(sends, responses, hashes, offsets, declared_prior({"channel": (0.05, 20)}, space))
    assert abs(a[0] / (a[0] + b[0]) - 0.2) < 0.01
    # without a declaration: exactly the plain empirical-Bayes fit
    a0, b0 = fit_declared_prior(sends, responses, hashes, offsets, None)
    pa, pb = fit_population_prior(sends, responses, hashes, offsets)
    assert a0.tolist() == pa.tolist() and b0.tolist() == pb.tolist()


def test_an_empty_declaration_is_no_declaration():
    logs = _log([("a", "2026-04-20", "email", "2026-04-20 01:00"), ("b", "2026-04-21", "sms", None)])
    s0 = co.ChannelModel(CHANNELS).fit(logs, as_of=AS_OF).state_
    s1 = co.ChannelModel(CHANNELS, prior={}).fit(logs, as_of=AS_OF).state_
    s2 = co.ChannelModel(CHANNELS, prior={"channel": {}}).fit(logs, as_of=AS_OF).state_
    for s in (s1, s2):
        assert s.prior_alpha.tolist() == s0.prior_alpha.tolist() and s.prior_beta.tolist() == s0.prior_beta.tolist()


# -- the parameter -----------------------------------------------------------------------------------


def test_prior_is_a_parameter_stored_as_given():
    prior = {"channel": {"email": (0.03, 20)}}
    model = co.ChannelModel(CHANNELS, prior=prior)
    assert model.get_params()["prior"] is prior
    copy = clone(model)
    assert copy.get_params()["prior"] == prior
    pd.testing.assert_frame_equal(copy.rank(["a", "b"], now=NOW), model.rank(["a", "b"], now=NOW))


BAD_PRIORS = [
    ([("email", 0.1, 5)], ValueError, "prior: expected a mapping of dimension to (rate, strength) or to "
     "{arm: (rate, strength)}, e.g. {'channel': {'email': (0.03, 20)}}, got list"),
    ({"chanel": (0.1, 5)}, ValueError, "prior: unknown dimension 'chanel' (dimensions: channel)"),
    ({"channel": {"fax": (0.1, 5)}}, ValueError, "prior['channel']: unknown arm 'fax' (arms: email, sms, push)"),
    ({"channel": {"email": 0.1}}, ValueError, "prior['channel']['email']: expected (rate, strength) or a Prior, got 0.1"),
    ({"channel": (0.1, 5, 1)}, ValueError, "prior['channel']: expected (rate, strength) or a Prior, got (0.1, 5, 1)"),
    ({"channel": {"email": (1.5, 5)}}, ValueError, "prior['channel']['email'] rate: must be a number in (0, 1), got 1.5"),
    ({"channel": {"sms": (0.0, 5)}}, ValueError, "prior['channel']['sms'] rate: must be a number in (0, 1), got 0.0"),
    ({"channel": (0.1, -1)}, ValueError, "prior['channel'] strength: must be a number > 0, got -1"),
    ({"channel": (0.1, float("inf"))}, ValueError, "prior['channel'] strength: must be a finite number, got inf"),
    ({"channel": {"sms": ("x", 5)}}, TypeError, "prior['channel']['sms'] rate: must be a number, got 'x'"),
    ({"channel": {"sms": (0.1, True)}}, TypeError, "prior['channel']['sms'] strength: must be a number, got True"),
    ({"channel": (1e-5, 10)}, ValueError, f"prior['channel']: rate 1e-05 with strength 10.0 gives a Beta parameter "
     f"below {MIN_PSEUDO} (rate * strength and (1 - rate) * strength must be >= {MIN_PSEUDO})"),
]


@pytest.mark.parametrize("prior, kind, message", BAD_PRIORS,
                         ids=[f"{i}-{m[:30]}" for i, (_, _, m) in enumerate(BAD_PRIORS)])
def test_a_bad_prior_is_one_clear_error(prior, kind, message):
    with pytest.raises(kind, match="^" + re.escape(message) + "$"):
        co.ChannelModel(CHANNELS, prior=prior)
    model = co.ChannelModel(CHANNELS, prior={"channel": (0.1, 5)})
    with pytest.raises(kind, match="^" + re.escape(message) + "$"):
        model.set_params(prior=prior)
    assert model.prior == {"channel": (0.1, 5)}  # nothing changed
    assert model.explain("a", now=NOW)["prior_mean"].tolist() == pytest.approx([0.1] * 3)


def test_prior_values_are_checked_where_they_are_made():
    with pytest.raises(ValueError, match=r"^rate: must be a number in \(0, 1\), got 0$"):
        co.Prior(0, 5)
    with pytest.raises(ValueError, match=r"^strength: must be a number > 0, got 0$"):
        co.Prior(0.5, 0)
    assert (co.Prior(0.25, 8).alpha, co.Prior(0.25, 8).beta) == (2.0, 6.0)
    hours = co.ChannelModel(FULL, prior={"hour": {"09": (0.2, 5), 18: (0.3, 5)}, "weekday": {"Sat": (0.1, 5)}})
    ex = hours.explain("a", now=NOW).set_index(["dimension", "arm"])
    assert ex.loc[("hour", "09"), "prior_mean"] == pytest.approx(0.2)
    assert ex.loc[("hour", "18"), "prior_mean"] == pytest.approx(0.3)
    assert ex.loc[("weekday", "Sat"), "prior_mean"] == pytest.approx(0.1)
    assert ex.loc[("hour", "10"), "prior_mean"] == pytest.approx(0.5)


# -- ids, erasure, cascades before any fit ---------------------------------------------------------------


def test_integer_ids_erasure_and_cascades_before_any_fit(tmp_path):
    model = co.ChannelModel(CHANNELS, seed=6, policy=co.ContactPolicy(),
                            prior={"channel": {"sms": (0.4, 50), "email": (0.01, 100)}})
    model.update_consent(7, granted=["sms", "email"])
    model.update_consent(8, granted=["push"])
    plan = model.rank([7, 8, 9], now=NOW)
    assert plan["channel"].tolist()[:2] == ["sms", "push"] and plan["hold_reason"].tolist()[2] == "no_consent"
    assert model.choose_channel(7, now=NOW).channel == "sms"
    with pytest.raises(ValueError, match="is a string but this model's customer ids are integers"):
        model.update_consent("x", granted=["sms"])
    steps = model.plan_cascade(7, now=NOW, max_steps=2).steps
    assert [s.channel for s in steps] == ["sms", "email"]
    assert model.forget([8]) == 1
    assert model.choose_channel(8, now=NOW).hold_reason == "no_consent"  # the consent record is gone
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.rank([7, 8, 9], now=NOW), model.rank([7, 8, 9], now=NOW))
    assert loaded.rank([7, 8, 9], now=NOW)["hold_reason"].tolist()[1:] == ["no_consent", "no_consent"]


def test_the_command_line_ranks_explains_and_fits_with_no_data(tmp_path, capsys):
    model = co.ChannelModel(CHANNELS, seed=3, prior={"channel": {"push": (0.5, 400), "email": (0.01, 400),
                                                                 "sms": (0.01, 400)}})
    model.save(tmp_path / "m")
    pd.DataFrame({"customer_id": ["a", "b"]}).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "d.csv"
    assert main(["rank", "--model", str(tmp_path / "m"), "--customers", str(tmp_path / "c.csv"), "--out", str(out),
                 "--now", str(NOW)]) == 0
    assert pd.read_csv(out)["channel"].tolist() == ["push", "push"]
    assert main(["explain", "--model", str(tmp_path / "m"), "--customer", "a"]) == 0
    assert "is not in the model: showing the population prior" in capsys.readouterr().out
    pd.DataFrame({c: [] for c in COLUMNS}).to_csv(tmp_path / "header.csv", index=False)
    assert main(["fit", "--logs", str(tmp_path / "header.csv"), "--model", str(tmp_path / "new"), "--channels",
                 "email,sms", "--as-of", str(AS_OF)]) == 0
    assert co.load(tmp_path / "new").as_of_ == AS_OF
