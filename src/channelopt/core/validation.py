"""One validation helper for scalar parameters, in the manner of ``sklearn.utils.check_scalar``.

A wrong *type* is a ``TypeError``; a value of the right type outside its range is a
``ValueError``. Both name the parameter and quote the value (shortened), so every
public boundary reports bad input the same way. Validation happens once, where a value
enters (a constructor's first use, a method's arguments), never in a hot loop.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

import numpy as np

from channelopt.core.values import short

__all__ = ["check_scalar", "fraction", "positive", "whole"]

_BOUNDS = {"both": ("[", "]"), "left": ("[", ")"), "right": ("(", "]"), "neither": ("(", ")")}


def _kind(target_type: type | tuple[type, ...]) -> str:
    types = target_type if isinstance(target_type, tuple) else (target_type,)
    if all(issubclass(t, numbers.Integral) for t in types):
        return "an integer"
    if all(issubclass(t, numbers.Real) for t in types):
        return "a number"
    return " or ".join(t.__name__ for t in types)


def check_scalar(x: Any, name: str, target_type: type | tuple[type, ...], *, min_val: float | None = None,
                 max_val: float | None = None,
                 include_boundaries: Literal["both", "left", "right", "neither"] = "both") -> Any:
    """Check that ``x`` is a scalar of ``target_type`` within ``[min_val, max_val]``; return it.

    Booleans are never numbers here (``True`` is not an integer count), numpy scalars
    are accepted where the Python type is (``np.int64`` for ``int``, ``np.float32``
    for ``float``), an integral ``int`` is accepted for ``float``, and a real number
    must be finite. Returns ``x`` converted to the first of ``target_type`` for
    numbers (``int`` or ``float``), else unchanged.

    Parameters
    ----------
    x : object
        The value to check.
    name : str
        The parameter's name, quoted in the error.
    target_type : type or tuple of types
        Accepted types: ``int``, ``float`` (also accepts integers), or any class.
    min_val, max_val : float, optional
        Bounds of the value (numbers only).
    include_boundaries : {"both", "left", "right", "neither"}, default "both"
        Which bounds belong to the range.

    Returns
    -------
    int, float or object
        The checked value.

    Raises
    ------
    TypeError
        ``x`` is not of ``target_type`` (a bool for a number, a string for a number, ...).
    ValueError
        ``x`` is of the right type but not finite or outside its range.

    Examples
    --------
    >>> check_scalar(3, "days", int, min_val=1)
    3
    >>> check_scalar(0.5, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    0.5
    >>> check_scalar("3", "days", int)
    Traceback (most recent call last):
    ...
    TypeError: days: must be an integer, got '3'
    >>> check_scalar(1.0, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    Traceback (most recent call last):
    ...
    ValueError: level: must be a number in (0, 1), got 1.0
    """
    if include_boundaries not in _BOUNDS:
        raise ValueError(f"include_boundaries: must be one of {sorted(_BOUNDS)}, got {include_boundaries!r}")
    types = target_type if isinstance(target_type, tuple) else (target_type,)
    numeric = all(issubclass(t, numbers.Real) for t in types)
    kind = _kind(target_type)
    if numeric:
        integral = all(issubclass(t, numbers.Integral) for t in types)
        ok = (isinstance(x, numbers.Integral) if integral else isinstance(x, numbers.Real))
        if not ok or isinstance(x, (bool, np.bool_)):
            raise TypeError(f"{name}: must be {kind}, got {short(x)}")
        value: Any = int(x) if integral else float(x)
        if not integral and not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {x!r}")
        left, right = _BOUNDS[include_boundaries]
        low_bad = min_val is not None and (value < min_val if left == "[" else value <= min_val)
        high_bad = max_val is not None and (value > max_val if right == "]" else value >= max_val)
        if low_bad or high_bad:
            raise ValueError(f"{name}: must be {kind} {_range(min_val, max_val, left, right)}, got {x!r}")
        return value
    if not isinstance(x, target_type):
        raise TypeError(f"{name}: must be {kind}, got {short(x)}")
    return x


def _range(lo: float | None, hi: float | None, left: str, right: str) -> str:
    def num(v: float) -> str:  # 2**63, not 9223372036854775808
        if isinstance(v, int) and v >= 2**32 and v & (v - 1) == 0:
            return f"2**{v.bit_length() - 1}"
        return str(int(v)) if float(v).is_integer() else repr(v)
    if lo is not None and hi is not None:
        return f"in {left}{num(lo)}, {num(hi)}{right}"
    if lo is not None:
        return (">= " if left == "[" else "> ") + num(lo)
    return ("<= " if right == "]" else "< ") + num(hi)  # type: ignore[arg-type]


def positive(x: Any, name: str) -> float:
    """A finite number > 0 (``check_scalar(x, name, float, min_val=0, include_boundaries="neither")``).

    Examples
    --------
    >>> positive(2, "weight")
    2.0
    """
    return check_scalar(x, name, float, min_val=0, include_boundaries="neither")


def fraction(x: Any, name: str) -> float:
    """A number in [0, 1].

    Examples
    --------
    >>> fraction(0.1, "epsilon")
    0.1
    """
    return check_scalar(x, name, float, min_val=0, max_val=1)


def whole(x: Any, name: str, *, min_val: int | None = None) -> int:
    """An integer, also given as a whole float (``5000.0``) as configs read from JSON may hold.

    Examples
    --------
    >>> whole(5000.0, "prior_sample", min_val=1)
    5000
    """
    if isinstance(x, (float, np.floating)) and not isinstance(x, bool) and math.isfinite(x) and float(x).is_integer():
        x = int(x)
    return check_scalar(x, name, int, min_val=min_val)
