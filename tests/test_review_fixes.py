"""Regressions found in review: concurrent partial_fit, save over a foreign directory, zones from logs
without tz, CSV typing, empty chunks, and clear errors for a few bad parameters."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

import channelopt as co

SPACE = co.ArmSpace(channels=["email", "sms"])


def _log(ids, day="2026-01-01", **extra) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({"customer_id": ids, "sent_at": [day] * n, "channel": ["email"] * n,
                         "responded_at": [None] * n, **extra})


def test_concurrent_partial_fits_both_apply():
    model = co.ChannelModel(SPACE).partial_fit(_log(["seed"]), as_of="2026-01-10")

    def slow():
        time.sleep(0.3)
        yield _log(["A"])

    t = threading.Thread(target=lambda: model.partial_fit(slow(), as_of="2026-01-10"))
    t.start()
    time.sleep(0.05)
    model.partial_fit([_log(["B"])], as_of="2026-01-10")
    t.join()
    assert sorted(model.state_.index.ids().tolist()) == ["A", "B", "seed"]


def test_save_refuses_to_replace_a_directory_that_is_not_a_model(tmp_path):
    model = co.ChannelModel(SPACE).fit(_log(["a"]), as_of="2026-01-10")
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a saved model"):
        model.save(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    target = tmp_path / "model"
    model.save(target)
    model.save(target)  # replacing a model is fine
    assert co.load(target).state_.n_customers == 1


def test_rows_without_tz_keep_the_learned_zone():
    model = co.ChannelModel(SPACE).partial_fit(_log(["a"], tz=["Asia/Tokyo"]), as_of="2026-01-02")
    model.partial_fit(_log(["a"], day="2026-01-05"), as_of="2026-01-06")
    model.partial_fit(_log(["a"], day="2026-01-07", tz=[None]), as_of="2026-01-08")
    st = model.state_
    assert st.zones[st.zone[st.index.row_of("a")]] == "Asia/Tokyo"
    d = model.choose_channel("a", now="2026-01-09 00:00")
    assert d.send_at.tz_convert("Asia/Tokyo").hour == d.hour


def test_csv_columns_are_text_so_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "logs.csv"
    frame = _log(["007", "7"])
    frame["wording"] = None
    frame.to_csv(path, index=False)
    model = co.ChannelModel(SPACE).fit(path, as_of="2026-01-10")
    assert sorted(model.state_.index.ids().tolist()) == ["007", "7"]


def test_empty_chunk_is_skipped_wherever_it_comes():
    full = _log(["a", "b"])
    first = co.ChannelModel(SPACE).fit([full.iloc[:0], full], as_of="2026-01-10")
    last = co.ChannelModel(SPACE).fit([full, full.iloc[:0]], as_of="2026-01-10")
    assert first.last_fit_ == last.last_fit_
    with pytest.raises(ValueError, match=re.escape("logs: the frame is empty (0 rows)")):
        co.ChannelModel(SPACE).fit([full.iloc[:0], full.iloc[:0]])


def test_clear_errors_for_bad_parameters():
    with pytest.raises(ValueError, match="ArmSpace: wordings must be a list of names, got the string 'plain'"):
        co.ArmSpace(channels=["email"], wordings="plain")
    model = co.ChannelModel(SPACE).fit(_log(["a"]), as_of="2026-01-10")
    with pytest.raises(ValueError, match="tz: unknown time zone 'Mars/Base'"):
        model.choose_channel("a", now="2026-01-11", tz="Mars/Base")
    bad = _log(["a"])
    bad["responded_at"] = ["9999-12-31"]
    with pytest.raises(ValueError, match=re.escape("column 'responded_at': '9999-12-31' in row 0 is outside")):
        co.ChannelModel(SPACE).fit(bad)
    assert np.isfinite(model.choose_channel("a", now="2026-01-11").score)


def test_load_rejects_an_incomplete_or_inconsistent_manifest(tmp_path):
    import json

    model = co.ChannelModel(SPACE).fit(_log(["a", "b"]), as_of="2026-01-10")
    target = tmp_path / "m"
    model.save(target)
    from conftest import read_manifest, write_manifest

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
