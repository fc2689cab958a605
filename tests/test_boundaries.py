"""Exact boundary instants and decision correctness, each against an oracle written here.

Boundaries (one test each, the instant itself and its neighbour):

* the watermark: a send resolving exactly at the watermark is counted once, never again;
* the deadline: a send exactly at ``now + deadline`` is a send, not a hold;
* the end hour of a quiet span: ``(9, 17)`` is quiet ``[09:00, 17:00)``, not at 17:00;
* the complaint cool-off: a complaint exactly ``complaint_cooloff`` old no longer suppresses;
* a zero-latency reply: ``responded_at == sent_at`` is accepted, one ns earlier is an error.

Decisions: every chosen arm (channel, wording, extra dimensions, and the send slot from
the hour and weekday draws) is the argmax of the decision's own draws, re-computed here
from ``Decision.scores`` and a slot list built with zoneinfo; the draws follow the Beta
posteriors (Kolmogorov-Smirnov against scipy); and the choice frequencies of every
dimension over thousands of decision rounds match exact Thompson win probabilities
integrated here with scipy (two-sided binomial tests), not the library's ``_win``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import channelopt as co
from channelopt import ContactPolicy
from channelopt.core.arms import WEEKDAY_NAMES

CH = ["email", "sms", "push"]
NS = pd.Timedelta(1, unit="ns")


def _channel_sends(model: co.ChannelModel, cid: str) -> dict[str, tuple[float, float]]:
    ex = model.explain(cid)
    rows = ex[ex["dimension"] == "channel"]
    return {a: (float(s), float(r)) for a, s, r in zip(rows["arm"], rows["sends"], rows["responses"])}


# -- (a) the watermark: exactly-once for a send resolving exactly at it -------------------------------


@pytest.mark.parametrize("resolve,reply_after", [("window", None), ("reply", pd.Timedelta("5h"))])
def test_send_resolving_exactly_at_the_watermark_counts_once(resolve, reply_after):
    """One send; ``as_of`` is exactly its resolution instant (sent + 72 h = midnight; or the reply itself
    with ``resolve="reply"``). Counted by the first fit, then never again: the same ``as_of`` and a later
    one re-ingest it as already counted, and its sends stay 1.0 (responses 1.0 for the reply)."""
    sent = pd.Timestamp("2026-03-01 00:00", tz="UTC")
    responded = pd.NaT if reply_after is None else sent + reply_after
    logs = pd.DataFrame({"customer_id": ["w"], "sent_at": [sent], "channel": ["sms"],
                         "responded_at": [responded], "event_id": ["e-1"]})
    resolved = sent + pd.Timedelta("72h") if reply_after is None else responded  # the oracle: the rule itself
    oracle = {"email": (0.0, 0.0), "sms": (1.0, 0.0 if reply_after is None else 1.0), "push": (0.0, 0.0)}
    space = co.ArmSpace(channels=CH, hours=False, weekdays=False)
    model = co.ChannelModel(space, response_window="72h", half_life=None, resolve=resolve)
    model.fit(logs, as_of=resolved)
    assert model.last_fit_["counted"] == 1 and model.as_of_ == resolved
    assert _channel_sends(model, "w") == oracle
    # one ns earlier the send is still pending (the fit counts nothing)
    early = co.ChannelModel(space, response_window="72h", half_life=None, resolve=resolve)
    early.fit(logs, as_of=resolved - NS)
    assert early.last_fit_["pending"] == 1 and early.last_fit_["counted"] == 0
    for as_of in (resolved, resolved, resolved + pd.Timedelta("1D"), resolved + pd.Timedelta("30D")):
        model.partial_fit(logs, as_of=as_of)
        assert model.last_fit_["counted"] == 0 and model.last_fit_["before_watermark"] == 1, as_of
        assert _channel_sends(model, "w") == oracle, as_of


# -- (b) the deadline: a send exactly at now + deadline ---------------------------------------------


def test_send_exactly_at_the_deadline_is_a_send_not_a_hold():
    """The minimum gap releases every channel exactly at ``now + deadline``: choose_channel and rank send
    then (``send_at`` in ``[now, now + deadline]``, closed); with the deadline one minute earlier, a hold."""
    space = co.ArmSpace(channels=CH, wordings=["plain", "friendly"])
    sent = pd.Timestamp("2026-03-02 08:00", tz="UTC")
    logs = pd.DataFrame({"customer_id": ["d", "other"], "sent_at": [sent, sent], "channel": ["sms", "email"],
                         "wording": ["plain", "friendly"], "responded_at": [sent + pd.Timedelta("1h"), pd.NaT]})
    model = co.ChannelModel(space, seed=3).fit(logs, as_of="2026-03-08")
    now = pd.Timestamp("2026-03-10 09:30", tz="UTC")
    last = now - pd.Timedelta("1h")
    model.record_send("d", "email", at=last)
    model.update_consent("d", granted=CH)
    policy = ContactPolicy(quiet_hours={}, caps=[], min_gap="2h")
    release = last + pd.Timedelta("2h")  # the oracle: the gap ends here, which is also the deadline
    assert release == now + pd.Timedelta("1h")
    for deadline in ("1h", now + pd.Timedelta("1h")):
        for urgent in (False, True):
            d = model.choose_channel("d", now=now, policy=policy, deadline=deadline, urgent=urgent)
            assert d.hold_reason is None and d.channel in CH, d
            assert d.send_at == release and d.hour == release.hour
        r = model.rank(["d"], now=now, policy=policy, deadline=deadline)
        assert r["hold_reason"].isna().all() and r["channel"].iloc[0] in CH
        assert r["send_at"].iloc[0] == release
    # the instant before: nothing can be sent by the deadline
    d = model.choose_channel("d", now=now, policy=policy, deadline="59min")
    assert d.channel is None and d.send_at is None and d.hold_reason == "cap"
    r = model.rank(["d"], now=now, policy=policy, deadline="59min")
    assert r["channel"].isna().all() and r["hold_reason"].iloc[0] == "cap"


# -- (c) the end hour of a non-wrapping quiet span ---------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_quiet_span_9_17_is_quiet_from_9_00_to_16_59_not_at_17_00(zone):
    """``(9, 17)`` means local ``[09:00, 17:00)``: the local hour of each instant comes from zoneinfo
    here, and a decision whose deadline is ``now`` itself sends exactly when that hour is outside 9-16."""
    quiet = set(range(9, 17))  # the oracle: [start, end)
    policy = ContactPolicy(quiet_hours={c: (9, 17) for c in CH}, caps=[], min_gap=None)
    assert [policy.is_quiet("sms", h) for h in range(24)] == [h in quiet for h in range(24)]
    assert policy.quiet_mask("email") == sum(1 << h for h in quiet)
    space = co.ArmSpace(channels=CH)
    logs = pd.DataFrame({"customer_id": ["q"], "sent_at": ["2026-03-02 08:00"], "channel": ["sms"],
                         "responded_at": [None]})
    model = co.ChannelModel(space, seed=5).fit(logs, as_of="2026-03-08")
    tz = ZoneInfo(zone)
    day = datetime(2026, 3, 10, tzinfo=tz)  # no DST change that day in either zone
    cases = [(8, 59), (9, 0), (12, 30), (16, 59), (17, 0), (17, 1)]
    expected_quiet = [h in quiet for h, _ in cases]
    assert expected_quiet == [False, True, True, True, False, False]
    model.update_consent("q", granted=CH)
    for (h, mi), is_quiet in zip(cases, expected_quiet):
        now = pd.Timestamp(day.replace(hour=h, minute=mi).astimezone(timezone.utc))
        assert now.to_pydatetime().astimezone(tz).hour == h
        for urgent in (True, False):
            d = model.choose_channel("q", now=now, tz=zone, policy=policy, consent=CH, deadline=now,
                                     urgent=urgent)
            if is_quiet:
                assert d.channel is None and d.hold_reason == "quiet_hours_until_deadline", (h, mi, d)
            else:
                assert d.hold_reason is None and d.send_at == now and d.hour == h, (h, mi, d)
        r = model.rank(pd.DataFrame({"customer_id": ["q"], "tz": [zone]}), now=now, policy=policy, deadline=now)
        assert (r["hold_reason"].iloc[0] == "quiet_hours_until_deadline") if is_quiet else \
            (r["hold_reason"].isna().iloc[0] and r["send_at"].iloc[0] == now), (h, mi, r)
    # from 16:30 with the deadline at 17:00 sharp, the only allowed instant is the deadline itself
    now = pd.Timestamp(day.replace(hour=16, minute=30).astimezone(timezone.utc))
    five = pd.Timestamp(day.replace(hour=17).astimezone(timezone.utc))
    for urgent in (True, False):
        d = model.choose_channel("q", now=now, tz=zone, policy=policy, consent=CH, deadline=five, urgent=urgent)
        assert d.send_at == five and d.hour == 17, d


# -- (d) the complaint cool-off -----------------------------------------------------------------------


def test_complaint_exactly_cooloff_old_no_longer_suppresses():
    """The cool-off runs from the complained send: ``now - sent == complaint_cooloff`` is free again,
    one ns younger is still ``suppressed`` (promotional only) -- in choose_channel, rank and explain."""
    space = co.ArmSpace(channels=CH, hours=False, weekdays=False)
    sent = pd.Timestamp("2026-01-05 10:17", tz="UTC")
    logs = pd.DataFrame({"customer_id": ["p", "other"], "sent_at": [sent, sent], "channel": ["email", "sms"],
                         "responded_at": [None, None], "complained": [True, False]})
    model = co.ChannelModel(space, seed=2).fit(logs, as_of="2026-01-10")
    model.update_consent("p", granted=CH)
    policy = ContactPolicy(quiet_hours={}, caps=[], min_gap=None, complaint_cooloff="30D")
    free = sent + pd.Timedelta(days=30)  # the oracle: exactly 30 days after the complained send
    for now, suppressed in ((free - NS, True), (free, False), (free + NS, False),
                            (free - pd.Timedelta("1min"), True)):
        d = model.choose_channel("p", now=now, policy=policy)
        assert (d.hold_reason == "suppressed") is suppressed, (now, d)
        if not suppressed:
            assert d.channel in CH and d.send_at == now
        assert model.choose_channel("p", now=now, policy=policy, promotional=False).channel in CH
        r = model.rank(["p"], now=now, policy=policy)
        assert (r["hold_reason"].iloc[0] == "suppressed") is suppressed, (now, r)
        assert model.explain("p", now=now, policy=policy).attrs["suppressed"] is suppressed, now


# -- (e) a zero-latency reply -----------------------------------------------------------------------


def test_reply_at_the_send_instant_is_accepted_one_ns_before_is_rejected():
    space = co.ArmSpace(channels=CH, hours=False, weekdays=False)
    sent = pd.Timestamp("2026-03-02 09:00", tz="UTC")
    ok = pd.DataFrame({"customer_id": ["z", "y"], "sent_at": [sent, sent], "channel": ["push", "email"],
                       "responded_at": [sent, None]})
    model = co.ChannelModel(space, half_life=None).fit(ok, as_of="2026-03-10")
    assert model.last_fit_["responses"] == 1
    assert _channel_sends(model, "z") == {"email": (0.0, 0.0), "sms": (0.0, 0.0), "push": (1.0, 1.0)}
    bad = ok.copy()
    bad["responded_at"] = [sent, sent - NS]  # row 1 replies one ns before its send
    with pytest.raises(ValueError) as err:
        co.ChannelModel(space).fit(bad, as_of="2026-03-10")
    assert str(err.value) == ("column 'responded_at': 2026-03-02 08:59:59.999999999+00:00 in row 1 is before "
                              "sent_at 2026-03-02 09:00:00+00:00")


# -- decisions: argmax of the draws, draws from the posterior, exact win frequencies ------------------

EXTRA = {"tone": ["formal", "casual"], "emoji": ["none", "some", "lots"]}
WORDINGS = ["plain", "friendly", "urgent"]


def _rich_logs(seed: int = 0, n: int = 3000) -> pd.DataFrame:
    """Customer "k" with uneven reply rates on every dimension, and 40 others for the priors."""
    rng = np.random.default_rng(seed)
    cust = np.where(rng.random(n) < 0.06, "k", np.char.add("o-", rng.integers(0, 40, n).astype(str)))
    sent = pd.Timestamp("2026-02-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s")
    ch = rng.integers(0, 3, n)
    wo = rng.integers(0, 3, n)
    tone = rng.integers(0, 2, n)
    emo = rng.integers(0, 3, n)
    hour = np.asarray(sent.hour)
    p = (np.array([0.30, 0.25, 0.20])[ch] * np.array([1.0, 0.85, 0.7])[wo] * np.array([0.85, 1.0])[tone]
         * np.array([1.0, 0.8, 0.9])[emo] * (1 + 0.3 * np.sin(hour / 24 * 2 * np.pi)))
    replied = rng.random(n) < p
    return pd.DataFrame({
        "customer_id": cust, "sent_at": sent, "channel": np.array(CH)[ch], "wording": np.array(WORDINGS)[wo],
        "tone": np.array(EXTRA["tone"])[tone], "emoji": np.array(EXTRA["emoji"])[emo],
        "responded_at": sent.where(replied) + pd.Timedelta("30min")})


def _slots(now: pd.Timestamp, deadline: pd.Timestamp, zone: str) -> list[tuple[pd.Timestamp, int, int]]:
    """(UTC start, local hour, local weekday) of every local hour from now's to the deadline's, via zoneinfo."""
    tz = ZoneInfo(zone)
    out = [(now, now.to_pydatetime().astimezone(tz).hour, now.to_pydatetime().astimezone(tz).weekday())]
    t = now.floor("h").to_pydatetime() + timedelta(hours=1)  # whole-hour zones only (checked below)
    while t <= deadline.to_pydatetime():
        local = t.astimezone(tz)
        assert local.minute == 0
        out.append((pd.Timestamp(t), local.hour, local.weekday()))
        t += timedelta(hours=1)
    return out


def _check_argmax(d: co.Decision, now: pd.Timestamp, deadline: pd.Timestamp, zone: str,
                  allowed: list[str]) -> None:
    sc = d.scores
    ch = {c: v for c, v in sc["channel"].items() if c in allowed}
    assert all(np.isnan(v) for c, v in sc["channel"].items() if c not in allowed)
    assert d.channel == max(ch, key=ch.get) and d.score == ch[d.channel]
    assert d.wording == max(sc["wording"], key=sc["wording"].get)
    for dim in EXTRA:
        assert d.extra[dim] == max(sc[dim], key=sc[dim].get), dim
    # the slot: the first usable slot whose hour draw x weekday draw is the largest
    slots = _slots(now, deadline, zone)
    values = [sc["hour"][f"{h:02d}"] * sc["weekday"][WEEKDAY_NAMES[w]] for _, h, w in slots]
    best = int(np.argmax(values))
    start, hour, _ = slots[best]
    assert d.hour == hour and d.send_at == start, (d, slots[best])


def test_every_chosen_arm_is_the_argmax_of_the_draws():
    """30 seeds x 25 rounds x two masks: channel (among the allowed), wording, both extra dimensions and
    the send slot are the argmax of the decision's own draws, re-computed here."""
    space = co.ArmSpace(channels=CH, wordings=WORDINGS, extra=EXTRA)
    base = co.ChannelModel(space, seed=0, exploration=1.0).fit(_rich_logs(), as_of="2026-03-05")
    zone = "Europe/Paris"
    now0 = pd.Timestamp("2026-03-10 07:20", tz="UTC")
    seen: dict[str, set] = {dim: set() for dim in ("channel", "wording", "hour", *EXTRA)}
    for seed in range(30):
        m = co.ChannelModel(space, seed=seed, exploration=1.0)
        m.state_ = base.state_
        for i in range(25):
            now = now0 + pd.Timedelta(seconds=97 * i)
            deadline = now + pd.Timedelta("36h")
            for allowed in (CH, ["email", "push"]):
                exclude = [c for c in CH if c not in allowed]
                d = m.choose_channel("k", now=now, tz=zone, deadline="36h", exclude=exclude or None,
                                     propensity=False)
                _check_argmax(d, now, deadline, zone, allowed)
                for dim, v in (("channel", d.channel), ("wording", d.wording), ("hour", d.hour), *d.extra.items()):
                    seen[dim].add(v)
    # not a degenerate case: every dimension's choice varies with the draws
    assert all(len(v) >= 2 for v in seen.values()), seen
    # an unknown customer (the prior) and rank's rows obey the same rule for channel, wording and extras
    m = co.ChannelModel(space, seed=4, exploration=1.0)
    m.state_ = base.state_
    now = now0
    d = m.choose_channel("nobody", now=now, tz=zone, deadline="36h")
    _check_argmax(d, now, now + pd.Timedelta("36h"), zone, CH)


def _exact_win(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(arm k has the largest of independent Beta(a, b) draws) = int pdf_k prod_{j != k} cdf_j (midpoint rule)."""
    m = 200_000
    x = (np.arange(m) + 0.5) / m
    cdf = np.array([stats.beta.cdf(x, a[j], b[j]) for j in range(a.size)])
    out = np.array([np.sum(stats.beta.pdf(x, a[k], b[k]) * np.prod(np.delete(cdf, k, axis=0), axis=0)) / m
                    for k in range(a.size)])
    assert abs(out.sum() - 1.0) < 1e-6, out.sum()
    return out


def _posterior(model: co.ChannelModel, cid: str, dim: str) -> tuple[np.ndarray, np.ndarray]:
    """Beta posterior of one dimension's arms: the prior plus the stored (decayed) counts, no smoothing."""
    st = model.state_
    d = model.space.dimensions.index(dim)
    lo, hi = model.space.offsets[d], model.space.offsets[d + 1]
    ex = model.explain(cid)
    sends, responses = ex["sends"].to_numpy()[lo:hi], ex["responses"].to_numpy()[lo:hi]
    a = st.prior_alpha[lo:hi] + responses
    b = st.prior_beta[lo:hi] + np.maximum(sends - responses, 0.0)
    np.testing.assert_allclose(ex["alpha"].to_numpy()[lo:hi], a, rtol=1e-12)
    np.testing.assert_allclose(ex["beta"].to_numpy()[lo:hi], b, rtol=1e-12)
    return a, b


def _assert_binomial(counts: np.ndarray, p: np.ndarray, n: int, what: str) -> None:
    """Two-sided exact binomial test per arm at 1e-4 (fixed seeds: the same verdict every run)."""
    for k in range(p.size):
        pv = stats.binomtest(int(counts[k]), n, float(p[k])).pvalue
        assert pv > 1e-4, (what, k, counts / n, p)


def test_choice_frequencies_match_exact_win_probabilities_in_every_dimension():
    """One customer, N decision rounds (one per second of ``now``): the frequency of each channel, wording,
    extra arm and local hour matches the exact Thompson win probability of its posterior, and each arm's
    draws follow that posterior (KS test). Hours: no weekday dimension, 24 h deadline (every hour a slot)."""
    space = co.ArmSpace(channels=CH, wordings=WORDINGS, weekdays=False, extra=EXTRA)
    model = co.ChannelModel(space, seed=21, exploration=1.0, half_life=None, hour_smoothing=0.0).fit(
        _rich_logs(), as_of="2026-03-05")
    n = 6000
    now0 = pd.Timestamp("2026-03-10 06:00", tz="UTC")
    decisions = [model.choose_channel("k", now=now0 + pd.Timedelta(seconds=i), propensity=False) for i in range(n)]
    draws = np.stack([d.draws for d in decisions])
    picked = {"channel": [d.channel for d in decisions], "wording": [d.wording for d in decisions],
              "hour": [f"{d.hour:02d}" for d in decisions],
              **{dim: [d.extra[dim] for d in decisions] for dim in EXTRA}}
    for dim, chosen in picked.items():
        labels = list(space.labels(dim))
        a, b = _posterior(model, "k", dim)
        p = _exact_win(a, b)
        assert dim == "hour" or (p.max() < 0.9 and np.sort(p)[-1] - np.sort(p)[-2] > 0.05), (dim, p)  # informative
        counts = pd.Series(chosen).value_counts().reindex(labels, fill_value=0).to_numpy()
        _assert_binomial(counts, p, n, dim)
        d = space.dimensions.index(dim)
        lo = space.offsets[d]
        for k in range(len(labels)):
            ks = stats.kstest(draws[:, lo + k], stats.beta(a[k], b[k]).cdf)
            assert ks.pvalue > 1e-4, (dim, labels[k], ks)


def test_weekday_frequencies_match_exact_win_probabilities():
    """No hour dimension, a 7-day deadline: every weekday is a slot, and the chosen weekday (read from
    ``send_at`` with zoneinfo) is the argmax of the weekday draws, with the exact win frequencies."""
    space = co.ArmSpace(channels=CH, hours=False, weekdays=True)
    logs = _rich_logs().drop(columns=["wording", "tone", "emoji"])
    logs["sent_at"] = logs["sent_at"] + pd.to_timedelta(
        np.where(logs["responded_at"].notna(), 0, 86400 * (np.arange(len(logs)) % 3)), unit="s")  # uneven days
    model = co.ChannelModel(space, seed=8, exploration=1.0, half_life=None).fit(logs, as_of="2026-03-08")
    n = 3000
    now0 = pd.Timestamp("2026-03-10 06:00", tz="UTC")
    tz = ZoneInfo("UTC")
    counts = np.zeros(7, dtype=np.int64)
    for i in range(n):
        now = now0 + pd.Timedelta(seconds=i)
        d = model.choose_channel("k", now=now, deadline="7D", propensity=False)
        wd = d.send_at.to_pydatetime().astimezone(tz).weekday()
        w = d.scores["weekday"]
        assert WEEKDAY_NAMES[wd] == max(w, key=w.get)
        # the first slot of that weekday: now itself when it is today, else its local midnight
        expect = now if wd == now.weekday() else pd.Timestamp(
            datetime.combine((now + pd.Timedelta(days=(wd - now.weekday()) % 7)).date(), datetime.min.time(), tz))
        assert d.send_at == expect
        counts[wd] += 1
    a, b = _posterior(model, "k", "weekday")
    p = _exact_win(a, b)
    assert p.max() < 0.9 and p.max() > 1.5 / 7, p
    _assert_binomial(counts, p, n, "weekday")
