"""The reward model of the doubly robust estimate: a cross-fitted Poisson regression (scikit-learn).

:class:`RewardModel` regresses the reward of each logged send on one indicator
per logged arm plus, per evaluated dimension, the log of the candidate model's
posterior mean of the logged arm for that customer, with a log link, on two
folds (each row's ``q`` comes from the fold not trained on it). The log link
makes the predicted reply rate a product of one factor per dimension, so the
expectation of ``q`` under a target's independent per-dimension arm
distribution is exact (:meth:`RewardModel.dimension_factor`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

__all__ = ["RewardModel"]


class RewardModel:
    """Cross-fitted Poisson (log-link) regression of the reward on the logged arms.

    Features of a row: one indicator per arm of every evaluated dimension, and
    per dimension the log of the candidate model's posterior mean of the logged
    arm for that customer (0 where the row does not carry the dimension). The
    log link makes ``q`` a product of one factor per dimension, exactly like a
    factorised Thompson policy, so the expectation of ``q`` under the target's
    action distribution factorises and is computed exactly.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> rm = RewardModel(ArmSpace(channels=["email", "sms"], hours=False, weekdays=False), [0], seed=0)
    >>> x = rm.design(np.array([[0], [1]] * 20), np.zeros((40, 1)))   # logged channel, log posterior mean
    >>> rm.fit(x, np.array([0.0, 1.0] * 20))
    >>> q = rm.predict_logged(x)
    >>> bool(q[1] > q[0])   # sms replied every time
    True
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
        """The sparse (CSR) feature matrix of the logged rows: ``arms`` as in the state, -1 where absent."""
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
        """Fit one regression per fold (a single one below 20 rows, used for both)."""
        # imported here, not at the top: scikit-learn adds about 0.25 s (+20%) to `import channelopt.evaluation`
        # and only the doubly robust estimate needs it
        from sklearn.linear_model import PoissonRegressor

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
