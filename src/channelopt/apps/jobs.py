"""The jobs behind the ``channelopt`` command line and the demo: fit, rank, forget, and what they print.

:func:`fit_model`, :func:`rank_model` and :func:`forget_customers` do the work of
the ``fit``, ``rank`` and ``forget`` subcommands and can be called in-process
(the demo does); :func:`fit_summary`, :func:`decision_mix` and
:func:`format_mix` describe their results. Saved models are signed and checked
with the key in the environment variable :data:`KEY_VARIABLE`, never a flag
(:func:`load_model`, :func:`save_model`). Errors are classified for the
front-ends: :data:`BAD_INPUT` (reported as one line, exit code 2) and anything
else (a bug: reported as unexpected); :func:`one_line` formats either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import pyarrow.parquet as pq

from channelopt.apps.files import distinct_values, output_kind, write_table
from channelopt.core.arms import ArmSpace
from channelopt.core.config import ModelConfig
from channelopt.core.validation import check_scalar
from channelopt.data.sources import resolve_paths
from channelopt.data.tz import as_utc_timestamp
from channelopt.policy.contact import ContactPolicy
from channelopt.policy.model import ChannelModel, load
from channelopt.state.persist import is_saved

__all__ = ["BAD_INPUT", "KEY_VARIABLE", "UNSET", "UsageError", "decision_mix", "fit_model", "fit_summary",
           "forget_customers", "format_mix", "infer_arms", "load_model", "load_policy", "one_line", "rank_model",
           "save_model", "saved_model"]

#: A setting that was not given (distinct from None, which may mean "off").
UNSET: Any = object()

# -- errors -----------------------------------------------------------------------------------------


class UsageError(Exception):
    """Bad command-line usage (reported as one line, exit code 2)."""


#: Exceptions that are bad input, not bugs: one line, exit code 2, never a traceback.
BAD_INPUT = (UsageError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
_MAX_MESSAGE = 1000  # characters of an error line (a message may quote a value of megabytes)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, cut to a readable length.

    Examples
    --------
    >>> one_line(ValueError("bad\\n  value"))
    'bad value'
    >>> one_line(KeyError("x"))
    "unexpected KeyError: 'x' (set CHANNELOPT_DEBUG=1 for the traceback)"
    """
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] ..."
    else:
        text = str(exc) or type(exc).__name__
    if not isinstance(exc, BAD_INPUT + (OSError,)):
        text = f"unexpected {type(exc).__name__}: {text} (set CHANNELOPT_DEBUG=1 for the traceback)"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


# -- jobs -------------------------------------------------------------------------------------------


def infer_arms(logs: Any, *, channels: bool = True, wordings: bool = True) -> tuple[list[str], list[str]]:
    """Channels and wordings of a response log: its distinct ``channel`` / ``wording`` values, sorted.

    Only those two columns are read (Parquet and CSV column projection). A log
    without a ``wording`` column has no wordings.

    Parameters
    ----------
    logs : str or PathLike
        A Parquet/CSV file, a directory of them or a glob.
    channels, wordings : bool
        Which of the two to infer (the other comes back empty).

    Returns
    -------
    (list of str, list of str)

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "logs.csv")
    >>> pd.DataFrame({"channel": ["sms", "email", "sms"], "wording": ["a", None, "b"]}).to_csv(path, index=False)
    >>> infer_arms(path)
    (['email', 'sms'], ['a', 'b'])
    """
    cols = (["channel"] if channels else []) + (["wording"] if wordings else [])
    found: dict[str, set[str]] = {c: set() for c in cols}
    if cols:
        for path in resolve_paths(logs):
            for c, values in distinct_values(path, cols).items():
                found[c] |= values
    chans = sorted(found.get("channel", ()))
    if channels and not chans:
        raise ValueError("logs: column 'channel' has no values to infer the channels from (pass --channels)")
    return chans, sorted(found.get("wording", ()))



def _check_same(model: ChannelModel, space_args: dict[str, Any], config_args: dict[str, Any]) -> None:
    """With ``--partial``, flags that shape the model must match the saved one."""
    for name, value in space_args.items():
        have = getattr(model.space, name)
        if value is UNSET or value == have:
            continue
        shown = (", ".join(have) or "(none)") if isinstance(have, tuple) else str(have)
        raise ValueError(f"--{name}: the saved model has {name} {shown}; "
                         "--partial cannot change the arm space (refit without --partial)")
    saved = model.config
    given = {k: v for k, v in config_args.items() if v is not UNSET}
    if given:
        current = {"response_window": saved.response_window, "half_life": saved.half_life, "seed": saved.seed,
                   "default_tz": saved.default_tz}
        wanted = ModelConfig(**{**current, **given})
        for k in given:
            if getattr(wanted, k) != getattr(saved, k):
                raise ValueError(f"--{k.replace('_', '-')}: the saved model has {k} {getattr(saved, k)}; "
                                 "--partial cannot change it (refit without --partial)")


def fit_model(logs: Any, model_dir: Any, *, as_of: Any = None, channels: Sequence[str] | None = None,
              wordings: Sequence[str] | None = None, hours: bool | None = None, weekdays: bool | None = None,
              response_window: Any = UNSET, half_life: Any = UNSET, seed: Any = UNSET,
              default_tz: Any = UNSET, partial: bool = False, progress: bool = False) -> ChannelModel:
    """Fit (or with ``partial`` continue) a model on a log and save it to ``model_dir``.

    Parameters
    ----------
    logs : DataFrame or str or PathLike
        The response log (file, directory or glob of Parquet/CSV).
    model_dir : str or PathLike
        Where the model is saved (replaced atomically); with ``partial`` it is
        also where the model is loaded from.
    as_of : timestamp, optional
        The ingestion clock; default: the latest timestamp in the log.
    channels, wordings : sequence of str, optional
        The arm space; default: the distinct values of the log's ``channel`` /
        ``wording`` columns, sorted.
    hours, weekdays : bool, optional
        Learn the local send hour / weekday (default True).
    response_window, half_life, seed, default_tz : optional
        Model settings; when not given, the :class:`ChannelModel` defaults
        (``half_life=None`` disables decay).
    partial : bool
        Load the model at ``model_dir`` and ``partial_fit`` it (idempotent per
        ``as_of``); settings that are given must match the saved model.
    progress : bool
        Progress bar over the chunks read.

    Returns
    -------
    ChannelModel
        The fitted model (also saved).

    Examples
    --------
    >>> import tempfile, os
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 01:00", None]})
    >>> d = os.path.join(tempfile.mkdtemp(), "model")
    >>> fit_model(logs, d, as_of="2026-01-10").last_fit_["counted"]
    2
    >>> fit_model(logs, d, as_of="2026-01-10", partial=True).last_fit_["counted"]
    0
    """
    if as_of is not None:
        as_of = as_utc_timestamp(as_of, "--as-of")
    config_args = {"response_window": response_window, "half_life": half_life, "seed": seed,
                   "default_tz": default_tz}
    if partial:
        model = load_model(model_dir)
        _check_same(model, {"channels": UNSET if channels is None else tuple(channels),
                            "wordings": UNSET if wordings is None else tuple(wordings),
                            "hours": UNSET if hours is None else bool(hours),
                            "weekdays": UNSET if weekdays is None else bool(weekdays)}, config_args)
        return save_model(model.partial_fit(logs, as_of=as_of, progress=progress), model_dir)
    if channels is not None and not channels:
        raise ValueError("--channels: name at least one channel")
    if channels is None or wordings is None:
        if isinstance(logs, pd.DataFrame):
            if "channel" not in logs.columns:
                raise ValueError("logs: missing required column 'channel' "
                                 f"(columns present: {', '.join(map(str, logs.columns))})")
            inferred_c = sorted({str(v) for v in logs["channel"].dropna()})
            inferred_w = sorted({str(v) for v in logs["wording"].dropna()}) if "wording" in logs.columns else []
        else:
            inferred_c, inferred_w = infer_arms(logs, channels=channels is None, wordings=wordings is None)
        channels = inferred_c if channels is None else channels
        wordings = inferred_w if wordings is None else wordings
    space = ArmSpace(channels=list(channels), wordings=list(wordings), hours=hours is not False,
                     weekdays=weekdays is not False)
    model = ChannelModel(space, **{k: v for k, v in config_args.items() if v is not UNSET})
    previous = saved_model(model_dir)
    if previous is not None:
        # a refit from scratch over a saved model keeps everything recorded about contact (consent,
        # unsubscriptions, recorded sends, erasures): the channels must be the same ones
        if tuple(previous.space.channels) != tuple(space.channels):
            raise ValueError(f"--model: {model_dir} holds a model with channels {', '.join(previous.space.channels)}; "
                             f"a refit with channels {', '.join(space.channels)} would lose its recorded consent "
                             "(pass --channels with the same channels, or fit into a new directory)")
        model._continue_contacts(previous)
    return save_model(model.fit(logs, as_of=as_of, progress=progress), model_dir)


def saved_model(model_dir: Any) -> ChannelModel | None:
    """The model saved at ``model_dir``, or None when nothing is saved there yet.

    Examples
    --------
    >>> import tempfile
    >>> saved_model(tempfile.mkdtemp()) is None
    True
    """
    path = Path(model_dir)
    if not is_saved(path):
        return None
    return load_model(path)


def forget_customers(model_dir: Any, customer_ids: Sequence[Any]) -> int:
    """Erase customers from the model at ``model_dir`` and its contact store, then save it.

    Returns how many of the customers the model knew. Afterwards no file of
    ``model_dir`` holds a byte of their ids (see :meth:`ChannelModel.forget`).

    Examples
    --------
    >>> import tempfile, os
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-02"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 01:00", None]})
    >>> d = os.path.join(tempfile.mkdtemp(), "model")
    >>> _ = fit_model(logs, d, as_of="2026-01-10")
    >>> forget_customers(d, ["a", "nobody"]), load(d).state_.n_customers
    (1, 1)
    """
    model = saved_model(model_dir)
    if model is None:
        raise ValueError(f"--model: no saved model at {model_dir}")
    n = model.forget(customer_ids)
    save_model(model, model_dir)
    return n


#: Environment variable holding the key that signs saved models (see :func:`channelopt.load`).
KEY_VARIABLE = "CHANNELOPT_MODEL_KEY"


def _model_key() -> str | None:
    """The signing key from the environment (never a command-line flag: it would show in ``ps``)."""
    return os.environ.get(KEY_VARIABLE) or None


def load_model(model_dir: Any) -> ChannelModel:
    """:func:`channelopt.load` with the key of :data:`KEY_VARIABLE` (required when it is set).

    Examples
    --------
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "m")
    >>> model = save_model(ChannelModel(ArmSpace(channels=["sms"])).fit(pd.DataFrame(
    ...     {"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"], "responded_at": [None]})), d)
    >>> load_model(d).space.channels
    ('sms',)
    """
    return load(model_dir, key=_model_key())


def save_model(model: ChannelModel, model_dir: Any) -> ChannelModel:
    """Save ``model`` to ``model_dir``, signed with the key of :data:`KEY_VARIABLE` when it is set; return it.

    Examples
    --------
    >>> import tempfile, os
    >>> model = ChannelModel(ArmSpace(channels=["sms"])).fit(pd.DataFrame(
    ...     {"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"], "responded_at": [None]}))
    >>> save_model(model, os.path.join(tempfile.mkdtemp(), "m")) is model
    True
    """
    model.save(model_dir, key=_model_key())
    return model


def fit_summary(model: ChannelModel, model_dir: Any, *, partial: bool = False) -> str:
    """One paragraph describing the last fit of ``model`` (rows, counted, pending, customers, watermark).

    Examples
    --------
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
    ...                      "responded_at": [None]})
    >>> m = ChannelModel(ArmSpace(channels=["sms"])).fit(logs, as_of="2026-01-02")
    >>> print(fit_summary(m, "models/x"))  # doctest: +NORMALIZE_WHITESPACE
    Fitted 1 log rows as of 2026-01-02 00:00:00+00:00: 0 counted (0 responses), 1 pending
    (not resolved yet). The model knows 1 customers over 1 channels (sms). Saved to models/x.
    """
    c = {k: int(v) for k, v in model.last_fit_.items()}
    verb = "Added" if partial else "Fitted"
    parts = [f"{c.get('counted', 0):,} counted ({c.get('responses', 0):,} responses)",
             f"{c.get('pending', 0):,} pending (not resolved yet)"]
    if c.get("before_watermark"):
        parts.append(f"{c['before_watermark']:,} already counted before the previous watermark")
    if c.get("after_as_of"):
        parts.append(f"{c['after_as_of']:,} sent after as_of (ignored)")
    space = model.space
    wordings = f" and {len(space.wordings)} wordings ({', '.join(space.wordings)})" if space.wordings else ""
    return (f"{verb} {c.get('rows', 0):,} log rows as of {model.as_of_}: {', '.join(parts)}. "
            f"The model knows {model.state_.n_customers:,} customers over {len(space.channels)} channels "
            f"({', '.join(space.channels)}){wordings}. Saved to {model_dir}.")



def load_policy(spec: Any) -> ContactPolicy | None:
    """A ContactPolicy from ``--policy``: ``default`` (the defaults), a JSON file, or None.

    The JSON file holds :meth:`ContactPolicy.to_dict` output, e.g.
    ``{"quiet_hours": {"sms": [21, 8]}, "caps": [{"max_messages": 3, "window": "7D"}], "min_gap": "12h"}``
    (keys left out take the defaults).

    Examples
    --------
    >>> load_policy("default").min_gap
    Timedelta('0 days 12:00:00')
    """
    if spec is None or isinstance(spec, ContactPolicy):
        return spec
    if str(spec) == "default":
        return ContactPolicy()
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--policy: no such file: {str(spec)!r} (or use --policy default)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"--policy: {spec}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--policy: {spec}: expected a JSON object")
    try:
        return ContactPolicy.from_dict(data)
    except TypeError as exc:
        raise ValueError(f"--policy: {spec}: {exc}") from None



def rank_model(model_dir: Any, customers: Any, out: Any, *, now: Any = None, top_k: int | None = None,
               propensity: bool = True, policy: Any = None, capacity: dict[str, int] | None = None,
               deadline: Any = None, chunk_rows: int = 1_000_000, progress: bool = False) -> pd.DataFrame:
    """Load the model at ``model_dir``, decide for ``customers`` and write the decisions to ``out``.

    A Parquet output is written chunk by chunk (``chunk_rows`` customers at a
    time, bounded memory) unless ``capacity`` needs the whole batch.

    Parameters
    ----------
    model_dir : str or PathLike
        A model saved by :func:`fit_model` / :meth:`ChannelModel.save`.
    customers : DataFrame, str or PathLike
        Table with ``customer_id`` (optional ``tz``, ``consent_<channel>``).
    out : str or PathLike
        ``.parquet`` or ``.csv`` file (replaced atomically).
    now : timestamp, optional
        Decision time; default: the current time.
    top_k : int, optional
        Keep the ``top_k`` highest-scoring customers.
    propensity : bool
        Compute propensities (False is faster; the column is NaN).
    policy : ContactPolicy, "default" or path to a JSON file, optional
        Contact rules (default: the model's own, if it was saved with one).
    capacity : mapping channel -> int, optional
    deadline : duration or timestamp, optional
    chunk_rows : int
    progress : bool

    Returns
    -------
    DataFrame
        The decisions written (for a chunked Parquet output: its ``customer_id,
        channel, wording, hold_reason`` columns).

    Examples
    --------
    >>> import tempfile, os
    >>> tmp = tempfile.mkdtemp()
    >>> logs = pd.DataFrame({"customer_id": ["a"], "sent_at": ["2026-01-01"], "channel": ["sms"],
    ...                      "responded_at": [None]})
    >>> _ = fit_model(logs, os.path.join(tmp, "m"), channels=["sms", "email"])
    >>> rank_model(os.path.join(tmp, "m"), pd.DataFrame({"customer_id": ["a", "b"]}),
    ...            os.path.join(tmp, "d.parquet"), now="2026-01-05").shape[0]
    2
    """
    kind = output_kind(out)
    if now is not None:
        now = as_utc_timestamp(now, "--now")
    if top_k is not None:
        check_scalar(top_k, "--top-k", int, min_val=0)
    if isinstance(customers, (str, os.PathLike)):
        text = os.fspath(customers)
        if not any(ch in text for ch in "*?[") and not Path(text).exists():
            raise FileNotFoundError(f"customers: no such file or directory: {text!r}")
    pol = load_policy(policy)
    model = load_model(model_dir)
    args: dict[str, Any] = {"propensity": propensity, "policy": pol, "deadline": deadline}
    if kind == "parquet" and capacity is None:
        model.rank_to_parquet(customers, out, now=now if now is not None else pd.Timestamp.now(tz="UTC"),
                              chunk_rows=chunk_rows, top_k=top_k, progress=progress, **args)
        return pq.read_table(out, columns=["customer_id", "channel", "wording", "hold_reason"]).to_pandas()
    decisions = model.rank(customers, now=now, top_k=top_k, capacity=capacity, **args)
    write_table(decisions, out)
    return decisions


def decision_mix(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions per channel (``hold`` for none): columns ``channel, decisions, share``.

    Examples
    --------
    >>> decision_mix(pd.DataFrame({"channel": ["sms", "email", "sms", None]}))
      channel  decisions  share
    0     sms          2   0.50
    1   email          1   0.25
    2    hold          1   0.25
    """
    chan = decisions["channel"].astype(object).where(decisions["channel"].notna(), "hold")
    if "hold_reason" in decisions:
        reason = decisions["hold_reason"].astype(object)
        chan = chan.where(reason.isna(), "hold: " + reason.astype(str))
    counts = chan.value_counts(sort=False)
    mix = pd.DataFrame({"channel": counts.index.astype(str), "decisions": counts.to_numpy(dtype="int64")})
    mix = mix.sort_values(["decisions", "channel"], ascending=[False, True], kind="stable").reset_index(drop=True)
    total = int(mix["decisions"].sum())
    mix["share"] = mix["decisions"] / total if total else 0.0
    return mix


def format_mix(mix: pd.DataFrame) -> str:
    """Aligned text of :func:`decision_mix` output (share as a percentage)."""
    if mix.empty:
        return "  (no decisions)"
    width = max(8, *(len(c) for c in mix["channel"]))
    lines = [f"  {'channel':<{width}} {'decisions':>10} {'share':>7}"]
    for row in mix.itertuples(index=False):
        lines.append(f"  {row.channel:<{width}} {row.decisions:>10,} {row.share:>7.1%}")
    return "\n".join(lines)
