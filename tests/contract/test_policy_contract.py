"""The contract every policy keeps: ChannelModel and every baseline, each with the parameter sets its
class yields from ``_unit_test_params()`` (in the manner of scikit-learn's ``parametrize_with_checks``
and river's ``_unit_test_params``).

Checks: ``rank`` agrees with ``choose_channel``; re-ingesting the same log with the same ``as_of`` is a
no-op; fitting from one frame or from any chunking of it gives the same state; the columns and dtypes
of ``rank``; a save/load round trip where the class says it is ``persistent`` (and no ``save`` where it
says not); decisions that do not depend on the batch or on the number of threads; propensities in
(0, 1] that are the probabilities of the decisions made; the parameters (get_params, set_params, clone).
An unfitted ChannelModel decides (from its prior) and saves; baselines may need a fit first.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

import numba
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import channelopt as co
from channelopt.policy.base import Policy
from channelopt.policy.baselines import EpsilonGreedy, FixedChannel, FlatThompson, PooledThompson, UniformRandom
from channelopt.sim import UniformPolicy, make_population, simulate_logs

POLICIES: tuple[type[Policy], ...] = (co.ChannelModel, UniformRandom, FixedChannel, EpsilonGreedy, FlatThompson,
                                      PooledThompson)
START = pd.Timestamp("2026-03-02", tz="UTC")  # a Monday; three weeks of logs across the European DST change
AS_OF = START + pd.Timedelta(days=22)
NOW = AS_OF + pd.Timedelta(hours=33, minutes=17)
COLUMNS = ["customer_id", "channel", "wording", "hour", "send_at", "score", "propensity"]
#: ChannelModel's rank adds these after the common columns (before the extra dimensions); baselines never hold.
HOLD_COLUMNS = ["hold_reason", "escalate_to_human"]


def _space_id(space: co.ArmSpace) -> str:
    parts = [f"{len(space.channels)}ch"]
    if space.wordings:
        parts.append(f"{len(space.wordings)}w")
    parts += [name for name, on in (("hours", space.hours), ("weekdays", space.weekdays)) if on]
    parts += list(space.extra)
    return ".".join(parts)


def _case_id(cls: type, params: dict[str, Any]) -> str:
    rest = ",".join(f"{k}={v}" for k, v in params.items() if k != "space")
    return f"{cls.__name__}({_space_id(params['space'])}{',' if rest else ''}{rest})"


def _cases() -> Iterator[Any]:
    for cls in POLICIES:
        for params in cls._unit_test_params():
            yield pytest.param(cls, params, id=_case_id(cls, params))


CASES = list(_cases())
parametrize_policies = pytest.mark.parametrize(("cls", "params"), CASES)


def _key(space: co.ArmSpace) -> tuple:
    return (space.channels, space.wordings, space.hours, space.weekdays, tuple(space.extra.items()))


@functools.lru_cache(maxsize=None)
def _world(key: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated log and a customers table (known customers, some without a zone, and new ones)."""
    channels, wordings, hours, weekdays, extra = key
    space = co.ArmSpace(channels=list(channels), wordings=list(wordings), hours=hours, weekdays=weekdays,
                        extra={k: list(v) for k, v in extra})
    pop = make_population(space, 40, seed=4)
    logs = simulate_logs(pop, UniformPolicy(space, seed=4), start=START, days=21, sends_per_day=14, seed=4)
    known = pop.customers_table()[["customer_id", "tz"]].astype(object).iloc[:30]
    known.loc[known.index[::4], "tz"] = None  # these take the zone learned from the log
    new = pd.DataFrame({"customer_id": ["new-1", "new-2", "new-3"], "tz": ["Asia/Tokyo", None, "America/Chicago"]},
                       dtype=object)
    return logs, pd.concat([known, new], ignore_index=True)


def _logs(space: co.ArmSpace) -> pd.DataFrame:
    return _world(_key(space))[0]


def _customers(space: co.ArmSpace) -> pd.DataFrame:
    return _world(_key(space))[1]


_FITTED: dict[str, Policy] = {}


def _fitted(cls: type[Policy], params: dict[str, Any]) -> Policy:
    """The policy fitted on its log, once per case (shared: the tests that use it do not change it)."""
    key = _case_id(cls, params)
    if key not in _FITTED:
        _FITTED[key] = cls(**params).fit(_logs(params["space"]), as_of=AS_OF)
    return _FITTED[key]


def _fresh(cls: type[Policy], params: dict[str, Any]) -> Policy:
    return cls(**params)


def _state(policy: Policy) -> dict[str, Any]:
    """Everything a policy has learned, comparable with :func:`_assert_same_state`."""
    out: dict[str, Any] = {"as_of_": policy.as_of_}
    if type(policy).learns:
        store = policy.state_
        out.update(store.arrays())
        out.update(watermark_ns=store.watermark_ns, zones=store.zones, segments=store.segments,
                   counts=dict(store.counts))
    return out


def _assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for name, x in a.items():
        y = b[name]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, name
            assert x.dtype == y.dtype and x.shape == y.shape, name
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x == y, (name, x, y)


def _same_float(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=0)


# -- (a) rank is choose_channel for each customer ----------------------------------------------


@parametrize_policies
def test_rank_agrees_with_choose_channel(cls: type[Policy], params: dict[str, Any]) -> None:
    _assert_rank_agrees(_fitted(cls, params), params["space"])


@pytest.mark.parametrize("params", [c.values[1] for c in CASES if c.values[0] is co.ChannelModel],
                         ids=[c.id for c in CASES if c.values[0] is co.ChannelModel])
def test_an_unfitted_channel_model_decides(params: dict[str, Any], tmp_path: Any) -> None:
    """ChannelModel decides before any data (every customer from the prior), as rank and after a save;
    the baselines may still need a fit (NotFittedError)."""
    policy = co.ChannelModel(**params)
    assert not hasattr(policy, "state_")
    _assert_rank_agrees(policy, params["space"])
    policy.save(tmp_path / "policy")
    back = co.load(tmp_path / "policy")
    assert not hasattr(back, "state_")
    table = _customers(params["space"])
    pd.testing.assert_frame_equal(back.rank(table, NOW), policy.rank(table, NOW))


def _assert_rank_agrees(policy: Policy, space: co.ArmSpace) -> None:
    table = _customers(space)
    plan = policy.rank(table, NOW)
    extra = list(space.extra)
    for i in range(len(table)):
        cid, tz = table["customer_id"][i], table["tz"][i]
        d = policy.choose_channel(cid, NOW, tz=tz)
        assert isinstance(d, co.Decision) and d.customer_id == cid
        got = (d.channel, d.wording, d.hour, d.send_at, {k: d.extra[k] for k in extra})
        hour = plan["hour"][i]
        want = (plan["channel"][i], None if pd.isna(plan["wording"][i]) else plan["wording"][i],
                None if pd.isna(hour) else int(hour), plan["send_at"][i], {k: plan[k][i] for k in extra})
        assert got == want, (cid, tz)
        assert _same_float(d.propensity, plan["propensity"][i]), (cid, d.propensity, plan["propensity"][i])
        assert _same_float(d.score, plan["score"][i]), (cid, d.score, plan["score"][i])


# -- (b) re-ingestion is a no-op ------------------------------------------------------------------


@parametrize_policies
def test_reingesting_the_same_log_is_a_no_op(cls: type[Policy], params: dict[str, Any]) -> None:
    logs = _logs(params["space"])
    table = _customers(params["space"])
    policy = _fresh(cls, params).fit(logs, as_of=AS_OF)
    before, plan = _state(policy), policy.rank(table, NOW)
    assert policy.partial_fit(logs, as_of=AS_OF) is policy
    assert policy.last_fit_["counted"] == 0
    _assert_same_state(_state(policy), before)
    pd.testing.assert_frame_equal(policy.rank(table, NOW), plan)
    # partial_fit from nothing is fit
    _assert_same_state(_state(_fresh(cls, params).partial_fit(logs, as_of=AS_OF)), before)


@parametrize_policies
def test_the_learns_flag_is_kept(cls: type[Policy], params: dict[str, Any]) -> None:
    """A policy that learns nothing needs the clock given; one that learns counts the log."""
    logs = _logs(params["space"])
    if cls.learns:
        policy = _fresh(cls, params).fit(logs)  # as_of: the latest timestamp of the log
        assert policy.last_fit_["counted"] > 0 and policy.state_.n_customers > 0
    else:
        with pytest.raises(ValueError, match=r"^as_of: .* learns nothing from logs; give as_of explicitly$"):
            _fresh(cls, params).fit(logs)
        policy = _fresh(cls, params).fit(logs, as_of=AS_OF)
        assert policy.last_fit_["counted"] == 0 and "state_" not in vars(policy)


# -- (c) chunking invariance ------------------------------------------------------------------


@parametrize_policies
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_chunking_does_not_change_what_is_learned(cls: type[Policy], params: dict[str, Any], data: Any) -> None:
    logs = _logs(params["space"])
    n = len(logs)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5), label="cuts"))
    bounds = [0, *cuts, n]
    chunks = [logs.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]  # empty chunks included
    as_of = data.draw(st.sampled_from([AS_OF, None] if cls.learns else [AS_OF]), label="as_of")
    whole = _fresh(cls, params).fit(logs, as_of=as_of)
    pieces = _fresh(cls, params).fit(iter(chunks), as_of=as_of)
    _assert_same_state(_state(pieces), _state(whole))
    assert pieces.last_fit_ == whole.last_fit_
    table = _customers(params["space"])
    pd.testing.assert_frame_equal(pieces.rank(table, NOW), whole.rank(table, NOW))


# -- (d) what rank returns --------------------------------------------------------------------


@parametrize_policies
@pytest.mark.parametrize("n", [None, 0], ids=["table", "empty"])
def test_rank_columns_and_dtypes(cls: type[Policy], params: dict[str, Any], n: int | None) -> None:
    space = params["space"]
    policy = _fitted(cls, params)
    table = _customers(space) if n is None else _customers(space).iloc[:0]
    plan = policy.rank(table, NOW)
    extra = list(space.extra)
    columns = list(plan.columns)
    assert columns[:len(COLUMNS)] == COLUMNS
    assert columns[len(COLUMNS):] in (extra, HOLD_COLUMNS + extra)
    assert len(plan) == len(table) and plan.index.equals(pd.RangeIndex(len(table)))
    assert plan["customer_id"].tolist() == table["customer_id"].tolist()
    for name, labels in [("channel", space.channels), ("wording", space.wordings)] + \
            [(k, v) for k, v in space.extra.items()]:
        assert isinstance(plan[name].dtype, pd.CategoricalDtype), name
        assert list(plan[name].cat.categories) == list(labels), name
    assert plan["hour"].dtype == pd.Int8Dtype()
    assert plan["send_at"].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert plan["score"].dtype == np.float64 and plan["propensity"].dtype == np.float64
    if "hold_reason" in columns:
        assert isinstance(plan["hold_reason"].dtype, pd.CategoricalDtype)
        assert plan["escalate_to_human"].dtype == np.bool_
    sent = plan["channel"].notna()
    assert sent.all()  # no contact rules: nobody is held
    # the send time: at or after now, within 24 h, at the start of the chosen local hour (or now)
    assert ((plan["send_at"] >= NOW) & (plan["send_at"] < NOW + pd.Timedelta("24h"))).all()
    if space.hours:
        assert plan["hour"].between(0, 23).all()
    else:
        assert plan["hour"].isna().all() and (plan["send_at"] == NOW).all()


# -- (e) save / load --------------------------------------------------------------------------


@parametrize_policies
def test_save_load_round_trip_where_the_class_says_it_persists(cls: type[Policy], params: dict[str, Any],
                                                               tmp_path: Any) -> None:
    if not cls.persistent:  # the flag is the contract: no save method behind it either
        assert not hasattr(cls, "save"), cls
        return
    policy = _fitted(cls, params)
    policy.save(tmp_path / "policy")
    back = co.load(tmp_path / "policy")
    assert type(back) is cls and back.get_params().keys() == policy.get_params().keys()
    _assert_same_state(_state(back), _state(policy))
    table = _customers(params["space"])
    pd.testing.assert_frame_equal(back.rank(table, NOW), policy.rank(table, NOW))
    for cid in table["customer_id"][:5]:
        assert repr(back.choose_channel(cid, NOW)) == repr(policy.choose_channel(cid, NOW))


# -- (f) decisions depend on nothing but the policy, the customer and now ---------------------------


@parametrize_policies
def test_decisions_do_not_depend_on_the_batch_or_the_threads(cls: type[Policy], params: dict[str, Any]) -> None:
    policy = _fitted(cls, params)
    table = _customers(params["space"])
    plan = policy.rank(table, NOW)
    back = policy.rank(table.iloc[::-1], NOW).iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, plan)
    pd.testing.assert_frame_equal(policy.rank(table.iloc[7:12], NOW), plan.iloc[7:12].reset_index(drop=True))
    threads = numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread available: nothing to compare")
    try:
        for k in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(k)
            pd.testing.assert_frame_equal(policy.rank(table, NOW), plan, obj=f"rank with {k} threads")
    finally:
        numba.set_num_threads(threads)


# -- (g) the propensity is the probability of the decision -----------------------------------------

CHANNELS_ONLY = co.ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
ROUNDS = 600


@functools.lru_cache(maxsize=None)
def _rounds(cls: type[Policy]) -> dict[str, dict[str, list[float]]]:
    """Per customer (two known, one new): the propensities reported for each arm chosen in ROUNDS rounds."""
    params = {**next(iter(cls._unit_test_params())), "space": CHANNELS_ONLY}
    policy = cls(**params).fit(_logs(CHANNELS_ONLY), as_of=AS_OF)
    out: dict[str, dict[str, list[float]]] = {}
    for cid in ("c-000003", "c-000017", "never-seen"):
        seen = out.setdefault(cid, {})
        for k in range(ROUNDS):
            d = policy.choose_channel(cid, NOW + pd.Timedelta(seconds=k))
            seen.setdefault(d.channel, []).append(d.propensity)
    return out


@pytest.mark.parametrize("cls", POLICIES, ids=[c.__name__ for c in POLICIES])
def test_propensities_are_probabilities_over_the_arms(cls: type[Policy]) -> None:
    """One propensity per arm (whatever the round), in (0, 1], summing to 1 over the arms drawn."""
    for cid, seen in _rounds(cls).items():
        prop = {}
        for arm, ps in seen.items():
            p = np.array(ps)
            assert np.all((p > 0) & (p <= 1)), (cid, arm)
            np.testing.assert_allclose(p, p[0], rtol=1e-9, err_msg=f"{cid} {arm}: one probability per arm")
            prop[arm] = p[0]
        total = sum(prop.values())
        assert total <= 1 + 1e-6, (cid, prop)  # ChannelModel's are approximations: they sum to 1 within ~1e-7
        assert total > 1 - 0.02, (cid, prop)  # an arm never drawn in 600 rounds has probability < ~1%


# ChannelModel's propensity is the Gaussian-world approximation of channelopt.kernels.propensity. With plain
# Thompson sampling (exploration=1.0) and this log's empirical-Bayes prior (Beta(0.02, 0.5) for two channels:
# shapes a << 1) it was off by up to 0.09 (0.954 reported for a channel drawn 86% of the time) and this test was a
# strict xfail; at the default exploration (0.1) the draws' shapes are ten times larger and it passes.
@pytest.mark.parametrize("cls", POLICIES, ids=[c.__name__ for c in POLICIES])
def test_propensities_are_the_frequencies_of_the_decisions(cls: type[Policy]) -> None:
    """Over many rounds (another ``now`` each second), each arm is drawn as often as its propensity says."""
    for cid, seen in _rounds(cls).items():
        for arm, ps in seen.items():
            freq, p = len(ps) / ROUNDS, ps[0]
            assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / ROUNDS) + 1e-9, (cid, arm, freq, p)


def test_a_uniform_policy_spreads_one_over_the_joint_arms() -> None:
    space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"], extra={"tone": ["a", "b"]})
    plan = UniformRandom(space, seed=2).rank([f"u{i}" for i in range(50)], NOW)
    joint = 3 * 2 * 24 * 2  # weekday arms are not decided
    assert np.all(plan["propensity"].to_numpy() * joint == 1.0)


# -- parameters -------------------------------------------------------------------------------


@parametrize_policies
def test_parameters_follow_scikit_learn(cls: type[Policy], params: dict[str, Any]) -> None:
    policy = _fitted(cls, params)
    got = policy.get_params()
    assert all(got[k] is v for k, v in params.items())
    twin = clone(policy)
    assert type(twin) is cls and twin.get_params().keys() == got.keys()
    assert not hasattr(twin, "as_of_")
    table = _customers(params["space"])
    twin.fit(_logs(params["space"]), as_of=AS_OF)
    pd.testing.assert_frame_equal(twin.rank(table, NOW), policy.rank(table, NOW))
    with pytest.raises(ValueError, match=r"^Invalid parameter 'sede' for estimator "):
        twin.set_params(sede=1)
    # a new seed through set_params is the same as a policy built with it
    twin.set_params(seed=params.get("seed", 0) + 11)
    built = cls(**{**params, "seed": params.get("seed", 0) + 11}).fit(_logs(params["space"]), as_of=AS_OF)
    pd.testing.assert_frame_equal(twin.rank(table, NOW), built.rank(table, NOW))
