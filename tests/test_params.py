"""scikit-learn conventions of ChannelModel: parameters are the single source of truth
(get_params / set_params / clone, attribute assignment), NotFittedError, the deprecated
propensity_draws, and the public read-out of the posteriors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone

import channelopt as co
from conftest import T0, make_logs

SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
AS_OF = T0 + pd.Timedelta(days=35)
NOW = AS_OF + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return make_logs(n_customers=25, n_sends=300, seed=3)


def test_get_params_returns_the_constructor_arguments_as_given():
    policy = co.ContactPolicy()
    m = co.ChannelModel(SPACE, response_window="48h", half_life=None, seed=4, policy=policy)
    p = m.get_params()
    assert p["response_window"] == "48h" and p["half_life"] is None and p["seed"] == 4 and p["policy"] is policy
    assert set(p) == {"space", "response_window", "half_life", "seed", "default_tz", "propensity_draws",
                      "prior_max_strength", "prior_sample", "policy", "hour_smoothing", "inbound_weight", "resolve",
                      "contact_store", "prior"}


def test_sklearn_clone_gives_an_unfitted_model_with_the_same_parameters(logs):
    m = co.ChannelModel(SPACE, seed=9, half_life="30D").fit(logs, as_of=AS_OF)
    twin = clone(m)
    assert twin.get_params() == m.get_params() and not hasattr(twin, "state_")
    twin.fit(logs, as_of=AS_OF)
    ids = [f"c-{i:03d}" for i in range(25)]
    pd.testing.assert_frame_equal(twin.rank(ids, now=NOW), m.rank(ids, now=NOW))


def test_a_new_seed_changes_decisions_by_set_params_and_by_assignment(logs):
    """m.seed = 5 is the same as set_params(seed=5), and as a model built with seed=5."""
    ids = [f"c-{i:03d}" for i in range(25)]
    built = co.ChannelModel(SPACE, seed=5).fit(logs, as_of=AS_OF)
    m = co.ChannelModel(SPACE, seed=1).fit(logs, as_of=AS_OF)
    before = m.rank(ids, now=NOW)
    m.choose_channel(ids[0], now=NOW)  # fill the fast path's caches first
    m.seed = 5
    assert m.config.seed == 5 and "seed=5" in repr(m)
    pd.testing.assert_frame_equal(m.rank(ids, now=NOW), built.rank(ids, now=NOW))
    assert [repr(m.choose_channel(c, now=NOW)) for c in ids] == [repr(built.choose_channel(c, now=NOW)) for c in ids]
    assert not m.rank(ids, now=NOW).equals(before)
    m.set_params(seed=1)
    pd.testing.assert_frame_equal(m.rank(ids, now=NOW), before)


def test_a_bad_parameter_raises_and_changes_nothing(logs):
    m = co.ChannelModel(SPACE, seed=2).fit(logs, as_of=AS_OF)
    with pytest.raises(ValueError, match=re.escape("hour_smoothing")):
        m.set_params(seed=3, hour_smoothing=-1.0)
    assert m.seed == 2 and m.config.seed == 2 and m.hour_smoothing == 1.0
    with pytest.raises(ValueError, match=re.escape("Invalid parameter 'colour' for estimator ChannelModel")):
        m.set_params(colour="red")
    with pytest.raises(ValueError, match=re.escape("space: cannot change on a fitted model")):
        m.space = co.ArmSpace(channels=["email"])
    assert m.space == SPACE
    unfitted = co.ChannelModel(SPACE).set_params(space=co.ArmSpace(channels=["email", "sms"]))
    assert unfitted.space.channels == ("email", "sms")
    assert unfitted.fit(logs[logs["channel"] != "push"], as_of=AS_OF).state_.sends.shape[1] == unfitted.space.n_arms


def test_not_fitted_is_one_error_type_everywhere():
    m = co.ChannelModel(SPACE)
    # an unfitted model decides (from its prior: tests/test_cold_start.py); what needs learned state raises
    m.choose_channel("a", now=NOW), m.rank(["a"], now=NOW), m.explain("a"), m.posteriors()
    for call in (lambda: m.state_,
                 lambda: m.observe_inbound(pd.DataFrame({"customer_id": ["a"], "channel": ["email"], "at": [NOW]}))):
        with pytest.raises(co.NotFittedError, match="not fitted yet"):
            call()
    assert isinstance(co.NotFittedError("x"), ValueError) and isinstance(co.NotFittedError("x"), AttributeError)
    assert not hasattr(m, "state_")


def test_propensity_draws_is_deprecated_and_has_no_effect(logs):
    with pytest.warns(FutureWarning, match="propensity_draws is deprecated"):
        old = co.ChannelModel(SPACE, seed=3, propensity_draws=7).fit(logs, as_of=AS_OF)
    new = co.ChannelModel(SPACE, seed=3).fit(logs, as_of=AS_OF)
    ids = [f"c-{i:03d}" for i in range(25)]
    pd.testing.assert_frame_equal(old.rank(ids, now=NOW, propensity=True), new.rank(ids, now=NOW, propensity=True))
    assert ([repr(old.choose_channel(c, now=NOW, propensity=True)) for c in ids]
            == [repr(new.choose_channel(c, now=NOW, propensity=True)) for c in ids])


def test_posteriors_agree_with_explain_and_with_the_beta_distribution(logs):
    m = co.ChannelModel(SPACE, seed=3).fit(logs, as_of=AS_OF)
    ids = ["c-004", "nobody", "c-011"]
    table = m.posteriors(ids, level=0.8)
    assert list(table["customer_id"].unique()) == ids and len(table) == 3 * SPACE.n_arms
    for cid in ids:
        ex = m.explain(cid, level=0.8)
        mine = table[table["customer_id"] == cid].drop(columns="customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, ex[mine.columns].reset_index(drop=True))
    a, b = table["alpha"].to_numpy(), table["beta"].to_numpy()
    np.testing.assert_allclose(table["ci_low"], stats.beta.ppf(0.1, a, b))
    np.testing.assert_allclose(table["mean"], a / (a + b))
    unknown = table[table["customer_id"] == "nobody"]
    assert (unknown["sends"] == 0).all() and np.allclose(unknown["mean"], unknown["prior_mean"])
    everyone = m.posteriors()
    assert len(everyone) == m.state_.n_customers * SPACE.n_arms
    with pytest.raises(ValueError, match=re.escape("level: must be a number in (0, 1), got 1.5")):
        m.posteriors(ids, level=1.5)
