#!/usr/bin/env python
"""Regenerate the sample data in ``data/samples/`` with the simulator.

Builds a synthetic population (4 channels, 3 wordings, 5 time zones), plays a
uniformly random policy against it for 60 days, and writes:

* ``logs.parquet``      the response log (schema of ``channelopt.data.schema``);
* ``customers.parquet`` the customers table (``customer_id, tz, segment, consent_<channel>``);
* ``README.md``         what the columns mean and how to regenerate the files.

The output is a deterministic function of the arguments: running it twice
gives byte-identical files (with the same pyarrow version).

Example
-------
    python scripts/make_samples.py --out data/samples --seed 7     # what `make samples` runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from channelopt import ArmSpace
from channelopt.sim import UniformPolicy, censor, make_population, simulate_logs

SPACE = ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "friendly", "urgent"])
END = pd.Timestamp("2026-11-19 00:00", tz="UTC")  # the last day's decisions are made on 2026-11-18
OBSERVED_UNTIL = pd.Timestamp("2026-11-20 00:00", tz="UTC")  # replies after this are not in the log yet


def build(seed: int, n_customers: int, days: int, sends_per_day: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The log, the customers table and a summary of the truth, for the README.

    Examples
    --------
    >>> logs, customers, info = build(7, 50, 3, 10)
    >>> len(logs), len(customers)
    (30, 50)
    """
    population = make_population(SPACE, n_customers, seed=seed)
    start = END - pd.Timedelta(days=days)
    logs = simulate_logs(population, UniformPolicy(SPACE, seed=seed), start=start, days=days,
                         sends_per_day=sends_per_day, seed=seed)
    logs = censor(logs, OBSERVED_UNTIL)
    preferred = np.bincount(population.best_arm("channel"), minlength=len(SPACE.channels)) / n_customers
    info = {"seed": seed, "n_customers": n_customers, "days": days, "sends_per_day": sends_per_day,
            "start": start, "preferred": dict(zip(SPACE.channels, preferred))}
    return logs, population.customers_table(), info


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` without its index, zstd-compressed, deterministically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def readme(logs: pd.DataFrame, customers: pd.DataFrame, info: dict) -> str:
    """The README of the sample directory, with the figures of this run."""
    replied = logs["responded_at"].notna()
    by_channel = replied.groupby(logs["channel"]).agg(["size", "mean"])
    rate_lines = "\n".join(f"| {c} | {int(r['size'])} | {r['mean']:.2%} | {info['preferred'][c]:.0%} |"
                           for c, r in by_channel.loc[list(SPACE.channels)].iterrows())
    zones = ", ".join(f"{z} ({n})" for z, n in customers["tz"].value_counts().sort_index().items())
    return f"""# Sample data

Synthetic data made by `channelopt.sim` with `scripts/make_samples.py` (seed {info['seed']}).
Regenerate with `make samples` (or `python scripts/make_samples.py --out data/samples --seed {info['seed']}`);
the files are a deterministic function of the seed.

- {info['n_customers']:,} customers with true, different preferences over channel (email, sms, push,
  whatsapp), wording (plain, friendly, urgent), local send hour and weekday, in 5 time zones: {zones}.
- A uniformly random policy: every day from {info['start']:%Y-%m-%d} for {info['days']} days,
  {info['sends_per_day']} customers drawn at random get one message each (channel, wording and local
  hour uniform, so `propensity` = 1/4). {len(logs):,} sends, {int(replied.sum()):,} replies.
- Replies are observed until {OBSERVED_UNTIL:%Y-%m-%d %H:%M} UTC: later ones are not in the log
  (`responded_at` is null), as in a real export.

| channel | sends | reply rate | customers who prefer it (truth) |
|---|---|---|---|
{rate_lines}

The truth is not stored: `make_population(ArmSpace(channels=["email", "sms", "push", "whatsapp"],
wordings=["plain", "friendly", "urgent"]), {info['n_customers']}, seed={info['seed']})` rebuilds it
(`population.best_arm("channel")` etc.).

## logs.parquet: one row per message sent

| column | type | meaning |
|---|---|---|
| customer_id | string | `c-000001` ... |
| sent_at | timestamp (UTC) | when the message was sent |
| channel | string | email, sms, push or whatsapp |
| wording | string | plain, friendly or urgent |
| responded_at | timestamp (UTC) or null | first reply; null if none (yet) |
| tz | string | the customer's IANA time zone |
| propensity | float | probability with which the logging policy chose this channel (0.25) |
| event_id | string | unique per send, `e-000000001` ... |
| unsubscribed | bool | the customer unsubscribed after this message |
| complained | bool | the customer complained about this message |
| segment | int | the customer's segment (0-3); the model fits a prior per segment |

## customers.parquet: one row per customer

| column | type | meaning |
|---|---|---|
| customer_id | string | as in the log |
| tz | string | IANA time zone |
| segment | int | customer segment (0-3); customers of a segment share typical preferences |
| consent_email, consent_sms, consent_push, consent_whatsapp | bool | consent per channel |
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate the sample response log and customers table with the simulator.",
        epilog="example: python scripts/make_samples.py --out data/samples --seed 7")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    parser.add_argument("--seed", type=int, default=7, help="seed of everything (default 7)")
    parser.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    parser.add_argument("--days", type=int, default=60, help="days of sends (default 60)")
    parser.add_argument("--sends-per-day", type=int, default=834, help="customers contacted per day (default 834)")
    args = parser.parse_args(argv)
    try:
        logs, customers, info = build(args.seed, args.customers, args.days, args.sends_per_day)
    except ValueError as exc:
        print(f"make_samples: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_parquet(logs, args.out / "logs.parquet")
    write_parquet(customers, args.out / "customers.parquet")
    (args.out / "README.md").write_text(readme(logs, customers, info), encoding="utf-8")
    print(f"wrote {len(logs):,} log rows and {len(customers):,} customers to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
