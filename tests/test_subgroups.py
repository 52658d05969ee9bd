"""Per-group paired comparisons: the groups are the ones the edges say, and each group's numbers
are the plain paired comparison of its users alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.significance import paired_comparison
from rsir_pl.subgroups import check_edges, compare_by_group, format_rows, group_labels, tile, user_groups


def _split(seqs: list[list[int]], num_items: int = 9) -> LeaveOneOutSplit:
    return LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(seqs), num_items)


def test_labels_name_half_open_ranges():
    assert group_labels((5, 10, 20)) == ["< 5", "5-9", "10-19", ">= 20"]
    assert group_labels((3, 4)) == ["< 3", "3", ">= 4"]
    assert group_labels((3, 5)) == ["< 3", "3-4", ">= 5"]
    assert group_labels(()) == ["all"]


@pytest.mark.parametrize("bad", [(5, 5), (10, 5), (0, 3), (2.5,)])
def test_edges_must_be_positive_ascending_integers(bad):
    with pytest.raises(ValueError, match="^edges: edges must be"):
        check_edges(bad)


def test_history_is_the_test_input_length():
    # lengths 3, 5, 7: test inputs of 2, 4, 6 items
    split = _split([[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7]])
    g = user_groups(split, edges=(3, 6))
    assert g.by == "history" and g.edges == (3, 6)
    assert g.value.tolist() == [2, 4, 6] and g.value.dtype == np.int64
    assert [g.labels[i] for i in g.index] == ["< 3", "3-5", ">= 6"]


def test_popularity_counts_the_test_item_in_the_training_part_only():
    # training parts: [1, 2], [1, 1]; test items 3 (never in training) and 1 (3 times in training)
    split = _split([[1, 2, 5, 3], [1, 1, 4, 1]])
    g = user_groups(split, "popularity", (1, 3))
    assert g.value.tolist() == [0, 3] and g.value.dtype == np.int64
    assert [g.labels[i] for i in g.index] == ["< 1", ">= 3"]


def test_popularity_of_the_last_catalogue_item_never_trained_on():
    # the test item 9 is the catalogue's last id and never occurs in a training part
    g = user_groups(_split([[1, 2, 5, 9]], num_items=9), "popularity")
    assert g.value.tolist() == [0] and g.labels[g.index[0]] == "< 5"


def test_unknown_grouping_is_named():
    with pytest.raises(ValueError, match="by: unknown grouping 'age' \\(choose from history, popularity\\)"):
        user_groups(_split([[1, 2, 3]]), "age")


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(3, 12), min_size=2, max_size=30),
    edges=st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True).map(sorted),
    data=st.data(),
)
def test_each_group_is_the_plain_comparison_of_its_users(lengths, edges, data):
    split = _split([[1 + (i % 8) for i in range(n)] for n in lengths])
    g = user_groups(split, "history", edges)
    n = len(lengths)
    base = np.array(data.draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)))
    new = np.array(data.draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)))
    rows = compare_by_group(base, new, g, seed=3)
    assert [r["group"] for r in rows] == [*group_labels(edges), "all"]
    assert sum(r["users"] for r in rows[:-1]) == rows[-1]["users"] == n
    hist = np.array(lengths) - 1
    bounds = [-np.inf, *edges, np.inf]
    for r, lo, hi in zip(rows, bounds[:-1], bounds[1:]):
        users = (hist >= lo) & (hist < hi)
        assert r["users"] == users.sum()
        assert r["ndcg@10"] == paired_comparison(base[users], new[users], ("ndcg@10", "recall@10"), seed=3)["ndcg@10"]
    assert rows[-1]["recall@10"] == paired_comparison(base, new, ("ndcg@10", "recall@10"), seed=3)["recall@10"]


def test_tiled_groups_pool_several_seeds():
    split = _split([[1, 2, 3], [1, 2, 3, 4, 5, 6]])
    one = user_groups(split, "history", (3,))
    g = tile(one, 2)
    assert g.index.tolist() == [0, 1, 0, 1] and g.value.tolist() == [2, 5, 2, 5]
    assert (g.by, g.edges, g.labels) == (one.by, one.edges, one.labels)
    rows = compare_by_group([1, 1, 20, 20], [1, 20, 1, 20], g)  # lists are taken too
    assert set(rows[0]) == {"group", "users", "ndcg@10", "recall@10"}
    plain = paired_comparison(np.array([1, 1, 20, 20]), np.array([1, 20, 1, 20]), ("ndcg@10", "recall@10"))
    assert rows[-1]["ndcg@10"] == plain["ndcg@10"]  # the default seed is paired_comparison's
    assert [r["users"] for r in rows] == [2, 2, 4]
    assert rows[0]["recall@10"]["relative"] == pytest.approx(1.0)  # 0.5 -> 1.0
    assert rows[1]["recall@10"]["relative"] == pytest.approx(-1.0)  # 0.5 -> 0.0


def test_ranks_of_other_users_are_refused():
    g = user_groups(_split([[1, 2, 3], [1, 2, 3, 4]]), "history")
    with pytest.raises(ValueError, match="same users"):
        compare_by_group(np.ones(3, np.int64), np.ones(3, np.int64), g)


def test_table_marks_groups_whose_ci_excludes_zero():
    split = _split([[1, 2, 3]] * 40 + [[1, 2, 3, 4, 5, 6, 7]] * 40)
    g = user_groups(split, "history", (4,))
    base = np.array([20] * 40 + [1] * 40)
    new = np.array([1] * 40 + [20] * 40)
    text = format_rows(compare_by_group(base, new, g), "history")
    lines = text.splitlines()
    assert lines[0].startswith("| history length | users |")
    assert "| < 4 | 40 | 0.0000 -> 1.0000 | n/a (CI > 0) | [+1.0000, +1.0000] |" in lines[2]
    assert "-100.00% (CI < 0)" in lines[3]


def test_the_default_bootstrap_seed_is_paired_comparisons():
    rng = np.random.default_rng(5)
    split = _split([[1, 2, 3, 4]] * 300)
    base, new = rng.integers(1, 25, 300), rng.integers(1, 25, 300)
    rows = compare_by_group(base, new, user_groups(split, "history"))
    assert rows[-1]["recall@10"] == paired_comparison(base, new, ("ndcg@10", "recall@10"))["recall@10"]
    assert rows[-1]["recall@10"] != paired_comparison(base, new, ("ndcg@10", "recall@10"), seed=1)["recall@10"]
