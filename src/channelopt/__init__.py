"""channelopt: learn, per customer, which channel, send time and wording get an answer.

Examples
--------
>>> import channelopt as co
>>> space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "friendly"])
>>> model = co.ChannelModel(space, response_window="72h", half_life="90D", seed=7)
"""

from .arms import ArmSpace
from .cascade import CascadePlan, CascadeStep
from .config import ModelConfig
from .contact import Cap, ContactPolicy
from .exceptions import NotFittedError
from .model import ChannelModel, Decision, load
from .state import PosteriorStore

from ._version import __version__

__all__ = ["ArmSpace", "Cap", "CascadePlan", "CascadeStep", "ChannelModel", "ContactPolicy", "Decision", "ModelConfig",
           "NotFittedError", "PosteriorStore", "load", "__version__"]
