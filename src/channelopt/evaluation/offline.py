"""Model-level off-policy evaluation: the value a fitted model would have had on logged traffic.

* :func:`evaluate` -- the value (rate of replies within the response window)
  a fitted :class:`~channelopt.ChannelModel` would have had on a response log
  with logged propensities, by IPS, SNIPS and DR
  (:mod:`channelopt.evaluation.estimators`), with bootstrap intervals
  (:mod:`channelopt.evaluation.bootstrap`);
* :func:`replay` -- the replay (rejection sampling) estimator for uniformly
  random logs.

The logged rows are resolved by :class:`~channelopt.evaluation.resolve.Resolved`,
the target propensities and ``q`` computed by :mod:`channelopt.evaluation.target`,
DR's reward model is :class:`~channelopt.evaluation.reward_model.RewardModel`.
The model is taken as an object: ``channelopt.policy.model`` is imported only
for type checking.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from channelopt.core.validation import check_scalar
from channelopt.data.tz import NAT, to_utc_ns
from channelopt.evaluation.bootstrap import bootstrap_ci, check_boot
from channelopt.evaluation.estimators import check_clip, dr, effective_sample_size, importance_weights, ips, snips
from channelopt.evaluation.resolve import Resolved, dimension_indices, fitted_state
from channelopt.evaluation.reward_model import RewardModel
from channelopt.evaluation.target import effective_exploration, hour_weights, logged_posterior_mean, target_terms

if TYPE_CHECKING:  # pragma: no cover
    from channelopt.policy.model import ChannelModel

__all__ = ["evaluate", "replay"]

_ESTIMATORS = ("ips", "snips", "dr")


def evaluate(logs: Any, model: "ChannelModel", estimators: Sequence[str] = _ESTIMATORS, as_of: Any = None,
             level: float = 0.95, n_boot: int = 1000, seed: int = 0, clip: float | None = None, *,
             dimensions: Sequence[str] | None = None) -> pd.DataFrame:
    """The value a fitted model would have had on logged traffic, with bootstrap intervals.

    The value is the rate of *successes* -- a reply within the model's
    response window, without an unsubscribe or complaint, exactly what the
    model learns from -- had the model chosen every logged send's action.

    * Rows count once their whole window has passed by ``as_of``
      (``sent_at + response_window <= as_of``); later rows are pending and dropped.
    * Logged propensity: the log's ``propensity`` column, the probability with
      which the logging policy chose the logged action.
    * Target propensity: the probability that the model, as it is now, picks the
      logged action: the product over ``dimensions`` of the exact Thompson win
      probability of the logged arm (channel, wording, the local hour of
      ``sent_at`` in the customer's zone -- the row's ``tz``, else the zone the
      model learned, else its default -- and any extra dimension), with the
      hour statistics smoothed as the model's decisions smooth them and its
      ``exploration`` ``e`` applied (draws from ``Beta(alpha / e, beta / e)``). The
      weekday is left out by default: within a delivery window the weekday of
      a send follows from its hour and the decision time.
    * The estimand is therefore the value of the *factorised* Thompson policy
      (each dimension's arm the argmax of its own draw, every channel
      allowed). The deployed model picks its slot by ``draw(hour) *
      draw(weekday)`` inside its delivery window and applies contact rules and
      value/cost holds, which are not modelled here. Without weekday arms and
      contact rules the two coincide (checked on the simulator); with weekday
      arms the weekday draw adds noise to the hour choice and the deployed
      value was 6-18% lower on the simulator (docs/evaluation.md).
    * DR's reward model: a cross-fitted (2 folds) scikit-learn
      ``PoissonRegressor`` (log link) on one indicator per logged arm plus, per
      dimension, the log of the model's posterior mean of the logged arm for
      that customer. The log link makes the predicted reply rate a product of
      one factor per dimension -- the structure of both the simulator's truth
      and a factorised Thompson policy -- so ``q_target``, the expectation of
      the reward model under the target's (independent per dimension) arm
      distribution, is computed exactly, with no sampling or enumeration.
      Predictions are capped at 1 (for the rare rates near 1 the cap makes the
      expectation approximate). Cross-fitting keeps each row's ``q`` from being
      fitted on that row; the bootstrap holds the fitted ``q`` fixed.

    Leakage: pass a model fitted on *earlier* data than the evaluated log. A
    model fitted on the same rows knows their outcomes and its value is
    optimistic; a warning says how many evaluated rows were sent before the
    model's ``as_of``.

    Parameters
    ----------
    logs : DataFrame or path
        Response log with a ``propensity`` column (schema in :mod:`channelopt.data.schema`).
    model : ChannelModel
        A fitted model, evaluated as it is (no refitting).
    estimators : sequence of {"ips", "snips", "dr"}
    as_of : timestamp, optional
        The clock; default: the latest timestamp in the logs.
    level : float, default 0.95
        Level of the percentile bootstrap intervals.
    n_boot : int, default 1000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap and of the reward model's folds.
    clip : float, optional
        Cap on each importance weight.
    dimensions : sequence of str, optional
        The dimensions whose choice the logged ``propensity`` describes and
        the target is evaluated on; default every dimension but the weekday.
        If the logging policy logged the probability of the channel alone
        (``ChannelModel.rank`` and ``channelopt.sim.UniformPolicy`` do, today), pass
        ``("channel",)``: the value is then that of the model's channel choice
        with the logged wording and send time. A mismatch shows as a mean
        importance weight far from 1, which triggers a warning.

    Returns
    -------
    DataFrame
        One row per estimator: ``estimator, value, ci_low, ci_high, n,
        effective_sample_size``; ``attrs`` holds ``as_of``, ``dimensions``,
        ``pending`` (rows dropped), ``mean_weight`` and ``max_weight``.

    Warns
    -----
    UserWarning
        When the effective sample size is below 1% of n, when one row carries
        more than 10% of the total weight (n >= 100), when the mean importance
        weight is outside [0.5, 2] and more than 4 standard errors from 1
        (n >= 100, no clip), and when evaluated rows were sent before the
        model's ``as_of``.

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> rng = np.random.default_rng(0)
    >>> def log(start, n):
    ...     sent = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
    ...     channel = rng.choice(["email", "sms"], n)
    ...     reply = rng.random(n) < np.where(channel == "sms", 0.3, 0.1)
    ...     return pd.DataFrame({"customer_id": rng.integers(0, 50, n), "sent_at": sent, "channel": channel,
    ...                          "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(reply),
    ...                          "propensity": 0.5})
    >>> model = ChannelModel(space, seed=1).fit(log("2026-01-01", 400), as_of="2026-01-25")
    >>> result = evaluate(log("2026-02-01", 400), model, as_of="2026-03-01", n_boot=200)
    >>> result["estimator"].tolist(), bool(result["value"].between(0.1, 0.35).all())
    (['ips', 'snips', 'dr'], True)
    """
    names = [estimators] if isinstance(estimators, str) else list(estimators)
    if not names:
        raise ValueError("estimators: name at least one of ips, snips, dr")
    for name in names:
        if name not in _ESTIMATORS:
            raise ValueError(f"estimators: unknown estimator {name!r} (known: {', '.join(_ESTIMATORS)})")
    clip = check_clip(clip)
    check_boot(n_boot, level)
    check_scalar(seed, "seed", int, min_val=0)
    fitted_state(model)
    space = model.space
    dims = dimension_indices(space, dimensions)
    res = Resolved(logs, model, as_of, need_propensity=True)
    n = len(res)

    weights = hour_weights(model)
    reward_model = None
    q_logged = None
    if "dr" in names:
        reward_model = RewardModel(space, dims, int(seed))
        pm_rows = logged_posterior_mean(res, dims, weights)
        x = reward_model.design(res.arms, np.log(np.maximum(pm_rows, 1e-300)))
        reward_model.fit(x, res.reward)
        q_logged = reward_model.predict_logged(x)
    tp, q_target = target_terms(res, space, dims, reward_model, weights, effective_exploration(model))
    lp = res.propensity
    w = importance_weights(lp, tp, clip)
    ess = effective_sample_size(w)
    _warn_weights(w, ess, n, clip, "evaluate")
    _warn_leakage(res)

    rows = []
    for name in names:
        if name == "dr":
            est, low, high = bootstrap_ci(dr, res.reward, lp, tp, q_logged, q_target, n_boot=n_boot, level=level,
                                          seed=seed, clip=clip)
        else:
            fn = ips if name == "ips" else snips
            est, low, high = bootstrap_ci(fn, res.reward, lp, tp, n_boot=n_boot, level=level, seed=seed, clip=clip)
        rows.append({"estimator": name, "value": est, "ci_low": low, "ci_high": high, "n": n,
                     "effective_sample_size": ess})
    out = pd.DataFrame(rows, columns=["estimator", "value", "ci_low", "ci_high", "n", "effective_sample_size"])
    out.attrs.update({"as_of": res.as_of, "dimensions": [space.dimensions[d] for d in dims],
                      "pending": res.n_pending, "mean_weight": float(w.mean()), "max_weight": float(w.max())})
    return out


def _warn_weights(w: np.ndarray, ess: float, n: int, clip: float | None, where: str) -> None:
    total = float(w.sum())
    if ess < 0.01 * n:
        warnings.warn(f"{where}: effective sample size {ess:.1f} is below 1% of the {n} rows: the target policy "
                      "rarely takes the logged actions, so the estimates are unreliable", UserWarning, stacklevel=3)
    elif n >= 100 and total > 0 and float(w.max()) > 0.1 * total:
        warnings.warn(f"{where}: extreme importance weights: one row carries {float(w.max()) / total:.0%} of the "
                      f"total weight (effective sample size {ess:.1f} of {n} rows); consider clip=",
                      UserWarning, stacklevel=3)
    mean = float(w.mean())
    se = float(w.std()) / math.sqrt(n)
    # E[w] = 1 when both propensities describe the same action; flag a clear departure only
    if clip is None and n >= 100 and not 0.5 <= mean <= 2.0 and abs(mean - 1.0) > 4.0 * se:
        warnings.warn(f"{where}: the mean importance weight is {mean:.3g}, expected about 1 (effective sample size "
                      f"{ess:.1f}): the logged propensities and the evaluated dimensions may not describe the same "
                      "action (e.g. a propensity of the channel alone: pass dimensions=('channel',))",
                      UserWarning, stacklevel=3)


def _warn_leakage(res: Resolved) -> None:
    if res.model_as_of == NAT:
        return
    before = int((res.sent_ns < res.model_as_of).sum())
    if before:
        warnings.warn(f"{before} of the {len(res)} evaluated rows were sent before the model's as_of "
                      f"({pd.Timestamp(res.model_as_of, tz='UTC')}): if the model was fitted on them the estimate "
                      "is optimistic; evaluate a model fitted on earlier data", UserWarning, stacklevel=3)


def replay(logs: Any, model: "ChannelModel", *, now_column: str = "sent_at", as_of: Any = None,
           level: float = 0.95, dimensions: Sequence[str] | None = None) -> pd.DataFrame:
    """Replay (rejection sampling) estimate of a model's value on uniformly random logs.

    For every resolved logged send the model decides (``rank`` /
    ``choose_channel`` at the row's ``now_column`` time, in the row's ``tz`` or
    the zone the model learned); rows where its decision matches the logged
    action on every dimension of ``dimensions`` are kept, and the value is
    the success rate among them (reply within the window, no unsubscribe or
    complaint; rows count once ``sent_at + response_window <= as_of``). The
    interval is the central ``level`` interval of the Beta(1 + successes,
    1 + failures) posterior of that rate.

    Unbiased when the logging policy chose the compared dimensions uniformly at
    random, independently of the customer (about ``1 / (number of joint
    actions)`` of the rows match); for any other logging policy use
    :func:`evaluate`. Comparing fewer dimensions (e.g. ``("channel",)``) keeps
    more rows and estimates the value of the model's choice on those
    dimensions with the logged choice of the others. The hour matches when the
    model picks the local hour of ``sent_at``; with ``now_column="sent_at"`` (the
    default, when the decision time was not logged) that is a send right away.

    Parameters
    ----------
    logs : DataFrame or path
        Response log (schema in :mod:`channelopt.data.schema`).
    model : ChannelModel
        A fitted model, used as it is.
    now_column : str, default "sent_at"
        Column with each row's decision time (not after ``sent_at``).
    as_of : timestamp, optional
        The clock; default: the latest timestamp in the logs.
    level : float, default 0.95
    dimensions : sequence of str, optional
        Dimensions compared; default every dimension but the weekday (see :func:`evaluate`).

    Returns
    -------
    DataFrame
        One row: ``estimator`` ("replay"), ``value``, ``ci_low``, ``ci_high``,
        ``n`` (resolved logged rows), ``matched`` (rows kept), ``responses``
        (successes among them). ``value`` is NaN when nothing matched.

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms"], hours=False, weekdays=False)
    >>> rng = np.random.default_rng(0)
    >>> sent = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(300), unit="h")
    >>> channel = rng.choice(["email", "sms"], 300)
    >>> reply = rng.random(300) < np.where(channel == "sms", 0.4, 0.1)
    >>> logs = pd.DataFrame({"customer_id": rng.integers(0, 30, 300), "sent_at": sent, "channel": channel,
    ...                      "responded_at": pd.Series(sent + pd.Timedelta("1h")).where(reply)})
    >>> model = ChannelModel(space, seed=3).fit(logs.iloc[:150])
    >>> out = replay(logs.iloc[150:], model, as_of="2026-02-01")
    >>> int(out["n"].iloc[0]), bool(out["matched"].iloc[0] > 0)
    (150, True)
    """
    check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    fitted_state(model)
    space = model.space
    dims = dimension_indices(space, dimensions)
    res = Resolved(logs, model, as_of, need_propensity=False)
    frame = res.frame
    if now_column not in frame.columns:
        raise ValueError(f"logs: missing column {now_column!r} (the decision time of each row; "
                         f"columns present: {', '.join(map(str, frame.columns))})")
    if now_column == "sent_at":
        now_ns = res.sent_ns
    else:
        now_ns = to_utc_ns(frame[now_column], now_column, allow_null=False)[res.positions]
        late = np.flatnonzero(now_ns > res.sent_ns)
        if late.size:
            i = int(late[0])
            raise ValueError(f"column {now_column!r}: {pd.Timestamp(now_ns[i], tz='UTC')} in row "
                             f"{int(res.positions[i])} is after sent_at {pd.Timestamp(res.sent_ns[i], tz='UTC')}")
    p = res.propensity[~np.isnan(res.propensity)]
    if p.size and float(p.max() - p.min()) > 1e-9 * float(p.max()):
        warnings.warn(f"replay: the logged propensity varies ({float(p.min()):.3g} to {float(p.max()):.3g}), "
                      "but replay assumes uniformly random logging; use evaluate()", UserWarning, stacklevel=2)
    chosen, hold = _decisions(model, res, now_ns, dims)
    matched = ~hold
    for k, d in enumerate(dims):
        logged = res.arms[:, d]
        matched &= (logged < 0) | (chosen[:, k] == logged)
    m = int(matched.sum())
    k = int(res.reward[matched].sum())
    tail = (1.0 - float(level)) / 2.0
    low, high = stats.beta.ppf([tail, 1.0 - tail], 1 + k, 1 + m - k)
    if m == 0:
        warnings.warn(f"replay: none of the {len(res)} logged actions matches the model's decision", UserWarning,
                      stacklevel=2)
    out = pd.DataFrame([{"estimator": "replay", "value": k / m if m else float("nan"), "ci_low": float(low),
                         "ci_high": float(high), "n": len(res), "matched": m, "responses": k}])
    out.attrs.update({"as_of": res.as_of, "dimensions": [space.dimensions[d] for d in dims],
                      "pending": res.n_pending})
    return out


def _decisions(model: Any, res: Resolved, now_ns: np.ndarray, dims: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The model's chosen flat arm per row and compared dimension (-2 where it has none), and the holds.

    Rows sharing a decision time are decided together by ``model.rank``; lone
    rows by ``model.choose_channel`` (the two agree for the same customer and time).
    """
    space = model.space
    names = [space.dimensions[d] for d in dims]
    offsets = space.offsets
    label_pos = {name: {lab: i for i, lab in enumerate(space.labels(name))} for name in names}
    out = np.full((len(res), len(dims)), -2, dtype=np.int64)
    hold = np.zeros(len(res), dtype=bool)
    tz = res.tz.where(res.tz.notna(), None)
    order = np.argsort(now_ns, kind="stable")
    bounds = np.flatnonzero(np.r_[True, now_ns[order][1:] != now_ns[order][:-1], True])
    for g0, g1 in zip(bounds[:-1], bounds[1:]):
        sel = order[g0:g1]
        now = pd.Timestamp(int(now_ns[sel[0]]), tz="UTC")
        if sel.size < 20:  # rank's fixed cost is that of ~20 choose_channel calls
            for i in sel:
                zone = tz.iloc[i]
                dec = model.choose_channel(res.customer_id.iloc[i], now=now, tz=zone, propensity=False)
                if dec.channel is None:
                    hold[i] = True
                    continue
                for k, name in enumerate(names):
                    value = {"channel": dec.channel, "wording": dec.wording,
                             "hour": None if dec.hour is None else f"{dec.hour:02d}"}.get(name, dec.extra.get(name))
                    if value is not None:
                        out[i, k] = label_pos[name][value] + offsets[dims[k]]
            continue
        table = pd.DataFrame({"customer_id": res.customer_id.iloc[sel].reset_index(drop=True),
                              "tz": tz.iloc[sel].reset_index(drop=True)})
        plan = model.rank(table, now=now, propensity=False)
        held = plan["channel"].isna().to_numpy()
        hold[sel] = held
        for k, name in enumerate(names):
            if name == "hour":
                local = plan["hour"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
            else:
                col = plan[name].astype(object)
                local = np.array([label_pos[name].get(v, -1) if v is not None and v == v else -1 for v in col],
                                 dtype=np.int64)
            flat = np.where(local >= 0, local + offsets[dims[k]], -2)
            flat[held] = -2
            out[sel, k] = flat
    return out, hold
