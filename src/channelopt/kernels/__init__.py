"""Numba kernels only: contiguous typed numpy arrays and scalars in, never pandas or Python objects.

The package face hands on the building blocks that the layers above use most
(counter-based RNG, hashing and look-up, ingestion, the Beta posterior of an
arm); the decision, win-probability, propensity, grouping, rule and smoothing
kernels are imported from their own modules (``channelopt.kernels.decide``, ...).
"""

from channelopt.kernels.hashing import gather_bytes, hash_bytes, hash_many, lookup_many, lookup_one, lower_bound
from channelopt.kernels.ingest import (
                                       BEFORE_WATERMARK,
                                       COUNTED,
                                       PENDING,
                                       RESPONDED,
                                       accumulate,
                                       ceil_minutes,
                                       remember_log_sends,
                                       remember_sends,
                                       resolve_sends,
                                       sample_in_order,
)
from channelopt.kernels.posterior import posterior
from channelopt.kernels.rng import arm_key, beta_draw, beta_sample, draw_key, splitmix64

__all__ = ["BEFORE_WATERMARK", "COUNTED", "PENDING", "RESPONDED", "accumulate", "arm_key", "beta_draw", "beta_sample",
           "ceil_minutes", "draw_key", "gather_bytes", "hash_bytes", "hash_many", "lookup_many", "lookup_one",
           "lower_bound", "posterior", "remember_log_sends", "remember_sends", "resolve_sends", "sample_in_order",
           "splitmix64"]
