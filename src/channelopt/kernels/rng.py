"""Counter-based randomness: splitmix64 keys, uniforms, normals, gammas and exact Beta draws.

Normals come from a 256-layer ziggurat, gammas from Marsaglia-Tsang, Betas as
X / (X + Y): every draw is exact (no approximation by shape).

Randomness is counter based: a draw is a pure function of
``(seed, round, customer hash, arm, counter)`` through splitmix64, so results
do not depend on thread count, chunking or partitioning. Everything here takes
contiguous typed numpy arrays and scalars, never pandas or Python objects, and
is compiled with ``cache=True`` (no object mode).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["arm_key", "beta_draw", "beta_sample", "draw_key", "splitmix64"]

# -- constants (numba freezes module globals; uint64 throughout to avoid float promotion)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
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
