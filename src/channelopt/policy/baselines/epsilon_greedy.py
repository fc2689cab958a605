"""EpsilonGreedy: the best posterior mean per customer, a random arm with probability epsilon."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from channelopt.core.arms import ArmSpace
from channelopt.core.validation import fraction
from channelopt.policy.baselines._base import Baseline, _keys, _pick, _uniforms

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(Baseline):
    """Per customer: with probability ``1 - epsilon`` the arm with the best posterior mean, else a random arm.

    The posterior mean of each arm is ``(responses + 1) / (sends + 2)`` (a flat
    ``Beta(1, 1)`` prior, no pooling) from the customer's own decayed counts;
    ties are broken uniformly at random. One coin per decision: exploring draws
    every decided dimension uniformly. The propensity of the decision ``a`` is
    exact: ``(1 - epsilon) * prod_d [a_d is a best arm] / ties_d + epsilon / K``
    with ``K`` the number of joint arms -- ``1 - epsilon + epsilon / K`` for a
    unique greedy decision. ``score`` is the chosen channel's posterior mean.

    Parameters
    ----------
    space : ArmSpace
    epsilon : float in [0, 1], default 0.1
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "a"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
    >>> eg = EpsilonGreedy(space, epsilon=0.2).fit(logs, as_of="2026-01-10")   # sms 1/1, email 0/1: sms is greedy
    >>> hours = pd.date_range("2026-01-11", periods=40, freq="h")
    >>> sorted({(d.channel, round(d.propensity, 6)) for d in (eg.choose_channel("a", now=t) for t in hours)})
    [('email', 0.1), ('sms', 0.9)]
    """

    def __init__(self, space: ArmSpace, epsilon: float = 0.1, *, seed: int = 0, response_window: Any = "72h",
                 half_life: Any = "90D", default_tz: str = "UTC") -> None:
        self.__dict__.update(epsilon=epsilon)
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)

    def _derive(self) -> None:
        super()._derive()
        self._eps = fraction(self.epsilon, "epsilon")

    def _params(self) -> str:
        return f"epsilon={self._eps}, seed={self.config.seed}"

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield from super()._unit_test_params()
        space = ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
        yield {"space": space, "epsilon": 1.0, "seed": 5, "half_life": None}

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        n = rows.shape[0]
        eps = self._eps
        keys = _keys(self.config.seed, round_, hashes)
        explore = _uniforms(keys, 0) < eps
        known = rows >= 0
        choice = np.empty((n, self._n_dec), dtype=np.int64)
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        greedy_p = np.ones(n)
        score = np.empty(n)
        for k, size in enumerate(self._sizes):
            lo, hi = int(self._lo[k]), int(self._hi[k])
            s = np.zeros((n, int(size)))
            r = np.zeros((n, int(size)))
            if known.any():
                s[known] = st.sends[rows[known], lo:hi]
                r[known] = st.responses[rows[known], lo:hi]
            mean = (r + 1.0) / (s + 2.0)
            best = mean == mean.max(axis=1, keepdims=True)
            ties = best.sum(axis=1)
            nth = np.minimum((_uniforms(keys, 1 + 2 * k) * ties).astype(np.int64), ties - 1)
            greedy = np.argmax(np.cumsum(best, axis=1) > nth[:, None], axis=1)
            random = _pick(_uniforms(keys, 2 + 2 * k), int(size))
            c = np.where(explore, random, greedy)
            choice[:, k] = c
            greedy_p *= best[np.arange(n), c] / ties
            if k == 0:
                score = mean[np.arange(n), c]
            if keep_draws:
                draws[:, lo:hi] = mean
        prop = (1.0 - eps) * greedy_p + eps / float(np.prod(self._sizes.astype(np.float64)))
        return choice, score, prop, draws
