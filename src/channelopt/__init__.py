"""channelopt: learn, per customer, which channel, send time and wording get an answer.

Examples
--------
>>> import channelopt as co
>>> space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "friendly"])
>>> model = co.ChannelModel(space, response_window="72h", half_life="90D", seed=7)
"""

from channelopt._version import __version__
from channelopt.core.arms import ArmSpace
from channelopt.core.config import ModelConfig
from channelopt.core.prior import Prior
from channelopt.exceptions import NotFittedError
from channelopt.policy.cascade import CascadePlan, CascadeStep
from channelopt.policy.contact import Cap, ContactPolicy
from channelopt.policy.model import ChannelModel, Decision, load
from channelopt.state.store import PosteriorStore

__all__ = ["ArmSpace", "Cap", "CascadePlan", "CascadeStep", "ChannelModel", "ContactPolicy", "Decision", "ModelConfig",
           "NotFittedError", "PosteriorStore", "Prior", "load", "__version__"]
