"""Sources: files are read in bounded chunks of about ``chunk_rows`` rows, whatever their row groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import channelopt as co
from channelopt.data.sources import iter_frames

from conftest import one_send_log


@pytest.mark.parametrize("row_group, chunk", [(7, 50), (64, 50), (1000, 50), (13, 13)])
def test_parquet_chunks_join_small_row_groups(tmp_path, row_group, chunk):
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(333)], "x": np.arange(333)})
    path = tmp_path / "logs.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=row_group)
    frames = list(iter_frames(path, chunk_rows=chunk))
    sizes = [len(f) for f in frames]
    assert sum(sizes) == 333
    assert all(chunk <= s < 2 * chunk + row_group for s in sizes[:-1])  # joined up to chunk_rows, bounded
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), df)


def test_csv_chunks_and_an_empty_file(tmp_path):
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(500)], "x": [str(i) for i in range(500)]})
    path = tmp_path / "logs.csv"
    df.to_csv(path, index=False)
    frames = list(iter_frames(path, chunk_rows=100))
    assert sum(len(f) for f in frames) == 500
    assert pd.concat(frames, ignore_index=True)["customer_id"].tolist() == df["customer_id"].tolist()
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pandas(df.iloc[:0], preserve_index=False), empty)
    frames = list(iter_frames(empty, chunk_rows=100))
    assert frames == []  # as before: the caller says "no frames to learn from"


def test_a_csv_block_larger_than_a_chunk_is_cut(tmp_path):
    # pyarrow reads this file as one block of 20,000 rows; chunks stay within [chunk_rows, 2 * chunk_rows)
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(20_000)], "x": [str(i) for i in range(20_000)]})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    frames = list(iter_frames(path, chunk_rows=1_000))
    assert [len(f) for f in frames] == [1_000] * 20
    assert pd.concat(frames, ignore_index=True)["x"].tolist() == df["x"].tolist()


TWO_CHANNELS = co.ArmSpace(channels=["email", "sms"])

def test_csv_columns_are_text_so_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "logs.csv"
    frame = one_send_log(["007", "7"])
    frame["wording"] = None
    frame.to_csv(path, index=False)
    model = co.ChannelModel(TWO_CHANNELS).fit(path, as_of="2026-01-10")
    assert sorted(model.state_.index.ids().tolist()) == ["007", "7"]
