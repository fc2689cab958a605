"""FixedChannel: always the same message at the same local hour."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from channelopt.core.arms import ArmSpace
from channelopt.core.validation import check_scalar
from channelopt.policy.baselines._base import Baseline

__all__ = ["FixedChannel"]


class FixedChannel(Baseline, learns=False):
    """Always the same message: one channel (default email) at one local hour (default 10:00).

    Parameters
    ----------
    space : ArmSpace
    channel : str, default "email"
    hour : int, default 10
        Local send hour (ignored when the arm space has no hours: sent at ``now``).
    wording : str, optional
        Default: the first wording of the space. Extra dimensions take their first arm.
    seed, default_tz, response_window, half_life
        As for every baseline (no randomness here).

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> d = FixedChannel(ArmSpace(channels=["sms", "email"]), hour=18).choose_channel(
    ...     "c-1", now="2026-11-23 09:00", tz="America/New_York")
    >>> d.channel, d.hour, d.propensity, str(d.send_at)
    ('email', 18, 1.0, '2026-11-23 23:00:00+00:00')
    """

    def __init__(self, space: ArmSpace, channel: str = "email", hour: int = 10, wording: str | None = None, *,
                 seed: int = 0, response_window: Any = "72h", half_life: Any = "90D", default_tz: str = "UTC") -> None:
        self.__dict__.update(channel=channel, hour=hour, wording=wording)
        super().__init__(space, seed=seed, response_window=response_window, half_life=half_life,
                         default_tz=default_tz)

    def _derive(self) -> None:
        super()._derive()
        space, channel, wording = self.space, self.channel, self.wording
        if channel not in space.channels:
            raise ValueError(f"channel: unknown channel {channel!r} (known: {', '.join(space.channels)})")
        hour = check_scalar(self.hour, "hour", int, min_val=0, max_val=23)
        if wording is not None and wording not in space.wordings:
            known = ", ".join(space.wordings) if space.wordings else "none: the arm space has no wordings"
            raise ValueError(f"wording: unknown wording {wording!r} (known: {known})")
        fixed = []
        for name, labels in zip(self._names, self._labels):
            if name == "channel":
                fixed.append(labels.index(channel))
            elif name == "hour":
                fixed.append(hour)
            elif name == "wording" and wording is not None:
                fixed.append(labels.index(wording))
            else:
                fixed.append(0)
        self._hour = hour
        self._fixed = np.array(fixed, dtype=np.int64)

    def _params(self) -> str:
        return f"channel={self.channel!r}, hour={self._hour}"

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield from super()._unit_test_params()
        space = ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
        yield {"space": space, "channel": "sms", "hour": 18, "wording": "urgent", "seed": 0}

    def _decide(self, st, rows, hashes, round_, propensity, keep_draws):
        n = rows.shape[0]
        choice = np.tile(self._fixed, (n, 1))
        draws = np.full((n if keep_draws else 0, self.space.n_arms), np.nan)
        if keep_draws:
            for k in range(self._n_dec):
                draws[:, self._lo[k]:self._hi[k]] = np.arange(self._sizes[k]) == self._fixed[k]
        return choice, np.full(n, np.nan), np.ones(n), draws
