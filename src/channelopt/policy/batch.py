"""Rank a customers table larger than memory: Parquet in, Parquet out, in chunks.

Every chunk is ranked with the same ``now`` (hence the same decision round), and
decisions depend only on (seed, round, customer, arm), so the output is the
same as one :meth:`ChannelModel.rank` call over the whole table, whatever the
chunk size. Memory is bounded by the chunk (plus ``top_k`` rows when given).
The output file is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from channelopt.core.validation import check_scalar
from channelopt.data.sources import iter_frames
from channelopt.data.tz import now_timestamp

if TYPE_CHECKING:
    from channelopt.policy.model import ChannelModel

__all__ = ["rank_to_parquet"]


def rank_to_parquet(model: "ChannelModel", customers: Any, out: Any, *, now: Any = None, chunk_rows: int = 1_000_000,
                    top_k: int | None = None, progress: bool = False, **rank_args: Any) -> int:
    """Rank ``customers`` chunk by chunk and write the decisions to the Parquet file ``out``.

    Parameters
    ----------
    model : ChannelModel
        A fitted model.
    customers : path, glob or DataFrame
        The customers table (``customer_id``, optional ``tz``, ``consent_<channel>``).
    out : str or PathLike
        Parquet file to write (replaced atomically).
    now : timestamp, optional
        Decision time shared by every chunk (default: the current time, taken once).
    chunk_rows : int, default 1,000,000
        Customers per chunk.
    top_k : int, optional
        Keep only the ``top_k`` best scores over the whole table (written by decreasing score).
    progress : bool
        Show a progress bar over chunks.
    **rank_args
        Passed to :meth:`ChannelModel.rank` (``propensity``, ``policy``, ``deadline``...);
        ``capacity`` needs the whole batch at once and is refused here.

    Returns
    -------
    int
        Rows written.

    Examples
    --------
    >>> import os, tempfile
    >>> from channelopt import ArmSpace, ChannelModel
    >>> space = ArmSpace(channels=["email", "sms"])
    >>> logs = pd.DataFrame({"customer_id": ["a", "b"], "sent_at": ["2026-01-01"] * 2,
    ...                      "channel": ["sms", "email"], "responded_at": ["2026-01-01 02:00", None]})
    >>> model = ChannelModel(space).fit(logs, as_of="2026-01-10")
    >>> out = os.path.join(tempfile.mkdtemp(), "decisions.parquet")
    >>> rank_to_parquet(model, pd.DataFrame({"customer_id": ["a", "b", "c"]}), out, now="2026-01-11", chunk_rows=2)
    3
    >>> pd.read_parquet(out)["customer_id"].tolist()
    ['a', 'b', 'c']
    """

    if "capacity" in rank_args:
        raise ValueError("capacity: needs the whole batch at once; call ChannelModel.rank on one DataFrame")
    check_scalar(chunk_rows, "chunk_rows", int, min_val=1)
    if top_k is not None:
        check_scalar(top_k, "top_k", int, min_val=0)
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise ValueError(f"out: expected a .parquet file, got {str(out)!r}")
    now_ts = now_timestamp(now)
    frames = iter_frames(customers, chunk_rows=chunk_rows, name="customers")
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, desc="ranking", unit="chunk")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    writer = None
    best: pd.DataFrame | None = None
    written = 0
    try:
        for frame in frames:
            for start in range(0, len(frame), chunk_rows):  # a DataFrame source arrives whole
                part = model.rank(frame.iloc[start:start + chunk_rows], now=now_ts, top_k=top_k, **rank_args)
                if top_k is not None:
                    both = part if best is None else pd.concat([best, part], ignore_index=True)
                    order = both["score"].fillna(-float("inf")).to_numpy().argsort(kind="stable")[::-1]
                    best = both.iloc[order[:top_k]].reset_index(drop=True)
                    continue
                table = pa.Table.from_pandas(part, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                written += len(part)
        if top_k is not None:
            best = best if best is not None else model.rank([], now=now_ts, **rank_args)
            best = best.sort_values("score", ascending=False, kind="stable", na_position="last")
            pq.write_table(pa.Table.from_pandas(best.reset_index(drop=True), preserve_index=False), tmp)
            written = len(best)
        elif writer is None:
            empty = model.rank([], now=now_ts, **rank_args)
            pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp)
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return written
