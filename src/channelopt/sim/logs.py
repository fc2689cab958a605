"""The response log a simulation writes: its columns, its assembly from the days' sends, its censoring.

A simulated log has the schema of :mod:`channelopt.data.schema` plus the
simulator's own columns: ``customer_id, sent_at, channel, wording,
responded_at, tz, propensity, event_id, unsubscribed, complained, segment``
(:data:`LOG_COLUMNS`). ``responded_at`` is the true reply time, whenever it
comes; :func:`censor` cuts a log to what is known at a given time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from channelopt.data.tz import as_utc_timestamp
from channelopt.sim.population import Population

__all__ = ["LOG_COLUMNS", "censor", "logs_frame"]

#: Columns of a simulated response log, in order.
LOG_COLUMNS = ("customer_id", "sent_at", "channel", "wording", "responded_at", "tz", "propensity", "event_id",
               "unsubscribed", "complained", "segment")


def censor(logs: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """What the log looks like at ``as_of``: rows sent by then, replies after it not yet seen.

    Parameters
    ----------
    logs : DataFrame
        A log from :func:`~channelopt.sim.play.simulate_logs`.
    as_of : timestamp
        The observation time (naive = UTC).

    Returns
    -------
    DataFrame
        Rows with ``sent_at <= as_of``; ``responded_at`` is NaT where it is after ``as_of``.

    Examples
    --------
    >>> logs = pd.DataFrame({"sent_at": pd.to_datetime(["2026-01-01 09:00", "2026-01-02 09:00"], utc=True),
    ...                      "responded_at": pd.to_datetime(["2026-01-01 12:00", None], utc=True)})
    >>> censor(logs, "2026-01-01 10:00")["responded_at"].isna().tolist()
    [True]
    """
    t = as_utc_timestamp(as_of, "as_of")
    for col in ("sent_at", "responded_at"):
        if col not in logs.columns:
            raise ValueError(f"logs: missing required column {col!r}")
    out = logs.loc[logs["sent_at"] <= t].copy()
    late = out["responded_at"] > t
    if late.any():
        out.loc[late, "responded_at"] = pd.NaT
    return out.reset_index(drop=True)


def logs_frame(parts: list[dict[str, np.ndarray]], population: Population) -> pd.DataFrame:
    """The log of the sends in ``parts`` (one dict of arrays per day, see
    :func:`channelopt.sim.loop.play_days`), in day order, columns :data:`LOG_COLUMNS`.

    Examples
    --------
    >>> from channelopt.core.arms import ArmSpace
    >>> from channelopt.sim import make_population
    >>> pop = make_population(ArmSpace(channels=["email"]), 1, seed=0)
    >>> logs_frame([], pop).columns.tolist() == list(LOG_COLUMNS)
    True
    """
    def cat(key: str, dtype: Any) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0, dtype=dtype)

    rows = cat("rows", np.int64)
    ch = cat("channel", np.int64)
    w = cat("wording", np.int64)
    sent = cat("sent", np.int64)
    resp = cat("responded", np.int64)
    channels = np.array(population.space.channels, dtype=object)
    wordings = np.array(list(population.space.wordings) + [None], dtype=object)  # code -1 -> None
    eid = cat("event", np.int64)
    return pd.DataFrame({
        "customer_id": population.customer_id[rows],
        "sent_at": pd.DatetimeIndex(sent.view("M8[ns]")).tz_localize("UTC"),
        "channel": channels[ch],
        "wording": wordings[w],
        "responded_at": pd.DatetimeIndex(resp.view("M8[ns]")).tz_localize("UTC"),
        "tz": population.tz[rows],
        "propensity": cat("propensity", np.float64),
        "event_id": ("e-" + pd.Series(eid, dtype=np.int64).astype(str).str.zfill(9)).to_numpy(dtype=object),
        "unsubscribed": cat("unsubscribed", bool),
        "complained": cat("complained", bool),
        "segment": population.segment[rows],
    }, columns=list(LOG_COLUMNS))
