"""Exceptions of channelopt."""

from __future__ import annotations

__all__ = ["NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A model was used where learned state is needed, before any fit or load.

    An unfitted :class:`~channelopt.ChannelModel` still decides (from its
    ``prior=``, else uniform); ``state_``, ``observe_inbound`` and the reports
    of :mod:`channelopt.inspect` need a fit (an empty log with ``as_of`` will do).

    A ``ValueError`` and an ``AttributeError`` (as scikit-learn's
    ``NotFittedError``), so ``hasattr(model, "state_")`` is False before a fit.

    Examples
    --------
    >>> import channelopt as co
    >>> try:
    ...     co.ChannelModel(co.ArmSpace(channels=["email"])).state_
    ... except co.NotFittedError as exc:
    ...     print(exc)
    this ChannelModel is not fitted yet: call fit(logs) first
    """


NOT_FITTED = "this ChannelModel is not fitted yet: call fit(logs) first"
