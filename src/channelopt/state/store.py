"""PosteriorStore: customer index, additive decayed statistics, priors, watermark, on-disk format.

A :class:`PosteriorStore` is an immutable snapshot of everything learned: a fit
or partial fit builds a new one by :class:`~channelopt.state.ingest.Ingestion`
(whose docstring states the ingestion rule: exactly-once by watermark, late
rows, decay), and contact events copy it with new arrays
(:mod:`channelopt.state.ledger`). :meth:`PosteriorStore.save` and
:meth:`PosteriorStore.load` write and read it as a directory of ``.npy``
arrays and a manifest (:mod:`channelopt.state.persist`), checking every field
and invariant on load (:mod:`channelopt.state.format`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.values import short
from channelopt.data.schema import segment_text_codes
from channelopt.data.tz import LATENCY_EDGES_S, NAT
from channelopt.state.format import check_fields, check_invariants
from channelopt.state.history import HISTORY_EMPTY, HISTORY_SLOTS, minutes_up
from channelopt.state.index import CustomerIndex
from channelopt.state.pending import PendingSends, check_pending
from channelopt.state.persist import MANIFEST, read_directory, version_directory, write_directory

__all__ = ["FORMAT_VERSION", "PosteriorStore"]

FORMAT_VERSION = 6
#: Older format versions :meth:`PosteriorStore.load` still reads (missing arrays get their defaults;
#: version 3 and earlier held int64 ns times, row-order id hashes and an int64 id order; version 4
#: and earlier have no manifest checksum; version 5 and earlier have no ``squared_weights``, which
#: load as ``sends``: every stored send counts as a whole one in the next prior fit).
READABLE_VERSIONS = (2, 3, 4, 5, 6)


@dataclass(frozen=True)
class PosteriorStore:
    """Immutable snapshot of everything learned; a fit builds a new one.

    Attributes
    ----------
    sends, responses : float32 (n_customers, n_arms)
        Decayed sufficient statistics as of ``watermark_ns``.
    squared_weights : float32 (n_customers, n_arms)
        Decayed sum of the squared weights of the sends (``sum(w ** 2)``; it decays
        by the square of the sends' factor), so that the prior fit counts a customer
        as ``sends ** 2 / squared_weights`` effective sends
        (:mod:`channelopt.state.priors`). Equal to ``sends`` without decay; when not
        given (files before format version 6, hand-made stores) it is ``sends``.
    unsubscribed, complained : uint32 (n_customers,)
        Bit ``c`` set when the customer unsubscribed / complained on channel ``c``.
    last_complaint_min : int32 (n_customers,)
        Send time of the latest complained message, minutes since the epoch
        rounded up as in the send history (``HISTORY_EMPTY`` when none).
    last_sent_min : int32 (n_customers,)
        Latest send with a known ``tz`` seen for the customer, minutes rounded
        up (``HISTORY_EMPTY`` when none); within one minute the larger zone name wins.
    zone : uint16 (n_customers,)
        Index into ``zones`` of the customer's time zone, from the ``tz`` of their
        latest send that names one (0 = the model's default zone).
    prior_alpha, prior_beta : float64 (n_arms,)
        Population prior per arm (empirical Bayes).
    consent : uint32 (n_customers,)
        Bit ``c`` set when consent for channel ``c`` is recorded (see
        :meth:`channelopt.ChannelModel.update_consent`); an unsubscription revokes it.
    history_min, history_channel : int32, int8 (n_customers, HISTORY_SLOTS)
        The customer's latest sends (minutes since the epoch, channel), for
        frequency caps and the minimum gap; empty slots hold ``HISTORY_EMPTY``.
    latency : float64 (n_channels, 64)
        Counts of reply latencies per channel on the grid of :mod:`channelopt.policy.slots`.
    latency_segment : float64 (n_segments, n_channels, 64)
        The same per customer segment (the log's optional ``segment`` column), for
        the segments named in ``segments``.
    segments : tuple of str
        Names of the segments seen in the logs' ``segment`` column (as text).
    segment : int16 (n_customers,)
        Index into ``segments`` of the customer's segment, from their latest
        send that names one (-1: none; the population prior applies).
    segment_alpha, segment_beta : float64 (n_segments, n_arms)
        Prior of every segment (empirical Bayes, shrunk toward the population
        prior; a segment too small for its own fit holds the population prior).
    pending : PendingSends
        The sends pending at the watermark (counted by a later ingestion) and the
        recently counted ones (see :mod:`channelopt.state.pending`).
    """

    space: ArmSpace
    index: CustomerIndex
    sends: np.ndarray
    responses: np.ndarray
    unsubscribed: np.ndarray
    complained: np.ndarray
    last_complaint_min: np.ndarray
    prior_alpha: np.ndarray
    prior_beta: np.ndarray
    last_sent_min: np.ndarray
    zone: np.ndarray
    zones: tuple[str, ...]
    consent: np.ndarray
    history_min: np.ndarray
    history_channel: np.ndarray
    latency: np.ndarray
    watermark_ns: int = int(NAT)
    counts: dict[str, int] = field(default_factory=dict)
    latency_segment: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, LATENCY_EDGES_S.size)))
    segments: tuple[str, ...] = ()
    segment: np.ndarray | None = None
    segment_alpha: np.ndarray | None = None
    segment_beta: np.ndarray | None = None
    pending: PendingSends | None = None
    squared_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.pending is None:  # nothing kept: nothing is known of the sends counted before the watermark
            object.__setattr__(self, "pending", PendingSends.empty(len(self.space.dimensions), self.watermark_ns))
        if self.squared_weights is None:  # whole sends (no decay, older files): q = n
            object.__setattr__(self, "squared_weights", self.sends)
        if self.squared_weights.shape != self.sends.shape:
            raise ValueError(f"squared_weights: shape {self.squared_weights.shape}, "
                             f"expected that of sends {self.sends.shape}")
        # stores built without segments (older files, hand-made stores): nobody has one
        if self.segment is None:
            object.__setattr__(self, "segment", np.full(self.sends.shape[0], -1, dtype=np.int16))
        if self.segment.shape[0] != self.sends.shape[0]:
            raise ValueError(f"segment: {self.segment.shape[0]} rows for {self.sends.shape[0]} customers")
        n_seg = len(self.segments)
        for name, prior in (("segment_alpha", self.prior_alpha), ("segment_beta", self.prior_beta)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.tile(np.asarray(prior, dtype=np.float64), (n_seg, 1)))

    @classmethod
    def empty(cls, space: ArmSpace, default_tz: str) -> "PosteriorStore":
        n_arms = space.n_arms
        z32 = np.zeros((0, n_arms), dtype=np.float32)
        prior = np.ones(n_arms, dtype=np.float64)
        return cls(space, CustomerIndex.empty(), z32, z32.copy(), np.zeros(0, np.uint32), np.zeros(0, np.uint32),
                   np.zeros(0, np.int32), prior, prior.copy(), np.zeros(0, np.int32), np.zeros(0, np.uint16),
                   (default_tz,), np.zeros(0, np.uint32), np.zeros((0, HISTORY_SLOTS), np.int32),
                   np.zeros((0, HISTORY_SLOTS), np.int8), np.zeros((len(space.channels), LATENCY_EDGES_S.size)),
                   int(NAT), {})

    @property
    def n_customers(self) -> int:
        return len(self.index)

    @cached_property
    def prior_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Prior ``(alpha, beta)`` tables ``[1 + n_segments, n_arms]`` (C-contiguous float64):
        row 0 the population, row ``1 + s`` segment ``s``."""
        a = np.ascontiguousarray(np.vstack([np.asarray(self.prior_alpha, dtype=np.float64)[None, :],
                                            np.asarray(self.segment_alpha, dtype=np.float64)]))
        b = np.ascontiguousarray(np.vstack([np.asarray(self.prior_beta, dtype=np.float64)[None, :],
                                            np.asarray(self.segment_beta, dtype=np.float64)]))
        return a, b

    def prior_groups(self, rows: np.ndarray, segments: np.ndarray | None = None) -> np.ndarray:
        """Row of :attr:`prior_tables` for each state row (-1: unknown customer: the population).

        ``segments`` (optional, int, one per row, -1 = not given) overrides the
        stored segment: an index into :attr:`segments` (see :meth:`segment_codes`).
        """
        rows = np.asarray(rows, dtype=np.int64)
        seg = np.full(rows.shape[0], -1, dtype=np.int64)
        known = rows >= 0
        seg[known] = self.segment[rows[known]]
        if segments is not None:
            given = np.asarray(segments, dtype=np.int64) >= 0
            seg[given] = np.asarray(segments, dtype=np.int64)[given]
        return seg + 1

    def segment_codes(self, values: Any) -> np.ndarray:
        """Index into :attr:`segments` of each value (compared as text, like the log's
        ``segment`` column); -1 for a missing value or a segment the model has not seen."""
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        codes, names = segment_text_codes(series)
        known = {name: i for i, name in enumerate(self.segments)}
        lookup = np.array([known.get(name, -1) for name in names] + [-1], dtype=np.int64)
        return lookup[codes]  # code -1 (null) picks the trailing -1

    def posterior(self, row: int, group: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, beta)`` of every arm for one row (-1: the prior), under prior row ``group``
        of :attr:`prior_tables` (default: the row's own segment)."""
        g = int(self.prior_groups(np.array([row]))[0]) if group is None else int(group)
        pa, pb = self.prior_tables
        if row < 0:
            return pa[g].copy(), pb[g].copy()
        s = self.sends[row].astype(np.float64)
        k = self.responses[row].astype(np.float64)
        return pa[g] + k, pb[g] + np.maximum(s - k, 0.0)

    # -- persistence ----------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {"sends": self.sends, "responses": self.responses, "squared_weights": self.squared_weights,
               "unsubscribed": self.unsubscribed,
               "complained": self.complained, "last_complaint_min": self.last_complaint_min,
               "prior_alpha": self.prior_alpha, "prior_beta": self.prior_beta, "last_sent_min": self.last_sent_min,
               "zone": self.zone, "consent": self.consent, "history_min": self.history_min,
               "history_channel": self.history_channel, "latency": self.latency,
               "latency_segment": self.latency_segment if self.latency_segment.shape[0] else
               np.zeros((0, len(self.space.channels), LATENCY_EDGES_S.size)),
               "segment": self.segment, "segment_alpha": self.segment_alpha, "segment_beta": self.segment_beta}
        out.update(self.pending.arrays())
        out.update(self.index.arrays())
        return out

    def save(self, path: Any, extra: dict[str, Any], *, key: Any = None) -> None:
        """Write the store (and ``extra`` manifest entries) to directory ``path``, atomically
        (``key``: sign the manifest with an HMAC, see :func:`channelopt.state.persist.write_directory`)."""
        manifest = {"format": "channelopt-model", "format_version": FORMAT_VERSION,
                    "space": self.space.to_dict(), "watermark_ns": int(self.watermark_ns),
                    "id_kind": self.index.kind, "n_customers": self.n_customers, "counts": dict(self.counts),
                    "zones": list(self.zones), "segments": list(self.segments),
                    "pending_since_ns": int(self.pending.since_ns)}
        manifest.update(extra)
        write_directory(path, self.arrays(), manifest, key=key)

    @classmethod
    def load(cls, path: Any, *, verify: bool = True, key: Any = None) -> tuple["PosteriorStore", dict[str, Any]]:
        """Read a store written by :meth:`save`; arrays are memory-mapped read-only.

        Every manifest field and every invariant the kernels rely on is checked
        (see :mod:`channelopt.state.format`); ``verify`` adds each array's checksum,
        ``key`` requires the manifest's HMAC."""
        manifest, arrays = read_directory(path, verify=verify, key=key, unchecked_ok=_before_checksums)
        mpath = version_directory(path) / MANIFEST
        if manifest.get("format") != "channelopt-model":
            raise ValueError(f"{path}: not a channelopt model (format {short(manifest.get('format'))})")
        version = manifest.get("format_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise ValueError(f"{path}: model format version {short(version)} is not supported "
                             f"(this channelopt reads versions {', '.join(map(str, READABLE_VERSIONS))})")
        check_fields(mpath, manifest)
        try:
            store = cls._from_manifest(path, manifest, arrays)
        except KeyError as exc:
            raise ValueError(f"{mpath}: field 'arrays' has no entry {exc}") from None
        check_invariants(path, store.arrays(), kind=store.index.kind, n_channels=len(store.space.channels),
                         n_zones=len(store.zones), n_segments=len(store.segments), verify=verify)
        check_pending(path, store.pending.arrays(), n_customers=store.n_customers, offsets=store.space.offsets,
                      n_segments=len(store.segments))
        return store, manifest

    @classmethod
    def _from_manifest(cls, path: Any, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> "PosteriorStore":
        try:
            space = ArmSpace.from_dict(manifest["space"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{version_directory(path) / MANIFEST}: field 'space' is not an arm space "
                             f"({short(str(exc))})") from None
        a = {k: np.asarray(v) for k, v in arrays.items()}  # plain ndarray views of the maps
        n, n_arms = int(manifest["n_customers"]), space.n_arms
        expected = {"sends": ((n, n_arms), np.float32), "responses": ((n, n_arms), np.float32),
                    "unsubscribed": ((n,), np.uint32), "complained": ((n,), np.uint32),
                    "last_complaint_min": ((n,), np.int32), "last_sent_min": ((n,), np.int32),
                    "zone": ((n,), np.uint16), "consent": ((n,), np.uint32),
                    "history_min": ((n, HISTORY_SLOTS), np.int32), "history_channel": ((n, HISTORY_SLOTS), np.int8),
                    "latency": ((len(space.channels), LATENCY_EDGES_S.size), np.float64),
                    "latency_segment": ((len(manifest["segments"]), len(space.channels), LATENCY_EDGES_S.size),
                                        np.float64), "prior_alpha": ((n_arms,), np.float64),
                    "prior_beta": ((n_arms,), np.float64), "id_offsets": ((n + 1,), np.int64),
                    "id_data": (None, np.uint8),
                    "id_sorted_hashes": ((n,), np.uint64), "id_order": ((n,), np.int32)}
        n_seg = len(manifest["segments"])
        if manifest["format_version"] <= 3:  # int64 ns times and id order: read, then narrowed below
            del expected["last_complaint_min"], expected["last_sent_min"]
            expected.update({"last_complaint_ns": ((n,), np.int64), "last_sent_ns": ((n,), np.int64),
                             "id_order": ((n,), np.int64)})
        if manifest["format_version"] >= 3:
            expected.update({"segment": ((n,), np.int16), "segment_alpha": ((n_seg, n_arms), np.float64),
                             "segment_beta": ((n_seg, n_arms), np.float64)})
        if manifest["format_version"] >= 6:
            expected["squared_weights"] = ((n, n_arms), np.float32)
        since = manifest.get("pending_since_ns", int(manifest["watermark_ns"]))
        if not isinstance(since, int) or isinstance(since, bool) or not -(2**63) <= since < 2**63:
            raise ValueError(f"{version_directory(path) / MANIFEST}: field 'pending_since_ns' must be a whole "
                             f"number of ns (int64), got {short(since)}")
        pending = PendingSends.from_arrays(a, len(space.dimensions), since)  # absent in older files: empty
        if "pending_row" in a:
            expected.update(pending.expected(len(space.dimensions)))
        for name, (shape, dtype) in expected.items():
            arr = a[name]
            if (shape is not None and arr.shape != shape) or arr.dtype != dtype:
                raise ValueError(f"{path}: array {name!r} is {arr.dtype} {arr.shape}, expected "
                                 f"{np.dtype(dtype)} {shape if shape is not None else '(any,)'}")
        zones = tuple(manifest["zones"])
        if manifest["format_version"] <= 3:
            for name in ("last_complaint", "last_sent"):
                ns = a.pop(f"{name}_ns")
                a[f"{name}_min"] = np.where(ns == NAT, HISTORY_EMPTY,
                                            minutes_up(np.where(ns == NAT, 0, ns))).astype(np.int32)
            if n and int(a["id_order"].max()) >= 2**31:
                raise ValueError(f"{path}: more than 2**31 customers")
            a["id_order"] = a["id_order"].astype(np.int32)
        index = CustomerIndex.from_arrays(manifest["id_kind"], a)
        return cls(space, index, a["sends"], a["responses"], a["unsubscribed"], a["complained"],
                   a["last_complaint_min"], a["prior_alpha"], a["prior_beta"], a["last_sent_min"], a["zone"],
                   zones, a["consent"], a["history_min"], a["history_channel"], a["latency"],
                   int(manifest["watermark_ns"]), dict(manifest.get("counts", {})), a["latency_segment"],
                   tuple(manifest["segments"]), a.get("segment"), a.get("segment_alpha"), a.get("segment_beta"),
                   pending, squared_weights=a.get("squared_weights") if manifest["format_version"] >= 6 else None)


def _before_checksums(manifest: dict[str, Any]) -> bool:
    """Manifests of format version 4 and earlier carry no checksum."""
    version = manifest.get("format_version")
    return isinstance(version, int) and not isinstance(version, bool) and version in READABLE_VERSIONS and version < 5
