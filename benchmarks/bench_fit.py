"""Fit throughput: ``ChannelModel.fit`` end to end vs the pandas groupby pipeline.

A realistic response log of ``--rows`` rows (default 10,000,000) over ``--customers``
customers (default 1,000,000) is generated: string ids ``c-0001234``, tz-aware UTC
``sent_at`` over 180 days, a ``tz`` column (5 zones, one per customer), categorical
``channel`` (6) and ``wording`` (8), ``responded_at`` for ~8% of the sends. Timed,
best of ``--repeats`` after a warm-up on a tiny log:

* ``ChannelModel(space).fit(df, as_of=...)`` from the DataFrame;
* the same from a Parquet file (written once beforehand, not timed);
* baseline: the pipeline a data scientist writes in pandas: count the sends whose
  response window has ended (the model's default ``resolve="window"``), decay weight ``0.5 ** (age / half_life)``, local hour per zone with
  ``dt.tz_convert``, then ``groupby([customer_id, channel])``,
  ``groupby([customer_id, wording])`` and ``groupby([customer_id, hour])`` summing
  weighted sends and responses; from Parquet it starts with ``pd.read_parquet``.

Run: ``python benchmarks/bench_fit.py [--quick] [--rows 10000000]``.
"""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

import _common as C
from channelopt import kernels as K

NAME = "bench_fit"
WINDOW = pd.Timedelta("72h")
HALF_LIFE = pd.Timedelta("90D")


def make_log(rows: int, customers: int, seed: int) -> pd.DataFrame:
    """A realistic response log as a DataFrame (built through Arrow, as Parquet would give it)."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, customers, size=rows)
    ids = C.make_ids(customers).take(pa.array(cust))
    end = C.NOW.value
    span = 180 * 86400 * 10**9
    sent = np.sort(end - rng.integers(0, span, size=rows, dtype=np.int64))
    replied = rng.random(rows) < 0.08
    # most replies within hours, a tail up to 5 days (some after the 72 h window)
    delay = np.where(rng.random(rows) < 0.9, rng.exponential(3 * 3600, size=rows),
                     rng.uniform(0, 5 * 86400, size=rows))
    responded = sent + (delay * 1e9).astype(np.int64) + 60 * 10**9
    zone_of = rng.integers(0, len(C.ZONES), size=customers)
    ts = pa.timestamp("ns", tz="UTC")
    table = pa.table({
        "customer_id": ids,
        "sent_at": pa.array(sent, type=ts),
        "channel": pa.DictionaryArray.from_arrays(rng.integers(0, len(C.CHANNELS), size=rows).astype(np.int8),
                                                  pa.array(C.CHANNELS)),
        "wording": pa.DictionaryArray.from_arrays(rng.integers(0, len(C.WORDINGS), size=rows).astype(np.int8),
                                                  pa.array(C.WORDINGS)),
        "tz": pa.array(np.array(C.ZONES, dtype=object)).take(pa.array(zone_of[cust])),
        "responded_at": pa.array(responded, type=ts, mask=~replied),
    })
    return table.to_pandas()


def pandas_fit(df: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The pandas pipeline: resolved sends, decayed weights, local hour, groupby sums per dimension."""
    sent, resp = df["sent_at"], df["responded_at"]
    in_window = resp.notna() & ((resp - sent) <= WINDOW)
    counted = (sent + WINDOW <= as_of).to_numpy()  # the model's default: a send resolves when its window ends
    d = df.loc[counted, ["customer_id", "sent_at", "channel", "wording", "tz"]].copy()
    d["w"] = np.exp2(-((as_of - d["sent_at"]) / HALF_LIFE))
    d["r"] = d["w"] * in_window.to_numpy()[counted]
    d["hour"] = 0
    for zone in d["tz"].unique():
        m = d["tz"] == zone
        d.loc[m, "hour"] = d.loc[m, "sent_at"].dt.tz_convert(zone).dt.hour
    return {dim: d.groupby(["customer_id", dim], observed=True)[["w", "r"]].sum()
            for dim in ("channel", "wording", "hour")}


def main(argv: list[str] | None = None) -> int:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="log rows")
    p.add_argument("--customers", type=int, default=1_000_000, help="distinct customers in the log")
    args = p.parse_args(argv)
    rows = 20_000 if args.quick else args.rows
    customers = 2_000 if args.quick else args.customers
    space = C.bench_space()
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: fit {rows:,} log rows over {customers:,} customers, {space.n_arms} arms")
    as_of = C.NOW

    # warm-up on a tiny log: the first fit pays the JIT compile (or the cache load)
    tiny = make_log(2_000, 200, args.seed + 1)
    t_first, _ = C.timed(lambda: C.co.ChannelModel(space).fit(tiny, as_of=as_of))
    jit = C.jit_status(K.accumulate, K.hash_many, K.lookup_many)
    pandas_fit(tiny, as_of)

    t_gen, df = C.timed(lambda: make_log(rows, customers, args.seed))
    C.progress(f"log of {rows:,} rows generated in {t_gen:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="channelopt-bench-fit-", dir="/tmp"))
    try:
        path = tmp / "logs.parquet"
        t_write, _ = C.timed(lambda: df.to_parquet(path, index=False))

        t_df, model = C.best_of(lambda: C.co.ChannelModel(space).fit(df, as_of=as_of), args.repeats)
        counted = model.last_fit_["counted"]
        C.progress(f"fit from DataFrame: {t_df:.2f} s")
        co_channel = model.state_.sends[:, : len(C.CHANNELS)].sum(axis=0, dtype=np.float64)
        del model
        t_pq, model = C.best_of(lambda: C.co.ChannelModel(space).fit(path, as_of=as_of), args.repeats)
        del model
        gc.collect()
        C.progress(f"fit from Parquet: {t_pq:.2f} s")
        t_pd, out = C.best_of(lambda: pandas_fit(df, as_of), args.repeats)
        C.progress(f"pandas pipeline: {t_pd:.2f} s")
        pd_channel = out["channel"]["w"].groupby(level="channel", observed=True).sum().reindex(list(C.CHANNELS))
        del out
        t_pd_pq, _ = C.best_of(lambda: pandas_fit(pd.read_parquet(path), as_of), args.repeats)

        notes = []
        try:  # where the time goes: validation + encoding of the frame (schema.encode_logs) alone
            from channelopt.data.schema import encode_logs

            t_enc, _ = C.best_of(lambda: encode_logs(df, space, "UTC"), args.repeats)
        except Exception as exc:
            t_enc = float("nan")
            notes.append(f"encode-only row skipped: {type(exc).__name__}: {exc}")
        t_read, _ = C.best_of(lambda: pd.read_parquet(path), args.repeats)
        size_mb = path.stat().st_size / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    table = C.Table(["case", "rows", "seconds", "rows/s", "speedup vs pandas"])
    table.add("pandas groupby pipeline, from DataFrame (baseline)", rows, t_pd, rows / t_pd, 1.0)
    table.add("channelopt fit, from DataFrame", rows, t_df, rows / t_df, C.ratio(t_pd, t_df))
    table.add("  of which: encode_logs (validate + encode)", rows, t_enc, rows / t_enc, None)
    table.add("pandas: read_parquet + pipeline (baseline)", rows, t_pd_pq, rows / t_pd_pq, 1.0)
    table.add("channelopt fit, from Parquet path", rows, t_pq, rows / t_pq, C.ratio(t_pd_pq, t_pq))
    table.add("  for reference: pd.read_parquet alone", rows, t_read, rows / t_read, None)
    table.add("first fit, 2,000 rows (JIT/cache)", 2_000, t_first, None, None)
    print()
    table.print()
    print()
    rel = np.abs(co_channel - pd_channel.to_numpy()) / np.maximum(pd_channel.to_numpy(), 1e-12)
    notes += [f"sanity: decayed sends per channel, max relative |channelopt - pandas| = {rel.max():.2e}; "
              f"channelopt counted {counted:,} of {rows:,} rows (the rest pending at as_of)",
              f"log generated in {t_gen:.1f} s, Parquet ({size_mb:.0f} MiB) written in {t_write:.1f} s (not timed)",
              "channelopt fit also fits the empirical-Bayes prior and zones; the pandas pipeline stops at the sums",
              f"first fit: {jit}"]
    for line in notes:
        print(f"# {line}")
    C.write_json(C.json_path(NAME, args), NAME, info,
                 {"rows": rows, "customers": customers, "repeats": args.repeats, "as_of": str(as_of),
                  "response_window": str(WINDOW), "half_life": str(HALF_LIFE)}, {"fit": table}, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
