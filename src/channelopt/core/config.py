"""Validated model configuration (a frozen dataclass)."""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from channelopt.core.validation import check_scalar, whole
from channelopt.core.values import short

__all__ = ["DEFAULT_EXPLORATION", "MAX_EXPLORATION", "ModelConfig", "check_exploration", "check_zone",
           "parse_duration"]

#: The default ``exploration`` of a model: draws from ``Beta(alpha / 0.1, beta / 0.1)``, a spread about a third of
#: plain Thompson sampling's (1.0). Chosen on ``benchmarks/bench_policy.py`` among 0.05 / 0.1 / 0.15 / 0.3 / 0.5 /
#: 1 / "auto": the best in four of its seven scenarios, 0.4 and 1.5 points behind the best in two, 3.4 behind
#: 0.05 in the sparse one (README, "Choosing exploration").
DEFAULT_EXPLORATION: Any = 0.1
#: The largest ``exploration`` accepted (beyond, the draws' shapes fall far below what the quadrature handles).
MAX_EXPLORATION = 100.0


def check_exploration(value: Any) -> float | str:
    """``exploration`` checked: a number in ``(0, 100]`` (as a float) or the string ``"auto"``.

    Examples
    --------
    >>> check_exploration(0.25), check_exploration("auto"), check_exploration(1)
    (0.25, 'auto', 1.0)
    >>> check_exploration(0)
    Traceback (most recent call last):
    ...
    ValueError: exploration: must be a number in (0, 100], got 0
    >>> check_exploration("x")
    Traceback (most recent call last):
    ...
    TypeError: exploration: must be a number in (0, 100] or 'auto', got 'x'
    """
    if isinstance(value, str):
        if value == "auto":
            return value
        raise TypeError(f"exploration: must be a number in (0, {MAX_EXPLORATION:g}] or 'auto', got {short(value)}")
    return check_scalar(value, "exploration", float, min_val=0, max_val=MAX_EXPLORATION, include_boundaries="right")


def parse_duration(value: Any, name: str, *, allow_none: bool = False) -> pd.Timedelta | None:
    """Parse ``"72h"``, ``"90D"``, a :class:`pandas.Timedelta` or ``datetime.timedelta``.

    Examples
    --------
    >>> parse_duration("72h", "response_window")
    Timedelta('3 days 00:00:00')
    """
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name}: a duration is required, e.g. '72h'")
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        # pd.Timedelta(72) is 72 nanoseconds: a number without a unit is almost always a mistake
        raise ValueError(f"{name}: {short(value)} is a number, not a duration (give a unit: '72h' or '90D')")
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsTimedelta):
        raise ValueError(f"{name}: cannot parse {short(value)} as a duration (try '72h' or '90D')") from None
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise ValueError(f"{name}: must be a positive duration, got {short(value)}")
    return td


def check_zone(name: str, where: str) -> str:
    """Return ``name`` if it is a known IANA zone, else raise a ValueError naming ``where``."""
    try:
        if not isinstance(name, str):
            raise TypeError(name)
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"{where}: unknown time zone {short(name)} (expected an IANA name such as "
                         "'Europe/Paris')") from None
    return name


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes learning and decisions, validated on construction.

    Parameters
    ----------
    response_window : str or Timedelta
        How long after a send a reply still counts; a send with no reply is a
        failure once this has passed as of the fit time.
    half_life : str, Timedelta or None
        Statistics halve in weight every ``half_life`` of event time; None keeps
        them forever.
    seed : int
        Seed of every Thompson draw (decisions are a pure function of seed,
        round, customer and arm).
    default_tz : str
        IANA zone for customers whose zone is not given.
    propensity_draws : int
        Monte Carlo draws used to compute a decision's propensity.
    prior_max_strength : float
        Upper bound of the empirical-Bayes prior strength ``alpha + beta``.
    prior_sample : int
        Customers per arm used to fit the prior (a deterministic sample).
    hour_smoothing : float
        Width (hours, a Gaussian's standard deviation) of the circular kernel
        that lets neighbouring hours share evidence; 0 turns it off.
    inbound_weight : float
        Weight of one inbound contact (a customer writing to us on a channel)
        as a success for that channel.
    resolve : {"window", "reply"}
        When a send is counted. ``"window"`` (default): every send once its
        response window has closed, reply or not -- unbiased. ``"reply"``: a
        replied send as soon as the reply comes, a silent one when its window
        closes -- faster, but it overrates every arm in proportion to its
        recent traffic (replies are counted before the silences of the same
        sends), which makes Thompson sampling pile onto arms whose traffic grows.

    Examples
    --------
    >>> ModelConfig(response_window="48h").response_window
    Timedelta('2 days 00:00:00')
    """

    response_window: Any = "72h"
    half_life: Any = "90D"
    seed: int = 0
    default_tz: str = "UTC"
    propensity_draws: int = 256
    prior_max_strength: float = 1000.0
    prior_sample: int = 5000
    hour_smoothing: float = 1.0
    inbound_weight: float = 1.0
    resolve: str = "window"
    exploration: Any = DEFAULT_EXPLORATION

    def __post_init__(self) -> None:
        object.__setattr__(self, "response_window", parse_duration(self.response_window, "response_window"))
        object.__setattr__(self, "half_life", parse_duration(self.half_life, "half_life", allow_none=True))
        object.__setattr__(self, "seed", check_scalar(self.seed, "seed", int, min_val=0, max_val=2**63,
                                                            include_boundaries="left"))
        object.__setattr__(self, "default_tz", check_zone(self.default_tz, "default_tz"))
        object.__setattr__(self, "propensity_draws", whole(self.propensity_draws, "propensity_draws", min_val=1))
        object.__setattr__(self, "prior_max_strength",  # 0.5: the smallest prior strength
                           check_scalar(self.prior_max_strength, "prior_max_strength", float, min_val=0.5))
        object.__setattr__(self, "prior_sample", whole(self.prior_sample, "prior_sample", min_val=10))
        if self.resolve not in ("window", "reply"):
            raise ValueError(f"resolve: expected 'window' or 'reply', got {short(self.resolve)}")
        object.__setattr__(self, "hour_smoothing",  # hours
                           check_scalar(self.hour_smoothing, "hour_smoothing", float, min_val=0, max_val=12))
        object.__setattr__(self, "inbound_weight", check_scalar(self.inbound_weight, "inbound_weight", float, min_val=0))
        object.__setattr__(self, "exploration", check_exploration(self.exploration))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (durations as ISO strings)."""
        d = asdict(self)
        d["response_window"] = self.response_window.isoformat()
        d["half_life"] = None if self.half_life is None else self.half_life.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict` (a configuration saved before ``exploration`` existed reads as 1.0,
        the behaviour it was saved with)."""
        data = dict(data)
        data.setdefault("exploration", 1.0)
        return cls(**data)

    @property
    def window_ns(self) -> int:
        return int(self.response_window.value)

    @property
    def half_life_ns(self) -> int:
        """Half-life in ns, 0 meaning no decay."""
        return 0 if self.half_life is None else int(self.half_life.value)
