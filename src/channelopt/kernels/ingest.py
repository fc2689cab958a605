"""Ingestion kernels: resolve sends at ``as_of``, accumulate decayed statistics, remember recent sends,
and the prior's sample of customers."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["BEFORE_WATERMARK",
           "COUNTED",
           "PENDING",
           "RESPONDED",
           "accumulate",
           "ceil_minutes",
           "remember_log_sends",
           "remember_sends",
           "resolve_sends",
           "sample_in_order"]

# -- accumulation --------------------------------------------------------------


PENDING, BEFORE_WATERMARK, COUNTED, RESPONDED = 0, 1, 2, 3  # outcomes of :func:`resolve_sends`
_NAT = np.iinfo(np.int64).min


@njit(cache=True)
def resolve_sends(sent, responded, negative, as_of, watermark, window, by_reply, half_life):
    """``(outcome, weight)`` of every send at ``as_of``, in one pass.

    A send resolves at its response when that comes within ``window`` (and
    ``by_reply``), else at ``sent + window``. ``outcome`` is ``PENDING``
    (resolves after ``as_of``), ``BEFORE_WATERMARK`` (resolved at or before
    ``watermark``: already counted by an earlier fit; ``watermark`` is the int64
    minimum when there is none), ``RESPONDED`` (a response in the window, not
    an unsubscription or complaint) or ``COUNTED`` (any other resolved send).
    ``weight`` is ``2 ** (-(as_of - sent) / half_life)`` (1 when ``half_life``
    is 0) for counted sends, 0 otherwise.

    Examples
    --------
    >>> h = 3_600 * 10**9
    >>> out, w = resolve_sends(np.array([0, 0, 22 * h]), np.array([h, _NAT, _NAT]), np.zeros(3, np.bool_),
    ...                        24 * h, _NAT, 3 * h, True, 24 * h)
    >>> out.tolist(), w.round(3).tolist()
    ([3, 2, 0], [0.5, 0.5, 0.0])
    """
    n = sent.shape[0]
    outcome = np.empty(n, dtype=np.int8)
    weight = np.zeros(n, dtype=np.float64)
    for i in range(n):
        s = sent[i]
        r = responded[i]
        in_window = r != _NAT and r - s <= window
        resolved = r if (in_window and by_reply) else s + window
        if resolved > as_of:
            outcome[i] = PENDING
        elif watermark != _NAT and resolved <= watermark:
            outcome[i] = BEFORE_WATERMARK
        else:
            outcome[i] = RESPONDED if (in_window and not negative[i]) else COUNTED
            weight[i] = np.exp2(-np.float64(as_of - s) / half_life) if half_life > 0 else 1.0
    return outcome, weight


@njit(cache=True, parallel=True)
def accumulate(rows, arms, weight, outcome, sends, responses, squares, parts) -> None:
    """Add each counted send (``outcome`` of :func:`resolve_sends` ``COUNTED`` or
    ``RESPONDED``) to its customer's row, one arm per dimension.

    ``arms[i, d]`` is the flat arm index of row ``i`` in dimension ``d`` or -1
    (dimension unknown for that row). A response adds ``weight`` to both sends
    and responses; any other counted send only to sends. Every counted send
    also adds ``weight ** 2`` to ``squares`` (the sum of squared weights that
    gives the effective sample size ``sends ** 2 / squares`` of the prior fit;
    equal to ``sends`` for whole sends). The customers are split in ``parts``
    (``r % parts``; one per thread) and each part adds its sends in log order,
    so the float sums do not depend on ``parts``.

    Examples
    --------
    >>> s, k, q = (np.zeros((1, 1), np.float32) for _ in range(3))
    >>> accumulate(np.zeros(2, np.int64), np.zeros((2, 1), np.int16), np.array([1.0, 0.5]),
    ...            np.array([RESPONDED, COUNTED], np.int8), s, k, q, 1)
    >>> float(s[0, 0]), float(k[0, 0]), float(q[0, 0])
    (1.5, 1.0, 1.25)
    """
    n, n_dims = arms.shape
    for p in prange(parts):
        for i in range(n):
            r = rows[i]
            o = outcome[i]
            if r % parts != p or o < COUNTED:
                continue
            w = weight[i]
            w2 = w * w
            for d in range(n_dims):
                j = arms[i, d]
                if j >= 0:
                    sends[r, j] += w
                    squares[r, j] += w2
                    if o == RESPONDED:
                        responses[r, j] += w


@njit(cache=True, parallel=True)
def ceil_minutes(ns):
    """int32 minutes since the epoch of int64 ns, rounded up.

    Examples
    --------
    >>> ceil_minutes(np.array([0, 1, 60 * 10**9, -1])).tolist()
    [0, 1, 1, 0]
    """
    out = np.empty(ns.shape[0], dtype=np.int32)
    for i in prange(ns.shape[0]):
        out[i] = -((-ns[i]) // 60_000_000_000)
    return out


@njit(cache=True, inline="always")
def _remember(r, t, c, hist_t, hist_c) -> None:
    k = hist_t.shape[1]
    oldest = 0
    for s in range(k):
        if hist_t[r, s] == t and hist_c[r, s] == c:
            return
        if hist_t[r, s] < hist_t[r, oldest]:
            oldest = s
    if t > hist_t[r, oldest]:
        hist_t[r, oldest] = t
        hist_c[r, oldest] = c


@njit(cache=True)
def remember_sends(rows, minutes, channels, hist_t, hist_c) -> None:
    """Keep each customer's latest sends in a fixed set of slots (the oldest is replaced).

    A send identical to one already kept (same minute, same channel) is kept
    once, so re-ingesting a log changes nothing; empty slots hold the int32
    minimum, older than any send.
    """
    for i in range(rows.shape[0]):
        _remember(rows[i], minutes[i], channels[i], hist_t, hist_c)


@njit(cache=True, parallel=True)
def remember_log_sends(rows, minutes, channels, hist_t, hist_c, parts) -> None:
    """:func:`remember_sends` for a log, customers split in ``parts`` (``r % parts``; one per thread)."""
    for p in prange(parts):
        for i in range(rows.shape[0]):
            if rows[i] % parts == p:
                _remember(rows[i], minutes[i], channels[i], hist_t, hist_c)


# -- prior sample ---------------------------------------------------------------


@njit(cache=True)
def sample_in_order(sends, responses, squares, order, sample):
    """For every arm, ``(n, k)`` of the first ``sample`` customers in ``order`` with sends on it,
    as effective whole sends.

    One pass over the customers in ``order`` (for the prior: id-hash order),
    stopping once every arm has its sample; ``k`` is capped at ``n``. Decayed
    sends weigh less than one, so their sum ``n`` understates the information
    they carry: the binomial noise of a weighted rate is ``p (1 - p) q / n ** 2``
    with ``q`` the sum of squared weights (``squares``), so both ``n`` and ``k``
    are scaled by ``n / q`` (``n_eff = n ** 2 / q``, ``k_eff = k n_eff / n``).
    The factor is 1 when ``q == n`` (whole sends: no decay) or ``q == 0``, so
    ``squares = sends`` gives ``n`` and ``k`` unchanged, bit for bit. Returns
    float64 arrays ``(n_arms, sample)`` and the count filled per arm.

    Examples
    --------
    >>> n = np.array([[2.0], [1.0]], np.float32); k = np.array([[1.0], [1.0]], np.float32)
    >>> q = np.array([[1.0], [1.0]], np.float32)   # row 0: four sends of weight 1/2
    >>> out_n, out_k, count = sample_in_order(n, k, q, np.array([0, 1]), 2)
    >>> out_n[0].tolist(), out_k[0].tolist(), count.tolist()
    ([4.0, 1.0], [2.0, 1.0], [2])
    """
    n_arms = sends.shape[1]
    n_out = np.zeros((n_arms, sample))
    k_out = np.zeros((n_arms, sample))
    count = np.zeros(n_arms, dtype=np.int64)
    full = 0
    for o in range(order.shape[0]):
        r = order[o]
        for j in range(n_arms):
            c = count[j]
            if c < sample:
                s = np.float64(sends[r, j])
                if s > 0:
                    q = np.float64(squares[r, j])
                    f = s / q if (q > 0.0 and q < s) else 1.0  # n_eff / n (>= 1: no weight exceeds 1)
                    n_out[j, c] = s * f
                    k_out[j, c] = min(np.float64(responses[r, j]), s) * f
                    count[j] = c + 1
                    if c + 1 == sample:
                        full += 1
        if full == n_arms:
            break
    return n_out, k_out, count
