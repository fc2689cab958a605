"""The Beta posterior of one arm: the one definition every kernel (decisions, win probabilities,
baselines) uses."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["posterior"]


@njit(cache=True, nogil=True, inline="always")
def posterior(r, j, sends, responses, prior_a, prior_b):
    """``(alpha, beta)`` of arm ``j`` for state row ``r`` (-1: the prior alone).

    ``Beta(prior_a + responses, prior_b + max(sends - responses, 0))``: the one
    definition every kernel (decisions, win probabilities, baselines) uses.
    """
    a = prior_a[j]
    b = prior_b[j]
    if r >= 0:
        s = np.float64(sends[r, j])
        k = np.float64(responses[r, j])
        a += k
        f = s - k
        if f > 0.0:
            b += f
    return a, b
