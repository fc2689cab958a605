"""Bad inputs over the API and the command line: one clear error each, and nothing changes.

Every case of the tables below gives one exact message (the column, row and
value, or the argument) and leaves the model (every array of ``state_``,
``as_of_``, ``last_fit_``) or, for the command line, every file as it was; the
command line prints one line on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.apps.cli import main

from conftest import T0, make_logs, one_send_log

AS_OF = T0 + pd.Timedelta(days=35)
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
LONG = "x" * 10_000_000  # a 10 MB value: messages show 56 characters of it


@pytest.fixture(scope="module")
def model() -> co.ChannelModel:
    """A small fitted model; every case must leave it as it is."""
    return co.ChannelModel(SPACE, response_window="72h", half_life="30D", seed=7).fit(make_logs(seed=1), as_of=AS_OF)


def _logs(**columns: Any) -> pd.DataFrame:
    """A small valid log (later than the model's watermark) with some columns replaced."""
    frame = make_logs(n_customers=5, n_sends=6, seed=2, start=AS_OF + pd.Timedelta(days=1), days=1.0)
    for name, values in columns.items():
        frame[name] = values if not isinstance(values, list) else pd.Series(values, dtype=object)
    return frame


def _ids(*values: Any) -> pd.Series:
    return pd.Series(list(values) + ["c-000"] * (6 - len(values)), dtype=object)


def _dup_columns() -> pd.DataFrame:
    frame = _logs()
    return frame.set_axis([c if c != "wording" else "channel" for c in frame.columns], axis=1)


def _future_row() -> pd.DataFrame:
    frame = _logs()
    frame.loc[3, "sent_at"] = pd.Timestamp("2200-01-01", tz="UTC")
    return frame


def _future_reply() -> pd.DataFrame:
    frame = _logs()
    frame["responded_at"] = frame["responded_at"].astype("datetime64[ns, UTC]")
    frame.loc[4, "responded_at"] = pd.Timestamp("2200-01-01", tz="UTC")
    return frame


_RANGE = "is outside the integer id range [-2**63, 2**63) (store such ids as strings)"
_SURROGATE = "is not valid text (it holds a lone surrogate, which has no UTF-8 encoding)"
_YEARS = "is outside the supported range of timestamps (years 1677-2262)"
_FUTURE = ("is more than 1 day after the current time; the default as_of (the latest timestamp in the logs) would "
           "move the model's watermark there and every later partial_fit would be refused: pass as_of explicitly")
_TZ = "(expected an IANA name such as 'Europe/Paris')"
_SHORT = "'" + "x" * 56 + "...' (10000000 characters)"

# id, call on the fitted model, expected message (a ValueError)
API_CASES: list[tuple[str, Callable[[co.ChannelModel], Any], str]] = [
    # -- partial_fit / fit: the log
    ("uint64 id above 2**63", lambda m: m.partial_fit(_logs(customer_id=np.array([5, 2**63, 1, 2, 3, 4], dtype=np.uint64))),
     f"column 'customer_id': id 9223372036854775808 in row 1 {_RANGE}"),
    ("int id 2**64", lambda m: m.partial_fit(_logs(customer_id=[1, 2, 2**64, 3, 4, 5])),
     f"column 'customer_id': id 18446744073709551616 in row 2 {_RANGE}"),
    ("int id below -2**63", lambda m: m.partial_fit(_logs(customer_id=[-(2**63) - 1, 2, 3, 4, 5, 6])),
     f"column 'customer_id': id -9223372036854775809 in row 0 {_RANGE}"),
    ("float id 1e30", lambda m: m.partial_fit(_logs(customer_id=np.full(6, 1e30))),
     f"column 'customer_id': id 1e+30 in row 0 {_RANGE}"),
    ("float id inf", lambda m: m.partial_fit(_logs(customer_id=np.array([1.0, np.inf, 2, 3, 4, 5]))),
     "column 'customer_id': id inf in row 1 is not a whole number"),
    ("lone surrogate id", lambda m: m.partial_fit(_logs(customer_id=_ids("c-001", "c-\ud800"))),
     f"column 'customer_id': id 'c-\\ud800' in row 1 {_SURROGATE}"),
    ("lone surrogate event_id", lambda m: m.partial_fit(_logs(event_id=["a", "b", "c", "\udfff", "e", "f"])),
     f"column 'event_id': id '\\udfff' in row 3 {_SURROGATE}"),
    ("boolean ids", lambda m: m.partial_fit(_logs(customer_id=True)),
     "column 'customer_id': ids must be strings or integers, got booleans"),
    ("mixed ids", lambda m: m.partial_fit(_logs(customer_id=_ids("c-001", 7))),
     "column 'customer_id': ids must be all strings or all integers; found 7 (an integer) in row 1 after string ids"),
    ("list id", lambda m: m.partial_fit(_logs(customer_id=_ids([1]))),
     "column 'customer_id': ids must be all strings or all integers; found [1] (a list) in row 0"),
    ("missing id", lambda m: m.partial_fit(_logs(customer_id=_ids("c-001", None))),
     "column 'customer_id': missing id in row 1"),
    ("duplicate column names", lambda m: m.partial_fit(_dup_columns()),
     "logs: column 'channel' appears 2 times (the columns of a log must have distinct names)"),
    ("missing column", lambda m: m.partial_fit(_logs().drop(columns="responded_at")),
     "logs: missing required column 'responded_at' (columns present: customer_id, sent_at, channel, wording, "
     "unsubscribed, complained, tz, event_id)"),
    ("empty frame", lambda m: m.partial_fit(_logs().iloc[:0]), "logs: the frame is empty (0 rows); give as_of to fit "
     "no rows (the watermark moves to as_of, decisions use the prior)"),
    ("logs None", lambda m: m.partial_fit(None),
     "logs: expected a DataFrame, an iterable of DataFrames or a path, got NoneType"),
    ("logs a number", lambda m: m.partial_fit(5),
     "logs: expected a DataFrame, an iterable of DataFrames or a path, got int"),
    ("iterable of non-frames", lambda m: m.partial_fit([_logs(), {"a": 1}]),
     "logs: item 1 of the iterable is a dict, not a DataFrame"),
    ("sent_at in 2200, default as_of", lambda m: m.partial_fit(_future_row()),
     f"logs: column 'sent_at': 2200-01-01 00:00:00+00:00 in row 3 {_FUTURE}"),
    ("responded_at in 2200, default as_of, second chunk", lambda m: m.partial_fit([_logs(), _future_reply()]),
     f"logs: column 'responded_at': 2200-01-01 00:00:00+00:00 in row 10 {_FUTURE}"),
    ("sent_at as numbers", lambda m: m.partial_fit(_logs(sent_at=np.arange(6))),
     "column 'sent_at': cannot parse 0 in row 0 as a timestamp (numbers are not timestamps)"),
    ("sent_at bad offset", lambda m: m.partial_fit(_logs(sent_at=["2026-04-07 09:00+25:00"] * 6)),
     "column 'sent_at': cannot parse '2026-04-07 09:00+25:00' in row 0 as a timestamp"),
    ("sent_at in 2500", lambda m: m.partial_fit(_logs(sent_at=["2026-04-07"] * 5 + ["2500-01-01"])),
     f"column 'sent_at': '2500-01-01' in row 5 {_YEARS}"),
    ("sent_at datetime in 1500", lambda m: m.partial_fit(_logs(sent_at=[dt.datetime(1500, 1, 1)] * 6)),
     f"column 'sent_at': datetime.datetime(1500, 1, 1, 0, 0) in row 0 {_YEARS}"),
    ("responded_at a number", lambda m: m.partial_fit(_logs(responded_at=1.5)),
     "column 'responded_at': cannot parse 1.5 in row 0 as a timestamp (numbers are not timestamps)"),
    ("channel a list", lambda m: m.partial_fit(_logs(channel=[["sms"]] * 6)),
     "column 'channel': value ['sms'] in row 0 is not a name (expected a string)"),
    ("channel unknown number", lambda m: m.partial_fit(_logs(channel=np.ones(6, dtype=np.int64))),
     "column 'channel': unknown value 1 in row 0 (known: email, sms, push)"),
    ("channel 10 MB string", lambda m: m.partial_fit(_logs(channel=[LONG] * 6)),
     f"column 'channel': unknown value {_SHORT} in row 0 (known: email, sms, push)"),
    ("wording unknown", lambda m: m.partial_fit(_logs(wording="loud")),
     "column 'wording': unknown value 'loud' in row 0 (known: plain, urgent)"),
    ("tz unknown", lambda m: m.partial_fit(_logs(tz="Mars/Base")),
     f"column 'tz': unknown time zone 'Mars/Base' {_TZ} in row 0"),
    ("tz 10 MB string", lambda m: m.partial_fit(_logs(tz=LONG)),
     f"column 'tz': unknown time zone {_SHORT} {_TZ} in row 0"),
    ("propensity inf", lambda m: m.partial_fit(_logs(propensity=np.inf)),
     "column 'propensity': value inf in row 0 is outside (0, 1]"),
    ("propensity text", lambda m: m.partial_fit(_logs(propensity="high")),
     "column 'propensity': 'high' in row 0 is not a number"),
    ("unsubscribed not a boolean", lambda m: m.partial_fit(_logs(unsubscribed="maybe")),
     "column 'unsubscribed': 'maybe' in row 0 is not a boolean (expected true/false, yes/no or 1/0)"),
    ("event_id missing", lambda m: m.partial_fit(_logs(event_id=["a", None, "c", "d", "e", "f"])),
     "column 'event_id': missing value in row 1"),
    ("event_id a list", lambda m: m.partial_fit(_logs(event_id=[[1]] * 6)),
     "column 'event_id': ids must be all strings or all integers; found [1] in row 0"),
    ("event_id repeated", lambda m: m.partial_fit(_logs(event_id=["a", "b", "a", "d", "e", "f"])),
     "column 'event_id': duplicate value 'a' in rows 0 and 2"),
    ("event_id repeated across chunks", lambda m: m.partial_fit([_logs(), _logs()]),
     "column 'event_id': duplicate value 'e-2-0' in row 6 (the same event_id appears in an earlier chunk)"),
    ("as_of datetime in 2500", lambda m: m.partial_fit(_logs(), as_of=dt.datetime(2500, 1, 1)),
     f"as_of: datetime.datetime(2500, 1, 1, 0, 0) {_YEARS}"),
    ("as_of a number", lambda m: m.partial_fit(_logs(), as_of=5),
     "as_of: cannot parse 5 as a timestamp (numbers are not timestamps)"),
    ("as_of NaN", lambda m: m.partial_fit(_logs(), as_of=float("nan")), "as_of: a timestamp is required, got nan"),
    ("as_of text", lambda m: m.partial_fit(_logs(), as_of="next tuesday"),
     "as_of: cannot parse 'next tuesday' as a timestamp"),
    ("as_of before the watermark", lambda m: m.partial_fit(_logs(), as_of=T0),
     "as_of: must not be before the model's watermark (2026-04-06 09:00:00+00:00), got 2026-03-02 09:00:00+00:00"),
    # -- rank
    ("rank(None)", lambda m: m.rank(None, now=AS_OF),
     "customers: expected a DataFrame, a Parquet/CSV path or a sequence of ids, got NoneType"),
    ("rank(a number)", lambda m: m.rank(5, now=AS_OF),
     "customers: expected a DataFrame, a Parquet/CSV path or a sequence of ids, got int"),
    ("rank(a dict)", lambda m: m.rank({"customer_id": ["c-001"]}, now=AS_OF),
     "customers: expected a DataFrame, a Parquet/CSV path or a sequence of ids, got dict"),
    ("rank now in 2500", lambda m: m.rank(["c-001"], now=dt.datetime(2500, 1, 1)),
     f"now: datetime.datetime(2500, 1, 1, 0, 0) {_YEARS}"),
    ("rank now in 1500", lambda m: m.rank(["c-001"], now=np.datetime64("1500-01-01")),
     f"now: datetime.date(1500, 1, 1) {_YEARS}"),
    ("rank now a number", lambda m: m.rank(["c-001"], now=1.7e18),
     "now: cannot parse 1.7e+18 as a timestamp (numbers are not timestamps)"),
    ("rank lone surrogate", lambda m: m.rank(["c-001", "\ud800"], now=AS_OF),
     f"column 'customer_id': id '\\ud800' in row 1 {_SURROGATE}"),
    ("rank id 2**64", lambda m: m.rank([2**64], now=AS_OF), f"column 'customer_id': id 18446744073709551616 in row 0 {_RANGE}"),
    ("rank float id", lambda m: m.rank(pd.DataFrame({"customer_id": [1.5]}), now=AS_OF),
     "column 'customer_id': id 1.5 in row 0 is not a whole number"),
    ("rank float id in a list", lambda m: m.rank([1.5], now=AS_OF),
     "column 'customer_id': ids must be all strings or all integers; found 1.5 in row 0"),
    ("rank duplicate columns", lambda m: m.rank(pd.DataFrame([["c-001", "UTC", "UTC"]], columns=["customer_id", "tz", "tz"]),
                                                now=AS_OF),
     "customers: column 'tz' appears more than once (columns must have distinct names)"),
    ("rank tz unknown", lambda m: m.rank(pd.DataFrame({"customer_id": ["c-001"], "tz": ["Mars/Base"]}), now=AS_OF),
     f"column 'tz': unknown time zone 'Mars/Base' {_TZ} in row 0"),
    ("rank top_k text", lambda m: m.rank(["c-001"], now=AS_OF, top_k="many"), "TypeError: top_k: must be an integer, got 'many'"),
    ("rank top_k negative", lambda m: m.rank(["c-001"], now=AS_OF, top_k=-1), "top_k: must be an integer >= 0, got -1"),
    ("rank capacity a list", lambda m: m.rank(["c-001"], now=AS_OF, capacity=["sms"]),
     "capacity: expected a mapping of channel to count, e.g. {'sms': 5000}, got list"),
    ("rank capacity unknown channel", lambda m: m.rank(["c-001"], now=AS_OF, capacity={"fax": 1}),
     "capacity: unknown channel 'fax' (known: email, sms, push)"),
    # -- choose_channel / explain
    ("choose_channel(None)", lambda m: m.choose_channel(None, now=AS_OF),
     "customer_id: must be a string or an integer, got None"),
    ("choose_channel id 2**64", lambda m: m.choose_channel(2**64, now=AS_OF), f"customer_id: 18446744073709551616 {_RANGE}"),
    ("choose_channel lone surrogate", lambda m: m.choose_channel("\ud800", now=AS_OF), f"customer_id: '\\ud800' {_SURROGATE}"),
    ("choose_channel 10 MB id of a list", lambda m: m.choose_channel([LONG], now=AS_OF),
     "customer_id: must be a string or an integer, got ['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."),
    ("choose_channel now in 2500", lambda m: m.choose_channel("c-001", now=dt.datetime(2500, 1, 1)),
     f"now: datetime.datetime(2500, 1, 1, 0, 0) {_YEARS}"),
    ("choose_channel now a Timestamp in 2500", lambda m: m.choose_channel("c-001", now=pd.Timestamp("2500-01-01", tz="UTC")),
     f"now: Timestamp('2500-01-01 00:00:00+0000', tz='UTC') {_YEARS}"),
    ("choose_channel tz unknown", lambda m: m.choose_channel("c-001", now=AS_OF, tz="Mars"),
     f"tz: unknown time zone 'Mars' {_TZ}"),
    ("choose_channel tz a number", lambda m: m.choose_channel("c-001", now=AS_OF, tz=5), f"tz: unknown time zone 5 {_TZ}"),
    ("choose_channel unknown channel", lambda m: m.choose_channel("c-001", now=AS_OF, allowed_channels=["fax"]),
     "allowed_channels: unknown channel 'fax' (known: email, sms, push)"),
    ("choose_channel deadline a number", lambda m: m.choose_channel("c-001", now=AS_OF, deadline=0),
     "deadline: cannot parse 0 as a timestamp (numbers are not timestamps)"),
    ("explain(None)", lambda m: m.explain(None), "customer_id: must be a string or an integer, got None"),
    ("explain id 2**64", lambda m: m.explain(2**64), f"customer_id: 18446744073709551616 {_RANGE}"),
    ("explain level 2", lambda m: m.explain("c-001", level=2), "level: must be a number in (0, 1), got 2"),
    ("explain now in 2500", lambda m: m.explain("c-001", now=dt.datetime(2500, 1, 1)),
     f"now: datetime.datetime(2500, 1, 1, 0, 0) {_YEARS}"),
]

# id, constructor call, expected message (a ValueError)
CONSTRUCTOR_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("ArmSpace channels None", lambda: co.ArmSpace(channels=None), "ArmSpace: channels must be a list of names, got NoneType"),
    ("ArmSpace channels a number", lambda: co.ArmSpace(channels=3), "ArmSpace: channels must be a list of names, got int"),
    ("ArmSpace channels a string", lambda: co.ArmSpace(channels="sms"),
     "ArmSpace: channels must be a list of names, got the string 'sms'"),
    ("ArmSpace channel None", lambda: co.ArmSpace(channels=["sms", None]), "ArmSpace: channels contains a missing name (None)"),
    ("ArmSpace channel NaN", lambda: co.ArmSpace(channels=[float("nan")]), "ArmSpace: channels contains a missing name (nan)"),
    ("ArmSpace channel a list", lambda: co.ArmSpace(channels=[["sms"]]),
     "ArmSpace: channels contains ['sms'] (list); names are strings"),
    ("ArmSpace 1 and '1'", lambda: co.ArmSpace(channels=[1, "1"]), "ArmSpace: channels names '1' twice"),
    ("ArmSpace 10 MB name twice", lambda: co.ArmSpace(channels=[LONG, LONG]), f"ArmSpace: channels names {_SHORT} twice"),
    ("ArmSpace wordings a number", lambda: co.ArmSpace(channels=["sms"], wordings=5),
     "ArmSpace: wordings must be a list of names, got int"),
    ("ArmSpace hours 1", lambda: co.ArmSpace(channels=["sms"], hours=1), "ArmSpace: hours and weekdays must be True or False"),
    ("ArmSpace extra a list", lambda: co.ArmSpace(channels=["sms"], extra=["voice"]),
     "ArmSpace: extra must be a mapping of dimension name to arm names, e.g. {'voice': ['male', 'female']}, got list"),
    ("ArmSpace extra values a number", lambda: co.ArmSpace(channels=["sms"], extra={"voice": 2}),
     "ArmSpace: extra['voice'] must be a list of names, got int"),
    ("ArmSpace extra reserved", lambda: co.ArmSpace(channels=["sms"], extra={"hour": ["a"]}),
     "ArmSpace: extra dimension name 'hour' is reserved or not an identifier"),
    ("ArmSpace more than 32767 arms", lambda: co.ArmSpace(channels=["sms"], extra={"voice": [str(i) for i in range(40_000)]}),
     "ArmSpace: 40,032 arms in all (channel 1, hour 24, weekday 7, voice 40,000) exceed the limit of 32,767"),
    ("ArmSpace.from_dict not a mapping", lambda: co.ArmSpace.from_dict(["sms"]), "ArmSpace: expected a mapping, got list"),
    ("model space", lambda: co.ChannelModel("email,sms"), "space: expected an ArmSpace, got str"),
    ("response_window a number", lambda: co.ChannelModel(SPACE, response_window=72),
     "response_window: 72 is a number, not a duration (give a unit: '72h' or '90D')"),
    ("response_window text", lambda: co.ChannelModel(SPACE, response_window="soon"),
     "response_window: cannot parse 'soon' as a duration (try '72h' or '90D')"),
    ("response_window too long", lambda: co.ChannelModel(SPACE, response_window="1000000D"),
     "response_window: cannot parse '1000000D' as a duration (try '72h' or '90D')"),
    ("half_life negative", lambda: co.ChannelModel(SPACE, half_life="-1D"),
     "half_life: must be a positive duration, got '-1D'"),
    ("seed a float", lambda: co.ChannelModel(SPACE, seed=1.5), "TypeError: seed: must be an integer, got 1.5"),
    ("default_tz unknown", lambda: co.ChannelModel(SPACE, default_tz="Mars"), f"default_tz: unknown time zone 'Mars' {_TZ}"),
    ("default_tz None", lambda: co.ChannelModel(SPACE, default_tz=None), f"default_tz: unknown time zone None {_TZ}"),
    ("propensity_draws NaN", lambda: co.ChannelModel(SPACE, propensity_draws=float("nan")),
     "TypeError: propensity_draws: must be an integer, got nan"),
    ("prior_max_strength inf", lambda: co.ChannelModel(SPACE, prior_max_strength=float("inf")),
     "prior_max_strength: must be a finite number, got inf"),
    ("hour_smoothing NaN", lambda: co.ChannelModel(SPACE, hour_smoothing=float("nan")),
     "hour_smoothing: must be a finite number, got nan"),
    ("resolve unknown", lambda: co.ChannelModel(SPACE, resolve="soon"), "resolve: expected 'window' or 'reply', got 'soon'"),
    ("policy a string", lambda: co.ChannelModel(SPACE, policy="default"),
     "policy: expected a ContactPolicy or None, got str"),
    ("ContactPolicy min_gap text", lambda: co.ContactPolicy(min_gap="often"),
     "min_gap: cannot parse 'often' as a duration (try '72h' or '90D')"),
    ("ContactPolicy min_gap a number", lambda: co.ContactPolicy(min_gap=12),
     "min_gap: 12 is a number, not a duration (give a unit: '72h' or '90D')"),
    ("ContactPolicy quiet hour 25", lambda: co.ContactPolicy(quiet_hours={"sms": [25, 8]}),
     "quiet_hours['sms']: hours must be integers in 0-23, got [25, 8]"),
    ("ContactPolicy deadline text", lambda: co.ContactPolicy(deadline="whenever"),
     "deadline: cannot parse 'whenever' as a duration (try '72h' or '90D')"),
]


def snapshot(m: co.ChannelModel) -> dict[str, Any]:
    """Copies of everything a failed call must leave alone."""
    st = m.state_
    out: dict[str, Any] = {"as_of_": m.as_of_, "last_fit_": dict(m.last_fit_)}
    for f in dataclasses.fields(st):
        value = getattr(st, f.name)
        if dataclasses.is_dataclass(value):  # the customer index
            value = {g.name: np.array(getattr(value, g.name)) if isinstance(getattr(value, g.name), np.ndarray)
                     else getattr(value, g.name) for g in dataclasses.fields(value)}
        out[f.name] = np.array(value) if isinstance(value, np.ndarray) else value
    return out


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key, a in before.items():
        b = after[key]
        if isinstance(a, dict) and key != "last_fit_" and key != "counts":
            assert_same(a, b)
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), key
        else:
            assert a == b, key


def _expected(message: str) -> tuple[type[Exception], str]:
    """A case's exception and text: "TypeError: ..." marks a wrong type (check_scalar), anything else a ValueError."""
    if message.startswith("TypeError: "):
        return TypeError, message[len("TypeError: "):]
    return ValueError, message


@pytest.mark.parametrize("call, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_bad_api_input_is_one_clear_error_and_changes_nothing(model, call, message):
    before = snapshot(model)
    kind, message = _expected(message)
    with pytest.raises(kind, match="^" + re.escape(message) + "$") as caught:
        call(model)
    assert type(caught.value) is kind or kind is ValueError and not isinstance(caught.value, TypeError)
    assert_same(before, snapshot(model))


@pytest.mark.parametrize("call, message", [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_bad_constructor_argument_is_one_clear_error(call, message):
    kind, message = _expected(message)
    with pytest.raises(kind, match="^" + re.escape(message) + "$") as caught:
        call()
    assert type(caught.value) is kind or kind is ValueError and not isinstance(caught.value, TypeError)


def test_rank_of_an_unfitted_model():
    # an unfitted model decides from its prior (issue 14: zero-history cold start); its state_ is not there
    plan = co.ChannelModel(SPACE).rank(["c-001"], now=AS_OF)
    assert plan["channel"].notna().all() and 0 < plan["propensity"].iloc[0] <= 1
    with pytest.raises(ValueError, match=re.escape("this ChannelModel is not fitted yet: call fit(logs) first")):
        co.ChannelModel(SPACE).state_


def test_a_failed_partial_fit_leaves_later_ones_working(model):
    """After the 2200 row is refused, the model still takes the same log with an explicit as_of."""
    with pytest.raises(ValueError, match="pass as_of explicitly"):
        model.partial_fit(_future_row())
    m = co.ChannelModel(SPACE, seed=7).fit(make_logs(seed=1), as_of=AS_OF)
    m.partial_fit(_future_row(), as_of=AS_OF + pd.Timedelta(days=5))
    assert m.as_of_ == AS_OF + pd.Timedelta(days=5) and m.last_fit_["after_as_of"] == 1


def test_the_clock_check_uses_the_wall_clock(monkeypatch):
    """A log of the future is fine once the clock has caught up (and an explicit as_of is never checked)."""
    logs = _logs(event_id=None).drop(columns="event_id")
    logs["sent_at"] = pd.Timestamp("2200-01-01", tz="UTC") + pd.to_timedelta(np.arange(6), unit="h")
    logs["responded_at"] = pd.NaT
    with pytest.raises(ValueError, match=re.escape(f"in row 5 {_FUTURE}")):
        co.ChannelModel(SPACE).fit(logs)
    monkeypatch.setattr("channelopt.state.ingest.wall_clock_ns", lambda: pd.Timestamp("2200-01-01", tz="UTC").value)
    assert co.ChannelModel(SPACE).fit(logs).as_of_ == pd.Timestamp("2200-01-01 05:00", tz="UTC")


# -- rows repeated without event_id count once ---------------------------------------------------------


def test_rows_repeated_without_event_id_count_once_within_and_across_chunks():
    logs = make_logs(n_customers=10, n_sends=80, seed=3, with_event_id=False)
    once = co.ChannelModel(SPACE, seed=1).fit(logs, as_of=T0 + pd.Timedelta(days=40))
    twice = pd.concat([logs, logs.iloc[::3]], ignore_index=True)
    for source in (twice, [logs.iloc[:50], twice.iloc[50:]], [logs, logs]):
        m = co.ChannelModel(SPACE, seed=1).fit(source, as_of=T0 + pd.Timedelta(days=40))
        np.testing.assert_array_equal(m.state_.sends, once.state_.sends)
        np.testing.assert_array_equal(m.state_.responses, once.state_.responses)
        rows = sum(len(f) for f in source) if isinstance(source, list) else len(source)
        assert m.last_fit_["rows"] == rows and m.last_fit_["duplicates"] == rows - len(logs)
        assert m.last_fit_["counted"] == once.last_fit_["counted"]
    # rows that differ in any column the model reads are different sends
    other = logs.copy()
    other["responded_at"] = pd.NaT
    m = co.ChannelModel(SPACE, seed=1).fit([logs, other], as_of=T0 + pd.Timedelta(days=40))
    assert m.last_fit_["duplicates"] == int(logs["responded_at"].isna().sum())
    # with an event_id column the ids decide: identical rows with different ids are different sends
    ided = pd.concat([logs, logs], ignore_index=True)
    ided["event_id"] = np.arange(len(ided))
    m = co.ChannelModel(SPACE, seed=1).fit(ided, as_of=T0 + pd.Timedelta(days=40))
    assert m.last_fit_["duplicates"] == 0 and m.last_fit_["counted"] == 2 * once.last_fit_["counted"]


# -- the command line ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    logs = make_logs(seed=1)
    logs.to_csv(d / "logs.csv", index=False)
    (d / "notgz.csv.gz").write_text(logs.to_csv(index=False))
    lines = logs.head(6).to_csv(index=False).splitlines(keepends=True)
    lines[4] = lines[4].replace("c-", "c-\xe9\xe8", 1)  # line 5 of the file
    (d / "latin.csv").write_bytes("".join(lines).encode("latin-1"))
    (d / "header.csv").write_text(",".join(logs.columns) + "\n")
    (d / "empty.csv").write_text("")
    (d / "emptydir").mkdir()
    (d / "dir.csv").mkdir()
    future = logs.head(6).copy()
    future.loc[2, "sent_at"] = pd.Timestamp("2200-01-01", tz="UTC")
    future.to_csv(d / "future.csv", index=False)
    dup = logs.head(6).to_csv(index=False).replace("wording", "channel", 1)
    (d / "dupcols.csv").write_text(dup)
    pd.DataFrame({"customer_id": ["c-001", "c-002"]}).to_csv(d / "customers.csv", index=False)
    assert main(["fit", "--logs", str(d / "logs.csv"), "--model", str(d / "model"), "--as-of", str(AS_OF), "-q"]) == 0
    return d


def _files(d: Path) -> dict[str, bytes]:
    """Every file's bytes; the contact store by its events (SQLite rewrites its header and WAL on open)."""
    out = {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
           if p.is_file() and ".contacts.sqlite" not in p.name}
    for db in sorted(d.rglob("*.contacts.sqlite")):
        with sqlite3.connect(db) as con:
            out[str(db.relative_to(d))] = repr(con.execute("SELECT * FROM events ORDER BY seq").fetchall()).encode()
    return out


def _cli_cases(d: Path) -> dict[str, tuple[list[str], str]]:
    m, c = str(d / "model"), str(d / "customers.csv")
    rank = ["rank", "--model", m, "--customers", c, "--out", str(d / "out.csv"), "--now", "2026-04-07"]
    fit = ["fit", "--model", str(d / "new"), "--logs"]
    return {
        "fit .csv.gz that is not gzip": (fit + [str(d / "notgz.csv.gz")],
                                         f"logs: cannot read CSV file {str(d / 'notgz.csv.gz')!r} (not a gzip file)"),
        "fit latin-1 CSV": (fit + [str(d / "latin.csv")],
                            f"logs: cannot read CSV file {str(d / 'latin.csv')!r}: line 5 (byte 323) is not UTF-8 text "
                            "(byte 0xe9); save the file as UTF-8"),
        "fit latin-1 CSV with --channels": (fit + [str(d / "latin.csv"), "--channels", "email,sms,push"],
                                            f"logs: cannot read CSV file {str(d / 'latin.csv')!r}: line 5 (byte 323) is "
                                            "not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        "fit header-only CSV": (fit + [str(d / "header.csv"), "--channels", "sms"], "logs: the frame is empty (0 rows); "
                                "give as_of to fit no rows (the watermark moves to as_of, decisions use the prior)"),
        "fit empty CSV": (fit + [str(d / "empty.csv")], f"logs: missing required column 'channel' in {str(d / 'empty.csv')!r}"),
        "fit empty directory": (fit + [str(d / "emptydir")], f"logs: no Parquet or CSV file at {str(d / 'emptydir')!r}"),
        "fit directory named .csv": (fit + [str(d / "dir.csv")], f"logs: no Parquet or CSV file at {str(d / 'dir.csv')!r}"),
        "fit duplicate CSV columns": (fit + [str(d / "dupcols.csv"), "--channels", "email,sms,push"],
                                      "logs: column 'channel' appears 2 times (the columns of a log must have distinct names)"),
        "fit a row in 2200": (fit + [str(d / "future.csv")],
                              f"logs: column 'sent_at': 2200-01-01 00:00:00+00:00 in row 2 {_FUTURE}"),
        "fit --as-of in 2500": (fit + [str(d / "logs.csv"), "--as-of", "2500-01-01"], f"--as-of: '2500-01-01' {_YEARS}"),
        "fit --seed text": (fit + [str(d / "logs.csv"), "--seed", "x"],
                            "argument --seed: invalid int value: 'x' (see 'channelopt fit --help')"),
        "fit --response-window 0": (fit + [str(d / "logs.csv"), "--response-window", "0"],
                                    "response_window: must be a positive duration, got '0'"),
        "fit --default-tz unknown": (fit + [str(d / "logs.csv"), "--default-tz", "Mars"],
                                     f"default_tz: unknown time zone 'Mars' {_TZ}"),
        "rank customers not gzip": (rank[:4] + [str(d / "notgz.csv.gz")] + rank[5:],
                                    f"customers: cannot read CSV file {str(d / 'notgz.csv.gz')!r} (not a gzip file)"),
        "rank customers latin-1": (rank[:4] + [str(d / "latin.csv")] + rank[5:],
                                   f"customers: cannot read CSV file {str(d / 'latin.csv')!r}: line 5 (byte 323) is not "
                                   "UTF-8 text (byte 0xe9); save the file as UTF-8"),
        "rank --out a directory": (rank[:6] + [str(d / "dir.csv")] + rank[7:],
                                   f"--out: {str(d / 'dir.csv')!r} is a directory (give a .parquet or .csv file)"),
        "rank --now in 1500": (rank[:-1] + ["1500-01-01"], f"--now: '1500-01-01' {_YEARS}"),
        "rank --chunk-rows 0": (rank + ["--chunk-rows", "0"], "--chunk-rows: must be an integer >= 1, got 0"),
        "rank --capacity bad": (rank + ["--capacity", "sms"], "--capacity: expected CHANNEL=N[,CHANNEL=N...], got 'sms'"),
        "explain lone surrogate": (["explain", "--model", m, "--customer", "c-\udcff"], f"customer_id: 'c-\\udcff' {_SURROGATE}"),
        "explain --level 2": (["explain", "--model", m, "--customer", "c-001", "--level", "2"],
                              "--level: must be a number in (0, 1), got 2.0"),
        "explain a file as model": (["explain", "--model", str(d / "logs.csv"), "--customer", "c-001"],
                                    f"{str(d / 'logs.csv')}: not a saved model (no manifest.json)"),
    }


CLI_CASES = list(_cli_cases(Path("/x")))


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_cli_input_is_one_line_exit_2_and_changes_nothing(capsys, cli_files, case):
    argv, message = _cli_cases(cli_files)[case]
    before = _files(cli_files)
    capsys.readouterr()
    code = main(argv + ["-q"])
    out, err = capsys.readouterr()
    assert _files(cli_files) == before  # no model, no output, nothing replaced
    assert code == 2 and out == ""
    assert err == f"channelopt: error: {message}\n"


def test_ctrl_c_is_one_line_exit_130(capsys, cli_files, monkeypatch):
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("channelopt.apps.jobs.load", interrupted)
    before = _files(cli_files)
    code = main(["explain", "--model", str(cli_files / "model"), "--customer", "c-001"])
    assert code == 130 and capsys.readouterr().err == "channelopt: interrupted\n"
    assert _files(cli_files) == before


def test_a_corrupt_model_is_one_line_exit_2(capsys, cli_files, tmp_path):
    (tmp_path / "manifest.json").write_text("[]")
    code = main(["explain", "--model", str(tmp_path), "--customer", "c-001"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("channelopt: error: ") and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fit .csv.gz that is not gzip", "fit latin-1 CSV", "fit --seed text"])
def test_bad_cli_input_in_a_subprocess(cli_files, case):
    argv, message = _cli_cases(cli_files)[case]
    before = _files(cli_files)
    proc = subprocess.run([sys.executable, "-m", "channelopt", *argv], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(Path(co.__file__).parents[1]), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"channelopt: error: {message}\n"
    assert _files(cli_files) == before


TWO_CHANNELS = co.ArmSpace(channels=["email", "sms"])

def test_clear_errors_for_bad_parameters():
    with pytest.raises(ValueError, match="ArmSpace: wordings must be a list of names, got the string 'plain'"):
        co.ArmSpace(channels=["email"], wordings="plain")
    model = co.ChannelModel(TWO_CHANNELS).fit(one_send_log(["a"]), as_of="2026-01-10")
    with pytest.raises(ValueError, match="tz: unknown time zone 'Mars/Base'"):
        model.choose_channel("a", now="2026-01-11", tz="Mars/Base")
    bad = one_send_log(["a"])
    bad["responded_at"] = ["9999-12-31"]
    with pytest.raises(ValueError, match=re.escape("column 'responded_at': '9999-12-31' in row 0 is outside")):
        co.ChannelModel(TWO_CHANNELS).fit(bad)
    assert np.isfinite(model.choose_channel("a", now="2026-01-11").score)
