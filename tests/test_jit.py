"""channelopt.apps.jit: ahead-of-time compilation into numba's cache, in worker processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from channelopt.apps import jit

pytestmark = pytest.mark.slow  # subprocesses / notebooks: make test runs them, -m 'not slow' skips them


def test_unknown_part_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"parts: unknown part 'nope' \(known: rank, evaluation, single\)"):
        jit.warm_up(parts=["nope"])


def test_a_part_runs_in_its_own_process_and_reports_its_time() -> None:
    took = jit.warm_up(jobs=1, parts=["single"])
    assert list(took) == ["single"] and took["single"] > 0


def test_a_failing_part_raises_with_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    real = subprocess.Popen

    def broken(cmd, **kwargs):  # the worker runs a part that does not exist in its process
        return real([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], **kwargs)

    monkeypatch.setattr(jit.subprocess, "Popen", broken)
    with pytest.raises(RuntimeError, match=r"(?s)part 'single' failed \(exit 3\):\nboom"):
        jit.warm_up(jobs=1, parts=["single"])
