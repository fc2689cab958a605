"""Figures for data scientists (matplotlib, an optional extra: ``pip install 'channelopt[plot]'``).

Every function draws on ``ax`` (a new figure when None) and returns the Axes,
so figures compose with the rest of a notebook. matplotlib is imported inside
the functions: ``import channelopt.inspect.plot`` works without it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from channelopt.inspect.reports import report

__all__ = ["response_heatmap", "customer_posteriors", "policy_curves", "calibration"]

_METRIC_LABELS = {"pct_of_oracle": "% of oracle response rate", "response_rate": "response rate",
                  "oracle_response_rate": "oracle response rate", "regret": "regret"}


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("channelopt.inspect.plot needs matplotlib, an optional extra: "
                          "pip install 'channelopt[plot]'") from None
    return plt


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def response_heatmap(logs: Any, *, as_of: Any = None, response_window: Any = "72h", default_tz: str = "UTC",
                     channels: Sequence[str] | None = None, cmap: str = "viridis", ax: Any = None) -> Any:
    """Response rate by the customer's local send hour (x) and channel (y).

    The rates are those of :func:`channelopt.inspect.reports.report` with
    ``by=("channel", "local_hour")`` (pending sends left out); cells without a
    resolved send are blank.

    Parameters
    ----------
    logs : DataFrame or path
        The response log.
    as_of, response_window, default_tz
        As in :func:`channelopt.inspect.reports.report`.
    channels : sequence of str, optional
        Rows in this order (default: the log's channels, sorted).
    cmap : str, default "viridis"
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.images[0].get_array()`` is the (channels x 24) rate matrix.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-05 09:00", "2026-01-05 10:00"],
    ...     "channel": ["sms", "email"], "responded_at": ["2026-01-05 09:30", None]})
    >>> ax = response_heatmap(logs, as_of="2026-01-10")
    >>> ax.images[0].get_array().shape, ax.get_xlabel()
    ((2, 24), 'local hour')
    """
    rep = report(logs, by=("channel", "local_hour"), as_of=as_of, response_window=response_window,
                 default_tz=default_tz)
    present = sorted(rep["channel"].astype(str).unique())
    rows = list(channels) if channels is not None else present
    unknown = [c for c in present if c not in rows]
    if unknown:
        raise ValueError(f"channels: the log has channel {unknown[0]!r}, not in {list(rows)}")
    grid = (rep.assign(channel=rep["channel"].astype(str))
            .pivot(index="channel", columns="local_hour", values="rate")
            .reindex(index=rows, columns=range(24)))
    values = grid.to_numpy(dtype=np.float64)
    ax = _axes(ax, (10, 0.5 * len(rows) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, interpolation="nearest",
                      vmin=0.0)
    ax.set_xticks(range(24))
    ax.set_xticklabels([f"{h:02d}" for h in range(24)])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows)
    ax.set_xlabel("local hour")
    ax.set_ylabel("channel")
    ax.set_title("Response rate by local send hour and channel")
    ax.figure.colorbar(image, ax=ax, label="response rate")
    return ax


def customer_posteriors(model: Any, customer_id: Any, *, dimensions: str | Sequence[str] | None = None,
                        kind: str = "interval", level: float = 0.9, ax: Any = None) -> Any:
    """A customer's Beta posterior of every arm, per dimension (from ``model.explain``).

    Parameters
    ----------
    model : ChannelModel
        A fitted model.
    customer_id : str or int
        The customer (an unknown one shows the population prior).
    dimensions : str or sequence of str, optional
        Dimensions to show (default: all of the arm space).
    kind : {"interval", "density"}, default "interval"
        ``"interval"``: one row per arm, grouped by dimension, with the
        posterior mean (dot), the central ``level`` credible interval (bar) and
        the prior mean (grey tick). ``"density"``: the posterior density of each
        arm, one curve per arm (best for one dimension, e.g. ``"channel"``).
    level : float, default 0.9
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``"interval"``: two lines (means, prior means) and one collection
        (intervals) per dimension. ``"density"``: one line per arm.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import channelopt as co
    >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
    ...     "responded_at": ["2026-01-01 02:00"]})
    >>> model = co.ChannelModel(space).fit(logs)
    >>> len(customer_posteriors(model, "a", kind="density").lines)
    2
    """
    if kind not in ("interval", "density"):
        raise ValueError(f"kind: expected 'interval' or 'density', got {kind!r}")
    table = model.explain(customer_id, level=level)
    available = list(dict.fromkeys(table["dimension"]))
    dims = available if dimensions is None else ([dimensions] if isinstance(dimensions, str) else list(dimensions))
    for d in dims:
        if d not in available:
            raise ValueError(f"dimensions: the model has no dimension {d!r} (have {', '.join(available)})")
    if not dims:
        raise ValueError("dimensions: name at least one dimension")
    table = table[table["dimension"].isin(dims)]
    if kind == "density":
        ax = _axes(ax, (7, 4))
        hi = float(stats.beta.ppf(0.999, table["alpha"], table["beta"]).max())
        x = np.linspace(0.0, min(1.0, 1.1 * hi), 400)
        for row in table.itertuples(index=False):
            label = row.arm if len(dims) == 1 else f"{row.dimension}: {row.arm}"
            ax.plot(x, stats.beta.pdf(x, row.alpha, row.beta), label=label)
        ax.set_xlabel("response probability")
        ax.set_ylabel("posterior density")
        ax.legend(title=dims[0] if len(dims) == 1 else None, fontsize="small")
    else:
        n_rows = len(table) + len(dims) - 1
        ax = _axes(ax, (7, 0.22 * n_rows + 1.2))
        ticks: list[float] = []
        labels: list[str] = []
        y0 = 0
        for k, d in enumerate(dims):
            part = table[table["dimension"] == d]
            y = y0 + np.arange(len(part), dtype=np.float64)
            color = f"C{k % 10}"
            ax.hlines(y, part["ci_low"], part["ci_high"], color=color, linewidth=2)
            ax.plot(part["mean"], y, "o", color=color, label=d)
            ax.plot(part["prior_mean"], y, "|", color="grey", markersize=10)
            ticks.extend(y)
            labels.extend(f"{d}: {a}" for a in part["arm"])
            y0 += len(part) + 1
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(f"response probability (posterior mean, {level:.0%} interval; grey: prior mean)")
    ax.set_title(f"Posteriors of customer {customer_id!r}")
    return ax


def _long_frame(daily: Any) -> pd.DataFrame:
    if isinstance(daily, Mapping):
        parts = []
        for name, frame in daily.items():
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(f"daily: the value for policy {name!r} is a {type(frame).__name__}, not a DataFrame")
            parts.append(frame.assign(policy=str(name)))
        if not parts:
            raise ValueError("daily: no policies to plot")
        return pd.concat(parts, ignore_index=True)
    if isinstance(daily, pd.DataFrame):
        if "policy" not in daily.columns:
            raise ValueError("daily: a single frame needs a 'policy' column (or pass {policy name: frame})")
        return daily
    raise ValueError(f"daily: expected a DataFrame or a dict of DataFrames, got {type(daily).__name__}")


def policy_curves(daily: Any, *, metric: str = "pct_of_oracle", cumulative: bool | None = None,
                  ax: Any = None) -> Any:
    """One curve per policy of a per-day metric: % of oracle, regret, response rate.

    Parameters
    ----------
    daily : dict of {policy name: DataFrame} or DataFrame
        Per-day metrics with a ``day`` column and ``metric`` (e.g. the
        ``.daily`` frame of a simulation run); one long frame needs a ``policy``
        column.
    metric : str, default "pct_of_oracle"
        The column to plot (``pct_of_oracle``, ``regret``, ``response_rate``, ...).
    cumulative : bool, optional
        Plot the running sum over days; default True for ``regret`` (a regret
        curve), False otherwise.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One line per policy, in the order given, labelled with its name.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> daily = {"uniform": pd.DataFrame({"day": [0, 1], "pct_of_oracle": [40.0, 41.0]}),
    ...          "model": pd.DataFrame({"day": [0, 1], "pct_of_oracle": [40.0, 60.0]})}
    >>> ax = policy_curves(daily)
    >>> [line.get_label() for line in ax.lines], ax.get_ylabel()
    (['uniform', 'model'], '% of oracle response rate')
    """
    frame = _long_frame(daily)
    for column in ("day", metric):
        if column not in frame.columns:
            raise ValueError(f"daily: missing column {column!r} (columns present: {', '.join(map(str, frame.columns))})")
    cum = metric == "regret" if cumulative is None else bool(cumulative)
    ax = _axes(ax, (8, 4.5))
    for name in pd.unique(frame["policy"]):
        part = frame[frame["policy"] == name].sort_values("day", kind="stable")
        y = part[metric].to_numpy(dtype=np.float64)
        ax.plot(part["day"].to_numpy(), np.cumsum(y) if cum else y, label=str(name))
    label = _METRIC_LABELS.get(metric, metric)
    ax.set_xlabel("day")
    ax.set_ylabel(f"cumulative {label}" if cum else label)
    ax.legend(title="policy", fontsize="small")
    return ax


def _calibration_bins(predicted: Any, observed: Any, bins: int, strategy: str, level: float) -> pd.DataFrame:
    p = np.asarray(predicted, dtype=np.float64)
    o = np.asarray(observed, dtype=np.float64)
    for name, arr in (("predicted", p), ("observed", o)):
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
        bad = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))
        if bad.size:
            raise ValueError(f"{name}: value {float(arr[bad[0]])!r} at position {int(bad[0])} is not in [0, 1]")
    if p.shape != o.shape:
        raise ValueError(f"observed: expected {p.shape[0]} values (as many as predicted), got {o.shape[0]}")
    if p.size == 0:
        raise ValueError("predicted: no values")
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins: must be an integer >= 1, got {bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, int(bins) + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, int(bins) + 1)))
    else:
        raise ValueError(f"strategy: expected 'uniform' or 'quantile', got {strategy!r}")
    n_bins = max(len(edges) - 1, 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    keep = count > 0
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)[keep]
    sum_o = np.bincount(idx, weights=o, minlength=n_bins)[keep]
    n = count[keep].astype(np.float64)
    tail = (1.0 - level) / 2.0
    a, b = 1.0 + sum_o, 1.0 + n - sum_o
    return pd.DataFrame({"count": count[keep], "predicted": sum_p / n, "observed": sum_o / n,
                         "ci_low": stats.beta.ppf(tail, a, b), "ci_high": stats.beta.ppf(1.0 - tail, a, b)})


def calibration(predicted: Any, observed: Any, *, bins: int = 10, strategy: str = "quantile", level: float = 0.9,
                ax: Any = None) -> Any:
    """Reliability diagram: observed response rate against predicted probability, per bin.

    Parameters
    ----------
    predicted : array of float in [0, 1]
        Predicted response probability of each send (e.g. a posterior mean).
    observed : array of bool or float in [0, 1]
        What happened (1 = responded).
    bins : int, default 10
    strategy : {"quantile", "uniform"}, default "quantile"
        Bin edges at quantiles of ``predicted`` (equal counts; suits small
        response rates) or equal widths on [0, 1]. Empty bins are skipped.
    level : float, default 0.9
        Mass of each bin's interval for the observed rate (Beta(1, 1) prior).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        ``ax.lines[0]`` is the diagonal (perfect calibration), ``ax.lines[1]``
        the binned (mean predicted, observed rate) points, ``ax.collections[0]``
        their intervals.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = calibration([0.1, 0.1, 0.6, 0.6], [0, 0, 1, 0], bins=2, strategy="uniform")
    >>> ax.lines[1].get_xydata().tolist()
    [[0.1, 0.0], [0.6, 0.5]]
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    table = _calibration_bins(predicted, observed, bins, strategy, float(level))
    ax = _axes(ax, (5, 5))
    top = float(max(table["predicted"].max(), table["ci_high"].max()))
    ax.plot([0.0, top], [0.0, top], "--", color="grey", label="perfectly calibrated")
    ax.plot(table["predicted"], table["observed"], "o-", color="C0", label="observed")
    ax.vlines(table["predicted"], table["ci_low"], table["ci_high"], color="C0", alpha=0.6)
    ax.set_xlabel("predicted response probability")
    ax.set_ylabel("observed response rate")
    ax.set_title("Calibration")
    ax.legend(fontsize="small")
    return ax
