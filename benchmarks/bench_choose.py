"""Single decisions: ``choose_channel`` latency (p50 / p99, microseconds), 1 and 4 threads.

A model of ``--customers`` (default 100,000) customers over the 38-arm benchmark
space is built directly; ``--calls`` (default 100,000) decisions for random known
customer ids at a fixed ``now`` are timed one by one with ``time.perf_counter_ns``
inside each call, on one thread and split over 4 threads (ThreadPoolExecutor), for
the default ``propensity_draws`` and for ``propensity_draws=1``.

Baseline, same run: what one writes without channelopt: a dict id -> row, the
row's posterior, ``rng.beta`` over its 38 arms and an argmax per dimension, plus
the propensity as M Monte Carlo rounds over the 6 channels (M matched).
The best (lowest p50) of ``--repeats`` runs is reported.

A second table, ``scenarios`` (one thread), compares in the same run the fast
path of ``choose_channel`` (:mod:`channelopt.policy.fast`, ``--scenario-calls``
calls) with the general path it replaces (``ChannelModel._choose`` with the fast
path switched off, ``--general-calls`` calls), with and without the propensity,
for: no policy; the default ``ContactPolicy()`` (consent recorded for every
channel, sends in the last 90 days); ``tz="Europe/Paris"``; ``exclude=["sms"]``.
Both paths give the same Decision (tests/test_choose_fast.py).

Run: ``python benchmarks/bench_choose.py [--quick] [--calls 100000] [--scenario-calls 20000]``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np

import _common as C
import channelopt as co
import channelopt.policy.rank as model_module  # where ChannelModel._choose calls choose_fast
from channelopt.kernels import decide as D
from channelopt import kernels as K
from channelopt.policy import fast as _single
from channelopt.policy.slots import slot_tables

NAME = "bench_choose"


def latencies(call: Callable[[str, object], object], ids: list[str], threads: int, state_of: Callable[[], object]) -> tuple[np.ndarray, float]:
    """Per-call latencies (ns) of ``call(id, state)`` over ``ids``, split over ``threads``; and wall time."""
    parts = [ids[k::threads] for k in range(threads)]

    def work(part: list[str]) -> np.ndarray:
        state = state_of()
        out = np.empty(len(part), dtype=np.int64)
        clock = time.perf_counter_ns
        for i, cid in enumerate(part):
            t0 = clock()
            call(cid, state)
            out[i] = clock() - t0
        return out

    t0 = time.perf_counter()
    if threads == 1:
        lat = [work(parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            lat = list(pool.map(work, parts))
    wall = time.perf_counter() - t0
    return np.concatenate(lat), wall


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    """Switch the fast path of choose_channel off (where model.py calls it): the general path runs."""
    saved = model_module.__dict__.get("choose_fast")
    model_module.choose_fast = lambda *a, **k: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if saved is None:
            del model_module.choose_fast
        else:
            model_module.choose_fast = saved  # type: ignore[attr-defined]


#: (label, model keyword arguments, call keyword arguments) of the scenarios table
SCENARIOS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("no policy", {}, {}),
    ("ContactPolicy(), consent recorded", {"policy": co.ContactPolicy()}, {}),
    ("tz='Europe/Paris'", {}, {"tz": "Europe/Paris"}),
    ("exclude=['sms']", {}, {"exclude": ["sms"]}),
]


def scenarios(store: Any, space: Any, ids: list[str], fast_calls: int, general_calls: int,
              repeats: int) -> "C.Table":
    """p50 / p99 of the general and the fast path per scenario, with and without the propensity."""
    table = C.Table(["case", "propensity", "path", "calls", "p50 (us)", "p99 (us)", "mean (us)",
                     "p50 speedup vs general"])
    for label, model_kw, call_kw in SCENARIOS:
        model = C.make_model(space, store, **model_kw)
        for prop in (False, True):
            general_p50 = None
            for path in ("general", "fast"):
                if path == "general":
                    def call(cid: str, _s: object, model: Any = model, prop: bool = prop) -> object:
                        return model._choose(cid, C.NOW, propensity=prop, **call_kw)
                    k = general_calls
                else:
                    def call(cid: str, _s: object, model: Any = model, prop: bool = prop) -> object:
                        return _single.choose_fast(model, cid, C.NOW, propensity=prop, **call_kw)
                    k = fast_calls if not prop else general_calls  # the propensity costs ~0.7 ms a call
                part = ids[:k]
                with general_path() if path == "general" else contextlib.nullcontext():
                    latencies(call, part[:100], 1, lambda: None)
                    best = None
                    for _ in range(max(1, repeats)):
                        lat, _wall = latencies(call, part, 1, lambda: None)
                        p50, p99 = np.percentile(lat, [50, 99]) / 1e3
                        if best is None or p50 < best[0]:
                            best = (p50, p99, lat.mean() / 1e3)
                p50, p99, mean = best
                if path == "general":
                    general_p50 = p50
                C.progress(f"{label}, propensity={prop}, {path} path: p50 {p50:.1f} us, p99 {p99:.1f} us")
                table.add(label, prop, path, len(part), p50, p99, mean,
                          C.ratio(general_p50, p50) if path == "fast" else None)
    return table


class NumpyChooser:
    """The baseline: dict lookup, posterior row, ``rng.beta``, argmax per dimension, MC propensity."""

    def __init__(self, store, m: int) -> None:
        self.row = {cid: i for i, cid in enumerate(store.index.ids().tolist())}
        self.sends, self.responses = store.sends, store.responses
        self.pa, self.pb = store.prior_alpha, store.prior_beta
        self.bounds = list(zip(store.space.offsets[:-1].tolist(), store.space.offsets[1:].tolist()))
        self.n_ch = len(store.space.channels)
        self.m = m

    def __call__(self, cid: str, rng: np.random.Generator) -> tuple:
        r = self.row.get(cid, -1)
        if r >= 0:
            k = self.responses[r].astype(np.float64)
            a = self.pa + k
            b = self.pb + np.maximum(self.sends[r] - k, 0.0)
        else:
            a, b = self.pa, self.pb
        draws = rng.beta(a, b)
        choice = [int(draws[lo:hi].argmax()) for lo, hi in self.bounds]
        mc = rng.beta(a[: self.n_ch], b[: self.n_ch], size=(self.m, self.n_ch)).argmax(axis=1)
        prop = (np.count_nonzero(mc == choice[0]) + 1) / (self.m + 1)
        return choice, float(draws[choice[0]]), prop


def main(argv: list[str] | None = None) -> int:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers in the model")
    p.add_argument("--calls", type=int, default=100_000, help="decisions per measurement")
    p.add_argument("--threads", type=int, default=4, help="thread count of the multi-threaded runs")
    p.add_argument("--scenario-calls", type=int, default=20_000, help="fast-path calls per scenario")
    p.add_argument("--general-calls", type=int, default=2_000,
                   help="general-path calls per scenario (and fast-path calls with the propensity)")
    p.add_argument("--no-scenarios", action="store_true", help="skip the scenarios table")
    args = p.parse_args(argv)
    n = 2_000 if args.quick else args.customers
    calls = 1_000 if args.quick else args.calls
    space = C.bench_space()
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: choose_channel latency, {calls:,} calls on {n:,} customers x {space.n_arms} arms")

    # warm-up on a tiny model: the first call pays the JIT compile (or the cache load)
    tiny = C.make_model(space, C.make_store(space, 50, seed=args.seed + 1))
    t_first, _ = C.timed(lambda: tiny.choose_channel("c-0000003", now=C.NOW))
    jit = C.jit_status(D.decide_one, K.lookup_one, K.hash_bytes, _single._decide, _single._locate)

    store = C.make_store(space, n, seed=args.seed)
    default = C.make_model(space, store)
    m_default = default.config.propensity_draws
    one = C.make_model(space, store, propensity_draws=1)
    rng = np.random.default_rng(args.seed)
    all_ids = store.index.ids()
    ids = all_ids[rng.integers(0, n, size=calls)].tolist()
    warm = ids[: min(100, calls)]

    table = C.Table(["case", "threads", "p50 (us)", "p99 (us)", "mean (us)", "calls/s", "p50 speedup vs numpy"])
    baseline_p50: dict[tuple[int, int], float] = {}
    cases = []
    for m in (m_default, 1):
        chooser = NumpyChooser(store, m)
        cases.append((f"numpy dict + rng.beta, M={m}", m, chooser,
                      lambda: np.random.default_rng(args.seed), True))
    for m, model in ((m_default, default), (1, one)):
        cases.append((f"choose_channel, propensity_draws={m}", m, lambda cid, _s, model=model:
                      model.choose_channel(cid, now=C.NOW), lambda: None, False))
    for label, m, call, state_of, is_base in cases:
        for threads in (1, args.threads):
            latencies(call, warm, 1, state_of)  # warm caches and code paths
            best = None
            for _ in range(max(1, args.repeats)):
                lat, wall = latencies(call, ids, threads, state_of)
                p50, p99 = np.percentile(lat, [50, 99]) / 1e3
                if best is None or p50 < best[0]:
                    best = (p50, p99, lat.mean() / 1e3, calls / wall)
            p50, p99, mean, rate = best
            C.progress(f"{label}, {threads} thread(s): p50 {p50:.1f} us, p99 {p99:.1f} us")
            if is_base:
                baseline_p50[(m, threads)] = p50
            table.add(label, threads, p50, p99, mean, rate, C.ratio(baseline_p50.get((m, threads), np.nan), p50))
    table.add("first call, tiny model (JIT/cache)", 1, t_first * 1e6, None, None, None, None)

    # where the time goes: the numba kernel alone vs the Python around it
    st = default.state_
    row, h = st.index.locate(ids[0])
    n_dims = space.offsets.shape[0] - 1
    choice, draws = np.empty(n_dims, dtype=np.int64), np.empty(space.n_arms)
    n_ch = len(space.channels)
    now = C.NOW.value
    deadline = now + 24 * 3600 * 10**9
    earliest = np.full(n_ch, now, dtype=np.int64)
    s_start, s_end, s_hour, s_wd, n_slots = slot_tables(now, deadline, [default.config.default_tz])
    quiet, cost = np.zeros(n_ch, np.int64), np.zeros(n_ch)
    dims = space.dimensions
    hour_dim = dims.index("hour") if "hour" in dims else -1
    wd_dim = dims.index("weekday") if "weekday" in dims else -1
    notes = []
    lat, _ = latencies(lambda cid, _s: st.index.locate(cid), ids, 1, lambda: None)
    p50, p99 = np.percentile(lat, [50, 99]) / 1e3
    table.add("  of which: id lookup (index.locate)", 1, p50, p99, lat.mean() / 1e3, None, None)
    try:
        for m in (m_default, 1):
            def kern(cid: str, _s: object, m: int = m) -> None:
                r, hh = st.index.locate(cid)
                D.decide_one(r, hh, st.sends, st.responses, st.prior_alpha, st.prior_beta, space.offsets, earliest,
                             s_start[0], s_end[0], s_hour[0], s_wd[0], int(n_slots[0]), deadline, quiet, np.nan,
                             cost, False, hour_dim, wd_dim, default._smooth, np.uint64(7),
                             np.uint64(now // 1_000_000_000), m, choice, draws)
            latencies(kern, warm, 1, lambda: None)
            lat, _ = latencies(kern, ids, 1, lambda: None)
            p50, p99 = np.percentile(lat, [50, 99]) / 1e3
            table.add(f"  of which: id lookup + kernel, M={m}", 1, p50, p99, lat.mean() / 1e3, None, None)
    except Exception as exc:  # internal signature changed: report, do not fail
        notes.append(f"kernel-only rows skipped: {type(exc).__name__}: {exc}")

    tables = {"choose": table}
    if not args.no_scenarios:
        f_calls = 500 if args.quick else args.scenario_calls
        g_calls = 200 if args.quick else args.general_calls
        tables["scenarios"] = scenarios(store, space, ids[:max(f_calls, g_calls)], f_calls, g_calls, args.repeats)
        notes.append("scenarios: one thread; general path = ChannelModel._choose with the fast path switched off; "
                     "fast path = channelopt.policy.fast.choose_fast (what choose_channel runs); same Decisions")

    print()
    table.print()
    if "scenarios" in tables:
        print()
        tables["scenarios"].print()
    print()
    notes += [f"latency = time.perf_counter_ns around each call, inside the worker thread; best p50 of "
              f"{args.repeats} runs; calls/s = calls / wall time of the run",
              f"{args.threads} threads on {info['cpu_count']} cores share the GIL: their latency includes waiting for it",
              f"first call: {jit}"]
    for line in notes:
        print(f"# {line}")
    C.write_json(C.json_path(NAME, args), NAME, info,
                 {"customers": n, "calls": calls, "threads": args.threads, "repeats": args.repeats,
                  "propensity_draws_default": m_default, "now": str(C.NOW)}, tables, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
