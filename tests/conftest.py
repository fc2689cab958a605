"""Shared fixtures: a small arm space, a deterministic response-log generator, a fitted model.

Shapes are kept small so the numba kernels compile once (they are cached on disk)
and every test runs in milliseconds; the fitted model is session-scoped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from scipy import integrate, stats

import channelopt as co
from channelopt.policy import rank as rank_module

# the suite is reproducible: property tests draw the same examples on every run (and CI);
# HYPOTHESIS_PROFILE=explore draws new ones and keeps failures in the local example database
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """A whole-suite run (``make test``) first compiles the kernels in two processes at once
    (``channelopt.apps.jit``), so a clean checkout pays the compile time once and on both cores;
    a run of chosen files skips it (``CHANNELOPT_JIT_WARMUP=1`` forces it, ``0`` disables it)."""
    flag = os.environ.get("CHANNELOPT_JIT_WARMUP")
    whole_suite = session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if flag == "1" or (flag != "0" and whole_suite):
        from channelopt.apps.jit import warm_up

        warm_up(jobs=2)

#: A Monday, in UTC: the start of every generated log.
T0 = pd.Timestamp("2026-03-02 09:00", tz="UTC")
CHANNELS = ("email", "sms", "push")
WORDINGS = ("plain", "urgent")
ZONES = ("UTC", "Europe/Paris", "America/New_York")


def make_logs(n_customers: int = 20, n_sends: int = 200, *, seed: int = 0, start: pd.Timestamp = T0,
              days: float = 30.0, int_ids: bool = False, with_tz: bool = True, with_event_id: bool = True,
              reply_rate: float = 0.3, negative_rate: float = 0.02) -> pd.DataFrame:
    """A deterministic response log: one row per send, sorted by ``sent_at``.

    Every customer has a fixed zone; replies come 10 minutes to 100 hours after
    the send (some of them after a 72 h window); a few sends are negative.
    """
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, size=n_sends)
    sent = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, size=n_sends)).round(), unit="s")
    replied = rng.random(n_sends) < reply_rate
    delay = pd.to_timedelta(rng.uniform(600, 100 * 3600, size=n_sends).round(), unit="s")
    responded = pd.Series(sent + delay).where(replied, pd.NaT)
    negative = rng.random(n_sends) < negative_rate
    ids = cust.astype(np.int64) + 1000 if int_ids else np.array([f"c-{c:03d}" for c in cust], dtype=object)
    frame = pd.DataFrame({
        "customer_id": ids,
        "sent_at": sent,
        "channel": np.array(CHANNELS)[rng.integers(0, len(CHANNELS), size=n_sends)],
        "wording": np.array(WORDINGS)[rng.integers(0, len(WORDINGS), size=n_sends)],
        "responded_at": responded,
        "unsubscribed": negative & (rng.random(n_sends) < 0.5),
    })
    frame["complained"] = negative & ~frame["unsubscribed"].to_numpy()
    if with_tz:
        frame["tz"] = np.array(ZONES)[cust % len(ZONES)]
    if with_event_id:
        frame["event_id"] = [f"e-{seed}-{i}" for i in range(n_sends)]
    return frame


@pytest.fixture(scope="session")
def space() -> co.ArmSpace:
    """Three channels, two wordings, local hour and weekday: 36 arms."""
    return co.ArmSpace(channels=list(CHANNELS), wordings=list(WORDINGS))


@pytest.fixture(scope="session")
def log_factory() -> Callable[..., pd.DataFrame]:
    """The :func:`make_logs` generator (call it with a seed)."""
    return make_logs


@pytest.fixture(scope="session")
def logs() -> pd.DataFrame:
    """A fixed small log (20 customers, 200 sends over 30 days)."""
    return make_logs(seed=1)


@pytest.fixture(scope="session")
def fitted_model(space: co.ArmSpace, logs: pd.DataFrame) -> co.ChannelModel:
    """A model fitted on :func:`logs` as of 35 days after T0 (do not mutate it)."""
    return co.ChannelModel(space, response_window="72h", half_life="30D", seed=7).fit(
        logs, as_of=T0 + pd.Timedelta(days=35))


def model_file(path, name: str = "manifest.json") -> Path:
    """A file of the live version of the model saved at ``path``."""
    from channelopt.state.persist import version_directory

    return version_directory(path) / name


def read_manifest(path) -> dict:
    return json.loads(model_file(path).read_text())


def write_manifest(path, manifest: dict, *, key=None) -> None:
    """Replace the live manifest with ``manifest``, its checksum recomputed (as a tamperer would)."""
    from channelopt.state.persist import sealed

    model_file(path).write_text(json.dumps(sealed(manifest, key)))


def write_old_layout(path, arrays: dict, manifest: dict) -> None:
    """Write ``arrays`` and ``manifest`` as channelopt did before versioned directories and manifest
    checksums (format version 4 and earlier): every file at ``path`` itself, no ``integrity``."""
    from channelopt.state.persist import sha256_file

    path = Path(path)
    path.mkdir(parents=True)
    entries = {}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        np.save(path / f"{name}.npy", arr, allow_pickle=False)
        entries[name] = {"file": f"{name}.npy", "dtype": arr.dtype.str, "shape": list(arr.shape),
                         "sha256": sha256_file(path / f"{name}.npy")}
    body = {k: v for k, v in manifest.items() if k not in ("arrays", "integrity")}
    (path / "manifest.json").write_text(json.dumps(dict(body, arrays=entries), indent=2, sort_keys=True))


def save_as_format(model: co.ChannelModel, path, version: int) -> None:
    """Save ``model`` as format version ``version`` (3 or 4) in the layout of its time (no
    ``squared_weights``, which came with version 6)."""
    import tempfile

    from channelopt.state.persist import read_directory
    from channelopt.state.history import HISTORY_EMPTY

    tmp = Path(tempfile.mkdtemp()) / "m"
    model.save(tmp)
    manifest, arrays = read_directory(tmp)
    arrays = {k: np.array(v) for k, v in arrays.items()}
    if version <= 5:  # no squared weights before version 6
        del arrays["squared_weights"]
    if version <= 3:  # int64 ns complaint and zone times, row-order id hashes, int64 id order
        for name in ("last_complaint", "last_sent"):
            minutes = arrays.pop(f"{name}_min").astype(np.int64)
            arrays[f"{name}_ns"] = np.where(minutes == HISTORY_EMPTY, np.iinfo(np.int64).min, minutes * 60 * 10**9)
        arrays["id_hashes"] = model.state_.index.hashes
        arrays["id_order"] = arrays["id_order"].astype(np.int64)
    manifest["format_version"] = version
    write_old_layout(path, arrays, manifest)


def save_as_format_3(model: co.ChannelModel, path) -> None:
    """Save ``model`` in the layout of format version 3: what channelopt wrote before version 4."""
    save_as_format(model, path, 3)


def one_send_log(ids, day="2026-01-01", **extra) -> pd.DataFrame:
    """One unanswered email per id on ``day`` (extra columns as given)."""
    n = len(ids)
    return pd.DataFrame({"customer_id": ids, "sent_at": [day] * n, "channel": ["email"] * n,
                         "responded_at": [None] * n, **extra})


def log_rows(*rows: tuple) -> pd.DataFrame:
    """A log of rows ``(customer, sent_at, channel, responded_at[, extra columns dict])``, times as UTC."""
    records = []
    for r in rows:
        rec = {"customer_id": r[0], "sent_at": r[1], "channel": r[2], "responded_at": r[3]}
        if len(r) > 4:
            rec.update(r[4])
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    for col in ("sent_at", "responded_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def window_model(space: co.ArmSpace, **kw) -> co.ChannelModel:
    """A model with a 72 h response window and no decay unless ``kw`` says otherwise."""
    kw.setdefault("response_window", "72h")
    kw.setdefault("half_life", None)
    return co.ChannelModel(space, **kw)


def exact_win_probabilities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(arm c has the largest of independent Beta(a, b) draws), by numerical quadrature."""
    out = []
    for c in range(len(a)):
        def f(x, c=c):
            others = np.prod([stats.beta.cdf(x, a[j], b[j]) for j in range(len(a)) if j != c])
            return stats.beta.pdf(x, a[c], b[c]) * others
        out.append(integrate.quad(f, 0, 1, limit=200, points=[a[c] / (a[c] + b[c])])[0])
    return np.array(out)


def assert_same_decision(a: co.Decision, b: co.Decision) -> None:
    """Every field identical, of the same type (NaN equal to NaN), draws included."""
    assert type(a) is type(b) is co.Decision
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "draws":
            np.testing.assert_array_equal(x, y)
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), (f.name, x, y)
        else:
            assert x == y and type(x) is type(y), (f.name, x, y)


def general_decision(model: co.ChannelModel, customer_id, now, **kwargs) -> co.Decision:
    """The general path's Decision (the fast path switched off where ``_choose`` calls it)."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(rank_module, "choose_fast", lambda *a, **k: None)
        return model._choose(customer_id, now, **kwargs)
    finally:
        mp.undo()
