#!/usr/bin/env python
"""Fingerprint of everything channelopt computes: SHA-256 digests to compare two trees bit for bit.

Usage::

    python scripts/fingerprint.py                           # print name -> digest
    python scripts/fingerprint.py --out fp.json             # ... and write them as JSON
    python scripts/fingerprint.py --compare A.json B.json   # equal / DIFFERENT per key, exit 1 if any differ

Against another tree (e.g. a worktree of the commit before a refactor), put its
sources first on the path; keep the bytecode and numba caches out of it::

    PYTHONPATH=/tmp/wt-ref/src PYTHONDONTWRITEBYTECODE=1 NUMBA_CACHE_DIR=/tmp/numba-ref \\
        .venv/bin/python scripts/fingerprint.py --out /tmp/fp-ref.json

Only the public API is used (``import channelopt as co`` and the public
functions of the simulation, baseline, evaluation and report modules); modules
that a restructuring may move are imported through :func:`_imp`, which tries
the new location first and then the old one. Digests never include module
paths or class modules (only class names), so moving code does not change them.

What is covered, on the sample data (``data/samples``) and on a simulated
population (8 zones across DST changes, 5 channels, 4 wordings, hours,
weekdays, preference switches, fatigue): fits with several configurations
(segments or not, decay or not, hour smoothing, ``resolve="reply"``, no
hour/weekday dimensions, an extra dimension, chunked input, a Parquet path),
``rank`` (no policy, the default and a custom ContactPolicy with caps, quiet
hours, min gap, cost/value, capacity, top_k/budget, allowed channels, urgent,
deadline, tz/segment overrides, unknown customers), ``choose_channel`` (every
field of each Decision, its draws and scores), ``explain``, ``posteriors``,
``plan_cascade``, ``report_customers``, ``reply_latency``, the five baselines,
off-policy evaluation (evaluate / ips / snips / dr / replay / bootstrap_ci /
effective_sample_size: floats also as ``repr``), the log report, the
simulator's own outputs (population, logs, closed-loop ``run``), partial_fit
chains, save / load (every ``.npy`` array and the manifest, minus its volatile
fields), contact-store mutations (update_consent, record_send, forget,
observe_inbound, set_params) and a handful of error messages.

Every value is digested from a canonical, type-tagged byte encoding: floats by
their exact bits (``float.hex``), arrays by dtype, shape and raw bytes, frames
by column names and order, dtypes (categories included), index, values and
``attrs``. A step that raises records ``<name>.ERROR`` (type and message) and
the run continues; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


# -- imports that survive the move of modules -----------------------------------------------------------------


def _imp(*names: str, attrs: tuple[str, ...] = ()) -> Any:
    """The first of ``names`` that imports and has every one of ``attrs`` (new location first, then old).

    Only a missing module of that very name (or of one of its parents) moves on to the next
    candidate: an import error inside an existing module is raised.
    """
    tried = []
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                tried.append(f"{name} (no such module)")
                continue
            raise
        missing = [a for a in attrs if not hasattr(mod, a)]
        if not missing:
            return mod
        tried.append(f"{name} (lacks {', '.join(missing)})")
    raise ImportError("none of these modules fits: " + "; ".join(tried))


co: Any = None
sim: Any = None
bl: Any = None
ev: Any = None
rep: Any = None


def _load_modules() -> None:
    """Import channelopt (only when fingerprinting: ``--compare`` needs no importable tree)."""
    global co, sim, bl, ev, rep
    co = importlib.import_module("channelopt")
    sim = _imp("channelopt.sim", "channelopt.sim.population", "channelopt.simulate",
               attrs=("make_population", "simulate_logs", "run", "UniformPolicy", "censor"))
    bl = _imp("channelopt.policy.baselines", "channelopt.baselines",
              attrs=("UniformRandom", "FixedChannel", "EpsilonGreedy", "FlatThompson", "PooledThompson"))
    ev = _imp("channelopt.evaluation", "channelopt.evaluation.offline",
              attrs=("evaluate", "ips", "snips", "dr", "replay", "bootstrap_ci", "effective_sample_size"))
    rep = _imp("channelopt.inspect.reports", "channelopt.inspect", "channelopt.report",
               attrs=("report", "customer_report"))


# -- canonical encoding --------------------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _Hasher:
    """A SHA-256 fed with a canonical, type-tagged encoding of Python / numpy / pandas values."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def raw(self, b: bytes) -> None:
        self.h.update(len(b).to_bytes(8, "little"))
        self.h.update(b)

    def tag(self, t: str) -> None:
        self.raw(t.encode())

    def feed(self, x: Any) -> None:
        if x is None:
            self.tag("None")
        elif x is pd.NA:
            self.tag("NA")
        elif x is pd.NaT:
            self.tag("NaT")
        elif isinstance(x, (bool, np.bool_)):
            self.tag(f"bool:{type(x).__name__}:{bool(x)}")
        elif isinstance(x, (int, np.integer)):
            self.tag(f"int:{type(x).__name__}:{int(x)}")
        elif isinstance(x, (float, np.floating)):
            self.tag(f"float:{type(x).__name__}:{float(x).hex()}")
        elif isinstance(x, (str, np.str_)):
            self.tag(f"str:{type(x).__name__}")
            self.raw(str(x).encode("utf-8", "surrogatepass"))
        elif isinstance(x, bytes):
            self.tag("bytes")
            self.raw(x)
        elif isinstance(x, pd.Timestamp):
            self.tag(f"Timestamp:{x.value}:{x.unit}:{x.tz}")
        elif isinstance(x, pd.Timedelta):
            self.tag(f"Timedelta:{x.value}:{x.unit}")
        elif isinstance(x, (np.datetime64, np.timedelta64)):
            self.tag(f"{x.dtype.str}:{x.astype(np.int64)}")
        elif isinstance(x, np.ndarray):
            self.array(x)
        elif isinstance(x, pd.DataFrame):
            self.frame(x)
        elif isinstance(x, pd.Series):
            self.tag("Series")
            self.feed(x.name)
            self.index(x.index)
            self.values(x)
            self.feed(dict(x.attrs))
        elif isinstance(x, pd.Index):
            self.index(x)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            self.tag(f"dataclass:{type(x).__name__}")
            for f in dataclasses.fields(x):
                self.feed(f.name)
                self.feed(getattr(x, f.name))
        elif isinstance(x, dict) or (hasattr(x, "items") and hasattr(x, "keys")):
            items = list(x.items())
            self.tag(f"map:{len(items)}")
            for k, v in items:
                self.feed(k)
                self.feed(v)
        elif isinstance(x, (list, tuple)):
            self.tag(f"{type(x).__name__}:{len(x)}")
            for v in x:
                self.feed(v)
        elif isinstance(x, (set, frozenset)):
            self.tag(f"set:{len(x)}")
            for v in sorted(x, key=repr):
                self.feed(v)
        else:
            self.tag(f"repr:{type(x).__name__}")
            self.raw(_ADDRESS.sub("", repr(x)).encode())

    def array(self, a: np.ndarray) -> None:
        self.tag(f"ndarray:{a.dtype.str}:{a.shape}")
        if a.dtype == object:
            for v in a.ravel():
                self.feed(v)
        else:
            self.raw(np.ascontiguousarray(a).tobytes())

    def values(self, s: pd.Series) -> None:
        dt = s.dtype
        self.tag(f"dtype:{dt}")
        if isinstance(dt, pd.CategoricalDtype):
            self.feed(bool(dt.ordered))
            self.index(dt.categories)
            self.array(np.asarray(s.cat.codes.to_numpy()))
        elif isinstance(dt, pd.DatetimeTZDtype):
            self.array(s.array.asi8)
        elif isinstance(dt, np.dtype):
            self.array(s.to_numpy())
        elif hasattr(dt, "numpy_dtype") and dt.kind in "biuf":  # masked: Int8, boolean, Float64...
            mask = s.isna().to_numpy()
            self.array(mask)
            self.array(s.to_numpy(dtype=dt.numpy_dtype, na_value=0))
        else:  # strings, objects, arrow
            self.array(np.array(s.tolist() + [None], dtype=object)[:-1])

    def index(self, idx: pd.Index) -> None:
        self.tag(f"Index:{type(idx).__name__}:{idx.dtype}")
        self.feed(idx.names if isinstance(idx, pd.MultiIndex) else idx.name)
        if isinstance(idx, pd.RangeIndex):
            self.tag(f"range:{idx.start}:{idx.stop}:{idx.step}")
        elif isinstance(idx, pd.MultiIndex):
            for level in range(idx.nlevels):
                self.index(idx.get_level_values(level))
        else:
            self.values(pd.Series(idx, dtype=idx.dtype, copy=True))

    def frame(self, df: pd.DataFrame) -> None:
        self.tag(f"DataFrame:{df.shape}")
        self.feed(list(df.columns))
        self.index(df.index)
        for i in range(df.shape[1]):
            self.feed(df.columns[i])
            self.values(df.iloc[:, i])
        self.feed(dict(df.attrs))

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def digest(x: Any) -> str:
    h = _Hasher()
    h.feed(x)
    return h.hexdigest()


def decision_record(d: Any) -> dict[str, Any]:
    """Every field of a Decision (draws included) and its per-arm scores."""
    rec = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
    rec["__type__"] = type(d).__name__
    rec["scores"] = d.scores if getattr(d, "draws", None) is not None else None
    return rec


# -- the collector -------------------------------------------------------------------------------------------


class Fingerprint:
    def __init__(self) -> None:
        self.d: dict[str, Any] = {}
        self.errors: list[str] = []
        self.tmp_dirs: list[str] = []
        self.timings: list[tuple[float, str]] = []

    def add(self, key: str, x: Any) -> Any:
        if key in self.d:
            raise KeyError(f"duplicate key {key}")
        self.d[key] = digest(x)
        return x

    def num(self, key: str, x: Any) -> Any:
        """A number: its digest and its repr (full precision)."""
        if key in self.d:
            raise KeyError(f"duplicate key {key}")
        v = float(x) if isinstance(x, (float, np.floating)) else x
        self.d[key] = {"sha256": digest(v), "repr": repr(v)}
        return x

    def text(self, key: str, text: str) -> None:
        """A short text (error message): its digest and the text itself."""
        if key in self.d:
            raise KeyError(f"duplicate key {key}")
        self.d[key] = {"sha256": digest(text), "repr": text}

    def frame_numbers(self, key: str, df: pd.DataFrame, label: str, columns: list[str]) -> None:
        """The float cells of a small result table, one key each (``key.<label>.<column>``)."""
        for _, row in df.iterrows():
            for c in columns:
                self.num(f"{key}.{row[label]}.{c}", row[c])

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run a step: warnings are recorded (``name.warnings``), an exception becomes ``name.ERROR``."""
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                msg = self._clean(f"{type(exc).__name__}: {exc}")
                self.d[f"{name}.ERROR"] = msg
                self.errors.append(f"{name}: {msg}")
        self.timings.append((time.perf_counter() - start, name))
        if caught:  # digest and text (the text is printed by --compare when the keys differ)
            texts = sorted({f"{w.category.__name__}: {self._clean(str(w.message))}" for w in caught})
            self.d[f"{name}.warnings"] = {"sha256": digest(texts), "repr": " | ".join(texts)}

    def _clean(self, text: str) -> str:
        for t in self.tmp_dirs:
            text = text.replace(t, "<tmp>")
        return text


# -- helpers -------------------------------------------------------------------------------------------------


def ts(x: Any) -> pd.Timestamp:
    return pd.Timestamp(x).tz_convert("UTC") if pd.Timestamp(x).tzinfo else pd.Timestamp(x, tz="UTC")


def spread_ids(ids: list[Any], n: int) -> list[Any]:
    """``n`` ids spread over the list (deterministic)."""
    if len(ids) <= n:
        return list(ids)
    step = len(ids) / n
    return [ids[int(i * step)] for i in range(n)]


def custom_policy(channels: tuple[str, ...]) -> Any:
    """A ContactPolicy with every rule set to something other than its default."""
    quiet = {c: span for c, span in (("sms", (21, 8)), ("push", (22, 7)), ("voice", (20, 9)), ("whatsapp", (23, 6)))
             if c in channels}
    caps = [co.Cap(3, "7D"), co.Cap(1, "2D", channel="sms" if "sms" in channels else None), co.Cap(5, "14D")]
    cost = {c: 0.01 * (k + 1) for k, c in enumerate(channels)}
    return co.ContactPolicy(quiet_hours=quiet, caps=caps, min_gap="18h", cost=cost, value=1.5,
                            complaint_cooloff="20D", deadline="36h")


def state_arrays(fp: Fingerprint, key: str, model: Any) -> None:
    """The learned store (``state_``): its arrays, and the fit's bookkeeping."""
    st = model.state_
    arrays = st.arrays() if hasattr(st, "arrays") else {}
    fp.add(f"{key}.state_arrays", {k: np.asarray(arrays[k]) for k in sorted(arrays)})
    fp.add(f"{key}.state_meta", {"n_customers": st.n_customers, "as_of": model.as_of_,
                                 "last_fit": dict(getattr(model, "last_fit_", {}))})


def exercise(fp: Fingerprint, key: str, model: Any, customers: pd.DataFrame, nows: list[pd.Timestamp],
             policy: Any, *, full: bool = True) -> None:
    """Every read-only decision and inspection API of a fitted model."""
    ids = customers["customer_id"].tolist()
    channels = model.space.channels
    t0, t1 = nows[0], nows[1]
    with fp.step(f"{key}.model"):
        fp.add(f"{key}.model.repr", repr(model))
        fp.add(f"{key}.model.params", model.get_params())
        fp.add(f"{key}.model.config", model.config)
        state_arrays(fp, f"{key}.model", model)
    # rank
    for i, now in enumerate(nows):
        with fp.step(f"{key}.rank.plain.t{i}"):
            fp.add(f"{key}.rank.plain.t{i}", model.rank(customers, now=now))
    with fp.step(f"{key}.rank.variants"):
        fp.add(f"{key}.rank.ids_list", model.rank(ids[:400] + ["zz-new-1", "zz-new-2"], now=t0))
        fp.add(f"{key}.rank.no_tz_column", model.rank(customers[["customer_id"]], now=t1))
        fp.add(f"{key}.rank.naive_now_string", model.rank(customers.iloc[:300], now=str(t1.tz_localize(None))))
        fp.add(f"{key}.rank.default_policy", model.rank(customers, now=t0, policy=co.ContactPolicy()))
        fp.add(f"{key}.rank.custom_policy", model.rank(customers, now=t1, policy=policy))
        cap = {channels[0]: 120, channels[1]: 80}
        if len(channels) > 2:
            cap[channels[2]] = 0
        fp.add(f"{key}.rank.capacity", model.rank(customers, now=t0, capacity=cap))
        fp.add(f"{key}.rank.top_k", model.rank(customers, now=t1, top_k=300))
        fp.add(f"{key}.rank.budget_policy_capacity",
               model.rank(customers, now=t1, budget=400, policy=policy, capacity={channels[-1]: 60}))
        fp.add(f"{key}.rank.options",
               model.rank(customers, now=t1, allowed_channels=list(channels[:2]), propensity=False, urgent=True,
                          deadline="6h", promotional=False, value=2.5, policy=policy))
        fp.add(f"{key}.rank.deadline_timestamp", model.rank(customers.iloc[:500], now=t0,
                                                            deadline=t0 + pd.Timedelta("30h")))
        fp.add(f"{key}.rank.no_propensity", model.rank(customers, now=t0, propensity=False))
        odd = customers.iloc[:300].copy().reset_index(drop=True)
        if "tz" in odd.columns:
            odd["tz"] = odd["tz"].astype(object)
            odd.loc[::7, "tz"] = None
            odd.loc[1::7, "tz"] = "Pacific/Chatham"
        if "segment" in odd.columns:
            odd["segment"] = odd["segment"].astype(object)
            odd.loc[::5, "segment"] = None
            odd.loc[2::5, "segment"] = odd["segment"].iloc[3]
        extra = pd.DataFrame({"customer_id": ["zz-unknown-1", "zz-unknown-2"]})
        if "tz" in odd.columns:
            extra["tz"] = ["Asia/Kathmandu", None]
        fp.add(f"{key}.rank.overrides_unknown", model.rank(pd.concat([odd, extra], ignore_index=True), now=t1))
    # choose_channel
    chosen = ids[:120] + spread_ids(ids[120:], 77) + ["zz-unknown-1", "zz-unknown-2", "zz-unknown-3"]
    for i, now in enumerate(nows[:3] if full else nows[:1]):
        with fp.step(f"{key}.choose.plain.t{i}"):
            fp.add(f"{key}.choose.plain.t{i}", [decision_record(model.choose_channel(c, now=now)) for c in chosen])
    consent_cols = [f"consent_{c}" for c in channels if f"consent_{c}" in customers.columns]
    with fp.step(f"{key}.choose.policy"):
        rows = customers.iloc[:60]
        out = []
        for _, r in rows.iterrows():
            consent = [c for c in channels if bool(r.get(f"consent_{c}", True))] if consent_cols else list(channels)
            out.append(decision_record(model.choose_channel(r["customer_id"], now=t1, policy=policy,
                                                            consent=consent)))
        fp.add(f"{key}.choose.policy", out)
        fp.add(f"{key}.choose.default_policy_store_consent",
               [decision_record(model.choose_channel(c, now=t0, policy=co.ContactPolicy())) for c in ids[:20]])
    with fp.step(f"{key}.choose.options"):
        out = []
        for k, c in enumerate(ids[:30]):
            args: dict[str, Any] = {}
            if k % 3 == 0:
                args["exclude"] = [channels[k % len(channels)]]
            if k % 3 == 1:
                args["allowed_channels"] = list(channels[1:])
            if k % 4 == 0:
                args["tz"] = "Australia/Adelaide"
            if k % 5 == 0:
                args["urgent"] = True
            if k % 6 == 0:
                args["deadline"] = "3h"
            if k % 7 == 0:
                args["propensity"] = False
            if k % 2 == 0:
                args["segment"] = "1"
            if k % 8 == 0:
                args.update(policy=policy, consent=list(channels), value=4.0, promotional=False)
            out.append(decision_record(model.choose_channel(c, now=nows[k % len(nows)], **args)))
        fp.add(f"{key}.choose.options", out)
    # explain / posteriors / cascade / report / latency
    few = spread_ids(ids, 20)
    with fp.step(f"{key}.explain"):
        fp.add(f"{key}.explain.plain", [model.explain(c) for c in few] + [model.explain("zz-unknown-1")])
        fp.add(f"{key}.explain.policy", [model.explain(c, now=t1, policy=policy, level=0.8,
                                                       consent=list(channels[:2]) if k % 2 else None)
                                         for k, c in enumerate(few[:8])])
        fp.add(f"{key}.explain.segment", [model.explain(c, segment="2") for c in few[:4]])
    with fp.step(f"{key}.posteriors"):
        if full:
            fp.add(f"{key}.posteriors.all", model.posteriors())
        fp.add(f"{key}.posteriors.some", model.posteriors(few + ["zz-unknown-1"], level=0.95,
                                                          segments=[None, "1", "3"] * 7))
    with fp.step(f"{key}.cascade"):
        fp.add(f"{key}.cascade.plain", [model.plan_cascade(c, now=t1) for c in few])
        fp.add(f"{key}.cascade.policy", [model.plan_cascade(c, now=t0, max_steps=4, quantile=0.5, policy=policy,
                                                            consent=list(channels)) for c in few[:10]])
        fp.add(f"{key}.cascade.exclude", [model.plan_cascade(c, now=nows[2], exclude=[channels[0]], segment="0")
                                          for c in few[:5]])
    with fp.step(f"{key}.report_customers"):
        if full:
            fp.add(f"{key}.report_customers.all", _report_customers(model, ))
        fp.add(f"{key}.report_customers.some", _report_customers(model, few + ["zz-unknown-1"], level=0.8,
                                                                      draws=200, seed=3))
    with fp.step(f"{key}.latency"):
        fp.add(f"{key}.latency.reply_latency", model.reply_latency())
        fp.add(f"{key}.latency.reply_latency_segment", model.reply_latency((0.1, 0.5, 0.9), segment="1"))
        fp.add(f"{key}.latency.quantiles", [model.latency_quantile(c, q) for c in channels for q in (0.25, 0.8)])


def digest_saved(fp: Fingerprint, key: str, path: Path) -> None:
    """Every file of a saved model directory: ``.npy`` arrays, manifest (minus volatile fields), CURRENT."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    fp.add(f"{key}.listing", [str(p.relative_to(path)) for p in files])
    for p in files:
        rel = str(p.relative_to(path))
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)  # memory maps are not needed: read it all
            fp.add(f"{key}.npy.{p.stem}", a)
        elif p.name == "manifest.json":
            m = json.loads(p.read_text())
            # Volatile, left out:
            # - "integrity": the SHA-256 (and HMAC) of the manifest itself, which covers contacts.store_id;
            # - "contacts.store_id": secrets.token_hex(16) of the contact store created beside the model.
            # Everything else (format, space, watermark, counts, zones, segments, config, policy, last_fit,
            # contacts.file and .seq, and every array's file, dtype, shape and SHA-256) is deterministic.
            m.pop("integrity", None)
            if isinstance(m.get("contacts"), dict):
                m["contacts"].pop("store_id", None)
            fp.add(f"{key}.manifest", m)
        elif p.name == "CURRENT":
            fp.add(f"{key}.CURRENT", p.read_bytes())
        else:
            fp.add(f"{key}.file.{rel}", p.read_bytes())


def contact_events(path: Path) -> list[tuple[Any, ...]]:
    """The contact store's events beside a model (``<dir>.contacts.sqlite``) without their random uid."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT seq, cid, kind, minute, channel, grant_bits, revoke_bits FROM events "
                          "ORDER BY seq").fetchall()
        n_tomb = db.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0]
    finally:
        db.close()
    return rows + [("tombstones", n_tomb)]


def evaluation_block(fp: Fingerprint, key: str, model: Any, late_logs: pd.DataFrame, dims: tuple[str, ...],
                     replay_rows: int = 3000, as_of: Any = None) -> None:
    with fp.step(f"{key}.evaluate"):
        res = fp.add(f"{key}.evaluate.default", ev.evaluate(late_logs, model, dimensions=dims, n_boot=200, seed=1,
                                                            as_of=as_of))
        fp.frame_numbers(f"{key}.evaluate.default", res, "estimator",
                         ["value", "ci_low", "ci_high", "effective_sample_size"])
        for a in ("mean_weight", "max_weight"):
            fp.num(f"{key}.evaluate.default.attrs.{a}", res.attrs[a])
        res = fp.add(f"{key}.evaluate.clipped",
                     ev.evaluate(late_logs, model, estimators=["ips", "snips"], dimensions=dims, n_boot=150,
                                 level=0.9, seed=2, clip=3.0, as_of=as_of))
        fp.frame_numbers(f"{key}.evaluate.clipped", res, "estimator", ["value", "ci_low", "ci_high"])
    with fp.step(f"{key}.replay"):  # the replay decides row by row: a part of the log is enough
        res = fp.add(f"{key}.replay", ev.replay(late_logs.iloc[:replay_rows], model, dimensions=dims,
                                                      as_of=as_of))
        for c in ("value", "ci_low", "ci_high"):
            fp.num(f"{key}.replay.{c}", res[c].iloc[0])


def fresh_dir(fp: Fingerprint, name: str) -> Path:
    d = tempfile.mkdtemp(prefix=f"fp-{name}-")
    fp.tmp_dirs.append(d)
    return Path(d)


# -- the sample data -----------------------------------------------------------------------------------------


def sample_section(fp: Fingerprint) -> None:
    logs = pd.read_parquet(SAMPLES / "logs.parquet")
    customers = pd.read_parquet(SAMPLES / "customers.parquet")
    fp.add("sample.input.logs", logs)
    fp.add("sample.input.customers", customers)
    channels = sorted({str(v) for v in logs["channel"].dropna()})  # as the CLI / demo infers them
    wordings = sorted({str(v) for v in logs["wording"].dropna()})
    space = co.ArmSpace(channels=channels, wordings=wordings)
    policy = custom_policy(space.channels)
    mid = pd.Timestamp("2026-10-20", tz="UTC")

    # A: the demo's fit (CLI defaults), then every read API
    with fp.step("sample.A.fit"):
        model = co.ChannelModel(space).fit(logs)
    t0 = model.as_of_
    nows = [t0, t0 + pd.Timedelta("9h37m13s"), pd.Timestamp("2026-10-25 00:30", tz="UTC"),  # EU DST end 01:00 UTC
            pd.Timestamp("2026-11-01 05:45", tz="UTC")]                                   # US DST end 06:00 UTC
    exercise(fp, "sample.A", model, customers, nows, policy)

    with fp.step("sample.fit_from_path"):
        m = co.ChannelModel(space).fit(str(SAMPLES / "logs.parquet"))
        fp.add("sample.fit_from_path.rank", m.rank(customers, now=t0))
        fp.add("sample.fit_from_path.last_fit", m.last_fit_)
    with fp.step("sample.fit_chunks"):
        m = co.ChannelModel(space, seed=3).fit(iter([logs.iloc[:20000], logs.iloc[20000:35000], logs.iloc[35000:]]))
        fp.add("sample.fit_chunks.rank", m.rank(customers, now=t0))
        state_arrays(fp, "sample.fit_chunks", m)

    # B: another configuration, no segments
    with fp.step("sample.B.fit"):
        mb = co.ChannelModel(space, half_life=None, seed=11, hour_smoothing=0.0, resolve="reply",
                             default_tz="Europe/Paris", prior_max_strength=200.0, prior_sample=500,
                             response_window="48h").fit(logs.drop(columns="segment"), as_of="2026-11-21")
    exercise(fp, "sample.B", mb, customers, nows, policy, full=False)

    # C: channel and wording only
    with fp.step("sample.C"):
        mc = co.ChannelModel(co.ArmSpace(channels=channels, wordings=wordings, hours=False, weekdays=False),
                             seed=5, half_life="30D").fit(logs)
        fp.add("sample.C.rank", mc.rank(customers, now=t0))
        fp.add("sample.C.rank_policy", mc.rank(customers, now=nows[1], policy=policy))
        fp.add("sample.C.choose", [decision_record(mc.choose_channel(c, now=nows[1]))
                                   for c in customers["customer_id"].iloc[:100]])
        fp.add("sample.C.posteriors", mc.posteriors(customers["customer_id"].iloc[:50]))
        fp.add("sample.C.cascade", [mc.plan_cascade(c, now=t0) for c in customers["customer_id"].iloc[:10]])

    # evaluation on the later half, with a model fitted on the earlier one; then partial_fit chains
    early = sim.censor(logs[logs["sent_at"] < mid], mid)
    late = logs[logs["sent_at"] >= mid]
    with fp.step("sample.E.fit"):
        me = co.ChannelModel(space, seed=2).fit(early, as_of=mid)
        state_arrays(fp, "sample.E.fit", me)
    evaluation_block(fp, "sample.E", me, late, ("channel",))
    with fp.step("sample.partial_fit"):
        me.partial_fit(logs)
        fp.add("sample.partial_fit.rank", me.rank(customers, now=t0))
        state_arrays(fp, "sample.partial_fit", me)
        me.partial_fit(logs)  # the same log again: nothing counted
        fp.add("sample.partial_fit.again.last_fit", me.last_fit_)
        fp.add("sample.partial_fit.again.rank", me.rank(customers, now=t0))
    with fp.step("sample.partial_fit_daily"):
        md = co.ChannelModel(space, seed=4, half_life="45D")
        steps = pd.date_range("2026-10-01", "2026-11-20", freq="10D", tz="UTC")
        for k, t in enumerate(steps):
            seen = sim.censor(logs[logs["sent_at"] <= t], t)
            (md.fit if k == 0 else md.partial_fit)(seen, as_of=t)
            fp.add(f"sample.partial_fit_daily.{k}.last_fit", md.last_fit_)
        fp.add("sample.partial_fit_daily.rank", md.rank(customers, now=t0))
        state_arrays(fp, "sample.partial_fit_daily", md)

    # save, load, then the contact store's mutations
    tmp = fresh_dir(fp, "sample")
    path = tmp / "model"
    with fp.step("sample.save"):
        model.save(path)
        digest_saved(fp, "sample.save", path)
    with fp.step("sample.load"):
        loaded = co.load(path)
        fp.add("sample.load.rank", loaded.rank(customers, now=t0))
        fp.add("sample.load.rank_policy", loaded.rank(customers, now=nows[1], policy=policy))
        fp.add("sample.load.choose", [decision_record(loaded.choose_channel(c, now=nows[1]))
                                      for c in customers["customer_id"].iloc[:60]])
        fp.add("sample.load.explain", [loaded.explain(c) for c in customers["customer_id"].iloc[:5]])
        fp.add("sample.load.posteriors", loaded.posteriors(customers["customer_id"].iloc[:20]))
        fp.add("sample.load.params", loaded.get_params() | {"contact_store": None})
        state_arrays(fp, "sample.load", loaded)
        fp.add("sample.load.unverified_rank", co.load(path, verify=False).rank(customers.iloc[:500], now=t0))
    with fp.step("sample.save_key"):
        kpath = tmp / "model-keyed"
        model.save(kpath, key=b"fingerprint-key")
        fp.add("sample.save_key.rank", co.load(kpath, key=b"fingerprint-key").rank(customers.iloc[:500], now=t0))
    with fp.step("sample.mutate"):
        m2 = co.load(path)
        ids = customers["customer_id"].tolist()
        m2.update_consent(customers)
        fp.add("sample.mutate.consent.rank_default_policy", m2.rank(customers, now=t0, policy=co.ContactPolicy()))
        fp.add("sample.mutate.consent.rank_policy", m2.rank(customers, now=nows[1], policy=policy))
        m2.update_consent(ids[0], granted=[channels[1]], revoked=[channels[0]])
        m2.update_consent(ids[1], revoked=list(channels))
        for k, c in enumerate(ids[2:14]):
            m2.record_send(c, channels[k % len(channels)], at=t0 - pd.Timedelta(minutes=37 * (k + 1)))
        fp.add("sample.mutate.sends.choose",
               [decision_record(m2.choose_channel(c, now=t0, policy=co.ContactPolicy())) for c in ids[:16]])
        fp.add("sample.mutate.sends.explain", [m2.explain(c, now=t0, policy=co.ContactPolicy()) for c in ids[:4]])
        fp.add("sample.mutate.sends.cascade", [m2.plan_cascade(c, now=t0, policy=co.ContactPolicy())
                                               for c in ids[:6]])
        fp.num("sample.mutate.forget.count", m2.forget([ids[20], ids[21], "zz-nobody"]))
        fp.add("sample.mutate.forget.rank", m2.rank(customers, now=t0, policy=policy))
        m2.save(path)
        digest_saved(fp, "sample.mutate.save", path)
        fp.add("sample.mutate.save.contact_events", contact_events(tmp / "model.contacts.sqlite"))
        m3 = co.load(path)
        fp.add("sample.mutate.reload.rank", m3.rank(customers, now=t0, policy=co.ContactPolicy()))
        # a refit from scratch over the loaded model: recorded contact state is kept, the forgotten stay out
        # (their tombstone is at the wall clock, after every row of the sample log)
        m3.fit(logs)
        fp.add("sample.mutate.refit.rank", m3.rank(customers, now=t0, policy=co.ContactPolicy()))
        state_arrays(fp, "sample.mutate.refit", m3)
        inbound = pd.DataFrame({"customer_id": ids[30:36] + ["zz-inbound"],
                                "channel": [channels[k % len(channels)] for k in range(7)],
                                "at": pd.date_range("2026-11-10", periods=7, freq="13h", tz="UTC")})
        m3.observe_inbound(inbound)
        fp.add("sample.mutate.inbound.explain", [m3.explain(c) for c in ids[30:33] + ["zz-inbound"]])
        fp.add("sample.mutate.inbound.rank", m3.rank(customers.iloc[:400], now=t0))
        m3.set_params(seed=5)
        fp.add("sample.mutate.set_params.rank", m3.rank(customers.iloc[:400], now=t0))
        clone = co.ChannelModel(**(model.get_params() | {"seed": 9}))
        fp.add("sample.mutate.clone.rank", clone.fit(early, as_of=mid).rank(customers.iloc[:400], now=t0))

    # baselines
    for name, make in (("UniformRandom", lambda: bl.UniformRandom(space, seed=1)),
                       ("FixedChannel", lambda: bl.FixedChannel(space, channel="sms", hour=18, wording="plain")),
                       ("EpsilonGreedy", lambda: bl.EpsilonGreedy(space, epsilon=0.2, seed=3)),
                       ("FlatThompson", lambda: bl.FlatThompson(space, seed=1)),
                       ("PooledThompson", lambda: bl.PooledThompson(space, seed=2, half_life=None))):
        key = f"sample.baseline.{name}"
        with fp.step(key):
            b = make().fit(logs, as_of=t0)
            fp.add(f"{key}.repr", repr(b))
            fp.add(f"{key}.rank.t0", b.rank(customers, now=t0))
            fp.add(f"{key}.rank.t1_no_propensity", b.rank(customers, now=nows[1], propensity=False))
            fp.add(f"{key}.rank.ids", b.rank(customers["customer_id"].iloc[:200].tolist() + ["zz-new"], now=nows[2]))
            fp.add(f"{key}.choose", [decision_record(b.choose_channel(c, now=nows[1]))
                                     for c in customers["customer_id"].iloc[:30]]
                   + [decision_record(b.choose_channel("zz-new", now=nows[1], tz="Asia/Tokyo"))])
            if hasattr(b, "probabilities_"):
                fp.add(f"{key}.probabilities", b.probabilities_)
            b2 = make().fit(early, as_of=mid)
            b2.partial_fit(logs, as_of=t0)
            fp.add(f"{key}.partial_fit.rank", b2.rank(customers, now=t0))

    # the log report
    with fp.step("sample.report"):
        fp.add("sample.report.channel", rep.report(logs))
        fp.add("sample.report.channel_wording", rep.report(logs, by=["channel", "wording"], level=0.8))
        fp.add("sample.report.local_hour", rep.report(logs, by="local_hour", as_of="2026-11-15",
                                                      response_window="24h"))
        fp.add("sample.report.segment_weekday", rep.report(logs.drop(columns="tz"), by=("segment", "weekday"),
                                                           prior=(0.5, 0.5), default_tz="America/Chicago"))
        fp.add("sample.report.customer_report", rep.customer_report(model, customers["customer_id"].iloc[:300],
                                                                    level=0.95, draws=300, seed=8))

    # error messages
    with fp.step("sample.errors"):
        for name, call in (("not_fitted", lambda: co.ChannelModel(space).rank(["a"], now=t0)),
                           ("capacity_channel", lambda: model.rank(customers, now=t0, capacity={"fax": 1})),
                           ("top_k_budget", lambda: model.rank(customers, now=t0, top_k=3, budget=4)),
                           ("exclude_channel", lambda: model.choose_channel("a", now=t0, exclude=["fax"])),
                           ("explain_level", lambda: model.explain("a", level=1.5)),
                           ("quiet_hours", lambda: co.ContactPolicy(quiet_hours={"sms": (21, 25)})),
                           ("cap", lambda: co.Cap(0, "1D")),
                           ("arm_space", lambda: co.ArmSpace(channels=["a", "a"])),
                           ("half_life_number", lambda: co.ChannelModel(space, half_life=90)),
                           ("load_missing", lambda: co.load(tmp / "no-such-model")),
                           ("logs_column", lambda: co.ChannelModel(space).fit(logs.drop(columns="sent_at")))):
            try:
                call()
                fp.text(f"sample.errors.{name}", "no error")
            except Exception as exc:  # noqa: BLE001
                fp.text(f"sample.errors.{name}", f"{type(exc).__name__}: {fp._clean(str(exc))}")


# -- a simulated population ----------------------------------------------------------------------------------


def simulation_section(fp: Fingerprint) -> None:
    space = co.ArmSpace(channels=["email", "sms", "push", "whatsapp", "voice"],
                        wordings=["plain", "friendly", "urgent", "short"])
    zones = ("Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
             "Asia/Kolkata", "Australia/Adelaide", "America/Sao_Paulo")
    with fp.step("sim.population"):
        pop = sim.make_population(space, 3000, seed=424242, zones=zones, n_segments=5, base_rate=(0.03, 0.3),
                                  switch_share=0.1, switch_window=("2026-03-10", "2026-04-10"), fatigue=0.05)
        fp.add("sim.population.fields", pop)
        fp.add("sim.population.repr", repr(pop))
        fp.add("sim.population.customers_table", pop.customers_table())
        fp.add("sim.population.best_arms", [pop.best_arm(d) for d in ("channel", "wording", "hour", "weekday")]
               + [pop.best_arm("channel", at="2026-04-20")])
        rows = np.arange(0, 3000, 7)
        fp.add("sim.population.response_prob",
               [pop.response_prob(rows, rows % 5, rows % 4, rows % 24, rows % 7),
                pop.response_prob(rows, rows % 5, rows % 4, rows % 24, rows % 7, at="2026-04-20",
                                  recent=rows % 3)])
    with fp.step("sim.logs"):
        logs = sim.simulate_logs(pop, sim.UniformPolicy(space, seed=5), start="2026-03-01", days=45,
                                 sends_per_day=600, seed=9)
        fp.add("sim.logs", logs)
        fp.add("sim.logs.uniform_decision_propensity",
               sim.UniformPolicy(space, seed=6, propensity="decision").rank(pop.customers_table().iloc[:500],
                                                                             now="2026-03-29 00:30"))
    as_of = pd.Timestamp("2026-04-15", tz="UTC")
    seen = sim.censor(logs, as_of)
    fp.add("sim.logs.censored", seen)
    customers = pop.customers_table()
    nows = [as_of, as_of + pd.Timedelta("3h21m"), pd.Timestamp("2026-03-28 22:10", tz="UTC"),  # EU DST 03-29 01:00
            pd.Timestamp("2026-04-04 15:50", tz="UTC")]                                    # Adelaide 04-05 (16:30 UTC)
    policy = custom_policy(space.channels)

    with fp.step("sim.A.fit"):
        ma = co.ChannelModel(space, seed=7, half_life="30D", response_window="48h").fit(seen, as_of=as_of)
    exercise(fp, "sim.A", ma, customers, nows, policy)
    with fp.step("sim.B.fit"):
        mb = co.ChannelModel(space, seed=8, half_life=None, hour_smoothing=2.0, resolve="reply",
                             default_tz="America/Denver").fit(seen.drop(columns="segment"), as_of=as_of)
    exercise(fp, "sim.B", mb, customers, nows, policy, full=False)
    with fp.step("sim.policy_model"):  # a model carrying its own policy
        mp = co.ChannelModel(space, seed=12, policy=policy).fit(seen, as_of=as_of)
        fp.add("sim.policy_model.rank", mp.rank(customers, now=nows[1]))
        fp.add("sim.policy_model.choose", [decision_record(mp.choose_channel(c, now=nows[1]))
                                           for c in customers["customer_id"].iloc[:50]])
    with fp.step("sim.extra.fit"):  # an extra dimension
        xspace = co.ArmSpace(channels=space.channels, wordings=space.wordings,
                             extra={"tone": ["warm", "neutral", "formal"]})
        xlogs = seen.copy()
        xlogs["tone"] = np.random.default_rng(3).choice(["warm", "neutral", "formal"], len(xlogs))
        mx = co.ChannelModel(xspace, seed=13).fit(xlogs, as_of=as_of)
    with fp.step("sim.extra.decide"):
        fp.add("sim.extra.rank", mx.rank(customers, now=nows[0]))
        fp.add("sim.extra.rank_policy", mx.rank(customers, now=nows[1], policy=policy, capacity={"sms": 100}))
        fp.add("sim.extra.choose", [decision_record(mx.choose_channel(c, now=nows[1]))
                                    for c in customers["customer_id"].iloc[:50]])
        fp.add("sim.extra.cascade", [mx.plan_cascade(c, now=nows[0]) for c in customers["customer_id"].iloc[:5]])
    with fp.step("sim.extra.inspect"):
        fp.add("sim.extra.explain", [mx.explain(c) for c in customers["customer_id"].iloc[:3]])
        fp.add("sim.extra.posteriors", mx.posteriors(customers["customer_id"].iloc[:20]))
    with fp.step("sim.extra.report_customers"):
        fp.add("sim.extra.report_customers", _report_customers(mx, customers["customer_id"].iloc[:100]))
    with fp.step("sim.extra.save"):
        xpath = fresh_dir(fp, "simx") / "model"
        mx.save(xpath)
        digest_saved(fp, "sim.extra.save", xpath)
        fp.add("sim.extra.load.rank", co.load(xpath).rank(customers, now=nows[0]))

    tmp = fresh_dir(fp, "sim")
    with fp.step("sim.save"):
        ma.save(tmp / "model")
        digest_saved(fp, "sim.save", tmp / "model")
        fp.add("sim.load.rank", co.load(tmp / "model").rank(customers, now=nows[1], policy=policy))

    split = pd.Timestamp("2026-03-25", tz="UTC")
    with fp.step("sim.E.fit"):
        me = co.ChannelModel(space, seed=21).fit(sim.censor(logs[logs["sent_at"] < split], split), as_of=split)
    evaluation_block(fp, "sim.E", me, logs[logs["sent_at"] >= split], ("channel",))
    with fp.step("sim.partial_fit"):
        me.partial_fit(seen, as_of=as_of)
        fp.add("sim.partial_fit.rank", me.rank(customers, now=nows[0]))
        state_arrays(fp, "sim.partial_fit", me)

    for name, make in (("FlatThompson", lambda: bl.FlatThompson(space, seed=4, half_life="20D")),
                       ("EpsilonGreedy", lambda: bl.EpsilonGreedy(space, epsilon=0.05, seed=9)),
                       ("PooledThompson", lambda: bl.PooledThompson(space, seed=5))):
        with fp.step(f"sim.baseline.{name}"):
            b = make().fit(seen, as_of=as_of)
            fp.add(f"sim.baseline.{name}.rank", b.rank(customers, now=nows[1]))
            fp.add(f"sim.baseline.{name}.choose", [decision_record(b.choose_channel(c, now=nows[2]))
                                                   for c in customers["customer_id"].iloc[:30]])

    with fp.step("sim.report"):
        fp.add("sim.report.channel_segment", rep.report(seen, by=["segment", "channel"]))
        fp.add("sim.report.weekday", rep.report(seen, by="weekday", as_of=as_of))

    # closed loop: a learning model and a baseline played against a smaller population
    small = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
    with fp.step("sim.run"):
        spop = sim.make_population(small, 600, seed=77, zones=("Europe/Paris", "America/New_York", "Asia/Tokyo"))
        res = sim.run(co.ChannelModel(small, seed=3, half_life="14D"), spop, days=6, sends_per_day=200,
                      start="2026-05-04", seed=1, explore_days=2)
        fp.add("sim.run.model.logs", res.logs)
        fp.add("sim.run.model.daily", res.daily)
        fp.add("sim.run.model.repr", repr(res))
        for k, v in res.summary().items():
            fp.num(f"sim.run.model.summary.{k}", v)
        res = sim.run(bl.FlatThompson(small, seed=2), spop, days=5, sends_per_day=150, start="2026-05-04", seed=2,
                      explore_days=1, retrain=2)
        fp.add("sim.run.flat.logs", res.logs)
        fp.add("sim.run.flat.daily", res.daily)
        for k, v in res.summary(start_day=1).items():
            fp.num(f"sim.run.flat.summary.{k}", v)
        # the run's log carries the propensity of the whole decision: evaluate on channel, wording and hour
        cut = pd.Timestamp("2026-05-06", tz="UTC")
        flat_logs = res.logs
        me = co.ChannelModel(small, seed=4).fit(sim.censor(flat_logs[flat_logs["sent_at"] < cut], cut), as_of=cut)
        evaluation_block(fp, "sim.run.eval", me, flat_logs[flat_logs["sent_at"] >= cut], ("channel", "wording", "hour"),
                         as_of="2026-05-20")


def estimators_section(fp: Fingerprint) -> None:
    """The array-level estimators on fixed arrays."""
    with fp.step("estimators"):
        rng = np.random.default_rng(2026)
        n = 5000
        reward = (rng.random(n) < 0.12).astype(float)
        lp = rng.uniform(0.1, 0.9, n)
        tp = rng.uniform(0.0, 1.0, n)
        q_logged = rng.uniform(0.05, 0.2, n)
        q_target = rng.uniform(0.05, 0.2, n)
        for clip in (None, 2.0):
            tag = "noclip" if clip is None else f"clip{clip:g}"
            fp.num(f"estimators.ips.{tag}", ev.ips(reward, lp, tp, clip=clip))
            fp.num(f"estimators.snips.{tag}", ev.snips(reward, lp, tp, clip=clip))
            fp.num(f"estimators.dr.{tag}", ev.dr(reward, lp, tp, q_logged, q_target, clip=clip))
        fp.num("estimators.ess", ev.effective_sample_size(tp / lp))
        for name, fn, arrays in (("ips", ev.ips, (reward, lp, tp)), ("snips", ev.snips, (reward, lp, tp)),
                                 ("dr", ev.dr, (reward, lp, tp, q_logged, q_target))):
            est, lo, hi = ev.bootstrap_ci(fn, *arrays, n_boot=300, level=0.9, seed=4)
            fp.num(f"estimators.bootstrap.{name}.estimate", est)
            fp.num(f"estimators.bootstrap.{name}.ci_low", lo)
            fp.num(f"estimators.bootstrap.{name}.ci_high", hi)
        fp.num("estimators.ips.small_example", ev.ips([1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1]))


# -- main ----------------------------------------------------------------------------------------------------


def fingerprint(timings: bool = False) -> tuple[dict[str, Any], list[str]]:
    _load_modules()
    fp = Fingerprint()
    start = time.perf_counter()
    fp.add("api.all", sorted(co.__all__))
    fp.add("api.version", co.__version__)
    try:
        for name, section in (("estimators", estimators_section), ("sample", sample_section),
                              ("sim", simulation_section)):
            with fp.step(f"section.{name}"):
                section(fp)
    finally:
        for d in fp.tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)
    if timings:
        for sec, name in sorted(fp.timings, reverse=True)[:25]:
            print(f"{sec:7.2f} s  {name}", file=sys.stderr)
    out = dict(sorted(fp.d.items()))
    out["_meta"] = {  # not compared
        "channelopt_file": co.__file__, "modules": {"sim": sim.__name__, "baselines": bl.__name__,
                                                    "evaluation": ev.__name__, "report": rep.__name__},
        "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
        "numba_num_threads": os.environ.get("NUMBA_NUM_THREADS"), "keys": len(out),
        "errors": len(fp.errors), "runtime_s": round(time.perf_counter() - start, 1)}
    return out, fp.errors


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['sha256']}  {value['repr']}"
    return str(value)


_HEX = re.compile(r"[0-9a-f]{64}")


def _brief(value: Any) -> str:
    """The readable part of a value, if any: a number's repr, a text, an error message."""
    if isinstance(value, dict):
        return f"  ({value['repr'][:300]})"
    if isinstance(value, str) and not _HEX.fullmatch(value):
        return f"  ({value[:300]})"
    return ""


def _report_customers(model: Any, *args: Any, **kwargs: Any) -> Any:
    """``model.report_customers(...)`` before the refactor, ``channelopt.inspect.customer_report(model, ...)`` after
    (the one spelling; both default to the model's seed)."""
    if hasattr(model, "report_customers"):
        return model.report_customers(*args, **kwargs)
    return _imp("channelopt.inspect.reports", "channelopt.report").customer_report(model, *args, **kwargs)


def compare(a_path: str, b_path: str, allow: list[str] | None = None) -> int:
    a = json.loads(Path(a_path).read_text())
    b = json.loads(Path(b_path).read_text())
    keys = sorted((set(a) | set(b)) - {"_meta"})
    bad = expected = 0
    width = max(map(len, keys), default=10)
    for k in keys:
        if k not in a:
            status = f"only in {b_path}{_brief(b[k])}"
        elif k not in b:
            status = f"only in {a_path}{_brief(a[k])}"
        elif a[k] == b[k]:
            status = "equal"
        else:
            status = "DIFFERENT"
            if _brief(a[k]) or _brief(b[k]):
                status += f"{_brief(a[k]) or '  (digest)'}  vs{_brief(b[k]) or '  (digest)'}"
        if status != "equal" and any(re.search(pat, k) for pat in allow or ()):
            status = "expected: " + status  # an intended change of API or message (see --allow)
            expected += 1
        else:
            bad += status != "equal"
        print(f"{k:<{width}}  {status}")
    for name, d in ((a_path, a), (b_path, b)):
        meta = d.get("_meta", {})
        print(f"# {name}: {meta.get('channelopt_file')}, {meta.get('runtime_s')} s, {meta.get('errors')} errors")
    print(f"# {len(keys) - bad - expected} equal, {expected} expected differences, {bad} different or missing, "
          f"of {len(keys)} keys")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the digests as JSON to this file")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two JSON files and exit")
    parser.add_argument("--allow", action="append", default=[], metavar="REGEX",
                        help="with --compare: keys matching REGEX may differ (an intended change); repeatable")
    parser.add_argument("--timings", action="store_true", help="print the slowest steps to stderr")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare, allow=args.allow)
    out, errors = fingerprint(args.timings)
    for k, v in out.items():
        if k != "_meta":
            print(f"{k}  {_show(v)}")
    print(f"# {json.dumps(out['_meta'])}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    return 2 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
