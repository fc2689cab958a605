"""ArmSpace and ModelConfig: layout, round trips and one clear error per bad parameter."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt.core.config import ModelConfig


def test_layout_of_dimensions():
    space = co.ArmSpace(channels=["email", "sms"], wordings=["a", "b", "c"], extra={"voice": ["m", "f"]})
    assert space.dimensions == ("channel", "wording", "hour", "weekday", "voice")
    assert space.sizes.tolist() == [2, 3, 24, 7, 2]
    assert space.offsets.tolist() == [0, 2, 5, 29, 36, 38]
    assert space.n_arms == 38
    assert space.labels("weekday")[0] == "Mon" and space.labels("hour")[9] == "09"
    minimal = co.ArmSpace(channels=["email"], hours=False, weekdays=False)
    assert minimal.dimensions == ("channel",) and minimal.n_arms == 1


@settings(max_examples=50, deadline=None)
@given(
    channels=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=6, unique=True),
    wordings=st.lists(st.text(min_size=1, max_size=5), max_size=4, unique=True),
    hours=st.booleans(),
    weekdays=st.booleans(),
)
def test_arm_space_round_trips_through_dict(channels, wordings, hours, weekdays):
    space = co.ArmSpace(channels=channels, wordings=wordings, hours=hours, weekdays=weekdays)
    again = co.ArmSpace.from_dict(space.to_dict())
    assert again == space and hash(again) == hash(space)
    assert space.n_arms == len(channels) + len(wordings) + 24 * hours + 7 * weekdays


@pytest.mark.parametrize("kwargs,message", [
    (dict(channels=[]), "ArmSpace: channels must name at least one arm"),
    (dict(channels="email"), "ArmSpace: channels must be a list of names, got the string 'email'"),
    (dict(channels=["email", "email"]), "ArmSpace: channels names 'email' twice"),
    (dict(channels=["email", ""]), "ArmSpace: channels contains an empty name"),
    (dict(channels=["email"], wordings=["x", "x"]), "ArmSpace: wordings names 'x' twice"),
    (dict(channels=["email"], extra={"hour": ["a"]}), "ArmSpace: extra dimension name 'hour' is reserved"),
    (dict(channels=["email"], extra={"voice": []}), "ArmSpace: extra['voice'] must name at least one arm"),
    (dict(channels=["email"], hours=1), "ArmSpace: hours and weekdays must be True or False"),
    (dict(channels=[f"c{i}" for i in range(33)]), "ArmSpace: at most 32 channels are supported"),
])
def test_bad_arm_space(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        co.ArmSpace(**kwargs)


def test_config_parses_durations_and_round_trips():
    cfg = ModelConfig(response_window="48h", half_life=None, seed=3, default_tz="Europe/Paris")
    assert cfg.response_window == pd.Timedelta("2D") and cfg.half_life is None and cfg.half_life_ns == 0
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig(half_life="90D").half_life_ns == 90 * 86400 * 10**9


@pytest.mark.parametrize("kwargs,message", [
    (dict(response_window="soon"), "response_window: cannot parse 'soon' as a duration"),
    (dict(response_window="-1h"), "response_window: must be a positive duration, got '-1h'"),
    (dict(response_window=None), "response_window: a duration is required"),
    (dict(half_life="0s"), "half_life: must be a positive duration, got '0s'"),
    (dict(seed=-1), "seed: must be an integer in [0, 2**63), got -1"),
    (dict(seed=1.5), "TypeError: seed: must be an integer, got 1.5"),
    (dict(seed=True), "TypeError: seed: must be an integer, got True"),
    (dict(default_tz="Mars/Olympus"), "default_tz: unknown time zone 'Mars/Olympus'"),
    (dict(propensity_draws=0), "propensity_draws: must be an integer >= 1, got 0"),
    (dict(prior_max_strength=0), "prior_max_strength: must be a number >= 0.5, got 0"),
    (dict(propensity_draws="abc"), "TypeError: propensity_draws: must be an integer, got 'abc'"),
    (dict(prior_sample=50.5), "TypeError: prior_sample: must be an integer, got 50.5"),
    (dict(prior_sample=5), "prior_sample: must be an integer >= 10, got 5"),
])
def test_bad_config_is_rejected_by_the_model_constructor(kwargs, message):
    space = co.ArmSpace(channels=["email"])
    kind, message = (TypeError, message[len("TypeError: "):]) if message.startswith("TypeError: ") else (ValueError, message)
    with pytest.raises(kind, match=re.escape(message)) as caught:  # a wrong type is a TypeError, a wrong value a ValueError
        co.ChannelModel(space, **kwargs)
    assert type(caught.value) is kind


def test_model_requires_an_arm_space_and_a_fit():
    with pytest.raises(ValueError, match="space: expected an ArmSpace, got list"):
        co.ChannelModel(["email"])
    model = co.ChannelModel(co.ArmSpace(channels=["email"]))
    with pytest.raises(ValueError, match=r"not fitted yet: call fit\(logs\) first"):
        model.state_
    assert model.choose_channel("a", now="2026-01-01").channel == "email"  # unfitted: decided from the prior
    with pytest.raises(ValueError, match="now: cannot parse 'tomorrow-ish' as a timestamp"):
        model.fit(pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["email"],
                                "responded_at": [None]})).choose_channel("a", now="tomorrow-ish")
    assert np.isfinite(model.choose_channel("a", now="2026-01-02").score)
