"""Policies: ChannelModel and the baselines on one Policy base; contact rules, send slots, cascades."""
