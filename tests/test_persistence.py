"""Saving and loading a model: a directory of checksummed .npy arrays plus manifest.json,
written atomically, memory-mapped on load, never pickled."""

from __future__ import annotations

import json
import mmap
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.state.store import FORMAT_VERSION

from conftest import T0, model_file, one_send_log, read_manifest, save_as_format, save_as_format_3, write_manifest

NOW = pd.Timestamp("2026-04-08 07:30", tz="UTC")
SRC = Path(co.__file__).resolve().parent


def known_ids(model: co.ChannelModel) -> list:
    return list(model.state_.index.ids())


def assert_same_model(a: co.ChannelModel, b: co.ChannelModel, *, whole_sends: bool = False) -> None:
    """Identical arrays, configuration and decisions (choose_channel, rank, explain) at NOW.

    ``whole_sends``: ``b`` was read from a file before format version 6 (no squared weights:
    they load as ``sends``)."""
    assert a.space == b.space and a.config == b.config
    assert a.state_.watermark_ns == b.state_.watermark_ns and a.as_of_ == b.as_of_
    assert a.state_.zones == b.state_.zones and a.state_.index.kind == b.state_.index.kind
    for name, arr in a.state_.arrays().items():
        other = b.state_.arrays()[name]
        if whole_sends and name == "squared_weights":
            arr = a.state_.sends
        assert other.dtype == arr.dtype and other.shape == arr.shape, name
        np.testing.assert_array_equal(other, arr, err_msg=name)
    ids = known_ids(a)[:8] + (["nobody", "c-999"] if a.state_.index.kind == "str" else [-5, 10**12])
    for cid in ids:
        da, db = a.choose_channel(cid, now=NOW), b.choose_channel(cid, now=NOW)
        assert da == db
        np.testing.assert_array_equal(da.draws, db.draws)
        assert a.choose_channel(cid, now=NOW, exclude=[da.channel]) == b.choose_channel(cid, now=NOW,
                                                                                         exclude=[da.channel])
    pd.testing.assert_frame_equal(a.rank(ids, now=NOW), b.rank(ids, now=NOW))
    pd.testing.assert_frame_equal(a.explain(ids[0]), b.explain(ids[0]))


def is_memory_mapped(arr: np.ndarray) -> bool:
    base = arr
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def leftovers(path: Path) -> list[str]:
    """Everything in and beside a saved model that is not its pointer, its live version or its contact store."""
    live = model_file(path).parent.name if path.exists() else None
    inside = [p.name for p in path.iterdir() if p.name not in ("CURRENT", live)] if path.exists() else []
    beside = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    return sorted(inside + beside)


# -- round trip --------------------------------------------------------------------------------


def test_round_trip_gives_identical_decisions_and_arrays(fitted_model, tmp_path):
    path = tmp_path / "models" / "2026-04-08"
    fitted_model.save(path)
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", "v-000000000001"]
    assert sorted(p.name for p in (path / "v-000000000001").iterdir()) == sorted(
        ["manifest.json"] + [f"{name}.npy" for name in fitted_model.state_.arrays()])
    loaded = co.load(path)
    assert isinstance(loaded, co.ChannelModel)
    assert_same_model(fitted_model, loaded)
    assert loaded.last_fit_ == fitted_model.last_fit_
    with pytest.warns(FutureWarning, match="use channelopt.load"):  # the deprecated spelling still works
        assert_same_model(fitted_model, co.ChannelModel.load(str(path), verify=False))


def test_round_trip_with_int_ids_and_extra_dimension(tmp_path, log_factory):
    space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"], weekdays=False,
                        extra={"tone": ["warm", "dry"]})
    logs = log_factory(n_customers=12, n_sends=80, seed=5, int_ids=True)
    logs["tone"] = np.where(np.arange(len(logs)) % 3 == 0, "warm", "dry")
    model = co.ChannelModel(space, response_window="48h", half_life=None, seed=3, default_tz="Europe/Paris").fit(logs)
    model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    assert loaded.config.half_life is None and loaded.config.default_tz == "Europe/Paris"
    assert_same_model(model, loaded)


def test_model_with_no_customers_round_trips(space, tmp_path, log_factory):
    logs = log_factory(n_customers=3, n_sends=10, seed=6)
    model = co.ChannelModel(space).fit(logs, as_of=logs["sent_at"].min() - pd.Timedelta(days=1))
    assert model.state_.n_customers == 0
    model.save(tmp_path / "empty")
    loaded = co.load(tmp_path / "empty")
    assert loaded.state_.n_customers == 0
    assert loaded.choose_channel("anyone", now=NOW) == model.choose_channel("anyone", now=NOW)


def test_load_memory_maps_read_only_arrays(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    loaded = co.load(tmp_path / "m")
    arrays = loaded.state_.arrays()
    assert arrays["sends"].shape[0] > 0
    for name, arr in arrays.items():
        if arr.size:
            assert is_memory_mapped(arr), name
            assert not arr.flags.writeable, name
    with pytest.raises(ValueError, match="read-only"):
        loaded.state_.sends[0, 0] = 1.0


def test_loaded_model_keeps_learning_like_the_original(space, fitted_model, tmp_path, log_factory):
    fitted_model.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in model_file(tmp_path / "m").parent.iterdir()}
    more = log_factory(n_customers=25, n_sends=60, seed=8, start=fitted_model.as_of_ - pd.Timedelta(days=3), days=6)
    as_of = fitted_model.as_of_ + pd.Timedelta(days=7)
    loaded = co.load(tmp_path / "m").partial_fit(more, as_of=as_of)
    twin = co.ChannelModel(space, response_window="72h", half_life="30D", seed=7)
    twin.state_, twin.as_of_ = fitted_model.state_, fitted_model.as_of_
    twin.partial_fit(more, as_of=as_of)
    assert_same_model(twin, loaded)
    assert {p.name: p.read_bytes() for p in model_file(tmp_path / "m").parent.iterdir()} == before  # untouched


# -- corruption and bad directories ------------------------------------------------------------


def test_corrupt_byte_is_a_checksum_mismatch(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    file = model_file(tmp_path / "m", "sends.npy")
    data = bytearray(file.read_bytes())
    data[-5] ^= 0x01
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"sends\.npy: checksum mismatch"):
        co.load(tmp_path / "m")


def test_truncated_file_is_a_checksum_mismatch(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    file = model_file(tmp_path / "m", "id_data.npy")
    file.write_bytes(file.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"id_data\.npy: [\d,]+ bytes, its header declares"):
        co.load(tmp_path / "m")


def rewrite_manifest(path: Path, **changes) -> None:
    write_manifest(path, dict(read_manifest(path), **changes))


def test_a_format_3_model_loads_and_decides_as_before(space, tmp_path):
    """Version 3 held int64 ns times and row-order id hashes; loading narrows them to version 4's layout."""
    logs = pd.DataFrame({"customer_id": ["a", "a", "b", "c"],
                         "sent_at": [T0, T0 + pd.Timedelta("90s"), T0 + pd.Timedelta("30s"), T0],
                         "channel": ["email", "sms", "push", "email"], "responded_at": [None] * 4,
                         "complained": [False, True, True, False], "tz": ["UTC", "Europe/Paris", "UTC", None]})
    model = co.ChannelModel(space).fit(logs, as_of=T0 + pd.Timedelta("5D"))
    save_as_format_3(model, tmp_path / "v3")
    back = co.load(tmp_path / "v3")
    st, old = model.state_, back.state_
    for name in ("last_complaint_min", "last_sent_min", "zone", "sends", "history_min"):
        np.testing.assert_array_equal(getattr(old, name), getattr(st, name))
        assert getattr(old, name).dtype == getattr(st, name).dtype
    assert old.index.order.dtype == np.int32
    np.testing.assert_array_equal(old.index.hashes, st.index.hashes)
    # a complaint at 09:01:30 is kept as minute 09:02 (rounded up, as the send history)
    assert old.last_complaint_min[st.index.row_of("a")] == (T0 + pd.Timedelta("2min")).value // 60_000_000_000
    now = T0 + pd.Timedelta("6D")
    for cid in ("a", "b", "c"):
        assert back.choose_channel(cid, now=now) == model.choose_channel(cid, now=now)
    # saved again, it is a file of the current version with the same state
    back.save(tmp_path / "v5")
    assert read_manifest(tmp_path / "v5")["format_version"] == FORMAT_VERSION
    np.testing.assert_array_equal(co.load(tmp_path / "v5").state_.last_sent_min, st.last_sent_min)


def test_wrong_format_version(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    rewrite_manifest(tmp_path / "m", format_version=99)
    with pytest.raises(ValueError, match=re.escape("model format version 99 is not supported (this channelopt "
                                                   "reads versions 2, 3, 4, 5, 6)")):
        co.load(tmp_path / "m")


def test_not_a_channelopt_directory(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    rewrite_manifest(tmp_path / "m", format="something-else")
    with pytest.raises(ValueError, match=re.escape("not a channelopt model (format 'something-else')")):
        co.load(tmp_path / "m")


def test_missing_array_file(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    model_file(tmp_path / "m", "responses.npy").unlink()
    with pytest.raises(ValueError, match=re.escape("array file 'responses.npy' is missing")):
        co.load(tmp_path / "m")


def test_missing_or_corrupt_manifest(fitted_model, tmp_path):
    with pytest.raises(ValueError, match=re.escape("not a saved model (no manifest.json)")):
        co.load(tmp_path / "nothing-here")
    fitted_model.save(tmp_path / "m")
    model_file(tmp_path / "m").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: corrupt manifest"):
        co.load(tmp_path / "m")


def test_manifest_shape_disagreeing_with_the_file(fitted_model, tmp_path):
    fitted_model.save(tmp_path / "m")
    manifest = read_manifest(tmp_path / "m")
    manifest["arrays"]["zone"]["shape"] = [manifest["arrays"]["zone"]["shape"][0] + 1]
    write_manifest(tmp_path / "m", manifest)
    with pytest.raises(ValueError, match=r"zone\.npy: header declares <u2 \[20\], manifest says <u2 \[21\]"):
        co.load(tmp_path / "m")


# -- atomic writes -----------------------------------------------------------------------------


def test_saving_over_an_existing_model_replaces_it(space, fitted_model, tmp_path, log_factory):
    path = tmp_path / "m"
    fitted_model.save(path)
    other = co.ChannelModel(space, seed=99).fit(log_factory(n_customers=4, n_sends=20, seed=9))
    other.save(path)
    assert_same_model(other, co.load(path))
    assert sorted(p.name for p in tmp_path.iterdir() if ".contacts.sqlite" not in p.name) == ["m"]  # no temporaries


def test_crash_while_writing_arrays_keeps_the_old_model(space, fitted_model, tmp_path, log_factory, monkeypatch):
    path = tmp_path / "m"
    fitted_model.save(path)
    other = co.ChannelModel(space, seed=99).fit(log_factory(n_customers=4, n_sends=20, seed=9))
    real_save = np.save
    calls = {"n": 0}

    def failing_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    monkeypatch.undo()
    assert calls["n"] == 3
    assert_same_model(fitted_model, co.load(path))
    assert leftovers(path) == []


def test_crash_while_renaming_keeps_the_old_model(space, fitted_model, tmp_path, log_factory, monkeypatch):
    path = tmp_path / "m"
    fitted_model.save(path)
    other = co.ChannelModel(space, seed=99).fit(log_factory(n_customers=4, n_sends=20, seed=9))
    real_rename = os.rename

    def failing_rename(src, dst, *args, **kwargs):
        if Path(src).name.startswith(".tmp-"):  # naming the finished new version
            raise OSError("power cut")
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="power cut"):
        other.save(path)
    monkeypatch.undo()
    assert_same_model(fitted_model, co.load(path))
    assert leftovers(path) == []


def test_crash_while_switching_the_pointer_keeps_the_old_model(space, fitted_model, tmp_path, log_factory,
                                                               monkeypatch):
    path = tmp_path / "m"
    fitted_model.save(path)
    other = co.ChannelModel(space, seed=99).fit(log_factory(n_customers=4, n_sends=20, seed=9))
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        if Path(dst).name == "CURRENT":
            raise OSError("power cut")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="power cut"):
        other.save(path)
    monkeypatch.undo()
    assert_same_model(fitted_model, co.load(path))
    assert leftovers(path) == []
    other.save(path)  # and the next save goes through
    assert_same_model(other, co.load(path))
    assert leftovers(path) == [] and model_file(path).parent.name == "v-000000000002"


@pytest.mark.parametrize("version", [3, 4])
def test_saving_over_a_directory_of_the_layout_before_versions(fitted_model, tmp_path, version):
    """Files at the directory itself, no manifest checksum: it loads, and a save turns it into the
    versioned layout (the old files stay live until the pointer exists, then they are removed)."""
    path = tmp_path / "old"
    save_as_format(fitted_model, path, version)
    assert (path / "manifest.json").is_file() and not (path / "CURRENT").exists()
    back = co.load(path)
    assert_same_model(fitted_model, back, whole_sends=True)
    back.save(path)
    assert sorted(p.name for p in path.iterdir()) == ["CURRENT", "v-000000000001"]
    assert read_manifest(path)["format_version"] == FORMAT_VERSION
    assert_same_model(fitted_model, co.load(path), whole_sends=True)


def test_debris_of_killed_saves_is_removed_by_the_next_save_or_load(fitted_model, tmp_path):
    path = tmp_path / "m"
    fitted_model.save(path)
    dead = 2**22 + 12345  # above pid_max on Linux by default: no such process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
    (path / f".tmp-{dead}-abcdef").mkdir()
    (path / f".tmp-{dead}-abcdef" / "sends.npy").write_bytes(b"x" * 1000)
    (path / f".CURRENT.tmp-{dead}-012345").write_text("v-000000000009\n")
    mine = path / f".tmp-{os.getpid()}-aaaaaa"  # a save in progress in a live process: kept
    mine.mkdir()
    co.load(path)
    assert leftovers(path) == [mine.name]
    mine.rmdir()
    # debris of the layout before versions: a temporary beside the model, and a model moved aside
    # by a save killed between its two renames (the only copy: it is put back, not deleted)
    (tmp_path / f".m.tmp-{dead}-bbbbbb").mkdir()
    import shutil
    shutil.rmtree(path)
    save_as_format(fitted_model, tmp_path / f".m.old-{dead}-cccccc", 4)
    assert not path.exists()
    assert_same_model(fitted_model, co.load(path), whole_sends=True)
    assert (path / "manifest.json").is_file() and [p for p in tmp_path.iterdir() if p.name.startswith(".m.")] == []
    fitted_model.save(path)
    assert leftovers(path) == [] and sorted(p.name for p in path.iterdir()) == ["CURRENT", "v-000000000001"]


def test_crash_on_a_first_save_leaves_nothing(fitted_model, tmp_path, monkeypatch):
    def failing_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        fitted_model.save(tmp_path / "m")
    # nothing but the contact store (it keeps what the model recorded, whatever happens to the save)
    assert [p for p in tmp_path.iterdir() if ".contacts.sqlite" not in p.name] == []


# -- no pickle ---------------------------------------------------------------------------------


PICKLE_PATTERNS = [
    re.compile(r"^\s*(import|from)\s+(c?pickle|cloudpickle|dill|shelve|marshal)\b", re.M | re.I),
    re.compile(r"\b(c?pickle|cloudpickle|dill|marshal)\s*\.\s*(dumps?|loads?|Pickler|Unpickler)\b", re.I),
    re.compile(r"\bjoblib\s*\.\s*(dump|load)\b|from\s+joblib\s+import\s+[^\n]*\b(dump|load)\b"),
    re.compile(r"allow_pickle\s*=\s*True"),
    re.compile(r"\.to_pickle\(|read_pickle\("),
]


def test_no_pickle_anywhere_in_the_package():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) >= 10 and SRC.name == "channelopt"
    offending = [f"{f.relative_to(SRC)}: {m.group(0).strip()}" for f in files for pattern in PICKLE_PATTERNS
                 for m in pattern.finditer(f.read_text(encoding="utf-8"))]
    assert offending == []


def test_pickle_patterns_do_catch_pickle():
    # the scanner above must not be vacuous
    for line in ["import pickle", "from cPickle import loads", "joblib.dump(model, path)",
                 "np.load(f, allow_pickle=True)", "frame.to_pickle(path)", "x = pickle.loads(b)"]:
        assert any(p.search(line) for p in PICKLE_PATTERNS), line
    for line in ["np.save(fh, arr, allow_pickle=False)", "# Never pickle.", "from joblib import Parallel"]:
        assert not any(p.search(line) for p in PICKLE_PATTERNS), line


def test_object_arrays_are_refused(tmp_path):
    from channelopt.state.persist import write_directory

    with pytest.raises(TypeError, match=re.escape("refusing to save array 'ids' of dtype object (plain numbers "
                                                  "only; no pickle)")):
        write_directory(tmp_path / "m", {"ids": np.array(["a", None], dtype=object)}, {"format_version": 1})
    # nothing but the contact store (it keeps what the model recorded, whatever happens to the save)
    assert [p for p in tmp_path.iterdir() if ".contacts.sqlite" not in p.name] == []


TWO_CHANNELS = co.ArmSpace(channels=["email", "sms"])

def test_save_refuses_to_replace_a_directory_that_is_not_a_model(tmp_path):
    model = co.ChannelModel(TWO_CHANNELS).fit(one_send_log(["a"]), as_of="2026-01-10")
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a saved model"):
        model.save(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    target = tmp_path / "model"
    model.save(target)
    model.save(target)  # replacing a model is fine
    assert co.load(target).state_.n_customers == 1


def test_load_rejects_an_incomplete_or_inconsistent_manifest(tmp_path):
    model = co.ChannelModel(TWO_CHANNELS).fit(one_send_log(["a", "b"]), as_of="2026-01-10")
    target = tmp_path / "m"
    model.save(target)
    manifest = read_manifest(target)
    broken = dict(manifest)
    del broken["zones"]
    write_manifest(target, broken)
    with pytest.raises(ValueError, match=r"manifest.json: field 'zones' must be a list of 1 to 65536 zone names, "
                                         "got None"):
        co.load(target)
    wrong = dict(manifest, n_customers=3)
    write_manifest(target, wrong)
    with pytest.raises(ValueError, match=r"array 'sends' is float32 \(2, 33\), expected float32 \(3, 33\)"):
        co.load(target)
