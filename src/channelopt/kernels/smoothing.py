"""Circular smoothing of the hour dimension: the weights and the convolution (numpy only).

The decision kernel applies the same weights inside numba
(:func:`channelopt.kernels.decide._smoothed_hours`); these are the array forms used by
``explain``, ``posteriors``, the reports and the offline evaluation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["circular_smooth", "hour_kernel"]


def hour_kernel(width: float) -> np.ndarray:
    """Weights of the circular hour smoothing: a Gaussian of ``width`` hours, 1 for the hour itself.

    A reply at 09:00 counts fully for 09:00 and as weaker evidence for the
    neighbouring hours (0.61 one hour away at width 1). Evidence is counted more
    than once (about 2.5 times at width 1), so the hour posteriors are somewhat
    overconfident: keep widths small (1-2 h).

    Examples
    --------
    >>> hour_kernel(0).tolist()
    [1.0]
    >>> w = hour_kernel(1.0); len(w), float(w[3]), round(float(w[2]), 3)
    (7, 1.0, 0.607)
    """
    if width <= 0:
        return np.ones(1)
    half = min(int(np.ceil(3 * width)), 11)
    k = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-0.5 * (k / width) ** 2)


def circular_smooth(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Circular convolution along the last axis of the hour statistics with the smoothing weights
    (as the decision kernel does)."""
    half = weights.shape[0] // 2
    return sum(w * np.roll(x, half - t, axis=-1) for t, w in enumerate(weights))
