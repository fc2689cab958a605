"""Off-policy evaluation: what a candidate policy would have achieved on logged traffic.

Array-level estimators (every argument a 1-D array of one value per logged
send, all the same length; each returns a float):

* :func:`ips` -- inverse propensity scoring, ``mean(w * reward)`` with the
  importance weight ``w = target_propensity / logged_propensity``;
* :func:`snips` -- self-normalised IPS, ``sum(w * reward) / sum(w)``;
* :func:`dr` -- doubly robust, ``mean(q_target + w * (reward - q_logged))``;

plus :func:`bootstrap_ci` (percentile bootstrap interval of any of them) and
:func:`effective_sample_size`. ``clip=c`` caps every importance weight at
``c`` (less variance, some bias toward the logging policy).

Model-level:

* :func:`evaluate` -- the value (rate of replies within the response window)
  a fitted :class:`~channelopt.ChannelModel` would have had on a response log
  with logged propensities, by IPS, SNIPS and DR, with bootstrap intervals;
* :func:`replay` -- the replay (rejection sampling) estimator for uniformly
  random logs.

This module sits below ``model.py`` in the layers: it takes a model object but
imports ``channelopt.model`` only for type checking.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from ._time import NAT, as_utc_timestamp, local_hour_weekday, to_utc_ns
from ._win import win_probabilities
from .schema import EncodedLogs, encode_logs
from .sources import read_table

if TYPE_CHECKING:  # pragma: no cover
    from .model import ChannelModel
    from .state import PosteriorStore

__all__ = ["bootstrap_ci", "dr", "effective_sample_size", "evaluate", "ips", "replay", "snips"]

_ESTIMATORS = ("ips", "snips", "dr")
_CHUNK = 65536  # customers per win-probability batch (bounds memory on big logs)


# -- validation ------------------------------------------------------------------------


def _array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an array of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        if np.isnan(arr[i]):
            raise ValueError(f"{name}: missing value (NaN) in row {i}")
        raise ValueError(f"{name}: value {float(arr[i])!r} in row {i} is not finite")
    return arr


def _check(reward: Any, logged_propensity: Any, target_propensity: Any,
           extra: Sequence[tuple[str, Any]] = ()) -> list[np.ndarray]:
    """Validate the estimators' arguments: 1-D, one length, finite, propensities in range."""
    r = _array("reward", reward)
    n = r.shape[0]
    if n == 0:
        raise ValueError("reward: no rows (empty array)")
    out = [r]
    for name, value in (("logged_propensity", logged_propensity), ("target_propensity", target_propensity),
                        *extra):
        arr = _array(name, value)
        if arr.shape[0] != n:
            raise ValueError(f"{name}: has {arr.shape[0]} values, reward has {n}")
        out.append(arr)
    lp, tp = out[1], out[2]
    bad = np.flatnonzero(~((lp > 0.0) & (lp <= 1.0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"logged_propensity: value {float(lp[i])!r} in row {i} is outside (0, 1]")
    bad = np.flatnonzero(~((tp >= 0.0) & (tp <= 1.0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target_propensity: value {float(tp[i])!r} in row {i} is outside [0, 1]")
    return out


def _check_clip(clip: Any) -> float | None:
    if clip is None:
        return None
    try:
        c = float(clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip: must be a positive number or None, got {clip!r}") from None
    if not c > 0.0 or math.isnan(c):
        raise ValueError(f"clip: must be a positive number or None, got {clip!r}")
    return c


def _weights(lp: np.ndarray, tp: np.ndarray, clip: float | None) -> np.ndarray:
    w = tp / lp
    if clip is not None:
        np.minimum(w, clip, out=w)
    return w


# -- estimators --------------------------------------------------------------------------


def ips(reward: Any, logged_propensity: Any, target_propensity: Any, *, clip: float | None = None) -> float:
    """Inverse propensity scoring: ``mean(w * reward)``, ``w = target / logged propensity``.

    Unbiased for the target policy's value when the logged propensities are the
    true probabilities of the logged actions and the logging policy gives every
    action the target may take a positive probability.

    Parameters
    ----------
    reward : array (n,)
        Observed reward of each logged action (e.g. 1 for a reply, 0 otherwise).
    logged_propensity : array (n,)
        Probability with which the logging policy chose the logged action, in (0, 1].
    target_propensity : array (n,)
        Probability that the target policy chooses the logged action, in [0, 1].
    clip : float, optional
        Cap on each importance weight.

    Returns
    -------
    float

    Examples
    --------
    >>> ips([1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1])   # a deterministic target, uniform logging
    1.0
    >>> ips([1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1], clip=1.5)
    0.75
    """
    r, lp, tp = _check(reward, logged_propensity, target_propensity)
    return float(np.mean(_weights(lp, tp, _check_clip(clip)) * r))


def snips(reward: Any, logged_propensity: Any, target_propensity: Any, *, clip: float | None = None) -> float:
    """Self-normalised IPS: ``sum(w * reward) / sum(w)``.

    Biased by O(1/n) but bounded by the range of the rewards and usually of
    lower variance than :func:`ips`; NaN when every weight is 0 (the target
    never takes a logged action).

    Parameters
    ----------
    reward, logged_propensity, target_propensity : array (n,)
        As in :func:`ips`.
    clip : float, optional
        Cap on each importance weight.

    Returns
    -------
    float

    Examples
    --------
    >>> snips([1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1])   # the mean reward of the matched rows
    1.0
    >>> snips([1, 0], [0.5, 0.25], [0.5, 0.5])
    0.3333333333333333
    """
    r, lp, tp = _check(reward, logged_propensity, target_propensity)
    return _snips_core(r, _weights(lp, tp, _check_clip(clip)))


def _snips_core(r: np.ndarray, w: np.ndarray) -> float:
    total = float(w.sum())
    return float(np.dot(w, r) / total) if total > 0.0 else float("nan")


def dr(reward: Any, logged_propensity: Any, target_propensity: Any, q_logged: Any, q_target: Any, *,
       clip: float | None = None) -> float:
    """Doubly robust: ``mean(q_target + w * (reward - q_logged))``.

    Unbiased when either the propensities or the reward model are right; the
    reward model removes most of the variance of :func:`ips` when it is good.

    Parameters
    ----------
    reward, logged_propensity, target_propensity : array (n,)
        As in :func:`ips`.
    q_logged : array (n,)
        The reward model's estimate of the reward of the logged action.
    q_target : array (n,)
        The reward model's expected reward under the target policy (in the same context).
    clip : float, optional
        Cap on each importance weight.

    Returns
    -------
    float

    Examples
    --------
    >>> dr([1, 0], [0.5, 0.5], [0.0, 0.0], q_logged=[0.9, 0.1], q_target=[0.3, 0.5])   # no weight: the model's value
    0.4
    >>> dr([1, 0], [0.5, 0.5], [1.0, 0.0], q_logged=[0.0, 0.0], q_target=[0.0, 0.0])   # q = 0: IPS
    1.0
    """
    r, lp, tp, ql, qt = _check(reward, logged_propensity, target_propensity,
                               (("q_logged", q_logged), ("q_target", q_target)))
    w = _weights(lp, tp, _check_clip(clip))
    return float(np.mean(qt + w * (r - ql)))


def effective_sample_size(weights: Any) -> float:
    """Kish's effective sample size of importance weights: ``sum(w)**2 / sum(w**2)``.

    n for equal weights, close to 1 when one weight dominates, 0 when all are 0.

    Examples
    --------
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> effective_sample_size([10.0, 0.0, 0.0, 0.0])
    1.0
    """
    w = _array("weights", weights)
    bad = np.flatnonzero(w < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"weights: value {float(w[i])!r} in row {i} is negative")
    sq = float(np.dot(w, w))
    return float(w.sum() ** 2 / sq) if sq > 0.0 else 0.0


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
    _check_boot(n_boot, level)
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


def _check_boot(n_boot: Any, level: Any) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot: must be a positive integer, got {n_boot!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")


def _fast_terms(estimator: Any, arrs: list[np.ndarray], kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per-row numerator (and denominator) terms of the estimators whose resamples are ratios of sums."""
    if estimator not in (ips, snips, dr) or set(kwargs) - {"clip"}:
        return None
    clip = _check_clip(kwargs.get("clip"))
    if estimator is dr:
        if len(arrs) != 5:
            return None
        r, lp, tp, ql, qt = (a.astype(np.float64) for a in arrs)
        return qt + _weights(lp, tp, clip) * (r - ql), None
    if len(arrs) != 3:
        return None
    r, lp, tp = (a.astype(np.float64) for a in arrs)
    w = _weights(lp, tp, clip)
    return (w * r, w) if estimator is snips else (w * r, None)


# -- model-level evaluation ----------------------------------------------------------------


def _fitted_state(model: Any) -> "PosteriorStore":
    state = getattr(model, "state_", None)
    if state is None or not hasattr(model, "config") or not hasattr(model, "space"):
        raise ValueError("model: expected a fitted ChannelModel (call model.fit(logs) first)")
    return state


def _dimension_indices(space: Any, dimensions: Sequence[str] | None, name: str = "dimensions") -> list[int]:
    dims = list(space.dimensions)
    if dimensions is None:
        # within a delivery window the hour (and the decision time) fix the weekday of a send
        return [d for d, dim in enumerate(dims) if dim != "weekday"]
    if isinstance(dimensions, str):
        dimensions = [dimensions]
    out = []
    for dim in dimensions:
        if dim not in dims:
            raise ValueError(f"{name}: unknown dimension {dim!r} (the model's: {', '.join(dims)})")
        out.append(dims.index(dim))
    if not out:
        raise ValueError(f"{name}: name at least one dimension")
    return sorted(set(out))


class _Resolved:
    """The logged rows resolved by ``as_of``, encoded as the model encodes them."""

    def __init__(self, logs: Any, model: Any, as_of: Any, *, need_propensity: bool) -> None:
        state = _fitted_state(model)
        frame = read_table(logs, name="logs")
        if need_propensity and "propensity" not in frame.columns:
            raise ValueError("logs: missing column 'propensity' (the probability with which the logging policy "
                             "chose each logged action; off-policy evaluation needs it)")
        space = model.space
        enc: EncodedLogs = encode_logs(frame, space, model.config.default_tz)
        if need_propensity:
            null = np.flatnonzero(np.isnan(enc.propensity))
            if null.size:
                raise ValueError(f"column 'propensity': missing value in row {int(null[0])}")
        window = model.config.window_ns
        if as_of is None:
            resp = enc.responded_ns[enc.responded_ns != NAT]
            as_of_ns = int(max(enc.sent_ns.max(), resp.max() if resp.size else NAT))
        else:
            as_of_ns = as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        # a row counts once its whole window has passed: keeping early replies of recent sends
        # while dropping their still-silent siblings would bias the value upward
        keep = enc.sent_ns <= as_of_ns - window
        self.n_logged = len(enc)
        self.n_pending = int((~keep).sum())
        self.as_of = pd.Timestamp(as_of_ns, tz="UTC")
        if not keep.any():
            raise ValueError(f"logs: no row is resolved as of {self.as_of} (a row counts once sent_at + "
                             f"response_window ({model.config.response_window}) has passed); "
                             f"all {len(enc)} rows are pending")
        sel = np.flatnonzero(keep)
        self.positions = sel  # row positions in the input
        self.frame = frame
        sent = enc.sent_ns[sel]
        resp = enc.responded_ns[sel]
        negative = enc.unsubscribed[sel] | enc.complained[sel]
        self.reward = ((resp != NAT) & (resp - sent <= window) & ~negative).astype(np.float64)
        self.sent_ns = sent
        self.propensity = enc.propensity[sel]
        ids = enc.customer_id.iloc[sel].reset_index(drop=True)
        self.customer_id = ids
        self.rows = state.index.rows_of(ids)[0] if len(state.index) else np.full(sel.size, -1, dtype=np.int64)
        arms = np.array(enc.arms[sel], dtype=np.int64)
        # rows without their own tz: local time in the zone the model learned for the customer
        dims = list(space.dimensions)
        learned = np.flatnonzero(~enc.tz_known[sel] & (self.rows >= 0))
        if learned.size and ("hour" in dims or "weekday" in dims):
            codes = np.asarray(state.zone, dtype=np.int64)[self.rows[learned]]
            hour, weekday = local_hour_weekday(sent[learned], codes, list(state.zones))
            offsets = space.offsets
            for name, local in (("hour", hour), ("weekday", weekday)):
                if name in dims:
                    d = dims.index(name)
                    arms[learned, d] = local.astype(np.int64) + offsets[d]
        self.arms = arms
        self.tz = (frame["tz"].reset_index(drop=True).iloc[sel].reset_index(drop=True)
                   if "tz" in frame.columns else pd.Series([None] * sel.size, dtype=object))
        self.state = state
        self.model_as_of = int(state.watermark_ns)

    def __len__(self) -> int:
        return int(self.reward.shape[0])


def _posterior_mean(state: Any, rows: np.ndarray, hour_weights: np.ndarray | None) -> np.ndarray:
    """Posterior mean of every arm for each state row (-1: the prior), float64 ``[n, n_arms]``,
    with the hour statistics smoothed as the model's decisions smooth them."""
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
            half = hour_weights.shape[0] // 2
            for x in (s, k):
                block = x[known, lo:hi]
                x[known, lo:hi] = sum(w * np.roll(block, half - t, axis=1) for t, w in enumerate(hour_weights))
    a = pa + k
    b = pb + np.maximum(s - k, 0.0)
    return a / (a + b)


def _hour_weights(model: Any) -> np.ndarray | None:
    """The model's circular hour-smoothing weights (None without smoothing)."""
    width = float(getattr(model.config, "hour_smoothing", 0.0) or 0.0)
    if width <= 0.0 or "hour" not in model.space.dimensions:
        return None
    from .model import hour_kernel  # model.py sits above this module: import at call time only

    return np.asarray(hour_kernel(width), dtype=np.float64)


def _chunks(rows: np.ndarray) -> Any:
    """Yield ``(unique state rows, log positions, their index into the unique rows)`` in bounded batches."""
    uniq, inv = np.unique(rows, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.r_[np.arange(0, uniq.size, _CHUNK), uniq.size])
    for c, u0 in enumerate(range(0, uniq.size, _CHUNK)):
        sel = order[starts[c]:starts[c + 1]]
        yield uniq[u0:u0 + _CHUNK], sel, inv[sel] - u0


class _RewardModel:
    """Cross-fitted Poisson (log-link) regression of the reward on the logged arms.

    Features of a row: one indicator per arm of every evaluated dimension, and
    per dimension the log of the candidate model's posterior mean of the logged
    arm for that customer (0 where the row does not carry the dimension). The
    log link makes ``q`` a product of one factor per dimension, exactly like a
    factorised Thompson policy, so the expectation of ``q`` under the target's
    action distribution factorises and is computed exactly.
    """

    def __init__(self, space: Any, dims: list[int], seed: int) -> None:
        self.offsets = space.offsets
        self.sizes = space.sizes
        self.dims = dims
        self.seed = seed
        self.col = {}
        c = 0
        for d in dims:
            self.col[d] = c
            c += int(self.sizes[d]) + 1  # indicators, then the log posterior mean
        self.n_features = c

    def design(self, arms: np.ndarray, log_pm_logged: np.ndarray) -> Any:
        from scipy import sparse

        n = arms.shape[0]
        rows, cols, vals = [], [], []
        for k, d in enumerate(self.dims):
            has = np.flatnonzero(arms[:, d] >= 0)
            local = arms[has, d] - self.offsets[d]
            rows += [has, has]
            cols += [self.col[d] + local, np.full(has.size, self.col[d] + int(self.sizes[d]))]
            vals += [np.ones(has.size), log_pm_logged[has, k]]
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(n, self.n_features))

    def fit(self, x: Any, reward: np.ndarray) -> None:
        from sklearn.linear_model import PoissonRegressor
        from threadpoolctl import threadpool_limits

        n = reward.shape[0]
        fold = np.random.default_rng(self.seed).permutation(n) % 2 if n >= 20 else np.zeros(n, dtype=np.int64)
        self.fold = fold
        self.coef: list[tuple[float, np.ndarray]] = []
        splits = (0, 1) if n >= 20 else (0,)
        for f in splits:
            train = np.flatnonzero(fold != f) if len(splits) == 2 else np.arange(n)
            reg = PoissonRegressor(alpha=1e-4, max_iter=1000)
            # a small problem: one thread avoids OpenMP/BLAS start-up and contention with numba's pool
            with threadpool_limits(1):
                reg.fit(x[train], reward[train])
            self.coef.append((float(reg.intercept_), np.asarray(reg.coef_, dtype=np.float64)))
        if len(self.coef) == 1:
            self.coef.append(self.coef[0])

    def predict_logged(self, x: Any) -> np.ndarray:
        """q of each row's logged action, by the model not trained on that row."""
        out = np.empty(x.shape[0])
        for f in (0, 1):
            sel = np.flatnonzero(self.fold == f)
            b0, coef = self.coef[f]
            out[sel] = np.exp(np.minimum(b0 + x[sel] @ coef, 50.0))
        return np.minimum(out, 1.0)

    def dimension_factor(self, f: int, d: int, win: np.ndarray, log_pm: np.ndarray) -> np.ndarray:
        """E over the target's arm of dimension d of exp(its terms): ``sum_a pi(a) exp(beta_a + gamma log pm_a)``."""
        _, coef = self.coef[f]
        c0 = self.col[d]
        size = int(self.sizes[d])
        beta = coef[c0:c0 + size]
        gamma = coef[c0 + size]
        return np.sum(win * np.exp(np.minimum(beta[None, :] + gamma * log_pm, 50.0)), axis=1)


def _logged_posterior_mean(res: _Resolved, dims: list[int], hour_weights: np.ndarray | None) -> np.ndarray:
    """The model's posterior mean of each row's logged arm per evaluated dimension (1 where absent)."""
    out = np.ones((len(res), len(dims)))
    for uniq, sel, local in _chunks(res.rows):
        pm = _posterior_mean(res.state, uniq, hour_weights)
        for k, d in enumerate(dims):
            arm = res.arms[sel, d]
            has = arm >= 0
            out[sel[has], k] = pm[local[has], arm[has]]
    return out


def _target(res: _Resolved, space: Any, dims: list[int], reward_model: _RewardModel | None,
            hour_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Target propensity of each logged action and (with a reward model) q under the target policy."""
    n = len(res)
    tp = np.ones(n)
    log_q = None
    if reward_model is not None:
        log_q = np.where(reward_model.fold == 0, reward_model.coef[0][0], reward_model.coef[1][0])
    offsets = space.offsets
    for uniq, sel, local in _chunks(res.rows):
        win = win_probabilities(res.state, uniq, hour_weights=hour_weights)
        pm = _posterior_mean(res.state, uniq, hour_weights) if reward_model is not None else None
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


def evaluate(logs: Any, model: "ChannelModel", estimators: Sequence[str] = _ESTIMATORS, as_of: Any = None,
             level: float = 0.95, n_boot: int = 1000, seed: int = 0, clip: float | None = None, *,
             dimensions: Sequence[str] | None = None) -> pd.DataFrame:
    """The value a fitted model would have had on logged traffic, with bootstrap intervals.

    The value is the rate of *successes* -- a reply within the model's
    response window, without an unsubscribe or complaint, exactly what the
    model learns from -- had the model chosen every logged send's action.

    * Rows count once their whole window has passed by ``as_of``
      (``sent_at + response_window <= as_of``); later rows are pending and dropped.
    * Logged propensity: the log's ``propensity`` column, the probability with
      which the logging policy chose the logged action.
    * Target propensity: the probability that the model, as it is now, picks the
      logged action: the product over ``dimensions`` of the exact Thompson win
      probability of the logged arm (channel, wording, the local hour of
      ``sent_at`` in the customer's zone -- the row's ``tz``, else the zone the
      model learned, else its default -- and any extra dimension), with the
      hour statistics smoothed as the model's decisions smooth them. The
      weekday is left out by default: within a delivery window the weekday of
      a send follows from its hour and the decision time.
    * The estimand is therefore the value of the *factorised* Thompson policy
      (each dimension's arm the argmax of its own draw, every channel
      allowed). The deployed model picks its slot by ``draw(hour) *
      draw(weekday)`` inside its delivery window and applies contact rules and
      value/cost holds, which are not modelled here. Without weekday arms and
      contact rules the two coincide (checked on the simulator); with weekday
      arms the weekday draw adds noise to the hour choice and the deployed
      value was 6-18% lower on the simulator (docs/evaluation.md).
    * DR's reward model: a cross-fitted (2 folds) scikit-learn
      ``PoissonRegressor`` (log link) on one indicator per logged arm plus, per
      dimension, the log of the model's posterior mean of the logged arm for
      that customer. The log link makes the predicted reply rate a product of
      one factor per dimension -- the structure of both the simulator's truth
      and a factorised Thompson policy -- so ``q_target``, the expectation of
      the reward model under the target's (independent per dimension) arm
      distribution, is computed exactly, with no sampling or enumeration.
      Predictions are capped at 1 (for the rare rates near 1 the cap makes the
      expectation approximate). Cross-fitting keeps each row's ``q`` from being
      fitted on that row; the bootstrap holds the fitted ``q`` fixed.

    Leakage: pass a model fitted on *earlier* data than the evaluated log. A
    model fitted on the same rows knows their outcomes and its value is
    optimistic; a warning says how many evaluated rows were sent before the
    model's ``as_of``.

    Parameters
    ----------
    logs : DataFrame or path
        Response log with a ``propensity`` column (schema in :mod:`channelopt.schema`).
    model : ChannelModel
        A fitted model, evaluated as it is (no refitting).
    estimators : sequence of {"ips", "snips", "dr"}
    as_of : timestamp, optional
        The clock; default: the latest timestamp in the logs.
    level : float, default 0.95
        Level of the percentile bootstrap intervals.
    n_boot : int, default 1000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap and of the reward model's folds.
    clip : float, optional
        Cap on each importance weight.
    dimensions : sequence of str, optional
        The dimensions whose choice the logged ``propensity`` describes and
        the target is evaluated on; default every dimension but the weekday.
        If the logging policy logged the probability of the channel alone
        (``ChannelModel.rank`` and ``simulate.UniformPolicy`` do, today), pass
        ``("channel",)``: the value is then that of the model's channel choice
        with the logged wording and send time. A mismatch shows as a mean
        importance weight far from 1, which triggers a warning.

    Returns
    -------
    DataFrame
        One row per estimator: ``estimator, value, ci_low, ci_high, n,
        effective_sample_size``; ``attrs`` holds ``as_of``, ``dimensions``,
        ``pending`` (rows dropped), ``mean_weight`` and ``max_weight``.

    Warns
    -----
    UserWarning
        When the effective sample size is below 1% of n, when one row carries
        more than 10% of the total weight (n >= 100), when the mean importance
        weight is outside [0.5, 2] and more than 4 standard errors from 1
        (n >= 100, no clip), and when evaluated rows were sent before the
        model's ``as_of``.

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> rng = np.random.default_rng(0)
    >>> def log(start, n):
    ...     sent = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
    ...     channel = rng.choice(["email", "sms"], n)
    ...     reply = rng.random(n) < np.where(channel == "sms", 0.3, 0.1)
    ...     return pd.DataFrame({"customer_id": rng.integers(0, 50, n), "sent_at": sent, "channel": channel,
    ...                          "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(reply),
    ...                          "propensity": 0.5})
    >>> model = ChannelModel(space, seed=1).fit(log("2026-01-01", 400), as_of="2026-01-25")
    >>> result = evaluate(log("2026-02-01", 400), model, as_of="2026-03-01", n_boot=200)
    >>> result["estimator"].tolist(), bool(result["value"].between(0.1, 0.35).all())
    (['ips', 'snips', 'dr'], True)
    """
    names = [estimators] if isinstance(estimators, str) else list(estimators)
    if not names:
        raise ValueError("estimators: name at least one of ips, snips, dr")
    for name in names:
        if name not in _ESTIMATORS:
            raise ValueError(f"estimators: unknown estimator {name!r} (known: {', '.join(_ESTIMATORS)})")
    clip = _check_clip(clip)
    _check_boot(n_boot, level)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    _fitted_state(model)
    space = model.space
    dims = _dimension_indices(space, dimensions)
    res = _Resolved(logs, model, as_of, need_propensity=True)
    n = len(res)

    weights = _hour_weights(model)
    reward_model = None
    q_logged = None
    if "dr" in names:
        reward_model = _RewardModel(space, dims, int(seed))
        pm_rows = _logged_posterior_mean(res, dims, weights)
        x = reward_model.design(res.arms, np.log(np.maximum(pm_rows, 1e-300)))
        reward_model.fit(x, res.reward)
        q_logged = reward_model.predict_logged(x)
    tp, q_target = _target(res, space, dims, reward_model, weights)
    lp = res.propensity
    w = _weights(lp, tp, clip)
    ess = effective_sample_size(w)
    _warn_weights(w, ess, n, clip, "evaluate")
    _warn_leakage(res)

    rows = []
    for name in names:
        if name == "dr":
            est, low, high = bootstrap_ci(dr, res.reward, lp, tp, q_logged, q_target, n_boot=n_boot, level=level,
                                          seed=seed, clip=clip)
        else:
            fn = ips if name == "ips" else snips
            est, low, high = bootstrap_ci(fn, res.reward, lp, tp, n_boot=n_boot, level=level, seed=seed, clip=clip)
        rows.append({"estimator": name, "value": est, "ci_low": low, "ci_high": high, "n": n,
                     "effective_sample_size": ess})
    out = pd.DataFrame(rows, columns=["estimator", "value", "ci_low", "ci_high", "n", "effective_sample_size"])
    out.attrs.update({"as_of": res.as_of, "dimensions": [space.dimensions[d] for d in dims],
                      "pending": res.n_pending, "mean_weight": float(w.mean()), "max_weight": float(w.max())})
    return out


def _warn_weights(w: np.ndarray, ess: float, n: int, clip: float | None, where: str) -> None:
    total = float(w.sum())
    if ess < 0.01 * n:
        warnings.warn(f"{where}: effective sample size {ess:.1f} is below 1% of the {n} rows: the target policy "
                      "rarely takes the logged actions, so the estimates are unreliable", UserWarning, stacklevel=3)
    elif n >= 100 and total > 0 and float(w.max()) > 0.1 * total:
        warnings.warn(f"{where}: extreme importance weights: one row carries {float(w.max()) / total:.0%} of the "
                      f"total weight (effective sample size {ess:.1f} of {n} rows); consider clip=",
                      UserWarning, stacklevel=3)
    mean = float(w.mean())
    se = float(w.std()) / math.sqrt(n)
    # E[w] = 1 when both propensities describe the same action; flag a clear departure only
    if clip is None and n >= 100 and not 0.5 <= mean <= 2.0 and abs(mean - 1.0) > 4.0 * se:
        warnings.warn(f"{where}: the mean importance weight is {mean:.3g}, expected about 1 (effective sample size "
                      f"{ess:.1f}): the logged propensities and the evaluated dimensions may not describe the same "
                      "action (e.g. a propensity of the channel alone: pass dimensions=('channel',))",
                      UserWarning, stacklevel=3)


def _warn_leakage(res: _Resolved) -> None:
    if res.model_as_of == NAT:
        return
    before = int((res.sent_ns < res.model_as_of).sum())
    if before:
        warnings.warn(f"{before} of the {len(res)} evaluated rows were sent before the model's as_of "
                      f"({pd.Timestamp(res.model_as_of, tz='UTC')}): if the model was fitted on them the estimate "
                      "is optimistic; evaluate a model fitted on earlier data", UserWarning, stacklevel=3)


def replay(logs: Any, model: "ChannelModel", *, now_column: str = "sent_at", as_of: Any = None,
           level: float = 0.95, dimensions: Sequence[str] | None = None) -> pd.DataFrame:
    """Replay (rejection sampling) estimate of a model's value on uniformly random logs.

    For every resolved logged send the model decides (``rank`` /
    ``choose_channel`` at the row's ``now_column`` time, in the row's ``tz`` or
    the zone the model learned); rows where its decision matches the logged
    action on every dimension of ``dimensions`` are kept, and the value is
    the success rate among them (reply within the window, no unsubscribe or
    complaint; rows count once ``sent_at + response_window <= as_of``). The
    interval is the central ``level`` interval of the Beta(1 + successes,
    1 + failures) posterior of that rate.

    Unbiased when the logging policy chose the compared dimensions uniformly at
    random, independently of the customer (about ``1 / (number of joint
    actions)`` of the rows match); for any other logging policy use
    :func:`evaluate`. Comparing fewer dimensions (e.g. ``("channel",)``) keeps
    more rows and estimates the value of the model's choice on those
    dimensions with the logged choice of the others. The hour matches when the
    model picks the local hour of ``sent_at``; with ``now_column="sent_at"`` (the
    default, when the decision time was not logged) that is a send right away.

    Parameters
    ----------
    logs : DataFrame or path
        Response log (schema in :mod:`channelopt.schema`).
    model : ChannelModel
        A fitted model, used as it is.
    now_column : str, default "sent_at"
        Column with each row's decision time (not after ``sent_at``).
    as_of : timestamp, optional
        The clock; default: the latest timestamp in the logs.
    level : float, default 0.95
    dimensions : sequence of str, optional
        Dimensions compared; default every dimension but the weekday (see :func:`evaluate`).

    Returns
    -------
    DataFrame
        One row: ``estimator`` ("replay"), ``value``, ``ci_low``, ``ci_high``,
        ``n`` (resolved logged rows), ``matched`` (rows kept), ``responses``
        (successes among them). ``value`` is NaN when nothing matched.

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> rng = np.random.default_rng(0)
    >>> sent = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(300), unit="h")
    >>> channel = rng.choice(["email", "sms"], 300)
    >>> reply = rng.random(300) < np.where(channel == "sms", 0.4, 0.1)
    >>> logs = pd.DataFrame({"customer_id": rng.integers(0, 30, 300), "sent_at": sent, "channel": channel,
    ...                      "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(reply)})
    >>> model = ChannelModel(space, seed=3).fit(logs.iloc[:150])
    >>> out = replay(logs.iloc[150:], model, as_of="2026-02-01")
    >>> int(out["n"].iloc[0]), bool(out["matched"].iloc[0] > 0)
    (150, True)
    """
    if not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    _fitted_state(model)
    space = model.space
    dims = _dimension_indices(space, dimensions)
    res = _Resolved(logs, model, as_of, need_propensity=False)
    frame = res.frame
    if now_column not in frame.columns:
        raise ValueError(f"logs: missing column {now_column!r} (the decision time of each row; "
                         f"columns present: {', '.join(map(str, frame.columns))})")
    if now_column == "sent_at":
        now_ns = res.sent_ns
    else:
        now_ns = to_utc_ns(frame[now_column], now_column, allow_null=False)[res.positions]
        late = np.flatnonzero(now_ns > res.sent_ns)
        if late.size:
            i = int(late[0])
            raise ValueError(f"column {now_column!r}: {pd.Timestamp(now_ns[i], tz='UTC')} in row "
                             f"{int(res.positions[i])} is after sent_at {pd.Timestamp(res.sent_ns[i], tz='UTC')}")
    p = res.propensity[~np.isnan(res.propensity)]
    if p.size and float(p.max() - p.min()) > 1e-9 * float(p.max()):
        warnings.warn(f"replay: the logged propensity varies ({float(p.min()):.3g} to {float(p.max()):.3g}), "
                      "but replay assumes uniformly random logging; use evaluate()", UserWarning, stacklevel=2)
    chosen, hold = _decisions(model, res, now_ns, dims)
    matched = ~hold
    for k, d in enumerate(dims):
        logged = res.arms[:, d]
        matched &= (logged < 0) | (chosen[:, k] == logged)
    m = int(matched.sum())
    k = int(res.reward[matched].sum())
    from scipy import stats

    tail = (1.0 - float(level)) / 2.0
    low, high = stats.beta.ppf([tail, 1.0 - tail], 1 + k, 1 + m - k)
    if m == 0:
        warnings.warn(f"replay: none of the {len(res)} logged actions matches the model's decision", UserWarning,
                      stacklevel=2)
    out = pd.DataFrame([{"estimator": "replay", "value": k / m if m else float("nan"), "ci_low": float(low),
                         "ci_high": float(high), "n": len(res), "matched": m, "responses": k}])
    out.attrs.update({"as_of": res.as_of, "dimensions": [space.dimensions[d] for d in dims],
                      "pending": res.n_pending})
    return out


def _decisions(model: Any, res: _Resolved, now_ns: np.ndarray, dims: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The model's chosen flat arm per row and compared dimension (-2 where it has none), and the holds.

    Rows sharing a decision time are decided together by ``model.rank``; lone
    rows by ``model.choose_channel`` (the two agree for the same customer and time).
    """
    space = model.space
    names = [space.dimensions[d] for d in dims]
    offsets = space.offsets
    label_pos = {name: {lab: i for i, lab in enumerate(space.labels(name))} for name in names}
    out = np.full((len(res), len(dims)), -2, dtype=np.int64)
    hold = np.zeros(len(res), dtype=bool)
    tz = res.tz.where(res.tz.notna(), None)
    order = np.argsort(now_ns, kind="stable")
    bounds = np.flatnonzero(np.r_[True, now_ns[order][1:] != now_ns[order][:-1], True])
    for g0, g1 in zip(bounds[:-1], bounds[1:]):
        sel = order[g0:g1]
        now = pd.Timestamp(int(now_ns[sel[0]]), tz="UTC")
        if sel.size < 20:  # rank's fixed cost is that of ~20 choose_channel calls
            for i in sel:
                zone = tz.iloc[i]
                dec = model.choose_channel(res.customer_id.iloc[i], now=now, tz=zone, propensity=False)
                if dec.channel is None:
                    hold[i] = True
                    continue
                for k, name in enumerate(names):
                    value = {"channel": dec.channel, "wording": dec.wording,
                             "hour": None if dec.hour is None else f"{dec.hour:02d}"}.get(name, dec.extra.get(name))
                    if value is not None:
                        out[i, k] = label_pos[name][value] + offsets[dims[k]]
            continue
        table = pd.DataFrame({"customer_id": res.customer_id.iloc[sel].reset_index(drop=True),
                              "tz": tz.iloc[sel].reset_index(drop=True)})
        plan = model.rank(table, now=now, propensity=False)
        held = plan["channel"].isna().to_numpy()
        hold[sel] = held
        for k, name in enumerate(names):
            if name == "hour":
                local = plan["hour"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
            else:
                col = plan[name].astype(object)
                local = np.array([label_pos[name].get(v, -1) if v is not None and v == v else -1 for v in col],
                                 dtype=np.int64)
            flat = np.where(local >= 0, local + offsets[dims[k]], -2)
            flat[held] = -2
            out[sel, k] = flat
    return out, hold
