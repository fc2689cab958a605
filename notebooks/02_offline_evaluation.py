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
# # Offline evaluation: simulate, compare policies, estimate off-policy
#
# Before a policy talks to customers: how would it have done on our own logs, and how
# sure are we? On a simulated population the truth is known, so we can check the
# estimates against it.
#
# 1. Play `ChannelModel` and baselines against the same population with daily retraining.
# 2. On a uniformly random log, estimate a candidate model's value with IPS, SNIPS and DR,
#    with bootstrap intervals, and compare with its true value.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import channelopt as co
from channelopt import sim as simulate
from channelopt.inspect import plot
from channelopt.policy import baselines
from channelopt.evaluation import evaluate, replay

space = co.ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "friendly"], weekdays=False)
population = simulate.make_population(space, 1500, seed=3, switch_share=0.1, switch_window=("2026-01-10", "2026-01-25"),
                                     fatigue=0.05)
population

# %% [markdown]
# ## Policies against the same customers
#
# Every run starts with the same day of uniform exploration, then each policy decides for
# 150 random customers a day and is retrained every night on what it has seen (replies
# after the decision time stay hidden). The oracle knows the truth.

# %%
policies = {
    "ChannelModel": co.ChannelModel(space, seed=1),
    "per-customer TS, flat prior": baselines.FlatThompson(space, seed=1),
    "one bandit for everyone": baselines.PooledThompson(space, seed=1),
    "uniform random": baselines.UniformRandom(space, seed=1),
    "email at 10:00": baselines.FixedChannel(space, channel="email", hour=10),
}
results = {name: simulate.run(p, population, days=21, sends_per_day=150, seed=5) for name, p in policies.items()}
summary = pd.DataFrame({name: {"response rate": r.daily["responses"].sum() / r.daily["sends"].sum(),
                               "% of oracle (last week)": r.daily["pct_of_oracle"].tail(7).mean(),
                               "unsubscribe rate": r.daily["unsubscribe_rate"].mean()}
                        for name, r in results.items()}).T
summary.round(3)

# %%
ax = plot.policy_curves({name: r.daily for name, r in results.items()})
ax.set_title("% of the oracle's expected replies, by day")

# %% [markdown]
# ## Off-policy evaluation on a uniformly random log
#
# The logging policy picks every (channel, wording, hour) uniformly and logs the
# probability of its whole decision. A model fitted on the first two weeks is the
# candidate; the last week is the evaluation traffic.

# %%
logging = simulate.UniformPolicy(space, seed=2, propensity="decision")
logs = simulate.simulate_logs(population, logging, start="2026-03-02", days=28, sends_per_day=400, seed=4)
split = pd.Timestamp("2026-03-16", tz="UTC")
candidate = co.ChannelModel(space, seed=9).fit(simulate.censor(logs[logs["sent_at"] < split], split), as_of=split)
later = logs[logs["sent_at"] >= split]
estimates = evaluate(later, candidate, as_of=later["sent_at"].max() + pd.Timedelta("72h"), n_boot=300, seed=0)
estimates

# %% [markdown]
# The truth: the candidate's own decisions for those customers at those times, scored by
# the simulator's true reply probabilities (the same estimand as `evaluate`: the model's
# channel, wording and local hour for each logged send).

# %%
rows = population.rows_of(later["customer_id"])
truth = []
for day, part in later.groupby(later["sent_at"].dt.floor("D")):
    plan = candidate.rank(part[["customer_id"]].drop_duplicates(), now=day, propensity=False)
    plan = plan.set_index("customer_id").loc[part["customer_id"]]
    r = population.rows_of(plan.index)
    ch = plan["channel"].cat.codes.to_numpy()
    w = plan["wording"].cat.codes.to_numpy()
    hour, wd = population.local_time(r, plan["send_at"])
    truth.append(population.response_prob(r, ch, w, hour, wd))
true_value = float(np.mean(np.concatenate(truth)))
print(f"true value of the candidate: {true_value:.4f}; logging policy's reply rate: "
      f"{later['responded_at'].notna().mean():.4f}")
estimates.assign(covers_truth=(estimates["ci_low"] <= true_value) & (true_value <= estimates["ci_high"]))

# %% [markdown]
# `replay` keeps only the logged sends where the candidate's decision matches the logged
# one (here on the channel alone, as the joint action rarely matches): an unbiased but
# data-hungry estimate on uniformly random logs.

# %%
replay(later, candidate, dimensions=("channel",))
