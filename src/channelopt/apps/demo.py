"""The main job end to end on the sample data: ``python -m channelopt.apps.demo --samples data/samples --out out/demo``.

It does what a nightly job does, with the jobs of :mod:`channelopt.apps.jobs`, in-process:

1. fit a model on ``SAMPLES/logs.parquet`` and save it to ``OUT/model``;
2. rank every customer of ``SAMPLES/customers.parquet`` and write the
   decisions to ``OUT/decisions.parquet``;
3. print the response rate by channel in the sample log, the decision mix and
   where everything was written.

Re-running it overwrites both outputs with identical content: the fit is from
scratch and the decisions are made at a fixed time, the end of the sample log
(``--now`` to choose another).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow.parquet as pq

from channelopt.apps.jobs import BAD_INPUT, decision_mix, fit_model, fit_summary, format_mix, one_line, rank_model
from channelopt.policy.contact import ContactPolicy

__all__ = ["main", "response_rates"]


def response_rates(logs: pd.DataFrame) -> pd.DataFrame:
    """Sends, responses (``responded_at`` not null) and response rate per channel, by decreasing rate.

    Parameters
    ----------
    logs : DataFrame
        At least the columns ``channel`` and ``responded_at``.

    Returns
    -------
    DataFrame
        ``channel, sends, responses, rate``.

    Examples
    --------
    >>> logs = pd.DataFrame({"channel": ["sms", "sms", "email"], "responded_at": ["2026-01-01", None, None]})
    >>> response_rates(logs)
      channel  sends  responses  rate
    0     sms      2          1   0.5
    1   email      1          0   0.0
    """
    replied = logs["responded_at"].notna()
    grouped = pd.DataFrame({"channel": logs["channel"].astype(str), "replied": replied}).groupby(
        "channel", sort=True, observed=True)["replied"]
    out = pd.DataFrame({"sends": grouped.size(), "responses": grouped.sum().astype("int64")})
    out["rate"] = out["responses"] / out["sends"]
    out = out.reset_index().sort_values(["rate", "channel"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def _format_rates(rates: pd.DataFrame) -> str:
    width = max(8, *(len(c) for c in rates["channel"])) if len(rates) else 8
    lines = [f"  {'channel':<{width}} {'sends':>9} {'responses':>10} {'rate':>7}"]
    for r in rates.itertuples(index=False):
        lines.append(f"  {r.channel:<{width}} {r.sends:>9,} {r.responses:>10,} {r.rate:>7.1%}")
    return "\n".join(lines)


def run(samples: Path, out: Path, *, now: str | None = None, progress: bool = False) -> pd.DataFrame:
    """Fit on ``samples/logs.parquet``, rank ``samples/customers.parquet``, write to ``out``; print a summary.

    Returns the decisions.

    Examples
    --------
    >>> run(Path("data/samples"), Path("out/demo"))  # doctest: +SKIP
    """
    logs_path, customers_path = samples / "logs.parquet", samples / "customers.parquet"
    for p in (logs_path, customers_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file (regenerate the samples with 'make samples')")
    model_dir, decisions_path = out / "model", out / "decisions.parquet"

    rates = response_rates(pq.read_table(logs_path, columns=["channel", "responded_at"]).to_pandas())
    print(f"Sample response log {logs_path}: response rate by channel")
    print(_format_rates(rates))
    print()

    model = fit_model(str(logs_path), model_dir, progress=progress)
    print(fit_summary(model, model_dir))
    print()

    when = model.as_of_ if now is None else now
    decisions = rank_model(model_dir, str(customers_path), decisions_path, now=when)
    note = " (the end of the sample log)" if now is None else ""
    print(f"Decisions for {len(decisions):,} customers at {pd.Timestamp(when)}{note}: decision mix by channel")
    print(format_mix(decision_mix(decisions)))
    if model.space.wordings:
        wording = decisions["wording"].astype(object).where(decisions["wording"].notna(), "-")
        mix = wording.value_counts()
        print("  wordings: " + ", ".join(f"{k} {v / len(decisions):.0%}" for k, v in mix.items()))
    print("  (no contact rules applied: consent columns are not used by a model without a ContactPolicy)")
    print()
    ruled_path = out / "decisions_with_policy.parquet"
    policy = ContactPolicy()
    ruled = rank_model(model_dir, str(customers_path), ruled_path, now=when, policy=policy)
    print("The same customers under the default ContactPolicy (consent from the consent_<channel> columns,\n"
          f"caps {', '.join(f'{c.max_messages}/{c.window.days}d' + (' ' + c.channel if c.channel else '') for c in policy.caps)},"
          f" min gap {policy.min_gap}, quiet hours {policy.quiet_hours}):")
    print(format_mix(decision_mix(ruled)))
    print()
    print(f"Decisions written to {decisions_path} and {ruled_path}")
    print(f"Model written to     {model_dir}")
    return decisions


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the demo; returns the exit code (0 ok, 2 bad input, 1 unexpected error).

    Examples
    --------
    >>> main(["--samples", "data/samples", "--out", "out/demo"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(prog="python -m channelopt.apps.demo", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Example:\n  python -m channelopt.apps.demo --samples data/samples --out out/demo")
    parser.add_argument("--samples", default="data/samples", help="directory with logs.parquet and customers.parquet")
    parser.add_argument("--out", default="out/demo", help="output directory (model/ and decisions.parquet)")
    parser.add_argument("--now", help="decision time (default: the end of the sample log)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        run(Path(args.samples), Path(args.out), now=args.now, progress=not args.quiet and sys.stderr.isatty())
    except BAD_INPUT as exc:
        sys.stdout.flush()
        print(f"channelopt.apps.demo: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
