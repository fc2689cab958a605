"""CustomerIndex: id -> row without a Python object per customer."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channelopt.state.index import CustomerIndex, encode_ids

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# any Unicode text that can be encoded to UTF-8 (lone surrogates cannot be), including "" and NUL
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)


def test_str_ids():
    idx, rows = CustomerIndex.empty().extend(["c-1", "c-2", "c-1", "c-3"])
    assert rows.tolist() == [0, 1, 0, 2]
    assert len(idx) == 3 and idx.kind == "str"
    assert idx.row_of("c-2") == 1 and idx.row_of("c-3") == 2
    assert idx.row_of("nobody") == -1 and idx.row_of("c-") == -1 and idx.row_of("c-11") == -1
    found, hashes = idx.rows_of(["c-3", "zz", "c-1"])
    assert found.tolist() == [2, -1, 0]
    assert hashes.dtype == np.uint64 and hashes[2] == idx.hashes[0]
    assert list(idx.ids()) == ["c-1", "c-2", "c-3"]


def test_extend_keeps_existing_rows_and_is_immutable():
    idx, _ = CustomerIndex.empty().extend(["a", "b"])
    bigger, rows = idx.extend(["c", "a", "d", "c"])
    assert rows.tolist() == [2, 0, 3, 2]
    assert len(idx) == 2 and idx.row_of("c") == -1  # the original is unchanged
    assert list(bigger.ids()) == ["a", "b", "c", "d"]
    same, rows = bigger.extend(["d", "a"])
    assert same is bigger and rows.tolist() == [3, 0]


def test_int_ids():
    ids = [42, -7, 0, 42, 2**63 - 1, -(2**63)]
    idx, rows = CustomerIndex.empty().extend(ids)
    assert rows.tolist() == [0, 1, 2, 0, 3, 4]
    assert idx.kind == "int"
    assert idx.ids().dtype == np.int64 and idx.ids().tolist() == [42, -7, 0, 2**63 - 1, -(2**63)]
    assert idx.row_of(-7) == 1 and idx.row_of(np.int32(0)) == 2 and idx.row_of(43) == -1
    row, h = idx.locate(2**63 - 1)
    assert row == 3 and h == idx.hashes[3]
    assert idx.rows_of(np.array([0, 5, 42], dtype=np.int16))[0].tolist() == [2, -1, 0]


def test_whole_floats_are_int_ids():
    idx, rows = CustomerIndex.empty().extend(pd.Series([3.0, 4.0, 3.0]))
    assert idx.kind == "int" and rows.tolist() == [0, 1, 0] and idx.row_of(4) == 1


def test_unknown_on_empty_index():
    idx = CustomerIndex.empty()
    assert idx.row_of("a") == -1 and idx.row_of(5) == -1
    assert idx.rows_of(["a", "b"])[0].tolist() == [-1, -1]
    assert len(idx.ids()) == 0


def test_kind_mismatch():
    sidx, _ = CustomerIndex.empty().extend(["1", "2"])
    iidx, _ = CustomerIndex.empty().extend([1, 2])
    with pytest.raises(ValueError, match=re.escape("customer_id: this model's ids are strings, got 1")):
        sidx.row_of(1)
    with pytest.raises(ValueError, match=re.escape("customer_id: this model's ids are strings, got 3")):
        sidx.extend([3])
    with pytest.raises(ValueError, match=re.escape("customer_id: this model's ids are integers, got '1'")):
        iidx.rows_of(["1"])
    with pytest.raises(ValueError, match=re.escape("customer_id: must be a string or an integer, got 1.5")):
        iidx.row_of(1.5)
    with pytest.raises(ValueError, match=re.escape("customer_id: must be a string or an integer, got True")):
        iidx.row_of(True)


def test_bad_batches():
    with pytest.raises(ValueError, match=re.escape("column 'customer_id': missing id in row 1")):
        encode_ids(["a", None])
    with pytest.raises(ValueError, match=re.escape("found 'x' in row 2")):
        encode_ids([1, 2, "x"])
    with pytest.raises(ValueError, match=re.escape("found 3 in row 1")):
        encode_ids(["a", 3])
    with pytest.raises(ValueError, match=re.escape("column 'customer_id': ids must be strings or integers, got booleans")):
        encode_ids([True, False])
    with pytest.raises(ValueError, match=re.escape("column 'customer_id': id 1.5 in row 0 is not a whole number")):
        encode_ids([1.5, 2.0])


def test_unicode_and_empty_string_ids():
    ids = ["", "é", "e\u0301", "客户-7", "🙂", "a\x00b", "a", " "]
    idx, rows = CustomerIndex.empty().extend(ids)
    assert rows.tolist() == list(range(len(ids)))  # "é" and "e\u0301" are different byte strings
    assert list(idx.ids()) == ids
    for k, v in enumerate(ids):
        assert idx.row_of(v) == k
    assert idx.row_of("a\x00") == -1


def test_encode_ids_of_a_sliced_series():
    s = pd.Series(["zero", "one", "two", "three"])
    kind, offsets, data = encode_ids(s.iloc[2:])
    assert kind == "str" and offsets.tolist() == [0, 3, 8] and bytes(data) == b"twothree"


def test_arrays_round_trip():
    idx, _ = CustomerIndex.empty().extend(["x", "y", "zz"])
    again = CustomerIndex.from_arrays(idx.kind, {k: v.copy() for k, v in idx.arrays().items()})
    assert again.rows_of(["zz", "x", "q"])[0].tolist() == [2, 0, -1]
    assert list(again.ids()) == ["x", "y", "zz"]


def _check(values: list, batches: list[int]) -> None:
    idx = CustomerIndex.empty()
    start = 0
    for size in batches + [len(values)]:
        part = values[start:start + size]
        if part:
            idx, rows = idx.extend(part)
            assert rows.tolist() == idx.rows_of(part)[0].tolist()
        start += size
    rows = idx.rows_of(values)[0] if values else np.zeros(0, np.int64)
    distinct = list(dict.fromkeys(values))
    assert len(idx) == len(distinct)
    # equal ids share a row, distinct ids get distinct rows, rows are 0..n-1 in first-seen order
    row_of = {}
    for v, r in zip(values, rows.tolist()):
        assert row_of.setdefault(v, r) == r
    assert sorted(row_of.values()) == list(range(len(distinct)))
    assert [row_of[v] for v in distinct] == list(range(len(distinct)))
    ids = idx.ids()
    assert list(ids) == distinct
    # the merged search arrays are what a stable sort of all hashes gives
    np.testing.assert_array_equal(idx.order, np.argsort(idx.hashes, kind="stable"))
    np.testing.assert_array_equal(idx.sorted_hashes, idx.hashes[idx.order])
    if values:
        assert list(ids[rows]) == values
        assert all(idx.row_of(v) == row_of[v] for v in distinct)


@settings(deadline=None, max_examples=60)
@given(values=st.lists(TEXT, max_size=40), batches=st.lists(st.integers(0, 15), max_size=4))
def test_property_str_ids(values, batches):
    _check(values, batches)


@settings(deadline=None, max_examples=60)
@given(values=st.lists(st.one_of(INT64, st.integers(-3, 3)), max_size=40),
       batches=st.lists(st.integers(0, 15), max_size=4))
def test_property_int_ids(values, batches):
    _check(values, batches)


@settings(deadline=None, max_examples=200)
@given(keys=st.lists(st.integers(0, 2**64 - 1), max_size=60),
       probes=st.lists(st.integers(0, 2**64 - 1), max_size=20),
       clustered=st.booleans())
def test_lower_bound_is_searchsorted(keys, probes, clustered):
    # galloping from the interpolated guess finds what a binary search finds, uniform keys or not
    from channelopt.kernels import lower_bound

    arr = np.sort(np.array(keys, dtype=np.uint64))
    if clustered:  # all keys in a narrow band: the guess is far off
        arr = np.sort((arr >> np.uint64(40)) + np.uint64(2**63))
    for h in probes + [int(v) for v in arr] + [0, 2**64 - 1]:
        h = np.uint64(h)
        assert lower_bound(arr, h) == np.searchsorted(arr, h, side="left")
