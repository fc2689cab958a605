"""The command line (channelopt.apps.cli) and the demo, run in-process on small generated logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import channelopt as co
from channelopt.apps import demo, jobs
from channelopt.apps.cli import main
from conftest import model_file

AS_OF = "2026-10-20"
NOW = "2026-11-02 09:30"
WINDOW = pd.Timedelta("72h")


def make_logs(n: int = 400, n_customers: int = 40, seed: int = 0, int_ids: bool = False) -> pd.DataFrame:
    """A response log over October 2026; some replies come after the 72 h window."""
    rng = np.random.default_rng(seed)
    sent = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s")
    channel = rng.choice(["sms", "email", "push"], n)
    replied = rng.random(n) < np.where(channel == "sms", 0.4, 0.1)
    delay = pd.to_timedelta(rng.integers(60, 100 * 3600, n), unit="s")
    ids = rng.integers(0, n_customers, n)
    return pd.DataFrame({
        "customer_id": ids if int_ids else [f"c-{i}" for i in ids],
        "sent_at": sent,
        "channel": channel,
        "wording": rng.choice(["plain", "friendly"], n),
        "responded_at": pd.Series(sent + delay).where(replied),
        "tz": rng.choice(["Europe/Paris", "America/New_York", "UTC"], n),
        "event_id": np.arange(n),
    })


def expected_counts(logs: pd.DataFrame, as_of: str) -> dict[str, int]:
    """The ingestion rule of channelopt.state.store, computed by hand for a fit from scratch."""
    t = pd.Timestamp(as_of, tz="UTC")
    kept = logs["sent_at"] <= t
    in_window = logs["responded_at"].notna() & (logs["responded_at"] - logs["sent_at"] <= WINDOW)
    resolved = logs["sent_at"] + WINDOW  # every send resolves when its window closes (resolve="window")
    counted = kept & (resolved <= t)
    return {"counted": int(counted.sum()), "responses": int((counted & in_window).sum()),
            "pending": int((kept & (resolved > t)).sum()), "after_as_of": int((~kept).sum())}


def _write_inputs(d: Path) -> dict[str, Path]:
    logs = make_logs()
    logs.to_parquet(d / "logs.parquet", index=False)
    customers = pd.DataFrame({"customer_id": [f"c-{i}" for i in range(50)],  # 10 never seen
                              "tz": ["Europe/Paris"] * 25 + [None] * 25, "segment": "a",
                              "consent_sms": True, "consent_email": True, "consent_push": False})
    customers.to_parquet(d / "customers.parquet", index=False)
    return {"logs": d / "logs.parquet", "customers": d / "customers.parquet",
            "model": d / "model", "out": d / "out" / "decisions.parquet", "dir": d}


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """Fresh inputs in tmp_path, no model yet."""
    return _write_inputs(tmp_path)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs plus a model fitted at AS_OF, shared by the tests that only read them."""
    d = tmp_path_factory.mktemp("fitted")
    paths = _write_inputs(d)
    jobs.fit_model(str(paths["logs"]), paths["model"], as_of=AS_OF)
    logs = make_logs()
    logs.drop(columns="responded_at").to_parquet(d / "no_responded.parquet", index=False)
    logs.drop(columns="channel").to_parquet(d / "no_channel.parquet", index=False)
    return paths


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fit(capsys, files, *extra):
    return run(capsys, "fit", "--logs", files["logs"], "--model", files["model"], *extra)


# -- the happy path ---------------------------------------------------------------------------------


def test_fit_counts_follow_the_ingestion_rule_and_infer_the_arm_space(capsys, files):
    code, out, err = fit(capsys, files, "--as-of", AS_OF, "--seed", 3)
    assert (code, err) == (0, "")  # no progress bar when stderr is not a terminal
    want = expected_counts(make_logs(), AS_OF)
    assert want["pending"] > 0 and want["after_as_of"] > 0  # the fixture exercises both
    assert (f"Fitted 400 log rows as of 2026-10-20 00:00:00+00:00: {want['counted']} counted "
            f"({want['responses']} responses), {want['pending']} pending") in out
    assert f"{want['after_as_of']} sent after as_of" in out
    assert (files["model"] / "CURRENT").is_file()
    model = co.load(files["model"])
    assert model.space.channels == ("email", "push", "sms")  # distinct values, sorted
    assert model.space.wordings == ("friendly", "plain")
    assert model.seed == 3 and model.as_of_ == pd.Timestamp(AS_OF, tz="UTC")
    assert {k: model.last_fit_[k] for k in want} == want
    assert f"knows {model.state_.n_customers} customers" in out


def test_fit_flags_shape_the_model(capsys, files):
    code, out, err = fit(capsys, files, "--channels", "sms,email,push", "--wordings", "", "--no-weekdays",
                         "--response-window", "24h", "--half-life", "none", "--default-tz", "Europe/Paris")
    assert (code, err) == (0, "")
    model = co.load(files["model"])
    assert model.space.channels == ("sms", "email", "push")  # the order given
    assert model.space.wordings == () and model.space.dimensions == ("channel", "hour")
    assert model.config.response_window == pd.Timedelta("24h") and model.config.half_life is None
    assert model.config.default_tz == "Europe/Paris"


def test_fit_reads_csv_and_infers_without_wording_column(capsys, files):
    path = files["dir"] / "logs.csv"
    make_logs().drop(columns="wording").to_csv(path, index=False)
    code, out, err = run(capsys, "fit", "--logs", path, "--model", files["model"], "--as-of", AS_OF)
    assert (code, err) == (0, "")
    model = co.load(files["model"])
    assert model.space.channels == ("email", "push", "sms") and model.space.wordings == ()
    assert model.last_fit_["counted"] == expected_counts(make_logs(), AS_OF)["counted"]


def test_rank_writes_the_decisions_of_the_saved_model(capsys, fitted, tmp_path):
    files = {**fitted, "out": tmp_path / "out" / "decisions.parquet"}
    code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                         "--out", files["out"], "--now", NOW)
    assert (code, err) == (0, "")
    written = pd.read_parquet(files["out"])
    expected = co.load(files["model"]).rank(pd.read_parquet(files["customers"]), now=NOW)
    pd.testing.assert_frame_equal(written, expected, check_categorical=False)
    assert len(written) == 50 and written["propensity"].between(0, 1, inclusive="right").all()
    assert out.startswith(f"Wrote 50 decisions to {files['out']}.")
    for channel, count in written["channel"].astype(str).value_counts().items():
        assert any(line.split()[:2] == [channel, str(count)] for line in out.splitlines())


def test_rank_csv_top_k_and_no_propensity(capsys, fitted, tmp_path):
    files = fitted
    out_csv = tmp_path / "d.csv"
    code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                         "--out", out_csv, "--now", NOW, "--top-k", 5, "--no-propensity")
    assert (code, err) == (0, "")
    written = pd.read_csv(out_csv)
    full = co.load(files["model"]).rank(pd.read_parquet(files["customers"]), now=NOW)
    best = full.sort_values("score", ascending=False, kind="stable").head(5)
    assert written["customer_id"].tolist() == best["customer_id"].tolist()
    assert written["channel"].tolist() == best["channel"].astype(str).tolist()
    assert written["propensity"].isna().all()


def test_rank_with_a_policy_capacity_and_chunks(capsys, fitted, tmp_path):
    files = fitted
    customers = pd.read_parquet(files["customers"])
    policy_file = tmp_path / "policy.json"
    policy_file.write_text('{"caps": [{"max_messages": 2, "window": "7D"}], "min_gap": "1h"}')
    model = co.load(files["model"])
    for spec, policy in (("default", co.ContactPolicy()), (policy_file, co.ContactPolicy(caps=[co.Cap(2, "7D")],
                                                                                         min_gap="1h"))):
        out_file = tmp_path / "ruled.parquet"
        code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                             "--out", out_file, "--now", NOW, "--policy", spec, "--chunk-rows", 7)
        assert (code, err) == (0, "")
        written = pd.read_parquet(out_file)
        expected = model.rank(customers, now=NOW, policy=policy)
        pd.testing.assert_frame_equal(written, expected, check_categorical=False)
        # consent_push is False for everyone: push is never chosen; holds are reported with their reason
        assert "push" not in set(written["channel"].dropna().astype(str))
        for reason, count in written["hold_reason"].dropna().astype(str).value_counts().items():
            assert any(line.split()[:3] == ["hold:", reason, str(count)] for line in out.splitlines())
    out_csv = tmp_path / "cap.csv"
    code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                         "--out", out_csv, "--now", NOW, "--capacity", "sms=3,email=2", "--budget", 20)
    assert (code, err) == (0, "")
    written = pd.read_csv(out_csv)
    assert len(written) == 20
    assert (written["channel"] == "sms").sum() <= 3 and (written["channel"] == "email").sum() <= 2
    code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                         "--out", out_csv, "--capacity", "sms", "--now", NOW)
    assert code == 2 and "--capacity: expected CHANNEL=N" in err
    code, out, err = run(capsys, "rank", "--model", files["model"], "--customers", files["customers"],
                         "--out", out_csv, "--policy", tmp_path / "none.json", "--now", NOW)
    assert code == 2 and "--policy: no such file" in err


def test_explain_prints_every_arm(capsys, fitted):
    files = fitted
    code, out, err = run(capsys, "explain", "--model", files["model"], "--customer", "c-3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    model = co.load(files["model"])
    assert lines[0].startswith("Customer 'c-3' as of 2026-10-20")
    assert len(lines) == 2 + model.space.n_arms  # header line, column names, one line per arm
    table = model.explain("c-3")
    sms = next(line.split() for line in lines if line.split()[:2] == ["channel", "sms"])
    assert float(sms[2]) == pytest.approx(table.loc[table["arm"] == "sms", "sends"].item(), rel=1e-3)
    code, out, _ = run(capsys, "explain", "--model", files["model"], "--customer", "nobody")
    assert code == 0 and "not in the model: showing the population prior" in out


def test_explain_parses_integer_ids_with_the_models_id_kind(capsys, files):
    make_logs(int_ids=True).to_parquet(files["logs"], index=False)
    assert fit(capsys, files, "--as-of", AS_OF)[0] == 0
    assert co.load(files["model"]).state_.index.kind == "int"
    code, out, err = run(capsys, "explain", "--model", files["model"], "--customer", "7")
    assert (code, err) == (0, "") and out.startswith("Customer 7 as of")
    code, out, err = run(capsys, "explain", "--model", files["model"], "--customer", "c-7")
    assert code == 2 and err == "channelopt: error: --customer: this model's ids are integers, got 'c-7'\n"


# -- idempotence --------------------------------------------------------------------------------------


def test_partial_on_the_same_logs_and_as_of_is_a_no_op(capsys, files):
    assert fit(capsys, files, "--as-of", AS_OF)[0] == 0
    before = co.load(files["model"])
    sends, responses = np.array(before.state_.sends), np.array(before.state_.responses)
    code, out, err = fit(capsys, files, "--as-of", AS_OF, "--partial")
    assert (code, err) == (0, "")
    assert out.startswith("Added 400 log rows as of 2026-10-20 00:00:00+00:00: 0 counted (0 responses)")
    after = co.load(files["model"])
    np.testing.assert_array_equal(after.state_.sends, sends)
    np.testing.assert_array_equal(after.state_.responses, responses)


def test_partial_at_a_later_as_of_matches_one_fit(capsys, files):
    assert fit(capsys, files, "--as-of", AS_OF)[0] == 0
    code, out, _ = fit(capsys, files, "--as-of", "2026-11-10", "--partial")
    first = expected_counts(make_logs(), AS_OF)["counted"]
    total = expected_counts(make_logs(), "2026-11-10")["counted"]
    assert code == 0 and f": {total - first} counted" in out
    partial = co.load(files["model"])
    whole = co.ChannelModel(partial.space).fit(make_logs(), as_of="2026-11-10")
    assert partial.state_.n_customers == whole.state_.n_customers
    rows = whole.state_.index.rows_of(pd.Series(partial.state_.index.ids()))[0]
    np.testing.assert_allclose(partial.state_.sends, whole.state_.sends[rows], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(partial.state_.responses, whole.state_.responses[rows], rtol=1e-5, atol=1e-6)


# -- bad input: exit code 2, exactly one line ---------------------------------------------------------


def _bad_cases(files: dict[str, Path], d: Path) -> dict[str, tuple[list[object], str]]:
    """argv and the expected message; inputs from ``files``, anything written would go to ``d``."""
    src = files["dir"]
    return {
        "missing column": (["fit", "--logs", src / "no_responded.parquet", "--model", d / "m2"],
                           "logs: missing required column 'responded_at'"),
        "missing channel column": (["fit", "--logs", src / "no_channel.parquet", "--model", d / "m2"],
                                   "logs: missing required column 'channel'"),
        "unknown model dir": (["rank", "--model", d / "nope", "--customers", files["customers"], "--out",
                               d / "x.parquet"], "not a saved model (no manifest.json)"),
        "unknown model dir (explain)": (["explain", "--model", d / "nope", "--customer", "c-1"],
                                        "not a saved model (no manifest.json)"),
        "bad --as-of": (["fit", "--logs", files["logs"], "--model", d / "m2", "--as-of", "next tuesday"],
                        "--as-of: cannot parse 'next tuesday' as a timestamp"),
        "bad --now": (["rank", "--model", files["model"], "--customers", files["customers"], "--out",
                       d / "x.parquet", "--now", "soon"], "--now: cannot parse 'soon' as a timestamp"),
        "missing logs": (["fit", "--logs", d / "none.parquet", "--model", d / "m2"], "no Parquet or CSV file"),
        "missing customers": (["rank", "--model", files["model"], "--customers", d / "none.parquet", "--out",
                               d / "x.parquet"], "customers: no such file or directory"),
        "bad --out": (["rank", "--model", files["model"], "--customers", files["customers"], "--out",
                       d / "x.json"], "must end in .parquet or .csv"),
        "unknown channel": (["fit", "--logs", files["logs"], "--model", d / "m2", "--channels", "sms,email"],
                            "column 'channel': unknown value 'push'"),
        "bad --top-k": (["rank", "--model", files["model"], "--customers", files["customers"], "--out",
                         d / "x.parquet", "--top-k", "many"], "argument --top-k: invalid int value: 'many'"),
        "unknown flag": (["fit", "--logs", files["logs"], "--model", d / "m2", "--bogus"],
                         "unrecognized arguments: --bogus"),
        "no command": ([], "the following arguments are required: COMMAND"),
        "bad duration": (["fit", "--logs", files["logs"], "--model", d / "m2", "--half-life", "forever"],
                         "half_life: cannot parse 'forever' as a duration"),
        "partial changes the seed": (["fit", "--logs", files["logs"], "--model", files["model"], "--partial",
                                      "--seed", "9"], "--seed: the saved model has seed 0"),
        "partial changes the channels": (["fit", "--logs", files["logs"], "--model", files["model"], "--partial",
                                          "--channels", "sms,email"], "--channels: the saved model has channels"),
        "partial without a model": (["fit", "--logs", files["logs"], "--model", d / "m3", "--partial"],
                                    "not a saved model (no manifest.json)"),
    }


CASES = ["missing column", "missing channel column", "unknown model dir", "unknown model dir (explain)",
         "bad --as-of", "bad --now", "missing logs", "missing customers", "bad --out", "unknown channel",
         "bad --top-k", "unknown flag", "no command", "bad duration", "partial changes the seed",
         "partial changes the channels", "partial without a model"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(capsys, fitted, tmp_path, case):
    manifest = (fitted["model"] / "CURRENT").read_bytes() + model_file(fitted["model"]).read_bytes()
    argv, message = _bad_cases(fitted, tmp_path)[case]
    code, out, err = run(capsys, *argv)
    assert (fitted["model"] / "CURRENT").read_bytes() + model_file(fitted["model"]).read_bytes() == manifest
    assert not (tmp_path / "m2").exists() and not list(tmp_path.glob("*.parquet"))
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("channelopt: error: ")
    assert message in lines[0]
    assert "Traceback" not in err


def test_unexpected_error_exits_2_with_one_line(capsys, fitted, monkeypatch):
    files = fitted
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs, "load", broken)
    code, out, err = run(capsys, "explain", "--model", files["model"], "--customer", "c-1")
    assert code == 2
    assert err == ("channelopt: error: unexpected RuntimeError: disk on fire "
                   "(set CHANNELOPT_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("CHANNELOPT_DEBUG", "1")
    code, out, err = run(capsys, "explain", "--model", files["model"], "--customer", "c-1")
    assert code == 2 and "Traceback (most recent call last)" in err and "RuntimeError: disk on fire" in err


# -- help ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["fit"], ["rank"], ["explain"]])
def test_help_shows_an_example(capsys, command):
    code, out, err = run(capsys, *command, "--help")
    assert code == 0 and err == ""
    assert "Example" in out and f"channelopt {command[0] if command else 'fit'} --" in out


@pytest.mark.slow
def test_python_dash_m_channelopt_help():
    proc = subprocess.run([sys.executable, "-m", "channelopt", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout and "fit" in proc.stdout


# -- the demo -----------------------------------------------------------------------------------------


def test_response_rates_per_channel():
    logs = make_logs()
    rates = demo.response_rates(logs).set_index("channel")
    for channel, group in logs.groupby("channel"):
        assert rates.loc[channel, "sends"] == len(group)
        assert rates.loc[channel, "responses"] == group["responded_at"].notna().sum()
    assert rates["rate"].is_monotonic_decreasing and rates.index[0] == "sms"  # sms replies 4x as often


def test_demo_runs_end_to_end_and_is_idempotent(capsys, files):
    samples, out = files["dir"], files["dir"] / "demo"
    assert demo.main(["--samples", str(samples), "--out", str(out)]) == 0
    first = capsys.readouterr().out
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert len(decisions) == 50 and (out / "model" / "CURRENT").is_file()
    for r in demo.response_rates(make_logs()).itertuples():
        assert any(line.split()[:3] == [r.channel, str(r.sends), str(r.responses)] for line in first.splitlines())
    assert f"Decisions written to {out / 'decisions.parquet'}" in first
    assert f"Model written to     {out / 'model'}" in first
    assert demo.main(["--samples", str(samples), "--out", str(out)]) == 0
    assert capsys.readouterr().out == first
    pd.testing.assert_frame_equal(pd.read_parquet(out / "decisions.parquet"), decisions)


def test_demo_without_samples_exits_2(capsys, tmp_path):
    assert demo.main(["--samples", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("channelopt.apps.demo: error: ") and "make samples" in err
