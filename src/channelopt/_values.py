"""Values in error messages: numpy scalars shown as the Python scalars they hold."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds, so messages read ``7``, not ``np.int64(7)``.

    Examples
    --------
    >>> repr(plain(np.int64(7))), plain("c-1")
    ('7', 'c-1')
    """
    return value.item() if isinstance(value, np.generic) else value
