"""Issue 14 part 6's scenario: ``partial_fit`` every hour of only the rows new since the last call.

A simulated log (834 sends a day for 10 days: 8,340 sends) is exported hourly the way a
streaming job sees it: the rows sent in the last hour, plus the rows of earlier sends whose
reply came in the last hour (the same send row, ``responded_at`` filled). Prints the sends
counted by the stream, with the pending buffer off (``MAX_PENDING = 0``: the behaviour before
it existed) and on, against one ``fit`` of the whole log at the end.

Run: ``PYTHONPATH=src python scripts/stream_hourly.py``
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

import channelopt as co
from channelopt.sim import UniformPolicy, make_population, simulate_logs
from channelopt.state import pending as P

START = pd.Timestamp("2026-11-02", tz="UTC")


def known_at(logs: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    out = logs[logs["sent_at"] <= t].copy()
    out.loc[out["responded_at"] > t, "responded_at"] = pd.NaT
    return out


def stream(space: co.ArmSpace, logs: pd.DataFrame, times: pd.DatetimeIndex) -> tuple[co.ChannelModel, float]:
    m = co.ChannelModel(space, seed=1)
    before = None
    tic = time.perf_counter()
    for t in times:
        now = known_at(logs, t)
        if before is not None:
            fresh = now["sent_at"] > before
            now = now[fresh | (~fresh & (now["responded_at"] > before))]
        if len(now) or before is not None:  # an hour without rows still moves the clock
            m.partial_fit(now, as_of=t)
        before = t
    return m, (time.perf_counter() - tic) / len(times)


def main() -> None:
    space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "friendly"])
    population = make_population(space, 5000, seed=3)
    logs = simulate_logs(population, UniformPolicy(space, seed=3), start=START, days=10, sends_per_day=834, seed=3)
    end = START + pd.Timedelta(days=10)
    times = pd.date_range(START + pd.Timedelta(hours=1), end, freq="h")
    once = co.ChannelModel(space, seed=1).fit(known_at(logs, end), as_of=end)
    print(f"log: {len(logs):,} sends, {int(logs['responded_at'].notna().sum()):,} replies; "
          f"{len(times)} hourly partial_fit calls")
    print(f"one fit at the end:       counted {once.state_.counts['counted']:,} "
          f"(responses {once.state_.counts['responses']:,}), pending {once.state_.pending.n_pending:,}")
    limit = P.MAX_PENDING
    try:
        P.MAX_PENDING = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            off, _ = stream(space, logs, times)
        print(f"stream, buffer off:       counted {off.state_.counts['counted']:,} "
              f"({len(caught)} warnings about dropped pending sends)")
    finally:
        P.MAX_PENDING = limit
    on, per_call = stream(space, logs, times)
    s = on.state_
    print(f"stream, buffer on:        counted {s.counts['counted']:,} (responses {s.counts['responses']:,}), "
          f"pending {s.pending.n_pending:,}, buffer {len(s.pending):,} entries; {per_call * 1e3:.1f} ms per call")
    ids_a, ids_b = s.index.ids(), once.state_.index.ids()
    a = np.asarray(s.sends)[np.argsort(ids_a)]
    b = np.asarray(once.state_.sends)[np.argsort(ids_b)]
    print(f"max |sends(stream) - sends(fit)| = {float(np.abs(a - b).max()):.2e} "
          f"(largest value {float(b.max()):.3f})")


if __name__ == "__main__":
    main()
