"""Consent that holds: the SQLite contact store, one snapshot per decision, erasure.

Every test here tries to make the model message someone who said no -- through
another process, a refit, a reload, a crash, a race -- and checks it cannot.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.state.contact_store import ContactStore
from channelopt.apps.cli import main as cli_main

from conftest import CHANNELS, T0, make_logs

NOW = T0 + pd.Timedelta(days=40)
AS_OF = T0 + pd.Timedelta(days=35)


def _logs(n_customers: int = 30, n_sends: int = 600, **kw) -> pd.DataFrame:
    logs = make_logs(n_customers, n_sends, **kw)
    logs["unsubscribed"] = False
    logs["complained"] = False
    return logs


def _model(tmp_path: Path | None = None, **kw) -> co.ChannelModel:
    space = co.ArmSpace(channels=list(CHANNELS), wordings=["plain", "urgent"])
    m = co.ChannelModel(space, policy=co.ContactPolicy(), seed=3, **kw).fit(_logs(), as_of=AS_OF)
    if tmp_path is not None:
        m.save(tmp_path / "model")
    return m


def _ids(m: co.ChannelModel) -> list[str]:
    return sorted(m.state_.index.ids().tolist())


def _child(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(co.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# -- the store is written through and shared --------------------------------------------------------
def test_consent_is_committed_to_the_model_directory_before_the_call_returns(tmp_path):
    m = _model(tmp_path)
    path = tmp_path / "model"
    ids = _ids(m)
    m.update_consent(ids[0], granted=["email", "sms"])
    m.update_consent(ids[0], revoked=["sms"])
    with sqlite3.connect(tmp_path / "model.contacts.sqlite") as db:  # another connection sees both, committed
        rows = db.execute("SELECT cid, kind, grant_bits, revoke_bits FROM events ORDER BY seq").fetchall()
    assert rows == [(f"s:{ids[0]}", "consent", 0b011, 0), (f"s:{ids[0]}", "consent", 0, 0b010)]


@pytest.mark.slow
def test_a_crash_before_any_save_keeps_every_recorded_change(tmp_path):
    _model(tmp_path)
    path = tmp_path / "model"
    child = _child("""
        import os, sys, channelopt as co
        m = co.load(sys.argv[1])
        m.update_consent("c-000", granted=["email", "sms", "push"])
        m.update_consent("c-000", revoked=["email"])
        m.record_send("c-000", "sms", at="2026-04-10 09:00")
        os.kill(os.getpid(), 9)   # no save, no clean exit
        """, str(path))
    assert child.returncode == -signal.SIGKILL
    m = co.load(path)
    d = m.choose_channel("c-000", now="2026-04-10 10:00", deadline="2h")
    assert d.hold_reason == "cap" or d.channel == "push"  # sms just used (cap/min gap), email revoked
    for now in pd.date_range("2026-04-11", periods=24, freq="5h", tz="UTC"):
        assert m.choose_channel("c-000", now=now).channel in (None, "sms", "push")


def test_another_process_sees_a_revocation_within_the_poll_interval(tmp_path):
    service = _model(tmp_path)
    path = tmp_path / "model"
    cid = _ids(service)[1]
    service.update_consent(cid, granted=list(CHANNELS))
    assert service.choose_channel(cid, now=NOW).channel is not None
    other = co.load(path)  # another connection: what another process does
    other.update_consent(cid, revoked=list(CHANNELS))
    deadline = time.monotonic() + 5.0
    while service.choose_channel(cid, now=NOW).hold_reason != "no_consent":
        assert time.monotonic() < deadline, "the revocation never reached the other model"
        time.sleep(0.05)
    assert service.rank([cid], now=NOW)["hold_reason"].tolist() == ["no_consent"]


@pytest.mark.slow
def test_the_service_pattern_with_a_nightly_partial_fit_in_another_process(tmp_path):
    """The README's pattern: the service records revocations; the nightly job (another process) runs
    `fit --partial` and saves; the service reloads. Nobody who revoked may be messaged, before or after."""
    service = _model(tmp_path)
    path = tmp_path / "model"
    ids = _ids(service)
    for cid in ids:
        service.update_consent(cid, granted=list(CHANNELS))
    revoked = ids[::2]
    for cid in revoked:
        service.update_consent(cid, revoked=list(CHANNELS))
    logs = tmp_path / "logs.parquet"
    _logs(seed=5).to_parquet(logs)
    child = _child("""
        import sys
        from channelopt.apps.cli import main
        sys.exit(main(["fit", "--partial", "--logs", sys.argv[1], "--model", sys.argv[2], "--as-of", "2026-04-08"]))
        """, str(logs), str(path))
    assert child.returncode == 0, child.stderr
    for m in (service, co.load(path)):
        out = m.rank(ids, now=NOW)
        held = out.set_index("customer_id").loc[revoked, "hold_reason"]
        assert (held == "no_consent").all()
        assert out.set_index("customer_id").drop(revoked)["channel"].notna().all()


def test_a_refit_from_scratch_in_the_cli_keeps_recorded_consent(tmp_path):
    logs = tmp_path / "logs.parquet"
    _logs().to_parquet(logs)
    path = tmp_path / "model"
    assert cli_main(["fit", "-q", "--logs", str(logs), "--model", str(path), "--as-of", "2026-04-06"]) == 0
    service = co.load(path)
    ids = _ids(service)
    service.update_consent(ids[0], granted=["sms"])
    service.update_consent(ids[1], granted=["sms"])
    service.update_consent(ids[1], revoked=["sms"])
    assert cli_main(["fit", "-q", "--logs", str(logs), "--model", str(path), "--as-of", "2026-04-07"]) == 0
    for m in (service, co.load(path)):
        pol = co.ContactPolicy()
        assert m.choose_channel(ids[0], now=NOW, policy=pol).channel == "sms"
        assert m.choose_channel(ids[1], now=NOW, policy=pol).hold_reason == "no_consent"
        assert m.choose_channel(ids[2], now=NOW, policy=pol).hold_reason == "no_consent"


def test_a_refit_with_other_channels_is_refused_rather_than_dropping_consent(tmp_path, capsys):
    logs = tmp_path / "logs.parquet"
    _logs().to_parquet(logs)
    path = tmp_path / "model"
    assert cli_main(["fit", "-q", "--logs", str(logs), "--model", str(path)]) == 0
    capsys.readouterr()
    assert cli_main(["fit", "-q", "--logs", str(logs), "--model", str(path), "--channels", "email,sms"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"channelopt: error: --model: {path} holds a model with channels email, push, sms; a refit with "
                   "channels email, sms would lose its recorded consent (pass --channels with the same channels, "
                   "or fit into a new directory)")


def test_a_store_written_for_other_channels_is_refused(tmp_path):
    m = _model(tmp_path)
    with pytest.raises(ValueError, match=re.escape("the contact store records channels ['email', 'sms', 'push'], "
                                                   "the model has ['email', 'sms']")):
        ContactStore(tmp_path / "model.contacts.sqlite", ("email", "sms"))
    del m


def test_save_to_a_new_directory_carries_the_events_and_switches_to_its_store(tmp_path):
    m = _model()
    cid = _ids(m)[0]
    m.update_consent(cid, granted=["push"])
    m.save(tmp_path / "a")
    m.update_consent(cid, revoked=["push"])  # now written to a's store
    again = co.load(tmp_path / "a")
    assert again.choose_channel(cid, now=NOW).hold_reason == "no_consent"
    m.save(tmp_path / "b")
    b = co.load(tmp_path / "b")
    assert b.choose_channel(cid, now=NOW).hold_reason == "no_consent"


# -- one snapshot per decision --------------------------------------------------------------------
@pytest.mark.parametrize("path", ["choose_fast", "choose_general", "rank"])
def test_forced_interleaving_a_fit_commits_between_reading_the_store_and_the_events(path, monkeypatch):
    """The exact race of the old design: the decision has read the store; a partial_fit commits (and
    folds the revocation in); the decision then looks for the revocation. It must still hold."""
    m = _model()
    cid = _ids(m)[0]
    m.update_consent(cid, granted=list(CHANNELS))
    m.update_consent(cid, revoked=list(CHANNELS))
    logs = _logs(seed=9)
    cs = m._contacts
    real = cs.current
    fired = []

    def current():
        snap = real()
        if not fired:
            fired.append(1)
            m.partial_fit(logs, as_of=AS_OF + pd.Timedelta(days=1))  # commits between the two reads
            assert cs.snap is not snap and not cs.snap.events
        return snap

    monkeypatch.setattr(cs, "current", current)
    if path == "rank":
        assert m.rank([cid], now=NOW)["hold_reason"].tolist() == ["no_consent"]
    elif path == "choose_fast":
        assert m.choose_channel(cid, now=NOW).hold_reason == "no_consent"
    else:
        assert m.choose_channel(cid, now=NOW, deadline=pd.Timestamp(NOW) + pd.Timedelta(hours=30)).hold_reason \
            == "no_consent"
    assert fired
    assert m.choose_channel(cid, now=NOW).hold_reason == "no_consent"  # and after the fit, from the store


def test_eight_threads_deciding_while_consent_is_revoked_and_fits_commit():
    """>= 1M decisions on 8 threads; the main thread revokes channels one by one and commits fits.
    A decision that starts after a revocation returned must never use that channel."""
    m = _model()
    ids = _ids(m)
    for cid in ids:
        m.update_consent(cid, granted=list(CHANNELS))
    revoked_at: dict[tuple[str, str], float] = {}
    stop = threading.Event()
    counts = [0] * 8
    violations: list[tuple] = []
    target = 1_000_000

    def worker(k: int) -> None:
        rng = np.random.default_rng(k)
        local = 0
        nows = [NOW + pd.Timedelta(minutes=int(x)) for x in rng.integers(0, 600, 64)]
        while not stop.is_set():
            for _ in range(256):
                cid = ids[int(rng.integers(len(ids)))]
                started = time.perf_counter()
                d = m.choose_channel(cid, now=nows[local % 64], propensity=False)
                local += 1
                if d.channel is not None:
                    t = revoked_at.get((cid, d.channel))
                    if t is not None and t < started:
                        violations.append((cid, d.channel))
            counts[k] = local
            if sum(counts) >= target:
                stop.set()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    rng = np.random.default_rng(0)
    pairs = [(c, ch) for c in ids for ch in CHANNELS]
    order = rng.permutation(len(pairs))
    fits = 0
    logs = _logs(seed=4)
    i = 0
    while not stop.is_set():
        if i < len(order) and i % 3 != 2:
            cid, ch = pairs[order[i]]
            m.update_consent(cid, revoked=[ch])
            revoked_at[(cid, ch)] = time.perf_counter()
        else:
            m.partial_fit(logs, as_of=AS_OF + pd.Timedelta(minutes=fits + 1))
            fits += 1
        i += 1
        time.sleep(0.002)
    for t in threads:
        t.join()
    assert sum(counts) >= target and fits >= 5 and len(revoked_at) >= 20
    assert violations == []


# -- ids are checked before anything is recorded -------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda m: m.update_consent(12345, granted=["sms"]),
     "customer_id: 12345 is an integer but this model's customer ids are strings"),
    (lambda m: m.update_consent(None, granted=["sms"]),
     "customer_id: None is not a customer id (expected a string or an integer)"),
    (lambda m: m.update_consent(1.5, revoked=["sms"]),
     "customer_id: 1.5 is not a customer id (expected a string or an integer)"),
    (lambda m: m.update_consent("\ud800", revoked=["sms"]),
     "customer_id: '\\ud800' is not valid text (lone surrogate)"),
    (lambda m: m.record_send(["a"], "sms"),
     "customer_id: ['a'] is not a customer id (expected a string or an integer)"),
    (lambda m: m.record_send("a", "fax"), "channel: unknown channel 'fax' (known: email, sms, push)"),
    (lambda m: m.record_send("a", "sms", at="not a time"), "at: cannot parse 'not a time' as a timestamp"),
    (lambda m: m.update_consent("a", granted="sms"),
     "granted / revoked: expected a list of channel names, got a string ('sms'); write [\"email\"]"),
    (lambda m: m.update_consent(pd.DataFrame({"customer_id": ["a", 7], "consent_sms": [True, False]})),
     "customers: column 'customer_id': 7 (row 1) is an integer but this model's customer ids are strings"),
    (lambda m: m.update_consent(pd.DataFrame({"customer_id": ["a", "b"], "consent_sms": [True, "nope"]})),
     "column 'consent_sms': 'nope' in row 1 is not a boolean (expected true/false, yes/no or 1/0)"),
    (lambda m: m.update_consent(pd.DataFrame({"customer_id": ["a"], "consent_sms": [True], "consent_fax": [True]})),
     "customers: column 'consent_fax' names no channel of this model (expected consent_email, consent_sms, "
     "consent_push)"),
])
def test_a_bad_id_or_value_records_nothing(call, message):
    m = _model()
    m.update_consent("c-001", granted=["sms"])
    before = m._contacts.db.max_seq(), dict(m._contacts.snap.events)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(m)
    assert (m._contacts.db.max_seq(), dict(m._contacts.snap.events)) == before
    m.partial_fit(_logs(seed=2), as_of=AS_OF + pd.Timedelta(days=1))  # the model is not poisoned


def test_a_bad_consent_column_in_rank_is_an_error_not_a_grant():
    m = _model()
    table = pd.DataFrame({"customer_id": ["c-001", "c-002"], "consent_sms": ["False", "maybe"]})
    with pytest.raises(ValueError, match=re.escape("column 'consent_sms': 'maybe' in row 1 is not a boolean")):
        m.rank(table, now=NOW)
    table = pd.DataFrame({"customer_id": ["c-001"], "consent_fax": [True]})
    with pytest.raises(ValueError, match=re.escape("customers: column 'consent_fax' names no channel")):
        m.rank(table, now=NOW)


# -- erasure ------------------------------------------------------------------------------------------
def _files_mention(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_forget_leaves_no_byte_of_the_id_and_does_not_change_anyone_else(tmp_path):
    logs = _logs()
    logs["customer_id"] = logs["customer_id"].str.replace("c-", "person-", regex=False)
    space = co.ArmSpace(channels=list(CHANNELS), wordings=["plain", "urgent"])
    m = co.ChannelModel(space, policy=co.ContactPolicy(), seed=3).fit(logs, as_of=AS_OF)
    path = tmp_path / "model"
    m.save(path)
    gone, kept = "person-007", "person-008"
    m.update_consent(gone, granted=["sms", "email"])
    m.record_send(gone, "sms", at=AS_OF)
    m.update_consent(kept, granted=["sms"])
    m.save(path)
    others = [c for c in _ids(m) if c != gone]
    before = m.rank(others, now=NOW)
    assert _files_mention(tmp_path, gone.encode())  # it is there before
    assert m.forget([gone, "never-seen"]) == 1
    m.save(path)
    assert _files_mention(tmp_path, gone.encode()) == []
    pd.testing.assert_frame_equal(m.rank(others, now=NOW), before)
    pd.testing.assert_frame_equal(co.load(path).rank(others, now=NOW), before)
    # the tombstone: refitting the old log does not bring the customer back, in this or another process
    assert gone not in _ids(m.fit(logs, as_of=AS_OF))
    again = co.load(path)
    assert gone not in _ids(again.partial_fit(logs, as_of=AS_OF + pd.Timedelta(days=1)))
    m.save(path)
    assert _files_mention(tmp_path, gone.encode()) == []
    assert kept in _ids(m) and m.choose_channel(kept, now=NOW).channel == "sms"


def test_the_cli_forgets_and_reports(tmp_path, capsys):
    logs = tmp_path / "logs.parquet"
    _logs().to_parquet(logs)
    path = tmp_path / "model"
    assert cli_main(["fit", "-q", "--logs", str(logs), "--model", str(path)]) == 0
    co.load(path).update_consent("c-003", granted=["sms"])
    capsys.readouterr()
    assert cli_main(["forget", "--model", str(path), "--customer", "c-003", "--customer", "c-004"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (f"Forgot 2 of 2 customers named; {path} and its contact store hold no trace of them "
                   "(a tombstone keeps old logs from bringing them back).")
    assert _files_mention(tmp_path, b"c-003") == [] and _files_mention(tmp_path, b"c-004") == []
    assert cli_main(["forget", "--model", str(path)]) == 2
    assert capsys.readouterr().err.strip() == ("channelopt: error: forget: name customers with --customer ID "
                                               "(repeatable) or --ids-file FILE")


def test_another_process_drops_a_forgotten_customer_when_it_saves(tmp_path):
    service = _model(tmp_path)
    path = tmp_path / "model"
    service.update_consent("c-005", granted=["sms"])
    nightly = co.load(path)
    nightly.forget("c-005")
    nightly.save(path)
    service.save(path)  # the service still held c-005 in memory: its save must not bring it back
    assert _files_mention(tmp_path, b"c-005") == []
    assert "c-005" not in _ids(co.load(path))


# -- the consent oracle ---------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

_VALID = {True: True, False: False, "true": True, "False": False, "YES": True, "no": False, "1": True, "0": False,
          1: True, 0: False, " Yes ": True, "FALSE": False}
_NULL = [None, float("nan"), ""]
_BAD = ["maybe", 2, "tru", "1.5", "-1"]


def _as_text(v):
    """How a CSV or a text Parquet column holds the value."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    return str(v)


def _expected(v) -> bool | None | str:
    """True / False, None for no value, "bad" for an error."""
    if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        t = v.strip().lower()
        return True if t in ("true", "yes", "1") else False if t in ("false", "no", "0") else "bad"
    if isinstance(v, bool):
        return v
    return {1: True, 0: False}.get(v, "bad")


_CUSTOMERS = ["c-000", "c-001", "c-002", "c-003", "c-004", "c-005"]


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    _model().save(root / "base")
    return root


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=hs.lists(hs.tuples(hs.sampled_from(_CUSTOMERS), hs.sampled_from(CHANNELS), hs.booleans()), max_size=12),
       table=hs.lists(hs.lists(hs.one_of(hs.sampled_from(list(_VALID)), hs.sampled_from(_NULL)), min_size=3,
                               max_size=3), min_size=6, max_size=6),
       bad=hs.one_of(hs.none(), hs.tuples(hs.integers(0, 5), hs.integers(0, 2), hs.sampled_from(_BAD))),
       route=hs.sampled_from(["frame", "csv", "parquet", "cli"]),
       refit_elsewhere=hs.booleans(), reload=hs.booleans())
def test_consent_oracle(oracle_dir, ops, table, bad, route, refit_elsewhere, reload):
    import shutil
    import uuid

    work = oracle_dir / uuid.uuid4().hex
    shutil.copytree(oracle_dir / "base", work)
    m = co.load(work)
    stored = {c: {ch: False for ch in CHANNELS} for c in _CUSTOMERS}
    for cid, ch, grant in ops:
        m.update_consent(cid, **({"granted": [ch]} if grant else {"revoked": [ch]}))
        stored[cid][ch] = grant
    if refit_elsewhere:  # the nightly job: another connection to the same store, partial_fit and save
        nightly = co.load(work)
        nightly.partial_fit(_logs(seed=11), as_of=AS_OF + pd.Timedelta(days=1))
        nightly.save(work)
    if reload:
        m = co.load(work)
    values = [list(row) for row in table]
    if bad is not None:
        values[bad[0]][bad[1]] = bad[2]
    frame = pd.DataFrame({"customer_id": _CUSTOMERS,
                          **{f"consent_{ch}": pd.Series([values[i][j] for i in range(6)], dtype=object)
                             for j, ch in enumerate(CHANNELS)}})
    if route != "frame":  # text, as a file holds it
        for ch in CHANNELS:
            frame[f"consent_{ch}"] = frame[f"consent_{ch}"].map(_as_text).astype(object)
    effective = {}
    error = None
    for i, cid in enumerate(_CUSTOMERS):
        effective[cid] = {}
        for j, ch in enumerate(CHANNELS):
            v = frame[f"consent_{ch}"].iloc[i]
            e = _expected(v)
            if e == "bad" and error is None:
                error = (f"consent_{ch}", i)
            effective[cid][ch] = stored[cid][ch] if e is None or e == "bad" else e
    pol = co.ContactPolicy()
    if route == "frame":
        source = frame
    elif route == "parquet":
        source = work / "customers.parquet"
        frame.to_parquet(source)
    else:
        source = work / "customers.csv"
        frame.to_csv(source, index=False)
    if route == "cli":
        out_file = work / "out.parquet"
        code = cli_main(["rank", "-q", "--model", str(work), "--customers", str(source), "--out", str(out_file),
                         "--now", str(NOW), "--policy", "default"])
        if error is not None:
            assert code == 2 and not out_file.exists()
            return
        assert code == 0
        out = pd.read_parquet(out_file)
    else:
        if error is not None:
            with pytest.raises(ValueError, match=re.escape(f"column {error[0]!r}: ")):
                m.rank(source, now=NOW, policy=pol)
            return
        out = m.rank(source, now=NOW, policy=pol)
    for cid, ch, reason in zip(out["customer_id"], out["channel"], out["hold_reason"]):
        if isinstance(ch, str):
            assert effective[cid][ch], (cid, ch, effective[cid])
        if not any(effective[cid].values()):
            assert reason == "no_consent"
    # and without a table: the stored consent alone
    for cid in _CUSTOMERS:
        d = m.choose_channel(cid, now=NOW, policy=pol)
        if d.channel is not None:
            assert stored[cid][d.channel]
        elif not any(stored[cid].values()):
            assert d.hold_reason == "no_consent"
    shutil.rmtree(work)
