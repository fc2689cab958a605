"""Peers of the policy benchmark: Vowpal Wabbit (``--cb_explore_adf --squarecb``) and MABWiser (Thompson sampling).

Both are adapters with the interface :func:`channelopt.sim.run` plays:
``fit(logs, as_of)`` / ``partial_fit(logs, as_of)`` and ``rank(customers, now)``
returning ``customer_id, channel, wording, hour, send_at, score, propensity``
(the columns of :meth:`channelopt.ChannelModel.rank`). They are configured as a
practitioner would, on the same information channelopt gets:

* **one learner per dimension** -- channel, local send hour (the send goes out at
  the next start of that hour in the customer's zone) and wording -- each
  rewarded by the reply, the factorisation channelopt uses too;
* **learning incrementally** each day only from the sends *resolved* since the
  previous call: a send is resolved once its response window (default 72 h,
  channelopt's default) has passed, and its reward is 1 if a reply came within
  the window (the rule of channelopt's default ``resolve="window"``, so no
  policy sees a reply before the silences of its day). Every send is learnt
  exactly once, in log order;
* **context**: the customer id, zone and segment (the simulator's log and
  customers table carry the segment, which channelopt's segment priors use),
  plus every other column of the customers table other than consent (the
  ``age`` / ``plan`` features of the ``new_customers`` scenario). Contexts are
  remembered per customer from the customers tables ``rank`` sees; a send the
  adapter did not decide (the uniform explorer's first day) gets the context
  the log gives (id, zone, segment) and a uniform logged probability.

:class:`VWSquareCB` keeps one ``vowpalwabbit.Workspace`` per dimension with
``--cb_explore_adf --squarecb -q ua --quiet --random_seed SEED -b 20``: shared
features (namespace ``u``: id, zone, segment, features) times action features
(namespace ``a``: the arm's name), cost ``-reply`` and the probability the
learner logged for its own choice; the action is sampled from VW's pmf with a
seeded generator, and the logged propensity is the product of the three pmf
probabilities. Examples go to VW as text through the calls ``Workspace.learn``
/ ``predict`` make, without their per-line Python wrapper (4x faster, the same
pmfs).

:class:`MABWiserThompson` keeps one ``mabwiser.mab.MAB`` with
``LearningPolicy.ThompsonSampling()`` per dimension and per segment: MABWiser
has no per-customer key, and its contextual way,
``NeighborhoodPolicy.Clusters`` on a context vector (``n_clusters=``, kept as
an option), refits KMeans on the whole history at every ``partial_fit``: ~25x
slower than one bandit per segment at 500 customers x 30 days, and it reached
28% of the oracle there against 39%. MABWiser does not expose the probability of
a Thompson choice, so its ``propensity`` is NaN (nothing in the benchmark reads
it).

The packages are imported only when an adapter is built (``benchmarks/requirements.txt``);
:func:`missing` tells which are not installed.
"""

from __future__ import annotations

import importlib.util
import math
import re
import warnings
import zlib
from typing import Any

import numpy as np
import pandas as pd

import channelopt as co
from channelopt.data.tz import NS_PER_S, send_at_table, zone_codes

__all__ = ["MABWiserThompson", "PEERS", "VWSquareCB", "missing"]

#: Peer name -> the importable module it needs.
PEERS = {"VW squarecb": "vowpalwabbit", "MABWiser TS": "mabwiser"}

_BAD = re.compile(r"[\s|:]")


def missing() -> list[str]:
    """The peers' modules that are not installed (empty when every peer can run)."""
    return [mod for mod in PEERS.values() if importlib.util.find_spec(mod) is None]


def _token(value: Any) -> str:
    """A value as one VW feature token (no whitespace, ``|`` or ``:``)."""
    return _BAD.sub("_", str(value))


class _Peer:
    """What both adapters share: resolution of the log, contexts per customer, the output frame.

    Subclasses implement ``_reset()``, ``_learn(dim, codes, reward, prob, keys)``
    and ``_choose(dim, keys, rng) -> (codes, probs)``, where ``keys`` are customer ids.
    """

    def __init__(self, space: co.ArmSpace, *, seed: int = 0, response_window: Any = "72h",
                 default_tz: str = "UTC") -> None:
        if space.extra:
            raise ValueError("peers decide channel, hour and wording only (no extra dimensions)")
        self.space = space
        self.seed = int(seed)
        self.window = pd.Timedelta(response_window)
        self.default_tz = default_tz
        self.dims: list[tuple[str, list[str]]] = [("channel", list(space.channels))]
        if space.hours:
            self.dims.append(("hour", [str(h) for h in range(24)]))
        if space.wordings:
            self.dims.append(("wording", list(space.wordings)))
        self._context: dict[Any, dict[str, Any]] = {}  # customer -> {"tz", "segment", features...}
        self._logged: dict[tuple[Any, int], tuple[float, ...]] = {}  # (customer, sent ns) -> prob per dim
        self._watermark: pd.Timestamp | None = None
        self._fitted = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"

    # -- learning ---------------------------------------------------------------------------
    def fit(self, logs: pd.DataFrame, as_of: Any = None) -> "_Peer":
        """Forget everything, then learn the sends of ``logs`` resolved by ``as_of``."""
        self._reset()
        self._watermark = None
        self._fitted = False
        return self.partial_fit(logs, as_of)

    def partial_fit(self, logs: pd.DataFrame, as_of: Any = None) -> "_Peer":
        """Learn the sends of ``logs`` resolved in ``(previous as_of, as_of]`` (each send once).

        Parameters
        ----------
        logs : DataFrame
            The response log as known at ``as_of`` (``customer_id, sent_at,
            channel, wording, responded_at, tz, segment``).
        as_of : timestamp, optional
            Default: the latest ``sent_at``.
        """
        sent = pd.to_datetime(logs["sent_at"], utc=True)
        t = pd.Timestamp(as_of) if as_of is not None else sent.max()
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        resolved = sent + self.window
        mask = resolved <= t
        if self._watermark is not None:
            mask &= resolved > self._watermark
        self._watermark = t if self._watermark is None else max(t, self._watermark)
        rows = logs.loc[mask.to_numpy()]
        if not len(rows):
            return self
        rows = rows.sort_values("sent_at", kind="stable")
        responded = pd.to_datetime(rows["responded_at"], utc=True)
        s = pd.to_datetime(rows["sent_at"], utc=True)
        hour_local = _local_hours(s, rows["tz"]) if any(dim == "hour" for dim, _ in self.dims) else None
        reward = (responded.notna() & (responded <= s + self.window)).to_numpy().astype(np.int64)
        ids = rows["customer_id"].to_numpy(dtype=object)
        for cid, tz, seg in zip(ids, rows["tz"].to_numpy(dtype=object),
                                rows["segment"].to_numpy(dtype=object) if "segment" in rows else [None] * len(rows)):
            if cid not in self._context:  # a customer only the explorer contacted: what the log says
                self._context[cid] = {"tz": tz, "segment": seg}
        sent_ns = pd.DatetimeIndex(s).as_unit("ns").asi8
        probs = np.array([self._logged.pop((cid, int(ns)), (math.nan,) * len(self.dims))
                          for cid, ns in zip(ids, sent_ns)], dtype=np.float64).reshape(len(ids), len(self.dims))
        for d, (dim, labels) in enumerate(self.dims):
            col = pd.Series(hour_local) if dim == "hour" else rows[dim]
            codes = pd.Index(labels).get_indexer(col.astype(str).to_numpy())
            p = np.where(np.isnan(probs[:, d]), 1.0 / len(labels), probs[:, d])  # not ours: the uniform explorer
            ok = codes >= 0
            if ok.any():
                self._learn(dim, codes[ok], reward[ok], p[ok], ids[ok])
        self._fitted = True
        return self

    # -- deciding ---------------------------------------------------------------------------
    def rank(self, customers: pd.DataFrame, now: Any = None) -> pd.DataFrame:
        """Decide channel, local hour and wording for every customer of ``customers``.

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``.
        """
        table = customers.reset_index(drop=True)
        now_ts = pd.Timestamp(now)
        now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
        n = len(table)
        ids = table["customer_id"].to_numpy(dtype=object)
        feats = [c for c in table.columns if c not in ("customer_id",) and not str(c).startswith("consent_")]
        cols = {c: table[c].to_numpy(dtype=object) for c in feats}
        for i, cid in enumerate(ids):
            self._context[cid] = {c: cols[c][i] for c in feats}
        self._contexts_changed(ids)
        rng = np.random.default_rng([self.seed, int(now_ts.value // NS_PER_S)])
        choice = np.zeros((n, len(self.dims)), dtype=np.int64)
        probs = np.ones((n, len(self.dims)))
        for d, (dim, _) in enumerate(self.dims):
            choice[:, d], probs[:, d] = self._choose(dim, ids, rng)
        tz = table["tz"] if "tz" in table.columns else None
        zc, zones = zone_codes(tz, n, self.default_tz)
        names = [dim for dim, _ in self.dims]
        if "hour" in names:
            hour = choice[:, names.index("hour")]
            send_ns = send_at_table(now_ts.value, zones)[zc, hour] if n else np.zeros(0, np.int64)
            hours = pd.array(hour, dtype="Int8")
        else:
            send_ns = np.full(n, now_ts.value, dtype=np.int64)
            hours = pd.array([pd.NA] * n, dtype="Int8")
        for i, cid in enumerate(ids):
            self._logged[(cid, int(send_ns[i]))] = tuple(probs[i])
        wording = (pd.Categorical.from_codes(choice[:, names.index("wording")], categories=list(self.space.wordings))
                   if "wording" in names else pd.Categorical.from_codes(np.full(n, -1), categories=[]))
        return pd.DataFrame({
            "customer_id": table["customer_id"],
            "channel": pd.Categorical.from_codes(choice[:, 0], categories=list(self.space.channels)),
            "wording": wording,
            "hour": hours,
            "send_at": pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC"),
            "score": np.full(n, np.nan),
            "propensity": probs.prod(axis=1),
        })

    # -- to implement ---------------------------------------------------------------------------
    def _contexts_changed(self, ids: np.ndarray) -> None:
        """Hook: the contexts of ``ids`` were (re)read from a customers table."""

    def _reset(self) -> None:
        raise NotImplementedError

    def _learn(self, dim: str, codes: np.ndarray, reward: np.ndarray, prob: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    def _choose(self, dim: str, ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _local_hours(sent: pd.Series, tz: pd.Series) -> np.ndarray:
    """The local hour of every send in its row's zone (what the hour learner chose); no zone = UTC."""
    hour = np.zeros(len(sent), dtype=np.int64)
    zones = tz.fillna("UTC").to_numpy(dtype=object)
    sent = sent.reset_index(drop=True)
    for zone in pd.unique(zones):
        sel = zones == zone
        hour[sel] = sent[sel].dt.tz_convert(zone).dt.hour.to_numpy()
    return hour


class VWSquareCB(_Peer):
    """Vowpal Wabbit ``--cb_explore_adf --squarecb``, one workspace per dimension (see the module docstring).

    Parameters
    ----------
    space : channelopt.ArmSpace
    seed : int
        ``--random_seed`` of every workspace and the seed of the pmf sampling.
    response_window : duration, default "72h"
    bits : int, default 20
        ``-b``: hash bits (2**20 weights: room for thousands of ids x 24 hours).
    extra_args : str
        Appended to the command line (e.g. ``"--gamma_scale 100"``).
    """

    def __init__(self, space: co.ArmSpace, *, seed: int = 0, response_window: Any = "72h", bits: int = 20,
                 extra_args: str = "") -> None:
        super().__init__(space, seed=seed, response_window=response_window)
        self.bits = int(bits)
        self.extra_args = extra_args
        self._vw: dict[str, Any] = {}
        self._actions = {dim: [f"|a {dim[0]}={_token(lab)}" for lab in labels] for dim, labels in self.dims}
        self._shared: dict[Any, str] = {}
        self._reset()

    def args(self) -> str:
        """The command line of every workspace."""
        return (f"--cb_explore_adf --squarecb -q ua --quiet --random_seed {self.seed} -b {self.bits} "
                f"{self.extra_args}").strip()

    def _reset(self) -> None:
        import pylibvw  # optional dependencies of the benchmarks only (vowpalwabbit)
        from vowpalwabbit import Workspace

        for vw in self._vw.values():
            vw.finish()
        self._vw = {dim: Workspace(self.args()) for dim, _ in self.dims}
        self._lib = pylibvw.vw
        self._shared = {}

    def _run(self, vw: Any, lines: list[str], learn: bool) -> list[float] | None:
        """Learn from or predict on one multi-line example given as text lines; the pmf when predicting.

        The calls ``Workspace.learn`` / ``Workspace.predict`` make on text input
        (parse, learn_multi / predict_multi, finish), minus their Python
        ``Example`` wrapper around every line, which costs 4x VW's own work here
        (``tests/test_sim_bench_policy.py`` checks the pmfs are the same).
        """
        ecs = vw._parse("\n".join(lines))
        try:
            if learn:
                self._lib.learn_multi(vw, ecs)
                return None
            self._lib.predict_multi(vw, ecs)
            return list(ecs[0].get_action_scores())
        finally:
            self._lib._finish_example_multi_ex(vw, ecs)

    def close(self) -> None:
        """Finish the workspaces (VW frees its memory)."""
        for vw in self._vw.values():
            vw.finish()
        self._vw = {}

    def _contexts_changed(self, ids: np.ndarray) -> None:
        for cid in ids:
            self._shared.pop(cid, None)

    def _shared_line(self, cid: Any) -> str:
        line = self._shared.get(cid)
        if line is None:
            parts = [f"id={_token(cid)}"]
            for key, value in self._context.get(cid, {}).items():
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                if key == "tz":
                    parts.append(f"z={_token(value)}")
                elif key == "segment":
                    parts.append(f"s={_token(value)}")
                elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                    parts.append(f"{_token(key)}:{float(value):.6g}")
                else:
                    parts.append(f"{_token(key)}={_token(value)}")
            line = "shared |u " + " ".join(parts)
            self._shared[cid] = line
        return line

    def _learn(self, dim: str, codes: np.ndarray, reward: np.ndarray, prob: np.ndarray, ids: np.ndarray) -> None:
        vw, actions = self._vw[dim], self._actions[dim]
        for a, r, p, cid in zip(codes.tolist(), reward.tolist(), prob.tolist(), ids):
            ex = [self._shared_line(cid)] + actions
            ex[1 + a] = f"0:{-float(r):g}:{max(p, 1e-6):.6g} {actions[a]}"
            self._run(vw, ex, learn=True)

    def _choose(self, dim: str, ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        vw, actions = self._vw[dim], self._actions[dim]
        k = len(actions)
        u = rng.random(ids.shape[0])
        codes = np.zeros(ids.shape[0], dtype=np.int64)
        probs = np.zeros(ids.shape[0])
        for i, cid in enumerate(ids):
            pmf = np.asarray(self._run(vw, [self._shared_line(cid)] + actions, learn=False), dtype=np.float64)
            pmf = pmf / pmf.sum()
            j = min(int(np.searchsorted(np.cumsum(pmf), u[i], side="right")), k - 1)
            codes[i], probs[i] = j, pmf[j]
        return codes, probs


class MABWiserThompson(_Peer):
    """MABWiser Thompson sampling per dimension, one bandit per segment (see the module docstring).

    Parameters
    ----------
    space : channelopt.ArmSpace
    seed : int
        Seed of every ``MAB`` (plus a stable hash of the segment's name) and of the uniform
        first decisions.
    response_window : duration, default "72h"
    group : str or None, default "segment"
        Customer column keying one non-contextual bandit per value (None: one
        bandit for everyone, MABWiser's plain use).
    n_clusters : int or None, default None
        Instead of ``group``: one bandit with ``NeighborhoodPolicy.Clusters(n_clusters)``
        on the context vector (one-hot zone, segment and text features,
        standardised numbers). MABWiser refits its KMeans on the whole history at
        every ``partial_fit``: about 100 s for 500 customers over 30 days here,
        too slow for the benchmark's sizes.
    """

    def __init__(self, space: co.ArmSpace, *, seed: int = 0, response_window: Any = "72h",
                 group: str | None = "segment", n_clusters: int | None = None) -> None:
        super().__init__(space, seed=seed, response_window=response_window)
        self.group = group
        self.n_clusters = n_clusters
        self._mab: dict[tuple[str, str], Any] = {}
        self._vocab: dict[str, Any] | None = None
        self._reset()

    def __repr__(self) -> str:
        how = f"n_clusters={self.n_clusters}" if self.n_clusters else f"group={self.group!r}"
        return f"MABWiserThompson(seed={self.seed}, {how})"

    def describe(self) -> str:
        """One line for the benchmark's banner."""
        if self.n_clusters:
            return f"ThompsonSampling + Clusters({self.n_clusters})"
        return f"ThompsonSampling, one bandit per {self.group}" if self.group else "ThompsonSampling, one bandit"

    def _reset(self) -> None:
        if not hasattr(np, "Inf"):  # mabwiser 2.7 still spells np.inf the numpy-1 way
            np.Inf = np.inf  # type: ignore[attr-defined]
        self._mab = {}
        self._held: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._vocab = None

    def _bandit(self, dim: str, key: str) -> Any:
        """The ``MAB`` of dimension ``dim`` and group ``key`` (made on first use)."""
        mab = self._mab.get((dim, key))
        if mab is None:
            from mabwiser.mab import MAB, LearningPolicy, NeighborhoodPolicy  # optional dependency of the benchmarks

            hood = NeighborhoodPolicy.Clusters(n_clusters=int(self.n_clusters)) if self.n_clusters else None
            seed = (self.seed + zlib.crc32(key.encode())) % (2**31 - 1)
            mab = MAB(list(range(len(dict(self.dims)[dim]))), LearningPolicy.ThompsonSampling(), hood, seed=seed)
            self._mab[(dim, key)] = mab
        return mab

    def _keys(self, ids: np.ndarray) -> np.ndarray:
        if self.n_clusters or not self.group:
            return np.full(ids.shape[0], "all", dtype=object)
        return np.array([str(self._context.get(cid, {}).get(self.group)) for cid in ids], dtype=object)

    def _contexts(self, ids: np.ndarray) -> np.ndarray:
        """The context matrix of customers ``ids`` for Clusters: one-hot text columns, standardised numbers
        (vocabulary frozen on first use)."""
        ctx = [self._context.get(cid, {}) for cid in ids]
        if self._vocab is None:
            vocab: dict[str, Any] = {}
            for k in sorted({k for c in self._context.values() for k in c}, key=str):
                vals = [c.get(k) for c in self._context.values() if c.get(k) is not None]
                if vals and all(isinstance(v, (float, np.floating)) for v in vals):
                    arr = np.asarray(vals, dtype=np.float64)
                    vocab[k] = ("num", float(arr.mean()), float(arr.std()) or 1.0)
                else:
                    vocab[k] = ("cat", sorted({str(v) for v in vals}))
            self._vocab = vocab
        blocks = []
        for k, spec in self._vocab.items():
            if spec[0] == "num":
                v = np.array([c.get(k, spec[1]) for c in ctx], dtype=np.float64)
                blocks.append(((np.nan_to_num(v, nan=spec[1]) - spec[1]) / spec[2])[:, None])
            else:
                pos = pd.Index(spec[1]).get_indexer([str(c.get(k)) for c in ctx])
                onehot = np.zeros((len(ctx), len(spec[1])))
                ok = pos >= 0
                onehot[np.flatnonzero(ok), pos[ok]] = 1.0
                blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((len(ctx), 1))

    def _learn(self, dim: str, codes: np.ndarray, reward: np.ndarray, prob: np.ndarray, ids: np.ndarray) -> None:
        if self.n_clusters and (dim, "all") not in self._mab:
            # KMeans needs at least n_clusters rows: hold the first ones until there are 10 a cluster
            held = self._held.setdefault(dim, [])
            held.append((codes, reward, ids))
            if sum(h[0].size for h in held) < 10 * int(self.n_clusters):
                return
            codes, reward, ids = (np.concatenate([h[k] for h in held]) for k in range(3))
            del self._held[dim]
        keys = self._keys(ids)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # KMeans: fewer distinct contexts than clusters
            for key in pd.unique(keys):
                sel = keys == key
                mab = self._bandit(dim, key)
                if self.n_clusters:
                    mab.partial_fit(codes[sel], reward[sel], self._contexts(ids[sel]))
                else:
                    mab.partial_fit(codes[sel], reward[sel])

    def _choose(self, dim: str, ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, k = ids.shape[0], len(dict(self.dims)[dim])
        codes = rng.integers(0, k, size=n)  # customers of a group with nothing resolved yet: uniform
        probs = np.full(n, 1.0 / k)
        keys = self._keys(ids)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for key in pd.unique(keys):
                mab = self._mab.get((dim, key))
                if mab is None:
                    continue
                sel = np.flatnonzero(keys == key)
                ctx = self._contexts(ids[sel]) if self.n_clusters else np.zeros((sel.size, 1))
                codes[sel] = np.atleast_1d(np.asarray(mab.predict(ctx), dtype=np.int64))
                probs[sel] = np.nan  # MABWiser does not expose the probability of a Thompson choice
        return codes, probs
