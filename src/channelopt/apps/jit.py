"""Compile every numba kernel into the on-disk cache ahead of time, in parallel processes.

The kernels are compiled with ``cache=True``: the first process that uses one
compiles it (seconds to a minute for the batch decision kernel) and writes it
next to the source, and every later process loads it in milliseconds. A
service that must answer its first ``choose_channel`` in microseconds, a
container image, or a CI job that starts from a clean checkout can pay that
once, up front, and on several cores: :func:`warm_up` runs small end-to-end
workloads, one group of kernels per process, so independent kernels compile at
the same time. Command line: ``python -m channelopt.apps.jit [--jobs N]``.

Nothing here changes a result; a kernel used with other argument types later
still compiles on first use.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from typing import Callable, Sequence

from channelopt.core.arms import ArmSpace
from channelopt.evaluation import evaluate
from channelopt.inspect.reports import customer_report
from channelopt.policy.baselines import EpsilonGreedy, FlatThompson, PooledThompson
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.model import ChannelModel
from channelopt.sim import UniformPolicy, make_population, simulate_logs

__all__ = ["warm_up", "PARTS"]


def _space():
    return ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])


def _logs(space, customers: int = 200, days: int = 4):
    pop = make_population(space, customers, seed=0, zones=("UTC", "Europe/Paris"))
    logs = simulate_logs(pop, UniformPolicy(space, seed=0, propensity="decision"), start="2026-03-02", days=days,
                         sends_per_day=customers // 2, seed=0)
    return pop, logs


def _model(space, logs):
    return ChannelModel(space, seed=0).fit(logs, as_of="2026-03-07")


def _part_rank() -> None:
    """Batch decisions: the parallel decision kernel, with and without propensities and rules."""
    space = _space()
    pop, logs = _logs(space)
    model = _model(space, logs)
    table = pop.customers_table()
    model.rank(table, now="2026-03-08 09:00")
    model.rank(table, now="2026-03-08 09:00", propensity=False, top_k=10)
    model.rank(table, now="2026-03-08 09:00", policy=ContactPolicy(), value=1.0)


def _part_single() -> None:
    """One customer at a time: choose_channel, cascades, explain, record_send."""
    space = _space()
    _, logs = _logs(space)
    model = _model(space, logs)
    cid = str(logs["customer_id"].iloc[0])
    now = "2026-03-08 09:00"
    model.choose_channel(cid, now=now)
    model.choose_channel(cid, now=now, propensity=False)
    model.choose_channel("someone-new", now=now, policy=ContactPolicy(), consent=["email"])
    model.plan_cascade(cid, now=now, max_steps=2)
    model.record_send(cid, "email", at=now)
    model.explain(cid)


def _part_evaluation() -> None:
    """Exact win probabilities (evaluation, baselines) and the per-customer report."""
    space = _space()
    pop, logs = _logs(space)
    model = _model(space, logs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate(logs, model)
    customer_report(model)
    for policy in (PooledThompson(space, seed=0), FlatThompson(space, seed=0), EpsilonGreedy(space, seed=0)):
        policy.fit(logs, as_of="2026-03-07")
        policy.rank(pop.customers_table().head(20), now="2026-03-08")


#: Groups of kernels, one process each, largest first.
PARTS: dict[str, Callable[[], None]] = {"rank": _part_rank, "evaluation": _part_evaluation, "single": _part_single}


def warm_up(jobs: int | None = None, parts: Sequence[str] | None = None, *, quiet: bool = True) -> dict[str, float]:
    """Compile the kernels of ``parts`` (default: all) into numba's cache, ``jobs`` processes at a time.

    Parameters
    ----------
    jobs : int, optional
        Processes at once (default: the number of CPUs).
    parts : sequence of str, optional
        Names from :data:`PARTS`.
    quiet : bool, default True
        Hide the workers' output (shown on failure).

    Returns
    -------
    dict
        Seconds each part took (loading from a warm cache: about the import time).

    Raises
    ------
    RuntimeError
        When a part fails (with its output).

    Examples
    --------
    >>> sorted(warm_up(jobs=2, parts=["single"]))  # doctest: +SKIP
    ['single']
    """
    names = list(PARTS) if parts is None else list(parts)
    unknown = [p for p in names if p not in PARTS]
    if unknown:
        raise ValueError(f"parts: unknown part {unknown[0]!r} (known: {', '.join(PARTS)})")
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    pending = list(names)
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    took: dict[str, float] = {}
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            proc = subprocess.Popen([sys.executable, "-m", "channelopt.apps.jit", "--part", name],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            running[name] = (proc, time.perf_counter())
        for name, (proc, start) in list(running.items()):
            if proc.poll() is None:
                continue
            out = proc.stdout.read() if proc.stdout else ""
            del running[name]
            took[name] = time.perf_counter() - start
            if proc.returncode != 0:
                for other, _ in running.values():
                    other.kill()
                raise RuntimeError(f"jit warm-up part {name!r} failed (exit {proc.returncode}):\n{out}")
            if not quiet and out:
                print(out, end="")
        time.sleep(0.05)
    return took


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m channelopt.apps.jit [--jobs N] [--part NAME]``."""
    parser = argparse.ArgumentParser(prog="python -m channelopt.apps.jit",
                                     description="Compile channelopt's numba kernels into the on-disk cache.")
    parser.add_argument("--jobs", type=int, default=None, help="processes at once (default: CPU count)")
    parser.add_argument("--part", choices=list(PARTS), default=None, help="run one part in this process")
    args = parser.parse_args(argv)
    if args.part:
        PARTS[args.part]()
        return 0
    took = warm_up(args.jobs, quiet=False)
    print("compiled: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
