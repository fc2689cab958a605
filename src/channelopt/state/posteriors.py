"""The Beta posteriors decisions draw from, as arrays: one computation for ``explain`` and
``ChannelModel.posteriors``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from channelopt.kernels.smoothing import circular_smooth

__all__ = ["posterior_arrays", "posterior_frame"]


def posterior_arrays(st: Any, rows: np.ndarray, groups: np.ndarray, smooth: np.ndarray, hour_span: tuple[int, int] | None
                     ) -> tuple[np.ndarray, ...]:
    """``(sends, responses, prior_alpha, prior_beta, alpha, beta)``, each float64 ``[len(rows), n_arms]``,
    for state rows ``rows`` (-1: unknown customer, no evidence) under prior rows ``groups``."""
    rows = np.asarray(rows, dtype=np.int64)
    known = rows >= 0
    n_arms = st.sends.shape[1]
    sends = np.zeros((rows.shape[0], n_arms))
    responses = np.zeros((rows.shape[0], n_arms))
    sends[known] = st.sends[rows[known]]
    responses[known] = st.responses[rows[known]]
    s_eff, k_eff = sends.copy(), responses.copy()
    if hour_span is not None and smooth.shape[0] > 1:
        lo, hi = hour_span
        s_eff[:, lo:hi], k_eff[:, lo:hi] = (circular_smooth(x[:, lo:hi], smooth) for x in (sends, responses))
    pa, pb = (t[groups] for t in st.prior_tables)
    return sends, responses, pa, pb, pa + k_eff, pb + np.maximum(s_eff - k_eff, 0.0)


def posterior_frame(ids: Any, arrays: tuple[np.ndarray, ...], dimensions: np.ndarray, arms: np.ndarray,
                    level: float) -> pd.DataFrame:
    """Long table, one row per customer x arm, of the arrays of :func:`posterior_arrays`."""
    sends, responses, pa, pb, alpha, beta = arrays
    n, n_arms = alpha.shape
    tail = (1 - level) / 2
    a, b = alpha.ravel(), beta.ravel()
    return pd.DataFrame({
        "customer_id": np.repeat(np.asarray(ids, dtype=object), n_arms),
        "dimension": np.tile(dimensions, n), "arm": np.tile(arms, n),
        "sends": sends.ravel(), "responses": responses.ravel(), "prior_mean": (pa / (pa + pb)).ravel(),
        "alpha": a, "beta": b, "mean": a / (a + b),
        "ci_low": stats.beta.ppf(tail, a, b), "ci_high": stats.beta.ppf(1 - tail, a, b),
    })
