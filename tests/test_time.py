"""Send-time arithmetic: the cached ns path agrees with the datetime reference, across DST and odd offsets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt.data.tz import _to_ns, local_hour_weekday, next_hour_start, next_hour_start_ns, send_at_table

from conftest import one_send_log

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "America/St_Johns", "Pacific/Chatham"]


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.integers(min_value=0, max_value=3 * 365 * 86400),
    zone=st.sampled_from(ZONES),
    hour=st.integers(min_value=0, max_value=23),
)
def test_cached_next_hour_start_matches_reference(seconds, zone, hour):
    now = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    ref = next_hour_start(now, zone, hour)
    got = next_hour_start_ns(_to_ns(now), zone, hour)
    assert got == _to_ns(ref)
    local = pd.Timestamp(got, tz="UTC").tz_convert(zone)
    assert now <= pd.Timestamp(got, tz="UTC") < now + timedelta(hours=25)
    if got > _to_ns(now):
        assert local.minute == 0 and local.second == 0


def test_dst_changes_europe_and_us():
    # the day before clocks go forward: 09:00 local is 07:00 UTC in Paris, 13:00 UTC in New York
    before_eu = datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc)
    assert next_hour_start(before_eu, "Europe/Paris", 9) == datetime(2026, 3, 29, 7, 0, tzinfo=timezone.utc)
    before_us = datetime(2026, 3, 7, 18, 0, tzinfo=timezone.utc)
    assert next_hour_start(before_us, "America/New_York", 9) == datetime(2026, 3, 8, 13, 0, tzinfo=timezone.utc)
    # a skipped local hour (02:00 on the spring-forward day) maps to the instant the clock jumps to
    assert next_hour_start(before_eu, "Europe/Paris", 2) == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    # a repeated hour (fall back) maps to its first occurrence
    before_fall = datetime(2026, 10, 24, 12, 0, tzinfo=timezone.utc)
    assert next_hour_start(before_fall, "Europe/Paris", 2) == datetime(2026, 10, 25, 0, 0, tzinfo=timezone.utc)


def test_current_local_hour_sends_now_and_table_shape():
    now = datetime(2026, 11, 23, 9, 17, tzinfo=timezone.utc)
    table = send_at_table(_to_ns(now), ["UTC", "Asia/Kolkata"])
    assert table.shape == (2, 24)
    assert table[0, 9] == _to_ns(now)  # 09:17 UTC is in local hour 9
    assert table[1, 14] == _to_ns(now)  # 14:47 in Kolkata
    assert table[1, 15] == _to_ns(datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc))


def _assert_matches_pandas(t: np.ndarray, codes: np.ndarray, zones: list[str]) -> None:
    hour, weekday = local_hour_weekday(t, codes, zones)
    for k, zone in enumerate(zones):
        sel = codes == k
        local = pd.DatetimeIndex(t[sel].view("M8[ns]")).tz_localize("UTC").tz_convert(zone)
        np.testing.assert_array_equal(hour[sel], local.hour)
        np.testing.assert_array_equal(weekday[sel], local.day_of_week)


def test_local_hour_weekday_matches_pandas_fields():
    # instants 1906-2096 (before 1970 too) in zones with half-hour, 45-minute and 30-minute DST offsets;
    # a span this long is converted by pandas (too long to tabulate per quarter hour)
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
             "America/St_Johns", "Pacific/Chatham"]
    rng = np.random.default_rng(0)
    t = rng.integers(-2_000_000_000, 4_000_000_000, size=200_000) * 10**9 + rng.integers(0, 10**9, 200_000)
    _assert_matches_pandas(t, rng.integers(0, len(zones), size=t.size), zones)


@pytest.mark.parametrize("start, days", [("2026-03-20", 20), ("2026-10-20", 15), ("1937-06-25", 10),
                                         ("1916-09-25", 10), ("1905-12-25", 10)])
def test_local_hour_weekday_from_the_quarter_hour_table_matches_pandas(start, days):
    # dense instants over a short span take the tabulated path: DST changes (2026), and historical
    # offsets that change off the quarter hour (Amsterdam 1916 and 1937, Dublin 1916, Kolkata 1905)
    zones = ["Europe/Amsterdam", "Europe/Dublin", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe",
             "Pacific/Chatham", "America/St_Johns", "UTC"]
    rng = np.random.default_rng(1)
    t0 = pd.Timestamp(start, tz="UTC").value
    t = t0 + rng.integers(0, days * 86_400 * 10**9, size=400_000)
    _assert_matches_pandas(t, rng.integers(0, len(zones), size=t.size), zones)


def test_local_hour_weekday_at_the_limits_of_pandas_timestamps():
    # the first and last quarter hours that pandas can hold: no table slot may fall outside them
    # (east of UTC the last instants have no local time in pandas; west of it, the first ones)
    first = pd.Timestamp.min.value + np.arange(100) * 10**9
    last = pd.Timestamp.max.value - np.arange(100) * 10**9
    _assert_matches_pandas(first, np.zeros(100, dtype=np.int64), ["Asia/Tokyo"])
    _assert_matches_pandas(last, np.zeros(100, dtype=np.int64), ["America/New_York"])


TWO_CHANNELS = co.ArmSpace(channels=["email", "sms"])

def test_rows_without_tz_keep_the_learned_zone():
    model = co.ChannelModel(TWO_CHANNELS).partial_fit(one_send_log(["a"], tz=["Asia/Tokyo"]), as_of="2026-01-02")
    model.partial_fit(one_send_log(["a"], day="2026-01-05"), as_of="2026-01-06")
    model.partial_fit(one_send_log(["a"], day="2026-01-07", tz=[None]), as_of="2026-01-08")
    st = model.state_
    assert st.zones[st.zone[st.index.row_of("a")]] == "Asia/Tokyo"
    d = model.choose_channel("a", now="2026-01-09 00:00")
    assert d.send_at.tz_convert("Asia/Tokyo").hour == d.hour
