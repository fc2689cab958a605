"""The send history's encoding: ``HISTORY_SLOTS`` sends per customer, as int32 minutes since the epoch.

Caps and the minimum gap read each customer's latest sends from two arrays of
the store, ``history_min`` (the minute of each send, rounded up by
:func:`minutes_up` so caps and gaps never come short) and ``history_channel``;
an empty slot holds :data:`HISTORY_EMPTY`.
"""

from __future__ import annotations

import numpy as np

from channelopt import kernels as K

__all__ = ["HISTORY_EMPTY", "HISTORY_SLOTS", "NS_PER_MIN", "minutes_up"]

#: Sends remembered per customer for caps and the minimum gap (a cap allows at most this many).
HISTORY_SLOTS = 8

#: Empty slot of the send history (minutes since the epoch, int32).
HISTORY_EMPTY = np.iinfo(np.int32).min
#: Nanoseconds per minute.
NS_PER_MIN = 60 * 10**9


def minutes_up(ns: np.ndarray) -> np.ndarray:
    """Send times as int32 minutes since the epoch, rounded up (so caps and gaps never come short).

    Examples
    --------
    >>> minutes_up(np.array([0, 1, NS_PER_MIN])).tolist()
    [0, 1, 1]
    """
    ns = np.asarray(ns, dtype=np.int64)
    if ns.size >= 4096:  # a log: one compiled pass; a single send: numpy, no thread start-up
        return K.ceil_minutes(np.ascontiguousarray(ns))
    return (-((-ns) // NS_PER_MIN)).astype(np.int32)
