"""What a fitted model would do on the logged rows: target propensities, posterior means and ``q`` under it.

The target propensity of a logged action is the product over the evaluated
dimensions of the exact Thompson win probability of the logged arm
(:func:`channelopt.kernels.win.win_probabilities`), with the hour statistics
smoothed as the model's decisions smooth them (:func:`hour_weights`). With a
:class:`~channelopt.evaluation.reward_model.RewardModel`, ``q`` under the
target is the expectation of the reward model under the target's independent
per-dimension arm distribution, exact thanks to its log link. Customers are
processed in batches of 65536, which bounds the memory on big logs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from channelopt.evaluation.resolve import Resolved
from channelopt.evaluation.reward_model import RewardModel
from channelopt.kernels.smoothing import circular_smooth, hour_kernel
from channelopt.kernels.win import win_probabilities
from channelopt.policy.exploration import effective_exploration

__all__ = ["effective_exploration", "hour_weights", "logged_posterior_mean", "posterior_mean", "target_terms"]

_CHUNK = 65536  # customers per win-probability batch (bounds memory on big logs)


def posterior_mean(state: Any, rows: np.ndarray, hour_weights: np.ndarray | None) -> np.ndarray:
    """Posterior mean of every arm for each state row (-1: the prior), float64 ``[n, n_arms]``,
    with the hour statistics smoothed as the model's decisions smooth them.

    Examples
    --------
    >>> from channelopt import ArmSpace, PosteriorStore
    >>> state = PosteriorStore.empty(ArmSpace(channels=["email", "sms"], hours=False, weekdays=False), "UTC")
    >>> posterior_mean(state, np.array([-1]), None).tolist()   # the prior Beta(1, 1)
    [[0.5, 0.5]]
    """
    tables_a, tables_b = state.prior_tables
    group = state.prior_groups(rows)
    pa, pb = tables_a[group], tables_b[group]  # each customer's own (segment) prior
    s = np.zeros(pa.shape)
    k = np.zeros(pa.shape)
    known = np.flatnonzero(rows >= 0)
    if known.size:
        s[known] = np.asarray(state.sends[rows[known]], dtype=np.float64)
        k[known] = np.asarray(state.responses[rows[known]], dtype=np.float64)
        dims = state.space.dimensions
        if hour_weights is not None and hour_weights.shape[0] > 1 and "hour" in dims:
            d = dims.index("hour")
            lo, hi = int(state.space.offsets[d]), int(state.space.offsets[d + 1])
            for x in (s, k):
                x[known, lo:hi] = circular_smooth(x[known, lo:hi], hour_weights)
    a = pa + k
    b = pb + np.maximum(s - k, 0.0)
    return a / (a + b)


def hour_weights(model: Any) -> np.ndarray | None:
    """The model's circular hour-smoothing weights (None without smoothing).

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> hour_weights(ChannelModel(ArmSpace(channels=["email"]), hour_smoothing=0)) is None
    True
    """
    width = float(getattr(model.config, "hour_smoothing", 0.0) or 0.0)
    if width <= 0.0 or "hour" not in model.space.dimensions:
        return None
    return np.asarray(hour_kernel(width), dtype=np.float64)


def _chunks(rows: np.ndarray) -> Any:
    """Yield ``(unique state rows, log positions, their index into the unique rows)`` in bounded batches."""
    uniq, inv = np.unique(rows, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.r_[np.arange(0, uniq.size, _CHUNK), uniq.size])
    for c, u0 in enumerate(range(0, uniq.size, _CHUNK)):
        sel = order[starts[c]:starts[c + 1]]
        yield uniq[u0:u0 + _CHUNK], sel, inv[sel] - u0


def logged_posterior_mean(res: Resolved, dims: list[int], hour_weights: np.ndarray | None) -> np.ndarray:
    """The model's posterior mean of each row's logged arm per evaluated dimension (1 where absent).

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace, ChannelModel
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 02:00", None]})
    >>> model = ChannelModel(ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)).fit(
    ...     logs, as_of="2026-01-10")
    >>> logged_posterior_mean(Resolved(logs, model, "2026-01-10", need_propensity=False), [0], None).shape
    (2, 1)
    """
    out = np.ones((len(res), len(dims)))
    for uniq, sel, local in _chunks(res.rows):
        pm = posterior_mean(res.state, uniq, hour_weights)
        for k, d in enumerate(dims):
            arm = res.arms[sel, d]
            has = arm >= 0
            out[sel[has], k] = pm[local[has], arm[has]]
    return out


def target_terms(res: Resolved, space: Any, dims: list[int], reward_model: RewardModel | None,
                 hour_weights: np.ndarray | None, exploration: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Target propensity of each logged action and (with a reward model) q under the target policy.

    ``exploration`` is the model's (:func:`effective_exploration`): the target
    draws from ``Beta(alpha / e, beta / e)`` as the model's decisions do.

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace, ChannelModel
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 02:00", None]})
    >>> model = ChannelModel(ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)).fit(
    ...     logs, as_of="2026-01-10")
    >>> tp, q = target_terms(Resolved(logs, model, "2026-01-10", need_propensity=False), model.space, [0], None, None)
    >>> bool(((tp > 0) & (tp < 1)).all()), q is None
    (True, True)
    """
    n = len(res)
    tp = np.ones(n)
    log_q = None
    if reward_model is not None:
        log_q = np.where(reward_model.fold == 0, reward_model.coef[0][0], reward_model.coef[1][0])
    offsets = space.offsets
    for uniq, sel, local in _chunks(res.rows):
        win = win_probabilities(res.state, uniq, hour_weights=hour_weights, exploration=exploration)
        pm = posterior_mean(res.state, uniq, hour_weights) if reward_model is not None else None
        for d in dims:
            arm = res.arms[sel, d]
            has = arm >= 0
            tp[sel[has]] *= win[local[has], arm[has]]
            if reward_model is not None:
                j0, j1 = int(offsets[d]), int(offsets[d + 1])
                log_pm = np.log(np.maximum(pm[:, j0:j1], 1e-300))
                for f in (0, 1):
                    rows_f = has & (reward_model.fold[sel] == f)
                    if not rows_f.any():
                        continue
                    factor = reward_model.dimension_factor(f, d, win[:, j0:j1], log_pm)
                    log_q[sel[rows_f]] += np.log(np.maximum(factor[local[rows_f]], 1e-300))
    q_target = None if log_q is None else np.minimum(np.exp(np.minimum(log_q, 50.0)), 1.0)
    return np.minimum(tp, 1.0), q_target
