"""Learned state: the customer index, additive statistics, priors, ingestion, the on-disk format and the
contact store (SQLite)."""

from channelopt.state.history import HISTORY_SLOTS
from channelopt.state.store import PosteriorStore

__all__ = ["HISTORY_SLOTS", "PosteriorStore"]
