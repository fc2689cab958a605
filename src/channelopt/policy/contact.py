"""Contact rules: consent, quiet hours, frequency caps, minimum gap, value and cost.

A :class:`ContactPolicy` is a frozen, validated description of the rules. A
model used with no policy applies none of them; as soon as a policy is given,
every rule is in force with the defaults below, and consent is default-deny: a
channel without recorded consent is never chosen.

Holds
-----
A decision that sends nothing carries one of these reasons, checked in this
order:

``suppressed``
    the customer complained less than ``complaint_cooloff`` ago and the message
    is promotional;
``no_consent``
    no allowed channel has consent (an ``unsubscribed`` outcome revokes the
    channel at once);
``cap``
    every consented channel is capped (a frequency cap or the minimum gap)
    until after the delivery deadline;
``quiet_hours_until_deadline``
    every channel that could be used falls in its quiet hours until the
    deadline;
``not_worth_cost``
    the sampled value of the best channel (value per response x sampled reply
    probability) does not cover its cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from channelopt.core.config import parse_duration
from channelopt.core.decision import HOLD_REASONS
from channelopt.core.validation import check_scalar, whole
from channelopt.kernels.rules import rules_config
from channelopt.state.history import HISTORY_SLOTS

__all__ = ["Cap", "ContactPolicy", "HOLD_REASONS", "channel_bits", "policy_rules"]

#: Channel names a policy may mention even when a model's space lacks them (its defaults do).
_COMMON_CHANNELS = frozenset({"email", "sms", "push", "whatsapp", "voice", "in_app", "web_chat"})


@dataclass(frozen=True)
class Cap:
    """At most ``max_messages`` in any rolling ``window``, on ``channel`` or on all channels.

    Examples
    --------
    >>> Cap(3, "7D")
    Cap(max_messages=3, window=Timedelta('7 days 00:00:00'), channel=None)
    >>> Cap(1, "1D", channel="sms").channel
    'sms'
    """

    max_messages: int
    window: Any
    channel: str | None = None

    def __post_init__(self) -> None:
        n = whole(self.max_messages, "Cap.max_messages")
        if not 1 <= n <= HISTORY_SLOTS:
            raise ValueError(f"Cap.max_messages: must be between 1 and {HISTORY_SLOTS} "
                             f"(the sends remembered per customer), got {self.max_messages}")
        object.__setattr__(self, "max_messages", n)
        object.__setattr__(self, "window", parse_duration(self.window, "Cap.window"))
        if self.channel is not None and not isinstance(self.channel, str):
            raise ValueError(f"Cap.channel: must be a channel name or None, got {self.channel!r}")


def _default_quiet() -> dict[str, tuple[int, int]]:
    return {"sms": (21, 8), "voice": (21, 8)}


def _default_caps() -> tuple[Cap, ...]:
    return (Cap(3, "7D"), Cap(1, "1D", channel="sms"))


@dataclass(frozen=True)
class ContactPolicy:
    """The contact rules a model applies when it is given this policy.

    Parameters
    ----------
    quiet_hours : mapping channel -> (start, end), default SMS and voice 21-08
        Local hours ``[start, end)`` (wrapping midnight when start > end) in
        which a channel is never sent. Channels not named have none.
    caps : sequence of Cap, default at most 3 messages in 7 days, 1 SMS a day
        Rolling-window frequency caps over all channels or one channel, counted
        from the sends the model has seen (logs and :meth:`ChannelModel.record_send`).
    min_gap : duration, default "12h"
        Minimum time between two messages to a customer, any channels.
    cost : mapping channel -> float, default no cost
        Cost of one message on a channel, in the unit of ``value``.
    value : float or None, default None
        Value of one response. When set, a channel is chosen by sampled
        ``value * p - cost`` and a decision whose best sampled value does not
        cover its cost is a hold (``not_worth_cost``). Per-campaign values are
        passed per call (``value=`` of ``choose_channel`` / ``rank``).
    complaint_cooloff : duration, default "30D"
        After a complaint, promotional messages to that customer are held
        (``suppressed``) for this long, and the next decision asks for a human
        (``Decision.escalate_to_human``).
    deadline : duration, default "24h"
        Default delivery window: ``send_at`` lies in ``[now, now + deadline]``.

    Examples
    --------
    >>> p = ContactPolicy(quiet_hours={"sms": (21, 8)}, caps=[Cap(2, "7D")], min_gap="1D")
    >>> p.is_quiet("sms", 22), p.is_quiet("sms", 9), p.is_quiet("email", 3)
    (True, False, False)
    >>> ContactPolicy(quiet_hours={"sms": (21, 25)})
    Traceback (most recent call last):
    ...
    ValueError: quiet_hours['sms']: hours must be integers in 0-23, got (21, 25)
    """

    quiet_hours: Mapping[str, tuple[int, int]] = field(default_factory=_default_quiet)
    caps: Sequence[Cap] = field(default_factory=_default_caps)
    min_gap: Any = "12h"
    cost: Mapping[str, float] = field(default_factory=dict)
    value: float | None = None
    complaint_cooloff: Any = "30D"
    deadline: Any = "24h"

    def __post_init__(self) -> None:
        quiet: dict[str, tuple[int, int]] = {}
        for ch, span in dict(self.quiet_hours).items():
            try:
                start, end = span
                ok = all(not isinstance(v, bool) and float(v).is_integer() and 0 <= v <= 23 for v in (start, end))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"quiet_hours[{ch!r}]: hours must be integers in 0-23, got {span!r}")
            quiet[str(ch)] = (int(start), int(end))
        object.__setattr__(self, "quiet_hours", quiet)
        caps = tuple(self.caps)
        for c in caps:
            if not isinstance(c, Cap):
                raise ValueError(f"caps: expected Cap objects, got {c!r}")
        object.__setattr__(self, "caps", caps)
        object.__setattr__(self, "min_gap", parse_duration(self.min_gap, "min_gap", allow_none=True)
                           if self.min_gap is not None else None)
        cost: dict[str, float] = {}
        for ch, v in dict(self.cost).items():
            fv = check_scalar(v, f"cost[{ch!r}]", float)
            if fv < 0:
                raise ValueError(f"cost[{ch!r}]: must be >= 0, got {v!r}")
            cost[str(ch)] = fv
        object.__setattr__(self, "cost", cost)
        if self.value is not None:
            v = check_scalar(self.value, "value", float)
            if v <= 0:
                raise ValueError(f"value: must be > 0, got {self.value!r}")
            object.__setattr__(self, "value", v)
        object.__setattr__(self, "complaint_cooloff", parse_duration(self.complaint_cooloff, "complaint_cooloff"))
        object.__setattr__(self, "deadline", parse_duration(self.deadline, "deadline"))

    def is_quiet(self, channel: str, hour: int) -> bool:
        """Whether local ``hour`` is in ``channel``'s quiet hours.

        Examples
        --------
        >>> ContactPolicy().is_quiet("voice", 7)
        True
        """
        return bool(self.quiet_mask(channel) >> int(hour) & 1)

    def quiet_mask(self, channel: str) -> int:
        """24-bit mask of ``channel``'s quiet local hours (bit h set = quiet).

        Examples
        --------
        >>> bin(ContactPolicy(quiet_hours={"sms": (22, 2)}).quiet_mask("sms"))
        '0b110000000000000000000011'
        """
        span = self.quiet_hours.get(channel)
        if span is None:
            return 0
        start, end = span
        hours = range(start, end) if start <= end else [*range(start, 24), *range(0, end)]
        mask = 0
        for h in hours:
            mask |= 1 << h
        return mask

    def check_channels(self, channels: Sequence[str]) -> None:
        """Raise a ValueError when the policy names a channel that is not in ``channels``.

        Common channel names (email, sms, push, whatsapp, voice, in_app,
        web_chat) are allowed even when absent: their rules simply do not apply.

        Examples
        --------
        >>> ContactPolicy(cost={"fax": 1.0}).check_channels(["email", "sms"])
        Traceback (most recent call last):
        ...
        ValueError: ContactPolicy cost: unknown channel 'fax' (known: email, sms)
        """
        known = set(channels) | _COMMON_CHANNELS  # rules for common channels the space lacks are ignored
        for what, names in (("quiet_hours", self.quiet_hours), ("cost", self.cost),
                            ("caps", [c.channel for c in self.caps if c.channel is not None])):
            for ch in names:
                if ch not in known:
                    raise ValueError(f"ContactPolicy {what}: unknown channel {ch!r} (known: {', '.join(channels)})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (durations as ISO strings); inverse: :meth:`from_dict`.

        Examples
        --------
        >>> p = ContactPolicy(value=2.0, cost={"sms": 0.05})
        >>> ContactPolicy.from_dict(p.to_dict()) == p
        True
        """
        def iso(td: pd.Timedelta | None) -> str | None:
            return None if td is None else td.isoformat()

        return {"quiet_hours": {k: list(v) for k, v in self.quiet_hours.items()},
                "caps": [{"max_messages": c.max_messages, "window": iso(c.window), "channel": c.channel}
                         for c in self.caps],
                "min_gap": iso(self.min_gap), "cost": dict(self.cost), "value": self.value,
                "complaint_cooloff": iso(self.complaint_cooloff), "deadline": iso(self.deadline)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ContactPolicy":
        """Inverse of :meth:`to_dict`; keys left out take their defaults.

        Examples
        --------
        >>> ContactPolicy.from_dict({"min_gap": "1D"}).caps == ContactPolicy().caps
        True
        """
        d = dict(data)
        if "quiet_hours" in d:
            d["quiet_hours"] = {k: tuple(v) for k, v in dict(d["quiet_hours"]).items()}
        if "caps" in d:
            d["caps"] = [c if isinstance(c, Cap) else Cap(**c) for c in d["caps"]]
        return cls(**d)


def policy_rules(policy: ContactPolicy | None, channels: Sequence[str]) -> np.ndarray:
    """The policy as the rules kernel takes it (:func:`channelopt.kernels.rules.rules_config`).

    Caps on a channel that ``channels`` lacks are kept, marked -2, and never bind.
    ``None`` (no policy) gives the configuration of no rules at all.

    Examples
    --------
    >>> conf = policy_rules(ContactPolicy(caps=[Cap(1, "1D", channel="sms")], min_gap=None), ["email", "sms"])
    >>> conf.tolist()
    [1, -1, 2592000000000000, 1, 1, 1, 86400000000000]
    >>> policy_rules(None, ["email"]).tolist()
    [0, -1, 0, 0]
    """
    if policy is None:
        return rules_config(policy=False)
    pos = {c: i for i, c in enumerate(channels)}
    caps = [(-1 if cap.channel is None else pos.get(cap.channel, -2), cap.max_messages, int(cap.window.value))
            for cap in policy.caps]
    return rules_config(None if policy.min_gap is None else int(policy.min_gap.value),
                        int(policy.complaint_cooloff.value), caps)


def channel_bits(channels: Sequence[str], names: Any) -> int:
    """Bit mask of the named channels; a ValueError names an unknown one.

    Examples
    --------
    >>> channel_bits(["email", "sms", "push"], ["sms", "push"])
    6
    """
    if isinstance(names, str):
        names = [names]
    pos = {c: i for i, c in enumerate(channels)}
    bits = 0
    for c in names:
        if c not in pos:
            raise ValueError(f"unknown channel {c!r} (known: {', '.join(channels)})")
        bits |= 1 << pos[c]
    return bits
