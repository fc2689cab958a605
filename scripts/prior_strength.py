#!/usr/bin/env python
"""Fitted prior strength and favourite channels named, on a population of known strength (issue 14).

Every customer's reply rate on channel ``j`` is drawn from ``Beta(m_j s, (1 - m_j) s)``
(``s`` = ``--strength``, means ``--means``); each customer gets ``--sends`` sends on
channels drawn uniformly, at instants uniform over ``--days`` days; a reply comes an
hour after its send. The model is fitted once per ``half_life`` with ``as_of`` after
every response window closed. Printed per half-life and seed: the fitted strength
``alpha + beta`` of every arm (the prior of an unknown customer, read through the
public ``posteriors``), and the share of customers whose true favourite channel
(highest true rate) is the one with the highest posterior mean, against a naive
per-customer argmax of raw reply rates (ties broken at random).

Only the public API is used, so the same script measures another tree::

    PYTHONPATH=src python scripts/prior_strength.py                 # this tree
    PYTHONPATH=/work/main/src python scripts/prior_strength.py      # e.g. the tree before the fix
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

import channelopt as co

START = pd.Timestamp("2025-01-06", tz="UTC")


def population_log(n_customers: int, sends: int, days: float, means: np.ndarray, strength: float,
                   seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The log and the true rates ``[n_customers, n_channels]``."""
    rng = np.random.default_rng(seed)
    n_ch = means.size
    rates = rng.beta(means * strength, (1 - means) * strength, size=(n_customers, n_ch))
    cust = np.repeat(np.arange(n_customers), sends)
    ch = rng.integers(0, n_ch, size=cust.size)
    sent = START + pd.to_timedelta(rng.uniform(0, days * 86400, size=cust.size).round(), unit="s")
    replied = rng.random(cust.size) < rates[cust, ch]
    logs = pd.DataFrame({"customer_id": [f"c{c:06d}" for c in cust], "sent_at": sent,
                         "channel": np.array([f"ch{j}" for j in range(n_ch)])[ch],
                         "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(replied, pd.NaT)})
    return logs, rates


def naive_favourite(logs: pd.DataFrame, n_customers: int, n_ch: int, rng: np.random.Generator) -> np.ndarray:
    """Per customer, the channel with the highest raw reply rate (ties at random; unsent channels rate -1)."""
    cust = logs["customer_id"].str[1:].astype(int).to_numpy()
    ch = logs["channel"].str[2:].astype(int).to_numpy()
    n = np.zeros((n_customers, n_ch))
    k = np.zeros((n_customers, n_ch))
    np.add.at(n, (cust, ch), 1.0)
    np.add.at(k, (cust, ch), logs["responded_at"].notna().to_numpy(dtype=float))
    rate = np.where(n > 0, k / np.maximum(n, 1), -1.0)
    jitter = rng.random(rate.shape)
    best = rate.max(axis=1, keepdims=True)
    return np.where(rate == best, jitter, -1.0).argmax(axis=1)


def measure(half_life: str | None, logs: pd.DataFrame, rates: np.ndarray, days: float,
            naive: np.ndarray) -> dict[str, object]:
    n_customers, n_ch = rates.shape
    space = co.ArmSpace(channels=[f"ch{j}" for j in range(n_ch)], hours=False, weekdays=False)
    as_of = START + pd.Timedelta(days=days + 4)
    model = co.ChannelModel(space, half_life=half_life, seed=1).fit(logs, as_of=as_of)
    prior = model.posteriors(["nobody"])
    strength = (prior["alpha"] + prior["beta"]).to_numpy()
    post = model.posteriors([f"c{c:06d}" for c in range(n_customers)])
    mean = post["mean"].to_numpy().reshape(n_customers, n_ch)
    truth = rates.argmax(axis=1)
    return {"half_life": str(half_life), "strength": strength,
            "model": float(np.mean(mean.argmax(axis=1) == truth)), "naive": float(np.mean(naive == truth))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=3000)
    p.add_argument("--sends", type=int, default=80, help="sends per customer")
    p.add_argument("--days", type=float, default=365.0, help="period the sends are spread over")
    p.add_argument("--strength", type=float, default=9.0)
    p.add_argument("--means", type=float, nargs="+", default=[0.1, 0.15, 0.2, 0.25])
    p.add_argument("--half-lives", nargs="+", default=["none", "30D", "90D"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args(argv)
    means = np.array(args.means)
    print(f"channelopt {co.__version__}: {args.customers} customers x {args.sends} sends over {args.days:g} days, "
          f"true strength {args.strength:g}, means {args.means}")
    print(f"{'half_life':>9} {'seed':>4}  {'fitted strength per arm':<34} {'model':>6} {'naive':>6}")
    rows = []
    for seed in args.seeds:
        logs, rates = population_log(args.customers, args.sends, args.days, means, args.strength, seed)
        naive = naive_favourite(logs, *rates.shape, np.random.default_rng(seed + 1000))
        for h in args.half_lives:
            r = measure(None if h.lower() == "none" else h, logs, rates, args.days, naive)
            rows.append(r)
            s = " ".join(f"{x:7.1f}" for x in r["strength"])
            print(f"{r['half_life']:>9} {seed:>4}  {s:<34} {r['model']:6.1%} {r['naive']:6.1%}")
    print("mean over seeds:")
    for h in dict.fromkeys(r["half_life"] for r in rows):
        sel = [r for r in rows if r["half_life"] == h]
        s = np.mean([r["strength"] for r in sel], axis=0)
        print(f"{h:>9}       {' '.join(f'{x:7.1f}' for x in s):<34} {np.mean([r['model'] for r in sel]):6.1%} "
              f"{np.mean([r['naive'] for r in sel]):6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
