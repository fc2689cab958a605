"""Chunked ranking to Parquet: the same decisions as one rank call, whatever the chunk size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co

NOW = pd.Timestamp("2026-11-23 09:00", tz="UTC")
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])


@pytest.fixture(scope="module")
def model() -> co.ChannelModel:
    rng = np.random.default_rng(3)
    n = 1500
    sent = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 40 * 86400, n), unit="s")
    logs = pd.DataFrame({"customer_id": [f"c-{i}" for i in rng.integers(0, 120, n)], "sent_at": sent,
                         "channel": rng.choice(SPACE.channels, n), "wording": rng.choice(SPACE.wordings, n),
                         "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(rng.random(n) < 0.3)})
    return co.ChannelModel(SPACE, seed=5).fit(logs, as_of="2026-11-15")


@pytest.fixture(scope="module")
def customers(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    table = pd.DataFrame({"customer_id": [f"c-{i}" for i in range(150)],
                          "tz": ["Europe/Paris", "Asia/Tokyo", None] * 50})
    path = tmp_path_factory.mktemp("cust") / "customers.parquet"
    table.to_parquet(path)
    return table, str(path)


@settings(max_examples=8, deadline=None)
@given(chunk=st.integers(1, 200), top_k=st.one_of(st.none(), st.integers(0, 160)))
def test_chunked_equals_whole(model, customers, tmp_path_factory, chunk, top_k):
    table, path = customers
    out = tmp_path_factory.mktemp("out") / "d.parquet"
    written = model.rank_to_parquet(path, out, now=NOW, chunk_rows=chunk, top_k=top_k, propensity=False)
    whole = model.rank(table, now=NOW, top_k=top_k, propensity=False)
    got = pd.read_parquet(out)
    assert written == len(whole) == len(got)
    key = ["customer_id"] if top_k is None else ["score", "customer_id"]
    a = got.sort_values(key).reset_index(drop=True)
    b = whole.sort_values(key).reset_index(drop=True)
    for col in ("customer_id", "channel", "wording", "hour", "send_at", "score"):
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    if top_k is not None:
        assert got["score"].is_monotonic_decreasing


def test_propensities_match_and_errors(model, customers, tmp_path):
    table, path = customers
    out = tmp_path / "d.parquet"
    model.rank_to_parquet(path, out, now=NOW, chunk_rows=40)
    np.testing.assert_allclose(pd.read_parquet(out)["propensity"], model.rank(table, now=NOW)["propensity"])
    with pytest.raises(ValueError, match="capacity: needs the whole batch"):
        model.rank_to_parquet(path, out, now=NOW, capacity={"sms": 1})
    with pytest.raises(ValueError, match=r"out: expected a \.parquet file"):
        model.rank_to_parquet(path, tmp_path / "d.csv", now=NOW)
    with pytest.raises(ValueError, match="chunk_rows: must be an integer >= 1"):
        model.rank_to_parquet(path, out, now=NOW, chunk_rows=0)
    # a failed run leaves the previous file intact and no temporary file behind
    before = out.read_bytes()
    with pytest.raises(ValueError, match="customer_id"):
        model.rank_to_parquet(pd.DataFrame({"id": [1]}), out, now=NOW)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]
