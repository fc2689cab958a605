"""Repeated log rows within one ingestion, and the clock check of a default ``as_of``.

A log without ``event_id`` has no name for its sends, so a row repeated by an
export (a join that fans out, a file appended twice) would count twice. Rows
identical in every column the model reads -- ``customer_id``, ``sent_at``,
``responded_at``, the arm columns (channel, wording, extra dimensions; the local
hour and weekday from ``sent_at`` and ``tz``), ``unsubscribed`` and
``complained`` -- are one send: the first is kept, the others are dropped,
within a chunk and across the chunks of one fit (``last_fit_["duplicates"]``
counts them). With an ``event_id`` column the ids decide instead: a repeated
id is an error, and rows with different ids are different sends.

Rows are keyed by two independent 64-bit hashes (128 bits) of those columns.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from channelopt import kernels as K
from channelopt.data.schema import EncodedLogs
from channelopt.kernels import grouping as G
from channelopt.state.index import encode_ids

__all__ = ["row_keys", "drop_repeats", "SeenRows", "FUTURE_TOLERANCE_NS", "wall_clock_ns", "check_default_as_of"]

#: How far past the wall clock the latest timestamp of a log may lie when ``as_of`` is not given.
FUTURE_TOLERANCE_NS = 86_400 * 10**9

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_SALT = np.uint64(0xD6E8FEB86659FD93)


def _mix(h: np.ndarray, x: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Fold the column ``x`` (any int dtype, viewed as uint64) into the running hashes ``h``."""
    with np.errstate(over="ignore"):
        z = h ^ (x.astype(np.int64).view(np.uint64) + salt) * _M1
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        return z ^ (z >> np.uint64(31))


def row_keys(enc: EncodedLogs) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row's content (see the module docstring)."""
    _, offsets, data = encode_ids(enc.customer_id, "customer_id", row_offset=enc.row_offset)
    keys = []
    for h, salt in ((K.hash_many(offsets, data), np.uint64(0)), (G.second_hashes(offsets, data), _SALT)):
        cols = [enc.sent_ns, enc.responded_ns, *enc.arms.T, enc.unsubscribed, enc.complained]
        for j, col in enumerate(cols):
            h = _mix(h, np.asarray(col), salt + np.uint64(j + 1))
        keys.append(h)
    return keys[0], keys[1]


def take_rows(enc: EncodedLogs, rows: np.ndarray) -> EncodedLogs:
    """The rows ``rows`` (sorted positions) of an encoded chunk."""
    return replace(
        enc, customer_id=enc.customer_id.iloc[rows].reset_index(drop=True), sent_ns=enc.sent_ns[rows],
        responded_ns=enc.responded_ns[rows], arms=np.ascontiguousarray(enc.arms[rows]),
        unsubscribed=enc.unsubscribed[rows], complained=enc.complained[rows], propensity=enc.propensity[rows],
        zone_codes=enc.zone_codes[rows], tz_known=enc.tz_known[rows],
        segment_codes=None if enc.segment_codes is None else enc.segment_codes[rows])


class SeenRows:
    """The row keys of the chunks taken so far (sorted by the first hash)."""

    def __init__(self) -> None:
        self.k1 = np.zeros(0, dtype=np.uint64)
        self.k2 = np.zeros(0, dtype=np.uint64)

    def contains(self, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
        """Whether each key was seen in an earlier chunk."""
        out = np.zeros(k1.shape[0], dtype=bool)
        if not self.k1.size:
            return out
        lo = np.searchsorted(self.k1, k1, side="left")
        hi = np.searchsorted(self.k1, k1, side="right")
        one = hi - lo == 1
        out[one] = self.k2[lo[one]] == k2[one]
        for i in np.flatnonzero(hi - lo > 1):  # equal first hashes of different rows: astronomically rare
            out[i] = bool((self.k2[lo[i]:hi[i]] == k2[i]).any())
        return out

    def add(self, k1: np.ndarray, k2: np.ndarray) -> None:
        both1 = np.concatenate([self.k1, k1])
        order = np.argsort(both1, kind="stable")
        self.k1, self.k2 = both1[order], np.concatenate([self.k2, k2])[order]


def drop_repeats(enc: EncodedLogs, seen: SeenRows) -> tuple[EncodedLogs, int]:
    """``enc`` without the rows repeated within it or seen in an earlier chunk, and how many were dropped."""
    k1, k2 = row_keys(enc)
    codes, first = G.factorize_hashes(k1, k2)
    keep = np.zeros(len(enc), dtype=bool)
    keep[first] = True
    old = seen.contains(k1[first], k2[first])
    keep[first[old]] = False
    new = first[~old]
    seen.add(k1[new], k2[new])
    n_drop = len(enc) - int(new.size)
    if not n_drop:
        return enc, 0
    return take_rows(enc, np.flatnonzero(keep)), n_drop


def wall_clock_ns() -> int:
    """The current time in UTC ns (a function, so tests can move the clock)."""
    return time.time_ns()


def check_default_as_of(enc: EncodedLogs, clock_ns: int) -> None:
    """Refuse a chunk whose latest timestamp would put a default ``as_of`` more than a day in the future."""
    limit = clock_ns + FUTURE_TOLERANCE_NS
    for column, ns in (("sent_at", enc.sent_ns), ("responded_at", enc.responded_ns)):
        late = np.flatnonzero(ns > limit)
        if late.size:
            pos = int(late[np.argmax(ns[late])])
            raise ValueError(
                f"logs: column {column!r}: {pd.Timestamp(int(ns[pos]), tz='UTC')} in row {pos + enc.row_offset} is "
                "more than 1 day after the current time; the default as_of (the latest timestamp in the logs) "
                "would move the model's watermark there and every later partial_fit would be refused: "
                "pass as_of explicitly")
