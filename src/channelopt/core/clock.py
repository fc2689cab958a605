"""The clock: instants as int64 UTC nanoseconds and the decision round of an instant."""

from __future__ import annotations

import numpy as np

__all__ = ["NAT", "NS_PER_S", "round_of"]

NAT = np.iinfo(np.int64).min  # "no instant" in int64 ns arrays (pandas' NaT)
NS_PER_S = 1_000_000_000


def round_of(now_ns: int) -> np.uint64:
    """Decision round of an instant: whole seconds since the epoch (documented in the README).

    Every Thompson draw is keyed by ``(seed, round, customer, arm)``, so two
    decisions in the same second for the same customer draw the same values.

    Examples
    --------
    >>> int(round_of(1_700_000_000_999_999_999))
    1700000000
    """
    return np.uint64(now_ns // NS_PER_S & 0xFFFFFFFFFFFFFFFF)
