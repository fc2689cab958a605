"""Smoke test of the benchmark scripts: each runs with ``--quick`` (tiny sizes) in a subprocess.

Checks that the script exits 0, prints the machine banner and its table header,
and writes a JSON document whose table rows carry the expected cases. Timings
are never asserted (they depend on the machine and its load).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: make test runs them, -m 'not slow' skips them

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

# script -> (table name in the JSON, header columns, a case every run must contain)
SCRIPTS = {
    "bench_rank.py": ("rank", ["case", "customers", "seconds", "arm-draws/s", "speedup vs numpy"],
                      "numpy rng.beta + argmax (baseline)"),
    "bench_fit.py": ("fit", ["case", "rows", "seconds", "rows/s", "speedup vs pandas"],
                     "channelopt fit, from Parquet path"),
    "bench_choose.py": ("choose", ["case", "threads", "p50 (us)", "p99 (us)"],
                        "choose_channel, propensity_draws=1"),
    "bench_memory.py": ("memory", ["case", "customers", "value", "unit"], "channelopt.load verify=False"),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run_prints_table_and_writes_json(script: str, tmp_path: Path) -> None:
    table_name, header, case = SCRIPTS[script]
    out_json = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--repeats", "1", "--json", str(out_json)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    assert any(line.startswith("# processor:") and "cpu_count:" in line for line in lines), proc.stdout
    assert any("numpy" in line and "numba" in line for line in lines if line.startswith("# python")), proc.stdout
    header_lines = [line for line in lines if line.split()[:len(header)] and all(col in line for col in header)
                    and line.startswith("case")]
    assert header_lines, f"no table header with {header} in:\n{proc.stdout}"

    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["benchmark"] == script[:-3]
    assert doc["machine"]["cpu_count"] >= 1 and doc["machine"]["numba"]
    table = doc["tables"][table_name]
    assert table["columns"][: len(header)] == header
    cases = [row["case"] for row in table["rows"]]
    assert case in cases, cases
    assert case in proc.stdout
