"""Issue 14: a prior strength that means what it says under decay.

Decayed sends weigh less than one; the prior fit counts each customer as its effective
number of sends ``n ** 2 / q`` (``q`` = the decayed sum of squared weights, the store's
``squared_weights``), so the fitted strength is the population's whatever the half-life.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import channelopt as co
from channelopt.state.priors import fit_population_prior
from channelopt.state.store import FORMAT_VERSION

from conftest import T0, make_logs, read_manifest, write_manifest, model_file

START = pd.Timestamp("2025-01-06", tz="UTC")
DAYS = 365
MEANS = np.array([0.10, 0.15, 0.20, 0.25])
STRENGTH = 9.0
CHANNELS = [f"ch{j}" for j in range(MEANS.size)]
SPACE = co.ArmSpace(channels=CHANNELS, hours=False, weekdays=False)
AS_OF = START + pd.Timedelta(days=DAYS + 4)  # every response window closed


def population_log(n_customers: int, sends: int, seed: int, days: float = DAYS) -> tuple[pd.DataFrame, np.ndarray]:
    """Rates per customer x channel from ``Beta(m s, (1 - m) s)``; ``sends`` sends per customer on
    uniform channels at uniform instants over the ``days`` before ``START + DAYS``; a reply an hour
    after its send."""
    rng = np.random.default_rng(seed)
    rates = rng.beta(MEANS * STRENGTH, (1 - MEANS) * STRENGTH, size=(n_customers, MEANS.size))
    cust = np.repeat(np.arange(n_customers), sends)
    ch = rng.integers(0, MEANS.size, size=cust.size)
    sent = START + pd.to_timedelta(rng.uniform(DAYS - days, DAYS, size=cust.size) * 86400, unit="s").round("s")
    replied = rng.random(cust.size) < rates[cust, ch]
    logs = pd.DataFrame({"customer_id": [f"c{c:06d}" for c in cust], "sent_at": sent,
                         "channel": np.array(CHANNELS)[ch],
                         "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(replied, pd.NaT)})
    return logs, rates


def prior_strength(model: co.ChannelModel) -> np.ndarray:
    """``alpha + beta`` of every arm's population prior (an unknown customer's posterior)."""
    p = model.posteriors(["nobody"])
    return (p["alpha"] + p["beta"]).to_numpy()


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, np.ndarray]:
    return population_log(2500, 80, seed=14)


@pytest.fixture(scope="module")
def fits(population) -> dict:
    logs, _ = population
    return {h: co.ChannelModel(SPACE, half_life=h, seed=3).fit(logs, as_of=AS_OF) for h in (None, "30D", "90D")}


# -- the fitted strength is the population's ---------------------------------------------------


@pytest.mark.parametrize("half_life", [None, "30D", "90D"])
def test_fitted_strength_is_the_true_strength_with_or_without_decay(fits, half_life):
    # 2500 customers with 20 sends per channel over a year (scripts/prior_strength.py --customers 2500,
    # seeds 0-9): every arm's strength in [8.0, 9.7] (none), [9.0, 13.3] (30D: ~5 effective sends per
    # channel and customer, weights spread over 12 half-lives: biased up by ~15%) and [8.6, 10.6] (90D);
    # the geometric mean over the arms in [8.7, 9.3], [10.0, 10.9], [9.2, 9.8]. Before the fix: 1000
    # (the bound) at 30D and 40-60 at 90D.
    s = prior_strength(fits[half_life])
    hi = 15.0 if half_life == "30D" else 12.0
    assert np.all((s > 7.0) & (s < hi)), s
    assert 7.5 < np.exp(np.mean(np.log(s))) < hi - 1.0, s
    p = fits[half_life].posteriors(["nobody"])["prior_mean"].to_numpy()
    np.testing.assert_allclose(p, MEANS, atol=0.015)


def naive_favourite(logs: pd.DataFrame, n_customers: int, seed: int) -> np.ndarray:
    """The channel with the highest raw reply rate per customer (ties at random)."""
    cust = logs["customer_id"].str[1:].astype(int).to_numpy()
    ch = logs["channel"].str[2:].astype(int).to_numpy()
    n = np.zeros((n_customers, MEANS.size))
    k = np.zeros((n_customers, MEANS.size))
    np.add.at(n, (cust, ch), 1.0)
    np.add.at(k, (cust, ch), logs["responded_at"].notna().to_numpy(dtype=float))
    rate = np.where(n > 0, k / np.maximum(n, 1.0), -1.0)
    jitter = np.random.default_rng(seed).random(rate.shape)
    return np.where(rate == rate.max(axis=1, keepdims=True), jitter, -1.0).argmax(axis=1)


def share_named(model: co.ChannelModel, rates: np.ndarray) -> float:
    """Share of customers whose channel of highest posterior mean is their true favourite."""
    n = rates.shape[0]
    post = model.posteriors([f"c{c:06d}" for c in range(n)])
    return float(np.mean(post["mean"].to_numpy().reshape(n, MEANS.size).argmax(axis=1) == rates.argmax(axis=1)))


def test_with_decay_the_model_names_the_favourite_at_least_as_often_as_a_naive_argmax():
    """The issue's criterion: 80 random sends per customer spread over one half-life (the default 90D).

    Measured (``scripts/prior_strength.py --days 90 --half-lives 90D``, 3000 customers, seeds 0-5):
    the model 72.1% on average, the naive argmax 71.4%, the model at least as good on every seed
    (before the fit used effective sample sizes, its strength was 12-13 instead of 9). Over much
    longer spans than the half-life a decayed model has less evidence than the raw counts by design
    (365 days: 68% against 73%; before the fix 52%)."""
    logs, rates = population_log(2500, 80, seed=21, days=90)
    model = co.ChannelModel(SPACE, seed=3).fit(logs, as_of=AS_OF)
    assert model.config.half_life == pd.Timedelta("90D")
    naive = float(np.mean(naive_favourite(logs, rates.shape[0], seed=1) == rates.argmax(axis=1)))
    named = share_named(model, rates)
    assert named >= naive, (named, naive)


# -- the statistic q ------------------------------------------------------------------------------


def test_squared_weights_are_the_decayed_sums_of_squared_weights():
    logs, _ = population_log(30, 20, seed=5)
    h = pd.Timedelta("30D")
    m = co.ChannelModel(SPACE, half_life="30D").fit(logs, as_of=AS_OF)
    st = m.state_
    w = np.exp2(-(AS_OF - pd.to_datetime(logs["sent_at"])).to_numpy() / h.to_timedelta64())
    rows = st.index.rows_of(logs["customer_id"])[0]
    ch = logs["channel"].str[2:].astype(int).to_numpy()
    n, q = np.zeros(st.sends.shape), np.zeros(st.sends.shape)
    np.add.at(n, (rows, ch), w)
    np.add.at(q, (rows, ch), w * w)
    np.testing.assert_allclose(st.sends, n, rtol=2e-6)
    np.testing.assert_allclose(st.squared_weights, q, rtol=2e-6)
    assert st.squared_weights.dtype == np.float32 and (st.squared_weights <= st.sends).all()


def test_without_decay_squared_weights_are_the_sends_and_the_prior_is_unchanged():
    logs = make_logs(n_customers=40, n_sends=600, seed=3).assign(
        segment=lambda f: np.where(f["customer_id"].str[-1].isin(list("01234")), "low", "high"))
    space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
    m = co.ChannelModel(space, half_life=None, seed=1).fit(logs, as_of=T0 + pd.Timedelta("40D"))
    st = m.state_
    np.testing.assert_array_equal(st.squared_weights, st.sends)
    # the digest of the priors fitted by the tree before squared weights (c9fc22f), bit for bit
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in (
        st.prior_alpha, st.prior_beta, st.segment_alpha, st.segment_beta))).hexdigest()
    assert digest == PRIOR_DIGEST_BEFORE
    # the prior fit without squares is the same function
    a, b = fit_population_prior(st.sends, st.responses, st.index.hashes, space.offsets, by_hash=st.index.order)
    np.testing.assert_array_equal(a, st.prior_alpha)
    np.testing.assert_array_equal(b, st.prior_beta)


#: see :func:`test_without_decay_squared_weights_are_the_sends_and_the_prior_is_unchanged`
PRIOR_DIGEST_BEFORE = "2342989a5de6a57c5bd01470635e0cda4fe1773deb35d16cfdce583414d62069"


def test_sends_of_weight_one_half_count_as_whole_sends():
    # 2n sends of weight 1/2 carry the rate of 2n whole sends: (n, k, q = n / 2) fits as (2n, 2k), exactly
    rng = np.random.default_rng(4)
    p = rng.beta(2.0, 8.0, size=(1500, 2))
    n = rng.integers(2, 30, size=(1500, 2)).astype(np.float64)
    k = rng.binomial((2 * n).astype(int), p) / 2.0
    h, off = np.arange(1500, dtype=np.uint64), np.array([0, 2])
    a, b = fit_population_prior(n, k, h, off, squares=n / 2)
    a2, b2 = fit_population_prior(2 * n, 2 * k, h, off)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert np.all((a + b > 5) & (a + b < 20))
    # taken as whole sends the same statistics look overdispersed-free: the strength is overrated
    a3, b3 = fit_population_prior(n, k, h, off)
    assert np.all(a3 + b3 > 1.4 * (a + b))


# -- chunking, partial fits, persistence ---------------------------------------------------------


@settings(deadline=None, max_examples=15)
@given(seed=hs.integers(0, 10_000), n_customers=hs.integers(1, 12), sends=hs.integers(1, 12),
       cuts=hs.lists(hs.integers(1, DAYS), max_size=4), shuffle=hs.integers(0, 2**32 - 1),
       half_life=hs.sampled_from(["7D", "30D", "90D"]))
def test_partial_fits_and_chunks_give_the_squared_weights_of_one_fit(seed, n_customers, sends, cuts, shuffle,
                                                                     half_life):
    logs, _ = population_log(n_customers, sends, seed)
    once = co.ChannelModel(SPACE, half_life=half_life).fit(logs, as_of=AS_OF).state_
    rng = np.random.default_rng(shuffle)
    chunks = [logs.iloc[part] for part in np.array_split(rng.permutation(len(logs)), 3) if part.size]
    chunked = co.ChannelModel(SPACE, half_life=half_life).fit(iter(chunks), as_of=AS_OF).state_
    steps = co.ChannelModel(SPACE, half_life=half_life)
    for day in sorted(set(cuts)):
        steps.partial_fit(logs, as_of=START + pd.Timedelta(days=day))
    steps.partial_fit(logs, as_of=AS_OF)
    for st in (chunked, steps.state_):
        r = st.index.rows_of(once.index.ids())[0]
        for name in ("sends", "responses", "squared_weights"):
            np.testing.assert_allclose(np.asarray(getattr(st, name))[r], getattr(once, name), rtol=2e-5,
                                       atol=1e-30, err_msg=name)
        np.testing.assert_allclose(st.prior_alpha, once.prior_alpha, rtol=1e-4)
        np.testing.assert_allclose(st.prior_beta, once.prior_beta, rtol=1e-4)


def test_save_load_keeps_the_squared_weights(fits, tmp_path):
    model = fits["30D"]
    model.save(tmp_path / "m")
    assert read_manifest(tmp_path / "m")["format_version"] == FORMAT_VERSION == 6
    back = co.load(tmp_path / "m")
    np.testing.assert_array_equal(back.state_.squared_weights, model.state_.squared_weights)
    later = START + pd.Timedelta(days=DAYS + 40)
    new = population_log(50, 4, seed=99, days=30)[0]
    new[["sent_at", "responded_at"]] += pd.Timedelta("35D")
    back.partial_fit(new, as_of=later)
    twin = co.load(tmp_path / "m").partial_fit(new, as_of=later)
    np.testing.assert_array_equal(back.state_.squared_weights, twin.state_.squared_weights)
    np.testing.assert_array_equal(back.state_.prior_alpha, twin.state_.prior_alpha)


def test_a_file_without_squared_weights_loads_them_as_the_sends(fits, tmp_path):
    """Format version 5 (before squared weights): every stored send counts as a whole one."""
    path = tmp_path / "v5"
    model = fits["90D"]
    model.save(path)
    manifest = read_manifest(path)
    model_file(path, manifest["arrays"].pop("squared_weights")["file"]).unlink()
    manifest["format_version"] = 5
    write_manifest(path, {k: v for k, v in manifest.items() if k not in ("integrity", "hmac_sha256")})
    back = co.load(path)
    st = back.state_
    np.testing.assert_array_equal(st.squared_weights, st.sends)
    np.testing.assert_array_equal(st.prior_alpha, model.state_.prior_alpha)  # the saved prior is kept
    now = AS_OF + pd.Timedelta("1D")
    for cid in ("c000001", "c000002", "nobody"):
        assert back.choose_channel(cid, now=now) == model.choose_channel(cid, now=now)
    back.save(tmp_path / "again")  # and it saves as the current version, with q = n
    again = co.load(tmp_path / "again").state_
    assert read_manifest(tmp_path / "again")["format_version"] == FORMAT_VERSION
    np.testing.assert_array_equal(again.squared_weights, st.sends)


def test_forget_and_inbound_contacts_keep_squared_weights_per_customer(population):
    logs = population[0].iloc[:4000]
    m = co.ChannelModel(SPACE, half_life="30D").fit(logs, as_of=AS_OF)
    ids = list(m.state_.index.ids())
    q_before = m.state_.squared_weights[m.state_.index.row_of(ids[5])].copy()
    m.forget(ids[:3])
    st = m.state_
    assert st.squared_weights.shape == st.sends.shape == (len(ids) - 3, MEANS.size)
    np.testing.assert_array_equal(st.squared_weights[st.index.row_of(ids[5])], q_before)
    m.observe_inbound(pd.DataFrame({"customer_id": [ids[5], "new"], "channel": ["ch1", "ch2"],
                                    "at": [AS_OF - pd.Timedelta("30D")] * 2}), weight=1.0)
    st = m.state_
    r = st.index.row_of(ids[5])
    np.testing.assert_allclose(st.squared_weights[r, 1], q_before[1] + 0.25, rtol=1e-6)  # weight 1/2, squared
    np.testing.assert_allclose(st.squared_weights[st.index.row_of("new")], [0, 0, 0.25, 0], rtol=1e-6)
