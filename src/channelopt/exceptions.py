"""Exceptions of channelopt."""

from __future__ import annotations

__all__ = ["NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A model was used where a fit is needed, before any fit or load.

    A ``ValueError`` and an ``AttributeError`` (as scikit-learn's
    ``NotFittedError``), so ``hasattr(model, "state_")`` is False before a fit.

    Examples
    --------
    >>> import channelopt as co
    >>> try:
    ...     co.ChannelModel(co.ArmSpace(channels=["email"])).choose_channel("c-1", now="2026-01-01")
    ... except co.NotFittedError as exc:
    ...     print(exc)
    this ChannelModel is not fitted yet: call fit(logs) first
    """


NOT_FITTED = "this ChannelModel is not fitted yet: call fit(logs) first"
