"""The bottom layer: value types every other layer uses (arm space, configuration, decisions, clock).

Nothing here imports another channelopt layer.
"""
