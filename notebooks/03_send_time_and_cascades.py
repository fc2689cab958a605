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
# # Send time, contact rules and cascades
#
# A decision is more than a channel: it is a send time in the customer's local time,
# inside a delivery window, under consent, caps and quiet hours -- or a reasoned
# "don't send". When no reply comes, the next channel takes over. This notebook walks
# through all of it on the sample data (`data/samples/`, synthetic, with a known truth).

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import channelopt as co
from channelopt.sim import make_population
from channelopt.policy.slots import slot_tables

DATA = next(p / "data" / "samples" for p in (Path.cwd(), *Path.cwd().parents) if (p / "data" / "samples").is_dir())
logs = pd.read_parquet(DATA / "logs.parquet")
customers = pd.read_parquet(DATA / "customers.parquet")
space = co.ArmSpace(channels=["email", "sms", "push", "whatsapp"], wordings=["plain", "friendly", "urgent"])
model = co.ChannelModel(space, seed=7).fit(logs)
now = model.as_of_.floor("h") + pd.Timedelta("1h")
print(model, "\ndecisions at", now)

# %% [markdown]
# ## Send slots in local time
#
# Between `now` and the deadline (24 h by default) a customer's candidate send times are
# the local clock hours the window spans; the first starts at `now` itself. They come from
# the zone's rules, so the hour a spring-forward day skips has no slot and the hour a
# fall-back day repeats has two.

# %%
zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo"]
start, end, hour, weekday, n = slot_tables(now.value, now.value + 24 * 3600 * 10**9, zones)
for z, zone in enumerate(zones):
    print(f"{zone:18s} {n[z]} slots, local hours {hour[z, :n[z]].tolist()}")
spring = pd.Timestamp("2026-03-28 12:00", tz="UTC")
_, _, h, _, k = slot_tables(spring.value, spring.value + 24 * 3600 * 10**9, ["Europe/Paris"])
print("Paris, the day clocks spring forward: local 02:00 has no slot:", 2 not in h[0, :k[0]])

# %% [markdown]
# ## Does `send_at` land in the customer's best hour?
#
# Each sample customer has a true preferred local hour. The model samples a (weekday,
# hour) slot by Thompson sampling, so with 25 sends per customer it is still exploring;
# the share of decisions in the true best hour (or next to it) is well above chance.

# %%
population = make_population(space, 2000, seed=7)
best_hour = pd.Series(population.best_arm("hour"), index=population.customer_id)
decisions = model.rank(customers, now=now)
local_hour = pd.Series([t.tz_convert(z).hour for t, z in zip(decisions["send_at"], customers["tz"])])
true = best_hour.reindex(decisions["customer_id"]).to_numpy()
off = np.abs((local_hour.to_numpy() - true + 12) % 24 - 12)
print(f"send_at in the true best local hour: {np.mean(off == 0):.1%} (chance {1 / 24:.1%}); "
      f"within 1 h: {np.mean(off <= 1):.1%} (chance {3 / 24:.1%})")
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(off, bins=np.arange(14) - 0.5)
ax.set_xlabel("hours between send_at's local hour and the true best hour")
ax.set_ylabel("customers")

# %% [markdown]
# ## Contact rules
#
# A model with no `ContactPolicy` applies no rules at all. Given a policy, consent is
# default-deny (here it comes from the customers table's `consent_<channel>` columns),
# caps and the minimum gap are counted from the sends the model has seen, quiet hours
# apply per channel in local time, and a value per response against a cost per channel
# turns unprofitable sends into holds.

# %%
policy = co.ContactPolicy(quiet_hours={"sms": (21, 8)}, caps=[co.Cap(3, "7D"), co.Cap(1, "1D", channel="sms")],
                          min_gap="12h", value=1.0, cost={"sms": 0.05, "whatsapp": 0.02})
ruled = model.rank(customers, now=now, policy=policy)
print(ruled["hold_reason"].astype(object).fillna("sent").value_counts().to_string())
consent = customers.set_index("customer_id")
sent = ruled.dropna(subset=["channel"])
ok = [bool(consent.loc[c, f"consent_{ch}"]) for c, ch in zip(sent["customer_id"], sent["channel"].astype(str))]
print("every send has consent:", all(ok))
sms = sent[sent["channel"] == "sms"]
sms_hours = [t.tz_convert(consent.loc[c, "tz"]).hour for t, c in zip(sms["send_at"], sms["customer_id"])]
print("no SMS in quiet hours:", all(8 <= h < 21 for h in sms_hours))

# %% [markdown]
# Capacity: at most 100 WhatsApp messages today; the best-scoring customers keep it, the
# others are decided again without it.

# %%
capped = model.rank(customers, now=now, policy=policy, capacity={"whatsapp": 100})
print(capped["channel"].astype(object).fillna("hold").value_counts().to_string())

# %% [markdown]
# ## One customer, as a service sees it
#
# `explain` shows the posterior of every arm and, on channel rows, the consent, the first
# time caps allow the channel, its quiet hours and its reply-latency quantiles.

# %%
cid = customers["customer_id"].iloc[0]
model.update_consent(cid, granted=[c for c in space.channels if consent.loc[cid, f"consent_{c}"]])
ex = model.explain(cid, now=now, policy=policy)
ex[ex["dimension"] == "channel"][["arm", "mean", "ci_low", "ci_high", "consent", "available_from", "quiet_hours",
                                   "reply_latency_p50", "reply_latency_p80"]]

# %%
d = model.choose_channel(cid, now=now, policy=policy)
print(d)
if d.channel is not None:
    model.record_send(cid, d.channel, at=d.send_at)
    again = model.choose_channel(cid, now=d.send_at + pd.Timedelta("1h"), policy=policy)
    print("an hour after that send:", again.channel, again.hold_reason, again.send_at)

# %% [markdown]
# ## Cascades
#
# No reply by the channel's 80% reply-latency quantile? Move to the next channel. The
# latency distribution per channel is learned from the log.

# %%
print(model.reply_latency(quantiles=(0.5, 0.8, 0.95)))
other = customers["customer_id"].iloc[1]
plan = model.plan_cascade(other, now=now, max_steps=3, consent=space.channels)
plan.to_frame()

# %% [markdown]
# Does escalating pay? With the simulator's truth: for each customer, the chance of a reply
# within 48 h from the plan's steps (each step's true reply probability, counted only if
# its reply delay fits before 48 h) against one send on the first channel.

# %%
rng = np.random.default_rng(0)
sample = customers.sample(300, random_state=0)
one, cascade = [], []
for c in sample["customer_id"]:
    plan = model.plan_cascade(c, now=now, max_steps=3, consent=space.channels)
    row = population.rows_of([c])
    p_none, first = 1.0, None
    for s in plan.steps:
        if s.channel is None or s.send_at > now + pd.Timedelta("48h"):
            break
        ch = space.channels.index(s.channel)
        w = space.wordings.index(s.wording)
        h, wd = population.local_time(row, [s.send_at])
        p = float(population.response_prob(row, [ch], [w], h, wd)[0])
        median = population.delay_median_s[row[0], ch]
        budget = (now + pd.Timedelta("48h") - s.send_at).total_seconds()
        p_fast = p * float(np.mean(median * np.exp(population.delay_sigma * rng.standard_normal(200)) <= budget))
        first = p_fast if first is None else first
        p_none *= 1 - p_fast
    one.append(first or 0.0)
    cascade.append(1 - p_none)
print(f"reply within 48 h: one send {np.mean(one):.2%}, cascade of up to 3 {np.mean(cascade):.2%}")
