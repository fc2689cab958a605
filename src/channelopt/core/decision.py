"""Decision values: one decision for one customer, and the reasons a decision holds.

These values sit at the bottom of the layers, so every layer that makes or reads a
decision (the model, the fast path, the cascade, the baselines) imports them downward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace

__all__ = ["Decision", "HOLD_REASONS", "REASONS"]

#: Why a contact policy holds a decision, in the order the rules are checked.
HOLD_REASONS = ("suppressed", "no_consent", "cap", "quiet_hours_until_deadline", "not_worth_cost")

#: Every hold reason: the contact policy's, then "no_allowed_channel" (no policy, every
#: channel masked by the call) and "capacity" (rank's per-channel capacity). A reason code
#: is an index into this tuple; -1 means sent.
REASONS = HOLD_REASONS + ("no_allowed_channel", "capacity")


@dataclass(frozen=True)
class Decision:
    """One decision for one customer.

    Attributes
    ----------
    customer_id : str or int
    channel : str or None
        None when the decision is to hold (see ``hold_reason``).
    wording : str or None
        None when the arm space has no wordings.
    hour : int or None
        Chosen local send hour (0-23), None without an hour dimension.
    send_at : pandas.Timestamp or None
        UTC time to send: the next start of ``hour`` in the customer's zone at or
        after ``now`` (``now`` itself when already in that hour).
    propensity : float
        Probability that Thompson sampling picks ``channel`` among the allowed
        channels (Monte Carlo, never 0); 1.0 for a hold.
    score : float
        The chosen channel's sampled response probability.
    hold_reason : str or None
        Why nothing is sent (see :mod:`channelopt.policy.contact`: ``suppressed``,
        ``no_consent``, ``cap``, ``quiet_hours_until_deadline``,
        ``not_worth_cost``; ``no_allowed_channel`` without a policy), else None.
    extra : mapping
        Chosen arm of each extra dimension of the arm space.
    escalate_to_human : bool
        The customer complained recently and has not been contacted since.
    """

    customer_id: Any
    channel: str | None
    wording: str | None
    hour: int | None
    send_at: pd.Timestamp | None
    propensity: float
    score: float
    hold_reason: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    draws: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    space: ArmSpace = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    escalate_to_human: bool = False

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        """The Thompson draw of every arm, by dimension (NaN for masked channels)."""
        out: dict[str, dict[str, float]] = {}
        offsets = self.space.offsets
        for d, dim in enumerate(self.space.dimensions):
            labels = self.space.labels(dim)
            out[dim] = {lab: float(self.draws[offsets[d] + k]) for k, lab in enumerate(labels)}
        return out
