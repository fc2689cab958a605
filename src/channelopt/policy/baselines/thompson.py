"""Thompson baselines: FlatThompson (per customer, flat prior) and PooledThompson (one bandit for everyone)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from channelopt import kernels as K
from channelopt.kernels.win import win_dim, win_many
from channelopt.policy.baselines._base import Baseline
from channelopt.state.store import PosteriorStore

__all__ = ["FlatThompson", "PooledThompson"]


@njit(cache=True, nogil=True)
def _beta(a, b, key):
    """One exact Beta draw: a plain (not inlined) call site, so the sampler is compiled once."""
    return K.beta_draw(a, b, key)


@njit(cache=True, parallel=True)
def _thompson(rows, hashes, sends, responses, prior_a, prior_b, lo, hi, seed, round_, choice, score, draws):
    """Thompson decision per customer and decided dimension: the argmax of one Beta draw per arm.

    Dimension ``d`` is the arm block ``[lo[d], hi[d])`` of the state; row -1 means
    the prior alone. Arm ``j``'s draw is keyed by ``arm_key(draw_key(seed, round,
    hash), j)`` (the model's keys). ``draws`` (``(n, n_arms)`` or ``(0, 0)``)
    receives every draw.
    """
    n = rows.shape[0]
    n_dec = lo.shape[0]
    keep = draws.shape[0] == n and n > 0
    for i in prange(n):
        r = rows[i]
        key = K.draw_key(seed, round_, hashes[i])
        for d in range(n_dec):
            best = -1
            best_v = -1.0
            for j in range(lo[d], hi[d]):
                a, b = K.posterior(r, j, sends, responses, prior_a, prior_b)
                v = _beta(a, b, K.arm_key(key, np.uint64(j)))
                if keep:
                    draws[i, j] = v
                if v > best_v:
                    best_v = v
                    best = j
            choice[i, d] = best - lo[d]
            if d == 0:
                score[i] = best_v


def _stats(st: PosteriorStore, n_arms: int) -> tuple[np.ndarray, np.ndarray]:
    sends = np.ascontiguousarray(st.sends, dtype=np.float32)
    responses = np.ascontiguousarray(st.responses, dtype=np.float32)
    if sends.shape[0] == 0:  # numba needs one row to index, even if no customer is known
        sends = responses = np.zeros((1, n_arms), dtype=np.float32)
    return sends, responses


def _run_thompson(policy: Baseline, st: PosteriorStore, rows: np.ndarray, hashes: np.ndarray, round_: int,
                  keep_draws: bool, prior_a: np.ndarray,
                  prior_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = rows.shape[0]
    choice = np.empty((n, policy._n_dec), dtype=np.int64)
    score = np.empty(n)
    draws = np.full((n, policy.space.n_arms) if keep_draws else (0, 0), np.nan)
    sends, responses = _stats(st, policy.space.n_arms)
    _thompson(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(hashes, dtype=np.uint64), sends,
              responses, np.ascontiguousarray(prior_a, dtype=np.float64),
              np.ascontiguousarray(prior_b, dtype=np.float64), policy._lo, policy._hi, np.uint64(policy.config.seed),
              np.uint64(round_), choice, score, draws)
    return choice, score, draws


class FlatThompson(Baseline):
    """Per-customer Thompson sampling with a flat ``Beta(1, 1)`` prior on every arm: no pooling.

    Each customer's posterior comes from their own decayed counts only, so a
    customer with little history explores nearly uniformly. The propensity is
    exact: the product over decided dimensions of the probability that the
    chosen arm has the largest draw (:func:`channelopt.kernels.win.win_many`);
    ``score`` is the chosen channel's draw.

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a"] * 6, "sent_at": pd.date_range("2026-01-01", periods=6),
    ...                      "channel": ["sms"] * 3 + ["email"] * 3,
    ...                      "responded_at": ["2026-01-01 02:00", "2026-01-02 02:00", "2026-01-03 02:00",
    ...                                       None, None, None]})
    >>> ts = FlatThompson(space, seed=1, half_life=None).fit(logs, as_of="2026-01-20")
    >>> plan = ts.rank(["a"], now="2026-01-21")   # Beta(4, 1) beats Beta(1, 4) with probability 1 - 4 B(4, 5)
    >>> plan["channel"].tolist(), round(float(plan["propensity"][0]), 4)
    (['sms'], 0.9857)
    """

    def _derive(self) -> None:
        super()._derive()
        self._flat = np.ones(self.space.n_arms, dtype=np.float64)
        self._mask = np.ones((1, len(self.space.channels)), dtype=np.uint8)

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        choice, score, draws = _run_thompson(self, st, rows, hashes, round_, keep_draws, self._flat, self._flat)
        n = rows.shape[0]
        if not propensity or n == 0:
            return choice, score, np.full(n, np.nan), draws
        sends, responses = _stats(st, self.space.n_arms)
        win = np.zeros((n, self.space.n_arms))
        win_many(np.ascontiguousarray(rows, dtype=np.int64), np.zeros(n, np.int64), sends, responses,
                 self._flat[None, :], self._flat[None, :],
                 self.space.offsets, self._mask, -1, np.ones(1), win)
        prop = np.ones(n)
        for k in range(self._n_dec):
            prop *= win[np.arange(n), self._lo[k] + choice[:, k]]
        return choice, score, prop, draws


class PooledThompson(Baseline):
    """One Thompson bandit per arm for everyone: no personalisation.

    Every arm's posterior is ``Beta(1 + R, 1 + S - R)`` with ``S`` and ``R`` the
    decayed sends and responses of that arm summed over all customers. Each
    customer gets their own draw from these shared posteriors, so everyone has
    the same probability distribution over decisions; the propensity is that
    probability, computed exactly once per fit (:func:`channelopt.kernels.win.win_dim`,
    deterministic quadrature).

    Parameters
    ----------
    space : ArmSpace
    seed : int, default 0
    response_window, half_life, default_tz
        As in :class:`channelopt.ChannelModel`.

    Examples
    --------
    >>> import pandas as pd
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-01"],
    ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
    >>> pooled = PooledThompson(space, half_life=None).fit(logs, as_of="2026-01-10")
    >>> pooled.probabilities_["channel"].round(4).tolist()   # P(email), P(sms): Beta(1, 2) vs Beta(2, 1)
    [0.1667, 0.8333]
    """

    def _derive(self) -> None:
        super()._derive()
        self._learned(self._store())

    def _commit_ingest(self, store: PosteriorStore, token: Any) -> None:
        self._learned(store)
        super()._commit_ingest(store, token)

    def _learned(self, store: PosteriorStore) -> None:
        """Derive the pooled posteriors and their probabilities from a new store (before it is published)."""
        s = np.asarray(store.sends, dtype=np.float64).sum(axis=0) if store.n_customers else np.zeros(
            self.space.n_arms)
        r = np.asarray(store.responses, dtype=np.float64).sum(axis=0) if store.n_customers else np.zeros(
            self.space.n_arms)
        alpha = 1.0 + r
        beta = 1.0 + np.maximum(s - r, 0.0)
        probs = {name: win_dim(np.ascontiguousarray(alpha[lo:hi]), np.ascontiguousarray(beta[lo:hi]))
                 for name, lo, hi in zip(self._names, self._lo, self._hi)}
        # published together: a reader sees one consistent (posterior, probabilities) pair
        self._pooled = (alpha, beta, probs)

    @property
    def probabilities_(self) -> dict[str, np.ndarray]:
        """P(each arm is chosen), per decided dimension (the same for every customer)."""
        return {k: v.copy() for k, v in self._pooled[2].items()}

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        alpha, beta, probs = self._pooled
        everyone = np.full(rows.shape[0], -1, dtype=np.int64)  # the posterior is the pooled one
        choice, score, draws = _run_thompson(self, st, everyone, hashes, round_, keep_draws, alpha, beta)
        prop = np.ones(rows.shape[0])
        for k, name in enumerate(self._names):
            prop *= probs[name][choice[:, k]]
        return choice, score, prop, draws

