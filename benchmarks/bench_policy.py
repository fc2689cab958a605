"""Policy benchmark: ChannelModel against every baseline and a per-message oracle, in closed loop.

A synthetic population (``channelopt.sim.make_population``: default 20,000
customers in 5 time zones, 6 channels email/sms/push/whatsapp/voice/in_app,
8 wordings, a peaked local-hour effect, a mild weekday effect) with drift (20%
of customers switch their preferred channel once, between a quarter and three
quarters of the run) and fatigue (each message in the last 7 days multiplies
the reply probability by 0.9) is played for ``--days`` days (default 60) by
each policy with ``channelopt.sim.run``: ``--sends-per-day`` customers
(default 2,000: each customer gets a message every ~10 days) drawn at random
each day, day 0 played by the same uniform explorer for every policy, then the
policy retrained every day on the log as known at that time (``partial_fit``)
and asked to ``rank`` the day's customers. Unsubscriptions are final.

Policies: ``ChannelModel`` (default settings), and from ``channelopt.policy.baselines``
UniformRandom, PooledThompson (one bandit for everyone), FlatThompson
(per-customer, flat prior, no pooling), EpsilonGreedy(0.1) (per customer) and
FixedChannel (email at 10:00 local). Every learner decides channel, wording and
local send hour; the arm space has no weekday dimension (a send falls within 24 h).

Printed: per policy, the realised response rate over the whole run and the last
``--last`` days (default 30), the expected response rate (mean true reply
probability of the sends: less noisy), % of the oracle's expected rate, the
unsubscribe rate, messages per reply and the cumulative regret (expected
replies lost to the oracle); a weekly % of oracle table; and ChannelModel's
margin over each baseline. The oracle knows the truth and picks, per message,
the best channel not unsubscribed, wording and send hour in the next 24 h
(see ``channelopt.sim.run``). A figure of % of oracle (7-day mean) and
cumulative regret (minus UniformRandom's) per day is saved to
``benchmarks/out/policy_regret.png``.

``--matured`` repeats the comparison with every policy learning only from sends
whose response window has passed (see :class:`Matured`).

Run: ``python benchmarks/bench_policy.py [--quick] [--seed 0] [--matured]``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import _common as C
import channelopt as co
from channelopt.policy import baselines as B
from channelopt.sim import make_population, run

NAME = "bench_policy"
CHANNELS = ("email", "sms", "push", "whatsapp", "voice", "in_app")
WORDINGS = ("plain", "friendly", "urgent", "short", "long", "emoji", "formal", "playful")
START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday; decisions at 00:00 UTC every day


def policies(space: co.ArmSpace, seed: int) -> dict[str, object]:
    """Fresh policies (they are trained in place), each seeded with ``seed``."""
    return {
        "ChannelModel": co.ChannelModel(space, seed=seed),
        "PooledThompson": B.PooledThompson(space, seed=seed),
        "FlatThompson": B.FlatThompson(space, seed=seed),
        "EpsilonGreedy(0.1)": B.EpsilonGreedy(space, epsilon=0.1, seed=seed),
        "FixedChannel(email, 10:00)": B.FixedChannel(space, channel="email", hour=10),
        "UniformRandom": B.UniformRandom(space, seed=seed),
    }


class Matured:
    """Wrap a policy so it learns only from sends whose response window has passed (``--matured``).

    The library counts a reply as soon as it comes but a silence only once the
    window has passed, so an arm whose traffic has just grown looks better than
    it is until its failures catch up. Fed only matured sends, every send is
    counted at the same age whatever its outcome. Late rows are not counted by
    ``partial_fit`` (the watermark rule), so each day is a full ``fit``.
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


def _binomial_se(rate: float, n: int) -> float:
    return math.sqrt(max(rate * (1 - rate), 0.0) / n) if n else math.nan


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
        lw = 2.5 if name == "ChannelModel" else 1.3
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


def main(argv: list[str] | None = None) -> int:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--sends-per-day", type=int, default=2_000)
    p.add_argument("--last", type=int, default=30, help="the 'last days' window of the table")
    p.add_argument("--switch-share", type=float, default=0.2,
                   help="share of customers whose preferred channel switches")
    p.add_argument("--fatigue", type=float, default=0.1, help="reply probability x (1 - fatigue) per message in 7 days")
    p.add_argument("--explore-days", type=int, default=1)
    p.add_argument("--only", default=None, help="comma-separated policy names to run (default: all)")
    p.add_argument("--matured", action="store_true",
                   help="every policy learns only from sends whose 72 h response window has passed (a full fit "
                        "each day): the experiment that isolates the bias of counting replies before silences")
    p.add_argument("--figure", type=Path, default=None,
                   help="where to save the figure; None means beside --json, else "
                        "benchmarks/out/policy_regret[.quick].png")
    args = p.parse_args(argv)
    if args.quick:
        args.customers, args.days, args.sends_per_day, args.last = 600, 8, 120, 4
    n, days, per_day, last = args.customers, args.days, args.sends_per_day, min(args.last, args.days)
    seed = args.seed
    space = co.ArmSpace(channels=list(CHANNELS), wordings=list(WORDINGS), hours=True, weekdays=False)
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: {n:,} customers, {days} days x {per_day:,} sends, "
                          f"{len(CHANNELS)} channels x {len(WORDINGS)} wordings x 24 local hours")
    switch_window = (START + pd.Timedelta(days=days / 4), START + pd.Timedelta(days=3 * days / 4))
    pop = make_population(space, n, seed=seed, switch_share=args.switch_share, switch_window=switch_window,
                          fatigue=args.fatigue)
    print(f"# seeds: population seed={seed}, run seed={seed} (customers drawn, outcomes, explorer), "
          f"policy seed={seed}; start {START.date()}, explore_days={args.explore_days}")
    print(f"# drift: {int((pop.switch_ns != np.iinfo(np.int64).min).sum()):,} customers switch channel between "
          f"{switch_window[0].date()} and {switch_window[1].date()}; fatigue {args.fatigue} per message in 7 days")
    sys.stdout.flush()

    chosen = policies(space, seed)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        chosen = {k: v for k, v in chosen.items() if k in keep}
    name_out = NAME + ("_matured" if args.matured else "")
    if args.matured:
        chosen = {k: Matured(v) for k, v in chosen.items()}
        print("# --matured: every policy learns only from sends whose 72 h window has passed (full fit each day)")
    results: dict[str, object] = {}
    seconds: dict[str, float] = {}
    for name, policy in chosen.items():
        t, res = C.timed(lambda: run(policy, pop, days=days, sends_per_day=per_day, start=START, seed=seed,
                                     explore_days=args.explore_days))
        results[name], seconds[name] = res, t
        s = res.summary(start_day=days - last)
        C.progress(f"{name}: {t:.1f} s, last {last} days: response rate {s['response_rate']:.4f}, "
                   f"{s['pct_of_oracle']:.1f}% of oracle")

    first_day = days - last
    table = C.Table(["policy", "response rate", f"response rate last {last}d", f"expected rate last {last}d",
                     "% of oracle", f"% of oracle last {last}d", "unsubscribe rate", "messages per reply",
                     "cumulative regret", "seconds"])
    oracle_all = oracle_last = None
    for name, res in results.items():
        a, b = res.summary(), res.summary(start_day=first_day)
        table.add(name, a["response_rate"], b["response_rate"], b["expected_response_rate"], a["pct_of_oracle"],
                  b["pct_of_oracle"], a["unsubscribe_rate"], a["messages_per_reply"], a["regret"], seconds[name])
        if name == "ChannelModel" or oracle_all is None:
            oracle_all, oracle_last = a["oracle_response_rate"], b["oracle_response_rate"]
    if oracle_all is not None:
        table.add("oracle (expected, on the model's sends)", oracle_all, oracle_last, oracle_last, 100.0, 100.0,
                  None, None, 0.0, None)

    weeks = list(range(0, days, 7))
    weekly = C.Table(["policy"] + [f"days {w}-{min(w + 6, days - 1)}" for w in weeks])
    for name, res in results.items():
        weekly.add(name, *[res.summary(start_day=w, end_day=w + 7)["pct_of_oracle"] for w in weeks])

    notes: list[str] = []
    margin = None
    if "ChannelModel" in results:
        m = results["ChannelModel"]
        ms = m.summary(start_day=first_day)
        margin = C.Table(["baseline", f"model - baseline, expected rate last {last}d", "relative",
                          f"model - baseline, response rate last {last}d", "z (realised)",
                          "weeks the model is ahead (% of oracle)"])
        mw = np.array([m.summary(start_day=w, end_day=w + 7)["pct_of_oracle"] for w in weeks])
        for name, res in results.items():
            if name == "ChannelModel":
                continue
            bs = res.summary(start_day=first_day)
            diff = ms["response_rate"] - bs["response_rate"]
            se = math.hypot(_binomial_se(ms["response_rate"], ms["sends"]), _binomial_se(bs["response_rate"],
                                                                                         bs["sends"]))
            bw = np.array([res.summary(start_day=w, end_day=w + 7)["pct_of_oracle"] for w in weeks])
            ahead = f"{int((mw > bw).sum())}/{len(weeks)}"
            margin.add(name, ms["expected_response_rate"] - bs["expected_response_rate"],
                       ms["expected_response_rate"] / bs["expected_response_rate"] - 1, diff, diff / se, ahead)
        notes.append("expected rate = mean true reply probability of the sends (the simulator's truth, less noisy "
                     "than realised replies); z = realised difference / its binomial standard error")
    notes.append(f"response rates count replies to the sends of those days whenever they come (uncensored); "
                 f"'last {last}d' = days {first_day}-{days - 1}")
    notes.append("the oracle row: the oracle's expected rate for the customers ChannelModel contacted, with "
                 "ChannelModel's history (fatigue, unsubscriptions)")

    print()
    table.print()
    print()
    print("% of oracle by week")
    weekly.print()
    if margin is not None:
        print()
        margin.print()
    print()
    for line in notes:
        print(f"# {line}")
    if args.figure is not None:
        figure = args.figure
    elif args.json is not None:  # next to the JSON it was asked to write
        figure = Path(args.json).with_name(Path(args.json).stem + "_regret.png")
    else:
        stem = "policy_regret" + ("_matured" if args.matured else "")
        figure = C.OUT_DIR / (f"{stem}.quick.png" if args.quick else f"{stem}.png")
    if results:
        save_figure(results, figure, f"{n:,} customers, {per_day:,} sends/day, drift {args.switch_share}, "
                                     f"fatigue {args.fatigue}, seed {seed}" + (", matured sends only" if args.matured
                                                                               else ""))
    daily = C.Table(["policy", "day", "sends", "responses", "expected_responses", "oracle_responses",
                     "unsubscribes"])
    for name, res in results.items():
        for row in res.daily.itertuples():
            daily.add(name, row.day, row.sends, row.responses, row.expected_responses, row.oracle_responses,
                      row.unsubscribes)
    tables = {"policy": table, "weekly": weekly, "daily": daily}
    if margin is not None:
        tables["margin"] = margin
    C.write_json(C.json_path(name_out, args), name_out, info,
                 {"customers": n, "days": days, "sends_per_day": per_day, "last_days": last, "seed": seed,
                  "switch_share": args.switch_share, "fatigue": args.fatigue, "explore_days": args.explore_days,
                  "start": str(START), "channels": list(CHANNELS), "wordings": list(WORDINGS),
                  "matured": args.matured,
                  "figure": str(figure)}, tables, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
