"""Send time: local-hour slots across DST, send_at in the customer's zone, urgent sends, recovery of true hours.

Measured figures (seeded, asserted below with margins):

* recovery: a single-channel population with clear preferred hours (a von Mises
  bump of concentration 4 around an integer hour), 80 uniformly random sends per
  customer; the default model's ``send_at`` lands within +-1 h of the true best
  local hour for 61.5% of the customers (exactly on it: 25%); chance is 12.5%
  (4.2%).
* smoothing, 12 sends per customer (clear preferred hours, concentration 2):
  share within +-1 h of the true best hour, hour_smoothing=0 -> 1.0, seeds 0-2:
  0.310 -> 0.323, 0.413 -> 0.422, 0.278 -> 0.302 (kernel normalised to sum 1);
  with the own hour weighted 1 (neighbours as weaker extra evidence): 0.393,
  0.452, 0.367. The test asks for +4 points on seeds 0 and 1 pooled.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt import ContactPolicy
from channelopt.sim import UniformPolicy, make_population, simulate_logs
from channelopt.policy.slots import slot_tables

H = pd.Timedelta("1h")

#: (zone, local day of a 2026 DST change, slots that day, the hour skipped or repeated)
DST_DAYS = [
    ("Europe/Paris", "2026-03-29", 23, 2),
    ("Europe/Paris", "2026-10-25", 25, 2),
    ("America/New_York", "2026-03-08", 23, 2),
    ("America/New_York", "2026-11-01", 25, 1),
]


def _slots(now: pd.Timestamp, deadline: pd.Timestamp, zone: str) -> pd.DataFrame:
    start, end, hour, wd, n = slot_tables(now.value, deadline.value, [zone])
    k = int(n[0])
    return pd.DataFrame({"start": pd.to_datetime(start[0, :k], utc=True), "end": pd.to_datetime(end[0, :k], utc=True),
                         "hour": hour[0, :k], "weekday": wd[0, :k]})


@pytest.mark.parametrize(("zone", "day", "n_slots", "odd_hour"), DST_DAYS)
def test_slots_of_a_dst_day(zone, day, n_slots, odd_hour):
    midnight = pd.Timestamp(day, tz=zone)
    next_midnight = pd.Timestamp(pd.Timestamp(day) + pd.Timedelta("1D"), tz=zone)
    s = _slots(midnight, next_midnight - pd.Timedelta("1ns"), zone)
    assert len(s) == n_slots
    hours = s["hour"].tolist()
    if n_slots == 23:
        assert odd_hour not in hours and hours == [h for h in range(24) if h != odd_hour]
    else:
        assert hours.count(odd_hour) == 2 and sorted(set(hours)) == list(range(24))
    # contiguous, from now, each slot one real hour long, local hour and weekday right at both ends
    assert s["start"].iloc[0] == midnight
    assert (s["start"].iloc[1:].to_numpy() == s["end"].iloc[:-1].to_numpy()).all()
    assert ((s["end"] - s["start"]) == H).all()
    assert s["end"].iloc[-1] == next_midnight
    for col in ("start", "end"):
        t = s[col] if col == "start" else s[col] - pd.Timedelta("1ns")
        local = t.dt.tz_convert(zone)
        assert (local.dt.hour.to_numpy() == s["hour"].to_numpy()).all()
        assert (local.dt.day_of_week.to_numpy() == s["weekday"].to_numpy()).all()


def test_slots_start_now_and_stop_at_the_deadline():
    now = pd.Timestamp("2026-03-08 06:20", tz="UTC")  # 01:20 in New York, 40 min before the clocks jump
    s = _slots(now, now + pd.Timedelta("3h"), "America/New_York")
    assert s["start"].tolist() == [now] + [pd.Timestamp(f"2026-03-08 0{h}:00", tz="UTC") for h in (7, 8, 9)]
    assert s["hour"].tolist() == [1, 3, 4, 5]
    short = _slots(now, now + pd.Timedelta("10min"), "America/New_York")
    assert short["start"].tolist() == [now] and short["hour"].tolist() == [1]
    assert len(_slots(now, now - pd.Timedelta("1s"), "UTC")) == 0


ODD_ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu",
             "Pacific/Chatham", "UTC"]
CHANGES = [pd.Timestamp(t, tz="UTC") for t in ("2026-03-08 07:00", "2026-03-29 01:00", "2026-04-04 15:00",
                                                "2026-04-04 14:00", "2026-10-03 15:30", "2026-09-26 14:00",
                                                "2026-10-25 01:00", "2026-11-01 06:00")]


@settings(max_examples=80, deadline=None)
@given(zone=st.sampled_from(ODD_ZONES), change=st.sampled_from(CHANGES), offset_s=st.integers(-6 * 3600, 6 * 3600),
       span_min=st.integers(0, 30 * 60))
@example(zone="Australia/Lord_Howe", change=CHANGES[4], offset_s=-1800, span_min=120)
def test_every_instant_of_a_slot_has_the_slot_local_hour(zone, change, offset_s, span_min):
    """Including zones with half-hour DST changes (Lord Howe) and :45 offsets (Kathmandu, Chatham)."""
    now = change + pd.Timedelta(seconds=offset_s)
    deadline = now + pd.Timedelta(minutes=span_min)
    s = _slots(now, deadline, zone)
    assert s["start"].iloc[0] == now and (s["start"] <= deadline).all()
    assert (s["start"].iloc[1:].to_numpy() == s["end"].iloc[:-1].to_numpy()).all()
    for row in s.itertuples(index=False):
        # the usable part of a slot ends at the next slot or at the deadline; local hours change on UTC
        # quarter hours: probe the start, every quarter inside, and the last instant
        last = min(row.end - pd.Timedelta("1ns"), deadline)
        inside = pd.date_range(row.start.ceil("15min"), last, freq="15min")
        probes = pd.DatetimeIndex([row.start, last]).append(inside)
        assert set(probes.tz_convert(zone).hour) == {row.hour}, (zone, row)


# -- decisions across DST -------------------------------------------------------------------------------------------

SPACE = co.ArmSpace(channels=["email", "sms", "push"])
ZONES2 = ("Europe/Paris", "America/New_York")


def _logs(n: int = 600, n_customers: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, n)
    sent = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(rng.integers(0, 50 * 1440, n), unit="min")
    replied = rng.random(n) < 0.3
    return pd.DataFrame({"customer_id": [f"c-{c}" for c in cust], "sent_at": sent,
                         "channel": rng.choice(SPACE.channels, n),
                         "responded_at": pd.Series(sent + pd.to_timedelta(rng.integers(5, 900, n), unit="min")
                                                   ).where(replied).to_numpy(),
                         "tz": np.array(ZONES2)[cust % 2]})


MODEL = co.ChannelModel(SPACE, seed=3).fit(_logs(), as_of="2026-03-01")
IDS = [f"c-{i}" for i in range(40)]


@pytest.mark.parametrize(("zone", "day", "n_slots", "odd_hour"), DST_DAYS)
def test_send_at_local_hour_is_the_decided_hour_across_dst(zone, day, n_slots, odd_hour):
    policy = ContactPolicy(caps=[], min_gap=None, quiet_hours={"sms": (21, 8), "push": (odd_hour, odd_hour + 1)})
    start = pd.Timestamp(day, tz=zone) - pd.Timedelta("12h")
    table = pd.DataFrame({"customer_id": IDS, "tz": zone, "consent_email": True, "consent_sms": True,
                          "consent_push": True})
    seen_hours = set()
    for k in range(14):
        now = start + pd.Timedelta(minutes=130 * k + 7)
        for pol, deadline in ((None, None), (policy, "6h"), (policy, "30h")):
            for cid in IDS[:3]:
                d = MODEL.choose_channel(cid, now=now, tz=zone, policy=pol, deadline=deadline,
                                         consent=None if pol is None else SPACE.channels)
                local = d.send_at.tz_convert(zone)
                assert local.hour == d.hour and now <= d.send_at <= now + pd.Timedelta(deadline or "24h")
                if pol is not None:
                    assert not pol.is_quiet(d.channel, local.hour)
            ranked = MODEL.rank(table, now=now, policy=pol, deadline=deadline, propensity=False)
            local = ranked["send_at"].dt.tz_convert(zone)
            assert (local.dt.hour.to_numpy() == ranked["hour"].to_numpy(dtype=int)).all()
            seen_hours |= set(local.dt.hour)
    assert len(seen_hours) > 12  # the decisions do spread over the day


def test_urgent_sends_now_when_allowed():
    now = pd.Timestamp("2026-06-10 07:10:30", tz="UTC")  # 09:10:30 in Paris, 03:10:30 in New York
    for cid in IDS[:5]:
        assert MODEL.choose_channel(cid, now=now, urgent=True).send_at == now
        d = MODEL.choose_channel(cid, now=now, urgent=True, tz="Europe/Paris", policy=ContactPolicy(),
                                 consent=["sms"])
        assert d.send_at == now and d.hour == 9
        # 03:10 in New York is quiet for SMS: the first allowed instant is 08:00 local
        d = MODEL.choose_channel(cid, now=now, urgent=True, tz="America/New_York", policy=ContactPolicy(),
                                 consent=["sms"])
        assert d.send_at == pd.Timestamp("2026-06-10 08:00", tz="America/New_York") and d.hour == 8
    ranked = MODEL.rank(pd.DataFrame({"customer_id": IDS, "tz": "Asia/Kolkata"}), now=now, urgent=True)
    assert (ranked["send_at"] == now).all()
    # not urgent: the best hour of the day, usually later
    later = MODEL.rank(pd.DataFrame({"customer_id": IDS, "tz": "Asia/Kolkata"}), now=now)
    assert (later["send_at"] >= now).all() and (later["send_at"] > now).mean() > 0.5


def test_deadline_bounds_the_send_time():
    now = pd.Timestamp("2026-06-10 07:10", tz="UTC")
    for deadline, limit in (("10min", now + pd.Timedelta("10min")), ("3h", now + pd.Timedelta("3h")),
                            (now + pd.Timedelta("40h"), now + pd.Timedelta("40h"))):
        ranked = MODEL.rank(IDS, now=now, deadline=deadline, propensity=False)
        assert ((ranked["send_at"] >= now) & (ranked["send_at"] <= limit)).all()
    wide = MODEL.rank(IDS, now=now, deadline="72h", propensity=False)
    assert (wide["send_at"] > now + pd.Timedelta("24h")).any()  # beyond the default day when the best slot is
    with pytest.raises(ValueError, match="deadline: must not be before now"):
        MODEL.choose_channel("c-1", now=now, deadline=now - pd.Timedelta("1min"))


# -- the simulator's true preferred hours ---------------------------------------------------------------------------

def _clear_hours(pop, concentration: float):
    """The population with a von Mises bump of the given concentration around an integer local hour."""
    peak = np.round(pop.peak_hour) % 24
    hours = np.arange(24.0)
    effect = np.exp(concentration * np.cos(2 * np.pi * (hours[None, :] - peak[:, None]) / 24))
    return dataclasses.replace(pop, hour_effect=effect / effect.mean(axis=1, keepdims=True), peak_hour=peak)


def _hour_recovery(model: co.ChannelModel, pop, end: pd.Timestamp, rounds: int) -> tuple[float, float]:
    """Shares of decisions whose send_at is on / within one hour of the customer's true best local hour."""
    best = pop.best_arm("hour")
    exact = near = 0.0
    rows = np.arange(len(pop))
    for k in range(rounds):
        ranked = model.rank(pop.customers_table(), now=end + pd.Timedelta(hours=7 * k + 0.5), propensity=False)
        local, _ = pop.local_time(rows, ranked["send_at"])
        assert (local == ranked["hour"].to_numpy(dtype=int)).all()
        gap = np.abs(local - best)
        gap = np.minimum(gap, 24 - gap)
        exact += (gap == 0).mean() / rounds
        near += (gap <= 1).mean() / rounds
    return exact, near


def _uniform_history(pop, space, days: int, seed: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    start = pd.Timestamp("2026-09-01", tz="UTC")
    logs = simulate_logs(pop, UniformPolicy(space, seed=seed), start=start, days=days, sends_per_day=len(pop),
                         seed=seed)
    return logs, start + pd.Timedelta(days=days + 4)


def test_send_at_lands_in_the_true_best_local_hour_with_enough_history():
    space = co.ArmSpace(channels=["email"])
    pop = _clear_hours(make_population(space, 300, seed=0, base_rate=(0.12, 0.18)), concentration=4.0)
    logs, end = _uniform_history(pop, space, days=80, seed=0)
    assert logs.groupby("customer_id").size().min() == 80
    model = co.ChannelModel(space, seed=0).fit(logs, as_of=end)
    exact, near = _hour_recovery(model, pop, end, rounds=4)
    # measured: 0.25 exact, 0.615 within one hour (chance: 0.042 and 0.125)
    assert near > 0.5 and exact > 0.15, (exact, near)


def test_hour_smoothing_helps_customers_with_few_sends():
    """12 sends per customer: neighbouring hours sharing evidence must find the best hour more often."""
    space = co.ArmSpace(channels=["email"], weekdays=False)
    gains, segment_gains = [], []
    for seed in (0, 1):
        pop = _clear_hours(make_population(space, 1000, seed=seed, base_rate=(0.2, 0.5)), concentration=2.0)
        logs, end = _uniform_history(pop, space, days=12, seed=seed)
        near = {}
        for width in (0.0, 1.0):
            # without the segment column: the population prior, the customer's own 12 sends
            model = co.ChannelModel(space, seed=seed, hour_smoothing=width).fit(logs.drop(columns="segment"),
                                                                                as_of=end)
            near[width] = _hour_recovery(model, pop, end, rounds=6)[1]
        gains.append(near[1.0] - near[0.0])
        # with it, each customer's segment prior carries the segment's typical peak hour
        with_segments = co.ChannelModel(space, seed=seed, hour_smoothing=1.0).fit(logs, as_of=end)
        segment_gains.append(_hour_recovery(with_segments, pop, end, rounds=6)[1] - near[1.0])
    # measured with the kernel normalised to sum 1: +0.013, +0.009; with the own hour weighted 1: +0.083, +0.039
    assert np.mean(gains) > 0.04, gains
    # measured: +0.029, +0.053, as with half_life=None before issue 14 part 3 (+0.024, +0.053); before it the
    # decayed statistics overrated the segment priors' strength, which made them count more (+0.105, +0.079)
    assert np.mean(segment_gains) > 0.025, segment_gains
