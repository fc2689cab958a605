"""Policies the simulator plays: the :class:`Policy` protocol and the uniform explorer :class:`UniformPolicy`.

A policy is any object with ``rank(customers: DataFrame, now: Timestamp) ->
DataFrame`` returning one row per customer with at least ``customer_id``,
``channel`` (null = hold, nothing sent), ``wording`` (may be all null),
``send_at`` (tz-aware UTC) and ``propensity`` -- exactly what
:meth:`channelopt.ChannelModel.rank` returns, so a fitted model is a policy.
:class:`UniformPolicy` is the logging policy of an A/B-style exploration.

The simulator does not enforce consent: that is the job of a contact policy,
not of the customers.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.validation import check_scalar
from channelopt.data.tz import NS_PER_S, as_utc_timestamp, send_at_table, zone_codes

__all__ = ["Policy", "UniformPolicy"]


@runtime_checkable
class Policy(Protocol):
    """Anything that decides for a batch of customers (e.g. a fitted ChannelModel).

    Examples
    --------
    >>> isinstance(UniformPolicy(ArmSpace(channels=["email"])), Policy)
    True
    """

    def rank(self, customers: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:  # pragma: no cover - protocol
        ...


def _customers_frame(customers: Any) -> pd.DataFrame:
    if isinstance(customers, pd.DataFrame):
        table = customers.reset_index(drop=True)
    else:
        table = pd.DataFrame({"customer_id": list(customers)})
    if "customer_id" not in table.columns:
        raise ValueError(f"customers: missing required column 'customer_id' "
                         f"(columns present: {', '.join(map(str, table.columns))})")
    return table


class UniformPolicy:
    """Pick channel, wording, local hour (and every extra dimension) uniformly at random.

    The logged ``propensity`` is, by default, the probability of the chosen
    channel, ``1 / n_channels`` (what the sample data carries); with
    ``propensity="decision"`` it is the probability of the whole decision --
    channel, wording, local hour and extra dimensions, ``1 / (n_channels *
    n_wordings * 24 * ...)`` -- the action :class:`~channelopt.ChannelModel`'s
    propensities and :mod:`channelopt.policy.baselines` describe (:func:`~channelopt.sim.play.run`'s
    explorer logs that). Decisions are a deterministic function of ``seed``,
    ``now`` and the customers' order in the table.

    Parameters
    ----------
    space : ArmSpace
    seed : int
    propensity : {"channel", "decision"}, default "channel"

    Examples
    --------
    >>> space = ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "urgent"])
    >>> plan = UniformPolicy(space, seed=3).rank(pd.DataFrame({"customer_id": ["a", "b"], "tz": ["Asia/Tokyo", "UTC"]}),
    ...                                         now=pd.Timestamp("2026-11-23 09:00", tz="UTC"))
    >>> list(plan.columns)
    ['customer_id', 'channel', 'wording', 'hour', 'send_at', 'score', 'propensity']
    >>> plan["propensity"].tolist()
    [0.25, 0.25]
    >>> UniformPolicy(space, propensity="decision").rank(["a"], now="2026-11-23")["propensity"].tolist() == [1 / 192]
    True
    """

    def __init__(self, space: ArmSpace, seed: int = 0, *, propensity: str = "channel") -> None:
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        check_scalar(seed, "seed", int, min_val=0)
        if propensity not in ("channel", "decision"):
            raise ValueError(f"propensity: expected 'channel' or 'decision', got {propensity!r}")
        self.space = space
        self.seed = int(seed)
        self.propensity = propensity
        k = len(space.channels)
        if propensity == "decision":
            k *= max(len(space.wordings), 1) * (24 if space.hours else 1)
            for labels in space.extra.values():
                k *= len(labels)
        self._p = 1.0 / k

    def __repr__(self) -> str:
        extra = ", propensity='decision'" if self.propensity == "decision" else ""
        return f"UniformPolicy(channels={list(self.space.channels)}, seed={self.seed}{extra})"

    def rank(self, customers: Any, now: Any) -> pd.DataFrame:
        """Decide for every customer of ``customers`` (a table with ``customer_id`` and optional ``tz``).

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``
            (plus one column per extra dimension), like
            :meth:`channelopt.ChannelModel.rank`; ``score`` is NaN.

        Examples
        --------
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> plan = UniformPolicy(space, seed=0).rank(pd.DataFrame({"customer_id": ["a"]}), now="2026-11-23 09:00")
        >>> bool(plan["wording"].isna().all()), str(plan["send_at"].dt.tz)
        (True, 'UTC')
        """
        now_ts = as_utc_timestamp(now, "now").as_unit("ns")
        table = _customers_frame(customers)
        n = len(table)
        space = self.space
        rng = np.random.default_rng([self.seed, int(now_ts.value // NS_PER_S) % (1 << 63)])
        channel = rng.integers(0, len(space.channels), size=n)
        wording = rng.integers(0, len(space.wordings), size=n) if space.wordings else np.full(n, -1)
        hour = rng.integers(0, 24, size=n)
        extra = {k: rng.integers(0, len(v), size=n) for k, v in space.extra.items()}
        if space.hours:
            tz = table["tz"] if "tz" in table.columns else None
            codes, zones = zone_codes(tz, n, "UTC")
            send_ns = send_at_table(now_ts.value, zones)[codes, hour] if n else np.zeros(0, np.int64)
            hours = pd.array(hour, dtype="Int8")
        else:
            send_ns = np.full(n, now_ts.value, dtype=np.int64)
            hours = pd.array([pd.NA] * n, dtype="Int8")
        cols: dict[str, Any] = {
            "customer_id": table["customer_id"],
            "channel": pd.Categorical.from_codes(channel, categories=list(space.channels)),
            "wording": pd.Categorical.from_codes(wording, categories=list(space.wordings)),
            "hour": hours,
            "send_at": pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC"),
            "score": np.full(n, np.nan),
            "propensity": np.full(n, self._p),
        }
        for k, codes_k in extra.items():
            cols[k] = pd.Categorical.from_codes(codes_k, categories=list(space.extra[k]))
        return pd.DataFrame(cols)
