"""Values in error messages: numpy scalars shown as the Python scalars they hold."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plain", "short"]


def plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds, so messages read ``7``, not ``np.int64(7)``.

    Examples
    --------
    >>> repr(plain(np.int64(7))), plain("c-1")
    ('7', 'c-1')
    """
    return value.item() if isinstance(value, np.generic) else value


def short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for an error message, cut to ``limit`` characters (inputs may be megabytes).

    Examples
    --------
    >>> short("x" * 1000, limit=12)
    "'xxxxxxxx...' (1000 characters)"
    >>> short(np.int64(7))
    '7'
    """
    v = plain(value)
    if isinstance(v, (str, bytes)) and len(v) > limit:
        return f"{v[:max(limit - 4, 1)]!r}"[:-1] + "...'" + f" ({len(v)} characters)"
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."
