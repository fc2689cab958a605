"""Numba kernels: counter-based RNG, Beta sampler, id hashing, accumulation, Thompson ranking.

Everything here takes contiguous typed numpy arrays and scalars, never pandas or
Python objects, and is compiled with ``cache=True`` (no object mode).

The per-customer decision itself (channel, wording, send slot, propensity)
is in :mod:`channelopt._decide`.

Normals come from a 256-layer ziggurat, gammas from Marsaglia-Tsang, Betas as
X / (X + Y): every draw is exact (no approximation by shape).

Randomness is counter based: a draw is a pure function of
``(seed, round, customer hash, arm, counter)`` through splitmix64, so results
do not depend on thread count, chunking or partitioning.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# -- constants (numba freezes module globals; uint64 throughout to avoid float promotion)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_TWO_M53 = 1.0 / 9007199254740992.0
_PROPENSITY_STREAM = np.uint64(0x50524F50)  # "PROP": separates propensity draws from decision draws


@njit(cache=True, nogil=True, inline="always")
def splitmix64(x: np.uint64) -> np.uint64:
    """The splitmix64 finaliser of ``x + golden``: a bijective 64-bit mix."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True, inline="always")
def draw_key(seed: np.uint64, round_: np.uint64, customer: np.uint64) -> np.uint64:
    """Key of one customer's draws in one decision round."""
    return splitmix64(splitmix64(splitmix64(seed) ^ round_) ^ customer)


@njit(cache=True, nogil=True, inline="always")
def arm_key(key: np.uint64, arm: np.uint64) -> np.uint64:
    """Key of one arm's draw stream under a customer key."""
    return splitmix64(key ^ (arm * _M2))


@njit(cache=True, nogil=True, inline="always")
def _uniform(key: np.uint64, counter: np.uint64) -> float:
    """The ``counter``-th uniform of stream ``key``, in the open interval (0, 1)."""
    x = splitmix64(key + counter * _GOLDEN)
    return (float(x >> _S11) + 0.5) * _TWO_M53


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marsaglia-Tsang (2000) ziggurat tables for the standard normal, 256 layers, 52-bit magnitudes."""
    m = 2.0**52
    dn = _ZIG_R
    tn = dn
    vn = 4.92867323399e-3  # area of each layer
    ki = np.zeros(256, dtype=np.uint64)
    wi = np.zeros(256, dtype=np.float64)
    fi = np.zeros(256, dtype=np.float64)
    q = vn / math.exp(-0.5 * dn * dn)
    ki[0] = np.uint64((dn / q) * m)
    wi[0] = q / m
    wi[255] = dn / m
    fi[0] = 1.0
    fi[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.uint64((dn / tn) * m)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / m
    return ki, wi, fi


_ZIG_R = 3.6541528853610088
_ZIG_INV_R = 1.0 / _ZIG_R
_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()
_U8 = np.uint64(8)
_U1 = np.uint64(1)
_MASK8 = np.uint64(0xFF)
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)


@njit(cache=True, nogil=True, inline="always")
def _normal(key: np.uint64, counter: np.uint64):
    """A standard normal by the ziggurat method (one 64-bit draw per try); returns (z, counter)."""
    while True:
        r = splitmix64(key + counter * _GOLDEN)
        counter += _U1
        idx = int(r & _MASK8)
        r = r >> _U8
        negative = (r & _U1) != 0
        rabs = (r >> _U1) & _MASK52
        x = float(rabs) * _ZIG_W[idx]
        if negative:
            x = -x
        if rabs < _ZIG_K[idx]:
            return x, counter  # the rectangle: ~99% of draws
        if idx == 0:
            # the tail beyond R (Marsaglia's exponential method)
            while True:
                xx = -_ZIG_INV_R * math.log(_uniform(key, counter))
                yy = -math.log(_uniform(key, counter + _U1))
                counter += np.uint64(2)
                if yy + yy > xx * xx:
                    return (-(_ZIG_R + xx) if negative else _ZIG_R + xx), counter
        else:
            u = _uniform(key, counter)
            counter += _U1
            if (_ZIG_F[idx - 1] - _ZIG_F[idx]) * u + _ZIG_F[idx] < math.exp(-0.5 * x * x):
                return x, counter


@njit(cache=True, nogil=True, inline="always")
def _gamma_ge1(a: float, key: np.uint64, counter: np.uint64):
    """A Gamma(a, 1) draw for a >= 1 (Marsaglia-Tsang with squeeze, exact); returns (x, counter)."""
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x, counter = _normal(key, counter)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = _uniform(key, counter)
        counter += _U1
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2:
            return d * v, counter
        if math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            return d * v, counter


@njit(cache=True, nogil=True, inline="always")
def _log_gamma(a: float, key: np.uint64, counter: np.uint64):
    """log of a Gamma(a, 1) draw for any a > 0 (a < 1 boosted by U**(1/a), in log space)."""
    if a >= 1.0:
        g, counter = _gamma_ge1(a, key, counter)
        return math.log(g), counter
    g, counter = _gamma_ge1(a + 1.0, key, counter)
    u = _uniform(key, counter)
    counter += _U1
    return math.log(g) + math.log(u) / a, counter


@njit(cache=True, nogil=True, inline="always")
def beta_draw(a: float, b: float, key: np.uint64) -> float:
    """One exact Beta(a, b) draw from stream ``key``, as X / (X + Y) with gamma X, Y."""
    if a >= 1.0 and b >= 1.0:
        x, counter = _gamma_ge1(a, key, np.uint64(0))
        y, counter = _gamma_ge1(b, key, counter)
        return x / (x + y)
    # a or b < 1: gammas can underflow, so combine them in log space
    lx, counter = _log_gamma(a, key, np.uint64(0))
    ly, counter = _log_gamma(b, key, counter)
    t = ly - lx
    if t > 700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(t))


@njit(cache=True, parallel=True)
def beta_sample(a: float, b: float, seed: np.uint64, n: int) -> np.ndarray:
    """``n`` Beta(a, b) draws, draw ``i`` keyed by ``(seed, i)`` (for tests and benchmarks)."""
    out = np.empty(n, dtype=np.float64)
    base = splitmix64(seed)
    for i in prange(n):
        out[i] = beta_draw(a, b, arm_key(base, np.uint64(i)))
    return out


# -- id hashing and lookup -----------------------------------------------------


@njit(cache=True, nogil=True)
def hash_bytes(data: np.ndarray, start: int, stop: int) -> np.uint64:
    """64-bit hash of ``data[start:stop]`` (FNV-1a, then the splitmix64 finaliser)."""
    h = _FNV_OFFSET
    for k in range(start, stop):
        h = (h ^ np.uint64(data[k])) * _FNV_PRIME
    return splitmix64(h ^ np.uint64(stop - start))


@njit(cache=True, parallel=True)
def hash_many(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Hash of every id ``data[offsets[i]:offsets[i+1]]``."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in prange(n):
        out[i] = hash_bytes(data, offsets[i], offsets[i + 1])
    return out


@njit(cache=True, nogil=True, inline="always")
def _same_bytes(a: np.ndarray, a0: int, a1: int, b: np.ndarray, b0: int, b1: int) -> bool:
    if a1 - a0 != b1 - b0:
        return False
    for k in range(a1 - a0):
        if a[a0 + k] != b[b0 + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def lower_bound(sorted_hash, h) -> int:
    """First position whose hash is not below ``h`` (``np.searchsorted(sorted_hash, h)``).

    Hashes are uniform over 64 bits, so the position is first guessed from the
    value of ``h`` and then found by galloping from the guess: one or two cache
    misses instead of the ~20 of a binary search over millions of ids.
    """
    n = sorted_hash.shape[0]
    if n == 0:
        return 0
    g = np.int64(np.float64(h) * (n / 18446744073709551616.0))
    g = min(max(g, np.int64(0)), np.int64(n - 1))
    if sorted_hash[g] < h:  # the answer is in (g, n]: gallop up
        lo = g
        step = np.int64(1)
        while lo + step < n and sorted_hash[lo + step] < h:
            lo += step
            step *= 2
        hi = min(lo + step, np.int64(n))  # sorted_hash[lo] < h <= sorted_hash[hi] (or hi == n)
    else:  # the answer is in [0, g]: gallop down
        hi = g
        step = np.int64(1)
        while hi - step >= 0 and sorted_hash[hi - step] >= h:
            hi -= step
            step *= 2
        lo = max(hi - step, np.int64(-1))  # sorted_hash[lo] < h (or lo == -1) and sorted_hash[hi] >= h
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if sorted_hash[mid] < h:
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, nogil=True)
def lookup_one(sorted_hash, order, id_offsets, id_data, h, q_data, q0, q1) -> int:
    """Row of one id (hash ``h``, bytes ``q_data[q0:q1]``), or -1 when unknown."""
    pos = lower_bound(sorted_hash, h)
    n = sorted_hash.shape[0]
    while pos < n and sorted_hash[pos] == h:
        row = order[pos]
        if _same_bytes(id_data, id_offsets[row], id_offsets[row + 1], q_data, q0, q1):
            return row
        pos += 1
    return -1


@njit(cache=True, parallel=True)
def gather_bytes(offsets, data, which, out_offsets):
    """The bytes of ids ``which`` (``data[offsets[w]:offsets[w + 1]]`` each), laid out at ``out_offsets``."""
    out = np.empty(out_offsets[-1], dtype=np.uint8)
    for q in prange(which.shape[0]):
        src = offsets[which[q]]
        dst = out_offsets[q]
        for k in range(out_offsets[q + 1] - dst):
            out[dst + k] = data[src + k]
    return out


@njit(cache=True, parallel=True)
def lookup_many(sorted_hash, order, id_offsets, id_data, q_hash, q_offsets, q_data) -> np.ndarray:
    """Rows of many ids (-1 where unknown)."""
    n = q_hash.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        out[i] = lookup_one(sorted_hash, order, id_offsets, id_data, q_hash[i], q_data,
                            q_offsets[i], q_offsets[i + 1])
    return out


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
def accumulate(rows, arms, weight, outcome, sends, responses, parts) -> None:
    """Add each counted send (``outcome`` of :func:`resolve_sends` ``COUNTED`` or
    ``RESPONDED``) to its customer's row, one arm per dimension.

    ``arms[i, d]`` is the flat arm index of row ``i`` in dimension ``d`` or -1
    (dimension unknown for that row). A response adds ``weight`` to both sends
    and responses; any other counted send only to sends. The customers are
    split in ``parts`` (``r % parts``; one per thread) and each part adds its
    sends in log order, so the float sums do not depend on ``parts``.
    """
    n, n_dims = arms.shape
    for p in prange(parts):
        for i in range(n):
            r = rows[i]
            o = outcome[i]
            if r % parts != p or o < COUNTED:
                continue
            w = weight[i]
            for d in range(n_dims):
                j = arms[i, d]
                if j >= 0:
                    sends[r, j] += w
                    if o == RESPONDED:
                        responses[r, j] += w


@njit(cache=True, nogil=True, inline="always")
def posterior(r, j, sends, responses, prior_a, prior_b):
    """``(alpha, beta)`` of arm ``j`` for state row ``r`` (-1: the prior alone).

    ``Beta(prior_a + responses, prior_b + max(sends - responses, 0))``: the one
    definition every kernel (decisions, win probabilities, baselines) uses.
    """
    a = prior_a[j]
    b = prior_b[j]
    if r >= 0:
        s = np.float64(sends[r, j])
        k = np.float64(responses[r, j])
        a += k
        f = s - k
        if f > 0.0:
            b += f
    return a, b


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
def sample_in_order(sends, responses, order, sample):
    """For every arm, ``(n, k)`` of the first ``sample`` customers in ``order`` with sends on it.

    One pass over the customers in ``order`` (for the prior: id-hash order),
    stopping once every arm has its sample; ``k`` is capped at ``n``. Returns
    float64 arrays ``(n_arms, sample)`` and the count filled per arm.
    """
    n_arms = sends.shape[1]
    n_out = np.zeros((n_arms, sample))
    k_out = np.zeros((n_arms, sample))
    count = np.zeros(n_arms, dtype=np.int64)
    full = 0
    for q in range(order.shape[0]):
        r = order[q]
        for j in range(n_arms):
            c = count[j]
            if c < sample:
                s = np.float64(sends[r, j])
                if s > 0:
                    n_out[j, c] = s
                    k_out[j, c] = min(np.float64(responses[r, j]), s)
                    count[j] = c + 1
                    if c + 1 == sample:
                        full += 1
        if full == n_arms:
            break
    return n_out, k_out, count
