"""Shared helpers of the benchmark scripts: machine banner, timing, tables, JSON, synthetic state.

The scripts are plain programs (``python benchmarks/bench_rank.py --quick``);
they import this module from their own directory. Nothing here is part of the
library: it only uses channelopt's public API plus, for profiling breakdowns,
its internal modules.

Timing rules shared by every script: :func:`time.perf_counter`, one warm-up
call on a tiny input first (its time is reported separately as the first-call /
JIT time), then the best of ``--repeats`` (default 3) runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import channelopt as co
from channelopt.state.index import CustomerIndex
from channelopt.data.tz import LATENCY_EDGES_S
from channelopt.state import HISTORY_SLOTS, PosteriorStore

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"

#: The arm space of every benchmark: 6 channels + 8 wordings + 24 local hours = 38 arms.
CHANNELS = ("email", "sms", "push", "whatsapp", "voice", "inapp")
WORDINGS = ("plain", "friendly", "urgent", "short", "long", "emoji", "formal", "playful")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
#: Decision time used by every benchmark (a Monday morning, UTC).
NOW = pd.Timestamp("2026-11-23 09:00", tz="UTC")
PRIOR_ALPHA, PRIOR_BETA = 1.0, 15.0


def bench_space() -> co.ArmSpace:
    """The benchmark arm space (38 arms).

    Examples
    --------
    >>> bench_space().n_arms
    38
    """
    return co.ArmSpace(channels=list(CHANNELS), wordings=list(WORDINGS), hours=True, weekdays=False)


# -- machine and output ----------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _git_commit() -> str:
    """HEAD of the repository, with ``+dirty`` when src/ has uncommitted changes ("" outside git)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+dirty" if head and dirty else head


def machine_info() -> dict[str, Any]:
    """Processor, core count and library versions of this run.

    Examples
    --------
    >>> sorted(machine_info())[:3]
    ['channelopt', 'cpu_count', 'cpu_model']
    """
    import numba

    return {
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "channelopt": co.__version__,
        "git_commit": _git_commit(),
    }


def print_machine(info: dict[str, Any], title: str) -> None:
    """Print the banner every script starts with."""
    print(f"# {title}")
    print(f"# processor: {info['processor'] or '?'} ({info['cpu_model'] or info['machine']}), "
          f"cpu_count: {info['cpu_count']}, numba threads: {info['numba_threads']}")
    print(f"# python {info['python']}, numpy {info['numpy']}, numba {info['numba']}, pandas {info['pandas']}, "
          f"pyarrow {info['pyarrow']}, channelopt {info['channelopt']} ({info['git_commit'] or 'no git'}), "
          f"{info['system']}")
    sys.stdout.flush()


def base_parser(description: str) -> argparse.ArgumentParser:
    """Argument parser with the options every script shares (``--quick``, ``--repeats``, ``--json``)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test); results go to <name>.quick.json")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--json", type=Path, default=None,
                   help="where to write the tables as JSON; None means benchmarks/out/<name>[.quick].json")
    return p


def json_path(name: str, args: argparse.Namespace) -> Path:
    if args.json is not None:
        return Path(args.json)
    return OUT_DIR / (f"{name}.quick.json" if args.quick else f"{name}.json")


def write_json(path: Path, name: str, info: dict[str, Any], params: dict[str, Any],
               tables: dict[str, "Table"], notes: Sequence[str]) -> None:
    """Write the run's tables (raw numbers, not formatted) as a small JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "params": params,
        "tables": {k: t.to_dict() for k, t in tables.items()},
        "notes": list(notes),
    }
    path.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n", encoding="utf-8")
    print(f"# wrote {path}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, pd.Timestamp)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Table:
    """A plain-text table with fixed-width columns; cells keep their raw values for JSON.

    Examples
    --------
    >>> t = Table(["case", "seconds"])
    >>> t.add("numpy", 1.5)
    >>> print(t.render())
    case   seconds
    -----  -------
    numpy    1.500
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows: list[list[Any]] = []

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"Table.add: {len(values)} values for {len(self.columns)} columns")
        self.rows.append([_clean(v) for v in values])

    def render(self) -> str:
        cells = [[_fmt(v) for v in row] for row in self.rows]
        widths = [max([len(c)] + [len(r[k]) for r in cells]) for k, c in enumerate(self.columns)]
        numeric = [all(r[k] is None or isinstance(r[k], (int, float)) for r in self.rows) and k > 0
                   for k in range(len(self.columns))]

        def line(parts: Sequence[str]) -> str:
            return "  ".join(p.rjust(w) if numeric[k] else p.ljust(w)
                             for k, (p, w) in enumerate(zip(parts, widths))).rstrip()

        out = [line(self.columns), line(["-" * w for w in widths])]
        out.extend(line(r) for r in cells)
        return "\n".join(out)

    def print(self) -> None:
        print(self.render())
        sys.stdout.flush()

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [dict(zip(self.columns, r)) for r in self.rows]}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        a = abs(value)
        if a == 0:
            return "0"
        if a >= 1e9:
            return f"{value / 1e9:.2f}G"
        if a >= 1e6:
            return f"{value / 1e6:.2f}M"
        if a >= 100:
            return f"{value:,.0f}"
        if a >= 0.01:
            return f"{value:.3f}"
        return f"{value:.3g}"
    return str(value)


# -- timing ------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call, with :func:`time.perf_counter`."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best (smallest) time over ``repeats`` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(max(1, repeats)):
        result = None  # let the previous result go before the next run
        dt, result = timed(fn)
        best = min(best, dt)
    return best, result


def jit_status(*dispatchers: Any) -> str:
    """How the numba dispatchers got their code so far in this process: cache hits / compiles."""
    hits = misses = 0
    for d in dispatchers:
        stats = getattr(d, "stats", None)
        if stats is None:
            continue
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
    if hits == 0 and misses == 0:
        return "jit: no cache info"
    return f"jit: {hits} cache hit(s), {misses} compile(s)"


def progress(message: str) -> None:
    """A progress line on stderr (the table goes to stdout at the end)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


# -- synthetic data ------------------------------------------------------------------


def make_ids(n: int, prefix: str = "c-") -> pa.Array:
    """``n`` string ids ``c-0000000``, ``c-0000001``... (zero-padded, at least 7 digits)."""
    width = max(7, len(str(max(n - 1, 0))))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def make_counts(n: int, n_arms: int, rng: np.random.Generator, block: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Realistic float32 ``(sends, responses)``: sends ~ Poisson(3) per arm, responses ~ Binomial(sends, p),
    p ~ Beta(1, 15). A block of at most ``block`` customers is drawn and tiled to ``n`` rows
    (drawing 10M x 38 cells directly takes over a minute; the distribution is the same)."""
    m = max(1, min(n, block))
    s = rng.poisson(3.0, size=(m, n_arms))
    r = rng.binomial(s, rng.beta(1.0, 15.0, size=(m, n_arms)))
    sends = np.empty((n, n_arms), dtype=np.float32)
    responses = np.empty((n, n_arms), dtype=np.float32)
    for start in range(0, n, m):
        stop = min(n, start + m)
        sends[start:stop] = s[: stop - start]
        responses[start:stop] = r[: stop - start]
    return sends, responses


def make_store(space: co.ArmSpace, n: int, seed: int = 0, ids: pa.Array | None = None) -> PosteriorStore:
    """A fitted-looking :class:`PosteriorStore` of ``n`` customers built directly (no log to fit).

    Customers ``c-0000000``... are rows 0..n-1, each with a zone among :data:`ZONES`,
    and the prior is Beta(1, 15) on every arm.
    """
    rng = np.random.default_rng(seed)
    ids = make_ids(n) if ids is None else ids
    index, rows = CustomerIndex.empty().extend(pd.Series(ids.to_pandas()))
    if not np.array_equal(rows, np.arange(n)):
        raise RuntimeError("CustomerIndex.extend did not give rows 0..n-1 in id order")
    sends, responses = make_counts(n, space.n_arms, rng)
    last_sent = NOW.value - rng.integers(1, 90 * 86400, size=n, dtype=np.int64) * 1_000_000_000
    return PosteriorStore(
        space=space, index=index, sends=sends, responses=responses,
        unsubscribed=np.zeros(n, dtype=np.uint32), complained=np.zeros(n, dtype=np.uint32),
        last_complaint_min=np.full(n, np.iinfo(np.int32).min, dtype=np.int32),
        prior_alpha=np.full(space.n_arms, PRIOR_ALPHA), prior_beta=np.full(space.n_arms, PRIOR_BETA),
        last_sent_min=(-(-last_sent // 60_000_000_000)).astype(np.int32), zone=rng.integers(0, len(ZONES), size=n).astype(np.uint16), zones=ZONES,
        consent=np.full(n, (1 << len(space.channels)) - 1, dtype=np.uint32),
        history_min=_history(last_sent, rng), history_channel=rng.integers(0, len(space.channels),
                                                                          size=(n, HISTORY_SLOTS)).astype(np.int8),
        latency=np.zeros((len(space.channels), LATENCY_EDGES_S.size)),
        watermark_ns=int((NOW - pd.Timedelta(hours=9)).value), counts={},
    )


def _history(last_sent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Send history in minutes: the last send plus 0-7 earlier ones a few days apart (empty slots = int32 min)."""
    n = last_sent.shape[0]
    gaps = rng.integers(1, 5 * 24 * 60, size=(n, HISTORY_SLOTS)).cumsum(axis=1) - rng.integers(1, 60, size=(n, 1))
    hist = (last_sent // 60_000_000_000)[:, None] - gaps
    keep = rng.integers(1, HISTORY_SLOTS + 1, size=n)
    hist[np.arange(HISTORY_SLOTS)[None, :] >= keep[:, None]] = np.iinfo(np.int32).min
    return hist.astype(np.int32)


def make_model(space: co.ArmSpace, store: PosteriorStore, **kwargs: Any) -> co.ChannelModel:
    """A :class:`ChannelModel` whose state is ``store`` (seed 7 unless given)."""
    kwargs.setdefault("seed", 7)
    model = co.ChannelModel(space, **kwargs)
    model.state_ = store
    model.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC")
    return model
