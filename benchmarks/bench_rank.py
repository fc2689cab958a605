"""Batch Thompson ranking: ``ChannelModel.rank`` vs vectorised numpy ``rng.beta`` + argmax.

A fitted state of N customers (default 1,000,000) over 6 channels, 8 wordings and
24 local hours (38 arms) is built directly as a ``PosteriorStore`` (no log to fit):
sends ~ Poisson(3) per arm, responses ~ Binomial(sends, p), p ~ Beta(1, 15), prior
Beta(1, 15). Timed, best of ``--repeats`` after a warm-up on a tiny model:

* baseline: ``rng.beta(alpha, beta)`` over the (N, 38) posterior arrays plus an argmax
  per dimension (numpy, one thread; no id lookup, no output table: a lower bound);
* ``model.rank(customers, now=..., propensity=False)`` and ``propensity=True`` (the
  default: computed by quadrature in ``channelopt.kernels.propensity``, no draws);
* the breakdown of ``rank``: id encoding + lookup, and the numba kernel alone;
* ``--chunked-n`` customers (default 10,000,000) ranked in chunks of ``--chunk``
  (skipped with ``--quick``).

Run: ``python benchmarks/bench_rank.py [--quick] [--n 1000000]``.
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pandas as pd

import _common as C
from channelopt.kernels import decide as D
from channelopt import kernels as K
from channelopt.kernels.win import win_dim
from channelopt.policy.slots import slot_tables

NAME = "bench_rank"


def numpy_rank(store, offsets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """What a data scientist writes: posterior arrays, ``rng.beta``, argmax per dimension."""
    alpha = store.prior_alpha + store.responses
    beta = store.prior_beta + np.maximum(store.sends - store.responses, 0)
    draws = rng.beta(alpha, beta)
    choice = np.stack([draws[:, lo:hi].argmax(axis=1) for lo, hi in zip(offsets[:-1], offsets[1:])], axis=1)
    return choice, draws[:, offsets[0]:offsets[1]].max(axis=1)


def kernel_rank(model, rows: np.ndarray, hashes: np.ndarray, n_prop: int) -> tuple[np.ndarray, np.ndarray]:
    """The numba kernel alone, called as ``ChannelModel.rank`` calls it (no policy, one zone): (choice, propensity).

    ``n_prop``: 0 no propensity, > 0 the computed one, < 0 the former Monte Carlo estimate on ``-n_prop`` draws.
    """
    st = model.state_
    offsets = model.space.offsets
    n, n_dims, n_ch = rows.shape[0], offsets.shape[0] - 1, len(model.space.channels)
    choice = np.empty((n, n_dims), dtype=np.int64)
    send_ns, score, prop = np.empty(n, np.int64), np.empty(n), np.empty(n)
    status = np.empty(n, np.int8)
    now = C.NOW.value
    deadline = now + 24 * 3600 * 10**9
    earliest = np.full((1, n_ch), now, dtype=np.int64)
    slots = slot_tables(now, deadline, [model.config.default_tz])
    dims = model.space.dimensions
    prior_a, prior_b = st.prior_tables  # one row: the population (the benchmark's store has no segments)
    D.decide_many(rows, hashes, np.zeros(n, np.int64), st.sends, st.responses, prior_a, prior_b, offsets, earliest,
                  np.zeros(n, np.int64), *slots, deadline, np.zeros(n_ch, np.int64), np.nan, np.zeros(n_ch), False,
                  dims.index("hour") if "hour" in dims else -1, dims.index("weekday") if "weekday" in dims else -1,
                  model._smooth, np.uint64(model.config.seed), np.uint64(now // 1_000_000_000), n_prop, choice,
                  send_ns, score, prop, status)
    return choice, prop


def exact_propensity(model, rows: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """The exact probability of each decision of :func:`kernel_rank` (bench space: no weekdays, every hour usable).

    Product over dimensions of the chosen arm's win probability (``channelopt.kernels.win.win_dim``, accurate to 1e-7)
    under the posteriors the kernel draws from (hour statistics smoothed as in the kernel).
    """
    st, space = model.state_, model.space
    off, dims = space.offsets, space.dimensions
    sends = st.sends[rows].astype(np.float64)
    resp = st.responses[rows].astype(np.float64)
    h = dims.index("hour")
    lo, hi = off[h], off[h + 1]
    w = model._smooth
    half = w.shape[0] // 2
    for x in (sends, resp):  # circular smoothing of the hour block, as the kernel's _smoothed_hours
        block = x[:, lo:hi].copy()
        x[:, lo:hi] = sum(wt * np.roll(block, half - t, axis=1) for t, wt in enumerate(w))
    prior_a, prior_b = st.prior_tables
    a = prior_a[0] + resp
    b = prior_b[0] + np.maximum(sends - resp, 0.0)
    out = np.ones(rows.shape[0])
    for i in range(rows.shape[0]):
        for d in range(len(dims)):
            out[i] *= win_dim(a[i, off[d]:off[d + 1]], b[i, off[d]:off[d + 1]])[choice[i, d]]
    return out


def main(argv: list[str] | None = None) -> int:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="customers in the main comparison")
    p.add_argument("--chunked-n", type=int, default=10_000_000, help="customers of the chunked run")
    p.add_argument("--chunk", type=int, default=1_000_000, help="chunk size of the chunked run")
    p.add_argument("--chunked-repeats", type=int, default=1, help="repeats of the (long) chunked run")
    p.add_argument("--mc-n", type=int, default=10_000, help="customers of the (slow) former Monte Carlo run")
    p.add_argument("--exact-n", type=int, default=300, help="customers compared with the exact propensity")
    args = p.parse_args(argv)
    n = 2_000 if args.quick else args.n
    space = C.bench_space()
    n_arms = space.n_arms
    info = C.machine_info()
    C.print_machine(info, f"{NAME}: rank {n:,} customers x {n_arms} arms (6 channels, 8 wordings, 24 hours)")

    # -- warm-up on a tiny model: first call = JIT compile or cache load -------------
    tiny = C.make_model(space, C.make_store(space, 200, seed=args.seed + 1))
    tiny_customers = pd.DataFrame({"customer_id": tiny.state_.index.ids()})
    t_first, _ = C.timed(lambda: tiny.rank(tiny_customers, now=C.NOW, propensity=True))
    jit = C.jit_status(D.decide_many, K.hash_many, K.lookup_many)
    tiny.rank(tiny_customers, now=C.NOW, propensity=False)
    numpy_rank(tiny.state_, space.offsets, np.random.default_rng(0))

    # -- the N-customer state ----------------------------------------------------------
    t_build, store = C.timed(lambda: C.make_store(space, n, seed=args.seed))
    C.progress(f"state of {n:,} customers built in {t_build:.1f} s")
    model = C.make_model(space, store)
    m_mc = 256  # the former Monte Carlo estimate: fresh decisions per customer
    customers = pd.DataFrame({"customer_id": store.index.ids()})
    draws = n * n_arms
    rng = np.random.default_rng(args.seed)

    t_np, (np_choice, _) = C.best_of(lambda: numpy_rank(store, space.offsets, rng), args.repeats)
    C.progress(f"numpy baseline: {t_np:.3f} s")
    t_off, out_off = C.best_of(lambda: model.rank(customers, now=C.NOW, propensity=False), args.repeats)
    C.progress(f"rank propensity=False: {t_off:.3f} s")
    t_on, out_on = C.best_of(lambda: model.rank(customers, now=C.NOW, propensity=True), args.repeats)
    C.progress(f"rank propensity=True: {t_on:.3f} s")

    # breakdown of rank: id encoding + lookup, then the kernel alone
    notes: list[str] = []
    ids = customers["customer_id"]
    t_lookup, (rows, hashes) = C.best_of(lambda: store.index.rows_of(ids), args.repeats)
    t_k_off, _ = C.best_of(lambda: kernel_rank(model, rows, hashes, 0), args.repeats)
    t_k_on, _ = C.best_of(lambda: kernel_rank(model, rows, hashes, 1), args.repeats)
    C.progress(f"kernel: {t_k_off:.3f} s without, {t_k_on:.3f} s with the computed propensity")
    n_mc = min(n, max(args.mc_n, 1))
    t_k_mc, _ = C.timed(lambda: kernel_rank(model, rows[:n_mc], hashes[:n_mc], -m_mc))
    t_k_mc *= n / n_mc  # scaled to N customers
    C.progress(f"kernel, Monte Carlo (M={m_mc}) on {n_mc:,} customers: {t_k_mc * n_mc / n:.1f} s")
    # accuracy: the joint propensity against the exact probability of the same decisions
    n_ex = min(n, max(args.exact_n, 1))
    sub_r, sub_h = rows[:n_ex], hashes[:n_ex]
    ch_on, p_on = kernel_rank(model, sub_r, sub_h, 1)
    ch_mc, p_mc = kernel_rank(model, sub_r, sub_h, -m_mc)
    exact = exact_propensity(model, sub_r, ch_on)
    assert np.array_equal(ch_on, ch_mc)
    mae_on, mae_mc = np.abs(p_on - exact).mean(), np.abs(p_mc - exact).mean()
    rel_on, rel_mc = np.median(np.abs(p_on / exact - 1)), np.median(np.abs(p_mc / exact - 1))

    table = C.Table(["case", "customers", "seconds", "arm-draws/s", "speedup vs numpy", "x prop=False",
                     "MAE vs exact"])
    table.add("numpy rng.beta + argmax (baseline)", n, t_np, draws / t_np, 1.0, None, None)
    table.add("rank propensity=False", n, t_off, draws / t_off, C.ratio(t_np, t_off), 1.0, None)
    table.add("rank propensity=True (computed)", n, t_on, draws / t_on, C.ratio(t_np, t_on),
              C.ratio(t_on, t_off), mae_on)
    table.add("  of which: id encode + lookup", n, t_lookup, None, None, None, None)
    table.add("  of which: kernel, no propensity", n, t_k_off, draws / t_k_off, C.ratio(t_np, t_k_off), 1.0, None)
    table.add("  of which: kernel, computed propensity", n, t_k_on, draws / t_k_on, C.ratio(t_np, t_k_on),
              C.ratio(t_k_on, t_k_off), mae_on)
    table.add(f"kernel, former Monte Carlo (M={m_mc}), scaled", n, t_k_mc, draws / t_k_mc, C.ratio(t_np, t_k_mc),
              C.ratio(t_k_mc, t_k_off), mae_mc)
    table.add("first call, 200 customers (JIT/cache)", 200, t_first, None, None, None, None)
    # the floor under any exact ranking: the same number of Beta draws and nothing else
    K.beta_sample(1.5, 20.0, np.uint64(1), 1000)
    t_draws, _ = C.best_of(lambda: K.beta_sample(1.5, 20.0, np.uint64(2), draws), args.repeats)
    table.add(f"for reference: {draws:,} Beta(1.5, 20) draws alone", n, t_draws, draws / t_draws,
              C.ratio(t_np, t_draws), None, None)

    # sanity: both pick channels with the same frequencies (same posteriors, exact draws)
    share_np = np.bincount(np_choice[:, 0], minlength=len(space.channels)) / n
    codes = out_off["channel"].cat.codes.to_numpy()
    share_co = np.bincount(codes[codes >= 0], minlength=len(space.channels)) / n
    notes.append(f"channel pick shares, max |channelopt - numpy| = {np.abs(share_np - share_co).max():.4f} "
                 f"(N={n:,}; sampling noise ~{2 / np.sqrt(n):.4f})")
    notes.append(f"arm-draws = customers x {n_arms} decision draws; propensity=True adds the whole decision's "
                 f"probability (channel x wording x send hour), computed by quadrature (channelopt.kernels.propensity), no "
                 f"extra draws; the former Monte Carlo estimate drew M x {n_arms} more")
    notes.append(f"MAE vs exact: {n_ex:,} customers, exact = product of the factors' win probabilities "
                 f"(channelopt.kernels.win); median relative error {rel_on:.2%} computed, {rel_mc:.1%} Monte Carlo; "
                 f"mean exact propensity {exact.mean():.2e}; Monte Carlo timed on {n_mc:,} customers, scaled to N")
    notes.append(f"first call: {jit}; state built in {t_build:.1f} s (not timed)")
    del out_off, out_on, np_choice, rows, hashes

    chunk_table = None
    if not args.quick and args.chunked_n > 0:
        del model, store, customers
        gc.collect()
        big_n, chunk = args.chunked_n, args.chunk
        t_big, big_store = C.timed(lambda: C.make_store(space, big_n, seed=args.seed + 2))
        big = C.make_model(space, big_store)
        big_customers = pd.DataFrame({"customer_id": big_store.index.ids()})
        notes.append(f"chunked state: {big_n:,} customers built in {t_big:.1f} s; "
                     f"{(big_store.sends.nbytes + big_store.responses.nbytes) / 2**30:.2f} GiB of statistics")

        def chunked(prop: bool) -> int:
            rows_out = 0
            for start in range(0, big_n, chunk):
                part = big.rank(big_customers.iloc[start:start + chunk], now=C.NOW, propensity=prop)
                rows_out += len(part)
            return rows_out

        chunk_table = C.Table(["case", "customers", "chunk", "seconds", "arm-draws/s", "x scaled main run"])
        for prop, t_ref in ((False, t_off), (True, t_on)):
            t, rows_out = C.best_of(lambda: chunked(prop), args.chunked_repeats)
            assert rows_out == big_n
            C.progress(f"chunked {big_n:,}, propensity={prop}: {t:.1f} s")
            chunk_table.add(f"rank chunked, propensity={prop}", big_n, chunk, t, big_n * n_arms / t,
                            C.ratio(t, t_ref * big_n / n))

    print()
    table.print()
    if chunk_table is not None:
        print()
        chunk_table.print()
    print()
    for line in notes:
        print(f"# {line}")
    tables = {"rank": table}
    if chunk_table is not None:
        tables["chunked"] = chunk_table
    C.write_json(C.json_path(NAME, args), NAME, info,
                 {"n": n, "n_arms": n_arms, "repeats": args.repeats, "monte_carlo_draws": m_mc,
                  "mc_n": n_mc, "exact_n": n_ex,
                  "chunked_n": None if chunk_table is None else args.chunked_n, "chunk": args.chunk,
                  "now": str(C.NOW)}, tables, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
