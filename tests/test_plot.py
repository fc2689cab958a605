"""channelopt.inspect.plot on the Agg backend: the content of the returned Axes, not pixels."""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from channelopt.inspect import plot  # noqa: E402
from channelopt.inspect.reports import report  # noqa: E402

from conftest import CHANNELS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_heatmap_array_is_the_reports_rates(logs):
    ax = plot.response_heatmap(logs, as_of="2026-04-10")
    rep = report(logs, by=["channel", "local_hour"], as_of="2026-04-10")
    expected = np.full((len(CHANNELS), 24), np.nan)
    rows = {c: i for i, c in enumerate(sorted(CHANNELS))}
    for ch, hour, rate in rep[["channel", "local_hour", "rate"]].itertuples(index=False):
        expected[rows[ch], hour] = rate
    got = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(expected).any() and (~np.isnan(expected)).sum() == len(rep)
    assert ax.get_xlabel() == "local hour" and ax.get_ylabel() == "channel"
    assert [t.get_text() for t in ax.get_yticklabels()] == sorted(CHANNELS)
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar


def test_heatmap_channel_order_and_given_axes(logs):
    fig, ax = plt.subplots()
    out = plot.response_heatmap(logs, channels=["sms", "push", "email", "voice"], ax=ax)
    assert out is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sms", "push", "email", "voice"]
    assert np.ma.getmaskarray(ax.images[0].get_array())[3].all()  # no voice sends: a blank row
    with pytest.raises(ValueError, match=r"channels: the log has channel 'push', not in \['sms', 'email'\]"):
        plot.response_heatmap(logs, channels=["sms", "email"])


def test_customer_posteriors_intervals(fitted_model, space):
    ax = plot.customer_posteriors(fitted_model, "c-003")
    n_dims = len(space.dimensions)
    assert len(ax.lines) == 2 * n_dims and len(ax.collections) == n_dims
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == space.n_arms and labels[0] == "channel: email" and labels[-1] == "weekday: Sun"
    ex = fitted_model.explain("c-003")
    means = np.concatenate([ax.lines[2 * k].get_xdata() for k in range(n_dims)])
    np.testing.assert_allclose(means, ex["mean"])
    segments = np.concatenate([np.asarray(c.get_segments())[:, :, 0] for c in ax.collections])
    np.testing.assert_allclose(segments, ex[["ci_low", "ci_high"]].to_numpy())


def test_customer_posteriors_densities(fitted_model):
    ax = plot.customer_posteriors(fitted_model, "c-003", dimensions="channel", kind="density", level=0.8)
    ex = fitted_model.explain("c-003")
    ch = ex[ex["dimension"] == "channel"]
    assert [line.get_label() for line in ax.lines] == list(CHANNELS)
    for line, (a, b) in zip(ax.lines, ch[["alpha", "beta"]].itertuples(index=False)):
        np.testing.assert_allclose(line.get_ydata(), stats.beta.pdf(line.get_xdata(), a, b))
    assert ax.get_xlabel() == "response probability"
    two = plot.customer_posteriors(fitted_model, "c-003", dimensions=["channel", "wording"], kind="density")
    assert len(two.lines) == 5 and two.lines[3].get_label() == "wording: plain"


def test_customer_posteriors_errors(fitted_model):
    with pytest.raises(ValueError, match=r"dimensions: the model has no dimension 'voice' \(have channel, wording"):
        plot.customer_posteriors(fitted_model, "c-003", dimensions=["voice"])
    with pytest.raises(ValueError, match=r"kind: expected 'interval' or 'density', got 'violin'"):
        plot.customer_posteriors(fitted_model, "c-003", kind="violin")


def _daily(policy_rates):
    return {name: pd.DataFrame({"day": np.arange(len(r)), "pct_of_oracle": r, "regret": np.full(len(r), 2.0)})
            for name, r in policy_rates.items()}


def test_policy_curves_from_a_dict_and_a_long_frame():
    daily = _daily({"uniform": [30.0, 31.0, 29.0], "model": [30.0, 55.0, 70.0]})
    ax = plot.policy_curves(daily)
    assert [line.get_label() for line in ax.lines] == ["uniform", "model"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [30.0, 55.0, 70.0])
    assert ax.get_xlabel() == "day" and ax.get_ylabel() == "% of oracle response rate"
    long = pd.concat([f.assign(policy=n) for n, f in daily.items()]).sample(frac=1.0, random_state=0)
    ax2 = plot.policy_curves(long.sort_values("policy", ascending=False))
    assert [line.get_label() for line in ax2.lines] == ["uniform", "model"]
    np.testing.assert_array_equal(ax2.lines[1].get_xdata(), [0, 1, 2])  # sorted by day
    np.testing.assert_array_equal(ax2.lines[1].get_ydata(), [30.0, 55.0, 70.0])


def test_regret_curves_are_cumulative_by_default():
    daily = _daily({"a": [1.0, 1.0, 1.0, 1.0]})
    ax = plot.policy_curves(daily, metric="regret")
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [2.0, 4.0, 6.0, 8.0])
    assert ax.get_ylabel() == "cumulative regret"
    ax = plot.policy_curves(daily, metric="regret", cumulative=False)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [2.0, 2.0, 2.0, 2.0])


def test_policy_curves_errors():
    with pytest.raises(ValueError, match=r"daily: missing column 'response_rate' \(columns present: day, "):
        plot.policy_curves(_daily({"a": [1.0]}), metric="response_rate")
    with pytest.raises(ValueError, match=r"daily: a single frame needs a 'policy' column"):
        plot.policy_curves(pd.DataFrame({"day": [0], "pct_of_oracle": [1.0]}))
    with pytest.raises(ValueError, match=r"daily: the value for policy 'a' is a list, not a DataFrame"):
        plot.policy_curves({"a": [1, 2]})


def test_calibration_bins_by_hand():
    predicted = [0.05, 0.10, 0.15, 0.55, 0.65, 0.95]
    observed = [0, 0, 1, 1, 0, True]
    ax = plot.calibration(predicted, observed, bins=2, strategy="uniform", level=0.8)
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[0.1, 1 / 3], [(0.55 + 0.65 + 0.95) / 3, 2 / 3]])
    lo_hi = np.asarray(ax.collections[0].get_segments())[:, :, 1]
    np.testing.assert_allclose(lo_hi[0], stats.beta.ppf([0.1, 0.9], 2, 3))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), ax.lines[0].get_ydata())  # the diagonal
    assert ax.get_xlabel() == "predicted response probability" and ax.get_ylabel() == "observed response rate"


def test_calibration_quantile_bins_have_equal_counts():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.0, 0.1, 1000)
    y = rng.random(1000) < p
    table = plot._calibration_bins(p, y, 5, "quantile", 0.9)
    assert table["count"].tolist() == [200] * 5
    np.testing.assert_allclose(table["observed"], table["predicted"], atol=0.04)  # calibrated by construction
    ax = plot.calibration(p, y, bins=5)
    assert len(ax.lines[1].get_xdata()) == 5


@pytest.mark.parametrize("args, kwargs, message", [
    (([0.1, 1.2], [0, 1]), {}, r"predicted: value 1.2 at position 1 is not in \[0, 1\]"),
    (([0.1, 0.2], [0, np.nan]), {}, r"observed: value nan at position 1 is not in \[0, 1\]"),
    (([0.1, 0.2], [0, 1, 1]), {}, r"observed: expected 2 values \(as many as predicted\), got 3"),
    (([], []), {}, r"predicted: no values"),
    (([0.1], [1]), {"bins": 0}, r"bins: must be an integer >= 1, got 0"),
    (([0.1], [1]), {"strategy": "kmeans"}, r"strategy: expected 'uniform' or 'quantile', got 'kmeans'"),
])
def test_calibration_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot.calibration(*args, **kwargs)


def test_clear_import_error_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"channelopt.inspect.plot needs matplotlib.*pip install 'channelopt\[plot\]'"):
        plot.policy_curves({"a": pd.DataFrame({"day": [0], "pct_of_oracle": [1.0]})})
