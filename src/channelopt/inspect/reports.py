"""Reports for data scientists: response rates with credible intervals, per group and per customer.

:func:`report` summarises a response log by any grouping (campaign, channel,
segment, wording, the customer's local hour or weekday, ...) with the same
delayed-feedback rule as the model: a send without a reply is a failure only
once its response window has closed as of ``as_of``; until then it is *pending*
and counts neither way.

:func:`customer_report` summarises a fitted model: per customer, the preferred
channel (highest posterior mean) with its credible interval and the probability
that it is the best channel, plus the preferred arm of every other dimension.
It is vectorised over customers (the state can hold millions).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from numba import njit
from scipy import stats

from channelopt import kernels as K
from channelopt.core.arms import WEEKDAY_NAMES, ArmSpace
from channelopt.core.config import check_zone, parse_duration
from channelopt.core.validation import check_scalar
from channelopt.data.schema import encode_logs
from channelopt.data.sources import read_table
from channelopt.data.tz import NAT, as_utc_timestamp, local_hour_weekday
from channelopt.exceptions import NOT_FITTED, NotFittedError
from channelopt.state.posteriors import posterior_arrays

__all__ = ["REPORT_COLUMNS", "DERIVED_COLUMNS", "report", "customer_report"]

#: Columns of :func:`report` after the group columns, in order.
REPORT_COLUMNS = ("sends", "responses", "pending", "rate", "ci_low", "ci_high", "unsubscribe_rate",
                  "complaint_rate", "median_reply_latency")
#: Group columns computed from ``sent_at`` in the customer's zone when the log has no column of that name.
DERIVED_COLUMNS = ("local_hour", "weekday")

_PLACEHOLDER = ArmSpace(channels=["_"], hours=False, weekdays=False)
_REPORT_STREAM = np.uint64(0x5245504F5254)  # "REPORT": separates these draws from decision draws
_CHUNK = 1 << 16  # customers per block in customer_report (bounds temporary memory)


def _check_prior(prior: Any) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"prior: expected two positive numbers (alpha, beta), got {prior!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"prior: alpha and beta must be positive and finite, got {prior!r}")
    return a, b


def _check_by(by: Any, columns: pd.Index) -> tuple[str, ...]:
    keys = (by,) if isinstance(by, str) else by
    try:
        keys = tuple(keys)
    except TypeError:
        raise ValueError(f"by: expected a column name or a sequence of them, got {by!r}") from None
    for k in keys:
        if not isinstance(k, str):
            raise ValueError(f"by: column names must be strings, got {k!r}")
        if k in REPORT_COLUMNS:
            raise ValueError(f"by: {k!r} is a column of the report itself; rename that log column")
        if k not in columns and k not in DERIVED_COLUMNS:
            raise ValueError(f"by: no column {k!r} in the logs (columns: {', '.join(map(str, columns))}; "
                             f"derived: {', '.join(DERIVED_COLUMNS)})")
    if len(set(keys)) < len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"by: column {dup!r} is named twice")
    return keys


def report(logs: Any, by: str | Sequence[str] = ("channel",), *, as_of: Any = None, response_window: Any = "72h",
           level: float = 0.9, prior: tuple[float, float] = (1.0, 1.0), default_tz: str = "UTC") -> pd.DataFrame:
    """Response rates with Beta credible intervals per group of a response log.

    Parameters
    ----------
    logs : DataFrame, iterable of DataFrames, or Parquet/CSV path or glob
        The response log (schema in :mod:`channelopt.data.schema`), validated as the
        model validates it: a missing or malformed column raises one ValueError
        naming the column, the row and the value.
    by : str or sequence of str, default ("channel",)
        Group columns: any column of the log (``campaign``, ``channel``,
        ``segment``, ``wording``, ...) and the derived ``local_hour`` (0-23) and
        ``weekday`` (``Mon`` .. ``Sun``), computed from ``sent_at`` in the
        customer's zone (the row's ``tz``, else ``default_tz``; a log column of
        the same name takes precedence). Missing values form their own group.
        An empty sequence gives one row for the whole log.
    as_of : timestamp, optional
        The clock. Default: the latest ``sent_at`` or ``responded_at`` in the
        log (as :meth:`channelopt.ChannelModel.fit`). Sends after ``as_of`` are
        left out, and replies after ``as_of`` are not known yet.
    response_window : str or Timedelta, default "72h"
        A reply counts when it comes within this window of the send.
    level : float, default 0.9
        Mass of the central credible interval.
    prior : (alpha, beta), default (1.0, 1.0)
        Beta prior of every group's response rate (uniform by default); the
        interval is that of ``Beta(alpha + responses, beta + resolved - responses)``.
    default_tz : str, default "UTC"
        Zone of rows without a ``tz``.

    Returns
    -------
    DataFrame
        One row per group, sorted by the group columns, with the group columns and:

        - ``sends``: messages sent by ``as_of``;
        - ``responses``: sends answered within the window by ``as_of``, except
          those flagged ``unsubscribed`` or ``complained`` (failures, as in the model);
        - ``pending``: sends without a reply by ``as_of`` whose window is still open;
        - ``rate``: ``responses / (sends - pending)`` (NaN when nothing is resolved);
        - ``ci_low``, ``ci_high``: the Beta posterior interval (scipy.stats.beta);
        - ``unsubscribe_rate``, ``complaint_rate``: flagged sends / sends;
        - ``median_reply_latency``: median ``responded_at - sent_at`` of the responses (NaT if none).

        ``attrs`` records ``as_of``, ``response_window``, ``level`` and ``prior``.

    Examples
    --------
    >>> logs = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
    ...     "sent_at": pd.to_datetime(["2026-01-05 09:00", "2026-01-06 09:00", "2026-01-05 10:00",
    ...                                "2026-01-09 10:00"], utc=True),
    ...     "channel": ["sms", "email", "sms", "sms"],
    ...     "responded_at": pd.to_datetime(["2026-01-05 09:20", None, None, None], utc=True)})
    >>> r = report(logs, as_of="2026-01-10")
    >>> r[["channel", "sends", "responses", "pending", "rate"]].values.tolist()
    [['email', 1, 0, 0, 0.0], ['sms', 3, 1, 1, 0.5]]
    >>> r.attrs["as_of"]
    Timestamp('2026-01-10 00:00:00+0000', tz='UTC')
    """
    level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    a0, b0 = _check_prior(prior)
    window = parse_duration(response_window, "response_window")
    default_tz = check_zone(default_tz, "default_tz")
    frame = logs if isinstance(logs, pd.DataFrame) else read_table(logs, name="logs")
    # validate with the model's boundary; channels are group labels here, not arms of a space
    if "channel" in frame.columns:
        channel = frame["channel"].reset_index(drop=True)
        enc = encode_logs(frame.assign(channel="_"), _PLACEHOLDER, default_tz)
        if channel.isna().any():
            raise ValueError(f"column 'channel': missing value in row {int(np.flatnonzero(channel.isna())[0])}")
    else:
        enc = encode_logs(frame, _PLACEHOLDER, default_tz)  # raises: missing required column 'channel'
    keys = _check_by(by, frame.columns)

    sent, resp = enc.sent_ns, enc.responded_ns
    as_of_ns = int(max(sent.max(), resp.max())) if as_of is None else as_utc_timestamp(as_of, "as_of").as_unit("ns").value
    window_ns = int(window.value)
    keep = sent <= as_of_ns
    replied = resp != NAT
    in_window = replied & (resp - sent <= window_ns)
    resolved_at = np.where(in_window, resp, sent + window_ns)
    pending = resolved_at > as_of_ns
    negative = enc.unsubscribed | enc.complained
    response = in_window & ~pending & ~negative
    latency = np.where(response, (resp - sent).astype(np.float64), np.nan)

    sel = np.flatnonzero(keep)
    data: dict[str, Any] = {}
    if any(k in DERIVED_COLUMNS and k not in frame.columns for k in keys):
        hour, weekday = local_hour_weekday(sent[sel], enc.zone_codes[sel], enc.zones)
    for k in keys:
        if k in frame.columns:
            data[k] = frame[k].reset_index(drop=True).iloc[sel].reset_index(drop=True)
        elif k == "local_hour":
            data[k] = hour.astype(np.int64)
        else:
            data[k] = pd.Categorical.from_codes(weekday.astype(np.int64), categories=list(WEEKDAY_NAMES),
                                                ordered=True)
    counts = pd.DataFrame({"sends": np.ones(sel.size, np.int64), "responses": response[sel].astype(np.int64),
                           "pending": pending[sel].astype(np.int64),
                           "unsubscribed": enc.unsubscribed[sel].astype(np.int64),
                           "complained": enc.complained[sel].astype(np.int64), "latency": latency[sel]})
    if keys:
        table = pd.concat([pd.DataFrame(data), counts], axis=1)
        grouped = table.groupby(list(keys), sort=True, dropna=False, observed=True)
        sums = grouped[["sends", "responses", "pending", "unsubscribed", "complained"]].sum()
        med = grouped["latency"].median()
        out = sums.reset_index()
        med = med.to_numpy(dtype=np.float64)
    else:
        out = counts.drop(columns="latency").sum().to_frame().T.astype(np.int64)
        med = np.array([np.nanmedian(latency[sel]) if response[sel].any() else np.nan])
    sends = out["sends"].to_numpy(dtype=np.float64)
    k = out["responses"].to_numpy(dtype=np.float64)
    resolved = sends - out["pending"].to_numpy(dtype=np.float64)
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = k / resolved
        out["unsubscribe_rate"] = out.pop("unsubscribed").to_numpy(dtype=np.float64) / sends
        out["complaint_rate"] = out.pop("complained").to_numpy(dtype=np.float64) / sends
    alpha, beta = a0 + k, b0 + resolved - k
    out["ci_low"] = stats.beta.ppf(tail, alpha, beta) if len(out) else np.zeros(0)
    out["ci_high"] = stats.beta.ppf(1.0 - tail, alpha, beta) if len(out) else np.zeros(0)
    out["median_reply_latency"] = pd.to_timedelta(np.round(med), unit="ns")
    out = out[list(keys) + list(REPORT_COLUMNS)].reset_index(drop=True)
    out.attrs.update({"as_of": pd.Timestamp(as_of_ns, tz="UTC"), "response_window": window, "level": level,
                      "prior": (a0, b0)})
    return out


# -- per customer -------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _prob_best(rows, group, hashes, sends, responses, prior_a, prior_b, n_ch, best, seed, n_draws,
               out):  # pragma: no cover
    """Monte Carlo P(channel ``best[i]`` has the highest draw) per customer, keyed by the id hash;
    customer ``i``'s prior is row ``group[i]`` of the tables ``prior_a``/``prior_b``."""
    for i in range(rows.shape[0]):
        r = rows[i]
        g = group[i]
        key = K.draw_key(seed, _REPORT_STREAM, hashes[i])
        wins = 0
        for m in range(n_draws):
            top = -1
            top_v = -1.0
            for j in range(n_ch):
                a = prior_a[g, j]
                b = prior_b[g, j]
                if r >= 0:
                    k = np.float64(responses[r, j])
                    a += k
                    b += max(np.float64(sends[r, j]) - k, 0.0)
                v = K.beta_draw(a, b, K.arm_key(key, np.uint64(m * n_ch + j)))
                if v > top_v:
                    top_v = v
                    top = j
            if top == best[i]:
                wins += 1
        out[i] = wins / n_draws


def _prob_best_threads(rows: np.ndarray, group: np.ndarray, hashes: np.ndarray, sends: np.ndarray,
                       responses: np.ndarray,
                       pa: np.ndarray, pb: np.ndarray, n_ch: int, best: np.ndarray, seed: np.uint64, n_draws: int,
                       out: np.ndarray) -> None:
    """Run :func:`_prob_best` over blocks of customers on threads (the kernel releases the GIL).

    Each customer's draws are keyed by its id hash, so the split does not change any result.
    """
    n = rows.shape[0]
    workers = max(1, min(os.cpu_count() or 1, n // 2048))
    if workers == 1:
        _prob_best(rows, group, hashes, sends, responses, pa, pb, n_ch, best, seed, n_draws, out)
        return
    bounds = np.linspace(0, n, 4 * workers + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_prob_best, rows[lo:hi], group[lo:hi], hashes[lo:hi], sends, responses, pa, pb, n_ch,
                            best[lo:hi],
                            seed, n_draws, out[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        for job in jobs:
            job.result()


def _model_state(model: Any) -> Any:
    st = getattr(model, "state_", None)
    if st is None:
        if hasattr(model, "space"):
            raise NotFittedError(NOT_FITTED)
        raise ValueError(f"model: expected a fitted ChannelModel, got {type(model).__name__}")
    return st


def customer_report(model: Any, customers: Any = None, *, level: float = 0.9, draws: int = 500,
                    seed: int | None = None) -> pd.DataFrame:
    """Per customer: preferred channel with its credible interval and probability of being best.

    Parameters
    ----------
    model : ChannelModel
        A fitted model.
    customers : sequence of ids or DataFrame with ``customer_id``, optional
        Default: every customer of the model's state, in state order. Ids the
        model has not seen get the population prior (``sends`` = 0).
    level : float, default 0.9
        Mass of the central credible interval (as :meth:`ChannelModel.explain`).
    draws : int, default 500
        Monte Carlo draws per customer for ``prob_best``: its standard error is
        at most ``0.5 / sqrt(draws)`` (0.022 at 500). The cost is about 0.1 us per
        customer x channel x draw, spread over the CPU cores (threads).
    seed : int, optional
        Seed of those draws (default: the model's seed). Draws are keyed by (seed,
        customer id), so a customer's ``prob_best`` does not depend on which others
        are reported.

    Returns
    -------
    DataFrame
        ``customer_id``; ``channel`` (highest posterior mean), its posterior
        ``mean``, ``ci_low``, ``ci_high`` and ``prob_best`` (probability that
        its response rate is the highest of all channels under the posterior);
        the arm of highest posterior mean of every other dimension of the arm
        space (``wording``, ``hour`` as 0-23, ``weekday``, extras; hours use
        the model's hour smoothing, as ``explain`` does); and ``sends``, the
        customer's (decayed) sends summed over channels.

    Examples
    --------
    >>> import channelopt as co
    >>> space = co.ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> logs = pd.DataFrame({"customer_id": ["a", "a", "b"], "sent_at": ["2026-01-01", "2026-01-02", "2026-01-01"],
    ...     "channel": ["sms", "sms", "email"], "responded_at": ["2026-01-01 02:00", "2026-01-02 01:00", None]})
    >>> model = co.ChannelModel(space, half_life=None).fit(logs, as_of="2026-01-10")
    >>> r = customer_report(model, seed=1)
    >>> r[["customer_id", "channel", "sends"]].values.tolist()
    [['a', 'sms', 2.0], ['b', 'sms', 1.0]]
    >>> bool(r["prob_best"].iloc[0] > 0.5)
    True
    """
    level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    n_draws = check_scalar(draws, "draws", int, min_val=1)
    st = _model_state(model)
    seed = check_scalar(getattr(getattr(model, "config", None), "seed", 0) if seed is None else seed, "seed", int,
                        min_val=0)
    space: ArmSpace = st.space
    if customers is None:
        ids = st.index.ids()
        rows = np.arange(st.n_customers, dtype=np.int64)
        hashes = np.asarray(st.index.hashes, dtype=np.uint64)
    else:
        if isinstance(customers, pd.DataFrame):
            if "customer_id" not in customers.columns:
                raise ValueError("customers: missing required column 'customer_id' "
                                 f"(columns present: {', '.join(map(str, customers.columns))})")
            ids = customers["customer_id"].reset_index(drop=True)
        elif isinstance(customers, (str, bytes)) or not isinstance(customers, Iterable):
            raise ValueError(f"customers: expected a sequence of ids or a DataFrame, got {customers!r}")
        else:
            ids = pd.Series(list(customers))
        if len(ids):
            rows, hashes = st.index.rows_of(ids)
        else:
            rows, hashes = np.zeros(0, np.int64), np.zeros(0, np.uint64)
        ids = ids.to_numpy()
    n = rows.shape[0]
    offsets = space.offsets
    dims = space.dimensions
    n_ch = int(offsets[1])
    pa, pb = st.prior_tables  # row 0 the population, then one per segment
    group = np.ascontiguousarray(st.prior_groups(rows), dtype=np.int64)
    # hour arms share evidence with their neighbours in the model's decisions and explain();
    # the preferred hour follows the same smoothed posterior
    smooth = np.asarray(getattr(model, "_smooth", np.ones(1)), dtype=np.float64)
    hour_dim = dims.index("hour") if "hour" in dims and smooth.shape[0] > 1 else -1
    best = {d: np.zeros(n, np.int64) for d in dims}
    mean = np.empty(n)
    alpha = np.empty(n)
    beta = np.empty(n)
    sends_seen = np.empty(n)
    for start in range(0, n, _CHUNK):  # blocks of customers bound the temporary (block, arms) arrays
        r = rows[start:start + _CHUNK]
        span = (offsets[hour_dim], offsets[hour_dim + 1]) if hour_dim >= 0 else None
        s, _, _, _, a, b = posterior_arrays(st, r, group[start:start + _CHUNK], smooth, span)
        m = a / (a + b)
        for d, dim in enumerate(dims):
            best[dim][start:start + _CHUNK] = np.argmax(m[:, offsets[d]:offsets[d + 1]], axis=1)
        pick = best["channel"][start:start + _CHUNK]
        take = np.arange(r.shape[0])
        alpha[start:start + _CHUNK] = a[take, pick]
        beta[start:start + _CHUNK] = b[take, pick]
        mean[start:start + _CHUNK] = m[take, pick]
        sends_seen[start:start + _CHUNK] = s[:, :n_ch].sum(axis=1)
    tail = (1.0 - level) / 2.0
    prob = np.empty(n)
    if n:
        _prob_best_threads(np.ascontiguousarray(rows, dtype=np.int64), group,
                           np.ascontiguousarray(hashes, dtype=np.uint64),
                           np.ascontiguousarray(st.sends), np.ascontiguousarray(st.responses), pa, pb, n_ch,
                           best["channel"], np.uint64(seed), n_draws, prob)
    out = pd.DataFrame({"customer_id": ids})
    out["channel"] = pd.Categorical.from_codes(best["channel"], categories=list(space.channels))
    out["mean"] = mean
    out["ci_low"] = stats.beta.ppf(tail, alpha, beta) if n else np.zeros(0)
    out["ci_high"] = stats.beta.ppf(1.0 - tail, alpha, beta) if n else np.zeros(0)
    out["prob_best"] = prob
    for d, dim in enumerate(dims[1:], start=1):
        if dim == "hour":
            out["hour"] = best["hour"]
        else:
            out[dim] = pd.Categorical.from_codes(best[dim], categories=list(space.labels(dim)))
    out["sends"] = sends_seen
    out.attrs.update({"as_of": getattr(model, "as_of_", None), "level": level, "draws": n_draws, "seed": seed})
    return out
