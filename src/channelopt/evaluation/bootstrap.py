"""Percentile bootstrap intervals of the off-policy estimators (:func:`bootstrap_ci`).

Rows are resampled with replacement with ``numpy.random.default_rng(seed)``.
For :func:`~channelopt.evaluation.estimators.ips`,
:func:`~channelopt.evaluation.estimators.snips` and
:func:`~channelopt.evaluation.estimators.dr` every resample is a ratio of sums
of per-row terms, so the resampling is vectorised (in chunks of about two
million drawn rows); any other estimator is called once per resample. Both
paths draw the same indices and give the same result.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from channelopt.core.validation import check_scalar
from channelopt.evaluation.estimators import check_clip, dr, importance_weights, ips, snips

__all__ = ["bootstrap_ci", "check_boot"]


def bootstrap_ci(estimator: Callable[..., float], *arrays: Any, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, **kwargs: Any) -> tuple[float, float, float]:
    """Estimate and percentile-bootstrap interval of ``estimator(*arrays, **kwargs)``.

    Rows (the same positions in every array) are resampled with replacement
    ``n_boot`` times with ``numpy.random.default_rng(seed)``; the interval is
    the central ``level`` range of the resampled estimates (NaN resamples,
    e.g. SNIPS with no weight, are ignored). For :func:`ips`, :func:`snips`
    and :func:`dr` the resampling is vectorised (same draws, same result as the
    generic path).

    Parameters
    ----------
    estimator : callable
        E.g. :func:`ips`, :func:`snips`, :func:`dr` or ``numpy.mean``.
    *arrays : array (n,)
        Its positional arguments, one value per row.
    n_boot : int, default 1000
    level : float, default 0.95
    seed : int, default 0
    **kwargs
        Passed to the estimator (e.g. ``clip=``).

    Returns
    -------
    (estimate, low, high) : tuple of float

    Examples
    --------
    >>> est, low, high = bootstrap_ci(ips, [1, 0, 1, 0] * 25, [0.5] * 100, [0.5] * 100, n_boot=200, seed=1)
    >>> est, bool(low < 0.5 < high)
    (0.5, True)
    """
    check_boot(n_boot, level)
    if not arrays:
        raise ValueError("arrays: the estimator needs at least one array")
    arrs = [np.asarray(a) for a in arrays]
    for k, a in enumerate(arrs):
        if a.ndim != 1:
            raise ValueError(f"arrays: argument {k} is not 1-D (shape {a.shape})")
        if a.shape[0] != arrs[0].shape[0]:
            raise ValueError(f"arrays: argument {k} has {a.shape[0]} values, argument 0 has {arrs[0].shape[0]}")
    n = arrs[0].shape[0]
    estimate = float(estimator(*arrs, **kwargs))  # validates the arguments
    rng = np.random.default_rng(seed)
    stats = np.empty(int(n_boot))
    fast = _fast_terms(estimator, arrs, kwargs)
    if fast is not None:
        num, den = fast
        chunk = max(1, 2_000_000 // max(n, 1))
        for b0 in range(0, int(n_boot), chunk):
            b1 = min(int(n_boot), b0 + chunk)
            idx = rng.integers(0, n, size=(b1 - b0, n))
            top = num[idx].sum(axis=1)
            bottom = den[idx].sum(axis=1) if den is not None else np.full(b1 - b0, float(n))
            with np.errstate(invalid="ignore", divide="ignore"):
                stats[b0:b1] = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)
    else:
        for b in range(int(n_boot)):
            idx = rng.integers(0, n, size=n)
            stats[b] = float(estimator(*[a[idx] for a in arrs], **kwargs))
    finite = stats[~np.isnan(stats)]
    if finite.size == 0:
        return estimate, float("nan"), float("nan")
    tail = (1.0 - float(level)) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return estimate, float(low), float(high)


def check_boot(n_boot: Any, level: Any) -> None:
    """Check the bootstrap's ``n_boot`` (an integer >= 1) and ``level`` (a number in (0, 1)).

    Examples
    --------
    >>> check_boot(1000, 0.95)
    >>> check_boot(0, 0.95)
    Traceback (most recent call last):
    ...
    ValueError: n_boot: must be an integer >= 1, got 0
    """
    check_scalar(n_boot, "n_boot", int, min_val=1)
    check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")


def _fast_terms(estimator: Any, arrs: list[np.ndarray],
                kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per-row numerator (and denominator) terms of the estimators whose resamples are ratios of sums."""
    if estimator not in (ips, snips, dr) or set(kwargs) - {"clip"}:
        return None
    clip = check_clip(kwargs.get("clip"))
    if estimator is dr:
        if len(arrs) != 5:
            return None
        r, lp, tp, ql, qt = (a.astype(np.float64) for a in arrs)
        return qt + importance_weights(lp, tp, clip) * (r - ql), None
    if len(arrs) != 3:
        return None
    r, lp, tp = (a.astype(np.float64) for a in arrs)
    w = importance_weights(lp, tp, clip)
    return (w * r, w) if estimator is snips else (w * r, None)
