"""Streaming updates (issue 14 part 6): ``partial_fit`` of only the new rows learns, through the pending
sends kept with the model (:mod:`channelopt.state.pending`); re-feeding a log still counts each send once."""

from __future__ import annotations

import re
import warnings

import numba
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt.state import pending as P
from conftest import T0, model_file, read_manifest, write_manifest
from conftest import log_rows as sends
from conftest import window_model as model

H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
EMAIL, SMS = 0, 1


def known_at(logs: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The log as it is known at ``t``: rows sent by then, replies after ``t`` not yet in."""
    out = logs[logs["sent_at"] <= t].copy()
    out.loc[out["responded_at"] > t, "responded_at"] = pd.NaT
    return out


def new_rows(logs: pd.DataFrame, before: pd.Timestamp | None, t: pd.Timestamp) -> pd.DataFrame:
    """What a streaming export gives at ``t``: the rows sent since ``before``, and the rows of earlier
    sends whose reply came since ``before`` (the same send row, ``responded_at`` filled)."""
    now = known_at(logs, t)
    if before is None:
        return now
    fresh = now["sent_at"] > before
    replied = ~fresh & (now["responded_at"] > before)
    return now[fresh | replied]


def aligned(store) -> dict[str, np.ndarray]:
    ids = store.index.ids()
    order = np.argsort(ids, kind="stable")
    out = {name: np.asarray(getattr(store, name))[order]
           for name in ("sends", "responses", "unsubscribed", "complained", "last_complaint_min", "history_min")}
    out["history_min"] = np.sort(out["history_min"], axis=1)  # the slots' order follows the order of arrival
    out["ids"] = ids[order]
    return out


def assert_same_learning(a, b, *, rtol: float = 1e-5) -> None:
    """Same customers, flags, send history and statistics (to float32 tolerance), latency counts and priors."""
    x, y = aligned(a), aligned(b)
    assert list(x["ids"]) == list(y["ids"])
    for name in ("unsubscribed", "complained", "last_complaint_min", "history_min"):
        np.testing.assert_array_equal(x[name], y[name], err_msg=name)
    for name in ("sends", "responses"):
        np.testing.assert_allclose(x[name], y[name], rtol=rtol, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(a.latency, b.latency)
    np.testing.assert_allclose(a.prior_alpha, b.prior_alpha, rtol=1e-4)
    assert a.watermark_ns == b.watermark_ns
    assert a.counts["counted"] == b.counts["counted"] and a.counts["responses"] == b.counts["responses"]
    assert a.pending.n_pending == b.pending.n_pending


def stream(space, logs, times, mode: str, **kw) -> co.ChannelModel:
    """``partial_fit`` at every ``times``: ``new`` rows only, the ``trailing`` 6 days (more than a response
    window and a step: every reply is given before its send resolves), or the ``whole`` log."""
    m = model(space, **kw)
    before = None
    for t in times:
        if mode == "new":
            part = new_rows(logs, before, t)
        elif mode == "trailing":
            part = known_at(logs, t)
            part = part[part["sent_at"] > t - 6 * D]
        else:
            part = known_at(logs, t)
        if len(part) or m.__dict__.get("as_of_") is not None:  # an empty call still moves the clock
            m.partial_fit(part, as_of=t)
        before = t
    return m


# -- the scenario -------------------------------------------------------------------------


def test_hourly_partial_fit_of_only_new_rows_counts_every_resolved_send(space, log_factory):
    logs = log_factory(n_customers=30, n_sends=300, seed=21, days=10)
    end = T0 + 10 * D
    times = pd.date_range(T0, end, freq="h")
    streamed = stream(space, logs, times, "new", half_life="30D")
    once = model(space, half_life="30D").fit(known_at(logs, end), as_of=end)
    resolved = int((logs["sent_at"] + 72 * H <= end).sum())  # resolve="window": every window closed by then
    assert once.state_.counts["counted"] == resolved > 200
    assert_same_learning(streamed.state_, once.state_)
    assert streamed.state_.pending.n_pending == len(logs) - resolved


@pytest.mark.parametrize("resolve", ["window", "reply"])
def test_a_reply_given_later_updates_the_pending_send(space, resolve):
    first = sends(("a", T0, "sms", None))
    m = model(space, resolve=resolve).partial_fit(first, as_of=T0 + H)
    assert m.last_fit_["pending"] == 1 and m.state_.pending.n_pending == 1
    m.partial_fit(sends(("b", T0 + 2 * H, "email", None)), as_of=T0 + 3 * H)  # a's row is not given again
    assert not m.state_.sends.any()
    m.partial_fit(sends(("a", T0, "sms", T0 + 5 * H)), as_of=T0 + 6 * H)  # the same send, now replied
    a = m.state_.index.row_of("a")
    assert m.last_fit_["matched"] == 1 and m.last_fit_["pending"] == 0
    if resolve == "reply":  # counted at its reply
        assert m.state_.sends[a, SMS] == 1.0 and m.state_.responses[a, SMS] == 1.0
    else:  # waits for its window, whether or not its row comes again
        assert not m.state_.sends.any()
        m.partial_fit(sends(("c", T0 + 80 * H, "sms", None)), as_of=T0 + 80 * H)
        assert m.state_.sends[a, SMS] == 1.0 and m.state_.responses[a, SMS] == 1.0
        assert m.last_fit_["pending_counted"] == 2  # a's send, and b's (its window closed too)
    assert m.state_.latency.sum() == 1  # the reply's latency is counted once


def test_a_call_without_rows_moves_the_clock_and_counts_the_kept_sends(space):
    m = model(space).partial_fit(sends(("a", T0, "sms", T0 + H)), as_of=T0 + 2 * H)
    m.partial_fit(sends(("a", T0, "sms", T0 + H)).iloc[:0], as_of=T0 + 3 * D)
    a = m.state_.index.row_of("a")
    assert m.state_.sends[a, SMS] == 1.0 and m.state_.responses[a, SMS] == 1.0
    assert m.last_fit_["rows"] == 0 and m.last_fit_["pending_counted"] == 1 and m.as_of_ == T0 + 3 * D
    m.partial_fit([], as_of=T0 + 4 * D)
    assert m.as_of_ == T0 + 4 * D and m.last_fit_["counted"] == 0
    with pytest.raises(ValueError, match=re.escape("logs: the frame is empty (0 rows)")):
        m.partial_fit(sends(("a", T0, "sms", T0 + H)).iloc[:0])  # without as_of: nothing to set the clock


def test_refeeding_the_same_call_is_a_no_op(space, log_factory):
    logs = log_factory(n_customers=10, n_sends=80, seed=22, days=6)
    t = T0 + 5 * D
    m = model(space, half_life="10D").fit(known_at(logs, t), as_of=t)
    before = m.state_
    assert before.pending.n_pending > 0
    m.partial_fit(known_at(logs, t), as_of=t)
    n = before.pending.n_pending
    assert m.last_fit_["counted"] == 0 and m.last_fit_["matched"] == n > 0
    assert m.last_fit_["before_watermark"] == len(known_at(logs, t)) - n  # rows of counted sends: as before
    for name, arr in before.arrays().items():
        np.testing.assert_array_equal(arr, m.state_.arrays()[name], err_msg=name)


def test_fit_counts_as_before_and_keeps_what_is_pending(space, log_factory):
    logs = log_factory(n_customers=12, n_sends=120, seed=23, days=8)
    t = T0 + 6 * D
    m = model(space).fit(logs, as_of=t)
    known = logs[logs["sent_at"] <= t]
    res = known["sent_at"] + 72 * H
    assert m.last_fit_["counted"] == int((res <= t).sum())
    assert m.last_fit_["pending"] == m.state_.pending.n_pending == int((res > t).sum())
    # the recently counted sends are kept too, only to recognise their rows
    assert len(m.state_.pending) == m.state_.pending.n_pending + int(((res <= t) & (res > t - 72 * H)).sum())


# -- exactly once, whatever the pattern -------------------------------------------------------------


@settings(deadline=None, max_examples=12)
@given(seed=st.integers(0, 10_000), steps=st.lists(st.integers(1, 9), min_size=4, max_size=14),
       half_life=st.sampled_from([None, "7D"]), resolve=st.sampled_from(["window", "reply"]),
       int_ids=st.booleans())
def test_property_streaming_new_rows_equals_one_fit_equals_refeeding(space, log_factory, seed, steps, half_life,
                                                                      resolve, int_ids):
    logs = log_factory(n_customers=8, n_sends=50, seed=seed, days=4, int_ids=int_ids)
    times = [T0 + pd.Timedelta(hours=int(h)) for h in np.cumsum(np.array(steps) * 6)]
    end = times[-1]
    kw = {"half_life": half_life, "resolve": resolve}
    once = model(space, **kw).fit(known_at(logs, end), as_of=end).state_
    for mode in ("new", "trailing", "whole"):
        assert_same_learning(stream(space, logs, times, mode, **kw).state_, once)


def test_rows_given_twice_or_after_they_were_counted_count_once(space, log_factory):
    logs = log_factory(n_customers=10, n_sends=100, seed=24, days=6, with_event_id=False)
    m = model(space)
    times = pd.date_range(T0 + 12 * H, T0 + 12 * D, freq="12h")
    before = None
    for t in times:  # every call: the new rows, plus the whole log known so far, in two chunks
        m.partial_fit([new_rows(logs, before, t), known_at(logs, t)], as_of=t)
        before = t
    assert m.state_.counts["counted"] == len(logs)  # every window closed by the end: each send once
    assert_same_learning(m.state_, model(space).fit(logs, as_of=times[-1]).state_)


def test_identity_is_customer_time_and_named_arms(space):
    t = T0 + H
    m = model(space).partial_fit(sends(("a", T0, "sms", None, {"tz": "UTC", "wording": "plain"})), as_of=t)
    # another zone (so another local hour) is the same send; another wording or instant is another send
    later = sends(("a", T0, "sms", None, {"tz": "Europe/Paris", "wording": "plain"}),
                  ("a", T0, "sms", None, {"tz": "UTC", "wording": "urgent"}),
                  ("a", T0 + pd.Timedelta("1ns"), "sms", None, {"tz": "UTC", "wording": "plain"}))
    m.partial_fit(later, as_of=t)
    assert m.last_fit_["matched"] == 1 and m.state_.pending.n_pending == 3


def test_unsubscription_brought_by_a_later_row_sets_the_flag(space):
    m = model(space).partial_fit(sends(("a", T0, "email", None)), as_of=T0 + H)
    m.partial_fit(sends(("a", T0, "email", None, {"unsubscribed": True})), as_of=T0 + 2 * H)
    a = m.state_.index.row_of("a")
    assert m.state_.unsubscribed[a] == 1 << EMAIL
    m.partial_fit(sends(("b", T0 + 3 * D, "email", None)), as_of=T0 + 3 * D)
    assert m.state_.sends[a, EMAIL] == 1.0 and m.state_.responses[a, EMAIL] == 0.0  # a failure


@pytest.mark.parametrize("threads", [1, 2])
def test_streaming_does_not_depend_on_the_thread_count(space, log_factory, threads):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("one core")
    logs = log_factory(n_customers=15, n_sends=150, seed=25, days=5)
    times = pd.date_range(T0, T0 + 6 * D, freq="6h")
    reference = stream(space, logs, times, "new", half_life="5D").state_
    numba.set_num_threads(threads)
    try:
        again = stream(space, logs, times, "new", half_life="5D").state_
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for name, arr in reference.arrays().items():
        np.testing.assert_array_equal(arr, again.arrays()[name], err_msg=name)


# -- what cannot work: warned -------------------------------------------------------------------


def test_late_rows_are_not_counted_and_warned(space):
    m = model(space).partial_fit(sends(("a", T0, "email", None)), as_of=T0 + 4 * D)
    with pytest.warns(RuntimeWarning, match=re.escape("1 rows resolved at or before the model's watermark "
                                                      "(2026-03-06 09:00:00+00:00) and were never seen before")):
        m.partial_fit(sends(("b", T0 + D, "sms", None)), as_of=T0 + 4 * D + H)  # resolved at T0 + 4 D
    assert m.last_fit_["late_rows"] == 1 and m.last_fit_["counted"] == 0
    with warnings.catch_warnings():  # a's row again: counted before, so not late
        warnings.simplefilter("error")
        m.partial_fit(sends(("a", T0, "email", None)), as_of=T0 + 4 * D + 2 * H)
    assert m.last_fit_["late_rows"] == 0 and m.last_fit_["before_watermark"] == 1


def test_a_reply_after_its_send_was_counted_is_a_late_update(space):
    m = model(space).partial_fit(sends(("a", T0, "email", None)), as_of=T0 + 3 * D)  # counted: a failure
    with pytest.warns(RuntimeWarning, match="1 rows bring a reply, unsubscription or complaint to a send already"):
        m.partial_fit(sends(("a", T0, "email", T0 + 2 * H)), as_of=T0 + 3 * D + H)
    a = m.state_.index.row_of("a")
    assert m.state_.sends[a, EMAIL] == 1.0 and m.state_.responses[a, EMAIL] == 0.0
    assert m.last_fit_["late_updates"] == 1


def test_a_full_buffer_warns_and_refeeding_still_counts_each_send_once(space, log_factory, monkeypatch):
    monkeypatch.setattr(P, "MAX_PENDING", 5)
    logs = log_factory(n_customers=10, n_sends=60, seed=26, days=4)
    t = T0 + 2 * D
    with pytest.warns(RuntimeWarning, match="pending sends exceed the buffer of 5 entries"):
        m = model(space).fit(logs, as_of=t)
    assert m.last_fit_["pending_dropped"] > 0 and len(m.state_.pending) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for day in (3, 4, 5, 6, 8):  # the trailing log every day: the dropped sends come back through it
            m.partial_fit(known_at(logs, T0 + day * D), as_of=T0 + day * D)
    assert m.state_.counts["counted"] == len(logs)
    assert_same_learning(m.state_, model(space).fit(logs, as_of=T0 + 8 * D).state_)


# -- kept with the model ----------------------------------------------------------------------------


def test_saved_model_keeps_its_pending_sends(space, log_factory, tmp_path):
    logs = log_factory(n_customers=12, n_sends=100, seed=27, days=6)
    times = list(pd.date_range(T0, T0 + 9 * D, freq="12h"))
    half = len(times) // 2
    m = stream(space, logs, times[:half], "new")
    assert m.state_.pending.n_pending > 0
    m.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    for name, arr in m.state_.arrays().items():
        np.testing.assert_array_equal(arr, loaded.state_.arrays()[name], err_msg=name)
    assert loaded.state_.pending.since_ns == m.state_.pending.since_ns
    before = times[half - 1]
    for t in times[half:]:
        loaded.partial_fit(new_rows(logs, before, t), as_of=t)
        before = t
    assert_same_learning(loaded.state_, stream(space, logs, times, "new").state_)


def test_files_without_the_buffer_load_with_an_empty_one(space, log_factory, tmp_path):
    logs = log_factory(n_customers=8, n_sends=50, seed=28, days=5)
    m = model(space).fit(logs, as_of=T0 + 3 * D)
    m.save(tmp_path / "m")
    manifest = read_manifest(tmp_path / "m")
    for name in [k for k in manifest["arrays"] if k.startswith("pending_")]:
        model_file(tmp_path / "m", manifest["arrays"][name]["file"]).unlink()
        del manifest["arrays"][name]
    del manifest["pending_since_ns"]
    write_manifest(tmp_path / "m", manifest)
    loaded = co.load(tmp_path / "m")
    assert len(loaded.state_.pending) == 0 and loaded.state_.pending.since_ns == loaded.state_.watermark_ns
    np.testing.assert_array_equal(loaded.state_.sends, m.state_.sends)


def test_a_buffer_that_breaks_an_invariant_is_refused(space, log_factory, tmp_path):
    logs = log_factory(n_customers=8, n_sends=50, seed=29, days=5)
    model(space).fit(logs, as_of=T0 + 3 * D).save(tmp_path / "m")
    manifest = read_manifest(tmp_path / "m")
    path = model_file(tmp_path / "m", manifest["arrays"]["pending_row"]["file"])
    rows = np.load(path)
    rows[0] = 10_000
    np.save(path, rows)
    with pytest.raises(ValueError, match="array 'pending_row' refers to customers outside"):
        co.load(tmp_path / "m", verify=False)


def test_forget_drops_the_customers_pending_sends(space):
    logs = sends(("a", T0, "email", None), ("b", T0, "sms", None), ("c", T0 + H, "sms", None))
    m = model(space).partial_fit(logs, as_of=T0 + 2 * H)
    assert m.state_.pending.n_pending == 3
    m.forget(["a"])
    p = m.state_.pending
    assert p.n_pending == 2
    assert sorted(m.state_.index.ids()[p.row].tolist()) == ["b", "c"]
    m.partial_fit(sends(("d", T0 + 4 * D, "sms", None)), as_of=T0 + 4 * D)
    st_ = m.state_
    assert st_.counts["counted"] == 2
    assert st_.sends[st_.index.row_of("b"), SMS] == 1.0 and st_.sends[st_.index.row_of("c"), SMS] == 1.0
