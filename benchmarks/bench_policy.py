"""Policy benchmark: ChannelModel against its peers (Vowpal Wabbit, MABWiser) and the baselines, per scenario.

Every scenario of ``channelopt.sim.SCENARIOS`` (``--scenarios`` picks some:
stationary, habit_change, new_customers, seasonal, sparse, dense, fatigue; see
``channelopt.sim.scenarios``) draws a population of ``--customers`` customers
(default 1,000, five time zones, 6 channels x 8 wordings x 24 local hours, no
weekday arms) and plays it for ``--days`` days (default 60) with
``channelopt.sim.run``: each day the scenario's share of the customers present
(all of them, by default: one message a customer a day) get a message; day 0
is played by the same uniform explorer for every policy, then each policy is
retrained every day on the log as known at that time and asked to ``rank`` the
day's customers. Within a scenario every policy meets the same customers and
the same random numbers (common random numbers). Unsubscriptions are final.

Policies (fresh for every scenario, all seeded with ``--seed``):

* ``ChannelModel`` -- channelopt with default settings; ``--variant NAME=JSON``
  (repeatable) adds a row ``NAME`` built as ``ChannelModel(space, seed=SEED, **JSON)``
  (e.g. ``--variant 'hl30={"half_life": "30D"}'``);
* ``VW squarecb`` and ``MABWiser TS`` -- the peers (``benchmarks/_peers.py``;
  ``pip install -r benchmarks/requirements.txt``; without them a note is printed
  and the rest runs);
* the baselines of ``channelopt.policy.baselines``: PooledThompson, FlatThompson,
  EpsilonGreedy(0.1), FixedChannel(email, 10:00), UniformRandom.

Printed: the % of the oracle (expected replies of the sends / the oracle's, summed
over the whole run, explore day included) per scenario x policy, the same over
the last ``--last`` days (default 30), and per scenario the ratio ChannelModel /
VW and ChannelModel against the best other policy (peers and baselines); a
per-run table (response and unsubscribe rates, seconds). The oracle knows the
truth and picks, per message, the best channel not unsubscribed, wording and
send hour in the next 24 h (see ``channelopt.sim.run``). A figure per scenario
(% of oracle, 7-day mean, and cumulative regret minus UniformRandom's, per day)
goes to ``benchmarks/out/policy_regret_<scenario>.png``, the tables to
``benchmarks/out/bench_policy.json``.

``--matured`` makes every policy learn only from sends whose response window
has passed (see :class:`Matured`).

Run: ``python benchmarks/bench_policy.py [--quick] [--scenarios stationary,sparse] [--seed 0]``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import _common as C
import _peers as P
import channelopt as co
from channelopt.policy import baselines as B
from channelopt.sim import SCENARIOS, run

NAME = "bench_policy"
CHANNELS = ("email", "sms", "push", "whatsapp", "voice", "in_app")
WORDINGS = ("plain", "friendly", "urgent", "short", "long", "emoji", "formal", "playful")
START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday; decisions at 00:00 UTC every day
MODEL = "ChannelModel"
VW, MABWISER = "VW squarecb", "MABWiser TS"


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME=JSON`` -> ``(NAME, dict)``; a ValueError explains a malformed one.

    Examples
    --------
    >>> parse_variant('hl30={"half_life": "30D"}')
    ('hl30', {'half_life': '30D'})
    """
    name, sep, body = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--variant: expected NAME=JSON, got {text!r}")
    try:
        kwargs = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--variant {name}: not JSON ({exc}): {body!r}") from None
    if not isinstance(kwargs, dict):
        raise ValueError(f"--variant {name}: expected a JSON object of ChannelModel parameters, got {body!r}")
    return name, kwargs


def full_log(kwargs: dict[str, Any]) -> bool:
    """True for ChannelModel parameters with which a fit reads more of the log than the sends it counts:
    ``exploration="auto"`` evaluates candidate explorations on the log it is given, so trimming the log
    (``--log-window``) would change its choice; such a variant gets the whole log every day.

    Examples
    --------
    >>> full_log({"exploration": "auto"}), full_log({"half_life": "30D"})
    (True, False)
    """
    return kwargs.get("exploration") == "auto"


def policies(space: co.ArmSpace, seed: int, variants: dict[str, dict[str, Any]],
             peers: bool) -> dict[str, Callable[[], object]]:
    """Factories of fresh policies (they are trained in place), each seeded with ``seed``, in table order."""
    out: dict[str, Callable[[], object]] = {MODEL: lambda: co.ChannelModel(space, seed=seed)}
    for name, kwargs in variants.items():
        out[name] = lambda kw=kwargs: co.ChannelModel(space, **{"seed": seed, **kw})
    if peers:
        out[VW] = lambda: P.VWSquareCB(space, seed=seed)
        out[MABWISER] = lambda: P.MABWiserThompson(space, seed=seed)
    out.update({
        "PooledThompson": lambda: B.PooledThompson(space, seed=seed),
        "FlatThompson": lambda: B.FlatThompson(space, seed=seed),
        "EpsilonGreedy(0.1)": lambda: B.EpsilonGreedy(space, epsilon=0.1, seed=seed),
        "FixedChannel(email, 10:00)": lambda: B.FixedChannel(space, channel="email", hour=10),
        "UniformRandom": lambda: B.UniformRandom(space, seed=seed),
    })
    return out


class Matured:
    """Wrap a policy so it learns only from sends whose response window has passed (``--matured``).

    Fed only matured sends, every send is counted at the same age whatever its
    outcome. Late rows are not counted by ``partial_fit`` (the watermark rule),
    so each day is a full ``fit``.
    """

    def __init__(self, policy: object, window: str = "72h") -> None:
        self.policy = policy
        self.window = pd.Timedelta(window)

    def __repr__(self) -> str:
        return f"Matured({self.policy!r})"

    def fit(self, logs: pd.DataFrame, as_of: pd.Timestamp) -> None:
        ripe = logs[logs["sent_at"] <= as_of - self.window]
        if len(ripe):
            self.policy.fit(ripe, as_of=as_of)
        else:  # nothing has matured yet: every row is pending at its first send time, so nothing is counted
            self.policy.fit(logs, as_of=logs["sent_at"].min())

    partial_fit = fit

    def rank(self, customers: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
        return self.policy.rank(customers, now)


def save_figure(results: dict[str, "co.sim.SimulationResult"], path: Path, title: str) -> None:
    """% of oracle (7-day rolling mean of expected replies / oracle's) and cumulative regret per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    # every curve of the regret panel minus the uniform policy's (all regrets grow almost alike otherwise)
    ref = results["UniformRandom"].daily["cumulative_regret"] if "UniformRandom" in results else 0.0
    for name, res in results.items():
        d = res.daily
        roll = 100 * d["expected_responses"].rolling(7, min_periods=1).sum() / \
            d["oracle_responses"].rolling(7, min_periods=1).sum()
        lw = 2.5 if name == MODEL else 1.8 if name in (VW, MABWISER) else 1.1
        ax1.plot(d["day"], roll, label=name, lw=lw)
        ax2.plot(d["day"], d["cumulative_regret"] - ref, label=name, lw=lw)
    ax1.set(xlabel="day", ylabel="% of oracle (expected replies, 7-day mean)", title="% of oracle")
    ax2.set(xlabel="day", ylabel="expected replies lost to the oracle",
            title="cumulative regret" + (" minus UniformRandom's" if "UniformRandom" in results else "")
            + " (lower is better)")
    ax1.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"# wrote {path}")


def _parser() -> Any:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated scenarios (of {', '.join(SCENARIOS)})")
    p.add_argument("--customers", type=int, default=1_000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--sends-per-day", type=int, default=None,
                   help="messages a day (default: the scenario's share of the customers, all for most)")
    p.add_argument("--last", type=int, default=30, help="the 'last days' window of the second table")
    p.add_argument("--explore-days", type=int, default=1)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                   help="extra ChannelModel row NAME built with ChannelModel(space, seed=SEED, **JSON); repeatable")
    p.add_argument("--log-window", default="7D",
                   help="each day's partial_fit gets only the sends of the days reaching into this window before the "
                        "previous training (run(log_window=)); identical results for any response window up to it, "
                        "without re-reading the whole log every day; 'none' = the whole log")
    p.add_argument("--only", default=None, help="comma-separated policy names to run (default: all)")
    p.add_argument("--no-peers", action="store_true", help="skip VW and MABWiser even if installed")
    p.add_argument("--matured", action="store_true",
                   help="every policy learns only from sends whose 72 h response window has passed (full fit "
                        "each day)")
    p.add_argument("--figure-dir", type=Path, default=None,
                   help="where the figures go; default: beside --json, else benchmarks/out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.customers, args.days, args.last = 150, 6, 3
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown or not names:
        print(f"error: unknown scenario {unknown[0] if unknown else '(none)'!r}; known: {', '.join(SCENARIOS)}",
              file=sys.stderr)
        return 2
    try:
        variants = dict(parse_variant(v) for v in args.variant)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n, days, seed, last = args.customers, args.days, args.seed, min(args.last, args.days)
    space = co.ArmSpace(channels=list(CHANNELS), wordings=list(WORDINGS), hours=True, weekdays=False)
    log_window = None if args.matured or str(args.log_window).lower() == "none" else pd.Timedelta(args.log_window)
    for vname, kwargs in variants.items():  # fail now, not after an hour of simulation
        try:
            model = co.ChannelModel(space, **{"seed": seed, **kwargs})
        except (TypeError, ValueError) as exc:
            print(f"error: --variant {vname}: {exc}", file=sys.stderr)
            return 2
        window = pd.Timedelta(model.config.response_window)
        if log_window is not None and full_log(kwargs):
            print(f"# note: --variant {vname} gets the whole log every day (exploration='auto' evaluates on it)")
        elif log_window is not None and window > log_window:
            print(f"error: --variant {vname}: response window {window} is longer than --log-window {log_window} "
                  f"(pass a longer --log-window)", file=sys.stderr)
            return 2
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: {len(names)} scenario(s) x {n:,} customers x {days} days, "
                          f"{len(CHANNELS)} channels x {len(WORDINGS)} wordings x 24 local hours")
    absent = P.missing()
    peers = not args.no_peers and not absent
    if absent and not args.no_peers:
        print(f"# note: peers not installed ({', '.join(absent)}): running without VW and MABWiser "
              f"(pip install -r benchmarks/requirements.txt)")
    elif peers:
        import importlib.metadata as md

        print("# peers: " + ", ".join(f"{m} {md.version(m)}" for m in P.PEERS.values())
              + f"; VW: {P.VWSquareCB(space, seed=seed).args()}; MABWiser: "
              + P.MABWiserThompson(space, seed=seed).describe())
    chosen = policies(space, seed, variants, peers)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        chosen = {k: v for k, v in chosen.items() if k in keep}
    print(f"# seeds: population, run and policies {seed}; start {START.date()}, explore_days={args.explore_days}, "
          f"log_window={log_window}" + ("; --matured" if args.matured else ""))
    sys.stdout.flush()

    out_dir = args.figure_dir or (Path(args.json).parent if args.json is not None else C.OUT_DIR)
    suffix = ("_matured" if args.matured else "") + (".quick" if args.quick else "")
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[tuple[str, str], float] = {}
    t_start = time.perf_counter()
    for sc_name in names:
        sc = SCENARIOS[sc_name]
        pop = sc.population(space, n, seed=seed, start=START, days=days)
        per_day = min(args.sends_per_day or sc.sends_per_day(n), n)
        print(f"# scenario {sc_name}: {sc.description}; {per_day:,} messages a day")
        sys.stdout.flush()
        results[sc_name] = {}
        for name, make in chosen.items():
            policy = make()
            if args.matured:
                policy = Matured(policy)
            t, res = C.timed(lambda: run(policy, pop, days=days, sends_per_day=per_day, start=START, seed=seed,
                                         explore_days=args.explore_days,
                                         log_window=None if full_log(variants.get(name, {})) else log_window))
            results[sc_name][name], seconds[(sc_name, name)] = res, t
            C.progress(f"{sc_name} / {name}: {t:.1f} s, {res.summary()['pct_of_oracle']:.1f}% of oracle, "
                       f"response rate {res.summary()['response_rate']:.4f}")
            close = getattr(policy, "close", None)
            if callable(close):
                close()
        save_figure(results[sc_name], out_dir / f"policy_regret_{sc_name}{suffix}.png",
                    f"{sc_name}: {sc.description}\n{n:,} customers, {per_day:,} messages a day, seed {seed}")
    wall = time.perf_counter() - t_start

    tables = report(results, seconds, names, days, last)
    notes = [f"% of oracle = 100 x expected replies of the sends / the oracle's (per-message oracle), "
             f"whole run = days 0-{days - 1} (day 0: the uniform explorer for everyone), "
             f"last {last}d = days {days - last}-{days - 1}",
             "expected replies = sum of the true reply probabilities of the sends (less noisy than replies)",
             "MABWiser logs no propensity (it does not expose the probability of a Thompson choice)",
             f"wall time {wall:.0f} s"]
    if absent and not args.no_peers:
        notes.append(f"peers not installed: {', '.join(absent)}")
    for line in notes:
        print(f"# {line}")
    C.write_json(C.json_path(NAME + ("_matured" if args.matured else ""), args), NAME, info,
                 {"customers": n, "days": days, "seed": seed, "scenarios": names, "last_days": last,
                  "explore_days": args.explore_days, "start": str(START), "channels": list(CHANNELS),
                  "wordings": list(WORDINGS), "variants": variants, "matured": args.matured, "peers": peers,
                  "log_window": None if log_window is None else str(log_window),
                  "wall_seconds": wall}, tables, notes)
    return 0


def report(results: dict[str, dict[str, Any]], seconds: dict[tuple[str, str], float], names: list[str],
           days: int, last: int) -> dict[str, C.Table]:
    """Print and return the tables: % of oracle (whole run, last days), ratios, and one row per run."""
    policies_run = list(dict.fromkeys(p for sc in results.values() for p in sc))
    pct = {(s, p): results[s][p].summary()["pct_of_oracle"] for s in names for p in results[s]}
    pct_last = {(s, p): results[s][p].summary(start_day=days - last)["pct_of_oracle"]
                for s in names for p in results[s]}
    out: dict[str, C.Table] = {}
    for key, values, title in (("pct_of_oracle", pct, "% of oracle, whole run"),
                               ("pct_of_oracle_last", pct_last, f"% of oracle, last {last} days")):
        t = C.Table(["policy"] + names)
        for p in policies_run:
            t.add(p, *[values.get((s, p), math.nan) for s in names])
        print()
        print(title)
        t.print()
        out[key] = t

    ratios = C.Table(["scenario", "ChannelModel % of oracle", "VW % of oracle", "ChannelModel / VW",
                      "best other", "best other % of oracle", "ChannelModel / best other"])
    model_like = {MODEL} | {p for p in policies_run if p not in (VW, MABWISER) and p not in _BASELINES}
    for s in names:
        m = pct.get((s, MODEL), math.nan)
        v = pct.get((s, VW), math.nan)
        others = {p: pct[(s, p)] for p in results[s] if p not in model_like}
        best = max(others, key=others.get) if others else None
        b = others[best] if best else math.nan
        ratios.add(s, m, v, C.ratio(m, v) if not math.isnan(v) else math.nan, best or "-", b,
                   C.ratio(m, b) if best else math.nan)
    print()
    print("ChannelModel against VW and against the best other policy (peers and baselines), whole run")
    ratios.print()
    out["ratios"] = ratios

    runs = C.Table(["scenario", "policy", "% of oracle", f"% of oracle last {last}d", "response rate",
                    "oracle rate", "unsubscribe rate", "seconds"])
    for s in names:
        for p, res in results[s].items():
            a = res.summary()
            runs.add(s, p, a["pct_of_oracle"], pct_last[(s, p)], a["response_rate"], a["oracle_response_rate"],
                     a["unsubscribe_rate"], seconds[(s, p)])
    print()
    runs.print()
    out["runs"] = runs
    daily = C.Table(["scenario", "policy", "day", "sends", "responses", "expected_responses", "oracle_responses"])
    for s in names:
        for p, res in results[s].items():
            for row in res.daily.itertuples():
                daily.add(s, p, row.day, row.sends, row.responses, row.expected_responses, row.oracle_responses)
    out["daily"] = daily
    print()
    return out


_BASELINES = ("PooledThompson", "FlatThompson", "EpsilonGreedy(0.1)", "FixedChannel(email, 10:00)", "UniformRandom")


if __name__ == "__main__":
    sys.exit(main())
