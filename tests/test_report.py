"""report() and customer_report(): exact counts, delayed feedback, intervals, errors, additivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import channelopt as co
from channelopt.inspect.reports import REPORT_COLUMNS, customer_report, report

from conftest import CHANNELS, make_logs

AS_OF = pd.Timestamp("2026-01-10", tz="UTC")


def hand_log() -> pd.DataFrame:
    """Nine sends whose fate as of 2026-01-10 (72 h window) is worked out by hand in the comments."""
    t = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    rows = [
        # customer, sent_at, channel, responded_at, unsubscribed, complained
        ("a", t("2026-01-01 09:00"), "email", t("2026-01-01 10:00"), False, False),  # response, 1 h
        ("a", t("2026-01-02 09:00"), "email", pd.NaT, False, False),  # failure (window closed 01-05)
        ("b", t("2026-01-08 12:00"), "email", pd.NaT, False, False),  # pending until 01-11 12:00
        ("b", t("2026-01-03 09:00"), "sms", t("2026-01-07 09:00"), False, False),  # reply after 96 h: failure
        ("c", t("2026-01-09 09:00"), "sms", t("2026-01-09 09:30"), False, False),  # response, 30 min
        ("c", t("2026-01-09 12:00"), "sms", t("2026-01-10 06:00"), False, False),  # reply after as_of: pending
        ("c", t("2026-01-10 06:00"), "sms", pd.NaT, False, False),  # sent after as_of: left out
        ("d", t("2026-01-04 09:00"), "sms", t("2026-01-04 11:00"), True, False),  # unsubscribed: failure
        ("d", t("2026-01-05 00:00"), "email", pd.NaT, False, True),  # complained: failure
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "sent_at", "channel", "responded_at", "unsubscribed",
                                        "complained"])
    frame["campaign"] = ["x", "x", "y", "y", "x", "x", "y", None, "y"]
    return frame


def test_exact_counts_per_channel():
    r = report(hand_log(), as_of=AS_OF)
    assert list(r.columns) == ["channel", *REPORT_COLUMNS]
    assert r["channel"].tolist() == ["email", "sms"]
    assert r["sends"].tolist() == [4, 4]
    assert r["responses"].tolist() == [1, 1]
    assert r["pending"].tolist() == [1, 1]
    np.testing.assert_allclose(r["rate"], [1 / 3, 1 / 3])
    np.testing.assert_allclose(r["unsubscribe_rate"], [0.0, 0.25])
    np.testing.assert_allclose(r["complaint_rate"], [0.25, 0.0])
    assert r["median_reply_latency"].tolist() == [pd.Timedelta("1h"), pd.Timedelta("30min")]
    assert r.attrs["as_of"] == AS_OF
    assert r.attrs["response_window"] == pd.Timedelta("72h")


@pytest.mark.parametrize("level, prior", [(0.9, (1.0, 1.0)), (0.5, (0.5, 2.0))])
def test_interval_is_scipys_beta_posterior(level, prior):
    r = report(hand_log(), as_of=AS_OF, level=level, prior=prior)
    a, b = prior[0] + 1, prior[1] + 2  # 1 response out of 3 resolved sends in each channel
    tail = (1 - level) / 2
    np.testing.assert_allclose(r["ci_low"], stats.beta.ppf(tail, a, b), rtol=1e-12)
    np.testing.assert_allclose(r["ci_high"], stats.beta.ppf(1 - tail, a, b), rtol=1e-12)
    assert r.attrs["prior"] == prior and r.attrs["level"] == level


def test_default_as_of_is_the_latest_timestamp():
    r = report(hand_log())
    assert r.attrs["as_of"] == pd.Timestamp("2026-01-10 06:00", tz="UTC")
    sms = r[r["channel"] == "sms"].iloc[0]
    # the 06:00 send is now in (pending); the reply at 06:00 is now known (a response)
    assert (sms["sends"], sms["responses"], sms["pending"]) == (5, 2, 1)


def test_pending_resolves_as_the_clock_moves():
    log = hand_log()
    early = report(log, by=(), as_of="2026-01-09 10:00")
    # sent by then: 7 rows; rows 3 (01-08 12:00) and 5 (01-09 09:00, reply at 09:30) are open or answered
    assert (early["sends"].item(), early["responses"].item(), early["pending"].item()) == (7, 2, 1)
    late = report(log, by=(), as_of="2026-02-01")
    assert late["pending"].item() == 0
    assert late["sends"].item() == 9 and late["responses"].item() == 3  # rows 1, 5, 6
    np.testing.assert_allclose(late["rate"].item(), 3 / 9)


def test_longer_window_turns_a_late_reply_into_a_response():
    r = report(hand_log(), as_of="2026-02-01", response_window="5D")
    assert r.set_index("channel").loc["sms", "responses"] == 3  # the 96 h reply counts now


def test_group_by_any_column_keeps_missing_values_as_a_group():
    r = report(hand_log(), by=["campaign", "channel"], as_of=AS_OF)
    keys = list(zip(r["campaign"].fillna("<NA>"), r["channel"]))
    assert keys == [("x", "email"), ("x", "sms"), ("y", "email"), ("y", "sms"), ("<NA>", "sms")]
    assert r["sends"].sum() == 8
    assert r["sends"].tolist() == [2, 2, 2, 1, 1]


def test_no_resolved_send_gives_nan_rate_and_the_prior_interval():
    r = report(hand_log(), by="customer_id", as_of=AS_OF, prior=(2.0, 3.0))
    b = r.set_index("customer_id").loc["b"]
    assert b["sends"] == 2 and b["pending"] == 1  # one pending, one failure
    c = report(hand_log().iloc[[2]], as_of=AS_OF, prior=(2.0, 3.0)).iloc[0]
    assert c["pending"] == 1 and np.isnan(c["rate"]) and pd.isna(c["median_reply_latency"])
    assert c["ci_low"] == pytest.approx(stats.beta.ppf(0.05, 2.0, 3.0))


def test_local_hour_and_weekday_in_the_customers_zone():
    logs = pd.DataFrame({"customer_id": ["a", "b", "c"],
                         "sent_at": pd.to_datetime(["2026-01-05 00:30"] * 3, utc=True),
                         "channel": ["sms"] * 3, "responded_at": [None] * 3,
                         "tz": ["Asia/Tokyo", None, "Europe/Paris"]})
    r = report(logs, by=["local_hour", "weekday"], default_tz="America/New_York", as_of="2026-01-20")
    # Tokyo 09:30 Monday; New York (default) 19:30 Sunday; Paris 01:30 Monday
    assert list(zip(r["local_hour"], r["weekday"].astype(str))) == [(1, "Mon"), (9, "Mon"), (19, "Sun")]
    assert r["weekday"].cat.categories.tolist() == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_a_log_column_named_like_a_derived_one_wins():
    logs = hand_log().assign(weekday="any")
    assert report(logs, by="weekday", as_of=AS_OF)["weekday"].tolist() == ["any"]


def test_sends_after_as_of_only_gives_an_empty_report():
    r = report(hand_log(), as_of="2025-12-01")
    assert len(r) == 0 and list(r.columns) == ["channel", *REPORT_COLUMNS]


def test_reads_a_parquet_path(tmp_path):
    path = tmp_path / "logs.parquet"
    hand_log().to_parquet(path)
    pd.testing.assert_frame_equal(report(path, as_of=AS_OF), report(hand_log(), as_of=AS_OF))


@pytest.mark.parametrize("kwargs, message", [
    ({"by": ["campaign", "segment"]}, r"by: no column 'segment' in the logs \(columns: customer_id, .*derived: local_hour, weekday\)"),
    ({"by": ["channel", "channel"]}, r"by: column 'channel' is named twice"),
    ({"by": [3]}, r"by: column names must be strings, got 3"),
    ({"by": ["sends"]}, r"by: 'sends' is a column of the report itself"),
    ({"level": 1.0}, r"level: must be a number in \(0, 1\), got 1.0"),
    ({"prior": (1.0, 0.0)}, r"prior: alpha and beta must be positive and finite"),
    ({"prior": 1.0}, r"prior: expected two positive numbers"),
    ({"response_window": "soon"}, r"response_window: cannot parse 'soon'"),
    ({"default_tz": "Mars/Olympus"}, r"default_tz: unknown time zone 'Mars/Olympus'"),
    ({"as_of": "not a time"}, r"as_of: cannot parse 'not a time'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        report(hand_log(), **kwargs)


def test_bad_logs_get_the_librarys_errors():
    log = hand_log()
    with pytest.raises(ValueError, match=r"logs: missing required column 'responded_at'"):
        report(log.drop(columns="responded_at"))
    with pytest.raises(ValueError, match=r"logs: missing required column 'channel'"):
        report(log.drop(columns="channel"))
    bad = log.astype({"sent_at": object})
    bad.loc[2, "sent_at"] = "yesterday"
    with pytest.raises(ValueError, match=r"column 'sent_at': cannot parse 'yesterday' in row 2 as a timestamp"):
        report(bad)
    bad = log.copy()
    bad.loc[3, "channel"] = None
    with pytest.raises(ValueError, match=r"column 'channel': missing value in row 3"):
        report(bad)
    bad = log.copy()
    bad.loc[4, "responded_at"] = pd.Timestamp("2025-01-01", tz="UTC")
    with pytest.raises(ValueError, match=r"column 'responded_at': 2025-01-01 00:00:00\+00:00 in row 4 is before"):
        report(bad)
    with pytest.raises(ValueError, match=r"column 'tz': unknown time zone 'Nowhere' .* in row 0"):
        report(log.assign(tz="Nowhere"))
    with pytest.raises(ValueError, match=r"logs: the frame is empty"):
        report(log.iloc[:0])


_KEYS = ["channel", "wording", "customer_id", "local_hour", "weekday"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n1=st.integers(1, 60), n2=st.integers(1, 60),
       by=st.lists(st.sampled_from(_KEYS), min_size=0, max_size=2, unique=True),
       as_of_days=st.floats(0.0, 40.0))
def test_counts_are_additive_over_concatenation(seed, n1, n2, by, as_of_days):
    a = make_logs(n_customers=8, n_sends=n1, seed=seed, with_event_id=False, days=20)
    b = make_logs(n_customers=8, n_sends=n2, seed=seed + 1, with_event_id=False, days=20)
    as_of = pd.Timestamp("2026-03-02 09:00", tz="UTC") + pd.Timedelta(days=as_of_days)
    counts = ["sends", "responses", "pending"]

    def table(frame):
        r = report(frame, by=by, as_of=as_of)
        if not by:
            return r[counts]
        for k in by:
            r[k] = r[k].astype(str)
        return r.set_index(by)[counts]

    whole = table(pd.concat([a, b], ignore_index=True))
    parts = table(a).add(table(b), fill_value=0).astype(np.int64)
    parts = parts[parts["sends"] > 0] if by else parts
    pd.testing.assert_frame_equal(whole.sort_index(), parts.sort_index(), check_names=False)
    r = report(pd.concat([a, b], ignore_index=True), by=by, as_of=as_of)
    resolved = r["sends"] - r["pending"]
    np.testing.assert_allclose(r["rate"], r["responses"] / resolved.where(resolved > 0))


# -- customer_report ---------------------------------------------------------------


def test_customer_report_agrees_with_explain(fitted_model):
    cr = customer_report(fitted_model, level=0.8, seed=3).set_index("customer_id")
    assert len(cr) == fitted_model.state_.n_customers
    assert list(cr.columns) == ["channel", "mean", "ci_low", "ci_high", "prob_best", "wording", "hour",
                                "weekday", "sends"]
    for cid in ["c-000", "c-007", "c-013", "c-019"]:
        ex = fitted_model.explain(cid, level=0.8)
        ch = ex[ex["dimension"] == "channel"].reset_index(drop=True)
        top = int(ch["mean"].to_numpy().argmax())
        row = cr.loc[cid]
        assert row["channel"] == ch.loc[top, "arm"]
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]],
                                   ch.loc[top, ["mean", "ci_low", "ci_high"]].to_numpy(dtype=float), rtol=1e-12)
        for dim in ("wording", "weekday"):
            part = ex[ex["dimension"] == dim].reset_index(drop=True)
            assert row[dim] == part.loc[int(part["mean"].to_numpy().argmax()), "arm"]
        hours = ex[ex["dimension"] == "hour"]["mean"].to_numpy()
        assert row["hour"] == int(hours.argmax())
        assert row["sends"] == pytest.approx(ch["sends"].sum(), rel=1e-6)


def test_prob_best_matches_an_independent_monte_carlo(fitted_model):
    ids = ["c-002", "c-011"]
    cr = customer_report(fitted_model, ids, draws=4000, seed=5)
    rng = np.random.default_rng(0)
    for cid, (channel, p) in zip(ids, cr[["channel", "prob_best"]].itertuples(index=False)):
        ex = fitted_model.explain(cid)
        ch = ex[ex["dimension"] == "channel"]
        draws = rng.beta(ch["alpha"].to_numpy()[:, None], ch["beta"].to_numpy()[:, None], size=(len(ch), 100_000))
        truth = np.mean(draws.argmax(axis=0) == list(CHANNELS).index(channel))
        assert p == pytest.approx(truth, abs=0.03)  # ~4 standard errors of 4000 draws


def test_prob_best_is_keyed_by_customer_not_by_batch(fitted_model):
    full = customer_report(fitted_model, seed=11).set_index("customer_id")
    some = customer_report(fitted_model, ["c-015", "c-004"], seed=11).set_index("customer_id")
    pd.testing.assert_frame_equal(some, full.loc[["c-015", "c-004"]], check_categorical=False)
    other = customer_report(fitted_model, ["c-015", "c-004"], seed=12)
    assert not np.array_equal(other["prob_best"].to_numpy(), some["prob_best"].to_numpy())


def test_unknown_customers_get_the_prior(fitted_model):
    st_ = fitted_model.state_
    cr = customer_report(fitted_model, pd.DataFrame({"customer_id": ["nobody", "c-001"]}))
    new = cr.iloc[0]
    prior_mean = st_.prior_alpha[:3] / (st_.prior_alpha[:3] + st_.prior_beta[:3])
    assert new["sends"] == 0 and new["channel"] == CHANNELS[int(prior_mean.argmax())]
    assert new["mean"] == pytest.approx(prior_mean.max())
    assert cr.iloc[1]["sends"] > 0


def test_customer_report_with_integer_ids_and_a_plain_space():
    logs = make_logs(n_customers=5, n_sends=60, seed=4, int_ids=True)
    space = co.ArmSpace(channels=list(CHANNELS), hours=False, weekdays=False)
    model = co.ChannelModel(space, seed=1).fit(logs)
    cr = customer_report(model, draws=50)
    assert list(cr.columns) == ["customer_id", "channel", "mean", "ci_low", "ci_high", "prob_best", "sends"]
    assert sorted(cr["customer_id"].tolist()) == sorted(logs["customer_id"].unique().tolist())
    assert ((cr["prob_best"] >= 0) & (cr["prob_best"] <= 1)).all()
    assert customer_report(model, []).shape == (0, 7)


def test_customer_report_errors(fitted_model, space):
    with pytest.raises(ValueError, match=r"this ChannelModel is not fitted yet"):
        customer_report(co.ChannelModel(space))
    with pytest.raises(ValueError, match=r"customers: missing required column 'customer_id'"):
        customer_report(fitted_model, pd.DataFrame({"id": ["c-001"]}))
    with pytest.raises(ValueError, match=r"customers: expected a sequence of ids or a DataFrame, got 'c-001'"):
        customer_report(fitted_model, "c-001")
    with pytest.raises(ValueError, match=r"draws: must be an integer >= 1, got 0"):
        customer_report(fitted_model, draws=0)
    with pytest.raises(ValueError, match=r"level: must be a number in \(0, 1\), got 0"):
        customer_report(fitted_model, level=0)
    with pytest.raises(ValueError, match=r"customer_id: this model's ids are strings, got 5"):
        customer_report(fitted_model, [5])


def test_threaded_prob_best_equals_one_serial_pass(monkeypatch):
    import channelopt.inspect.reports as rep

    logs = make_logs(n_customers=5000, n_sends=15000, seed=9, with_event_id=False)
    model = co.ChannelModel(co.ArmSpace(channels=list(CHANNELS), hours=False, weekdays=False), seed=2).fit(logs)
    st_ = model.state_
    n = st_.n_customers
    assert n > 2 * 2048  # large enough to be split over threads
    pa, pb = st_.prior_tables
    args = (np.arange(n, dtype=np.int64), np.zeros(n, np.int64), np.asarray(st_.index.hashes), st_.sends,
            st_.responses, pa, pb, 3, np.zeros(n, np.int64), np.uint64(4), 20)
    serial = np.empty(n)
    rep._prob_best(*args, serial)
    monkeypatch.setattr(rep.os, "cpu_count", lambda: 4)
    threaded = np.empty(n)
    rep._prob_best_threads(*args, threaded)
    np.testing.assert_array_equal(threaded, serial)
    assert 0.2 < serial.mean() < 0.5  # channel 0 is best with about a third of the mass
