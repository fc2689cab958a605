"""Escalation when no reply comes: a plan of channels tried one after another.

Step 1 is the model's decision at ``now``. Each step then waits until the
chosen quantile (default 0.8) of that channel's learned reply latency has
passed after its send; with no reply by then, the next step is the decision
at that time with every channel already tried excluded -- exactly what a
service gets by calling ``choose_channel(..., exclude=tried)`` at that moment
after ``record_send`` of the earlier steps. Every step honours the contact
policy, counting the plan's own earlier sends against caps and the minimum
gap. A channel with no reply seen yet waits the model's response window. Latencies
are the customer's segment's where it has enough replies, else the population's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from channelopt.core.decision import Decision
from channelopt.core.validation import check_scalar
from channelopt.data.tz import now_timestamp

if TYPE_CHECKING:  # the model sits above this module; it is only passed in
    from channelopt.policy.model import ChannelModel

__all__ = ["CascadePlan", "CascadeStep", "plan_cascade"]


@dataclass(frozen=True)
class CascadeStep:
    """One step of a cascade.

    Attributes
    ----------
    step : int
        1 for the first send.
    channel, wording : str or None
        None on a hold (``hold_reason`` says why; the plan stops there).
    send_at : pandas.Timestamp or None
    wait_until : pandas.Timestamp or None
        When to move on if no reply has come.
    propensity : float
        Probability of this step's decision given the earlier steps.
    hold_reason : str or None
    """

    step: int
    channel: str | None
    wording: str | None
    send_at: pd.Timestamp | None
    wait_until: pd.Timestamp | None
    propensity: float
    hold_reason: str | None = None


@dataclass(frozen=True)
class CascadePlan:
    """The ordered steps of a cascade for one customer."""

    customer_id: Any
    steps: tuple[CascadeStep, ...]

    @property
    def channels(self) -> list[str]:
        """The channels tried, in order."""
        return [s.channel for s in self.steps if s.channel is not None]

    @property
    def propensity(self) -> float:
        """Probability of the whole plan: the product of the steps' propensities."""
        return float(np.prod([s.propensity for s in self.steps])) if self.steps else 1.0

    def to_frame(self) -> pd.DataFrame:
        """One row per step."""
        return pd.DataFrame([s.__dict__ for s in self.steps],
                            columns=["step", "channel", "wording", "send_at", "wait_until", "propensity", "hold_reason"])


def plan_cascade(model: "ChannelModel", customer_id: Any, now: Any = None, *, max_steps: int = 3,
                 quantile: float = 0.8, exclude: Any = None, segment: Any = None,
                 **decision_args: Any) -> CascadePlan:
    """Plan up to ``max_steps`` sends on different channels, each after the previous one's wait.

    Parameters
    ----------
    model : ChannelModel
        A fitted model.
    customer_id : str or int
    now : timestamp, optional
        Time of the first decision (default: the current time).
    max_steps : int, default 3
    quantile : float, default 0.8
        Quantile of the channel's reply latency to wait before escalating.
    exclude : iterable of str, optional
        Channels already tried before the plan starts.
    segment : optional
        The customer's segment (default: the one of their latest logged send):
        its prior shapes every decision, and its own reply latencies are used
        where it has enough replies (see :meth:`ChannelModel.latency_quantile`).
    **decision_args
        Passed to every :meth:`ChannelModel.choose_channel` call (``policy``,
        ``consent``, ``allowed_channels``, ``tz``, ``promotional``, ``value``...).

    Returns
    -------
    CascadePlan

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms", "push"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a"] * 3, "sent_at": ["2026-01-01"] * 3,
    ...     "channel": ["sms", "email", "push"], "responded_at": ["2026-01-01 00:10", None, None]})
    >>> plan = plan_cascade(ChannelModel(space).fit(logs, as_of="2026-01-09"), "a", now="2026-01-10", max_steps=2)
    >>> len(plan.steps), len(set(plan.channels)) == len(plan.channels)
    (2, True)
    """

    check_scalar(max_steps, "max_steps", int, min_val=1)
    quantile = check_scalar(quantile, "quantile", float, min_val=0, max_val=1, include_boundaries="neither")
    tried = [exclude] if isinstance(exclude, str) else list(exclude or [])
    t = now_timestamp(now)
    if segment is None:
        st = model._state()
        row = st.index.row_of(customer_id)
        segment = st.segments[st.segment[row]] if row >= 0 and st.segment[row] >= 0 else None
    planned: list[tuple[int, str]] = []
    steps: list[CascadeStep] = []
    window = model.config.response_window
    for k in range(1, int(max_steps) + 1):
        if len(tried) >= len(model.space.channels):
            break
        d: Decision = model._choose(customer_id, t, exclude=tried, planned=planned, segment=segment,
                                    **decision_args)
        if d.channel is None:
            steps.append(CascadeStep(k, None, None, None, None, d.propensity, d.hold_reason))
            break
        wait = model.latency_quantile(d.channel, quantile, segment=segment)
        if pd.isna(wait):
            wait = window
        until = d.send_at + wait
        steps.append(CascadeStep(k, d.channel, d.wording, d.send_at, until, d.propensity))
        tried.append(d.channel)
        planned.append((int(d.send_at.value), d.channel))
        t = until
    return CascadePlan(customer_id, tuple(steps))
