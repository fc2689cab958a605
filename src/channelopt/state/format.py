"""Checks of a saved model's manifest fields and of every invariant the kernels rely on.

A saved model reaches numba kernels that index without bound checks (the
single-decision path reads the arrays through their addresses), so a file that
breaks an invariant could crash the process. :func:`check_fields` checks every
manifest field the loader reads (type and range; one ValueError naming the
file and the field) and :func:`check_invariants` every property of the arrays
the kernels assume: the index's permutation, offsets and sorted hashes, codes
in range, finite non-negative statistics and finite positive priors. They run
on every load, with or without ``verify`` (which only adds the checksums).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from channelopt import kernels as K
from channelopt.core.config import check_zone
from channelopt.core.values import short

__all__ = ["check_fields", "check_invariants"]

_INT64 = (-(2**63), 2**63 - 1)
_MAX_CUSTOMERS = 2**31 - 1
_MAX_ZONES = 2**16
_MAX_SEGMENTS = 32767


def _bad(mpath: Path, field: str, problem: str, value: Any) -> ValueError:
    return ValueError(f"{mpath}: field {field!r} {problem}, got {short(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_fields(mpath: Path, manifest: dict[str, Any]) -> None:
    """Type and range of every top-level manifest field the loader reads (not ``space``,
    ``config``, ``policy`` and ``contacts``, which their own ``from_dict`` checks)."""
    n = manifest.get("n_customers")
    if not _is_int(n) or not 0 <= n <= _MAX_CUSTOMERS:
        raise _bad(mpath, "n_customers", f"must be a whole number in [0, {_MAX_CUSTOMERS}]", n)
    w = manifest.get("watermark_ns")
    if not _is_int(w) or not _INT64[0] <= w <= _INT64[1]:
        raise _bad(mpath, "watermark_ns", "must be a whole number of ns (int64)", w)
    kind = manifest.get("id_kind")
    if kind not in ("int", "str", None) or (kind is None and n):
        raise _bad(mpath, "id_kind", "must be 'int' or 'str' (null only for an empty model)", kind)
    zones = manifest.get("zones")
    if not isinstance(zones, list) or not 1 <= len(zones) <= _MAX_ZONES:
        raise _bad(mpath, "zones", f"must be a list of 1 to {_MAX_ZONES} zone names", zones)
    for i, z in enumerate(zones):
        check_zone(z, f"{mpath}: field 'zones[{i}]'")
    segments = manifest.get("segments")
    if not isinstance(segments, list) or len(segments) > _MAX_SEGMENTS or not all(isinstance(s, str) for s in segments):
        raise _bad(mpath, "segments", f"must be a list of at most {_MAX_SEGMENTS} names", segments)
    counts = manifest.get("counts", {})
    if not isinstance(counts, dict) or not all(isinstance(k, str) and _is_int(v) for k, v in counts.items()):
        raise _bad(mpath, "counts", "must be an object of whole numbers", counts)
    last_fit = manifest.get("last_fit", {})
    if not isinstance(last_fit, dict):
        raise _bad(mpath, "last_fit", "must be an object", last_fit)
    for name in ("space", "config"):
        if not isinstance(manifest.get(name), dict):
            raise _bad(mpath, name, "must be an object", manifest.get(name))


def _all(where: str, ok: Any, problem: str) -> None:
    if not bool(ok):
        raise ValueError(f"{where} {problem}")


def check_invariants(path: Any, a: dict[str, np.ndarray], *, kind: str | None, n_channels: int, n_zones: int,
                     n_segments: int, verify: bool) -> None:
    """Every invariant of the arrays ``a`` (already of the expected dtypes and shapes) the kernels rely on.

    With ``verify`` the index's hashes are also recomputed from the ids (a
    wrong hash only loses look-ups) and the statistics ``sends``/``responses``/``squared_weights``
    are checked finite and >= 0 (reading them whole, as the checksums do).

    Examples
    --------
    >>> a = {"id_offsets": np.array([0, 8]), "id_data": np.zeros(8, np.uint8),
    ...      "id_sorted_hashes": np.zeros(1, np.uint64), "id_order": np.array([1], np.int32)}
    >>> check_invariants("m", a, kind="int", n_channels=1, n_zones=1, n_segments=0, verify=False)
    Traceback (most recent call last):
    ...
    ValueError: m: array 'id_order' is not a permutation of the rows 0..0
    """
    n = a["id_order"].shape[0]
    order = a["id_order"]
    w = f"{path}: array"
    if n:
        _all(f"{w} 'id_order'", int(order.min()) >= 0 and int(order.max()) < n
             and bool((np.bincount(order, minlength=n) == 1).all()), f"is not a permutation of the rows 0..{n - 1}")
    offsets, data = a["id_offsets"], a["id_data"]
    steps = np.diff(offsets)
    _all(f"{w} 'id_offsets'", offsets[0] == 0 and offsets[-1] == data.shape[0] and bool((steps >= 0).all()),
         f"must rise from 0 to the {data.shape[0]} id bytes")
    if kind == "int":
        _all(f"{w} 'id_offsets'", bool((steps == 8).all()), "must step by 8 for integer ids")
    hashes = a["id_sorted_hashes"]
    _all(f"{w} 'id_sorted_hashes'", bool((hashes[1:] >= hashes[:-1]).all()), "is not sorted")
    if verify and n:
        recomputed = K.hash_many(np.ascontiguousarray(offsets), np.ascontiguousarray(data))
        _all(f"{w} 'id_sorted_hashes'", bool((recomputed[order] == hashes).all()), "does not match the ids")
    if n:
        _all(f"{w} 'zone'", int(a["zone"].max()) < n_zones, f"refers to zone {int(a['zone'].max())}, "
             f"manifest lists {n_zones}")
        seg = a["segment"]
        _all(f"{w} 'segment'", int(seg.min()) >= -1 and int(seg.max()) < n_segments,
             f"refers to segment {int(seg.min()) if int(seg.min()) < -1 else int(seg.max())}, "
             f"manifest lists {n_segments}")
        hc = a["history_channel"]
        _all(f"{w} 'history_channel'", int(hc.min()) >= -1 and int(hc.max()) < n_channels,
             f"names a channel outside 0..{n_channels - 1}")
    # the statistics are read whole only with verify (a wrong value there gives wrong numbers, not a crash:
    # the kernels clamp the failure count at 0 and every prior is checked positive below)
    for name in (("sends", "responses", "squared_weights") if verify else ()) + ("latency", "latency_segment"):
        x = a[name]  # NaN fails both comparisons
        _all(f"{w} {name!r}", bool((x >= 0).all()) and bool((x < np.inf).all()), "must be finite and >= 0")
    for name in ("prior_alpha", "prior_beta", "segment_alpha", "segment_beta"):
        x = a[name]
        _all(f"{w} {name!r}", bool((x > 0).all()) and bool((x < np.inf).all()), "must be finite and > 0")
