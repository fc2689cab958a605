"""The ``channelopt`` command line: ``fit``, ``rank``, ``explain`` and ``forget``.

Every subcommand reads and writes Parquet or CSV, shows a progress bar on long
reads (on a terminal, unless ``--quiet``) and exits with

* ``0`` on success,
* ``2`` on any error -- bad input (a bad flag, a missing file or column, an
  unparseable value, an unreadable model) or an unexpected one -- after
  printing exactly one line ``channelopt: error: <message>`` to stderr, never a
  traceback (``CHANNELOPT_DEBUG=1`` shows the traceback of an unexpected error),
* ``130`` when interrupted (Ctrl-C), after one line ``channelopt: interrupted``.

This module parses the flags and prints; the work is done by the jobs of
:mod:`channelopt.apps.jobs` (:func:`~channelopt.apps.jobs.fit_model`,
:func:`~channelopt.apps.jobs.rank_model`, ...), which can be called in-process.

Examples
--------
>>> main(["--version"])  # doctest: +SKIP
channelopt 0.1.0
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from channelopt._version import __version__
from channelopt.apps.jobs import (
    BAD_INPUT,
    UNSET,
    UsageError,
    decision_mix,
    fit_model,
    fit_summary,
    forget_customers,
    format_mix,
    load_model,
    one_line,
    rank_model,
    saved_model,
)
from channelopt.core.validation import check_scalar
from channelopt.data.sources import read_table
from channelopt.policy.model import ChannelModel

__all__ = ["build_parser", "main"]

PROG = "channelopt"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become :class:`~channelopt.apps.jobs.UsageError` (one line, no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sub = self.prog[len(PROG):].strip()
        hint = f" (see '{PROG} {sub} --help')" if sub else f" (see '{PROG} --help')"
        raise UsageError(message + hint)


# -- flags --------------------------------------------------------------------------------------------


def _names(value: str | None, flag: str) -> list[str] | None:
    """Split ``"a,b"`` into names; None when the flag was not given, [] for an empty string."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{flag}: names {dup!r} twice")
    return names


def _duration(value: str | None) -> Any:
    """A duration flag: not given -> unset, 'none'/'off' -> None (no decay), else the text."""
    if value is None:
        return UNSET
    if value.strip().lower() in ("none", "off"):
        return None
    return value


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


def _parse_customer(model: ChannelModel, text: str) -> Any:
    kind = model._state().index.kind  # an unfitted model: its cold store (no customer)
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
        response_window=UNSET if args.response_window is None else args.response_window,
        half_life=_duration(args.half_life), seed=UNSET if args.seed is None else args.seed,
        default_tz=UNSET if args.default_tz is None else args.default_tz, partial=args.partial,
        progress=_progress(args))
    print(fit_summary(model, args.model, partial=args.partial))
    return 0


def _cmd_rank(args: argparse.Namespace) -> int:
    if args.top_k is not None and args.budget is not None and args.top_k != args.budget:
        raise ValueError("--top-k and --budget mean the same thing; give one")
    check_scalar(args.chunk_rows, "--chunk-rows", int, min_val=1)
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
    model = saved_model(args.model)
    if model is None:
        raise ValueError(f"--model: no saved model at {args.model}")
    ids = [_parse_customer(model, t) for t in texts]
    n = forget_customers(args.model, ids)
    print(f"Forgot {n:,} of {len(set(ids)):,} customers named; {args.model} and its contact store hold no "
          "trace of them (a tombstone keeps old logs from bringing them back).")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    check_scalar(args.level, "--level", float, min_val=0, max_val=1, include_boundaries="neither")
    model = load_model(args.model)
    customer = _parse_customer(model, args.customer)
    row = model._state().index.row_of(customer)
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
        if os.environ.get("CHANNELOPT_DEBUG") == "1" and not isinstance(exc, BAD_INPUT):
            traceback.print_exc()
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def _flush() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
