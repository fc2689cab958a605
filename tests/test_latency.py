"""Reply-latency distributions: per channel, per segment where data allows, additive, persisted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.data.tz import LATENCY_EDGES_S

SPACE = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)


def _logs(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 800
    sent = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s")
    segment = rng.choice(["fast", "slow", "tiny"], n, p=[0.48, 0.48, 0.04])
    channel = rng.choice(SPACE.channels, n)
    # sms: 10 min for "fast", 4 h for "slow"; email: 3 h for everyone
    minutes = np.where(channel == "email", 180, np.where(segment == "fast", 10, 240))
    delay = pd.to_timedelta(minutes * np.exp(0.2 * rng.standard_normal(n)), unit="min")
    return pd.DataFrame({"customer_id": rng.integers(0, 200, n).astype(str), "sent_at": sent, "channel": channel,
                         "responded_at": pd.Series(sent + delay).where(rng.random(n) < 0.5), "segment": segment})


@pytest.fixture(scope="module")
def model() -> co.ChannelModel:
    return co.ChannelModel(SPACE).fit(_logs(), as_of="2026-11-01")


def test_segment_latency_where_data_allows(model):
    pop = model.latency_quantile("sms", 0.5)
    fast = model.latency_quantile("sms", 0.5, segment="fast")
    slow = model.latency_quantile("sms", 0.5, segment="slow")
    # within the grid's resolution (a quarter of a doubling) of the truth
    assert pd.Timedelta("8min") < fast < pd.Timedelta("12.5min")
    assert pd.Timedelta("200min") < slow < pd.Timedelta("290min")
    assert fast < pop < slow
    # "tiny" has too few sms replies: the population's distribution is used; unknown segments too
    assert model.latency_quantile("sms", 0.5, segment="tiny") == pop
    assert model.latency_quantile("sms", 0.5, segment="nobody") == pop
    table = model.reply_latency(segment="fast")
    assert list(table.columns) == ["replies", "q0.5", "q0.8"] and table.loc["sms", "q0.5"] == fast


def test_latency_counts_are_additive_across_chunks_and_saved(model, tmp_path):
    logs = _logs()
    chunked = co.ChannelModel(SPACE).fit([logs.iloc[:300], logs.iloc[300:]], as_of="2026-11-01")
    np.testing.assert_array_equal(chunked.state_.latency, model.state_.latency)
    order = [model.state_.segments.index(s) for s in chunked.state_.segments]
    np.testing.assert_array_equal(chunked.state_.latency_segment, model.state_.latency_segment[order])
    replies = logs["responded_at"].notna() & (logs["responded_at"] - logs["sent_at"] <= pd.Timedelta("72h"))
    assert model.state_.latency.sum() == replies.sum()
    assert model.state_.latency.shape == (2, LATENCY_EDGES_S.size)
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.state_.segments == model.state_.segments
    np.testing.assert_array_equal(loaded.state_.latency_segment, model.state_.latency_segment)
    assert loaded.latency_quantile("sms", 0.8, segment="slow") == model.latency_quantile("sms", 0.8, segment="slow")
    # a log without segments saves and loads too
    plain = co.ChannelModel(SPACE).fit(logs.drop(columns="segment"), as_of="2026-11-01")
    plain.save(tmp_path / "p")
    assert co.load(tmp_path / "p").state_.segments == ()


def test_cascade_waits_by_the_segment_latency(model):
    now = pd.Timestamp("2026-11-02 09:00", tz="UTC")
    fast = model.plan_cascade("1", now=now, max_steps=2, segment="fast", allowed_channels=["sms", "email"])
    slow = model.plan_cascade("1", now=now, max_steps=2, segment="slow", allowed_channels=["sms", "email"])
    for plan, seg in ((fast, "fast"), (slow, "slow")):
        first = plan.steps[0]
        assert first.wait_until - first.send_at == model.latency_quantile(first.channel, 0.8, segment=seg)
