"""The ``channelopt`` command line: ``fit``, ``rank`` and ``explain``.

Every subcommand reads and writes Parquet or CSV, shows a progress bar on long
reads (on a terminal, unless ``--quiet``) and exits with

* ``0`` on success,
* ``2`` on any error -- bad input (a bad flag, a missing file or column, an
  unparseable value, an unreadable model) or an unexpected one -- after
  printing exactly one line ``channelopt: error: <message>`` to stderr, never a
  traceback (``CHANNELOPT_DEBUG=1`` shows the traceback of an unexpected error),
* ``130`` when interrupted (Ctrl-C), after one line ``channelopt: interrupted``.

The functions :func:`fit_model`, :func:`rank_model`, :func:`fit_summary` and
:func:`decision_mix` do the work of the subcommands and can be called
in-process (the demo does).

Examples
--------
>>> main(["--version"])  # doctest: +SKIP
channelopt 0.1.0
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import __version__
from ._persist import is_saved
from ._time import as_utc_timestamp
from .arms import ArmSpace
from .config import ModelConfig
from .contact import ContactPolicy
from .model import ChannelModel, load
from .sources import csv_error, csv_header, read_table, resolve_paths

__all__ = ["main", "fit_model", "rank_model", "load_policy", "fit_summary", "decision_mix", "format_mix", "infer_arms",
           "build_parser"]

PROG = "channelopt"
_UNSET: Any = object()  # a setting that was not given

# -- errors -----------------------------------------------------------------------------------------


class UsageError(Exception):
    """Bad command-line usage (reported as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become :class:`UsageError` (one line, no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sub = self.prog[len(PROG):].strip()
        hint = f" (see '{PROG} {sub} --help')" if sub else f" (see '{PROG} --help')"
        raise UsageError(message + hint)


_BAD_INPUT = (UsageError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
_MAX_MESSAGE = 1000  # characters of an error line (a message may quote a value of megabytes)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, cut to a readable length."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"  # not "[Errno 2] ..."
    else:
        text = str(exc) or type(exc).__name__
    if not isinstance(exc, _BAD_INPUT + (OSError,)):
        text = f"unexpected {type(exc).__name__}: {text} (set CHANNELOPT_DEBUG=1 for the traceback)"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


# -- helpers shared by the subcommands -------------------------------------------------------------


def _names(value: str | None, flag: str) -> list[str] | None:
    """Split ``"a,b"`` into names; None when the flag was not given, [] for an empty string."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{flag}: names {dup!r} twice")
    return names


def _distinct(path: Path, columns: list[str]) -> dict[str, set[str]]:
    """Distinct non-null values of ``columns`` of one Parquet/CSV file (column projection only)."""
    out: dict[str, set[str]] = {c: set() for c in columns}
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"logs: cannot read Parquet file {str(path)!r} ({exc})") from None
        present = [c for c in columns if c in pf.schema_arrow.names]
        batches = pf.iter_batches(columns=present, batch_size=1_000_000) if present else iter(())
    else:
        header = csv_header(path, "logs")
        present = [c for c in columns if c in header]
        if present:
            opts = pacsv.ConvertOptions(include_columns=present, column_types={c: pa.string() for c in present},
                                        strings_can_be_null=True)
            try:
                batches = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                         convert_options=opts)
            except (pa.ArrowInvalid, OSError) as exc:
                raise csv_error(path, "logs", exc) from None
        else:
            batches = iter(())
    if "channel" in columns and "channel" not in present:
        raise ValueError(f"logs: missing required column 'channel' in {str(path)!r}")
    try:
        for batch in batches:
            for c in present:
                col = batch.column(batch.schema.get_field_index(c))
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                for v in pc.unique(col.drop_null()).to_pylist():
                    out[c].add(str(v))
    except (pa.ArrowInvalid, OSError) as exc:  # pyarrow reads lazily: a bad block shows up here
        if path.name.lower().endswith((".parquet", ".pq")):
            raise ValueError(f"logs: cannot read Parquet file {str(path)!r} ({' '.join(str(exc).split())[:200]})") from None
        raise csv_error(path, "logs", exc) from None
    return out


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
            for c, values in _distinct(path, cols).items():
                found[c] |= values
    chans = sorted(found.get("channel", ()))
    if channels and not chans:
        raise ValueError("logs: column 'channel' has no values to infer the channels from (pass --channels)")
    return chans, sorted(found.get("wording", ()))


def _duration(value: str | None) -> Any:
    """A duration flag: not given -> unset, 'none'/'off' -> None (no decay), else the text."""
    if value is None:
        return _UNSET
    if value.strip().lower() in ("none", "off"):
        return None
    return value


def _check_same(model: ChannelModel, space_args: dict[str, Any], config_args: dict[str, Any]) -> None:
    """With ``--partial``, flags that shape the model must match the saved one."""
    for name, value in space_args.items():
        have = getattr(model.space, name)
        if value is _UNSET or value == have:
            continue
        shown = (", ".join(have) or "(none)") if isinstance(have, tuple) else str(have)
        raise ValueError(f"--{name}: the saved model has {name} {shown}; "
                         "--partial cannot change the arm space (refit without --partial)")
    saved = model.config
    given = {k: v for k, v in config_args.items() if v is not _UNSET}
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
              response_window: Any = _UNSET, half_life: Any = _UNSET, seed: Any = _UNSET,
              default_tz: Any = _UNSET, partial: bool = False, progress: bool = False) -> ChannelModel:
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
        model = _load(model_dir)
        _check_same(model, {"channels": _UNSET if channels is None else tuple(channels),
                            "wordings": _UNSET if wordings is None else tuple(wordings),
                            "hours": _UNSET if hours is None else bool(hours),
                            "weekdays": _UNSET if weekdays is None else bool(weekdays)}, config_args)
        return _save(model.partial_fit(logs, as_of=as_of, progress=progress), model_dir)
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
    model = ChannelModel(space, **{k: v for k, v in config_args.items() if v is not _UNSET})
    previous = _saved_model(model_dir)
    if previous is not None:
        # a refit from scratch over a saved model keeps everything recorded about contact (consent,
        # unsubscriptions, recorded sends, erasures): the channels must be the same ones
        if tuple(previous.space.channels) != tuple(space.channels):
            raise ValueError(f"--model: {model_dir} holds a model with channels {', '.join(previous.space.channels)}; "
                             f"a refit with channels {', '.join(space.channels)} would lose its recorded consent "
                             "(pass --channels with the same channels, or fit into a new directory)")
        model._continue_contacts(previous)
    return _save(model.fit(logs, as_of=as_of, progress=progress), model_dir)


def _saved_model(model_dir: Any) -> ChannelModel | None:
    """The model saved at ``model_dir``, or None when nothing is saved there yet."""
    path = Path(model_dir)
    if not is_saved(path):
        return None
    return _load(path)


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
    model = _saved_model(model_dir)
    if model is None:
        raise ValueError(f"--model: no saved model at {model_dir}")
    n = model.forget(customer_ids)
    _save(model, model_dir)
    return n


#: Environment variable holding the key that signs saved models (see :func:`channelopt.load`).
KEY_VARIABLE = "CHANNELOPT_MODEL_KEY"


def _model_key() -> str | None:
    """The signing key from the environment (never a command-line flag: it would show in ``ps``)."""
    return os.environ.get(KEY_VARIABLE) or None


def _load(model_dir: Any) -> ChannelModel:
    return load(model_dir, key=_model_key())


def _save(model: ChannelModel, model_dir: Any) -> ChannelModel:
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


def _output_kind(out: Any) -> str:
    name = os.fspath(out).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise ValueError(f"--out: {os.fspath(out)!r} must end in .parquet or .csv")


def _write_table(frame: pd.DataFrame, out: Any) -> Path:
    """Write ``frame`` to Parquet or CSV (by extension) atomically: temporary file, then rename."""
    kind = _output_kind(out)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name created by the writer itself, so the file gets the usual (umask) permissions
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        if kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, compression="gzip" if target.name.lower().endswith(".gz") else None)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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


def _capacity(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    out: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValueError(f"--capacity: expected CHANNEL=N[,CHANNEL=N...], got {text!r}")
        out[name.strip()] = int(value)
    return out


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
    kind = _output_kind(out)
    if now is not None:
        now = as_utc_timestamp(now, "--now")
    if top_k is not None and int(top_k) < 0:
        raise ValueError(f"--top-k: must be >= 0, got {top_k}")
    if isinstance(customers, (str, os.PathLike)):
        text = os.fspath(customers)
        if not any(ch in text for ch in "*?[") and not Path(text).exists():
            raise FileNotFoundError(f"customers: no such file or directory: {text!r}")
    pol = load_policy(policy)
    model = _load(model_dir)
    args: dict[str, Any] = {"propensity": propensity, "policy": pol, "deadline": deadline}
    if kind == "parquet" and capacity is None:
        model.rank_to_parquet(customers, out, now=now if now is not None else pd.Timestamp.now(tz="UTC"),
                              chunk_rows=chunk_rows, top_k=top_k, progress=progress, **args)
        return pq.read_table(out, columns=["customer_id", "channel", "wording", "hold_reason"]).to_pandas()
    decisions = model.rank(customers, now=now, top_k=top_k, capacity=capacity, **args)
    _write_table(decisions, out)
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


def _parse_customer(model: ChannelModel, text: str) -> Any:
    kind = model.state_.index.kind
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"--customer: this model's ids are integers, got {text!r}") from None
    return text


# -- subcommands ------------------------------------------------------------------------------------


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _cmd_fit(args: argparse.Namespace) -> int:
    model = fit_model(
        args.logs, args.model, as_of=args.as_of, channels=_names(args.channels, "--channels"),
        wordings=_names(args.wordings, "--wordings"), hours=False if args.no_hours else None, weekdays=False if args.no_weekdays else None,
        response_window=_UNSET if args.response_window is None else args.response_window,
        half_life=_duration(args.half_life), seed=_UNSET if args.seed is None else args.seed,
        default_tz=_UNSET if args.default_tz is None else args.default_tz, partial=args.partial,
        progress=_progress(args))
    print(fit_summary(model, args.model, partial=args.partial))
    return 0


def _cmd_rank(args: argparse.Namespace) -> int:
    if args.top_k is not None and args.budget is not None and args.top_k != args.budget:
        raise ValueError("--top-k and --budget mean the same thing; give one")
    if args.chunk_rows < 1:
        raise ValueError(f"--chunk-rows: must be >= 1, got {args.chunk_rows}")
    if Path(args.out).is_dir():
        raise ValueError(f"--out: {args.out!r} is a directory (give a .parquet or .csv file)")
    decisions = rank_model(args.model, args.customers, args.out, now=args.now,
                           top_k=args.top_k if args.top_k is not None else args.budget,
                           propensity=not args.no_propensity, policy=args.policy, capacity=_capacity(args.capacity),
                           deadline=args.deadline, chunk_rows=args.chunk_rows, progress=_progress(args))
    print(f"Wrote {len(decisions):,} decisions to {args.out}. Decision mix by channel:")
    print(format_mix(decision_mix(decisions)))
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    texts = list(args.customer or [])
    if args.ids_file is not None:
        table = read_table(args.ids_file, name="--ids-file")
        if "customer_id" not in table.columns:
            raise ValueError(f"--ids-file: missing required column 'customer_id' (columns present: "
                             f"{', '.join(map(str, table.columns))})")
        texts += [str(v) for v in table["customer_id"].tolist()]
    if not texts:
        raise ValueError("forget: name customers with --customer ID (repeatable) or --ids-file FILE")
    model = _saved_model(args.model)
    if model is None:
        raise ValueError(f"--model: no saved model at {args.model}")
    ids = [_parse_customer(model, t) for t in texts]
    n = forget_customers(args.model, ids)
    print(f"Forgot {n:,} of {len(set(ids)):,} customers named; {args.model} and its contact store hold no "
          "trace of them (a tombstone keeps old logs from bringing them back).")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    if not 0 < args.level < 1:
        raise ValueError(f"--level: must be in (0, 1), got {args.level}")
    model = _load(args.model)
    customer = _parse_customer(model, args.customer)
    row = model.state_.index.row_of(customer)
    table = model.explain(customer, level=args.level)
    if row >= 0:
        head = f"Customer {customer!r} as of {model.as_of_}: posterior per arm, {args.level:.0%} credible interval."
    else:
        head = (f"Customer {customer!r} is not in the model: showing the population prior "
                f"({args.level:.0%} credible interval).")
    print(head)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


_FIT_EXAMPLE = """\
Example:
  channelopt fit --logs data/samples/logs.parquet --model models/2026-11-23 --as-of 2026-11-23
  channelopt fit --logs 'logs/day=*.parquet' --model models/live --channels email,sms,push \\
                 --wordings plain,friendly --response-window 72h --half-life 90D --seed 7
  channelopt fit --logs logs/2026-11-24.csv --model models/live --as-of 2026-11-24 --partial

Channels and wordings default to the distinct values of the log's 'channel' and
'wording' columns. --partial loads the model at --model, adds the sends resolved
since its watermark and saves it back; re-running the same --as-of is a no-op.
"""

_RANK_EXAMPLE = """\
Example:
  channelopt rank --model models/2026-11-23 --customers data/samples/customers.parquet \\
                  --out out/decisions.parquet --now '2026-11-23 09:00'

  channelopt rank --model models/2026-11-23 --customers data/samples/customers.parquet \\
                  --out out/decisions.parquet --policy default --capacity voice=5000 --budget 100000

The output (.parquet or .csv) has one row per customer: customer_id, channel,
wording, hour, send_at (UTC), score, propensity, hold_reason, escalate_to_human.
The same model, --now and customer always give the same decision. Without
--policy (and a model saved without one) no contact rules (consent, caps,
quiet hours) are applied: every channel of the model is eligible. With a
policy, consent comes from the table's consent_<channel> columns (default-deny).
A Parquet output is written in chunks of --chunk-rows customers.
"""

_EXPLAIN_EXAMPLE = """\
Example:
  channelopt explain --model models/2026-11-23 --customer c-42

Prints, for every arm of every dimension, the decayed sends and responses, the
prior mean, the Beta posterior (alpha, beta), its mean and a credible interval.
"""

_MAIN_EXAMPLE = """\
Example:
  channelopt fit --logs data/samples/logs.parquet --model out/model
  channelopt rank --model out/model --customers data/samples/customers.parquet --out out/decisions.parquet
  channelopt explain --model out/model --customer c-42

Exit codes: 0 ok, 2 error (one line on stderr), 130 interrupted.
Environment: CHANNELOPT_MODEL_KEY signs every saved model (HMAC) and requires the
signature on every load (see channelopt.load).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``channelopt`` command.

    Examples
    --------
    >>> build_parser().parse_args(["explain", "--model", "m", "--customer", "7"]).customer
    '7'
    """
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=PROG, formatter_class=raw, epilog=_MAIN_EXAMPLE,
                     description="Learn per customer which channel, send hour and wording get an answer.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    fit = sub.add_parser("fit", parents=[common], formatter_class=raw, epilog=_FIT_EXAMPLE,
                         help="learn from a response log and save the model",
                         description="Learn from a response log (Parquet/CSV file, directory or glob)\n"
                                     "and save the model to a directory.")
    fit.add_argument("--logs", required=True, metavar="PATH", help="response log: Parquet/CSV file, directory or glob")
    fit.add_argument("--model", required=True, metavar="DIR", help="model directory to write (replaced atomically)")
    fit.add_argument("--as-of", metavar="T", help="ingestion clock (default: latest timestamp in the log)")
    fit.add_argument("--channels", metavar="A,B,...", help="channels (default: distinct values in the log)")
    fit.add_argument("--wordings", metavar="A,B,...",
                     help="wordings (default: distinct values in the log; '' for none)")
    fit.add_argument("--no-hours", action="store_true", help="do not learn the local send hour")
    fit.add_argument("--no-weekdays", action="store_true", help="do not learn the local send weekday")
    fit.add_argument("--response-window", metavar="DUR", help="e.g. 72h (default 72h)")
    fit.add_argument("--half-life", metavar="DUR", help="e.g. 90D, or 'none' for no decay (default 90D)")
    fit.add_argument("--seed", type=int, help="seed of the Thompson draws (default 0)")
    fit.add_argument("--default-tz", metavar="ZONE", help="IANA zone of customers without tz (default UTC)")
    fit.add_argument("--partial", action="store_true", help="load the model at --model and partial_fit it")
    fit.set_defaults(func=_cmd_fit)

    rank = sub.add_parser("rank", parents=[common], formatter_class=raw, epilog=_RANK_EXAMPLE,
                          help="decide channel, wording and send time for customers",
                          description="Decide channel, wording and send time for every customer of a\n"
                                      "table and write the decisions to Parquet or CSV.")
    rank.add_argument("--model", required=True, metavar="DIR", help="saved model directory")
    rank.add_argument("--customers", required=True, metavar="PATH", help="Parquet/CSV table with customer_id")
    rank.add_argument("--out", required=True, metavar="PATH", help="decisions file (.parquet or .csv)")
    rank.add_argument("--now", metavar="T", help="decision time (default: the current time)")
    rank.add_argument("--top-k", type=int, metavar="N", help="keep only the N highest-scoring customers")
    rank.add_argument("--no-propensity", action="store_true", help="skip propensities (faster; column is NaN)")
    rank.add_argument("--budget", type=int, metavar="N", help="the same as --top-k: who to contact today")
    rank.add_argument("--policy", metavar="FILE|default",
                      help="contact rules: a JSON ContactPolicy, or 'default' (default: none, or the model's)")
    rank.add_argument("--capacity", metavar="CH=N,...", help="at most N sends per channel, e.g. voice=5000")
    rank.add_argument("--deadline", metavar="DUR", help="delivery window after --now (default 24h)")
    rank.add_argument("--chunk-rows", type=int, default=1_000_000, metavar="N",
                      help="customers per chunk of a Parquet output (default 1,000,000)")
    rank.set_defaults(func=_cmd_rank)

    explain = sub.add_parser("explain", parents=[common], formatter_class=raw, epilog=_EXPLAIN_EXAMPLE,
                             help="show one customer's posterior per arm",
                             description="Show one customer's posterior for every arm.")
    explain.add_argument("--model", required=True, metavar="DIR", help="saved model directory")
    explain.add_argument("--customer", required=True, metavar="ID", help="customer id")
    explain.add_argument("--level", type=float, default=0.9, help="credible interval level (default 0.9)")
    explain.set_defaults(func=_cmd_explain)

    forget = sub.add_parser("forget", parents=[common], formatter_class=raw,
                            help="erase customers from a saved model and its contact store",
                            description="Erase customers (statistics, history, consent records) from a saved\n"
                                        "model and its contact store; a tombstone stops old logs re-adding them.")
    forget.add_argument("--model", required=True, metavar="DIR", help="saved model directory")
    forget.add_argument("--customer", action="append", metavar="ID", help="customer id (repeatable)")
    forget.add_argument("--ids-file", metavar="PATH", help="Parquet/CSV table with a customer_id column")
    forget.set_defaults(func=_cmd_forget)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 any error, 130 interrupted).

    Examples
    --------
    >>> main(["fit", "--logs", "no/such/logs.parquet", "--model", "m"])  # doctest: +SKIP
    channelopt: error: logs: no Parquet or CSV file at 'no/such/logs.parquet'
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args))
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BrokenPipeError:  # e.g. `channelopt explain ... | head`: the work is done, the reader left
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except KeyboardInterrupt:
        _flush()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # bad input, or a bug: one line either way, never a traceback
        _flush()
        if os.environ.get("CHANNELOPT_DEBUG") == "1" and not isinstance(exc, _BAD_INPUT):
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _flush() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
