"""The contact-rule kernel (channelopt.kernels.rules), checked against a vectorised numpy oracle.

The oracle is the former numpy implementation of the batch path
(``contact.earliest_send_times`` and its ``_cap_release``), kept here verbatim
in substance: the kernel that replaced it, and that both ``rank`` and the fast
path of ``choose_channel`` now call, must give exactly its earliest send times,
suppression and escalation flags, for any history, consent and policy.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channelopt as co
from channelopt import Cap, ContactPolicy
from channelopt.core.decision import REASONS
from channelopt.kernels.decide import INFEASIBLE, NO_TIME, NOT_WORTH_COST, OK
from channelopt.kernels.rules import contact_rules, contact_rules_many, hold_reason, hold_reasons_many, rules_config
from channelopt.policy import fast, fast_view
from channelopt.policy.contact import policy_rules
from channelopt.state.history import HISTORY_EMPTY, HISTORY_SLOTS

I64_MIN = np.iinfo(np.int64).min
NS_MIN = 60 * 10**9
NOW = 29_000_000 * NS_MIN  # a whole minute, late 2025
CHANNELS = ("email", "sms", "push", "voice")


# -- the oracle: the former numpy implementation ----------------------------------------------------------------------

def _cap_release(times_ns: np.ndarray, k: int, window_ns: int) -> np.ndarray:
    n, slots = times_ns.shape
    if slots < k:
        return np.full(n, I64_MIN, dtype=np.int64)
    kth = np.partition(times_ns, slots - k, axis=1)[:, slots - k]
    out = np.full(n, I64_MIN, dtype=np.int64)
    real = kth > I64_MIN
    out[real] = kth[real] + window_ns
    return out


def oracle(min_gap, cooloff, caps, n_ch, now_ns, consent, hist_min, hist_channel, complaint_min, promotional):
    n = consent.shape[0]
    last_complaint_ns = np.where(complaint_min != HISTORY_EMPTY, complaint_min.astype(np.int64) * NS_MIN, I64_MIN)
    t_ns = hist_min.astype(np.int64) * NS_MIN
    t_ns[hist_min == HISTORY_EMPTY] = I64_MIN
    base = np.full(n, now_ns, dtype=np.int64)
    if min_gap is not None:
        last = t_ns.max(axis=1)
        base = np.where(last > I64_MIN, np.maximum(base, last + min_gap), base)
    per_channel = np.repeat(base[:, None], n_ch, axis=1)
    for ch, k, window in caps:
        if ch == -1:
            per_channel = np.maximum(per_channel, _cap_release(t_ns, k, window)[:, None])
        elif ch >= 0:
            times = np.where(hist_channel == ch, t_ns, I64_MIN)
            per_channel[:, ch] = np.maximum(per_channel[:, ch], _cap_release(times, k, window))
    bits = np.uint32(1) << np.arange(n_ch, dtype=np.uint32)
    earliest = np.where((consent[:, None] & bits[None, :]) != 0, per_channel, NO_TIME)
    recent = (last_complaint_ns != I64_MIN) & (now_ns - last_complaint_ns < cooloff)
    suppressed = recent if promotional else np.zeros(n, dtype=bool)
    earliest[suppressed] = NO_TIME
    escalate = recent & ~(t_ns > last_complaint_ns[:, None]).any(axis=1)
    return earliest, suppressed, escalate


def run_many(conf, bits, unsub, mask, hist_min, hist_c, complaint, promotional, n_ch=len(CHANNELS)):
    n = bits.shape[0]
    out = (np.empty((n, n_ch), np.int64), np.empty(n, np.uint32), np.empty(n, bool), np.empty(n, bool))
    hist_min.flags.writeable = False  # as the batch path passes them (one compiled signature)
    hist_c.flags.writeable = False
    contact_rules_many(conf, np.int64(NOW), bits, unsub, np.int64(mask), hist_min, hist_c, complaint, promotional,
                       *out)
    return out


# -- strategies -------------------------------------------------------------------------------------------------------

minutes_ago = st.integers(0, 10 * 1440)
rows = st.tuples(
    st.lists(st.none() | st.tuples(minutes_ago, st.integers(0, len(CHANNELS) - 1)), min_size=HISTORY_SLOTS,
             max_size=HISTORY_SLOTS),
    st.integers(0, 15), st.integers(0, 15), st.none() | minutes_ago)
caps = st.lists(st.tuples(st.integers(-2, len(CHANNELS) - 1), st.integers(1, HISTORY_SLOTS),
                          st.sampled_from([3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400])), max_size=4)


def _arrays(batch):
    n = len(batch)
    hist_min = np.full((n, HISTORY_SLOTS), HISTORY_EMPTY, np.int32)
    hist_c = np.zeros((n, HISTORY_SLOTS), np.int8)
    bits = np.zeros(n, np.uint32)
    unsub = np.zeros(n, np.uint32)
    complaint = np.full(n, HISTORY_EMPTY, np.int32)
    for i, (slots, b, u, c) in enumerate(batch):
        for s, slot in enumerate(slots):
            if slot is not None:
                hist_min[i, s] = NOW // NS_MIN - slot[0]
                hist_c[i, s] = slot[1]
        bits[i], unsub[i] = b, u
        if c is not None:
            complaint[i] = NOW // NS_MIN - c
    return bits, unsub, hist_min, hist_c, complaint


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(rows, min_size=1, max_size=12), caps=caps,
       min_gap=st.none() | st.sampled_from([0, 1800, 7200, 43200, 86400]), cooloff=st.sampled_from([86400, 30 * 86400]),
       mask=st.integers(0, 15), promotional=st.booleans())
def test_kernel_equals_the_numpy_oracle(batch, caps, min_gap, cooloff, mask, promotional):
    caps_ns = [(ch, k, w * 10**9) for ch, k, w in caps]
    gap = None if min_gap is None else min_gap * 10**9
    conf = rules_config(gap, cooloff * 10**9, caps_ns)
    bits, unsub, hist_min, hist_c, complaint = _arrays(batch)
    earliest, effective, suppressed, escalate = run_many(conf, bits, unsub, mask, hist_min, hist_c, complaint,
                                                         promotional)
    eff = bits & ~unsub & np.uint32(mask)
    e, s, x = oracle(gap, cooloff * 10**9, caps_ns, len(CHANNELS), NOW, eff, hist_min, hist_c, complaint,
                     promotional)
    np.testing.assert_array_equal(effective, eff)
    np.testing.assert_array_equal(earliest, e)
    np.testing.assert_array_equal(suppressed, s)
    np.testing.assert_array_equal(escalate, x)
    # one row at a time, as the fast path calls it: the same
    times = np.empty(HISTORY_SLOTS, np.int64)
    for i in range(len(batch)):
        row = np.empty(len(CHANNELS), np.int64)
        out = contact_rules(conf, np.int64(NOW), np.int64(bits[i]), np.int64(unsub[i]), np.int64(mask), hist_min[i],
                            hist_c[i], np.int64(complaint[i]), promotional, row, times)
        assert out == (effective[i], suppressed[i], escalate[i])
        np.testing.assert_array_equal(row, earliest[i])


def test_no_policy_allows_every_unmasked_channel_now():
    bits, unsub, hist_min, hist_c, complaint = _arrays([([(5, 1)] + [None] * (HISTORY_SLOTS - 1), 0, 15, 3)])
    earliest, effective, suppressed, escalate = run_many(policy_rules(None, CHANNELS), bits, unsub, 0b1011, hist_min,
                                                         hist_c, complaint, True)
    assert earliest[0].tolist() == [NOW, NOW, NO_TIME, NOW]
    assert (effective[0], suppressed[0], escalate[0]) == (0b1011, False, False)


def test_policy_rules_layout():
    policy = ContactPolicy(caps=[Cap(3, "7D"), Cap(1, "1D", "sms"), Cap(2, "1D", "whatsapp")], min_gap="12h",
                           complaint_cooloff="10D")
    conf = policy_rules(policy, CHANNELS)
    day = 86400 * 10**9
    assert conf.tolist() == [1, 12 * 3600 * 10**9, 10 * day, 3, -1, 3, 7 * day, 1, 1, day, -2, 2, day]
    assert not conf.flags.writeable
    assert policy_rules(ContactPolicy(min_gap=None, caps=[]), CHANNELS).tolist()[:4] == [1, -1, 30 * day, 0]


@pytest.mark.parametrize(("status", "policy", "suppressed", "eff", "earliest", "expected"), [
    (OK, True, True, 0, [NO_TIME] * 4, None),
    (NOT_WORTH_COST, True, False, 1, [NOW] * 4, "not_worth_cost"),
    (INFEASIBLE, False, False, 15, [NOW] * 4, "no_allowed_channel"),
    (INFEASIBLE, True, True, 15, [NO_TIME] * 4, "suppressed"),
    (INFEASIBLE, True, False, 0, [NO_TIME] * 4, "no_consent"),
    (INFEASIBLE, True, False, 0b0110, [NOW, NOW + 2, NOW + 2, NOW], "cap"),
    (INFEASIBLE, True, False, 0b0110, [NOW, NOW + 2, NOW + 1, NOW], "quiet_hours_until_deadline"),
])
def test_hold_reasons_in_their_order(status, policy, suppressed, eff, earliest, expected):
    deadline = NOW + 1
    e = np.array(earliest, np.int64)
    code = hold_reason(status, policy, suppressed, np.int64(eff), e, np.int64(deadline))
    assert (None if code < 0 else REASONS[code]) == expected
    out = np.empty(3, np.int64)
    hold_reasons_many(np.full(3, status, np.int8), policy, np.array([suppressed]), np.array([eff], np.uint32),
                      e[None, :], np.int64(deadline), out)  # one shared row
    assert out.tolist() == [code] * 3


def test_the_fast_path_reads_no_raw_addresses():
    for module in (fast, fast_view):
        source = inspect.getsource(module)
        for word in ("inttoptr", "carray", "intrinsic", "ctypes.data"):
            assert word not in source, (module.__name__, word)


def test_batch_and_single_paths_share_one_compiled_rule_kernel():
    space = co.ArmSpace(channels=list(CHANNELS))
    logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-02"],
                         "channel": ["sms", "email"], "responded_at": [None, None]})
    model = co.ChannelModel(space, seed=1, policy=ContactPolicy()).fit(logs)
    model.update_consent("a", granted=["email"])
    now = "2026-01-03 09:00"
    model.rank(["a", "b", "c"], now=now)
    assert fast.choose_fast(model, "a", now) is not None and fast.choose_fast(model, "zz", now) is not None
    model._choose("b", now, planned=[(10**18, "sms")])
    for kernel in (contact_rules, hold_reason):
        assert len(kernel.signatures) == 1, kernel.signatures
