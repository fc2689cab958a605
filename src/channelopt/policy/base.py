"""The ``Policy`` base: one ingestion loop and one decision interface for the model and every baseline.

:class:`channelopt.ChannelModel` and the baselines of :mod:`channelopt.policy.baselines`
are all ``Policy`` objects:

* ``fit(logs, as_of=None)`` / ``partial_fit(logs, as_of=None)`` read the logs chunk by
  chunk with :func:`read_logs` -- the one loop that encodes every chunk
  (:func:`channelopt.data.schema.encode_logs`) into a
  :class:`channelopt.state.store.Ingestion`, whose watermark makes a repeated
  ``partial_fit`` a no-op. A subclass says where the fit starts and how its result is
  published (:meth:`Policy._begin_ingest`, :meth:`Policy._commit_ingest`);
* ``rank(customers, now)`` decides for a table and ``choose_channel(customer_id, now)``
  for one customer, the same decision ``rank`` makes for them at that ``now``;
* ``get_params`` / ``set_params`` follow scikit-learn: the constructor's arguments,
  stored as given, are the single source of truth (assigning one is ``set_params``);
* class flags say what a policy can do: ``learns`` (False: ``fit`` only moves the
  clock) and ``persistent`` (True: ``save(path)``, and :func:`channelopt.load` gives the
  policy back). They are set in the class
  statement (``class P(Policy, learns=False)``) and checked there;
* ``_unit_test_params()`` yields the parameter sets the contract suite
  (``tests/contract``) builds every policy with, as river's estimators do.

Examples
--------
>>> import pandas as pd
>>> from channelopt import ArmSpace, ChannelModel
>>> from channelopt.policy.baselines import FlatThompson, UniformRandom
>>> issubclass(ChannelModel, Policy), FlatThompson.learns, UniformRandom.learns, ChannelModel.persistent
(True, True, False, True)
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Iterator, Self

import pandas as pd

from channelopt.core.arms import ArmSpace
from channelopt.core.decision import Decision
from channelopt.data.schema import REQUIRED_COLUMNS, encode_logs
from channelopt.data.sources import iter_frames
from channelopt.data.tz import as_utc_timestamp
from channelopt.state.ingest import Ingestion
from channelopt.state.store import PosteriorStore

__all__ = ["Policy", "read_logs"]

#: A filter of log chunks applied before encoding (e.g. the model drops forgotten customers' rows).
FrameFilter = Callable[[pd.DataFrame], pd.DataFrame]


def read_logs(job: Ingestion, logs: Any, space: ArmSpace, default_tz: str, *, progress: bool = False,
              keep: FrameFilter | None = None) -> PosteriorStore:
    """Stream ``logs`` chunk by chunk into ``job`` and return the finished store.

    Empty chunks (a header-only file in a glob) are skipped wherever they come; row
    numbers in error messages count every row read, including those ``keep`` drops.
    Logs with no row at all (no chunk, or only empty ones) need the job's ``as_of``:
    the result then learned nothing and has its watermark at ``as_of``.

    Parameters
    ----------
    job : Ingestion
        The fit being built.
    logs : DataFrame, iterable of DataFrames, or Parquet/CSV path or glob
    space : ArmSpace
    default_tz : str
        Zone of rows without a ``tz``.
    progress : bool, default False
        Show a progress bar over chunks.
    keep : callable, optional
        Applied to every non-empty chunk before it is encoded.

    Examples
    --------
    >>> from channelopt.core.config import ModelConfig
    >>> space = ArmSpace(channels=["email", "sms"])
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
    ...                      "responded_at": ["2026-01-01 02:00"]})
    >>> as_of = pd.Timestamp("2026-01-10", tz="UTC").value
    >>> job = Ingestion(PosteriorStore.empty(space, "UTC"), ModelConfig(), as_of)
    >>> read_logs(job, [logs.iloc[:0], logs], space, "UTC").n_customers, job.counts["counted"]
    (1, 1)
    """
    frames = iter_frames(logs, name="logs")
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, desc="reading logs", unit="chunk")
    offset = 0
    seen = empty_seen = False
    for frame in frames:
        if len(frame) == 0:  # e.g. a header-only file in a glob: skipped wherever it comes
            if not empty_seen:
                missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
                if missing and len(frame.columns) and job.as_of_ns is not None:  # columns, but not a log's
                    raise ValueError(f"logs: missing required column {missing[0]!r} (columns present: "
                                     f"{', '.join(map(str, frame.columns))})")
            empty_seen = True
            continue
        n_rows = len(frame)
        if keep is not None:
            frame = keep(frame)
        if len(frame):
            job.add(encode_logs(frame, space, default_tz, row_offset=offset))
        offset += n_rows
        seen = True
    if not seen and job.as_of_ns is None:  # with as_of: a fit of no rows (the watermark at as_of; a fitted
        # model counts its kept pending sends due by then)
        raise ValueError(("logs: the frame is empty (0 rows)" if empty_seen else "logs: no frames to learn from")
                         + "; give as_of to fit no rows (the watermark moves to as_of, decisions use the prior)")
    return job.finish()


class Policy(ABC):
    """What every policy shares: the ingestion loop, the decision interface, the parameters.

    A subclass sets ``space`` and ``config`` (a :class:`channelopt.core.config.ModelConfig`)
    and a ``_lock`` (a :class:`threading.Lock`, one fit at a time), and implements
    :meth:`rank` and :meth:`choose_channel`. Its constructor stores its arguments as
    given (``self.__dict__.update(...)``) and derives everything else in ``_derive``,
    which :meth:`set_params` calls again.

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> from channelopt.policy.baselines import EpsilonGreedy
    >>> eg = EpsilonGreedy(ArmSpace(channels=["email", "sms"]), epsilon=0.2)
    >>> eg.set_params(epsilon=0.3).get_params()["epsilon"], isinstance(eg, Policy)
    (0.3, True)
    """

    #: False: the policy learns nothing from logs (``fit`` only moves its clock, ``as_of`` is needed).
    learns: ClassVar[bool] = True
    #: True: the policy has ``save(path)``, and :func:`channelopt.load` restores it (the same decisions).
    persistent: ClassVar[bool] = False
    #: The constructor's parameter names (from its signature; see :meth:`get_params`).
    _param_names: ClassVar[tuple[str, ...]] = ()

    space: ArmSpace

    def __init_subclass__(cls, *, learns: bool | None = None, persistent: bool | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if learns is not None:
            cls.learns = bool(learns)
        if persistent is not None:
            cls.persistent = bool(persistent)
        if cls.persistent and not callable(getattr(cls, "save", None)):
            raise TypeError(f"{cls.__name__}: persistent=True needs a save() method")
        cls._param_names = tuple(
            p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD))

    # -- learning ------------------------------------------------------------------------

    def fit(self, logs: Any, as_of: Any = None, *, progress: bool = False) -> Self:
        """Learn from scratch from a response log.

        Parameters
        ----------
        logs : DataFrame, iterable of DataFrames, or Parquet/CSV path or glob
            The response log (one row per send; schema in :mod:`channelopt.data.schema`).
        as_of : timestamp, optional
            The clock: sends resolved by then are counted, later ones are pending.
            Default: the latest ``sent_at`` / ``responded_at`` in the logs (a policy
            that does not learn needs it).
        progress : bool
            Show a progress bar over chunks.

        Returns
        -------
        self

        Examples
        --------
        >>> from channelopt import ArmSpace, ChannelModel
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": [1, 2], "sent_at": ["2026-01-01", "2026-01-02"],
        ...                      "channel": ["email", "sms"], "responded_at": [None, "2026-01-02 01:00"]})
        >>> ChannelModel(space).fit(logs, as_of="2026-01-10").last_fit_["counted"]
        2
        """
        return self._ingest(False, logs, as_of, progress)

    def partial_fit(self, logs: Any, as_of: Any = None, *, progress: bool = False) -> Self:
        """Add a log to what is learned: counts the sends resolved since the watermark.

        Re-running with the same logs and ``as_of`` changes nothing; see
        :mod:`channelopt.state.store` for the exact rule, including late rows.

        Examples
        --------
        >>> from channelopt import ArmSpace, ChannelModel
        >>> space = ArmSpace(channels=["email", "sms"])
        >>> logs = pd.DataFrame({"customer_id": [1], "sent_at": ["2026-01-01"], "channel": ["sms"],
        ...                      "responded_at": ["2026-01-01 02:00"]})
        >>> m = ChannelModel(space).partial_fit(logs, as_of="2026-01-05")
        >>> m.partial_fit(logs, as_of="2026-01-05").last_fit_["counted"]   # same night again: a no-op
        0
        """
        return self._ingest(True, logs, as_of, progress)

    def _ingest(self, incremental: bool, logs: Any, as_of: Any, progress: bool = False) -> Self:
        as_of_ns = None if as_of is None else as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        if not self.learns:  # nothing to learn: only the clock moves
            if as_of_ns is None:
                raise ValueError(f"as_of: {type(self).__name__} learns nothing from logs; give as_of explicitly")
            self.as_of_ = pd.Timestamp(as_of_ns, tz="UTC")
            self.last_fit_ = {"rows": 0, "counted": 0, "responses": 0}
            return self
        with self._lock:
            job, keep, token = self._begin_ingest(incremental, as_of_ns)
            store = read_logs(job, logs, self.space, self.config.default_tz, progress=progress, keep=keep)
            self._commit_ingest(store, token)
            self.as_of_ = pd.Timestamp(store.watermark_ns, tz="UTC")
            self.last_fit_ = dict(job.counts)
        return self

    def _begin_ingest(self, incremental: bool, as_of_ns: int | None) -> tuple[Ingestion, FrameFilter | None, Any]:
        """Start a fit (under ``_lock``): ``(job, chunk filter or None, token for _commit_ingest)``.

        Default: ``partial_fit`` continues from ``state_``, ``fit`` from an empty store.
        """
        base = self.__dict__.get("state_") if incremental else None
        if base is None:
            base = PosteriorStore.empty(self.space, self.config.default_tz)
        return Ingestion(base, self.config, as_of_ns), None, None

    def _commit_ingest(self, store: PosteriorStore, token: Any) -> None:
        """Publish a finished fit (under ``_lock``). Default: ``state_`` becomes ``store``."""
        self.state_ = store

    # -- deciding ------------------------------------------------------------------------

    @abstractmethod
    def rank(self, customers: Any, now: Any = None, *, propensity: bool = True) -> pd.DataFrame:
        """Decide for a batch of customers: one row each, in input order (``customer_id, channel, wording,
        hour, send_at, score, propensity``, then what the policy adds)."""

    @abstractmethod
    def choose_channel(self, customer_id: Any, now: Any = None, *, tz: str | None = None) -> Decision:
        """Decide for one customer: the decision :meth:`rank` makes for them at ``now``."""

    # -- parameters ----------------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as given (scikit-learn's convention).

        Examples
        --------
        >>> from channelopt.policy.baselines import FixedChannel
        >>> FixedChannel(ArmSpace(channels=["email", "sms"]), hour=18).get_params()["hour"]
        18
        """
        return {name: self.__dict__[name] for name in self._param_names}

    def set_params(self, **params: Any) -> Self:
        """Change parameters; every decision after the call uses them. Returns the policy.

        What is learned is kept; the arm space of a fitted policy cannot change. A
        value that does not validate raises and changes nothing.

        Examples
        --------
        >>> from channelopt.policy.baselines import FixedChannel
        >>> fixed = FixedChannel(ArmSpace(channels=["email", "sms"]))
        >>> fixed.hour = 25
        Traceback (most recent call last):
        ...
        ValueError: hour: must be an integer in [0, 23], got 25
        >>> fixed.set_params(hour=18).choose_channel("a", now="2026-01-05 09:00").hour
        18
        """
        for name in params:
            if name not in self._param_names:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {sorted(self._param_names)!r}.")
        self._check_change(params)
        old = {name: self.__dict__[name] for name in params}
        self.__dict__.update(params)
        try:
            self._derive()
        except BaseException:
            self.__dict__.update(old)
            self._derive()
            raise
        self._changed(params)
        return self

    def _check_change(self, params: dict[str, Any]) -> None:
        """Refuse a change of parameters before anything changes (the arm space of a fitted policy)."""
        if "space" in params and params["space"] != self.__dict__.get("space") and "state_" in self.__dict__:
            raise ValueError(f"space: cannot change on a fitted policy; build a new {type(self).__name__}")

    def _changed(self, params: dict[str, Any]) -> None:
        """After a successful :meth:`set_params`: rebuild what depends on more than the derived caches."""

    def _derive(self) -> None:
        """Check the parameters and compute what is derived from them (construction, :meth:`set_params`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._param_names:  # a parameter: validated, and the derived state follows
            self.set_params(**{name: value})
        else:
            object.__setattr__(self, name, value)

    # -- the contract suite ----------------------------------------------------------------

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        """Constructor arguments the contract suite (``tests/contract``) checks the policy with.

        Examples
        --------
        >>> from channelopt.policy.baselines import FixedChannel
        >>> [sorted(p) for p in FixedChannel._unit_test_params()][-1]
        ['channel', 'hour', 'seed', 'space', 'wording']
        """
        yield {"space": ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"]), "seed": 3}
        yield {"space": ArmSpace(channels=["email", "voice"], hours=False, weekdays=False,
                                 extra={"voice_kind": ["m", "f"]}), "seed": 1}
