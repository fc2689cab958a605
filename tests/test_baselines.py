"""channelopt.policy.baselines: the decision interface of ChannelModel, exact propensities, and real learning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt import kernels as K
from channelopt.kernels.rng import _uniform
from channelopt.kernels.win import win_dim
from channelopt.policy.baselines import EpsilonGreedy, FixedChannel, FlatThompson, PooledThompson, UniformRandom
from channelopt.policy.baselines._base import _keys, _uniforms
from channelopt.sim import make_population, run

SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
NOW = pd.Timestamp("2026-11-23 09:00", tz="UTC")
COLUMNS = ["customer_id", "channel", "wording", "hour", "send_at", "score", "propensity"]
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "UTC"]
K_JOINT = 3 * 2 * 24  # channels x wordings x local hours: the decisions a baseline makes


def _logs(seed: int = 0, n_customers: int = 40, n: int = 600) -> pd.DataFrame:
    """A log where every customer answers one channel far more often than the others."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, size=n)
    channel = rng.integers(0, 3, size=n)
    replied = rng.random(n) < np.where(channel == cust % 3, 0.7, 0.05)
    sent = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 40 * 86400, n)), unit="s")
    return pd.DataFrame({
        "customer_id": [f"c-{c:03d}" for c in cust],
        "sent_at": sent,
        "channel": np.array(SPACE.channels)[channel],
        "wording": np.array(SPACE.wordings)[rng.integers(0, 2, size=n)],
        "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(replied, pd.NaT),
        "tz": np.array(ZONES)[cust % len(ZONES)],
    })


def _all(space: co.ArmSpace = SPACE, seed: int = 3) -> dict[str, object]:
    return {"uniform": UniformRandom(space, seed=seed), "fixed": FixedChannel(space, seed=seed),
            "epsilon": EpsilonGreedy(space, seed=seed), "pooled": PooledThompson(space, seed=seed),
            "flat": FlatThompson(space, seed=seed)}


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return _logs()


@pytest.fixture(scope="module")
def fitted(logs: pd.DataFrame) -> dict[str, object]:
    return {name: b.fit(logs, as_of="2026-11-20") for name, b in _all().items()}


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    ids = [f"c-{i:03d}" for i in range(60)]  # 40 known, 20 new
    return pd.DataFrame({"customer_id": ids, "tz": [ZONES[i % len(ZONES)] for i in range(60)]})


# -- the interface --------------------------------------------------------------------


def test_rank_has_the_columns_and_dtypes_of_channel_model(fitted: dict, customers: pd.DataFrame,
                                                          logs: pd.DataFrame) -> None:
    model = co.ChannelModel(SPACE, seed=3).fit(logs, as_of="2026-11-20").rank(customers, NOW)
    for name, b in fitted.items():
        plan = b.rank(customers, NOW)
        assert list(plan.columns) == COLUMNS, name
        for col in COLUMNS:
            assert plan[col].dtype == model[col].dtype, (name, col, plan[col].dtype, model[col].dtype)
        assert plan["customer_id"].tolist() == customers["customer_id"].tolist()
        assert plan["channel"].notna().all() and plan["wording"].notna().all()  # baselines never hold
        prop = plan["propensity"].to_numpy()
        assert np.all((prop > 0) & (prop <= 1)), name
        # send_at: the next start of the chosen local hour, within 24 h
        local = [ts.tz_convert(z) for ts, z in zip(plan["send_at"], customers["tz"])]
        assert [t.hour for t in local] == plan["hour"].tolist(), name
        assert all(t.minute == 0 or ts == NOW for t, ts in zip(local, plan["send_at"])), name
        assert ((plan["send_at"] >= NOW) & (plan["send_at"] < NOW + pd.Timedelta("24h"))).all(), name


def test_extra_dimensions_and_spaces_without_hours() -> None:
    space = co.ArmSpace(channels=["email", "voice"], hours=False, weekdays=False, extra={"voice_kind": ["m", "f"]})
    for name, b in _all(space).items():
        plan = b.rank(["a", "b", "c"], NOW)
        assert list(plan.columns) == COLUMNS + ["voice_kind"], name
        assert plan["voice_kind"].isin(["m", "f"]).all() and plan["wording"].isna().all(), name
        assert plan["hour"].isna().all() and (plan["send_at"] == NOW).all(), name
        assert plan["propensity"].between(0, 1, inclusive="right").all()
    assert UniformRandom(space).rank(["a"], NOW)["propensity"][0] == pytest.approx(1 / 4)


def test_choose_channel_is_the_decision_rank_makes(fitted: dict, customers: pd.DataFrame) -> None:
    for name, b in fitted.items():
        plan = b.rank(customers, NOW)
        for i in (0, 7, 39, 45, 59):  # known and new customers
            cid, tz = customers["customer_id"][i], customers["tz"][i]
            d = b.choose_channel(cid, now=NOW, tz=tz)
            assert isinstance(d, co.Decision)
            assert (d.channel, d.wording, d.hour) == (plan["channel"][i], plan["wording"][i], plan["hour"][i]), name
            assert d.send_at == plan["send_at"][i], name
            assert d.propensity == pytest.approx(plan["propensity"][i], rel=1e-12), name
            assert set(d.scores) == set(SPACE.dimensions)
        # learning baselines use the zone learned from the log when none is given; the others default_tz
        d = b.choose_channel("c-002", now=NOW)
        assert d.send_at.tz_convert(ZONES[2] if name in ("epsilon", "pooled", "flat") else "UTC").hour == d.hour, name


def test_decisions_do_not_depend_on_the_batch(fitted: dict, customers: pd.DataFrame) -> None:
    for name, b in fitted.items():
        plan = b.rank(customers, NOW)
        back = b.rank(customers.iloc[::-1], NOW).iloc[::-1].reset_index(drop=True)
        pd.testing.assert_frame_equal(plan, back, obj=name)
        later = b.rank(customers, NOW + pd.Timedelta("1D"))
        if name != "fixed":
            assert not plan["hour"].equals(later["hour"]), name  # another round, other draws


def test_fit_uses_the_watermark_rule(logs: pd.DataFrame) -> None:
    b = FlatThompson(SPACE)
    b.fit(logs, as_of="2026-11-20")
    assert b.last_fit_["counted"] == len(logs)
    b.partial_fit(logs, as_of="2026-11-20")
    assert b.last_fit_["counted"] == 0  # the same night again: a no-op
    early = FlatThompson(SPACE).fit(logs, as_of="2026-10-20")
    assert 0 < early.last_fit_["counted"] < len(logs)
    more = early.partial_fit(logs, as_of="2026-11-20")
    np.testing.assert_allclose(more.state_.sends.sum(), b.state_.sends.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"^as_of: UniformRandom learns nothing from logs; give as_of explicitly$"):
        UniformRandom(SPACE).fit(logs)
    assert UniformRandom(SPACE).fit(logs, as_of="2026-11-20").as_of_ == pd.Timestamp("2026-11-20", tz="UTC")


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"^space: expected an ArmSpace, got list$"):
        FlatThompson(["email"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^epsilon: must be a number in \[0, 1\], got 1.5$"):
        EpsilonGreedy(SPACE, epsilon=1.5)
    with pytest.raises(ValueError, match=r"^channel: unknown channel 'fax' \(known: email, sms, push\)$"):
        FixedChannel(SPACE, channel="fax")
    with pytest.raises(ValueError, match=r"^hour: must be an integer in \[0, 23\], got 24$"):
        FixedChannel(SPACE, hour=24)
    with pytest.raises(TypeError, match=r"^hour: must be an integer, got '10'$"):
        FixedChannel(SPACE, hour="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^epsilon: must be a number, got True$"):
        EpsilonGreedy(SPACE, epsilon=True)
    with pytest.raises(ValueError, match=r"^wording: unknown wording 'loud' \(known: plain, urgent\)$"):
        FixedChannel(SPACE, wording="loud")
    with pytest.raises(ValueError, match=r"^customers: missing required column 'customer_id'"):
        UniformRandom(SPACE).rank(pd.DataFrame({"id": [1]}), NOW)
    with pytest.raises(ValueError, match=r"unknown time zone 'Mars/Base'"):
        UniformRandom(SPACE).choose_channel("a", NOW, tz="Mars/Base")
    with pytest.raises(ValueError, match=r"^seed: must be .*\b0\b.*, got -1$"):
        PooledThompson(SPACE, seed=-1)


def test_counter_based_uniforms_are_the_kernels() -> None:
    hashes = np.array([0, 1, 2**63 + 5, 123456789], dtype=np.uint64)
    keys = _keys(7, 1_790_000_000, hashes)
    for h, key in zip(hashes, keys):
        assert int(key) == int(K.draw_key(np.uint64(7), np.uint64(1_790_000_000), np.uint64(h)))
        for c in (0, 3):
            assert _uniforms(np.array([key]), c)[0] == _uniform(np.uint64(key), np.uint64(c))


# -- each baseline --------------------------------------------------------------------


def test_fixed_channel_is_always_email_at_local_ten() -> None:
    b = FixedChannel(SPACE)
    ids = [f"x{i}" for i in range(len(ZONES))]
    table = pd.DataFrame({"customer_id": ids, "tz": ZONES})
    # across the European and US DST changes of 2026, at every hour of a day
    for now in pd.date_range("2026-03-07", "2026-04-01", freq="19h", tz="UTC"):
        plan = b.rank(table, now)
        assert (plan["channel"] == "email").all() and (plan["wording"] == "plain").all()
        assert (plan["propensity"] == 1.0).all() and (plan["hour"] == 10).all()
        for ts, zone in zip(plan["send_at"], ZONES):
            local = ts.tz_convert(zone)
            assert local.hour == 10 and (local.minute == 0 or ts == now), (now, zone, ts)
            assert now <= ts < now + pd.Timedelta("24h")
    other = FixedChannel(SPACE, channel="sms", hour=18, wording="urgent")
    d = other.choose_channel("x", now=NOW, tz="America/New_York")  # 04:00 in New York
    assert (d.channel, d.wording, d.hour) == ("sms", "urgent", 18)
    assert d.send_at == pd.Timestamp("2026-11-23 23:00", tz="UTC")
    assert other.choose_channel("x", now=NOW, tz="Asia/Tokyo").send_at == NOW  # already 18:00 in Tokyo: now


def test_uniform_random_is_uniform_with_exact_propensity() -> None:
    b = UniformRandom(SPACE, seed=5)
    plan = b.rank([f"u{i}" for i in range(6000)], NOW)
    assert np.all(plan["propensity"].to_numpy() == 1.0 / K_JOINT)
    assert plan["score"].isna().all()
    for col, k in (("channel", 3), ("wording", 2), ("hour", 24)):
        counts = plan[col].value_counts().to_numpy()
        assert len(counts) == k
        z = (counts - len(plan) / k) / np.sqrt(len(plan) * (1 / k) * (1 - 1 / k))
        assert np.abs(z).max() < 4, (col, counts)


def test_epsilon_greedy_propensity_is_exact(logs: pd.DataFrame) -> None:
    eps = 0.1
    b = EpsilonGreedy(SPACE, epsilon=eps, seed=1, half_life=None).fit(logs, as_of="2026-11-20")
    st_ = b.state_
    known = [f"c-{i:03d}" for i in range(40)]
    rows = st_.index.rows_of(pd.Series(known))[0]
    mean = (st_.responses[rows].astype(float) + 1) / (st_.sends[rows].astype(float) + 2)
    lo = SPACE.offsets
    best = {d: mean[:, lo[k]:lo[k + 1]] == mean[:, lo[k]:lo[k + 1]].max(axis=1, keepdims=True)
            for k, d in enumerate(("channel", "wording", "hour"))}
    unique = np.all([b_.sum(axis=1) == 1 for b_ in best.values()], axis=0)
    assert unique.sum() >= 10 and (~unique).sum() >= 10  # both cases occur
    hits = total = 0
    for now in pd.date_range(NOW, periods=60, freq="37min"):
        plan = b.rank(known, now)
        greedy_p = np.ones(len(known))
        for d, is_best in best.items():
            codes = plan[d].cat.codes.to_numpy() if d != "hour" else plan["hour"].to_numpy(dtype=np.int64)
            greedy_p *= is_best[np.arange(len(known)), codes] / is_best.sum(axis=1)
        prop = plan["propensity"].to_numpy()
        np.testing.assert_allclose(prop, (1 - eps) * greedy_p + eps / K_JOINT, rtol=1e-13)
        # one best arm everywhere: exactly 1 - eps + eps/K for the greedy decision, eps/K for any other
        greedy = unique & (greedy_p == 1)
        assert np.all(prop[greedy] == (1 - eps) + eps / K_JOINT)
        assert np.all(prop[unique & ~greedy] == eps / K_JOINT)
        hits += int(greedy.sum())
        total += int(unique.sum())
    # ... and the greedy decision is made that often
    p = 1 - eps + eps / K_JOINT
    assert abs(hits - total * p) < 4 * np.sqrt(total * p * (1 - p)), (hits, total)
    # a customer nobody has seen: every arm ties, so every decision has probability 1/K
    new = b.rank([f"new-{i}" for i in range(50)], NOW)["propensity"].to_numpy()
    np.testing.assert_allclose(new, 1 / K_JOINT, rtol=1e-12)


def test_pooled_thompson_gives_everyone_the_same_distribution(logs: pd.DataFrame) -> None:
    b = PooledThompson(SPACE, seed=2, half_life=None).fit(logs, as_of="2026-11-20")
    probs = b.probabilities_
    assert set(probs) == {"channel", "wording", "hour"}
    for p in probs.values():
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # exact integration agrees with sampling the pooled posteriors
    s = b.state_.sends.astype(float).sum(axis=0)
    r = b.state_.responses.astype(float).sum(axis=0)
    rng = np.random.default_rng(0)
    x = rng.beta(1 + r[:3], 1 + s[:3] - r[:3], size=(400_000, 3))
    mc = np.bincount(x.argmax(axis=1), minlength=3) / x.shape[0]
    np.testing.assert_allclose(probs["channel"], mc, atol=4 * np.sqrt(0.25 / x.shape[0]))
    # known and unknown customers alike: the propensity depends only on the decision
    ids = [f"c-{i:03d}" for i in range(40)] + [f"n{i}" for i in range(8000)]
    plan = b.rank(ids, NOW)
    ch = plan["channel"].cat.codes.to_numpy()
    w = plan["wording"].cat.codes.to_numpy()
    h = plan["hour"].to_numpy(dtype=np.int64)
    np.testing.assert_allclose(plan["propensity"], probs["channel"][ch] * probs["wording"][w] * probs["hour"][h],
                               rtol=1e-12)
    counts = np.bincount(ch, minlength=3)
    n = len(plan)
    z = (counts - n * probs["channel"]) / np.sqrt(n * probs["channel"] * (1 - probs["channel"]) + 1e-12)
    assert np.abs(z).max() < 4, (counts, probs["channel"])
    for first, second in ((ch[:40], ch[40:]),):  # the known customers are not treated differently
        assert abs(np.mean(first == probs["channel"].argmax()) - np.mean(second == probs["channel"].argmax())) < 0.25


def test_flat_thompson_propensity_is_the_exact_win_probability(logs: pd.DataFrame) -> None:
    space = co.ArmSpace(channels=SPACE.channels, wordings=SPACE.wordings, hours=False, weekdays=False)
    b = FlatThompson(space, seed=4, half_life=None).fit(logs, as_of="2026-11-20")
    ids = [f"c-{i:03d}" for i in range(40)]
    plan = b.rank(ids, NOW)
    rows = b.state_.index.rows_of(pd.Series(ids))[0]
    rng = np.random.default_rng(0)
    exact = np.ones(len(ids))
    sampled = np.ones(len(ids))
    for d, (lo, hi) in (("channel", (0, 3)), ("wording", (3, 5))):
        s = b.state_.sends[rows, lo:hi].astype(float)
        k = b.state_.responses[rows, lo:hi].astype(float)
        codes = plan[d].cat.codes.to_numpy()
        for i in range(len(ids)):
            # the flat-prior posterior: Beta(1 + responses, 1 + failures), nothing pooled
            a, b_ = 1 + k[i], 1 + s[i] - k[i]
            exact[i] *= win_dim(a, b_)[codes[i]]
            x = rng.beta(a, b_, size=(20_000, hi - lo))
            sampled[i] *= np.mean(x.argmax(axis=1) == codes[i])
    np.testing.assert_allclose(plan["propensity"], exact, rtol=1e-9)
    # and the exact value is what sampling the posteriors gives (product of two frequencies over 20,000 draws)
    assert np.abs(sampled - exact).max() < 0.03


def test_flat_thompson_learns_each_customers_preference() -> None:
    """Without pooling, each customer's own replies steer their channel.

    Measured over seeds 0-5: share of sends on the customer's true best channel
    0.36-0.46 in the first 5 days, 0.78-0.86 in the last 10 (of 30).
    """
    space = co.ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
    pop = make_population(space, 60, seed=0, base_rate=(0.3, 0.6), zones=("Europe/London",))
    start = pd.Timestamp("2026-01-05 13:00", tz="UTC")  # sends at 13:00 local: customers answer
    res = run(FlatThompson(space, seed=0, half_life=None), pop, days=30, sends_per_day=60, seed=0, start=start)
    logs = res.logs
    on_best = (pd.Categorical(logs["channel"], categories=space.channels).codes
               == pop.best_arm("channel")[pop.rows_of(logs["customer_id"])])
    early = (logs["sent_at"] < start + pd.Timedelta("5D")).to_numpy()
    late = (logs["sent_at"] >= start + pd.Timedelta("20D")).to_numpy()
    assert on_best[early].mean() < 0.5
    assert on_best[late].mean() > 0.7
    # and a pooled bandit, which can only learn the population's favourite, does worse per customer
    pooled = run(PooledThompson(space, seed=0, half_life=None), pop, days=30, sends_per_day=60, seed=0, start=start)
    assert res.summary(start_day=20)["expected_response_rate"] > pooled.summary(start_day=20)["expected_response_rate"]
