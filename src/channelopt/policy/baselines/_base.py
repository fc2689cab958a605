"""What every baseline shares: counter-based uniforms, zones, the output frame, ``rank`` and ``choose_channel``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.clock import round_of
from channelopt.core.config import ModelConfig, check_zone
from channelopt.core.decision import Decision
from channelopt.data.sources import read_table
from channelopt.data.tz import next_hour_start_ns, now_timestamp, send_at_table, zone_codes
from channelopt.policy.base import Policy
from channelopt.state.store import PosteriorStore

__all__ = ["Baseline"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


# -- counter-based uniforms, vectorised (the same splitmix64 stream as channelopt.kernels.rng) ------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of every element (uint64 arithmetic wraps modulo 2**64)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _keys(seed: int, round_: int, hashes: np.ndarray) -> np.ndarray:
    """``kernels.draw_key(seed, round, hash)`` for every customer hash."""
    with np.errstate(over="ignore"):
        s = _mix(np.array([seed], dtype=np.uint64))
        r = _mix(s ^ np.uint64(round_))
        return _mix(r ^ np.asarray(hashes, dtype=np.uint64))


def _uniforms(keys: np.ndarray, counter: int) -> np.ndarray:
    """``kernels.rng._uniform(key, counter)`` for every key: uniforms in the open interval (0, 1)."""
    with np.errstate(over="ignore"):
        x = _mix(keys + np.uint64(counter) * _GOLDEN)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _pick(u: np.ndarray, k: int) -> np.ndarray:
    """An index in ``[0, k)`` from each uniform."""
    return np.minimum((u * k).astype(np.int64), k - 1)


# -- the shared machinery --------------------------------------------------------------


class Baseline(Policy):
    """Counting, zones, output frames and ``choose_channel`` shared by every baseline.

    A baseline implements ``_decide``; the arm space's decided dimensions (all but
    the weekday) are ``_names``, their arm blocks ``[_lo, _hi)`` of the state.
    """

    def __init__(self, space: ArmSpace, *, seed: int = 0, response_window: Any = "72h", half_life: Any = "90D",
                 default_tz: str = "UTC") -> None:
        # the parameters, stored as given (the single source of truth: get_params / set_params)
        self.__dict__.update(space=space, seed=seed, response_window=response_window, half_life=half_life,
                             default_tz=default_tz)
        self._lock = threading.Lock()
        self._derive()

    def _derive(self) -> None:
        space = self.space
        if not isinstance(space, ArmSpace):
            raise ValueError(f"space: expected an ArmSpace, got {type(space).__name__}")
        self.config = ModelConfig(response_window=self.response_window, half_life=self.half_life, seed=self.seed,
                                  default_tz=self.default_tz)
        offsets = space.offsets
        # decided dimensions: all but the weekday (a send falls within the next 24 hours)
        dec = [(d, dim) for d, dim in enumerate(space.dimensions) if dim != "weekday"]
        self._n_dec = len(dec)
        self._lo = np.array([offsets[d] for d, _ in dec], dtype=np.int64)
        self._hi = np.array([offsets[d + 1] for d, _ in dec], dtype=np.int64)
        self._sizes = self._hi - self._lo
        self._labels = [list(space.labels(dim)) for _, dim in dec]
        self._names = [dim for _, dim in dec]

    def _params(self) -> str:
        return f"seed={self.config.seed}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={list(self.space.channels)}, {self._params()})"

    def _store(self) -> PosteriorStore:
        st = self.__dict__.get("state_")
        if st is None:
            st = PosteriorStore.empty(self.space, self.config.default_tz)
        return st

    # -- deciding ------------------------------------------------------------------------
    def _decide(self, st: PosteriorStore, rows: np.ndarray, hashes: np.ndarray, round_: int, propensity: bool,
                keep_draws: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(choice (n, n_decided), score (n,), propensity (n,), draws (n, n_arms) or (0, 0))``."""
        raise NotImplementedError

    def _zones(self, table: pd.DataFrame, rows: np.ndarray, st: PosteriorStore) -> tuple[np.ndarray, list[str]]:
        n = len(table)
        if "tz" in table.columns:
            zc, zones = zone_codes(table["tz"], n, self.config.default_tz)
            learned = table["tz"].isna().to_numpy() & (rows >= 0)
        else:
            zc, zones = np.zeros(n, dtype=np.int64), [self.config.default_tz]
            learned = rows >= 0
        if learned.any() and st.n_customers:
            zc = zc.copy()
            zc[learned] = st.zone[rows[learned]].astype(np.int64) + len(zones)
            zones = zones + list(st.zones)
        return zc, zones

    def rank(self, customers: Any, now: Any = None, *, propensity: bool = True) -> pd.DataFrame:
        """Decide for a batch of customers: one row each, in input order.

        Parameters
        ----------
        customers : DataFrame, path, or sequence of ids
            Needs ``customer_id``; an optional ``tz`` column gives the zone.
        now : timestamp, optional
            Decision time (naive = UTC); default: the current time.
        propensity : bool, default True
            False skips :class:`FlatThompson`'s per-customer propensity (NaN).

        Returns
        -------
        DataFrame
            ``customer_id, channel, wording, hour, send_at, score, propensity``
            (plus one column per extra dimension), the columns and dtypes of
            :meth:`channelopt.ChannelModel.rank`.

        Examples
        --------
        >>> from channelopt.policy.baselines import UniformRandom
        >>> plan = UniformRandom(ArmSpace(channels=["email", "sms"], wordings=["a", "b"]), seed=1).rank(
        ...     ["c-1", "c-2"], now="2026-11-23 09:00")
        >>> list(plan.columns), plan["propensity"].round(6).tolist()
        (['customer_id', 'channel', 'wording', 'hour', 'send_at', 'score', 'propensity'], [0.010417, 0.010417])
        """
        now_ts = now_timestamp(now)
        if isinstance(customers, (pd.DataFrame, str)) or hasattr(customers, "__fspath__"):
            table = read_table(customers, name="customers")
        else:
            table = pd.DataFrame({"customer_id": list(customers)})
        if "customer_id" not in table.columns:
            raise ValueError(f"customers: missing required column 'customer_id' "
                             f"(columns present: {', '.join(map(str, table.columns))})")
        table = table.reset_index(drop=True)
        n = len(table)
        st = self._store()
        ids = table["customer_id"]
        if n:
            rows, hashes = st.index.rows_of(ids)
        else:
            rows, hashes = np.zeros(0, np.int64), np.zeros(0, np.uint64)
        choice, score, prop, _ = self._decide(st, rows.astype(np.int64), hashes.astype(np.uint64),
                                              int(round_of(now_ts.value)), propensity, False)
        zc, zones = self._zones(table, rows, st)
        return self._frame(ids, choice, score, prop, now_ts.value, zc, zones)

    def _frame(self, ids: pd.Series, choice: np.ndarray, score: np.ndarray, prop: np.ndarray, now_ns: int,
               zc: np.ndarray, zones: list[str]) -> pd.DataFrame:
        n = choice.shape[0]
        cols: dict[str, Any] = {"customer_id": ids.reset_index(drop=True)}
        by_name = {name: k for k, name in enumerate(self._names)}
        cols["channel"] = pd.Categorical.from_codes(choice[:, 0], categories=self._labels[0])
        if "wording" in by_name:
            k = by_name["wording"]
            cols["wording"] = pd.Categorical.from_codes(choice[:, k], categories=self._labels[k])
        else:
            cols["wording"] = pd.Categorical.from_codes(np.full(n, -1), categories=[])
        if "hour" in by_name:
            hour = choice[:, by_name["hour"]]
            send_ns = send_at_table(now_ns, zones)[zc, hour] if n else np.zeros(0, np.int64)
            cols["hour"] = pd.array(hour, dtype="Int8")
        else:
            send_ns = np.full(n, now_ns, dtype=np.int64)
            cols["hour"] = pd.array([pd.NA] * n, dtype="Int8")
        cols["send_at"] = pd.DatetimeIndex(send_ns.view("M8[ns]")).tz_localize("UTC")
        cols["score"] = np.asarray(score, dtype=np.float64)
        cols["propensity"] = np.asarray(prop, dtype=np.float64)
        for name in self.space.extra:
            k = by_name[name]
            cols[name] = pd.Categorical.from_codes(choice[:, k], categories=self._labels[k])
        return pd.DataFrame(cols)

    def choose_channel(self, customer_id: Any, now: Any = None, *, tz: str | None = None) -> Decision:
        """Decide for one customer: the same decision as :meth:`rank` makes for them at ``now``.

        Parameters
        ----------
        customer_id : str or int
        now : timestamp, optional
            Decision time; default: the current time.
        tz : str, optional
            The customer's zone; default: the zone learned from the log, else ``default_tz``.

        Returns
        -------
        channelopt.Decision
            ``draws`` holds the per-arm values the baseline ranked by (Thompson
            draws, posterior means, uniforms; NaN for arms it does not decide).

        Examples
        --------
        >>> from channelopt.policy.baselines import EpsilonGreedy
        >>> d = EpsilonGreedy(ArmSpace(channels=["email", "sms"]), seed=2).choose_channel(
        ...     "c-9", now="2026-11-23 09:00", tz="Asia/Tokyo")
        >>> d.channel in ("email", "sms"), d.send_at.tz_convert("Asia/Tokyo").hour == d.hour
        (True, True)
        """
        now_ts = now_timestamp(now)
        if tz is not None:
            tz = check_zone(tz, "tz")
        st = self._store()
        row, h = st.index.locate(customer_id)
        choice, score, prop, draws = self._decide(st, np.array([row], dtype=np.int64), np.array([h], dtype=np.uint64),
                                                  int(round_of(now_ts.value)), True, True)
        zone = tz if tz is not None else (st.zones[st.zone[row]] if row >= 0 else self.config.default_tz)
        picked = {name: self._labels[k][int(choice[0, k])] for k, name in enumerate(self._names)}
        if self.space.hours:
            hour: int | None = int(choice[0, self._names.index("hour")])
            send_at = pd.Timestamp(next_hour_start_ns(now_ts.value, zone, hour), tz="UTC")
        else:
            hour, send_at = None, now_ts.tz_convert("UTC")
        return Decision(customer_id=customer_id, channel=picked["channel"], wording=picked.get("wording"),
                        hour=hour, send_at=send_at, propensity=float(prop[0]), score=float(score[0]),
                        hold_reason=None, extra={k: picked[k] for k in self.space.extra},
                        draws=draws[0] if draws.shape[0] else np.full(self.space.n_arms, np.nan), space=self.space)
