"""State size and model opening: bytes per customer, ``channelopt.load`` time, first decision after load.

A model of ``--n`` customers (default 10,000,000) over the 38-arm benchmark space is
built directly, measured (``nbytes`` of every array of the store / N), saved to a
temporary directory under /tmp (on-disk size / N) and opened again with
``channelopt.load(path, verify=True)`` and ``verify=False`` (best of ``--repeats``;
the files are in the page cache, having just been written). After each open, one
``choose_channel`` is timed: the first touch of the memory-mapped arrays.

Baselines, same run: the same posteriors as a pandas DataFrame a data scientist
would keep (float64 alpha and beta per arm, string customer id index; measured on
``min(N, 100,000)`` customers), and reading every array eagerly with ``np.load``
(no memory map). The temporary directory is deleted at the end.

Run: ``python benchmarks/bench_memory.py [--quick] [--n 10000000]``.
"""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import _common as C
from channelopt.kernels import decide as D
from channelopt import kernels as K
from channelopt.state.persist import version_directory

NAME = "bench_memory"


def pandas_state_bytes(store, n_sample: int) -> float:
    """Bytes per customer of a wide float64 (alpha, beta) DataFrame indexed by the string id."""
    alpha = store.prior_alpha + store.responses[:n_sample]
    beta = store.prior_beta + np.maximum(store.sends[:n_sample] - store.responses[:n_sample], 0)
    arms = [f"{d}:{lab}" for d in store.space.dimensions for lab in store.space.labels(d)]
    frame = pd.DataFrame(np.hstack([alpha, beta]), columns=[f"alpha {a}" for a in arms] + [f"beta {a}" for a in arms],
                         index=pd.Index(store.index.ids()[:n_sample], name="customer_id"))
    return frame.memory_usage(index=True, deep=True).sum() / n_sample


def eager_load(path: Path) -> int:
    """Read every array of a saved model into memory (no memory map): the baseline."""
    total = 0
    for f in sorted(version_directory(path).glob("*.npy")):
        total += np.load(f, allow_pickle=False).nbytes
    return total


def main(argv: list[str] | None = None) -> int:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000, help="customers in the saved model")
    args = p.parse_args(argv)
    n = 10_000 if args.quick else args.n
    space = C.bench_space()
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: state of {n:,} customers x {space.n_arms} arms")
    tmp = Path(tempfile.mkdtemp(prefix="channelopt-bench-memory-", dir="/tmp"))
    try:
        # warm-up on a tiny model: JIT compile (or cache load) of the decision and lookup kernels
        tiny = C.make_model(space, C.make_store(space, 50, seed=args.seed + 1))
        tiny.save(tmp / "tiny")
        t_first, _ = C.timed(lambda: C.co.load(tmp / "tiny").choose_channel("c-0000003", now=C.NOW))
        jit = C.jit_status(D.decide_one, K.lookup_one, K.hash_bytes)

        t_build, store = C.timed(lambda: C.make_store(space, n, seed=args.seed))
        model = C.make_model(space, store)
        arrays = store.arrays()
        mem_total = sum(a.nbytes for a in arrays.values())
        breakdown = C.Table(["array", "dtype", "shape", "bytes/customer"])
        for name, a in sorted(arrays.items(), key=lambda kv: -kv[1].nbytes):
            breakdown.add(name, str(a.dtype), "x".join(map(str, a.shape)), a.nbytes / n)
        breakdown.add("total", "", "", mem_total / n)
        n_sample = min(n, 100_000)
        pd_bytes = pandas_state_bytes(store, n_sample)

        path = tmp / "model"
        t_save, _ = C.timed(lambda: model.save(path))
        C.progress(f"state of {n:,} customers built in {t_build:.1f} s, saved in {t_save:.1f} s")
        disk = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        probe = str(store.index.ids()[n // 2])
        del model, store, arrays
        gc.collect()

        def open_and_touch(verify: bool) -> tuple[float, float]:
            t_load, loaded = C.timed(lambda: C.co.load(path, verify=verify))
            t_touch, d = C.timed(lambda: loaded.choose_channel(probe, now=C.NOW))
            assert d.channel is not None
            return t_load, t_touch

        results = {}
        for verify in (False, True):
            runs = [open_and_touch(verify) for _ in range(max(1, args.repeats))]
            results[verify] = (min(r[0] for r in runs), min(r[1] for r in runs))
            C.progress(f"load verify={verify}: {results[verify][0]:.3f} s")
        t_eager, eager_bytes = C.best_of(lambda: eager_load(path), args.repeats)
        assert eager_bytes > 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    table = C.Table(["case", "customers", "value", "unit", "vs baseline"])
    table.add(f"pandas float64 alpha+beta, str index (baseline, {n_sample:,})", n_sample, pd_bytes,
              "B/customer", 1.0)
    table.add("state in memory (sum of nbytes)", n, mem_total / n, "B/customer", C.ratio(pd_bytes, mem_total / n))
    table.add("state on disk (.npy files + manifest)", n, disk / n, "B/customer", C.ratio(pd_bytes, disk / n))
    table.add("save (atomic, checksummed, fsync)", n, t_save, "s", None)
    table.add("eager np.load of every array (baseline)", n, t_eager, "s", 1.0)
    table.add("channelopt.load verify=False", n, results[False][0], "s", C.ratio(t_eager, results[False][0]))
    table.add("channelopt.load verify=True", n, results[True][0], "s", C.ratio(t_eager, results[True][0]))
    table.add("first choose_channel after load(verify=False)", n, results[False][1] * 1e6, "us", None)
    table.add("first choose_channel after load(verify=True)", n, results[True][1] * 1e6, "us", None)
    table.add("first call, tiny model (JIT/cache)", 50, t_first, "s", None)
    print()
    table.print()
    print()
    breakdown.print()
    print()
    notes = [f"vs baseline: baseline / channelopt (higher is better); times are the best of {args.repeats}, "
             "with the files in the page cache (just written)",
             f"state built in {t_build:.1f} s (not timed); first call: {jit}"]
    for line in notes:
        print(f"# {line}")
    C.write_json(C.json_path(NAME, args), NAME, info, {"n": n, "n_arms": space.n_arms, "repeats": args.repeats},
                 {"memory": table, "arrays": breakdown}, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
