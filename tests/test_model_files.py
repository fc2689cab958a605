"""Model files that cannot hurt the process: every tampered, crafted, damaged or hostile directory
is refused with one ValueError naming the file and the field -- checked in a child process, so a
crash (a signal) would be seen as one -- and a model that loads decides without crashing.

Also: the manifest's checksum and HMAC, and saves killed at random instants (no gap, no debris).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.state.store import PosteriorStore
from channelopt.state.persist import sealed, sha256_file, version_directory
from conftest import T0, make_logs, model_file, read_manifest, write_manifest

pytestmark = pytest.mark.slow
NOW = T0 + pd.Timedelta(days=40)
KEY = b"a secret only the nightly job and the service know"

# the child: for each case, load it and, if it loads, decide for known and unknown customers
CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import channelopt as co
cases = json.loads(sys.stdin.read())
for case in cases:
    print("START", case["name"], flush=True)
    try:
        m = co.load(case["path"], verify=case["verify"], key=case.get("key"))
    except ValueError as exc:
        print("RESULT", json.dumps({"name": case["name"], "outcome": "ValueError", "message": str(exc)}), flush=True)
        continue
    except Exception as exc:
        print("RESULT", json.dumps({"name": case["name"], "outcome": type(exc).__name__, "message": str(exc)}),
              flush=True)
        continue
    try:
        ids = case["ids"]
        for cid in ids:
            m.choose_channel(cid, now=case["now"])
            m.choose_channel(cid, now=case["now"], propensity=True)
        m.rank(ids, now=case["now"])
        m.explain(ids[0], now=case["now"])
        outcome = "decided"
        message = ""
    except ValueError as exc:
        outcome, message = "ValueError after load", str(exc)
    except Exception as exc:
        outcome, message = type(exc).__name__ + " after load", str(exc)
    print("RESULT", json.dumps({"name": case["name"], "outcome": outcome, "message": message}), flush=True)
print("DONE", flush=True)
"""


def run_child(cases: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Run the cases in one child process; a signal names the case that was running."""
    env = dict(os.environ, PYTHONFAULTHANDLER="0")
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(cases), capture_output=True, text=True,
                          env=env, timeout=600)
    results, started = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("START "):
            started = line[6:]
        elif line.startswith("RESULT "):
            r = json.loads(line[7:])
            results[r["name"]] = r
    assert proc.returncode == 0 and "DONE" in proc.stdout, (
        f"the child died (exit {proc.returncode}) while loading {started!r}: {proc.stderr[-2000:]}")
    return results


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, co.ChannelModel, list[Any]]:
    """A small signed model with segments, zones, consent, history and complaints."""
    root = tmp_path_factory.mktemp("files")
    logs = make_logs(n_customers=30, n_sends=300, seed=4)
    logs["segment"] = np.where(np.arange(len(logs)) % 3 == 0, "gold", "silver")
    logs["tz"] = np.where(np.arange(len(logs)) % 2 == 0, "Europe/Paris", "America/New_York")
    logs["wording"] = np.where(np.arange(len(logs)) % 4 == 0, "a", "b")
    model = co.ChannelModel(co.ArmSpace(channels=["email", "sms", "push"], wordings=["a", "b"]), seed=3,
                            policy=co.ContactPolicy()).fit(logs, as_of=T0 + pd.Timedelta(days=35))
    ids = list(model.state_.index.ids()[:5]) + ["nobody"]
    model.update_consent(pd.DataFrame({"customer_id": ids[:4], "consent_email": ["yes"] * 4,
                                       "consent_sms": ["no", "yes", "yes", "yes"], "consent_push": [1, 1, 1, 1]}))
    path = root / "base"
    model.save(path, key=KEY)
    return path, model, ids


def copy_of(base_path: Path, dest: Path) -> Path:
    shutil.copytree(base_path, dest, symlinks=True)
    return dest


def edit(path: Path, change: Callable[[dict], Any], *, reseal: bool = True) -> None:
    """Change the live manifest; ``reseal``: recompute its checksum (a tamperer who knows the format)."""
    manifest = read_manifest(path)
    change(manifest)
    if reseal:
        write_manifest(path, manifest)
    else:
        model_file(path).write_text(json.dumps(manifest))


def craft(path: Path, name: str, change: Callable[[np.ndarray], Any]) -> None:
    """Replace array ``name`` by a changed copy, with its entry and the manifest checksum updated to match."""
    file = model_file(path, f"{name}.npy")
    arr = np.array(np.load(file, allow_pickle=False))
    out = change(arr)
    arr = arr if out is None else out
    file.unlink()
    np.save(file, np.ascontiguousarray(arr), allow_pickle=False)

    def entry(m: dict) -> None:
        m["arrays"][name].update(dtype=arr.dtype.str, shape=list(arr.shape), sha256=sha256_file(file))
    edit(path, entry)


def set_in(keys: list[Any], value: Any) -> Callable[[dict], None]:
    def change(m: dict) -> None:
        d = m
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


def write_header(file: Path, dtype: str, shape: tuple[int, ...], payload: int = 16, fortran: bool = False) -> None:
    with open(file, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": fortran, "shape": shape})
        fh.write(b"\0" * payload)


def tamper_cases(base_path: Path, root: Path) -> dict[str, tuple[Path, dict[str, Any], str]]:
    """name -> (directory, load options, a fragment the ValueError must contain)."""
    cases: dict[str, tuple[Path, dict[str, Any], str]] = {}
    n = 0

    def case(name: str, message: str, **opts: Any) -> Path:
        nonlocal n
        n += 1
        path = copy_of(base_path, root / f"c{n:03d}")
        cases[name] = (path, opts, message)
        return path

    def swap_channels(m: dict) -> None:
        ch = m["space"]["channels"]
        ch[0], ch[1] = ch[1], ch[0]

    changed = "checksum mismatch (the manifest was changed or corrupted)"
    # manifest edits without a new checksum: caught by the checksum alone
    edit(case("swap two channel names", changed), swap_channels, reseal=False)
    edit(case("remove quiet hours", changed), set_in(["policy", "quiet_hours"], {}), reseal=False)
    edit(case("change the seed", changed), set_in(["config", "seed"], 8), reseal=False)
    edit(case("move the watermark", changed), lambda m: m.update(watermark_ns=m["watermark_ns"] + 1), reseal=False)
    edit(case("drop the checksum", "field 'integrity' is missing"), lambda m: m.pop("integrity"), reseal=False)
    # the same, re-checksummed by someone without the key: the HMAC refuses it
    p = case("resealed channel swap keeping the old HMAC, with the key", "signature mismatch", key=KEY.decode())
    mac = read_manifest(p)["integrity"]["hmac_sha256"]
    edit(p, swap_channels)
    edit(p, lambda m: m["integrity"].update(hmac_sha256=mac), reseal=False)
    edit(case("resealed seed without an HMAC, with the key", "the model is not signed", key=KEY.decode()),
         set_in(["config", "seed"], 8))
    case("the right key, another key", "signature mismatch", key="not the key")
    edit(case("unsigned, with the key", "the model is not signed", key=KEY.decode()), lambda m: None)
    # entry names that leave the directory, and links
    other = root / "other-model.npy"
    np.save(other, np.zeros((30, 1), np.float32))
    for label, file in (("parent traversal", "../../other-model.npy"), ("absolute path", "/etc/passwd"),
                        ("a subfolder", "sub/responses.npy"), ("empty name", ""), ("not npy", "responses.txt"),
                        ("a number", 5), ("nul byte", "resp\0onses.npy")):
        edit(case(f"entry file: {label}", "arrays.responses.file' must be a bare file name"),
             set_in(["arrays", "responses", "file"], file))
    p = case("an array replaced by a symlink", "not a regular file (links are not followed)")
    f = model_file(p, "responses.npy")
    f.unlink()
    f.symlink_to(model_file(base_path, "responses.npy"))
    p = case("CURRENT names a path", "does not name a version")
    (p / "CURRENT").write_text("../../base/v-000000000001\n")
    p = case("CURRENT names a missing version", "the live version is missing")
    (p / "CURRENT").write_text("v-000000000077\n")
    p = case("CURRENT is binary", "does not name a version")
    (p / "CURRENT").write_bytes(b"\xff\xfe" * 100)
    # malformed entries and fields
    for label, keys, value, message in [
        ("object dtype", ["arrays", "sends", "dtype"], "|O", "arrays.sends.dtype' must be a plain numeric dtype"),
        ("big-endian dtype", ["arrays", "sends", "dtype"], ">f4", "arrays.sends.dtype' must be a plain numeric"),
        ("negative shape", ["arrays", "sends", "shape"], [-1, 12], "arrays.sends.shape' must be a list"),
        ("shape of text", ["arrays", "sends", "shape"], "30,12", "arrays.sends.shape' must be a list"),
        ("shape of booleans", ["arrays", "sends", "shape"], [True, True], "arrays.sends.shape' must be a list"),
        ("short digest", ["arrays", "sends", "sha256"], "abc", "arrays.sends.sha256' must be 64 hex digits"),
        ("entry not an object", ["arrays", "sends"], [1, 2], "arrays.sends' must be an object"),
        ("arrays not an object", ["arrays"], [], "field 'arrays' must be an object"),
        ("odd array name", ["arrays", "../x"], {"file": "x.npy"}, "is not an array name"),
        ("zone name traversal", ["zones", 0], "../../../../etc/passwd", "field 'zones[0]': unknown time zone"),
        ("unknown zone", ["zones", 0], "Mars/Olympus", "field 'zones[0]': unknown time zone"),
        ("zones not a list", ["zones"], "UTC", "field 'zones' must be a list"),
        ("segments not text", ["segments"], [1, 2], "field 'segments' must be a list"),
        ("counts not numbers", ["counts"], {"sends": "many"}, "field 'counts' must be an object of whole numbers"),
        ("watermark as text", ["watermark_ns"], "2026", "field 'watermark_ns' must be a whole number"),
        ("watermark past int64", ["watermark_ns"], 2**70, "field 'watermark_ns' must be a whole number"),
        ("negative customers", ["n_customers"], -1, "field 'n_customers' must be a whole number"),
        ("customers as float", ["n_customers"], 30.0, "field 'n_customers' must be a whole number"),
        ("id kind", ["id_kind"], "float", "field 'id_kind' must be 'int' or 'str'"),
        ("format version true", ["format_version"], True, "model format version True is not supported"),
        ("format version text", ["format_version"], "5", "model format version '5' is not supported"),
        ("format", ["format"], "pickle", "not a channelopt model (format 'pickle')"),
        ("space not an object", ["space"], "email", "field 'space' must be an object"),
        ("space unknown key", ["space", "lasers"], True, "field 'space' is not an arm space"),
        ("space no channels", ["space", "channels"], [], "field 'space' is not an arm space"),
        ("config garbage", ["config", "seed"], "seven", "field 'config' is not a model configuration"),
        ("config unknown key", ["config", "turbo"], 1, "field 'config' is not a model configuration"),
        ("policy garbage", ["policy", "quiet_hours"], 5, "field 'policy' is not a contact policy"),
        ("contacts relative path", ["contacts", "file"], "../x.sqlite", "field 'contacts'.file must be"),
        ("contacts seq negative", ["contacts", "seq"], -4, "field 'contacts'.seq must be"),
        ("last_fit not an object", ["last_fit"], 3, "field 'last_fit' must be an object"),
    ]:
        edit(case(label, message), set_in(keys, value))
    edit(case("array missing from the manifest", "field 'arrays' has no entry 'sends'"),
         lambda m: m["arrays"].pop("sends"))
    edit(case("more customers than rows", "expected float32 (31,"),
         lambda m: m.update(n_customers=m["n_customers"] + 1))
    # headers that lie
    p = case("header declares 16 TiB, manifest agrees", "bytes, its header declares 17,592,186,044,544")
    write_header(model_file(p, "sends.npy"), "<f4", (1 << 21, 1 << 21))
    edit(p, set_in(["arrays", "sends", "shape"], [1 << 21, 1 << 21]))
    p = case("header declares 16 TiB", "header declares <f4 [2097152, 2097152], manifest says <f4 [30,")
    write_header(model_file(p, "sends.npy"), "<f4", (1 << 21, 1 << 21))
    p = case("Fortran-order header", "(Fortran order)")
    write_header(model_file(p, "sends.npy"), "<f4", (30, 2), payload=30 * 2 * 4, fortran=True)
    p = case("object header", "header declares object")
    write_header(model_file(p, "sends.npy"), "|O", (30, 2), payload=30 * 2 * 8)
    p = case("not an npy file", "unreadable array header")
    model_file(p, "sends.npy").write_bytes(b"PK\x03\x04 certainly not numpy" * 10)
    p = case("empty file", "unreadable array header")
    model_file(p, "sends.npy").write_bytes(b"")
    p = case("truncated data", "bytes, its header declares")
    f = model_file(p, "responses.npy")
    f.write_bytes(f.read_bytes()[:-7])
    # manifests that are not manifests
    p = case("manifest not JSON", "corrupt manifest")
    model_file(p).write_text("{not json")
    p = case("manifest a list", "corrupt manifest (a JSON object expected, found list)")
    model_file(p).write_text("[]")
    p = case("manifest NaN", "corrupt manifest")
    model_file(p).write_text('{"watermark_ns": NaN}')
    p = case("manifest nested 100000 deep", "corrupt manifest")
    model_file(p).write_text("[" * 100000 + "]" * 100000)
    p = case("manifest latin-1", "corrupt manifest (not UTF-8 text)")
    model_file(p).write_bytes(b'{"format": "caf\xe9"}')
    p = case("manifest of 17 MB", "is too large for a manifest")
    model_file(p).write_text(" " * (17 << 20) + "{}")
    # crafted arrays, with every checksum updated: the invariants refuse them
    for label, name, change, message in [
        ("order not a permutation", "id_order", lambda a: a.__setitem__(1, a[0]), "is not a permutation"),
        ("order out of range", "id_order", lambda a: a.__setitem__(0, 10**6), "is not a permutation"),
        ("order negative", "id_order", lambda a: a.__setitem__(0, -3), "is not a permutation"),
        ("offsets not monotonic", "id_offsets", lambda a: a.__setitem__(3, a[5] + 1), "'id_offsets' must rise"),
        ("offsets past the data", "id_offsets", lambda a: a.__setitem__(-1, a[-1] + 10**9), "'id_offsets' must rise"),
        ("offsets from 5", "id_offsets", lambda a: a.__setitem__(0, 5), "'id_offsets' must rise"),
        ("hashes unsorted", "id_sorted_hashes", lambda a: a[::-1].copy(), "'id_sorted_hashes' is not sorted"),
        ("zone out of range", "zone", lambda a: a.__setitem__(2, 9), "'zone' refers to zone 9"),
        ("segment out of range", "segment", lambda a: a.__setitem__(2, 300), "'segment' refers to segment 300"),
        ("segment below -1", "segment", lambda a: a.__setitem__(2, -7), "'segment' refers to segment -7"),
        ("history channel 100", "history_channel", lambda a: a.__setitem__((0, 0), 100), "'history_channel'"),
        ("sends NaN", "sends", lambda a: a.__setitem__((0, 0), np.nan), "'sends' must be finite and >= 0"),
        ("sends negative", "sends", lambda a: a.__setitem__((0, 0), -1e30), "'sends' must be finite and >= 0"),
        ("responses infinite", "responses", lambda a: a.__setitem__((1, 1), np.inf), "'responses' must be finite"),
        ("squared weights NaN", "squared_weights", lambda a: a.__setitem__((0, 0), np.nan),
         "'squared_weights' must be finite and >= 0"),
        ("squared weights short", "squared_weights", lambda a: a[:-1].copy(), "array 'squared_weights' is float32"),
        ("prior zero", "prior_alpha", lambda a: a.__setitem__(0, 0.0), "'prior_alpha' must be finite and > 0"),
        ("prior NaN", "prior_beta", lambda a: a.__setitem__(0, np.nan), "'prior_beta' must be finite and > 0"),
        ("segment prior negative", "segment_beta", lambda a: a.__setitem__((0, 0), -1.0), "'segment_beta'"),
        ("latency NaN", "latency", lambda a: a.__setitem__((0, 0), np.nan), "'latency' must be finite"),
        ("sends with extra rows", "sends", lambda a: np.vstack([a, a]), "array 'sends' is float32 (60,"),
        ("sends as float64", "sends", lambda a: a.astype(np.float64), "array 'sends' is float64"),
    ]:
        verify = (name in ("sends", "responses", "squared_weights") and "extra rows" not in label
                  and "float64" not in label and "short" not in label)
        craft(case(f"crafted: {label}", message, verify=verify), name, change)
    p = case("crafted: hashes that do not match the ids", "'id_sorted_hashes' does not match the ids", verify=True)
    craft(p, "id_sorted_hashes", lambda a: np.arange(a.shape[0], dtype=np.uint64))
    p = case("damaged array, verify", "checksum mismatch (the file was changed or corrupted)", verify=True)
    f = model_file(p, "sends.npy")
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x10
    f.write_bytes(bytes(data))
    return cases


def test_every_tampered_file_is_one_value_error_in_a_child_process(base, tmp_path):
    base_path, model, ids = base
    cases = tamper_cases(base_path, tmp_path)
    assert len(cases) >= 80
    payload = [{"name": name, "path": str(path), "verify": opts.get("verify", True), "key": opts.get("key"),
                "ids": ids, "now": str(NOW)} for name, (path, opts, _) in cases.items()]
    payload.append({"name": "untouched, with the key", "path": str(copy_of(base_path, tmp_path / "ok")),
                    "verify": True, "key": KEY.decode(), "ids": ids, "now": str(NOW)})
    results = run_child(payload)
    assert results.pop("untouched, with the key")["outcome"] == "decided"
    wrong = {name: (r["outcome"], r["message"]) for name, r in results.items()
             if r["outcome"] != "ValueError" or cases[name][2] not in r["message"]}
    assert wrong == {}
    for name, r in results.items():  # one line, naming the file
        assert "\n" not in r["message"] and str(tmp_path) in r["message"], name


def test_flipped_bytes_with_verify_false_never_crash(base, tmp_path):
    """Random single-byte flips anywhere in the live version (headers, data, manifest), loaded without
    checksums: each either is refused with a ValueError or loads and decides -- never a signal."""
    base_path, _, ids = base
    rng = np.random.default_rng(2026)
    files = sorted(model_file(base_path).parent.iterdir())
    payload = []
    for k in range(60):
        path = copy_of(base_path, tmp_path / f"flip{k:02d}")
        file = model_file(path, files[k % len(files)].name)
        data = bytearray(file.read_bytes())
        at = int(rng.integers(len(data))) if k % 3 else int(rng.integers(min(len(data), 128)))  # headers too
        data[at] ^= 1 << int(rng.integers(8))
        file.write_bytes(bytes(data))
        payload.append({"name": f"{file.name}@{at}", "path": str(path), "verify": False, "ids": ids,
                        "now": str(NOW)})
    for label, name, change in [("sends NaN", "sends", lambda a: a.__setitem__((0, 0), np.nan)),
                                ("sends -1e30", "sends", lambda a: a.__setitem__((0, 0), -1e30)),
                                ("responses -1e30", "responses", lambda a: a.__setitem__(slice(None), -1e30)),
                                ("responses NaN", "responses", lambda a: a.__setitem__(slice(None), np.nan)),
                                ("responses inf", "responses", lambda a: a.__setitem__(slice(None), np.inf))]:
        path = copy_of(base_path, tmp_path / label.replace(" ", "_"))
        craft(path, name, change)  # checksums updated: only the invariants (not read without verify) stand
        payload.append({"name": label, "path": str(path), "verify": False, "ids": ids, "now": str(NOW)})
    results = run_child(payload)
    assert len(results) == 65
    outcomes = {r["outcome"] for r in results.values()}
    assert outcomes <= {"ValueError", "decided"}, {n: r for n, r in results.items()
                                                   if r["outcome"] not in ("ValueError", "decided")}
    assert "ValueError" in outcomes and "decided" in outcomes  # both kinds of flips were tried


# -- checksum and signature in process -----------------------------------------------------------


def test_signed_models_round_trip_and_refuse_a_missing_or_wrong_key(base, tmp_path):
    base_path, model, ids = base
    back = co.load(base_path, key=KEY)
    assert ([repr(back.choose_channel(c, now=NOW)) for c in ids]
            == [repr(model.choose_channel(c, now=NOW)) for c in ids])  # repr: a hold's score is NaN
    assert co.load(base_path).space == model.space  # without a key: the checksum only
    with pytest.raises(ValueError, match="signature mismatch"):
        co.load(base_path, key=b"guess")
    plain = tmp_path / "plain"
    model.save(plain)
    assert "hmac_sha256" not in read_manifest(plain)["integrity"]
    with pytest.raises(ValueError, match=r"field 'integrity.hmac_sha256' is missing: the model is not signed"):
        co.load(plain, key=KEY)
    with pytest.raises(TypeError, match="key: must be bytes or str, got int"):
        model.save(tmp_path / "k", key=5)
    with pytest.raises(ValueError, match="key: must not be empty"):
        co.load(plain, key="")
    assert not (tmp_path / "k").exists()


def test_the_checksum_covers_every_field(base, tmp_path):
    """Changing any one top-level field (without re-checksumming) is refused."""
    base_path, _, _ = base
    manifest = read_manifest(base_path)
    for k, field in enumerate(sorted(set(manifest) - {"integrity"})):
        path = copy_of(base_path, tmp_path / f"f{k}")
        changed = dict(manifest, **{field: "changed"})
        model_file(path).write_text(json.dumps(changed))
        with pytest.raises(ValueError, match="checksum mismatch"):
            co.load(path)
    assert sealed(manifest, KEY) == manifest  # the stored seal is the one sealed() computes


# -- saves killed at random instants -------------------------------------------------------------

def save_forever(path: Path, stores: list[Any]) -> None:
    """In a forked child: save the two stores over ``path`` in turn until killed (never returns)."""
    try:
        k = 0
        while True:
            stores[k % 2].save(path, {"config": {}, "which": k % 2})
            k += 1
    finally:
        os._exit(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_saves_killed_at_random_instants_leave_a_model_and_no_debris(tmp_path):
    """A child saves two different models over one path in a loop; it is killed at random instants.
    After every kill the path loads (verified) as one of the two, and the next save leaves no debris."""
    space = co.ArmSpace(channels=["email", "sms"])
    stores = []
    for seed in (1, 2):
        logs = make_logs(n_customers=2000, n_sends=20000, seed=seed)
        logs = logs[logs["channel"].isin(space.channels)]
        stores.append(co.ChannelModel(space, seed=seed).fit(logs, as_of=T0 + pd.Timedelta(days=35)).state_)
    target = tmp_path / "target"
    stores[0].save(target, {"config": {}, "which": 0})
    rng = np.random.default_rng(7)
    t = time.perf_counter()
    stores[1].save(target, {"config": {}, "which": 1})
    one_save = time.perf_counter() - t
    kills, debris_seen = 0, 0
    for k in range(24):
        pid = os.fork()
        if pid == 0:
            save_forever(target, stores)
        time.sleep(float(rng.uniform(0.5, 3.0)) * one_save)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        entries = {p.name for p in target.iterdir()}
        debris_seen += any(name.startswith(".") for name in entries) or len(entries) > 2
        st, manifest = PosteriorStore.load(target, verify=True)  # also removes the dead child's debris
        assert np.array_equal(st.sends, stores[manifest["which"]].sends)
    assert kills == 24
    # the last load removed the dead saves' temporaries; the next save also the older versions
    stores[1].save(target, {"config": {}, "which": 1})
    assert sorted(p.name for p in target.iterdir()) == ["CURRENT", version_directory(target).name]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert debris_seen > 0  # some kills did land mid-save



def test_the_cli_signs_and_checks_models_with_the_key_from_the_environment(tmp_path, monkeypatch, capsys):
    from channelopt.apps.cli import main

    logs = tmp_path / "logs.csv"
    make_logs(n_customers=10, n_sends=60, seed=2).to_csv(logs, index=False)
    monkeypatch.setenv("CHANNELOPT_MODEL_KEY", "nightly-secret")
    assert main(["fit", "--logs", str(logs), "--model", str(tmp_path / "m"), "--as-of", "2026-10-20"]) == 0
    assert "hmac_sha256" in read_manifest(tmp_path / "m")["integrity"]
    co.load(tmp_path / "m", key="nightly-secret")
    capsys.readouterr()
    monkeypatch.setenv("CHANNELOPT_MODEL_KEY", "another")
    assert main(["explain", "--model", str(tmp_path / "m"), "--customer", "c-001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("channelopt: error: ") and "signature mismatch" in err and err.count("\n") == 1
    monkeypatch.delenv("CHANNELOPT_MODEL_KEY")
    assert main(["explain", "--model", str(tmp_path / "m"), "--customer", "c-001"]) == 0  # checksum only
