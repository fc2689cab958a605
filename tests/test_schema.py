"""The response-log boundary: every bad input gets one clear ValueError naming the column and
the offending value; good input in any accepted form encodes to the same typed arrays."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.data.tz import NAT
from channelopt.data.schema import encode_logs

AS_OF = "2026-02-01"


def base_frame(**columns) -> pd.DataFrame:
    data = {
        "customer_id": ["a", "b", "c"],
        "sent_at": ["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-06 11:00"],
        "channel": ["email", "sms", "push"],
        "responded_at": [None, "2026-01-05 11:00", None],
    }
    data.update(columns)
    return pd.DataFrame(data)


def local(enc, space: co.ArmSpace, dimension: str) -> np.ndarray:
    """Arm index within ``dimension`` of every encoded row (-1 when unknown)."""
    d = space.dimension_index(dimension)
    col = enc.arms[:, d].astype(np.int64)
    return np.where(col >= 0, col - space.offsets[d], -1)


def raises(message: str):
    return pytest.raises(ValueError, match=re.escape(message))


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["customer_id", "sent_at", "channel", "responded_at"])
def test_missing_required_column(space, column):
    with raises(f"missing required column {column!r}"):
        encode_logs(base_frame().drop(columns=column), space, "UTC")


def test_unknown_channel(space):
    with raises("column 'channel': unknown value 'fax' in row 1"):
        encode_logs(base_frame(channel=["email", "fax", "sms"]), space, "UTC")


def test_missing_channel(space):
    with raises("column 'channel': missing value in row 2"):
        encode_logs(base_frame(channel=["email", "sms", None]), space, "UTC")


def test_unknown_wording(space):
    with raises("column 'wording': unknown value 'shouty' in row 2"):
        encode_logs(base_frame(wording=["plain", "urgent", "shouty"]), space, "UTC")


@pytest.mark.parametrize("column", ["sent_at", "responded_at"])
def test_unparseable_timestamp(space, column):
    values = list(base_frame()[column])
    values[1] = "next tuesday"
    with raises(f"column {column!r}: cannot parse 'next tuesday' in row 1 as a timestamp"):
        encode_logs(base_frame(**{column: values}), space, "UTC")


def test_missing_sent_at(space):
    with raises("column 'sent_at': missing timestamp in row 0"):
        encode_logs(base_frame(sent_at=[None, "2026-01-05 10:00", "2026-01-06 11:00"]), space, "UTC")


def test_responded_before_sent(space):
    with raises("column 'responded_at': 2026-01-05 09:59:00+00:00 in row 1 is before sent_at "
                "2026-01-05 10:00:00+00:00"):
        encode_logs(base_frame(responded_at=[None, "2026-01-05 09:59", None]), space, "UTC")


@pytest.mark.parametrize("value, shown", [(0, "0.0"), (1.5, "1.5"), (-1, "-1.0")])
def test_propensity_outside_unit_interval(space, value, shown):
    with raises(f"column 'propensity': value {shown} in row 2 is outside (0, 1]"):
        encode_logs(base_frame(propensity=[0.5, 1.0, value]), space, "UTC")


def test_propensity_not_a_number(space):
    with raises("column 'propensity': 'abc' in row 0 is not a number"):
        encode_logs(base_frame(propensity=["abc", 0.5, 0.5]), space, "UTC")


def test_propensity_in_range_is_kept(space):
    enc = encode_logs(base_frame(propensity=[1.0, 1e-9, None]), space, "UTC")
    np.testing.assert_array_equal(enc.propensity[:2], [1.0, 1e-9])
    assert np.isnan(enc.propensity[2])


def test_unknown_time_zone(space):
    with raises("column 'tz': unknown time zone 'Mars/Olympus'"):
        encode_logs(base_frame(tz=["UTC", "Europe/Paris", "Mars/Olympus"]), space, "UTC")
    with pytest.raises(ValueError, match=r"in row 2\b"):
        encode_logs(base_frame(tz=["UTC", "Europe/Paris", "Mars/Olympus"]), space, "UTC")


def test_unknown_default_time_zone(space):
    with raises("default_tz: unknown time zone 'Nowhere/Land'"):
        co.ChannelModel(space, default_tz="Nowhere/Land")


def test_duplicate_event_id_within_frame(space):
    with raises("column 'event_id': duplicate value 'e2' in rows 1 and 2"):
        encode_logs(base_frame(event_id=["e1", "e2", "e2"]), space, "UTC")
    with raises("column 'event_id': duplicate value 7 in rows 0 and 2"):
        encode_logs(base_frame(event_id=[7, 8, 7]), space, "UTC")


@pytest.mark.parametrize("as_of", [AS_OF, None])
def test_duplicate_event_id_across_chunks(space, as_of):
    first = base_frame(event_id=["e1", "e2", "e3"])
    second = base_frame(customer_id=["d", "e", "f"], event_id=["e4", "e5", "e2"])
    with raises("column 'event_id': duplicate value 'e2' in row 5"):  # row counted across chunks
        co.ChannelModel(space).fit([first, second], as_of=as_of)
    model = co.ChannelModel(space).fit([first, base_frame(customer_id=["d", "e", "f"], event_id=["e4", "e5", "e6"])],
                                       as_of=as_of)
    assert model.state_.n_customers == 6


def test_empty_frame(space):
    with raises("logs: the frame is empty (0 rows)"):
        encode_logs(base_frame().iloc[:0], space, "UTC")
    with raises("logs: the frame is empty (0 rows)"):
        co.ChannelModel(space).fit(base_frame().iloc[:0])


def test_no_frames_at_all(space):
    with raises("logs: no frames to learn from"):
        co.ChannelModel(space).fit([])


def test_null_customer_id(space):
    with raises("column 'customer_id': missing id in row 1"):
        encode_logs(base_frame(customer_id=["a", None, "c"]), space, "UTC")


def test_null_customer_id_row_counted_across_chunks(space):
    with raises("column 'customer_id': missing id in row 4"):
        co.ChannelModel(space).fit([base_frame(), base_frame(customer_id=["x", None, "z"])], as_of=AS_OF)


@pytest.mark.parametrize("ids, message", [
    (["a", "b", 5], "found 5 (an integer) in row 2"),
    ([5, 6, "a"], "found 'a' (a string) in row 2"),
])
def test_mixed_str_and_int_ids(space, ids, message):
    with raises(f"column 'customer_id': ids must be all strings or all integers; {message}"):
        encode_logs(base_frame(customer_id=ids), space, "UTC")
    with raises(message):
        co.ChannelModel(space).fit(base_frame(customer_id=ids), as_of=AS_OF)


def test_mixed_ids_named_even_when_the_row_is_pending(space):
    # the offending row is sent after as_of; it must still be rejected, with its true row number
    frame = base_frame(customer_id=["a", 5, "c"], sent_at=["2026-01-05", "2026-03-01", "2026-01-06"])
    with raises("found 5 (an integer) in row 1"):
        co.ChannelModel(space).fit(frame, as_of=AS_OF)


def test_fractional_id(space):
    with raises("column 'customer_id': id 2.5 in row 1 is not a whole number"):
        encode_logs(base_frame(customer_id=[1.0, 2.5, 3.0]), space, "UTC")


def test_id_kind_must_match_across_chunks(space):
    with raises("customer_id: this model's ids are strings, got 5"):
        co.ChannelModel(space).fit([base_frame(), base_frame(customer_id=[5, 6, 7])], as_of=AS_OF)


def test_non_boolean_flag(space):
    with raises("column 'unsubscribed': 'maybe' in row 1 is not a boolean"):
        encode_logs(base_frame(unsubscribed=[False, "maybe", True]), space, "UTC")


def test_not_a_frame(space):
    with raises("logs: item 1 of the iterable is a dict, not a DataFrame"):
        co.ChannelModel(space).fit([base_frame(), {"customer_id": ["a"]}])


# -- good input --------------------------------------------------------------------------------


def test_naive_timestamps_are_utc(space):
    naive = base_frame(sent_at=pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-06 11:00"]),
                       responded_at=pd.to_datetime([None, "2026-01-05 11:00", None]))
    aware = base_frame(sent_at=pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-06 11:00"], utc=True),
                       responded_at=pd.to_datetime([None, "2026-01-05 11:00", None], utc=True))
    a, b, c = (encode_logs(f, space, "UTC") for f in (naive, aware, base_frame()))
    for enc in (b, c):
        np.testing.assert_array_equal(a.sent_ns, enc.sent_ns)
        np.testing.assert_array_equal(a.responded_ns, enc.responded_ns)
        np.testing.assert_array_equal(a.arms, enc.arms)
    assert a.sent_ns[0] == pd.Timestamp("2026-01-05 09:00", tz="UTC").value
    assert a.responded_ns[0] == NAT and a.responded_ns[2] == NAT
    assert local(a, space, "hour").tolist() == [9, 10, 11]
    assert local(a, space, "weekday").tolist() == [0, 0, 1]  # Monday, Monday, Tuesday


def test_aware_timestamps_in_another_zone_are_converted(space):
    paris = pd.to_datetime(["2026-01-05 10:00", "2026-07-06 11:00", "2026-01-06 12:00"]).tz_localize("Europe/Paris")
    enc = encode_logs(base_frame(sent_at=paris, responded_at=[None] * 3), space, "UTC")
    expected = pd.to_datetime(["2026-01-05 09:00", "2026-07-06 09:00", "2026-01-06 11:00"], utc=True)
    np.testing.assert_array_equal(enc.sent_ns, expected.as_unit("ns").asi8)
    assert local(enc, space, "hour").tolist() == [9, 9, 11]  # local hour in the default zone, UTC


def test_iso_strings_with_offsets(space):
    enc = encode_logs(base_frame(sent_at=["2026-01-05T10:00:00+01:00", "2026-01-05 10:00", "2026-01-06T06:00:00-05:00"],
                                 responded_at=[None, "2026-01-05T12:00:00+01:00", None]), space, "UTC")
    expected = pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-06 11:00"], utc=True)
    np.testing.assert_array_equal(enc.sent_ns, expected.as_unit("ns").asi8)
    assert enc.responded_ns[1] == pd.Timestamp("2026-01-05 11:00", tz="UTC").value


def test_csv_with_string_timestamps_fits_like_the_frame(space, tmp_path, log_factory):
    logs = log_factory(n_customers=8, n_sends=60, seed=3)
    path = tmp_path / "logs.csv"
    text = logs.copy()
    text["sent_at"] = logs["sent_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    text["responded_at"] = logs["responded_at"].dt.tz_convert("Europe/Paris").dt.strftime("%Y-%m-%d %H:%M:%S%z")
    text.to_csv(path, index=False)
    as_of = logs["sent_at"].max() + pd.Timedelta(days=5)
    from_csv = co.ChannelModel(space, half_life="30D").fit(str(path), as_of=as_of).state_
    from_frame = co.ChannelModel(space, half_life="30D").fit(logs, as_of=as_of).state_
    assert list(from_csv.index.ids()) == list(from_frame.index.ids())
    np.testing.assert_array_equal(from_csv.sends, from_frame.sends)
    np.testing.assert_array_equal(from_csv.responses, from_frame.responses)
    assert from_csv.zones == from_frame.zones


@pytest.mark.parametrize("zone, utc, hour, weekday", [
    ("Europe/Paris", "2026-03-28 08:00", 9, 5),     # Saturday, CET (UTC+1)
    ("Europe/Paris", "2026-03-29 00:30", 1, 6),     # Sunday, just before the spring-forward jump
    ("Europe/Paris", "2026-03-29 01:30", 3, 6),     # Sunday, just after: 02:xx does not exist
    ("Europe/Paris", "2026-10-25 00:30", 2, 6),     # first 02:30 (CEST) ...
    ("Europe/Paris", "2026-10-25 01:30", 2, 6),     # ... and the repeated one (CET)
    ("America/New_York", "2026-03-08 06:30", 1, 6),  # EST
    ("America/New_York", "2026-03-08 07:30", 3, 6),  # EDT
    ("America/New_York", "2026-11-01 05:30", 1, 6),  # first 01:30 (EDT) ...
    ("America/New_York", "2026-11-01 06:30", 1, 6),  # ... and the repeated one (EST)
    ("America/New_York", "2026-03-10 03:00", 23, 0),  # still Monday evening locally
])
def test_local_hour_and_weekday_across_dst(space, zone, utc, hour, weekday):
    frame = base_frame(customer_id=["a", "b", "c"], sent_at=[utc, utc, utc], responded_at=[None] * 3,
                       tz=[zone, "UTC", None])
    enc = encode_logs(frame, space, "Asia/Tokyo")
    t = pd.Timestamp(utc, tz="UTC")
    tokyo = t.tz_convert("Asia/Tokyo")
    assert local(enc, space, "hour").tolist() == [hour, t.hour, tokyo.hour]
    assert local(enc, space, "weekday").tolist() == [weekday, t.day_of_week, tokyo.day_of_week]


def test_local_hour_reaches_the_state(space):
    # two sends at the same UTC instant, one customer in Paris and one in New York
    frame = pd.DataFrame({"customer_id": ["p", "n"], "sent_at": ["2026-03-29 08:00"] * 2, "channel": ["sms", "sms"],
                          "responded_at": ["2026-03-29 09:00"] * 2, "tz": ["Europe/Paris", "America/New_York"]})
    st = co.ChannelModel(space, half_life=None).fit(frame, as_of="2026-04-10").state_
    hours = st.sends[:, space.offsets[2]:space.offsets[3]]
    rows = st.index.rows_of(["p", "n"])[0]
    assert np.flatnonzero(hours[rows[0]]).tolist() == [10]  # 10:00 CEST
    assert np.flatnonzero(hours[rows[1]]).tolist() == [4]   # 04:00 EDT
    assert [st.zones[z] for z in st.zone[rows]] == ["Europe/Paris", "America/New_York"]


@pytest.mark.parametrize("ids", [[11, 12, 11], ["11", "12", "11"], np.array([11, 12, 11], dtype=np.int32)])
def test_int_and_str_ids(space, ids):
    st = co.ChannelModel(space, half_life=None).fit(base_frame(customer_id=ids), as_of=AS_OF).state_
    assert st.n_customers == 2
    assert st.index.kind == ("str" if isinstance(ids[0], str) else "int")
    assert [str(i) for i in st.index.ids()] == ["11", "12"]
    row = st.index.row_of(ids[0] if isinstance(ids[0], str) else 11)
    assert st.sends[row, :3].tolist() == [1.0, 0.0, 1.0]  # email and push for customer 11


def test_extra_dimension_column():
    space = co.ArmSpace(channels=["email", "voice_call"], hours=False, weekdays=False,
                        extra={"voice": ["male", "female"]})
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "sent_at": ["2026-01-05"] * 3,
                          "channel": ["voice_call", "voice_call", "email"],
                          "voice": ["female", "male", None], "responded_at": [None] * 3})
    enc = encode_logs(frame, space, "UTC")
    assert local(enc, space, "voice").tolist() == [1, 0, -1]
    with raises("column 'voice': unknown value 'robot' in row 1"):
        encode_logs(frame.assign(voice=["female", "robot", None]), space, "UTC")
    without = encode_logs(frame.drop(columns="voice"), space, "UTC")
    assert local(without, space, "voice").tolist() == [-1, -1, -1]


def test_unknown_columns_are_ignored(space):
    plain = encode_logs(base_frame(), space, "UTC")
    noisy = encode_logs(base_frame(campaign=[{"x": 1}, None, object()], score=[1, 2, 3]), space, "UTC")
    for name in ("sent_ns", "responded_ns", "arms", "unsubscribed", "complained", "zone_codes"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(noisy, name))


def test_flags_accept_bools_ints_and_strings(space):
    enc = encode_logs(base_frame(unsubscribed=["true", "0", None], complained=[0, 1, 1]), space, "UTC")
    assert enc.unsubscribed.tolist() == [True, False, False]
    assert enc.complained.tolist() == [False, True, True]


def test_docstring_example_encoding(space):
    small = co.ArmSpace(channels=["email", "sms"])
    enc = encode_logs(pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-05 09:00"], "channel": ["sms"],
                                    "responded_at": [None]}), small, "UTC")
    assert enc.arms.tolist() == [[1, 11, 26]]  # sms, 09h, Monday in the flat layout 2 + 24 + 7
