"""A declared prior (``ChannelModel(prior=...)``) before and after data.

The rule, per arm the declaration names (``rate`` ``r``, ``strength`` ``s``):

* **no history on the arm** (before any fit, after a fit of an empty log, or when no
  customer was ever sent on the arm): the population prior is the declared
  ``Beta(r s, (1 - r) s)`` itself;
* **history on the arm**: the empirical-Bayes fit of :mod:`channelopt.state.priors`,
  with the hyperprior on the arm's population mean centred on ``r`` and worth ``s``
  sends (``Beta(1 + s r, 1 + s (1 - r))``) instead of the dimension's pooled rate
  worth 2 sends. The declaration thus counts as ``s`` sends of pooled evidence: with
  a few customers the mean stays near ``r``; with thousands of sends the data decide.
  The strength (how much customers differ) is learned from the data as always.

Arms the declaration does not name are fitted exactly as without a declaration
(before data: ``Beta(1, 1)``), and so is every arm of a model without one (the
result is then bit-identical to :func:`~channelopt.state.priors.fit_population_prior`).
Segment priors are centred on this population prior, as always.

Examples
--------
>>> from channelopt.core.arms import ArmSpace
>>> from channelopt.core.prior import declared_prior
>>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
>>> d = declared_prior({"channel": {"sms": (0.2, 50)}}, space)
>>> a, b = fit_declared_prior(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, np.uint64), space.offsets, d)
>>> a.tolist(), b.tolist()
([1.0, 10.0], [1.0, 40.0])
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from channelopt.core.arms import ArmSpace
from channelopt.core.prior import DeclaredPrior
from channelopt.state.priors import fit_population_prior
from channelopt.state.store import PosteriorStore

__all__ = ["cold_store", "fit_declared_prior"]


def fit_declared_prior(
    sends: np.ndarray,
    responses: np.ndarray,
    hashes: np.ndarray,
    dim_offsets: np.ndarray,
    declared: DeclaredPrior | None,
    *,
    max_strength: float = 1000.0,
    sample: int = 5000,
    by_hash: np.ndarray | None = None,
    squares: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The population prior of every arm: empirical Bayes combined with a declared prior.

    Parameters
    ----------
    sends, responses, hashes, dim_offsets, max_strength, sample, by_hash, squares
        As in :func:`channelopt.state.priors.fit_population_prior` (``squares``: the decayed
        sums of squared send weights, which give each customer's effective number of sends).
    declared : DeclaredPrior or None
        The model's checked ``prior=`` (None: plain empirical Bayes).

    Returns
    -------
    alpha, beta : arrays (n_arms,) of float64

    Examples
    --------
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.core.prior import declared_prior
    >>> space = ArmSpace(channels=["email"], hours=False, weekdays=False)
    >>> rng = np.random.default_rng(0)
    >>> n = np.full((2000, 1), 30.0); k = rng.binomial(30, 0.2, size=(2000, 1)).astype(float)
    >>> a, b = fit_declared_prior(n, k, np.arange(2000, dtype=np.uint64), space.offsets,
    ...                           declared_prior({"channel": (0.05, 20)}, space))
    >>> round(float(a[0] / (a[0] + b[0])), 2)   # 60000 sends outweigh 20
    0.2
    """
    alpha, beta = fit_population_prior(sends, responses, hashes, dim_offsets, max_strength=max_strength,
                                       sample=sample, by_hash=by_hash, squares=squares)
    if declared is None:
        return alpha, beta
    if by_hash is None:
        by_hash = np.argsort(np.asarray(hashes), kind="stable")
    sends = np.asarray(sends)
    has = (sends > 0).any(axis=0)  # the arms some customer was sent on: those the fit above learned
    cold = declared.declared & ~has
    alpha[cold], beta[cold] = declared.alpha[cold], declared.beta[cold]
    warm = declared.declared & has
    # one fit per declared strength (the hyperprior's weight), on those arms' columns only
    for weight in np.unique(declared.strength[warm]):
        idx = np.flatnonzero(warm & (declared.strength == weight))
        a, b = fit_population_prior(np.ascontiguousarray(sends[:, idx]),
                                    np.ascontiguousarray(np.asarray(responses)[:, idx]), hashes,
                                    np.array([0, idx.size], dtype=np.int64), max_strength=max_strength,
                                    sample=sample, centre=declared.rate[idx], centre_weight=float(weight),
                                    by_hash=by_hash,
                                    squares=None if squares is None else np.asarray(squares)[:, idx])
        alpha[idx], beta[idx] = a, b
    return alpha, beta


def cold_store(space: ArmSpace, default_tz: str, declared: DeclaredPrior | None) -> PosteriorStore:
    """The store an unfitted model decides from: no customer, the declared prior (else uniform).

    Examples
    --------
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.core.prior import declared_prior
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> st = cold_store(space, "UTC", declared_prior({"channel": {"sms": (0.1, 10)}}, space))
    >>> st.n_customers, st.prior_alpha.tolist(), st.prior_beta.tolist()
    (0, [1.0, 1.0], [1.0, 9.0])
    """
    empty = PosteriorStore.empty(space, default_tz)
    if declared is None:
        return empty
    return replace(empty, prior_alpha=np.ascontiguousarray(declared.alpha, dtype=np.float64),
                   prior_beta=np.ascontiguousarray(declared.beta, dtype=np.float64))
