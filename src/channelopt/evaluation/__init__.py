"""Offline evaluation of a policy on logged traffic: IPS, SNIPS, doubly robust, bootstrap intervals, replay.

The package face; the parts live in their own modules, as in the Open Bandit
Pipeline: :mod:`channelopt.evaluation.estimators` (``ips``, ``snips``, ``dr``,
``effective_sample_size``), :mod:`channelopt.evaluation.bootstrap`
(``bootstrap_ci``), :mod:`channelopt.evaluation.reward_model` (DR's reward
model), :mod:`channelopt.evaluation.resolve` (the logged rows an evaluation
uses), :mod:`channelopt.evaluation.target` (the model's target propensities)
and :mod:`channelopt.evaluation.offline` (``evaluate`` and ``replay``).

Examples
--------
>>> from channelopt.evaluation import ips
>>> ips([1.0, 0.0], logged_propensity=[0.5, 0.5], target_propensity=[1.0, 0.0])
1.0
"""

from channelopt.evaluation.bootstrap import bootstrap_ci
from channelopt.evaluation.estimators import dr, effective_sample_size, ips, snips
from channelopt.evaluation.offline import evaluate, replay

__all__ = ["bootstrap_ci", "dr", "effective_sample_size", "evaluate", "ips", "replay", "snips"]
