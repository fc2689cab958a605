"""Learning from logs through ChannelModel.fit / partial_fit: delayed feedback, the watermark
(exactly-once), decay, negative outcomes, chunking invariance and failure atomicity."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import log_rows as sends
from conftest import window_model as model

T0 = pd.Timestamp("2026-03-02 09:00", tz="UTC")  # a Monday
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
EMAIL, SMS, PUSH, PLAIN, URGENT = 0, 1, 2, 3, 4
HOUR0, WEEKDAY0 = 5, 29  # flat offsets of the hour and weekday blocks (3 channels + 2 wordings)

PER_CUSTOMER = ("sends", "responses", "squared_weights", "unsubscribed", "complained", "last_complaint_min", "last_sent_min")


def row(store, customer) -> int:
    r = store.index.row_of(customer)
    assert r >= 0, customer
    return r


def aligned(store) -> dict[str, np.ndarray]:
    """Per-customer arrays sorted by customer id, plus the ids and the zone names."""
    ids = store.index.ids()
    order = np.argsort(ids, kind="stable")
    out = {name: np.asarray(getattr(store, name))[order] for name in PER_CUSTOMER}
    out["ids"] = ids[order]
    out["zone"] = np.array([store.zones[z] for z in np.asarray(store.zone)[order]], dtype=object)
    return out


def assert_same_state(a, b, *, rtol: float = 0.0) -> None:
    """Same customers and statistics (exactly, or to ``rtol`` for the float statistics and the prior)."""
    x, y = aligned(a), aligned(b)
    assert list(x["ids"]) == list(y["ids"])
    for name in ("unsubscribed", "complained", "last_complaint_min", "last_sent_min", "zone"):
        np.testing.assert_array_equal(x[name], y[name], err_msg=name)
    for name in ("sends", "responses", "squared_weights"):
        if rtol:
            np.testing.assert_allclose(x[name], y[name], rtol=rtol, atol=1e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(x[name], y[name], err_msg=name)
    for name in ("prior_alpha", "prior_beta"):
        if rtol:
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.watermark_ns == b.watermark_ns


def assert_identical(a, b, *, same_clock: bool = True) -> None:
    """Bit-identical stores, row order included (and the same watermark unless ``same_clock`` is False)."""
    for name, arr in a.arrays().items():
        other = b.arrays()[name]
        assert arr.dtype == other.dtype, name
        np.testing.assert_array_equal(arr, other, err_msg=name)
    assert a.zones == b.zones and a.index.kind == b.index.kind
    if same_clock:
        assert a.watermark_ns == b.watermark_ns


# -- delayed feedback --------------------------------------------------------------------------


def test_pending_send_is_not_a_failure_until_the_window_passes(space):
    logs = sends(("a", T0, "email", None))
    m = model(space).fit(logs, as_of=T0 + 24 * H)
    st_ = m.state_
    assert st_.n_customers == 1
    assert not st_.sends.any() and not st_.responses.any()
    assert m.last_fit_["pending"] == 1 and m.last_fit_["counted"] == 0
    m.partial_fit(logs, as_of=T0 + 72 * H - pd.Timedelta(seconds=1))
    assert not m.state_.sends.any()
    m.partial_fit(logs, as_of=T0 + 72 * H)  # the window has just passed: now a failure
    st_ = m.state_
    r = row(st_, "a")
    assert np.flatnonzero(st_.sends[r]).tolist() == [EMAIL, HOUR0 + 9, WEEKDAY0 + 0]
    assert st_.sends[r, EMAIL] == 1.0 and not st_.responses.any()
    assert m.last_fit_["counted"] == 1


def test_reply_inside_the_window_counts_when_it_arrives_with_resolve_reply(space):
    logs = sends(("a", T0, "sms", T0 + 5 * H))
    m = model(space, resolve="reply").fit(logs, as_of=T0 + 4 * H)
    assert not m.state_.sends.any()
    m.partial_fit(logs, as_of=T0 + 5 * H)
    r = row(m.state_, "a")
    assert m.state_.sends[r, SMS] == 1.0 and m.state_.responses[r, SMS] == 1.0
    assert m.state_.responses[r, HOUR0 + 9] == 1.0


def test_by_default_a_replied_send_counts_when_its_window_closes(space):
    """resolve="window": replies wait for their window like silences, so no arm is overrated."""
    logs = sends(("a", T0, "sms", T0 + 5 * H), ("b", T0, "sms", None))
    m = model(space).fit(logs, as_of=T0 + 5 * H)
    assert not m.state_.sends.any() and m.last_fit_["pending"] == 2
    m.partial_fit(logs, as_of=T0 + 72 * H - pd.Timedelta("1s"))
    assert not m.state_.sends.any()
    m.partial_fit(logs, as_of=T0 + 72 * H)  # both windows close: one success, one failure, counted together
    assert m.last_fit_["counted"] == 2 and m.last_fit_["responses"] == 1
    st_ = m.state_
    assert st_.sends[row(st_, "a"), SMS] == 1.0 and st_.responses[row(st_, "a"), SMS] == 1.0
    assert st_.sends[row(st_, "b"), SMS] == 1.0 and st_.responses[row(st_, "b"), SMS] == 0.0
    with pytest.raises(ValueError, match="resolve: expected 'window' or 'reply', got 'now'"):
        model(space, resolve="now")


def test_reply_after_the_window_counts_as_none(space):
    logs = sends(("a", T0, "email", T0 + 80 * H), ("b", T0, "email", T0 + 72 * H))
    m = model(space).fit(logs, as_of=T0 + 75 * H)  # a's window is over, its reply not yet in
    a, b = row(m.state_, "a"), row(m.state_, "b")
    assert m.state_.sends[a, EMAIL] == 1.0 and m.state_.responses[a, EMAIL] == 0.0
    assert m.state_.responses[b, EMAIL] == 1.0  # exactly at the end of the window still counts
    before = m.state_
    m.partial_fit(logs, as_of=T0 + 100 * H)  # the late reply changes nothing
    assert_identical(before, m.state_, same_clock=False)
    assert m.state_.watermark_ns == (T0 + 100 * H).value
    one = model(space).fit(logs, as_of=T0 + 100 * H).state_
    assert one.sends[a, EMAIL] == 1.0 and one.responses[a, EMAIL] == 0.0


def test_negative_outcomes_are_failures_and_set_flags(space):
    logs = sends(
        ("a", T0, "email", T0 + H, {"unsubscribed": True}),          # replied, but unsubscribed
        ("a", T0 + D, "sms", T0 + D + H, {"complained": True}),      # replied with a complaint
        ("a", T0 + 2 * D, "push", T0 + 2 * D + H),                   # a real reply
        ("b", T0, "push", None, {"unsubscribed": True, "complained": True}),
        ("c", T0 + 10 * D, "sms", None, {"complained": True}),       # still pending at as_of
    )
    logs[["unsubscribed", "complained"]] = logs[["unsubscribed", "complained"]].fillna(False).astype(bool)
    m = model(space).fit(logs, as_of=T0 + 10 * D + H)
    st_ = m.state_
    a, b, c = row(st_, "a"), row(st_, "b"), row(st_, "c")
    assert st_.sends[a, [EMAIL, SMS, PUSH]].tolist() == [1.0, 1.0, 1.0]
    assert st_.responses[a, [EMAIL, SMS, PUSH]].tolist() == [0.0, 0.0, 1.0]
    assert st_.sends[b, PUSH] == 1.0 and st_.responses[b].sum() == 0.0
    assert st_.sends[c].sum() == 0.0  # pending: no statistics yet ...
    assert st_.unsubscribed[[a, b, c]].tolist() == [1 << EMAIL, 1 << PUSH, 0]
    assert st_.complained[[a, b, c]].tolist() == [1 << SMS, 1 << PUSH, 1 << SMS]  # ... but the flag is set
    minute = 60 * 10**9  # minutes since the epoch, rounded up (T0 and D are whole minutes)
    assert st_.last_complaint_min[a] == (T0 + D).value // minute
    assert st_.last_complaint_min[b] == T0.value // minute
    assert st_.last_complaint_min[c] == (T0 + 10 * D).value // minute
    assert m.last_fit_["responses"] == 1
    # flags are idempotent: a second ingestion of the same rows leaves them as they are
    m.partial_fit(logs, as_of=T0 + 20 * D)
    assert m.state_.unsubscribed[[a, b, c]].tolist() == [1 << EMAIL, 1 << PUSH, 0]
    assert m.state_.complained[[a, b, c]].tolist() == [1 << SMS, 1 << PUSH, 1 << SMS]
    assert m.state_.sends[c, SMS] == 1.0 and m.state_.responses[c, SMS] == 0.0


def test_sends_after_as_of_are_ignored(space):
    logs = sends(("a", T0, "email", None), ("b", T0 + 10 * D, "sms", None))
    m = model(space).fit(logs, as_of=T0 + 5 * D)
    assert list(m.state_.index.ids()) == ["a"]
    assert m.last_fit_["after_as_of"] == 1


# -- exactly-once ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", [T0 + 35 * D, None])
def test_reingestion_is_a_no_op(space, log_factory, as_of):
    logs = log_factory(n_customers=15, n_sends=150, seed=11)
    m = model(space, half_life="20D").fit(logs, as_of=as_of)
    first = m.state_
    m.partial_fit(logs, as_of=as_of)
    assert m.last_fit_["counted"] == 0
    assert_identical(first, m.state_)
    m.partial_fit([logs.iloc[:70], logs.iloc[70:]], as_of=as_of)  # chunked the second time: still nothing
    assert_identical(first, m.state_)
    again = model(space, half_life="20D").fit(logs, as_of=as_of).state_  # and a refit is deterministic
    assert_identical(first, again)


@pytest.mark.parametrize("half_life", [None, "20D"])
def test_sends_resolving_between_two_as_ofs_are_counted_once(space, log_factory, half_life):
    logs = log_factory(n_customers=15, n_sends=200, seed=12)
    t1, t2, t3 = T0 + 10 * D, T0 + 21 * D + 5 * H, T0 + 40 * D
    step = model(space, half_life=half_life).fit(logs, as_of=t1).partial_fit(logs, as_of=t2)
    assert step.last_fit_["before_watermark"] > 0 and step.last_fit_["counted"] > 0
    assert_same_state(step.state_, model(space, half_life=half_life).fit(logs, as_of=t2).state_, rtol=1e-5)
    step.partial_fit(logs, as_of=t3)
    once = model(space, half_life=half_life).fit(logs, as_of=t3)
    assert_same_state(step.state_, once.state_, rtol=1e-5)
    # every send is counted exactly once over the three ingestions
    assert step.state_.counts["counted"] == once.state_.counts["counted"] == len(logs)


def test_daily_partial_fits_equal_one_fit(space, log_factory):
    logs = log_factory(n_customers=10, n_sends=120, seed=13)
    m = model(space, half_life="15D")
    for day in range(0, 36, 3):
        upto = logs[logs["sent_at"] <= T0 + day * D]  # the log as it was known that day
        if len(upto):
            m.partial_fit(upto, as_of=T0 + day * D)
    # rows whose window ends after the last as_of are pending in both
    assert_same_state(m.state_, model(space, half_life="15D").fit(logs, as_of=T0 + 33 * D).state_, rtol=1e-5)


def test_as_of_before_the_watermark_raises(space, log_factory):
    logs = log_factory(n_customers=5, n_sends=30, seed=14)
    m = model(space).fit(logs, as_of=T0 + 20 * D)
    before = m.state_
    message = ("as_of: must not be before the model's watermark (2026-03-22 09:00:00+00:00), "
               "got 2026-03-12 09:00:00+00:00")
    with pytest.raises(ValueError, match=re.escape(message)):
        m.partial_fit(logs, as_of=T0 + 10 * D)
    assert m.state_ is before
    # as_of=None with an older log keeps the watermark (nothing new is counted)
    m.partial_fit(logs[logs["sent_at"] < T0 + 5 * D], as_of=None)
    assert m.state_.watermark_ns == before.watermark_ns and m.last_fit_["counted"] == 0


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_failed_fit_leaves_the_previous_model_intact(space, log_factory, method):
    logs = log_factory(n_customers=8, n_sends=60, seed=15)
    m = model(space, half_life="10D").fit(logs, as_of=T0 + 31 * D)
    before, as_of, last_fit = m.state_, m.as_of_, dict(m.last_fit_)
    copies = {k: np.array(v, copy=True) for k, v in before.arrays().items()}
    good = log_factory(n_customers=30, n_sends=50, seed=16)  # new customers, grows the arrays
    bad = log_factory(n_customers=3, n_sends=10, seed=17)
    bad.loc[bad.index[4], "channel"] = "carrier pigeon"
    with pytest.raises(ValueError, match=re.escape("column 'channel': unknown value 'carrier pigeon' in row 54")):
        getattr(m, method)([good, bad], as_of=T0 + 40 * D)
    assert m.state_ is before and m.as_of_ == as_of and m.last_fit_ == last_fit
    for k, v in before.arrays().items():
        np.testing.assert_array_equal(v, copies[k], err_msg=k)


# -- decay -------------------------------------------------------------------------------------


def test_decay_weights_are_exact(space):
    logs = sends(("a", T0, "email", T0 + H),            # a success on Monday 09h
                 ("a", T0 + 10 * D, "sms", None))       # a failure on Thursday 09h, resolved at +13 D
    m = model(space, half_life="10D").fit(logs, as_of=T0 + 20 * D)
    st_ = m.state_
    a = row(st_, "a")
    assert st_.sends.dtype == np.float32
    assert st_.sends[a, EMAIL] == 0.25 and st_.responses[a, EMAIL] == 0.25   # 0.5 ** (20 / 10)
    assert st_.sends[a, SMS] == 0.5 and st_.responses[a, SMS] == 0.0         # 0.5 ** (10 / 10)
    assert st_.sends[a, HOUR0 + 9] == 0.75 and st_.responses[a, HOUR0 + 9] == 0.25
    assert st_.sends[a, WEEKDAY0 + 0] == 0.25 and st_.sends[a, WEEKDAY0 + 3] == 0.5
    assert np.flatnonzero(st_.sends[a]).tolist() == [EMAIL, SMS, HOUR0 + 9, WEEKDAY0, WEEKDAY0 + 3]
    # moving the clock 10 more days halves everything, and equals a fit at the later time
    m.partial_fit(logs, as_of=T0 + 30 * D)
    assert m.state_.sends[a, EMAIL] == 0.125 and m.state_.sends[a, SMS] == 0.25
    assert_identical(m.state_, model(space, half_life="10D").fit(logs, as_of=T0 + 30 * D).state_)


def test_decay_of_a_send_counted_while_the_other_is_pending(space):
    logs = sends(("a", T0, "email", T0 + H), ("a", T0 + 10 * D, "sms", None))
    m = model(space, half_life="10D").fit(logs, as_of=T0 + 12 * D)  # the sms send is still pending
    a = row(m.state_, "a")
    assert m.state_.sends[a, EMAIL] == np.float32(2.0 ** -1.2) and m.state_.sends[a, SMS] == 0.0
    m.partial_fit(logs, as_of=T0 + 20 * D)
    np.testing.assert_allclose(m.state_.sends[a, [EMAIL, SMS]], [0.25, 0.5], rtol=1e-6)


# -- chunking and order invariance ---------------------------------------------------------------


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 10_000), n_customers=st.integers(1, 8), n_sends=st.integers(1, 40),
       n_chunks=st.integers(1, 5), shuffle=st.integers(0, 2**32 - 1), int_ids=st.booleans(),
       as_of_days=st.sampled_from([None, 10.0, 40.0]), half_life=st.sampled_from([None, "7D"]))
def test_property_any_chunking_in_any_order_gives_the_same_state(space, log_factory, seed, n_customers, n_sends,
                                                                  n_chunks, shuffle, int_ids, as_of_days, half_life):
    logs = log_factory(n_customers=n_customers, n_sends=n_sends, seed=seed, int_ids=int_ids)
    as_of = None if as_of_days is None else T0 + as_of_days * D
    whole = model(space, half_life=half_life).fit(logs, as_of=as_of).state_
    rng = np.random.default_rng(shuffle)
    perm = rng.permutation(len(logs))
    cuts = np.sort(rng.integers(0, len(logs) + 1, size=n_chunks - 1))
    chunks = [logs.iloc[part] for part in np.split(perm, cuts) if len(part)]
    chunked = model(space, half_life=half_life).fit(iter(chunks), as_of=as_of).state_
    assert_same_state(whole, chunked, rtol=1e-5)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_zone_of_simultaneous_sends_does_not_depend_on_chunk_order(space, order):
    # the latest send sets the customer's zone; for sends at the same instant, the larger zone name
    rows = [sends(("a", T0, "email", None, {"tz": "America/New_York"})),
            sends(("a", T0, "sms", None, {"tz": "Europe/Paris"}))]
    one = model(space).fit(pd.concat(rows, ignore_index=True), as_of=T0 + 5 * D).state_
    chunked = model(space).fit([rows[i] for i in order], as_of=T0 + 5 * D).state_
    assert one.zones[one.zone[0]] == chunked.zones[chunked.zone[0]] == "Europe/Paris"
    assert_same_state(one, chunked)
