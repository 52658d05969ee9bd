"""Code columns: sorted codes, k-core and chronological order equal their plain NumPy definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl.data.dataset import DataFormatError
from rsir_pl.data.interactions import InteractionColumns, chronological_order, k_core_mask, sorted_codes, to_dataset

ids = st.text(alphabet="ab\u00e9\u4e2d\U0001f600 1", max_size=3)


@given(st.lists(ids, max_size=40))
@settings(max_examples=60, deadline=None)
def test_sorted_codes_equal_np_unique(keys):
    got_keys, got_codes = sorted_codes(keys)
    want_keys, want_codes = np.unique(np.array(keys, dtype=object), return_inverse=True)
    assert got_keys.tolist() == want_keys.tolist()  # code-point order, as Python sorts strings
    assert got_codes.tolist() == want_codes.reshape(-1).tolist()


def k_core_reference(users, items, k):
    """The definition: drop users and items below k interactions until nothing changes."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        uc = {u: int(((users == u) & keep).sum()) for u in set(users[keep])}
        ic = {i: int(((items == i) & keep).sum()) for i in set(items[keep])}
        new = keep & np.array([uc.get(u, 0) >= k and ic.get(i, 0) >= k for u, i in zip(users, items)], dtype=bool)
        if (new == keep).all():
            return keep
        keep = new


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=60), st.integers(0, 4))
@settings(max_examples=60, deadline=None)
def test_k_core_mask_matches_the_definition(pairs, k):
    users = np.array([p[0] for p in pairs], dtype=np.int64)
    items = np.array([p[1] for p in pairs], dtype=np.int64)
    want = k_core_reference(users, items, k) if k > 1 else np.ones(len(users), dtype=bool)
    assert k_core_mask(users, items, k).tolist() == want.tolist()


@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.0, 1.0, 2.5, -3.0])), max_size=50))
@settings(max_examples=60, deadline=None)
def test_chronological_order_is_a_stable_lexsort(rows):
    users = np.array([r[0] for r in rows], dtype=np.int32)
    times = np.array([r[1] for r in rows], dtype=np.float64)
    assert chronological_order(users, times).tolist() == np.lexsort((times, users)).tolist()


def test_to_dataset_groups_remaps_and_filters():
    # rows in file order: user codes into [a, b, c], item codes into [x, y, z]
    cols = InteractionColumns(
        user_keys=np.array(["a", "b", "c"], dtype=object),
        users=np.array([1, 0, 1, 0, 2, 1], dtype=np.int32),
        item_keys=np.array(["x", "y", "z"], dtype=object),
        items=np.array([2, 2, 0, 2, 1, 2], dtype=np.int32),
        times=np.array([5.0, 1.0, 5.0, 0.0, 9.0, 2.0]),
    )
    ds = to_dataset(cols, "t", k_core=0, path="t.csv")
    assert ds.user_ids.tolist() == ["a", "b", "c"]
    assert ds.item_ids.tolist() == ["", "x", "y", "z"]
    # b: z@2, then the tie at 5 in file order (z, x)
    assert ds.sequences.to_lists() == [[3, 3], [3, 3, 1], [2]]
    assert ds.times.tolist() == [0.0, 1.0, 2.0, 5.0, 5.0, 9.0]
    # 2-core: c and y (one interaction each) go, and x (one); z is renumbered 1
    two = to_dataset(cols, "t", k_core=2, path="t.csv")
    assert two.user_ids.tolist() == ["a", "b"] and two.item_ids.tolist() == ["", "z"]
    assert two.sequences.to_lists() == [[1, 1], [1, 1]]
    assert two.times.tolist() == [0.0, 1.0, 2.0, 5.0]
    with pytest.raises(DataFormatError, match=r"t\.csv.*4-core"):
        to_dataset(cols, "t", k_core=4, path="t.csv")
