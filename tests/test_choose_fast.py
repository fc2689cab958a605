"""The fast path of choose_channel (channelopt.policy.fast) gives exactly the general path's Decision.

The general path (``ChannelModel._choose`` with the fast path switched off)
is the reference: every field of the Decision (channel, wording, hour,
send_at, score, propensity, hold_reason, extra, escalate_to_human) and every
draw must be identical, over random customers (known, unknown, with ledger
events), policies (none, the default, custom caps / quiet hours / value and
cost / no minimum gap), consent overrides, zones (learned, given; DST days,
Kolkata, Lord Howe), ``allowed_channels`` / ``exclude``, deadlines (none,
durations, timestamps), ``urgent``, ``promotional``, ``value``, ``segment``,
planned sends (cascades), with and without the propensity. Unusual or invalid
arguments must make the fast path step aside (return None) so that the
general path raises its usual error.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
import channelopt.policy.rank as rank_module
from channelopt import Cap, ContactPolicy
from channelopt.core.decision import REASONS
from channelopt.kernels.single import choose_one, locate_one
from channelopt.policy import fast as _single
from channelopt.policy.fast_view import store_view
from channelopt.policy.slots import packed_slots, slot_tables
from conftest import assert_same_decision as assert_same

FAST = _single.choose_fast
CHANNELS = ("email", "sms", "push", "voice")
SPACE = co.ArmSpace(channels=list(CHANNELS), wordings=["plain", "friendly", "short"], extra={"tone": ["warm", "dry"]})
ZONES = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")
#: decision times: the 2026 DST changes of the zones above, and an ordinary Monday
ANCHORS = [pd.Timestamp(t, tz="UTC") for t in ("2026-03-08 06:50", "2026-03-29 00:40", "2026-04-04 14:50",
                                                "2026-10-03 15:20", "2026-10-25 00:55", "2026-11-01 05:45",
                                                "2026-11-23 09:07")]
AS_OF = pd.Timestamp("2026-02-20", tz="UTC")
SEGMENTED = "segment" in inspect.signature(co.ChannelModel._choose).parameters
POLICIES = [
    None,
    ContactPolicy(),
    ContactPolicy(quiet_hours={"email": (22, 6), "push": (0, 24 - 1)}, caps=[Cap(2, "3D"), Cap(1, "12h", "push"),
                                                                             Cap(1, "1D", "whatsapp")],
                  min_gap=None, cost={"sms": 0.02, "voice": 0.3}, value=1.5, complaint_cooloff="10D", deadline="6h"),
    ContactPolicy(caps=[Cap(8, "30D")], min_gap="2D", value=0.4, cost={"email": 0.01, "push": 0.05},
                  deadline="36h"),
]


def _logs(seed: int = 0, n: int = 80) -> pd.DataFrame:
    """Sends of ``n`` customers over 60 days, denser near every anchor (caps and gaps bind there)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        anchor = ANCHORS[i % len(ANCHORS)]
        k = int(rng.integers(1, 12))
        ago = np.sort(rng.integers(30, 6 * 1440, size=k))[::-1]
        sent = anchor - pd.to_timedelta(ago, unit="min")
        sent = sent[sent <= AS_OF] if i % 3 == 0 else sent
        if len(sent) == 0:
            continue
        k = len(sent)
        replied = rng.random(k) < 0.4
        negative = rng.random(k) < 0.08
        rows.append(pd.DataFrame({
            "customer_id": f"c-{i:03d}", "sent_at": sent, "channel": rng.choice(CHANNELS, size=k),
            "wording": rng.choice(["plain", "friendly", "short"], size=k), "tone": rng.choice(["warm", "dry"], size=k),
            "responded_at": pd.Series(sent + pd.to_timedelta(rng.integers(5, 900, size=k), unit="min")).where(
                replied).to_numpy(),
            "tz": ZONES[i % len(ZONES)], "complained": negative & ~replied & (rng.random(k) < 0.6),
            "unsubscribed": negative & ~replied & (rng.random(k) < 0.4),
            "segment": rng.choice(["gold", "silver", "bronze"], size=k)}))
    return pd.concat(rows, ignore_index=True)


LOGS = _logs()


def _model(**kwargs) -> co.ChannelModel:
    m = co.ChannelModel(SPACE, seed=11, half_life=None, **kwargs).fit(
        LOGS, as_of=LOGS["sent_at"].max())
    rng = np.random.default_rng(3)
    ids = sorted(LOGS["customer_id"].unique())
    for cid in ids[::2]:  # consent recorded for half the customers, random channels
        m.update_consent(cid, granted=[c for c in CHANNELS if rng.random() < 0.7])
    return m


MODEL = _model()
IDS = sorted(LOGS["customer_id"].unique()) + ["nobody-1", "nobody-2"]


def general(model: co.ChannelModel, customer_id, now, **kwargs):
    """The general path's Decision (the fast path switched off where ``ChannelModel._choose`` calls it)."""
    mp = pytest.MonkeyPatch()
    asked: list[int] = []
    try:
        mp.setattr(rank_module, "choose_fast", lambda *a, **k: asked.append(1))  # None: "not for me"
        d = model._choose(customer_id, now, **kwargs)
    finally:
        mp.undo()
    assert asked, "ChannelModel._choose no longer asks rank.choose_fast: the general path was not isolated"
    return d


def fast(model: co.ChannelModel, customer_id, now, **kwargs):
    d = FAST(model, customer_id, now, **kwargs)
    assert d is not None, f"the fast path stepped aside for {customer_id!r} {kwargs}"
    return d


def _case(rng: np.random.Generator) -> tuple[str, pd.Timestamp, dict]:
    """A random call: customer, now (near an anchor), keyword arguments."""
    cid = IDS[int(rng.integers(len(IDS)))]
    anchor = ANCHORS[int(rng.integers(len(ANCHORS)))]
    now = anchor + pd.Timedelta(seconds=int(rng.integers(-3 * 3600, 3 * 3600)), microseconds=int(rng.integers(1000)))
    kw: dict = {"propensity": bool(rng.random() < 0.3)}
    pick = rng.random(12)
    if pick[0] < 0.6:
        kw["policy"] = POLICIES[int(rng.integers(1, len(POLICIES)))]
    if pick[1] < 0.3:
        kw["consent"] = [c for c in CHANNELS if rng.random() < 0.6]
    if pick[2] < 0.25:
        kw["exclude"] = [c for c in CHANNELS if rng.random() < 0.4]
    elif pick[2] < 0.35:
        kw["allowed_channels"] = [c for c in CHANNELS if rng.random() < 0.6]
    if pick[3] < 0.3:
        kw["tz"] = ZONES[int(rng.integers(len(ZONES)))]
    if pick[4] < 0.3:
        kw["deadline"] = ["90min", "5h", "2D", pd.Timedelta("13h"), now + pd.Timedelta("20h")][int(rng.integers(5))]
    kw["urgent"] = bool(pick[5] < 0.15)
    kw["promotional"] = bool(pick[6] < 0.8)
    if pick[7] < 0.2:
        kw["value"] = float(rng.choice([0.05, 0.5, 3.0]))
    if SEGMENTED and pick[8] < 0.2:
        kw["segment"] = ["gold", "bronze", "nowhere"][int(rng.integers(3))]
    return cid, now, kw


def test_fast_path_equals_general_path_on_random_calls():
    rng = np.random.default_rng(0)
    reasons = set()
    for _ in range(1500):
        cid, now, kw = _case(rng)
        d = fast(MODEL, cid, now, **kw)
        assert_same(d, general(MODEL, cid, now, **kw))
        reasons.add(d.hold_reason)
    # the calls reach sends and every kind of hold the rules can give
    assert {None, "no_consent", "cap", "not_worth_cost", "no_allowed_channel"} <= reasons, reasons


def test_choose_channel_gives_the_same_decisions():
    rng = np.random.default_rng(9)
    for _ in range(100):
        cid, now, kw = _case(rng)
        assert_same(MODEL.choose_channel(cid, now=now, **kw), fast(MODEL, cid, now, **kw))


def test_many_nows_in_one_quarter_hour_share_slot_tables_correctly():
    # the slot tables are cached per quarter hour of now: successive nows inside one quarter must still
    # start slot 0 at their own now (send_at of urgent decisions is now itself)
    base = pd.Timestamp("2026-03-29 00:45", tz="UTC")
    for k, cid in enumerate(IDS[:30]):
        now = base + pd.Timedelta(seconds=29 * k + 1)
        for kw in ({"urgent": True}, {}, {"tz": "Australia/Lord_Howe", "deadline": "3h"}):
            assert_same(fast(MODEL, cid, now, **kw), general(MODEL, cid, now, **kw))


@settings(max_examples=150, deadline=None)
@given(cust=st.integers(0, len(IDS) - 1), anchor=st.integers(0, len(ANCHORS) - 1),
       offset=st.integers(-4 * 3600, 4 * 3600), policy=st.integers(0, len(POLICIES) - 1),
       consent=st.none() | st.sets(st.sampled_from(CHANNELS)), exclude=st.sets(st.sampled_from(CHANNELS)),
       tz=st.none() | st.sampled_from(ZONES), deadline=st.sampled_from([None, "1h", "4h", "3D"]),
       urgent=st.booleans(), promotional=st.booleans(), value=st.none() | st.floats(0.01, 10.0))
def test_fast_path_equals_general_path_property(cust, anchor, offset, policy, consent, exclude, tz, deadline,
                                                urgent, promotional, value):
    now = ANCHORS[anchor] + pd.Timedelta(seconds=offset)
    kw = dict(policy=POLICIES[policy], consent=consent, exclude=sorted(exclude), tz=tz, deadline=deadline,
              urgent=urgent, promotional=promotional, value=value, propensity=False)
    assert_same(fast(MODEL, IDS[cust], now, **kw), general(MODEL, IDS[cust], now, **kw))


def test_ledger_events_and_planned_sends():
    model = _model(policy=ContactPolicy(caps=[Cap(2, "1D"), Cap(1, "1D", "sms")], min_gap="3h"))
    now = pd.Timestamp("2026-11-23 09:07", tz="UTC")
    ids = IDS[:12] + ["brand-new"]
    for k, cid in enumerate(ids):  # sends between fits, consent changes, an unsubscription lifted or not
        model.record_send(cid, CHANNELS[k % 4], at=now - pd.Timedelta(minutes=40 * k + 5))
        if k % 3 == 0:
            model.update_consent(cid, granted=["sms", "push"], revoked=["email"])
    model.record_send("brand-new", "push", at=now - pd.Timedelta("2h"))
    for cid in ids:
        for kw in ({}, {"consent": ["email", "sms"]}, {"urgent": True, "tz": "Asia/Kolkata"},
                   {"planned": [(now.value + 3_600_000_000_000, "email"), (now.value + 7_200_000_000_000, "sms")]}):
            assert_same(fast(model, cid, now, **kw), general(model, cid, now, **kw))


def test_cascade_steps_match(monkeypatch):
    model = _model(policy=ContactPolicy(min_gap="1h"))
    now = pd.Timestamp("2026-11-23 09:07", tz="UTC")
    for cid in IDS[:10]:
        planned: list[tuple[int, str]] = []
        tried: list[str] = []
        for _ in range(3):
            d = fast(model, cid, now, exclude=list(tried), planned=list(planned), consent=list(CHANNELS))
            assert_same(d, general(model, cid, now, exclude=list(tried), planned=list(planned),
                                   consent=list(CHANNELS)))
            if d.channel is None:
                break
            tried.append(d.channel)
            planned.append((d.send_at.value, d.channel))


def test_integer_ids_loaded_model_and_rank(tmp_path):
    logs = LOGS.assign(customer_id=LOGS["customer_id"].str[2:].astype(np.int64) + 10**12)
    model = co.ChannelModel(SPACE, seed=4).fit(logs, as_of=logs["sent_at"].max())
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")  # read-only memory-mapped arrays
    assert not loaded.state_.sends.flags.writeable
    now = ANCHORS[-1]
    ids = sorted(logs["customer_id"].unique())[:25] + [7, np.int64(8)]
    for m in (model, loaded):
        for cid in ids:
            for kw in ({}, {"policy": ContactPolicy(), "consent": ["sms", "push"]}, {"exclude": ["email"]}):
                assert_same(fast(m, cid, now, **kw), general(m, cid, now, **kw))
    # rank decides every customer as choose_channel does
    for kw in ({}, {"policy": ContactPolicy(caps=[Cap(3, "2D")])}):
        table = model.rank(ids, now=now, propensity=False, **kw)
        for cid, row in zip(ids, table.itertuples(index=False)):
            d = fast(model, cid, now, propensity=False, **kw)
            assert (d.channel, d.wording, d.hold_reason) == (
                None if pd.isna(row.channel) else row.channel, None if pd.isna(row.wording) else row.wording,
                None if pd.isna(row.hold_reason) else row.hold_reason)
            assert d.hour == (None if pd.isna(row.hour) else int(row.hour))
            assert d.send_at == (None if pd.isna(row.send_at) else row.send_at)
            assert d.extra == ({} if d.channel is None else {"tone": row.tone})
            assert (math.isnan(d.score) and math.isnan(row.score)) or d.score == row.score


@pytest.mark.parametrize("space_kw", [
    {"hours": False, "weekdays": False},
    {"wordings": ["plain", "friendly", "short"], "weekdays": False},
    {"hours": False, "extra": {"tone": ["warm", "dry"], "length": ["s", "m", "l"]}},
])
def test_other_arm_spaces_and_settings(space_kw):
    space = co.ArmSpace(channels=list(CHANNELS), **space_kw)
    logs = LOGS[[c for c in LOGS.columns if c not in ("wording", "tone") or c in space.dimensions]]
    if "length" in space.dimensions:
        logs = logs.assign(length=np.array(["s", "m", "l"])[np.arange(len(logs)) % 3])
    model = co.ChannelModel(space, seed=2, hour_smoothing=0.0, default_tz="Asia/Kolkata",
                            policy=ContactPolicy(value=2.0, cost={"sms": 0.1})).fit(logs)
    rng = np.random.default_rng(5)
    for _ in range(120):
        cid, now, kw = _case(rng)
        kw.pop("policy", None)
        assert_same(fast(model, cid, now, **kw), general(model, cid, now, **kw))


def test_reason_codes_are_the_models():
    # one table of reason codes for the fast path, rank's categories and the model's decisions
    assert _single.REASONS is REASONS is rank_module.REASONS
    ranked = MODEL.rank(pd.DataFrame({"customer_id": IDS[:3]}), now=ANCHORS[0])
    assert list(ranked["hold_reason"].cat.categories) == list(REASONS)


def test_decision_is_a_real_frozen_decision():
    d = fast(MODEL, IDS[1], ANCHORS[-1], propensity=True)
    g = general(MODEL, IDS[1], ANCHORS[-1], propensity=True)
    assert d == g and 0 < d.propensity <= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.channel = "sms"  # type: ignore[misc]
    assert d.scores == g.scores
    assert d.draws is not g.draws and d.draws.flags.writeable


@pytest.mark.parametrize(("kw", "customer_id"), [
    ({"exclude": ["fax"]}, "c-001"), ({"allowed_channels": ["email", "fax"]}, "c-001"),
    ({"exclude": 5}, "c-001"), ({"tz": "Mars/Olympus"}, "c-001"), ({"tz": 3}, "c-001"),
    ({"value": -1.0}, "c-001"), ({"value": float("nan")}, "c-001"), ({"value": np.float16(2)}, "c-001"),
    ({"value": True}, "c-001"), ({"deadline": "yesterday-ish"}, "c-001"),
    ({"deadline": pd.Timestamp("2026-01-01", tz="UTC")}, "c-001"), ({"deadline": "-2h"}, "c-001"),
    ({"policy": "strict"}, "c-001"), ({"policy": ContactPolicy(cost={"fax": 1.0})}, "c-001"),
    ({"policy": ContactPolicy(), "consent": ["fax"]}, "c-001"),
    ({"policy": ContactPolicy(), "consent": (c for c in ["sms"])}, "c-001"),
    ({}, 3.5), ({}, None), ({}, b"c-001"), ({}, 17), ({}, True),
])
def test_unusual_arguments_leave_it_to_the_general_path(kw, customer_id):
    now = ANCHORS[-1]
    assert FAST(MODEL, customer_id, now, **kw) is None
    if "consent" in kw and not isinstance(kw["consent"], list) or "value" in kw and type(kw["value"]) is np.float16:
        assert general(MODEL, customer_id, now, **kw).customer_id == customer_id  # fine, only unusual
        return
    with pytest.raises((ValueError, TypeError)):
        general(MODEL, customer_id, now, **kw)


def test_not_fitted_decides_and_an_odd_store_steps_aside():
    # an unfitted model decides from its prior on both paths (issue 14, cold start)
    cold = co.ChannelModel(SPACE, prior={"channel": {"sms": (0.2, 10)}})
    assert_same(fast(cold, "a", ANCHORS[0]), general(cold, "a", ANCHORS[0]))
    assert_same(fast(cold, "a", ANCHORS[0], policy=POLICIES[1], consent=["sms"]),
                general(cold, "a", ANCHORS[0], policy=POLICIES[1], consent=["sms"]))
    odd = _model()
    odd.state_ = dataclasses.replace(odd.state_, sends=np.asfortranarray(odd.state_.sends))
    assert FAST(odd, IDS[0], ANCHORS[0]) is None
    # the general path still decides
    assert general(odd, IDS[0], ANCHORS[0]).customer_id == IDS[0]


def test_now_forms_and_the_current_time():
    cid = IDS[4]
    t = pd.Timestamp("2026-10-25 00:55:12.5", tz="UTC")
    for now in (t, t.tz_convert("Europe/Paris"), t.tz_localize(None), t.isoformat(), t.to_pydatetime(),
                np.datetime64(t.tz_localize(None))):
        assert_same(fast(MODEL, cid, now), general(MODEL, cid, t))
    before = pd.Timestamp.now(tz="UTC")
    d = fast(MODEL, cid, None, urgent=True, tz="UTC")
    after = pd.Timestamp.now(tz="UTC")
    assert d.channel is None or before <= d.send_at <= after + pd.Timedelta("1s")


def test_threads_give_the_serial_decisions():
    rng = np.random.default_rng(7)
    cases = [_case(rng) for _ in range(300)]
    expected = [fast(MODEL, cid, now, **kw) for cid, now, kw in cases]
    for (cid, now, kw), d in zip(cases[:60], expected[:60]):
        assert_same(d, general(MODEL, cid, now, **kw))
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        order = np.random.default_rng(k).permutation(len(cases))
        out = [None] * len(cases)
        try:
            for _ in range(3):
                for i in order:
                    cid, now, kw = cases[i]
                    out[i] = fast(MODEL, cid, now, **kw)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        results[k] = out

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(4):
        for d, e in zip(results[k], expected):
            assert_same(d, e)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_packed_slots_equal_slot_tables(zone):
    rng = np.random.default_rng(1)
    quarter = 15 * 60 * 10**9
    for anchor in ANCHORS:
        for _ in range(6):
            now = anchor.value + int(rng.integers(-6 * 3600, 6 * 3600)) * 10**9 + int(rng.integers(10**9))
            deadline = now + int(rng.integers(0, 50 * 3600)) * 10**9
            # another now of the same quarter hour first: the table is shared, slot 0 is the caller's
            other = now - now % quarter + int(rng.integers(quarter))
            packed_slots(zone, other, deadline - now + other if (deadline - now + other) // quarter
                         == deadline // quarter else deadline)
            table, n = packed_slots(zone, now, deadline)
            start, end, hour, wd, count = slot_tables(now, deadline, [zone])
            assert n == count[0] and not table.flags.writeable
            got = table[:, :n].copy()
            got[0, 0] = now
            np.testing.assert_array_equal(got, np.stack([start[0], end[0], hour[0], wd[0]]))
    assert packed_slots(zone, 10**18, 10**18 - 1)[1] == 0


def test_only_one_compiled_signature_per_kernel(tmp_path):
    # every store (fitted, loaded read-only), policy and history override gives the kernels the same argument
    # types: one signature each, and every store's calls reach the same compiled entry points
    MODEL.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    model = _model(policy=ContactPolicy())
    model.record_send(IDS[0], "sms", at=ANCHORS[-1] - pd.Timedelta("1h"))
    entries = set()
    for m in (MODEL, loaded, model):
        for cid in IDS[:3]:
            fast(m, cid, ANCHORS[-1])
            fast(m, cid, ANCHORS[-1], planned=[(ANCHORS[-1].value, "sms")])
        sv = store_view(m.state_)
        assert sv.locate_fn is not locate_one and sv.choose_fn is not choose_one  # calls skip the dispatcher
        entries.add((sv.locate_fn, sv.choose_fn))
    assert len(entries) == 1
    for kernel in (choose_one, locate_one):
        assert len(kernel.signatures) == 1, kernel.signatures
