"""Synthetic populations with known response rates, and playing a policy against them day by day.

The package face of the simulator; the parts live in their own modules:

* :mod:`channelopt.sim.population` -- :class:`Population`, the truth (response
  probabilities, switches, fatigue);
* :mod:`channelopt.sim.generate` -- :func:`make_population`, drawing one;
* :mod:`channelopt.sim.policies` -- the :class:`Policy` protocol and :class:`UniformPolicy`;
* :mod:`channelopt.sim.logs` -- the simulated response log and :func:`censor`;
* :mod:`channelopt.sim.loop` -- the day loop and the oracle;
* :mod:`channelopt.sim.play` -- :func:`simulate_logs`, :func:`run` and :class:`SimulationResult`;
* :mod:`channelopt.sim.scenarios` -- :class:`Scenario` and the standard :data:`SCENARIOS`.

Examples
--------
>>> import channelopt as co
>>> from channelopt.sim import make_population
>>> population = make_population(co.ArmSpace(channels=["email", "sms"]), 100, seed=1)
>>> population.n_customers
100
"""

from channelopt.sim.generate import DEFAULT_ZONES, DELAY_MEDIANS, make_population
from channelopt.sim.logs import censor
from channelopt.sim.play import SimulationResult, run, simulate_logs
from channelopt.sim.policies import Policy, UniformPolicy
from channelopt.sim.population import Population
from channelopt.sim.scenarios import SCENARIOS, Scenario

__all__ = ["DEFAULT_ZONES", "DELAY_MEDIANS", "SCENARIOS", "Policy", "Population", "Scenario", "SimulationResult",
           "UniformPolicy", "censor", "make_population", "run", "simulate_logs"]
