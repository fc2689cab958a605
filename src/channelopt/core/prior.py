"""Declared priors: what a deployment knows about response rates before it has any data.

``ChannelModel(space, prior=...)`` takes, per dimension of the arm space, either one
``(rate, strength)`` for every arm of the dimension or a mapping ``arm -> (rate,
strength)``; a :class:`Prior` may stand wherever a pair does. ``rate`` is the expected
response rate of the arm (in ``(0, 1)``), ``strength`` the weight of that belief in
sends (``Beta(rate * strength, (1 - rate) * strength)``). Arms not named keep the
uniform ``Beta(1, 1)``.

The declaration is checked once, here, into :class:`DeclaredPrior` (one rate and one
strength per arm, NaN where not declared); how a fitted model combines it with
empirical Bayes is :func:`channelopt.state.declared.fit_declared_prior`.

Examples
--------
>>> from channelopt.core.arms import ArmSpace
>>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
>>> d = declared_prior({"channel": {"email": (0.03, 20), "sms": Prior(0.05, 10)}}, space)
>>> d.alpha.tolist(), d.beta.tolist()
([0.6, 0.5], [19.4, 9.5])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from channelopt.core.arms import ArmSpace
from channelopt.core.validation import check_scalar
from channelopt.core.values import short

__all__ = ["MIN_PSEUDO", "DeclaredPrior", "Prior", "declared_prior", "prior_from_json", "prior_to_json"]

#: Smallest ``rate * strength`` and ``(1 - rate) * strength`` a declared prior may have: below it a
#: Beta draw is 0 or 1 to double precision (the arm would never, or always, win).
MIN_PSEUDO = 1e-3


@dataclass(frozen=True)
class Prior:
    """A belief about one arm's response rate: ``Beta(rate * strength, (1 - rate) * strength)``.

    Parameters
    ----------
    rate : float
        Expected response rate, in ``(0, 1)``.
    strength : float
        Weight of the belief, in sends (``alpha + beta``), ``> 0``.

    Examples
    --------
    >>> p = Prior(0.05, 20)
    >>> p.alpha, p.beta
    (1.0, 19.0)
    >>> Prior(1.5, 20)
    Traceback (most recent call last):
    ...
    ValueError: rate: must be a number in (0, 1), got 1.5
    """

    rate: float
    strength: float

    def __post_init__(self) -> None:
        _check(self.rate, self.strength, "")

    @property
    def alpha(self) -> float:
        """``rate * strength``."""
        return float(self.rate) * float(self.strength)

    @property
    def beta(self) -> float:
        """``(1 - rate) * strength``."""
        return (1.0 - float(self.rate)) * float(self.strength)


def _check(rate: Any, strength: Any, where: str) -> tuple[float, float]:
    """``(rate, strength)`` checked; errors name ``where`` (e.g. ``prior['channel']['sms']``)."""
    prefix = f"{where} " if where else ""
    r = check_scalar(rate, f"{prefix}rate", float, min_val=0, max_val=1, include_boundaries="neither")
    s = check_scalar(strength, f"{prefix}strength", float, min_val=0, include_boundaries="neither")
    if min(r, 1.0 - r) * s < MIN_PSEUDO:
        raise ValueError(f"{where or 'prior'}: rate {r!r} with strength {s!r} gives a Beta parameter below "
                         f"{MIN_PSEUDO} (rate * strength and (1 - rate) * strength must be >= {MIN_PSEUDO})")
    return r, s


def _pair(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, Prior):
        return float(value.rate), float(value.strength)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return _check(value[0], value[1], where)
    raise ValueError(f"{where}: expected (rate, strength) or a Prior, got {short(value)}")


@dataclass(frozen=True, eq=False)
class DeclaredPrior:
    """A checked declaration: one rate and strength per arm of the space (NaN: not declared).

    Attributes
    ----------
    rate, strength : float64 (n_arms,)
    declared : bool (n_arms,)

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], wordings=["plain"], hours=False, weekdays=False)
    >>> d = declared_prior({"wording": (0.2, 10)}, space)
    >>> d.declared.tolist(), d.alpha.tolist(), d.beta.tolist()
    ([False, False, True], [1.0, 1.0, 2.0], [1.0, 1.0, 8.0])
    """

    rate: np.ndarray
    strength: np.ndarray
    declared: np.ndarray

    @property
    def alpha(self) -> np.ndarray:
        """Prior ``alpha`` of every arm before any data (1 where not declared)."""
        return np.where(self.declared, self.rate * self.strength, 1.0)

    @property
    def beta(self) -> np.ndarray:
        """Prior ``beta`` of every arm before any data (1 where not declared)."""
        return np.where(self.declared, (1.0 - self.rate) * self.strength, 1.0)


def _arm_key(key: Any, dim: str, labels: tuple[str, ...]) -> str | None:
    if isinstance(key, str):
        return key if key in labels else None
    if dim == "hour" and isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)) \
            and 0 <= int(key) <= 23:
        return f"{int(key):02d}"  # hours may be named by their number
    return None


def declared_prior(prior: Any, space: ArmSpace) -> DeclaredPrior | None:
    """Check a ``prior=`` declaration against ``space``; None when nothing is declared.

    Parameters
    ----------
    prior : mapping or None
        ``{dimension: (rate, strength) | Prior | {arm: (rate, strength) | Prior}}``;
        hours are named ``"00"``..``"23"`` (or 0..23), weekdays ``"Mon"``..``"Sun"``.
    space : ArmSpace

    Returns
    -------
    DeclaredPrior or None

    Raises
    ------
    ValueError
        One message naming the dimension, arm and value at fault (a rate or
        strength of the wrong type is a ``TypeError``, as in ``check_scalar``).

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> declared_prior({"channel": (0.04, 25)}, space).rate.tolist()
    [0.04, 0.04]
    >>> declared_prior({"channel": {"fax": (0.04, 25)}}, space)
    Traceback (most recent call last):
    ...
    ValueError: prior['channel']: unknown arm 'fax' (arms: email, sms)
    """
    if prior is None:
        return None
    if not isinstance(prior, Mapping):
        raise ValueError("prior: expected a mapping of dimension to (rate, strength) or to {arm: (rate, strength)}, "
                         f"e.g. {{'channel': {{'email': (0.03, 20)}}}}, got {type(prior).__name__}")
    n_arms = space.n_arms
    rate = np.full(n_arms, np.nan)
    strength = np.full(n_arms, np.nan)
    dims = space.dimensions
    offsets = space.offsets
    for dim, spec in prior.items():
        if not isinstance(dim, str) or dim not in dims:
            raise ValueError(f"prior: unknown dimension {short(dim)} (dimensions: {', '.join(dims)})")
        d = dims.index(dim)
        labels = space.labels(dim)
        where = f"prior[{dim!r}]"
        if isinstance(spec, Mapping):
            for key, value in spec.items():
                arm = _arm_key(key, dim, labels)
                if arm is None:
                    raise ValueError(f"{where}: unknown arm {short(key)} (arms: {', '.join(labels)})")
                r, s = _pair(value, f"{where}[{short(key)}]")
                j = int(offsets[d]) + labels.index(arm)
                rate[j], strength[j] = r, s
        else:
            r, s = _pair(spec, where)
            rate[int(offsets[d]):int(offsets[d + 1])] = r
            strength[int(offsets[d]):int(offsets[d + 1])] = s
    declared = ~np.isnan(rate)
    if not declared.any():
        return None
    return DeclaredPrior(rate, strength, declared)


def prior_to_json(prior: Any) -> Any:
    """A (checked) declaration as JSON values: pairs become ``[rate, strength]`` lists.

    Examples
    --------
    >>> prior_to_json({"channel": {"email": Prior(0.03, 20)}, "wording": (0.1, 5)})
    {'channel': {'email': [0.03, 20.0]}, 'wording': [0.1, 5.0]}
    """
    if prior is None:
        return None

    def pair(v: Any) -> list[float]:
        return [float(v.rate), float(v.strength)] if isinstance(v, Prior) else [float(v[0]), float(v[1])]

    out: dict[str, Any] = {}
    for dim, spec in prior.items():
        if isinstance(spec, Mapping):
            out[dim] = {(k if isinstance(k, str) else f"{int(k):02d}"): pair(v) for k, v in spec.items()}
        else:
            out[dim] = pair(spec)
    return out


def prior_from_json(data: Any) -> dict[str, Any] | None:
    """The inverse of :func:`prior_to_json`, pairs as :class:`Prior` (checked again by the model).

    Examples
    --------
    >>> prior_from_json({"channel": [0.03, 20.0]})
    {'channel': Prior(rate=0.03, strength=20.0)}
    """
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"must be an object, got {type(data).__name__}")

    def pair(v: Any) -> Prior:
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and
                                                             not isinstance(x, bool) and math.isfinite(x) for x in v)):
            raise ValueError(f"expected [rate, strength], got {short(v)}")
        return Prior(float(v[0]), float(v[1]))

    return {dim: ({k: pair(v) for k, v in spec.items()} if isinstance(spec, dict) else pair(spec))
            for dim, spec in data.items()}
