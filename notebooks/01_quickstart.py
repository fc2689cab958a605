# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # channelopt quickstart
#
# Fit a model on the sample response log, look inside it, decide for every customer,
# and report what the log says, with credible intervals.
#
# The sample in `data/samples/` is synthetic (made by `scripts/make_samples.py`, seed 7):
# 2,000 customers in five time zones, 60 days of a uniformly random policy over
# channel, wording and local hour, 50,040 sends. Each customer has a true preferred
# channel, wording and hour, which the simulator can rebuild, so at the end we can
# check what the model got right.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import channelopt as co
from channelopt.inspect import plot
from channelopt.inspect import customer_report, report
from channelopt.sim import make_population

# the sample data, found from the notebook's folder or the repository root
DATA = next(p / "data" / "samples" for p in (Path.cwd(), *Path.cwd().parents) if (p / "data" / "samples").is_dir())
logs = pd.read_parquet(DATA / "logs.parquet")
customers = pd.read_parquet(DATA / "customers.parquet")
print(f"{len(logs):,} sends to {logs['customer_id'].nunique():,} customers, "
      f"{logs['sent_at'].min():%Y-%m-%d} to {logs['sent_at'].max():%Y-%m-%d}")
logs.head()

# %% [markdown]
# ## Fit
#
# The arm space names what is decided: the channel and wording from the log's columns,
# the local send hour and weekday from `sent_at` in each customer's `tz`. A send without a
# reply counts as a failure only once its 72 h response window has closed; `as_of`
# defaults to the latest timestamp in the log, so the last three days are still pending.

# %%
space = co.ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "friendly", "urgent"])
model = co.ChannelModel(space, response_window="72h", half_life="90D", seed=7).fit(logs)
print(model)
print("as of", model.as_of_, model.last_fit_)

# %% [markdown]
# ## Explain a customer
#
# Every arm's Beta posterior: the customer's own (decayed) sends and responses added to the
# prior of their segment (the log's `segment` column), learned by empirical Bayes and shrunk
# toward the population's. With ~25 sends and one or two replies per customer the intervals
# are wide, which is why the model keeps exploring.

# %%
customer = "c-000042"
explained = model.explain(customer)
print("prior of segment", explained.attrs["segment"])
explained[explained["dimension"] == "channel"]

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 5))
plot.customer_posteriors(model, customer, dimensions="channel", kind="density", ax=axes[0])
plot.customer_posteriors(model, customer, dimensions=["wording", "weekday"], ax=axes[1])
fig.tight_layout()

# %% [markdown]
# ## Decide for every customer
#
# `rank` draws one Thompson sample per arm and customer: the channel, wording and local
# hour with the highest draw, the UTC `send_at` of that hour in the customer's zone, and
# the propensity of the channel (log it: it is what offline evaluation needs).

# %%
now = pd.Timestamp("2026-11-23 09:00", tz="UTC")
plan = model.rank(customers, now=now)
print(plan["channel"].value_counts(normalize=True).round(3).to_dict())
plan.head()

# %% [markdown]
# ## Report the log
#
# `report` groups the log by any columns, plus the derived `local_hour` and `weekday`
# (in the customer's zone), with the same pending rule as the model and a Beta
# credible interval (uniform prior) for each rate.

# %%
by_channel = report(logs, by="channel")
print("as of", by_channel.attrs["as_of"])
by_channel

# %%
report(logs, by=["segment", "channel"])[["segment", "channel", "sends", "rate", "ci_low", "ci_high"]]

# %%
plot.response_heatmap(logs);

# %% [markdown]
# ## Per-customer preferences
#
# `customer_report` gives each customer's preferred channel (highest posterior mean), its
# credible interval, the probability that it really is the best channel (Monte Carlo,
# keyed by customer and seed), and the preferred wording, hour and weekday.

# %%
prefs = customer_report(model, seed=7)
prefs.head()

# %% [markdown]
# Against the truth: the preferred channel is right for a share of customers that grows
# with the model's confidence. With this little evidence per customer the segment prior
# still weighs a lot; `prob_best` tells which answers to trust.

# %%
population = make_population(space, 2000, seed=7)
truth = pd.Series(np.asarray(space.channels)[population.best_arm("channel")], index=population.customer_id)
correct = prefs["channel"].astype(str).to_numpy() == truth.reindex(prefs["customer_id"]).to_numpy()
confidence = pd.cut(prefs["prob_best"], [0, 0.4, 0.6, 0.8, 1.0])
pd.DataFrame({"customers": prefs.groupby(confidence, observed=False).size(),
              "share correct": pd.Series(correct).groupby(confidence.to_numpy(), observed=False).mean()})

# %% [markdown]
# ## Calibration on held-out sends
#
# Fit on the sends before 1 November, then compare the posterior mean of each later send's
# channel with what happened (a reply within 72 h). Points near the diagonal mean the
# probabilities can be read as probabilities. The channel posterior alone ignores the hour
# and wording of the send, which also move the rate, so expect scatter around the diagonal
# (each bin's bar is a 90% interval for its observed rate).

# %%
cut = pd.Timestamp("2026-11-01", tz="UTC")
train = logs[logs["sent_at"] < cut]
test = logs[(logs["sent_at"] >= cut) & (logs["sent_at"] < pd.Timestamp("2026-11-17", tz="UTC"))]
held_out = co.ChannelModel(space, response_window="72h", half_life="90D", seed=7).fit(train, as_of=cut)
state = held_out.state_
rows, _ = state.index.rows_of(test["customer_id"])
arm = pd.Categorical(test["channel"], categories=space.channels).codes  # the channel arms come first
k = np.where(rows >= 0, state.responses[rows, arm], 0.0)
n = np.where(rows >= 0, state.sends[rows, arm], 0.0)
prior_a, prior_b = state.prior_tables            # row 0: the population, then one per segment
group = state.prior_groups(rows)                 # each customer's own (segment) prior
predicted = (prior_a[group, arm] + k) / (prior_a[group, arm] + prior_b[group, arm] + n)
observed = ((test["responded_at"] - test["sent_at"]) <= pd.Timedelta("72h")).to_numpy()
plot.calibration(predicted, observed, bins=8);
