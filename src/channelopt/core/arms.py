"""The arm space: the named dimensions a decision is made over.

Posteriors are factorised per dimension, so the state of one customer is a flat
vector of ``n_arms`` cells (the sum of the dimensions' sizes, not their product).
The layout of that vector is fixed by :class:`ArmSpace`: dimensions in the order
``channel, wording, hour, weekday, *extra``, each a contiguous block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from channelopt.core.values import plain, short

__all__ = ["ArmSpace"]

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RESERVED = {"channel", "wording", "hour", "weekday"}
#: Most arms an arm space may have (the sum of its dimensions' sizes): arm positions are int16.
MAX_ARMS = 32767


def _as_labels(name: str, values: Sequence[Any]) -> tuple[str, ...]:
    """Arm names as text: a list (or other iterable) of strings or numbers, none empty, missing or repeated."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"ArmSpace: {name} must be a list of names, got the string {short(values)}")
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"ArmSpace: {name} must be a list of names, got {type(values).__name__}")
    labels = []
    for v in values:
        if v is None or (isinstance(v, (float, np.floating)) and v != v):
            raise ValueError(f"ArmSpace: {name} contains a missing name ({v!r})")
        if not isinstance(v, (str, int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)):
            raise ValueError(f"ArmSpace: {name} contains {short(v)} ({type(v).__name__}); names are strings")
        labels.append(str(plain(v)))
    if not labels:
        raise ValueError(f"ArmSpace: {name} must name at least one arm")
    if any(not lab for lab in labels):
        raise ValueError(f"ArmSpace: {name} contains an empty name")
    seen: set[str] = set()
    for lab in labels:
        if lab in seen:
            raise ValueError(f"ArmSpace: {name} names {short(lab)} twice")
        seen.add(lab)
    return tuple(labels)


@dataclass(frozen=True)
class ArmSpace:
    """Named dimensions of a decision: channel, wording, local hour, weekday, extras.

    Parameters
    ----------
    channels : sequence of str
        Channel names, e.g. ``["email", "sms", "push"]``. Required.
    wordings : sequence of str, optional
        Message wordings. Empty means the wording is not learned.
    hours : bool, default True
        Learn the local send hour (24 arms).
    weekdays : bool, default True
        Learn the local send weekday (7 arms, Monday first).
    extra : mapping of str to sequence of str, optional
        Further named dimensions, e.g. ``{"voice": ["male", "female"]}``; the
        response log carries one column per extra dimension, named after it.

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms"], wordings=["plain", "urgent"])
    >>> space.n_arms
    35
    >>> space.dimensions
    ('channel', 'wording', 'hour', 'weekday')
    """

    channels: tuple[str, ...]
    wordings: tuple[str, ...] = ()
    hours: bool = True
    weekdays: bool = True
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _as_labels("channels", self.channels))
        w = () if self.wordings is None else self.wordings
        if isinstance(w, (str, bytes)):
            raise ValueError(f"ArmSpace: wordings must be a list of names, got the string {short(w)}")
        if isinstance(w, Mapping) or not isinstance(w, Iterable):
            raise ValueError(f"ArmSpace: wordings must be a list of names, got {type(w).__name__}")
        wordings = tuple(w)
        object.__setattr__(self, "wordings", _as_labels("wordings", wordings) if wordings else ())
        if not isinstance(self.hours, bool) or not isinstance(self.weekdays, bool):
            raise ValueError("ArmSpace: hours and weekdays must be True or False")
        extra: dict[str, tuple[str, ...]] = {}
        if self.extra is not None and not isinstance(self.extra, Mapping):
            raise ValueError("ArmSpace: extra must be a mapping of dimension name to arm names, "
                             f"e.g. {{'voice': ['male', 'female']}}, got {type(self.extra).__name__}")
        for key, values in dict(self.extra or {}).items():
            if not isinstance(key, str) or key in _RESERVED or not key.isidentifier():
                raise ValueError(f"ArmSpace: extra dimension name {short(key)} is reserved or not an identifier")
            extra[key] = _as_labels(f"extra[{key!r}]", values)
        object.__setattr__(self, "extra", extra)
        if len(self.channels) > 32:
            raise ValueError("ArmSpace: at most 32 channels are supported")
        if self.n_arms > MAX_ARMS:  # log rows carry their arms as int16 positions in the state vector
            blocks = ", ".join(f"{name} {len(labels):,}" for name, labels in self._blocks())
            raise ValueError(f"ArmSpace: {self.n_arms:,} arms in all ({blocks}) exceed the limit of {MAX_ARMS:,}")

    # -- layout ---------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[str, ...]:
        """Names of the dimensions, in state-vector order."""
        return tuple(name for name, _ in self._blocks())

    def labels(self, dimension: str) -> tuple[str, ...]:
        """Arm labels of one dimension (hours as ``"00"``..``"23"``, weekdays as ``"Mon"``..)."""
        for name, labels in self._blocks():
            if name == dimension:
                return labels
        raise KeyError(f"ArmSpace has no dimension {dimension!r} (have {self.dimensions})")

    def _blocks(self) -> list[tuple[str, tuple[str, ...]]]:
        blocks: list[tuple[str, tuple[str, ...]]] = [("channel", self.channels)]
        if self.wordings:
            blocks.append(("wording", self.wordings))
        if self.hours:
            blocks.append(("hour", tuple(f"{h:02d}" for h in range(24))))
        if self.weekdays:
            blocks.append(("weekday", WEEKDAY_NAMES))
        blocks.extend(self.extra.items())
        return blocks

    @property
    def sizes(self) -> np.ndarray:
        """Number of arms per dimension (int64, dimension order)."""
        return np.array([len(labels) for _, labels in self._blocks()], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """Start of each dimension in the state vector, plus the total at the end."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def n_arms(self) -> int:
        """Total number of arms (cells per customer in the state)."""
        return int(self.sizes.sum())

    def dimension_index(self, dimension: str) -> int:
        """Position of ``dimension`` in :attr:`dimensions`."""
        try:
            return self.dimensions.index(dimension)
        except ValueError:
            raise KeyError(f"ArmSpace has no dimension {dimension!r} (have {self.dimensions})") from None

    # -- (de)serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description; :meth:`from_dict` inverts it.

        Examples
        --------
        >>> s = ArmSpace(channels=["email"])
        >>> ArmSpace.from_dict(s.to_dict()) == s
        True
        """
        return {
            "channels": list(self.channels),
            "wordings": list(self.wordings),
            "hours": self.hours,
            "weekdays": self.weekdays,
            "extra": {k: list(v) for k, v in self.extra.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArmSpace":
        """Rebuild an arm space from :meth:`to_dict` output."""
        if not isinstance(data, Mapping):
            raise ValueError(f"ArmSpace: expected a mapping, got {type(data).__name__}")
        if "channels" not in data:
            raise ValueError("ArmSpace: missing key 'channels'")
        unknown = set(data) - {"channels", "wordings", "hours", "weekdays", "extra"}
        if unknown:
            raise ValueError(f"ArmSpace: unknown keys {sorted(unknown)}")
        return cls(channels=data["channels"], wordings=data.get("wordings", ()), hours=data.get("hours", True),
                   weekdays=data.get("weekdays", True), extra=data.get("extra", {}))

    def __hash__(self) -> int:  # extra is a dict; hash its frozen form
        return hash((self.channels, self.wordings, self.hours, self.weekdays,
                     tuple(sorted(self.extra.items()))))
