"""Contact policy: consent, quiet hours, caps, minimum gap, value/cost, complaints, capacity, consent store.

The property tests check every decision against an independent oracle written
from the rules themselves (history counted in rolling windows, local hours read
with pandas in the customer's zone), over random policies, zones, consent sets,
send histories and decision times around the 2026 DST changes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt import Cap, ContactPolicy

CHANNELS = ("email", "sms", "push", "voice")
SPACE = co.ArmSpace(channels=list(CHANNELS), wordings=["plain", "friendly"])
ZONES = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")

#: Decision times to explore: (zone of the customers there, a UTC instant); the DST changes of 2026.
ANCHORS = {
    "us_spring": ("America/New_York", pd.Timestamp("2026-03-08 07:00", tz="UTC")),
    "eu_spring": ("Europe/Paris", pd.Timestamp("2026-03-29 01:00", tz="UTC")),
    "lh_fall": ("Australia/Lord_Howe", pd.Timestamp("2026-04-04 15:00", tz="UTC")),
    "lh_spring": ("Australia/Lord_Howe", pd.Timestamp("2026-10-03 15:30", tz="UTC")),
    "eu_fall": ("Europe/Paris", pd.Timestamp("2026-10-25 01:00", tz="UTC")),
    "us_fall": ("America/New_York", pd.Timestamp("2026-11-01 06:00", tz="UTC")),
    "kolkata": ("Asia/Kolkata", pd.Timestamp("2026-06-15 00:00", tz="UTC")),
}
PER_GROUP = 4
AS_OF = pd.Timestamp("2026-11-10", tz="UTC")


def _group_logs(seed: int = 0) -> pd.DataFrame:
    """Per anchor, PER_GROUP customers with 2-9 sends at whole minutes in the 5 days up to 2 h before it.

    Customer 0 of every group complained about one of its sends.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for g, (zone, anchor) in ANCHORS.items():
        for i in range(PER_GROUP):
            k = int(rng.integers(2, 10))
            sent = anchor - pd.to_timedelta(np.sort(rng.integers(120, 5 * 1440, size=k))[::-1], unit="min")
            replied = rng.random(k) < 0.35
            responded = pd.Series(sent + pd.to_timedelta(rng.integers(5, 600, size=k), unit="min")).where(replied)
            complained = np.zeros(k, bool)
            if i == 0:
                complained[int(rng.integers(0, k))] = True
            parts.append(pd.DataFrame({
                "customer_id": f"{g}-{i}", "sent_at": sent, "channel": rng.choice(CHANNELS, size=k),
                "wording": rng.choice(["plain", "friendly"], size=k), "responded_at": responded.to_numpy(),
                "tz": zone, "complained": complained & ~replied}))
    return pd.concat(parts, ignore_index=True)


LOGS = _group_logs()
#: The one fitted model of this module: never mutated except through fresh customer ids.
MODEL = co.ChannelModel(SPACE, seed=5).fit(LOGS, as_of=AS_OF)
_FRESH = itertools.count()


def _fresh_id(tag: str) -> str:
    return f"fresh-{tag}-{next(_FRESH)}"


# -- the oracle -----------------------------------------------------------------------------------------------------

def _history(customer_id: str) -> list[tuple[pd.Timestamp, str]]:
    rows = LOGS[LOGS["customer_id"] == customer_id]
    return [(t, c) for t, c in zip(rows["sent_at"], rows["channel"])]


def _last_complaint(customer_id: str) -> pd.Timestamp | None:
    rows = LOGS[(LOGS["customer_id"] == customer_id) & LOGS["complained"]]
    return rows["sent_at"].max() if len(rows) else None


def _earliest(policy: ContactPolicy, history, channel: str, now: pd.Timestamp) -> pd.Timestamp:
    """First instant a send on ``channel`` keeps the minimum gap and every cap (history all before ``now``)."""
    t = now
    if history and policy.min_gap is not None:
        t = max(t, max(h for h, _ in history) + policy.min_gap)
    for cap in policy.caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        times = sorted((h for h, c in history if cap.channel in (None, c)), reverse=True)
        if len(times) >= cap.max_messages:  # the cap-th most recent send must leave the window
            t = max(t, times[cap.max_messages - 1] + cap.window)
    return t


def _quiet_throughout(policy: ContactPolicy, channel: str, zone: str, start, end) -> bool:
    """Every instant of [start, end] is in the channel's quiet hours (local hours change on quarter hours UTC)."""
    if start > end:
        return True
    points = pd.DatetimeIndex([start]).append(pd.date_range(start.ceil("15min"), end, freq="15min"))
    return all(policy.is_quiet(channel, h) for h in points.tz_convert(zone).hour)


def _check(d: co.Decision, *, policy: ContactPolicy, zone: str, now, deadline, consented: set[str], history,
           complaint=None, promotional: bool = True, value: float | None = None) -> str | None:
    """Assert that a decision keeps every rule and that a hold carries the right reason; return the reason."""
    recent = complaint is not None and now - complaint < policy.complaint_cooloff
    contacted_since = complaint is not None and any(h > complaint for h, _ in history)
    assert d.escalate_to_human == (recent and not contacted_since)
    if promotional and recent:
        expected = "suppressed"
    elif not consented:
        expected = "no_consent"
    else:
        earliest = {c: _earliest(policy, history, c, now) for c in consented}
        if all(e > deadline for e in earliest.values()):
            expected = "cap"
        elif all(_quiet_throughout(policy, c, zone, max(now, e), deadline) for c, e in earliest.items()):
            expected = "quiet_hours_until_deadline"
        else:
            expected = None  # something can be sent: a send, or a hold because nothing is worth its cost
    value = policy.value if value is None else value
    if expected is None and d.channel is None:
        assert d.hold_reason == "not_worth_cost" and value is not None, d
        draws = d.scores["channel"]
        feasible = {c: v for c, v in draws.items() if not np.isnan(v)}
        assert feasible and all(value * v - policy.cost.get(c, 0.0) < 0 for c, v in feasible.items()), draws
        return d.hold_reason
    assert d.hold_reason == expected, (d, expected)
    if expected is not None:
        assert d.channel is None and d.send_at is None
        return expected
    # a send: consent, delivery window, quiet hours, caps, minimum gap, cost
    s = d.send_at
    assert d.channel in consented
    assert now <= s <= deadline
    local = s.tz_convert(zone)
    assert local.hour == d.hour, (s, zone, d.hour)
    assert not policy.is_quiet(d.channel, local.hour), (s, zone, policy.quiet_hours)
    if policy.min_gap is not None:
        assert all(s - h >= policy.min_gap for h, _ in history)
    for cap in policy.caps:
        if cap.channel not in (None, d.channel):
            continue
        in_window = sum(1 for h, c in history if cap.channel in (None, c) and s - cap.window < h <= s)
        assert in_window + 1 <= cap.max_messages, (cap, history, s)
    if value is not None:
        assert value * d.score - policy.cost.get(d.channel, 0.0) >= 0
    assert 0 < d.propensity <= 1
    return None


# -- strategies -----------------------------------------------------------------------------------------------------

hours = st.integers(0, 23)
policies = st.builds(
    ContactPolicy,
    quiet_hours=st.dictionaries(st.sampled_from(CHANNELS), st.tuples(hours, hours), max_size=4),
    caps=st.lists(st.builds(Cap, st.integers(1, 4), st.sampled_from(["1h", "6h", "1D", "3D", "7D"]),
                            st.sampled_from([None, *CHANNELS])), max_size=3),
    min_gap=st.sampled_from([None, "30min", "2h", "12h", "1D"]),
    cost=st.dictionaries(st.sampled_from(CHANNELS), st.floats(0.0, 1.0), max_size=4),
    value=st.sampled_from([None, None, 0.3, 1.0, 5.0]),
    complaint_cooloff=st.sampled_from(["1D", "3D", "30D"]),
    deadline=st.sampled_from(["1h", "6h", "24h", "48h"]),
)
channel_sets = st.lists(st.booleans(), min_size=4, max_size=4).map(
    lambda flags: frozenset(c for c, ok in zip(CHANNELS, flags) if ok))
deadlines = st.sampled_from([None, "2h", "12h", "24h", "48h"])


def _deadline_ts(now: pd.Timestamp, deadline, policy: ContactPolicy) -> pd.Timestamp:
    return now + (policy.deadline if deadline is None else pd.Timedelta(deadline))


def _same(d: co.Decision, row) -> None:
    """A decision of choose_channel and the matching row of rank are the same decision."""
    assert (None if pd.isna(row.channel) else row.channel) == d.channel
    assert (None if pd.isna(row.hold_reason) else row.hold_reason) == d.hold_reason
    assert (None if pd.isna(row.send_at) else row.send_at) == d.send_at
    assert (None if pd.isna(row.wording) else row.wording) == d.wording
    assert (None if pd.isna(row.hour) else int(row.hour)) == d.hour
    assert row.propensity == pytest.approx(d.propensity, rel=1e-12)
    assert bool(row.escalate_to_human) == d.escalate_to_human


# -- properties -----------------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(policy=policies, zone=st.sampled_from(ZONES), anchor=st.sampled_from(list(ANCHORS)),
       offset_min=st.integers(-6 * 60, 3 * 1440), second=st.integers(0, 59), consent=channel_sets,
       via_store=st.booleans(),
       history=st.lists(st.tuples(st.integers(0, 8 * 1440), st.sampled_from(CHANNELS)), max_size=8),
       deadline=deadlines, urgent=st.booleans(), promotional=st.booleans(),
       value=st.sampled_from([None, None, 0.5, 3.0]))
def test_decisions_with_recorded_history_keep_every_rule(policy, zone, anchor, offset_min, second, consent, via_store,
                                                         history, deadline, urgent, promotional, value):
    """Fresh customers: consent from the store or per call, history from record_send; choose_channel == rank."""
    now = ANCHORS[anchor][1] + pd.Timedelta(minutes=offset_min, seconds=second)
    cid = _fresh_id("a")
    base = now.floor("min")
    sends = [(base - pd.Timedelta(minutes=m), c) for m, c in history]
    for t, c in sends:
        MODEL.record_send(cid, c, at=t)
    sends = list(dict.fromkeys(sends))  # an identical send (same minute, same channel) is kept once
    if via_store:
        MODEL.update_consent(cid, granted=sorted(consent))
    per_call = None if via_store else sorted(consent)
    kw = dict(policy=policy, deadline=deadline, urgent=urgent, promotional=promotional, value=value)
    d = MODEL.choose_channel(cid, now=now, tz=zone, consent=per_call, **kw)
    _check(d, policy=policy, zone=zone, now=now, deadline=_deadline_ts(now, deadline, policy), consented=set(consent),
           history=sends, promotional=promotional, value=value)
    table = pd.DataFrame({"customer_id": [cid], "tz": [zone]})
    if not via_store:
        for c in CHANNELS:
            table[f"consent_{c}"] = c in consent
    ranked = MODEL.rank(table, now=now, **kw)
    _same(d, next(ranked.itertuples(index=False)))


@settings(max_examples=40, deadline=None)
@given(policy=policies, anchor=st.sampled_from(list(ANCHORS)), offset_min=st.integers(-100, 60 * 60),
       second=st.integers(0, 59), consents=st.lists(channel_sets, min_size=PER_GROUP, max_size=PER_GROUP),
       deadline=deadlines, urgent=st.booleans(), promotional=st.booleans(),
       value=st.sampled_from([None, None, 0.5, 3.0]))
def test_decisions_with_logged_history_keep_every_rule(policy, anchor, offset_min, second, consents, deadline, urgent,
                                                       promotional, value):
    """Customers of the log: zone, history and complaints learned from it; rank over the group == choose_channel."""
    zone, at = ANCHORS[anchor]
    now = at + pd.Timedelta(minutes=offset_min, seconds=second)
    ids = [f"{anchor}-{i}" for i in range(PER_GROUP)]
    kw = dict(policy=policy, deadline=deadline, urgent=urgent, promotional=promotional, value=value)
    table = pd.DataFrame({"customer_id": ids})
    for c in CHANNELS:
        table[f"consent_{c}"] = [c in s for s in consents]
    ranked = MODEL.rank(table, now=now, **kw)
    for cid, consent, row in zip(ids, consents, ranked.itertuples(index=False)):
        d = MODEL.choose_channel(cid, now=now, consent=sorted(consent), **kw)  # zone learned from the log
        _check(d, policy=policy, zone=zone, now=now, deadline=_deadline_ts(now, deadline, policy),
               consented=set(consent), history=_history(cid), complaint=_last_complaint(cid),
               promotional=promotional, value=value)
        _same(d, row)


# -- each hold reason -----------------------------------------------------------------------------------------------

NOW = pd.Timestamp("2026-06-10 10:00", tz="UTC")  # 12:00 in Paris, a Wednesday
OPEN = ContactPolicy(quiet_hours={}, caps=[], min_gap=None)  # consent only


def _model(logs: pd.DataFrame | None = None, **kw) -> co.ChannelModel:
    logs = LOGS if logs is None else logs
    return co.ChannelModel(SPACE, seed=5, **kw).fit(logs, as_of=AS_OF)


def _complaint_model(days_ago: float) -> tuple[co.ChannelModel, str]:
    t = NOW - pd.Timedelta(days=days_ago)
    logs = pd.DataFrame({"customer_id": ["x", "x"], "sent_at": [t - pd.Timedelta("3D"), t], "channel": ["email", "sms"],
                         "responded_at": [None, None], "complained": [False, True], "tz": "Europe/Paris"})
    return co.ChannelModel(SPACE, seed=5).fit(logs, as_of=NOW - pd.Timedelta("1min")), "x"


def test_complaint_suppresses_promotional_sends_during_the_cooloff_and_escalates():
    model, cid = _complaint_model(days_ago=2)
    policy = ContactPolicy(quiet_hours={}, caps=[], min_gap=None, complaint_cooloff="7D")
    d = model.choose_channel(cid, now=NOW, policy=policy, consent=CHANNELS)
    assert (d.channel, d.hold_reason, d.escalate_to_human) == (None, "suppressed", True)
    service = model.choose_channel(cid, now=NOW, policy=policy, consent=CHANNELS, promotional=False)
    assert service.channel in CHANNELS and service.hold_reason is None and service.escalate_to_human
    # the same complaint after the cool-off: nothing held, no human needed
    later = model.choose_channel(cid, now=NOW + pd.Timedelta("6D"), policy=policy, consent=CHANNELS)
    assert later.channel in CHANNELS and not later.escalate_to_human
    # rank reports the same
    row = model.rank(pd.DataFrame({"customer_id": [cid], **{f"consent_{c}": [True] for c in CHANNELS}}), now=NOW,
                     policy=policy).iloc[0]
    assert row["hold_reason"] == "suppressed" and bool(row["escalate_to_human"])
    # once a message went out after the complaint, the human follow-up is no longer asked for
    model.record_send(cid, "email", at=NOW - pd.Timedelta("1h"))
    assert not model.choose_channel(cid, now=NOW, policy=policy, consent=CHANNELS, promotional=False).escalate_to_human


def test_complaint_without_a_policy_changes_nothing():
    model, cid = _complaint_model(days_ago=2)
    d = model.choose_channel(cid, now=NOW)
    assert d.channel in CHANNELS and not d.escalate_to_human and d.hold_reason is None


def test_consent_is_default_deny_with_a_policy_and_absent_without():
    cid = "eu_spring-1"
    d = MODEL.choose_channel(cid, now=NOW, policy=OPEN)
    assert (d.channel, d.hold_reason) == (None, "no_consent")
    assert MODEL.choose_channel(cid, now=NOW).channel in CHANNELS  # no policy: no rules at all
    # consent for one channel that the call then excludes is no consent either
    d = MODEL.choose_channel(cid, now=NOW, policy=OPEN, consent=["sms"], exclude=["sms"])
    assert d.hold_reason == "no_consent"
    only = MODEL.choose_channel(cid, now=NOW, policy=OPEN, consent=["push"])
    assert only.channel == "push" and only.send_at is not None


def test_cap_hold_until_the_window_releases():
    model = _model()
    cid = "cap-customer"
    model.record_send(cid, "email", at=NOW - pd.Timedelta("2h"))
    policy = ContactPolicy(quiet_hours={}, caps=[Cap(1, "1D")], min_gap=None)
    d = model.choose_channel(cid, now=NOW, policy=policy, consent=CHANNELS, tz="Europe/Paris", deadline="12h")
    assert (d.channel, d.hold_reason) == (None, "cap")
    later = model.choose_channel(cid, now=NOW, policy=policy, consent=CHANNELS, tz="Europe/Paris", deadline="48h",
                                 urgent=True)
    assert later.send_at == NOW - pd.Timedelta("2h") + pd.Timedelta("1D")  # urgent: the first instant allowed
    # a per-channel cap holds that channel only
    sms_cap = ContactPolicy(quiet_hours={}, caps=[Cap(1, "1D", channel="email")], min_gap=None)
    d = model.choose_channel(cid, now=NOW, policy=sms_cap, consent=["email", "sms"], deadline="12h")
    assert d.channel == "sms"
    # the minimum gap is a cap too
    gap = ContactPolicy(quiet_hours={}, caps=[], min_gap="6h")
    assert model.choose_channel(cid, now=NOW, policy=gap, consent=CHANNELS, deadline="3h").hold_reason == "cap"
    assert model.choose_channel(cid, now=NOW, policy=gap, consent=CHANNELS, deadline="5h",
                                urgent=True).send_at == NOW + pd.Timedelta("4h")


def test_quiet_hours_until_deadline():
    late = pd.Timestamp("2026-06-10 20:00", tz="UTC")  # 22:00 in Paris
    policy = ContactPolicy(caps=[], min_gap=None)  # default quiet hours: SMS and voice 21-08
    d = MODEL.choose_channel("q", now=late, policy=policy, consent=["sms", "voice"], tz="Europe/Paris", deadline="8h")
    assert (d.channel, d.hold_reason) == (None, "quiet_hours_until_deadline")
    d = MODEL.choose_channel("q", now=late, policy=policy, consent=["sms", "voice"], tz="Europe/Paris",
                             deadline="12h", urgent=True)
    assert d.channel in ("sms", "voice") and d.send_at == pd.Timestamp("2026-06-11 08:00", tz="Europe/Paris")
    # the same hour in New York (16:00) is not quiet
    d = MODEL.choose_channel("q", now=late, policy=policy, consent=["sms"], tz="America/New_York", deadline="1h",
                             urgent=True)
    assert d.channel == "sms" and d.send_at == late


def test_not_worth_cost():
    policy = ContactPolicy(quiet_hours={}, caps=[], min_gap=None, cost={c: 0.5 for c in CHANNELS})
    d = MODEL.choose_channel("eu_fall-2", now=NOW, policy=policy, consent=CHANNELS, value=0.2)
    assert (d.channel, d.hold_reason) == (None, "not_worth_cost")
    assert all(0.2 * v < 0.5 for v in d.scores["channel"].values())
    assert 0 < d.propensity <= 1
    worth = MODEL.choose_channel("eu_fall-2", now=NOW, policy=policy, consent=CHANNELS, value=1e6)
    assert worth.channel in CHANNELS
    # the value of the policy applies when the call gives none; a cheap channel wins over a dear one
    cheap = ContactPolicy(quiet_hours={}, caps=[], min_gap=None, cost={"email": 0.0, "sms": 100.0, "push": 100.0,
                                                                       "voice": 100.0}, value=10.0)
    assert MODEL.choose_channel("eu_fall-2", now=NOW, policy=cheap, consent=CHANNELS).channel == "email"


def test_hold_rows_in_rank_carry_their_reasons():
    late = pd.Timestamp("2026-06-10 20:00", tz="UTC")
    model = _model()
    model.record_send("capped", "email", at=late - pd.Timedelta("1h"))
    table = pd.DataFrame({"customer_id": ["none", "capped", "quiet", "ok"], "tz": "Europe/Paris",
                          "consent_email": [False, True, False, True], "consent_sms": [False, False, True, False]})
    policy = ContactPolicy(caps=[Cap(1, "1D")], min_gap=None)
    out = model.rank(table, now=late, policy=policy, deadline="6h")
    assert out["hold_reason"].astype(object).where(out["hold_reason"].notna(), None).tolist() == \
        ["no_consent", "cap", "quiet_hours_until_deadline", None]
    assert out["channel"].isna().tolist() == [True, True, True, False]
    assert out["send_at"].isna().tolist() == [True, True, True, False]


# -- capacity -------------------------------------------------------------------------------------------------------

CAP_IDS = [f"cap-{i}" for i in range(300)]


def test_capacity_keeps_the_best_scoring_customers_on_a_capped_channel():
    free = MODEL.rank(CAP_IDS, now=NOW, propensity=False)
    busiest = free["channel"].value_counts().idxmax()
    on_it = free.index[free["channel"] == busiest]
    assert len(on_it) > 60  # enough contention for the test to mean something
    k = 30
    capped = MODEL.rank(CAP_IDS, now=NOW, propensity=False, capacity={busiest: k})
    kept = capped.index[capped["channel"] == busiest]
    assert len(kept) == k
    top = free.loc[on_it, "score"].sort_values(ascending=False, kind="stable").index[:k]
    assert set(kept) == set(top)
    # the others were decided again without it; nobody else moved
    lost = on_it.difference(kept)
    assert capped.loc[lost, "channel"].isin([c for c in CHANNELS if c != busiest]).all()
    rest = free.index.difference(on_it)
    pd.testing.assert_frame_equal(capped.loc[rest], free.loc[rest])
    # with no other channel allowed, the bumped customers are capacity holds
    only = MODEL.rank(CAP_IDS, now=NOW, propensity=False, capacity={busiest: k}, allowed_channels=[busiest])
    assert (only["channel"] == busiest).sum() == k
    assert (only["hold_reason"] == "capacity").sum() == len(CAP_IDS) - k


@settings(max_examples=20, deadline=None)
@given(capacity=st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 80), min_size=1, max_size=4),
       day=st.integers(0, 30), policy=st.none() | policies)
def test_capacity_is_never_exceeded_and_kept_customers_outscore_bumped_ones(capacity, day, policy):
    now = NOW + pd.Timedelta(days=day)
    table = pd.DataFrame({"customer_id": CAP_IDS[:150], "tz": np.resize(ZONES, 150)})
    for c in CHANNELS:
        table[f"consent_{c}"] = True
    free = MODEL.rank(table, now=now, propensity=False, policy=policy)
    capped = MODEL.rank(table, now=now, propensity=False, policy=policy, capacity=capacity)
    counts = capped["channel"].value_counts()
    for c, k in capacity.items():
        assert counts.get(c, 0) <= k
        kept = capped["channel"] == c
        lost = (free["channel"] == c) & ~kept
        if kept.any() and lost.any():
            assert capped.loc[kept, "score"].min() >= free.loc[lost, "score"].max()
    moved = capped["channel"].astype(object).ne(free["channel"].astype(object)) & free["channel"].notna()
    # only customers who lost a capped channel are decided again
    assert free.loc[moved, "channel"].isin(list(capacity)).all()
    assert (capped["hold_reason"] == "capacity").sum() <= moved.sum()


def test_capacity_errors():
    with pytest.raises(ValueError, match=re.escape("capacity: unknown channel 'fax' (known: email, sms, push, voice)")):
        MODEL.rank(CAP_IDS[:3], now=NOW, capacity={"fax": 1})
    with pytest.raises(ValueError, match=re.escape("capacity['sms']: must be >= 0, got -1")):
        MODEL.rank(CAP_IDS[:3], now=NOW, capacity={"sms": -1})


# -- the consent store ----------------------------------------------------------------------------------------------

def _consented(model: co.ChannelModel, cid, now=NOW) -> set[str]:
    """Channels the consent store allows: with consent the only rule, a channel alone is chosen iff consented."""
    return {c for c in CHANNELS if model.choose_channel(cid, now=now, policy=OPEN, allowed_channels=[c]).channel == c}


def test_update_consent_single_and_table_forms():
    model = _model()
    model.update_consent("u1", granted=["email", "sms"])
    assert _consented(model, "u1") == {"email", "sms"}
    model.update_consent("u1", revoked=["email"])
    assert _consented(model, "u1") == {"sms"}
    table = pd.DataFrame({"customer_id": ["u1", "u2", "u3"], "consent_email": [True, None, False],
                          "consent_push": [None, True, False]})
    model.update_consent(table)
    assert _consented(model, "u1") == {"email", "sms"}  # null leaves sms as it was
    assert _consented(model, "u2") == {"push"}
    assert _consented(model, "u3") == set()
    # a known customer of the log, too
    model.update_consent("eu_fall-1", granted=["voice"])
    assert _consented(model, "eu_fall-1") == {"voice"}
    assert _consented(model, "eu_fall-2") == set()


def test_update_consent_errors():
    model = _model()
    with pytest.raises(ValueError, match="granted and revoked name the same channel"):
        model.update_consent("u", granted=["sms"], revoked=["sms"])
    with pytest.raises(ValueError, match=re.escape("unknown channel 'fax' (known: email, sms, push, voice)")):
        model.update_consent("u", granted=["fax"])
    with pytest.raises(ValueError, match=re.escape("customers: missing required column 'customer_id'")):
        model.update_consent(pd.DataFrame({"consent_sms": [True]}))
    with pytest.raises(ValueError, match=re.escape("customers: column 'consent_fax' names no channel of this model "
                                                   "(expected consent_email, consent_sms, consent_push, consent_voice)")):
        model.update_consent(pd.DataFrame({"customer_id": ["u"], "consent_fax": [True]}))
    with pytest.raises(ValueError, match=re.escape("customers: no consent_<channel> column")):
        model.update_consent(pd.DataFrame({"customer_id": ["u"], "consent": [True]}))


def _unsub_logs() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a", "a", "b"],
                         "sent_at": pd.to_datetime(["2026-06-01 09:00", "2026-06-02 09:00", "2026-06-01 09:00"],
                                                   utc=True),
                         "channel": ["sms", "email", "email"], "wording": "plain",
                         "responded_at": pd.to_datetime([None, "2026-06-02 10:00", None], utc=True),
                         "unsubscribed": [True, False, False], "tz": "UTC"})


def test_unsubscribed_outcome_revokes_the_channel_and_a_grant_lifts_it():
    model = co.ChannelModel(SPACE, seed=5)
    model.update_consent("a", granted=["sms", "email"])  # recorded before the first fit: folded in by it
    model.fit(_unsub_logs(), as_of="2026-06-05")
    assert _consented(model, "a") == {"email"}
    d = model.choose_channel("a", now=NOW, policy=OPEN, allowed_channels=["sms"])
    assert d.hold_reason == "no_consent"
    # a later unsubscription through new logs revokes at once
    new = pd.DataFrame({"customer_id": ["a"], "sent_at": pd.to_datetime(["2026-06-06 09:00"], utc=True),
                        "channel": ["email"], "wording": "plain", "responded_at": pd.NaT, "unsubscribed": [True],
                        "tz": "UTC"})
    model.partial_fit(new, as_of="2026-06-09")
    assert _consented(model, "a") == set()
    # the customer opts in to SMS again: the grant lifts the unsubscription, and survives new logs
    model.update_consent("a", granted=["sms"])
    assert _consented(model, "a") == {"sms"}
    more = pd.DataFrame({"customer_id": ["b"], "sent_at": pd.to_datetime(["2026-06-09 09:00"], utc=True),
                         "channel": ["email"], "wording": "plain", "responded_at": pd.NaT, "tz": "UTC"})
    model.partial_fit(more, as_of="2026-06-10")
    assert _consented(model, "a") == {"sms"}


def test_a_grant_after_an_unsubscription_survives_re_running_the_same_night():
    """partial_fit with the same logs and as_of is documented as a no-op; it must not undo a later opt-in."""
    model = co.ChannelModel(SPACE, seed=5).fit(_unsub_logs(), as_of="2026-06-05")
    model.update_consent("a", granted=["sms"])
    assert _consented(model, "a") == {"sms"}
    model.partial_fit(_unsub_logs(), as_of="2026-06-05")
    assert _consented(model, "a") == {"sms"}


def test_an_unsubscription_is_not_overridden_by_a_consent_column_or_argument():
    """An unsubscribed outcome revokes the channel: a CRM snapshot saying consent_sms=True must not resend."""
    model = co.ChannelModel(SPACE, seed=5).fit(_unsub_logs(), as_of="2026-06-05")
    table = pd.DataFrame({"customer_id": ["a"], "consent_sms": [True], "consent_email": [False]})
    assert model.rank(table, now=NOW, policy=OPEN)["hold_reason"].iloc[0] == "no_consent"
    assert model.choose_channel("a", now=NOW, policy=OPEN, consent=["sms"]).hold_reason == "no_consent"


def test_record_send_counts_against_caps_before_and_after_a_fit():
    logs = _unsub_logs()
    model = co.ChannelModel(SPACE, seed=5).fit(logs, as_of="2026-06-05")
    policy = ContactPolicy(quiet_hours={}, caps=[Cap(2, "7D")], min_gap=None)
    now = pd.Timestamp("2026-06-07 12:00", tz="UTC")
    assert model.choose_channel("b", now=now, policy=policy, consent=CHANNELS, deadline="1h").channel is not None
    model.record_send("b", "push", at="2026-06-07 11:00")  # with the logged send of 06-01: two in 7 days
    d = model.choose_channel("b", now=now, policy=policy, consent=CHANNELS, deadline="1h")
    assert d.hold_reason == "cap"
    # the cap releases 7 days after the older send
    d = model.choose_channel("b", now=now, policy=policy, consent=CHANNELS, deadline="2D", urgent=True)
    assert d.send_at == pd.Timestamp("2026-06-08 09:00", tz="UTC")
    # a fit folds the recorded send in; the same send then arriving through the log is counted once
    same = pd.DataFrame({"customer_id": ["b"], "sent_at": pd.to_datetime(["2026-06-07 11:00"], utc=True),
                         "channel": ["push"], "wording": "plain", "responded_at": pd.NaT, "tz": "UTC"})
    model.partial_fit(same, as_of="2026-06-07 11:30")
    three = ContactPolicy(quiet_hours={}, caps=[Cap(3, "7D")], min_gap=None)
    assert model.choose_channel("b", now=now, policy=policy, consent=CHANNELS, deadline="1h").hold_reason == "cap"
    assert model.choose_channel("b", now=now, policy=three, consent=CHANNELS, deadline="1h").channel is not None
    with pytest.raises(ValueError, match=re.escape("channel: unknown channel 'fax' (known: email, sms, push, voice)")):
        model.record_send("b", "fax", at=now)


def _key(d: co.Decision) -> tuple:
    return (d.channel, d.wording, d.hour, d.send_at, d.propensity, d.hold_reason, d.escalate_to_human,
            None if np.isnan(d.score) else d.score)


def test_save_load_keeps_consent_recorded_sends_and_policy(tmp_path):
    policy = ContactPolicy(quiet_hours={"sms": (20, 9)}, caps=[Cap(1, "1D", channel="email"), Cap(3, "7D")],
                           min_gap="2h", cost={"voice": 0.4}, value=2.0, complaint_cooloff="10D", deadline="36h")
    model = co.ChannelModel(SPACE, seed=5, policy=policy).fit(_unsub_logs(), as_of="2026-06-05")
    model.update_consent("b", granted=["email", "sms", "voice"])
    model.update_consent("new", granted=["push"])
    model.record_send("b", "email", at="2026-06-10 07:00")
    model.record_send("new", "push", at="2026-06-10 09:30")
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.policy == policy
    for cid in ("a", "b", "new"):
        assert _consented(loaded, cid) == _consented(model, cid)
    assert _consented(loaded, "b") == {"email", "sms", "voice"}
    for cid in ("a", "b", "new"):
        for now in (NOW, NOW + pd.Timedelta("3h"), NOW + pd.Timedelta("1D")):
            assert _key(loaded.choose_channel(cid, now=now)) == _key(model.choose_channel(cid, now=now))
    # the recorded email send still caps email on the loaded model
    d = loaded.choose_channel("b", now=NOW, allowed_channels=["email"], deadline="3h")
    assert d.hold_reason == "cap"


def test_policy_validation_messages():
    with pytest.raises(ValueError, match=re.escape("quiet_hours['sms']: hours must be integers in 0-23, got (21, 24)")):
        ContactPolicy(quiet_hours={"sms": (21, 24)})
    with pytest.raises(ValueError, match=re.escape("Cap.max_messages: must be between 1 and 8")):
        Cap(9, "7D")
    with pytest.raises(ValueError, match=re.escape("cost['sms']: must be >= 0, got -1")):
        ContactPolicy(cost={"sms": -1})
    with pytest.raises(ValueError, match=re.escape("value: must be > 0, got 0")):
        ContactPolicy(value=0)
    with pytest.raises(ValueError, match=re.escape("ContactPolicy cost: unknown channel 'fax'")):
        co.ChannelModel(SPACE, policy=ContactPolicy(cost={"fax": 1.0}))
    with pytest.raises(ValueError, match=re.escape("deadline: must not be before now")):
        MODEL.choose_channel("x", now=NOW, deadline=NOW - pd.Timedelta("1h"))


def test_quiet_hours_hold_across_a_half_hour_dst_change():
    """Lord Howe Island springs forward 30 min (02:00 -> 02:30, 2026-10-04): 02:30-03:00 is local hour 2.

    With hour 2 quiet and the minimum gap ending at 02:50 local, the decision must not send at 02:50.
    """
    zone = "Australia/Lord_Howe"
    now = pd.Timestamp("2026-10-04 01:30", tz=zone)  # 15:00 UTC
    cid = _fresh_id("lh")
    MODEL.record_send(cid, "email", at=now - pd.Timedelta("10min"))
    policy = ContactPolicy(quiet_hours={c: (2, 3) for c in CHANNELS}, caps=[], min_gap="1h")
    # the oracle, with zoneinfo and not the policy: 01:30 local (+10:30) is 15:00 UTC the day before; 02:00
    # standard time is 02:30 daylight time (+11) at 15:30 UTC, local hour 2 lasts until 03:00 (16:00 UTC); the gap
    # ends at 15:50 UTC (02:50, quiet), so the first allowed instant is 16:00 UTC and the last the deadline
    tz = ZoneInfo(zone)
    utc = dt.timezone.utc
    assert now.to_pydatetime().astimezone(utc) == dt.datetime(2026, 10, 3, 15, 0, tzinfo=utc)
    spring = dt.datetime(2026, 10, 3, 15, 30, tzinfo=utc)
    assert (spring - dt.timedelta(microseconds=1)).astimezone(tz).strftime("%H:%M") == "01:59"
    assert spring.astimezone(tz).strftime("%H:%M %z") == "02:30 +1100"
    three = dt.datetime(2026, 10, 3, 16, 0, tzinfo=utc)
    assert three.astimezone(tz).strftime("%H:%M") == "03:00"
    for urgent in (True, False):
        d = MODEL.choose_channel(cid, now=now, tz=zone, consent=CHANNELS, policy=policy, deadline="2h", urgent=urgent)
        sent = d.send_at.to_pydatetime()
        local = sent.astimezone(tz)
        assert local.hour != 2 and local.hour == d.hour, (local, d.hour)
        assert three <= sent <= three + dt.timedelta(hours=1), sent
        if urgent:
            assert sent == three
