"""Array-level off-policy estimators: IPS, SNIPS, doubly robust, and the effective sample size.

Every argument is a 1-D array of one value per logged send, all the same
length; each estimator returns a float:

* :func:`ips` -- inverse propensity scoring, ``mean(w * reward)`` with the
  importance weight ``w = target_propensity / logged_propensity``;
* :func:`snips` -- self-normalised IPS, ``sum(w * reward) / sum(w)``;
* :func:`dr` -- doubly robust, ``mean(q_target + w * (reward - q_logged))``;
* :func:`effective_sample_size` -- Kish's ``sum(w)**2 / sum(w**2)``.

``clip=c`` caps every importance weight at ``c`` (less variance, some bias
toward the logging policy). Arguments are checked once, here: 1-D, one length,
finite, logged propensities in (0, 1], target propensities in [0, 1].
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from channelopt.core.validation import positive

__all__ = ["check_clip", "dr", "effective_sample_size", "importance_weights", "ips", "snips"]


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


def check_clip(clip: Any) -> float | None:
    """``clip`` checked: None (no cap) or a finite number > 0, as a float.

    Examples
    --------
    >>> check_clip(None), check_clip(2)
    (None, 2.0)
    """
    if clip is None:
        return None
    return positive(clip, "clip")


def importance_weights(lp: np.ndarray, tp: np.ndarray, clip: float | None) -> np.ndarray:
    """``tp / lp``, capped at ``clip`` (a checked value, see :func:`check_clip`; None: no cap).

    Examples
    --------
    >>> importance_weights(np.array([0.5, 0.25]), np.array([1.0, 1.0]), 3.0).tolist()
    [2.0, 3.0]
    """
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
    return float(np.mean(importance_weights(lp, tp, check_clip(clip)) * r))


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
    return _snips_core(r, importance_weights(lp, tp, check_clip(clip)))


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
    w = importance_weights(lp, tp, check_clip(clip))
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
