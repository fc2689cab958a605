"""benchmarks/bench_policy.py and its peers (benchmarks/_peers.py): a quick run in a subprocess, the adapters in process.

The quick run must pass with and without the peers installed (``--no-peers``
forces the latter); the adapter tests run only where ``vowpalwabbit`` /
``mabwiser`` are installed (``benchmarks/requirements.txt``). Timings are never
asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.sim import SCENARIOS, run

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SPACE = co.ArmSpace(channels=["email", "sms", "push"], wordings=["plain", "urgent"], hours=True, weekdays=False)
START = pd.Timestamp("2026-01-05", tz="UTC")


def _peers():
    sys.path.insert(0, str(BENCH))
    try:
        import _peers  # the benchmarks' module, not part of the package

        return _peers
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--no-peers"], []], ids=["without-peers", "with-peers-if-installed"])
def test_quick_run_prints_the_tables_and_writes_json(extra: list[str], tmp_path: Path) -> None:
    out = tmp_path / "policy.json"
    cmd = [sys.executable, str(BENCH / "bench_policy.py"), "--quick", "--scenarios", "stationary,new_customers",
           "--variant", 'hl30={"half_life": "30D"}', "--json", str(out), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "% of oracle, whole run" in proc.stdout and "ChannelModel / VW" in proc.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["benchmark"] == "bench_policy"
    table = doc["tables"]["pct_of_oracle"]
    assert table["columns"] == ["policy", "stationary", "new_customers"]
    rows = {r["policy"]: r for r in table["rows"]}
    assert {"ChannelModel", "hl30", "UniformRandom", "PooledThompson"} <= set(rows)
    assert all(0 < r["stationary"] <= 100 for r in rows.values())
    peers = doc["params"]["peers"]
    assert ("VW squarecb" in rows) == peers and ("MABWiser TS" in rows) == peers
    if extra:
        assert not peers
    for name in ("stationary", "new_customers"):
        assert (tmp_path / f"policy_regret_{name}.quick.png").is_file()


@pytest.mark.slow
def test_bad_variant_and_scenario_exit_2() -> None:
    for args in (["--variant", "nojson"], ["--variant", 'x={"no_such_parameter": 1}'], ["--scenarios", "mars"]):
        proc = subprocess.run([sys.executable, str(BENCH / "bench_policy.py"), "--quick", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error:"), proc.stderr


def _check_plan(plan: pd.DataFrame, n: int) -> None:
    assert list(plan.columns) == ["customer_id", "channel", "wording", "hour", "send_at", "score", "propensity"]
    assert len(plan) == n and plan["channel"].notna().all() and plan["wording"].notna().all()
    local = [t.tz_convert(z).hour for t, z in zip(plan["send_at"], ["Asia/Tokyo"] * n)]
    assert local == plan["hour"].astype(int).tolist()


def test_vw_adapter_learns_from_resolved_sends_only() -> None:
    pytest.importorskip("vowpalwabbit")
    P = _peers()
    pop = SCENARIOS["dense"].population(SPACE, 120, seed=0, start=START, days=12, zones=("Asia/Tokyo",))
    vw = P.VWSquareCB(SPACE, seed=3)
    res = run(vw, pop, days=12, sends_per_day=120, start=START, seed=1)
    p = res.logs["propensity"].to_numpy()
    assert np.all((p > 0) & (p <= 1))
    # every send resolved by the last fit was learnt once: nothing decided then is still awaited...
    assert all(key[1] >= (START + pd.Timedelta("8D")).value for key in vw._logged)
    # ...and the learnt policy is better than chance on a dense, stationary population
    s = res.summary(start_day=6)
    u = run(P.VWSquareCB(SPACE, seed=3), pop, days=1, sends_per_day=120, start=START, seed=1).summary()
    assert s["pct_of_oracle"] > u["pct_of_oracle"]
    plan = vw.rank(pop.customers_table().head(5), START + pd.Timedelta("12D"))
    _check_plan(plan, 5)
    again = vw.rank(pop.customers_table().head(5), START + pd.Timedelta("12D"))
    pd.testing.assert_frame_equal(plan, again)  # the pmf and the draws are deterministic
    vw.close()


def test_mabwiser_adapter_plays_a_run() -> None:
    pytest.importorskip("mabwiser")
    P = _peers()
    pop = SCENARIOS["new_customers"].population(SPACE, 100, seed=0, start=START, days=8, zones=("Asia/Tokyo",))
    for clusters in (4, None):
        mab = P.MABWiserThompson(SPACE, seed=2, n_clusters=clusters)
        res = run(mab, pop, days=8, sends_per_day=100, start=START, seed=1)
        assert res.daily["sends"].iloc[-1] > res.daily["sends"].iloc[0]  # arrivals
        _check_plan(mab.rank(pop.customers_table().head(4), START + pd.Timedelta("8D")), 4)


def test_vw_fast_path_gives_the_public_api_pmfs() -> None:
    pytest.importorskip("vowpalwabbit")
    from vowpalwabbit import Workspace

    P = _peers()
    vw = P.VWSquareCB(SPACE, seed=1)
    ref = Workspace(vw.args())
    fast = vw._vw["hour"]
    actions = vw._actions["hour"]
    rng = np.random.default_rng(0)
    for i in range(200):
        shared = f"shared |u id=c{i % 7} z=Asia/Tokyo s={i % 3}"
        a, cost = int(rng.integers(24)), -float(rng.random() < 0.3)
        assert np.allclose(vw._run(fast, [shared] + actions, learn=False), ref.predict([shared] + actions))
        ex = [shared] + actions
        ex[1 + a] = f"0:{cost:g}:0.05 {actions[a]}"
        vw._run(fast, ex, learn=True)
        ref.learn(ex)
    ref.finish()
    vw.close()
