"""Named simulation scenarios: one population recipe each, so a policy is judged on more than one world.

A :class:`Scenario` is a frozen recipe for :func:`~channelopt.sim.generate.make_population`
plus the daily traffic: times are given as fractions of the run (so a scenario
works for any number of days), the traffic as the share of the customers present
who get a message each day. :data:`SCENARIOS` holds the standard set the policy
benchmark (``benchmarks/bench_policy.py``) plays, each on the same arm space and
sizes:

======================  ==================================================================
``stationary``          the default population, nothing changes (~3.5% replies at random)
``habit_change``        30% of customers switch their preferred channel between 40% and 60%
                        of the run
``new_customers``       half the customers arrive during the run (uniformly over its first
                        90%), with two customer features correlated with their preferences
                        (``age``, ``plan``) in the customers table
``seasonal``            a strong weekday effect (3x the default's log-scale spread) and
                        channel seasons (+-40% over 28 days, the channels out of phase)
``sparse``              reply rates about 7x lower (~0.5% replies at random)
``dense``               reply rates about 5x higher (~20% replies at random)
``fatigue``             every message in the last 7 days multiplies the reply probability
                        by 0.85; half the customers are contacted each day
======================  ==================================================================

Examples
--------
>>> import channelopt as co
>>> space = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"])
>>> sc = SCENARIOS["new_customers"]
>>> pop = sc.population(space, 200, seed=0, start="2026-01-05", days=30)
>>> len(pop.present("2026-01-05")), sc.sends_per_day(200)
(100, 200)
>>> sorted(SCENARIOS)[:3]
['dense', 'fatigue', 'habit_change']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.validation import check_scalar, fraction
from channelopt.data.tz import as_utc_timestamp
from channelopt.sim.generate import DEFAULT_ZONES, make_population
from channelopt.sim.population import Population

__all__ = ["SCENARIOS", "Scenario"]


def _span(span: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in span)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a pair of fractions of the run (low, high), got {span!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"{name}: need 0 <= low < high <= 1, got {span!r}")
    return lo, hi


@dataclass(frozen=True)
class Scenario:
    """A population recipe and its daily traffic (see the module docstring for the standard set).

    Parameters
    ----------
    name : str
    description : str
        One line, printed by the benchmark.
    base_rate : (low, high), default (0.02, 0.25)
        :func:`~channelopt.sim.generate.make_population`'s range of base reply rates.
    switch_share : float, default 0
        Share of customers whose preferred channel switches once ...
    switch_span : (low, high) fractions of the run, default (0.4, 0.6)
        ... at an instant drawn uniformly in this part of the run.
    arrival_share : float, default 0
        Share of customers who arrive during the run ...
    arrival_span : (low, high) fractions of the run, default (0.0, 0.9)
        ... at an instant drawn uniformly in this part of the run (after the start).
    features : bool, default False
        Customer features ``age`` and ``plan`` in the customers table.
    weekday_strength : float, default 1
    season_amplitude : float, default 0
    season_period : duration, default "28D"
    fatigue : float, default 0
    contact_share : float in (0, 1], default 1
        Share of the population messaged each day (``sends_per_day``); with
        arrivals, at most the customers present are.

    Examples
    --------
    >>> sc = Scenario("mine", "drift only", switch_share=0.5)
    >>> sc.sends_per_day(1000), sc.population_kwargs("2026-01-05", 10)["switch_window"][0]
    (1000, Timestamp('2026-01-09 00:00:00+0000', tz='UTC'))
    """

    name: str
    description: str
    base_rate: tuple[float, float] = (0.02, 0.25)
    switch_share: float = 0.0
    switch_span: tuple[float, float] = (0.4, 0.6)
    arrival_share: float = 0.0
    arrival_span: tuple[float, float] = (0.0, 0.9)
    features: bool = False
    weekday_strength: float = 1.0
    season_amplitude: float = 0.0
    season_period: str = "28D"
    fatigue: float = 0.0
    contact_share: float = 1.0

    def __post_init__(self) -> None:
        check_scalar(self.name, "name", str)
        check_scalar(self.description, "description", str)
        _span(self.switch_span, "switch_span")
        _span(self.arrival_span, "arrival_span")
        fraction(self.switch_share, "switch_share")
        fraction(self.arrival_share, "arrival_share")
        check_scalar(self.contact_share, "contact_share", float, min_val=0, max_val=1, include_boundaries="right")

    def sends_per_day(self, n_customers: int) -> int:
        """Messages a day for a population of ``n_customers``: ``contact_share`` of it, at least one."""
        check_scalar(n_customers, "n_customers", int, min_val=1)
        return max(1, min(int(n_customers), int(round(self.contact_share * n_customers))))

    def population_kwargs(self, start: Any, days: int) -> dict[str, Any]:
        """The keyword arguments of :func:`~channelopt.sim.generate.make_population` for a run of
        ``days`` days from ``start`` (fractions of the run turned into instants)."""
        t0 = as_utc_timestamp(start, "start")
        check_scalar(days, "days", int, min_val=1)

        def window(span: tuple[float, float]) -> tuple[pd.Timestamp, pd.Timestamp]:
            lo, hi = _span(span, "span")
            return t0 + pd.Timedelta(days=lo * days), t0 + pd.Timedelta(days=hi * days)

        kwargs: dict[str, Any] = {"base_rate": tuple(self.base_rate), "fatigue": self.fatigue,
                                  "weekday_strength": self.weekday_strength,
                                  "season_amplitude": self.season_amplitude, "season_period": self.season_period,
                                  "features": self.features}
        if self.switch_share:
            kwargs.update(switch_share=self.switch_share, switch_window=window(self.switch_span))
        if self.arrival_share:
            lo, hi = window(self.arrival_span)
            # an arrival exactly at the start would be there from the start: begin one second later
            kwargs.update(arrival_share=self.arrival_share, arrival_window=(max(lo, t0 + pd.Timedelta("1s")), hi))
        return kwargs

    def population(self, space: ArmSpace, n_customers: int, *, seed: int, start: Any, days: int,
                   zones: Sequence[str] = DEFAULT_ZONES, n_segments: int = 4) -> Population:
        """Draw the scenario's population for a run of ``days`` days from ``start``.

        Parameters
        ----------
        space : ArmSpace
        n_customers : int
        seed : int
        start : timestamp
            The run's first ``now`` (naive = UTC).
        days : int
            The run's length (the spans are fractions of it).
        zones : sequence of str
        n_segments : int

        Returns
        -------
        Population
        """
        return make_population(space, n_customers, seed=seed, zones=zones, n_segments=n_segments,
                               **self.population_kwargs(start, days))


#: The standard scenarios of the policy benchmark, by name (see the module docstring).
SCENARIOS: dict[str, Scenario] = {sc.name: sc for sc in (
    Scenario("stationary", "the default population, nothing changes"),
    Scenario("habit_change", "30% of customers switch their preferred channel between 40% and 60% of the run",
             switch_share=0.3, switch_span=(0.4, 0.6)),
    Scenario("new_customers", "half the customers arrive during the run; features age and plan in the "
             "customers table", arrival_share=0.5, arrival_span=(0.0, 0.9), features=True),
    Scenario("seasonal", "strong weekday effect (3x) and channel seasons (+-40% over 28 days)",
             weekday_strength=3.0, season_amplitude=0.4, season_period="28D"),
    Scenario("sparse", "about 0.5% replies at random", base_rate=(0.003, 0.036)),
    Scenario("dense", "about 20% replies at random", base_rate=(0.35, 0.9)),
    Scenario("fatigue", "each message in the last 7 days x0.85; half the customers messaged a day",
             fatigue=0.15, contact_share=0.5),
)}
