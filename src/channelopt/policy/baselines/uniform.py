"""UniformRandom: every decided arm uniformly at random."""

from __future__ import annotations

import numpy as np

from channelopt.policy.baselines._base import Baseline, _keys, _pick, _uniforms

__all__ = ["UniformRandom"]


class UniformRandom(Baseline, learns=False):
    """Every decided arm uniformly at random; learns nothing.

    Unlike :class:`channelopt.sim.population.UniformPolicy` (the explorer of
    :func:`channelopt.sim.population.run`, whose log propensity is the channel's,
    ``1 / n_channels``), decisions are keyed per customer, so ``rank`` and
    ``choose_channel`` agree, and the propensity is the whole decision's:
    ``1 / (n_channels * n_wordings * 24 * ...)``. ``score`` is NaN.

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    default_tz : str, default "UTC"
    response_window, half_life
        Accepted for a uniform interface; unused.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> plan = UniformRandom(ArmSpace(channels=["email", "sms", "push"], hours=False), seed=0).rank(
    ...     ["a", "b", "c"], now="2026-11-23 09:00")
    >>> plan["propensity"].round(4).tolist(), bool(plan["score"].isna().all())
    ([0.3333, 0.3333, 0.3333], True)
    """

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        keys = _keys(self.config.seed, round_, hashes)
        n = rows.shape[0]
        choice = np.empty((n, self._n_dec), dtype=np.int64)
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        for k, size in enumerate(self._sizes):
            u = _uniforms(keys, k)
            choice[:, k] = _pick(u, int(size))
            if keep_draws:
                draws[:, self._lo[k]:self._hi[k]] = np.arange(size) == choice[:, k:k + 1]
        prop = np.full(n, 1.0 / float(np.prod(self._sizes.astype(np.float64))))
        return choice, np.full(n, np.nan), prop, draws
