"""The logged rows an off-policy evaluation uses: resolved by ``as_of`` and encoded as the model encodes them.

A row counts once its whole response window has passed (``sent_at +
response_window <= as_of``); later rows are *pending* and dropped (keeping the
early replies of recent sends while dropping their still-silent siblings would
bias the value upward). Its reward is 1 for a reply within the window without
an unsubscription or complaint, else 0. Rows without their own ``tz`` take the
local hour and weekday of ``sent_at`` in the zone the model learned for the
customer. :func:`fitted_state` and :func:`dimension_indices` check the model
and the evaluated dimensions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from channelopt.data.schema import EncodedLogs, encode_logs
from channelopt.data.sources import read_table
from channelopt.data.tz import NAT, as_utc_timestamp, local_hour_weekday

if TYPE_CHECKING:  # pragma: no cover
    from channelopt.state.store import PosteriorStore

__all__ = ["Resolved", "dimension_indices", "fitted_state"]


def fitted_state(model: Any) -> "PosteriorStore":
    """The posterior store of a fitted model; a ValueError for anything else.

    Examples
    --------
    >>> fitted_state(object())
    Traceback (most recent call last):
    ...
    ValueError: model: expected a fitted ChannelModel (call model.fit(logs) first)
    """
    state = getattr(model, "state_", None)
    if state is None or not hasattr(model, "config") or not hasattr(model, "space"):
        raise ValueError("model: expected a fitted ChannelModel (call model.fit(logs) first)")
    return state


def dimension_indices(space: Any, dimensions: Sequence[str] | None, name: str = "dimensions") -> list[int]:
    """Sorted positions in ``space.dimensions`` of the named ``dimensions`` (None: all but the weekday).

    Examples
    --------
    >>> from channelopt import ArmSpace
    >>> space = ArmSpace(channels=["email", "sms"], wordings=["a", "b"])
    >>> space.dimensions, dimension_indices(space, None), dimension_indices(space, "channel")
    (('channel', 'wording', 'hour', 'weekday'), [0, 1, 2], [0])
    """
    dims = list(space.dimensions)
    if dimensions is None:
        # within a delivery window the hour (and the decision time) fix the weekday of a send
        return [d for d, dim in enumerate(dims) if dim != "weekday"]
    if isinstance(dimensions, str):
        dimensions = [dimensions]
    out = []
    for dim in dimensions:
        if dim not in dims:
            raise ValueError(f"{name}: unknown dimension {dim!r} (the model's: {', '.join(dims)})")
        out.append(dims.index(dim))
    if not out:
        raise ValueError(f"{name}: name at least one dimension")
    return sorted(set(out))


class Resolved:
    """The logged rows resolved by ``as_of``, encoded as the model encodes them.

    Attributes (one value per resolved row, in log order): ``positions`` (row
    in the input), ``reward``, ``sent_ns``, ``propensity``, ``customer_id``,
    ``rows`` (state row, -1 for a customer the model does not know), ``arms``
    (flat arm per dimension, -1 where the row does not carry it) and ``tz``;
    and ``frame`` (the input), ``state``, ``as_of``, ``n_logged``,
    ``n_pending``, ``model_as_of`` (the model's watermark, ns).

    Examples
    --------
    >>> from channelopt import ArmSpace, ChannelModel
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01", "2026-01-09"],
    ...                      "channel": ["email", "sms"], "responded_at": ["2026-01-01 02:00", None]})
    >>> model = ChannelModel(ArmSpace(channels=["email", "sms"])).fit(logs, as_of="2026-01-10")
    >>> res = Resolved(logs, model, "2026-01-10", need_propensity=False)
    >>> len(res), res.n_pending, res.reward.tolist()
    (1, 1, [1.0])
    """

    def __init__(self, logs: Any, model: Any, as_of: Any, *, need_propensity: bool) -> None:
        state = fitted_state(model)
        frame = read_table(logs, name="logs")
        if need_propensity and "propensity" not in frame.columns:
            raise ValueError("logs: missing column 'propensity' (the probability with which the logging policy "
                             "chose each logged action; off-policy evaluation needs it)")
        space = model.space
        enc: EncodedLogs = encode_logs(frame, space, model.config.default_tz)
        if need_propensity:
            null = np.flatnonzero(np.isnan(enc.propensity))
            if null.size:
                raise ValueError(f"column 'propensity': missing value in row {int(null[0])}")
        window = model.config.window_ns
        if as_of is None:
            resp = enc.responded_ns[enc.responded_ns != NAT]
            as_of_ns = int(max(enc.sent_ns.max(), resp.max() if resp.size else NAT))
        else:
            as_of_ns = as_utc_timestamp(as_of, "as_of").as_unit("ns").value
        # a row counts once its whole window has passed: keeping early replies of recent sends
        # while dropping their still-silent siblings would bias the value upward
        keep = enc.sent_ns <= as_of_ns - window
        self.n_logged = len(enc)
        self.n_pending = int((~keep).sum())
        self.as_of = pd.Timestamp(as_of_ns, tz="UTC")
        if not keep.any():
            raise ValueError(f"logs: no row is resolved as of {self.as_of} (a row counts once sent_at + "
                             f"response_window ({model.config.response_window}) has passed); "
                             f"all {len(enc)} rows are pending")
        sel = np.flatnonzero(keep)
        self.positions = sel  # row positions in the input
        self.frame = frame
        sent = enc.sent_ns[sel]
        resp = enc.responded_ns[sel]
        negative = enc.unsubscribed[sel] | enc.complained[sel]
        self.reward = ((resp != NAT) & (resp - sent <= window) & ~negative).astype(np.float64)
        self.sent_ns = sent
        self.propensity = enc.propensity[sel]
        ids = enc.customer_id.iloc[sel].reset_index(drop=True)
        self.customer_id = ids
        self.rows = state.index.rows_of(ids)[0] if len(state.index) else np.full(sel.size, -1, dtype=np.int64)
        arms = np.array(enc.arms[sel], dtype=np.int64)
        # rows without their own tz: local time in the zone the model learned for the customer
        dims = list(space.dimensions)
        learned = np.flatnonzero(~enc.tz_known[sel] & (self.rows >= 0))
        if learned.size and ("hour" in dims or "weekday" in dims):
            codes = np.asarray(state.zone, dtype=np.int64)[self.rows[learned]]
            hour, weekday = local_hour_weekday(sent[learned], codes, list(state.zones))
            offsets = space.offsets
            for name, local in (("hour", hour), ("weekday", weekday)):
                if name in dims:
                    d = dims.index(name)
                    arms[learned, d] = local.astype(np.int64) + offsets[d]
        self.arms = arms
        self.tz = (frame["tz"].reset_index(drop=True).iloc[sel].reset_index(drop=True)
                   if "tz" in frame.columns else pd.Series([None] * sel.size, dtype=object))
        self.state = state
        self.model_as_of = int(state.watermark_ns)

    def __len__(self) -> int:
        return int(self.reward.shape[0])
