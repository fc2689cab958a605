"""The README's Python examples run as written (the quickstart and the orchestration-service example)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import channelopt as co

pytestmark = pytest.mark.slow  # subprocesses / notebooks: make test runs them, -m 'not slow' skips them

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_both_examples():
    assert len(BLOCKS) >= 2
    assert any("plan_cascade" in b and "record_send" in b for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "models/latest" in block:
        # the service example loads a saved model: one fitted on the sample log
        logs = pd.read_parquet(ROOT / "data" / "samples" / "logs.parquet")
        space = co.ArmSpace(channels=sorted(logs["channel"].unique()), wordings=sorted(logs["wording"].unique()))
        logs = logs.assign(customer_id=logs["customer_id"].astype(str))
        co.ChannelModel(space, seed=1).fit(logs).save("models/latest")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out  # every example prints something
