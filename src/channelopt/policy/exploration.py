"""``exploration="auto"``: the model tunes the spread of its Thompson draws from its own logged traffic.

A model's ``exploration`` ``e`` draws every customer x arm from
``Beta(alpha / e, beta / e)`` (``(alpha, beta)`` the posterior: the same mean,
a spread scaled by about ``sqrt(e)``; see :mod:`channelopt.kernels.decide`).
With ``exploration="auto"`` every ``fit`` / ``partial_fit`` chooses ``e`` among
:data:`CANDIDATES` by off-policy evaluation of the sends of the last
:data:`HORIZON` that carry a logged ``propensity``:

1. **Honest state.** The evaluated sends are taken *out* of the freshly fitted
   statistics (their decayed weight, exactly as the ingestion added them,
   :func:`channelopt.kernels.resolve_sends`): each send is scored by the model
   as it stood before its outcome was known, not by a model that has seen it
   (which would reward exploiting that knowledge, i.e. favour small ``e``).
   Sends counted by an earlier ``partial_fit`` are already in the base and
   cannot be taken out; with daily ``partial_fit`` and a ``response_window`` of a
   few days they are few. The empirical-Bayes priors (population and
   segments) are fitted again on these statistics of the evaluated customers:
   the fitted priors have seen the evaluated sends too, and a channel that
   did better *in the evaluated sends* would otherwise make small ``e`` look
   better on pure noise.
2. **Target propensity** of each logged action under every candidate: the
   exact win probability (quadrature, :func:`channelopt.kernels.win.win_many`)
   of the logged arm in every dimension but the weekday, multiplied -- the
   estimand of :func:`channelopt.evaluation.evaluate` with its default
   ``dimensions``.
3. **Value** by self-normalised IPS, ``sum(w r) / sum(w)`` with
   ``w = target / logged propensity`` (the formula of
   :func:`channelopt.evaluation.snips`, computed here because the policy layer
   does not import the evaluation layer), with the delta-method standard error
   of every candidate's difference to the best one (the same rows: paired).
4. **One-standard-error rule.** The chosen ``e`` is the *largest* candidate whose
   value is within one standard error of the best: a smaller ``e`` (less
   exploration, which is hard to undo: the model stops learning about the arms
   it neglects) must earn its place by more than the noise.

Without enough evaluable sends (fewer than :data:`MIN_ROWS`, e.g. a log without
a ``propensity`` column) or when no candidate keeps an effective sample size
of :data:`MIN_ESS`, the model keeps its previous choice, or
:data:`AUTO_FALLBACK` (1.0, plain Thompson sampling) on its first fit; the
reason is recorded. Everything is deterministic (no draws: quadrature), so the
choice is a pure function of the logs, ``as_of`` and the model's parameters.

Examples
--------
>>> one_se_choice(np.array([0.1, 0.5, 1.0]), np.array([0.20, 0.22, 0.19]), np.array([0.02, 0.0, 0.02]))
0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from channelopt import kernels as K
from channelopt.data.schema import EncodedLogs
from channelopt.data.tz import NAT, local_hour_weekday
from channelopt.kernels.win import win_many
from channelopt.state.declared import fit_declared_prior
from channelopt.state.priors import fit_segment_priors

__all__ = ["AUTO_FALLBACK", "CANDIDATES", "HORIZON", "MIN_ESS", "MIN_ROWS", "ExplorationChoice", "LogTap",
           "TappedIngestion", "choose_exploration", "effective_exploration", "one_se_choice"]

#: The exploration values ``"auto"`` chooses among (sorted; 1.0 = plain Thompson sampling).
CANDIDATES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
#: The exploration of an ``"auto"`` model before any evidence (its first fit without enough logged propensities).
AUTO_FALLBACK = 1.0
#: Sends evaluated: those resolved (``sent_at + response_window``) within this span before the fit's ``as_of``.
HORIZON = pd.Timedelta("28D")
#: At most this many (the most recent) sends are evaluated.
MAX_ROWS = 200_000
#: Fewer evaluable sends than this: no tuning (the previous choice, or the fallback, is kept).
MIN_ROWS = 300
#: A candidate whose importance weights have a smaller effective sample size is not eligible.
MIN_ESS = 30.0
_COLUMNS = ("exploration", "value", "std_error", "effective_sample_size", "eligible")


def effective_exploration(model: Any) -> float:
    """The exploration ``e`` a model's decisions use: its ``exploration`` parameter, or for ``"auto"`` the
    tuned ``exploration_`` (:data:`AUTO_FALLBACK` before any tuning); 1.0 for an object without one.

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> effective_exploration(ChannelModel(ArmSpace(channels=["email"]), exploration=0.3))
    0.3
    >>> effective_exploration(ChannelModel(ArmSpace(channels=["email"]), exploration="auto"))
    1.0
    """
    return float(getattr(model, "_explore", 1.0))


@dataclass
class ExplorationChoice:
    """The outcome of one tuning: the chosen ``value``, why, and the evaluation of every candidate.

    ``table`` has one row per candidate: ``exploration, value, std_error``
    (of the difference to the best candidate's value; paired), ``effective_sample_size``,
    ``eligible``; empty when nothing was evaluated.
    """

    value: float
    reason: str
    n: int = 0
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: np.zeros(0, dtype=bool if c == "eligible" else np.float64) for c in _COLUMNS}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (saved in the model's manifest; NaN written as null)."""
        table = {c: [None if isinstance(v, float) and math.isnan(v) else v
                     for v in (x.item() if hasattr(x, "item") else x for x in self.table[c])] for c in _COLUMNS}
        return {"value": float(self.value), "reason": str(self.reason), "n": int(self.n), "table": table}

    @classmethod
    def from_dict(cls, data: Any) -> "ExplorationChoice":
        """Inverse of :meth:`to_dict`; a ValueError for anything else."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        value = data.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 100:
            raise ValueError(f"value must be a number in (0, 100], got {value!r}")
        table = data.get("table", {})
        if not isinstance(table, dict) or not all(isinstance(table.get(c, []), list) for c in _COLUMNS):
            raise ValueError("table must be an object of columns (lists)")
        cols = {c: table.get(c, []) for c in _COLUMNS}
        if len({len(v) for v in cols.values()}) > 1:
            raise ValueError("table: columns of different lengths")
        try:
            frame = pd.DataFrame({c: (np.array(v, dtype=bool) if c == "eligible" else
                                      np.array([np.nan if x is None else x for x in v], dtype=np.float64))
                                  for c, v in cols.items()})
        except (TypeError, ValueError):
            raise ValueError("table: values must be numbers") from None
        n = data.get("n", 0)
        return cls(float(value), str(data.get("reason", "")), int(n) if isinstance(n, int) else 0, frame)


class LogTap:
    """The recent logged sends that carry a ``propensity``, kept while a fit streams its chunks.

    Holds, per chunk, the rows with a finite propensity; rows sent more than
    ``HORIZON + response_window`` before the latest send seen are dropped as
    chunks arrive, so memory is bounded by the evaluated span.
    """

    def __init__(self, window_ns: int) -> None:
        self.window_ns = int(window_ns)
        self.parts: list[dict[str, Any]] = []
        self.latest = NAT

    def add(self, enc: EncodedLogs) -> None:
        """Keep the rows of one encoded chunk that carry a logged propensity."""
        p = enc.propensity
        has = np.flatnonzero(np.isfinite(p) & (p > 0.0) & (p <= 1.0))
        if not has.size:
            return
        sent = enc.sent_ns[has]
        self.latest = max(self.latest, int(sent.max()))
        self.parts.append({"customer_id": enc.customer_id.iloc[has].to_numpy(), "sent_ns": sent,
                           "responded_ns": enc.responded_ns[has], "arms": np.asarray(enc.arms[has], np.int16),
                           "negative": (enc.unsubscribed[has] | enc.complained[has]).astype(bool),
                           "propensity": p[has].astype(np.float64), "tz_known": enc.tz_known[has].astype(bool)})
        cut = self.latest - int(HORIZON.value) - self.window_ns
        kept = []
        for part in self.parts:
            keep = part["sent_ns"] >= cut
            if keep.all():
                kept.append(part)
            elif keep.any():
                kept.append({k: v[keep] for k, v in part.items()})
        self.parts = kept

    def rows(self) -> dict[str, np.ndarray] | None:
        """Every kept row, concatenated (None when nothing was kept)."""
        if not self.parts:
            return None
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


class TappedIngestion:
    """An ingestion job that also shows every chunk to a :class:`LogTap` (all else is the job's own)."""

    def __init__(self, job: Any, tap: LogTap) -> None:
        self.job = job
        self.tap = tap

    def add(self, enc: EncodedLogs) -> None:
        self.tap.add(enc)
        self.job.add(enc)

    def __getattr__(self, name: str) -> Any:  # finish, counts, ...
        return getattr(self.job, name)


def one_se_choice(candidates: np.ndarray, values: np.ndarray, std_errors: np.ndarray) -> float:
    """The largest candidate whose value is within one standard error (of its difference to the best) of
    the best value; ``candidates`` sorted increasingly, NaN values not eligible.

    Examples
    --------
    >>> one_se_choice(np.array([0.1, 1.0]), np.array([0.30, 0.20]), np.array([0.02, 0.02]))   # a clear gain
    0.1
    >>> one_se_choice(np.array([0.1, 1.0]), np.array([0.21, 0.20]), np.array([0.0, 0.02]))    # within the noise
    1.0
    """
    ok = np.flatnonzero(np.isfinite(values))
    best = ok[int(np.argmax(values[ok]))]
    near = ok[values[ok] >= values[best] - np.where(np.isfinite(std_errors[ok]), std_errors[ok], 0.0)]
    return float(candidates[near.max()])


def _snips_terms(reward: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(value, influence per row, effective sample size)`` of self-normalised IPS."""
    total = float(w.sum())
    if total <= 0.0:
        return float("nan"), np.zeros_like(w), 0.0
    value = float(np.dot(w, reward) / total)
    influence = w * (reward - value) / (total / w.shape[0])
    return value, influence, total * total / float(np.dot(w, w))


def _honest_priors(store: Any, rows: np.ndarray, sends: np.ndarray, responses: np.ndarray, squares: np.ndarray,
                   max_strength: float, sample: int, declared: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Prior tables ``[1 + n_segments, n_arms]`` fitted, as the ingestion fits them, on the statistics of the
    evaluated customers without the evaluated sends (state rows ``rows``)."""
    offsets = np.asarray(store.space.offsets)
    if rows.size == 0:
        return tuple(np.ascontiguousarray(x, dtype=np.float64) for x in store.prior_tables)  # type: ignore[return-value]
    hashes = np.ascontiguousarray(store.index.hashes[rows])
    s = np.ascontiguousarray(sends, dtype=np.float32)
    k = np.ascontiguousarray(responses, dtype=np.float32)
    q = np.ascontiguousarray(squares, dtype=np.float32)
    alpha, beta = fit_declared_prior(s, k, hashes, offsets, declared, max_strength=max_strength, sample=sample,
                                     squares=q)
    n_seg = len(store.segments)
    seg_a, seg_b = fit_segment_priors(s, k, hashes, offsets, np.asarray(store.segment, np.int16)[rows], n_seg,
                                      alpha, beta, max_strength=max_strength, sample=sample, squares=q)
    n_arms = alpha.shape[0]
    return (np.ascontiguousarray(np.vstack([alpha[None, :], np.reshape(seg_a, (n_seg, n_arms))]), dtype=np.float64),
            np.ascontiguousarray(np.vstack([beta[None, :], np.reshape(seg_b, (n_seg, n_arms))]), dtype=np.float64))


def choose_exploration(store: Any, tap: LogTap, *, base_watermark_ns: int, window_ns: int, half_life_ns: int,
                       by_reply: bool, smooth: np.ndarray, prior_max_strength: float = 1000.0,
                       prior_sample: int = 5000, previous: float | None = None, declared: Any = None,
                       candidates: tuple[float, ...] = CANDIDATES) -> ExplorationChoice:
    """Tune the exploration on the tapped sends of one fit (see the module's description).

    Parameters
    ----------
    store : PosteriorStore
        The store the fit produced (its watermark is the fit's ``as_of``).
    tap : LogTap
        The fit's logged sends with a propensity.
    base_watermark_ns : int
        Watermark of the store the fit started from (``NAT`` for ``fit``): the
        sends resolving after it were added by this fit and are taken out again.
    window_ns, half_life_ns, by_reply
        The model's response window, half-life (0: none) and ``resolve == "reply"``.
    smooth : float array
        The model's hour-smoothing weights.
    prior_max_strength, prior_sample
        The model's prior settings (the priors are fitted again without the evaluated sends).
    declared : DeclaredPrior, optional
        The model's declared prior (``prior=``), fitted with the data as the ingestion does.
    previous : float, optional
        The exploration kept when there is too little evidence (default :data:`AUTO_FALLBACK`).
    candidates : tuple of float

    Returns
    -------
    ExplorationChoice
    """
    keep_value = AUTO_FALLBACK if previous is None else float(previous)
    cands = np.array(sorted(float(c) for c in candidates))
    data = tap.rows()
    t = int(store.watermark_ns)
    if data is None or t == NAT:
        return ExplorationChoice(keep_value, "no logged propensities in the fitted logs")
    sent = data["sent_ns"]
    resolved = sent + window_ns
    sel = np.flatnonzero((resolved <= t) & (resolved > t - int(HORIZON.value)))
    if sel.size > MAX_ROWS:
        sel = sel[np.argsort(sent[sel], kind="stable")[-MAX_ROWS:]]
    if sel.size < MIN_ROWS:
        return ExplorationChoice(keep_value, f"{sel.size} resolved sends with a logged propensity in the last "
                                 f"{HORIZON.days} days (at least {MIN_ROWS} needed)", int(sel.size))
    d = {k: v[sel] for k, v in data.items()}
    sent, resp = d["sent_ns"], d["responded_ns"]
    reward = ((resp != NAT) & (resp - sent <= window_ns) & ~d["negative"]).astype(np.float64)
    space = store.space
    offsets = np.ascontiguousarray(space.offsets, dtype=np.int64)
    dims = list(space.dimensions)
    n_arms = int(offsets[-1])
    rows = (store.index.rows_of(pd.Series(d["customer_id"]))[0] if len(store.index)
            else np.full(sel.size, -1, np.int64))
    # 1. the store's statistics of these customers without the evaluated sends (as the ingestion added them)
    uniq, local = np.unique(rows, return_inverse=True)
    local = np.ascontiguousarray(local.reshape(-1), dtype=np.int64)
    known = uniq >= 0
    sends = np.zeros((uniq.size, n_arms), np.float32)
    responses = np.zeros((uniq.size, n_arms), np.float32)
    squares = np.zeros((uniq.size, n_arms), np.float32)
    sends[known] = store.sends[uniq[known]]
    responses[known] = store.responses[uniq[known]]
    squares[known] = store.squared_weights[uniq[known]]
    outcome, weight = K.resolve_sends(sent, resp, d["negative"], t, base_watermark_ns, window_ns, by_reply,
                                      half_life_ns)
    taken_s = np.zeros_like(sends)
    taken_k = np.zeros_like(responses)
    taken_q = np.zeros_like(squares)
    K.accumulate(local, np.ascontiguousarray(d["arms"]), weight, outcome, taken_s, taken_k, taken_q, 1)
    sends = np.ascontiguousarray(np.maximum(sends - taken_s, 0.0), dtype=np.float32)
    squares = np.ascontiguousarray(np.maximum(squares - taken_q, 0.0), dtype=np.float32)
    responses = np.ascontiguousarray(np.minimum(np.maximum(responses - taken_k, 0.0), sends), dtype=np.float32)
    eval_rows = np.where(known, np.arange(uniq.size), -1).astype(np.int64)
    groups = np.ascontiguousarray(store.prior_groups(uniq), dtype=np.int64)
    prior_a, prior_b = _honest_priors(store, uniq[known], sends[known], responses[known], squares[known],
                                      prior_max_strength, prior_sample, declared)
    # 2. the logged arms; rows without their own tz: the local hour in the zone the model learned
    arms = np.array(d["arms"], dtype=np.int64)
    redo = np.flatnonzero(~d["tz_known"] & (rows >= 0))
    if redo.size and ("hour" in dims or "weekday" in dims):
        hour, weekday = local_hour_weekday(sent[redo], np.asarray(store.zone, np.int64)[rows[redo]], list(store.zones))
        for name, value in (("hour", hour), ("weekday", weekday)):
            if name in dims:
                arms[redo, dims.index(name)] = value.astype(np.int64) + offsets[dims.index(name)]
    evaluated = [k for k, name in enumerate(dims) if name != "weekday"]
    hour_dim = dims.index("hour") if "hour" in dims else -1
    masks = np.ones((1, len(space.channels)), np.uint8)
    smooth = np.ascontiguousarray(smooth, dtype=np.float64)
    lp = d["propensity"]
    values, infl, ess = [], [], []
    for e in cands:
        win = np.zeros((uniq.size, n_arms))
        win_many(eval_rows, groups, sends, responses, prior_a, prior_b, offsets, masks, hour_dim, smooth, win, float(e))
        tp = np.ones(sel.size)
        for k in evaluated:
            has = arms[:, k] >= 0
            tp[has] *= win[local[has], arms[has, k]]
        v, f, s = _snips_terms(reward, np.minimum(tp, 1.0) / lp)
        values.append(v)
        infl.append(f)
        ess.append(s)
    values_a, ess_a = np.array(values), np.array(ess)
    eligible = np.isfinite(values_a) & (ess_a >= MIN_ESS)
    se = np.full(cands.size, np.nan)
    if eligible.any():
        best = int(np.flatnonzero(eligible)[np.argmax(values_a[eligible])])
        for i in range(cands.size):
            se[i] = float(np.std(infl[i] - infl[best]) / math.sqrt(sel.size))
    table = pd.DataFrame({"exploration": cands, "value": values_a, "std_error": se, "effective_sample_size": ess_a,
                          "eligible": eligible})
    if not eligible.any():
        return ExplorationChoice(keep_value, f"no candidate reaches an effective sample size of {MIN_ESS:g}",
                                 int(sel.size), table)
    chosen = one_se_choice(cands, np.where(eligible, values_a, np.nan), se)
    return ExplorationChoice(chosen, f"one-standard-error rule on {sel.size} sends (self-normalised IPS)",
                             int(sel.size), table)
