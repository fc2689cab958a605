"""Baseline policies to compare :class:`~channelopt.ChannelModel` with.

Every baseline is a :class:`channelopt.policy.base.Policy`, as the model is:

* ``fit(logs, as_of=None)`` / ``partial_fit(logs, as_of=None)``: the same inputs
  and the same counting -- the one ingestion loop of :class:`~channelopt.policy.base.Policy`
  into :class:`channelopt.state.store.Ingestion`, so the watermark rule, the response
  window, delayed feedback and the half-life decay are exactly the model's
  (``partial_fit`` with the same ``as_of`` is a no-op);
* ``rank(customers, now)``: one row per customer with the columns
  ``customer_id, channel, wording, hour, send_at, score, propensity`` (plus one
  per extra dimension) and the dtypes of ``ChannelModel.rank``;
* ``choose_channel(customer_id, now)``: a :class:`channelopt.Decision`, the same
  decision ``rank`` makes for that customer at that ``now``;
* ``get_params`` / ``set_params`` (scikit-learn's convention; assigning a parameter
  is ``set_params``). Baselines are not ``persistent``: they have no ``save``.

What is decided: a channel, a wording, a local send hour and an arm of every
extra dimension, each in its own dimension (as the model's posteriors are
factorised). The message goes out at the next start of the chosen local hour
at or after ``now`` (``now`` itself when already in that hour; ``now`` when the
arm space has no hours), in the customer's zone: the ``tz`` column of the
customers table, else the zone learned from the log (learning baselines), else
``default_tz``. Weekday arms are counted but not decided (a send falls within
24 hours). Baselines never hold and take no contact rules.

``propensity`` is the probability that the baseline makes the whole logged
decision (channel, wording, hour and extras together), exact where it is cheap:
``1 / (number of joint arms)`` for :class:`UniformRandom`, 1 for
:class:`FixedChannel`, ``(1 - eps) * [greedy] / ties + eps / arms`` for
:class:`EpsilonGreedy`, and for the Thompson baselines the product over
dimensions of the exact win probability of the chosen arm
(:mod:`channelopt.kernels.win`, deterministic quadrature, the probabilities
:mod:`channelopt.evaluation.offline` uses for the model).

Randomness is counter based, as in the model: a decision is a pure function of
``(seed, now in whole seconds, customer-id hash)``, so ``rank`` and
``choose_channel`` agree and results do not depend on batch order.

Examples
--------
>>> import pandas as pd
>>> from channelopt import ArmSpace
>>> from channelopt.policy.baselines import FixedChannel
>>> plan = FixedChannel(ArmSpace(channels=["email", "sms"])).rank(
...     pd.DataFrame({"customer_id": ["a"], "tz": ["Europe/Paris"]}), now="2026-11-23 00:00")
>>> plan[["channel", "hour", "propensity"]].values.tolist(), str(plan["send_at"][0])
([['email', 10, 1.0]], '2026-11-23 09:00:00+00:00')
"""

from channelopt.policy.baselines._base import Baseline
from channelopt.policy.baselines.epsilon_greedy import EpsilonGreedy
from channelopt.policy.baselines.fixed import FixedChannel
from channelopt.policy.baselines.thompson import FlatThompson, PooledThompson
from channelopt.policy.baselines.uniform import UniformRandom

__all__ = ["Baseline", "EpsilonGreedy", "FixedChannel", "FlatThompson", "PooledThompson", "UniformRandom"]
