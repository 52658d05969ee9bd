"""SequenceStore against plain Python references: padding, selection, identity and persistence."""

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl.data.store import SequenceStore

SEQS = [[3, 1, 4, 1, 5], [9, 2], [6], [], [5, 3, 5, 8, 9, 7, 9]]


def ref_padded(seqs, index, width, drop_last=0, align="left"):
    """Plain lists: drop the last items, keep the newest ``width``, pad with 0 on one side."""
    out = []
    for i in index:
        s = list(seqs[i])
        s = s[: max(len(s) - drop_last, 0)]
        s = s[max(len(s) - width, 0) :] if width else []
        pad = [0] * (width - len(s))
        out.append(pad + s if align == "left" else s + pad)
    return np.array(out, dtype=np.int64).reshape(len(index), width)


def test_from_lists_to_lists_round_trip_and_columns():
    s = SequenceStore.from_lists(SEQS)
    assert s.to_lists() == SEQS
    assert len(s) == 5
    assert s.lengths.tolist() == [5, 2, 1, 0, 7]
    assert s.num_interactions == 15
    assert s.max_item == 9
    assert s.root.tolist() == [0, 1, 2, 3, 4]
    assert s.generation.tolist() == [0] * 5
    assert s[-1].tolist() == SEQS[-1]
    with pytest.raises(IndexError):
        s[5]


def test_invalid_offsets_and_columns_are_rejected():
    with pytest.raises(ValueError, match="offsets"):
        SequenceStore(np.array([1, 2, 3]), np.array([0, 2]))
    with pytest.raises(ValueError, match="non-decreasing"):
        SequenceStore(np.array([1, 2, 3]), np.array([0, 2, 1, 3]))
    with pytest.raises(ValueError, match="one entry per sequence"):
        SequenceStore.from_lists([[1], [2]], root=[0])


@pytest.mark.parametrize("align", ["left", "right"])
@pytest.mark.parametrize("drop_last", [0, 1, 2])
@pytest.mark.parametrize("width", [0, 1, 3, 8])
def test_padded_matches_reference(align, drop_last, width):
    s = SequenceStore.from_lists(SEQS)
    index = [4, 0, 3, 1, 2, 0]  # any order, repeats and an empty sequence
    got = s.padded(index, width, drop_last=drop_last, align=align)
    assert got.dtype == np.int64 and got.shape == (len(index), width)
    np.testing.assert_array_equal(got, ref_padded(SEQS, index, width, drop_last, align))


def test_padded_truncation_keeps_newest_items_explicitly():
    s = SequenceStore.from_lists([[1, 2, 3, 4, 5, 6]])
    assert s.padded([0], 4).tolist() == [[3, 4, 5, 6]]
    assert s.padded([0], 4, drop_last=1).tolist() == [[2, 3, 4, 5]]
    assert s.padded([0], 8, drop_last=1).tolist() == [[0, 0, 0, 1, 2, 3, 4, 5]]
    assert s.padded([0], 8, drop_last=1, align="right").tolist() == [[1, 2, 3, 4, 5, 0, 0, 0]]
    assert s.padded([], 4).shape == (0, 4)


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(1, 50), max_size=12), min_size=1, max_size=12),
    width=st.integers(0, 15),
    drop_last=st.integers(0, 3),
    data=st.data(),
)
def test_padded_left_property(seqs, width, drop_last, data):
    s = SequenceStore.from_lists(seqs)
    index = data.draw(st.lists(st.integers(0, len(seqs) - 1), max_size=20))
    got = s.padded(index, width, drop_last=drop_last)
    np.testing.assert_array_equal(got, ref_padded(seqs, index, width, drop_last))


def test_select_keeps_order_and_columns():
    s = SequenceStore.from_lists(SEQS, root=[10, 11, 12, 13, 14], generation=[0, 1, 1, 2, 0])
    sub = s.select([4, 1, 4, 3])
    assert sub.to_lists() == [SEQS[4], SEQS[1], SEQS[4], SEQS[3]]
    assert sub.root.tolist() == [14, 11, 14, 13]
    assert sub.generation.tolist() == [0, 1, 0, 2]
    assert len(s.select([])) == 0


def test_concat_appends_sequences_and_columns():
    a = SequenceStore.from_lists(SEQS[:2])
    b = SequenceStore.from_lists(SEQS[2:], root=[0, 1, 0], generation=[1, 1, 2])
    c = SequenceStore.concat([a, b])
    assert c.to_lists() == SEQS
    assert c.root.tolist() == [0, 1, 0, 1, 0]
    assert c.generation.tolist() == [0, 0, 1, 1, 2]
    assert c.startswith(a)
    assert not c.startswith(b)
    assert len(SequenceStore.concat([])) == 0
    assert SequenceStore.concat([a, SequenceStore.empty()]).equals(a)


def test_startswith_checks_items_and_columns():
    base = SequenceStore.from_lists(SEQS[:3])
    longer = SequenceStore.concat([base, SequenceStore.from_lists([[7, 7]], generation=[1])])
    assert longer.startswith(base)
    assert longer.startswith(SequenceStore.empty())
    assert not base.startswith(longer)
    changed_item = SequenceStore.from_lists([[3, 1, 4, 1, 6], [9, 2], [6], [7, 7]])
    assert not changed_item.startswith(base)
    changed_gen = SequenceStore.from_lists(SEQS[:3], generation=[0, 0, 1])
    assert not changed_gen.startswith(base)
    # same items, different split into sequences
    resplit = SequenceStore.from_lists([[3, 1, 4, 1], [5, 9, 2], [6]])
    assert not resplit.startswith(base)


def test_equals_and_digest():
    a = SequenceStore.from_lists(SEQS)
    b = SequenceStore.from_lists([list(x) for x in SEQS])
    assert a.equals(b) and a.digest() == b.digest()
    other_root = SequenceStore.from_lists(SEQS, root=[0, 1, 2, 3, 3])
    other_gen = SequenceStore.from_lists(SEQS, generation=[0, 0, 0, 0, 1])
    other_items = SequenceStore.from_lists([[3, 1, 4, 1, 5], [9, 2], [6], [], [5, 3, 5, 8, 9, 7, 8]])
    for other in (other_root, other_gen, other_items):
        assert not a.equals(other)
        assert a.digest() != other.digest()


def test_sequence_keys_identify_equal_sequences():
    s = SequenceStore.from_lists([[1, 2], [2, 1], [1, 2], []])
    keys = s.sequence_keys()
    assert keys[0] == keys[2] and keys[0] != keys[1] and keys[3] == b""
    # a key is the sequence's item bytes, so a prefix never equals the longer sequence
    assert keys[0] == np.array([1, 2], dtype=s.items.dtype).tobytes()


def test_sequence_keys_of_chosen_rows_follow_the_given_order():
    s = SequenceStore.from_lists([[1, 2], [3], [4, 5, 6], [1, 2, 7]])
    every = s.sequence_keys()
    assert s.sequence_keys(np.array([3, 0, 2])) == [every[3], every[0], every[2]]
    assert s.sequence_keys(np.zeros(0, dtype=np.int64)) == []
    assert every[0] != every[3]


def test_bytes_round_trip_and_file_round_trip(tmp_path):
    s = SequenceStore.from_lists(SEQS, root=[0, 1, 0, 2, 1], generation=[0, 0, 1, 1, 2])
    data = s.to_bytes()
    assert data == s.to_bytes()  # deterministic
    back = SequenceStore.from_bytes(data)
    assert back.equals(s) and back.digest() == s.digest()
    path = tmp_path / "s.npz"
    s.save(path)
    assert SequenceStore.load(path).equals(s)
    empty = SequenceStore.from_bytes(SequenceStore.empty().to_bytes())
    assert len(empty) == 0


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    return buf.getvalue()


def _missing_column_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, items=np.array([1], np.int32), offsets=np.array([0, 1]))
    return buf.getvalue()


def _bad_offsets_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, items=np.array([1], np.int32), offsets=np.array([0, 5]), root=np.zeros(1), generation=np.zeros(1))
    return buf.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        lambda good: b"",
        lambda good: b"not a store at all" * 10,
        lambda good: good[: len(good) // 2],  # truncated zip
        lambda good: good[:80] + bytes(40) + good[120:],  # damaged member (zip CRC check)
        lambda good: _npy_bytes(),  # a bare array
        lambda good: _missing_column_bytes(),
        lambda good: _bad_offsets_bytes(),
    ],
    ids=["empty", "garbage", "truncated", "damaged", "npy", "missing-column", "bad-offsets"],
)
def test_corrupt_bytes_raise_value_error_naming_source(make):
    good = SequenceStore.from_lists(SEQS).to_bytes()
    with pytest.raises(ValueError, match=r"iter_3/synthetic\.npz"):
        SequenceStore.from_bytes(make(good), source="iter_3/synthetic.npz")


def test_load_names_the_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ValueError, match="broken.npz"):
        SequenceStore.load(path)
    assert not issubclass(zipfile.BadZipFile, ValueError)  # why from_bytes must catch it explicitly
