"""The oracle ceiling: ranks by the true next-item distribution, checked against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsir_pl.data.oracle import oracle_metrics, oracle_ranks
from rsir_pl.data.registry import TINY_SPEC, known_world
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.data.synthetic import SyntheticSpec, SyntheticWorld


def hand_world() -> SyntheticWorld:
    """Items 1, 2 in group 0 and 3, 4 in group 1; one successor each; parameters set by hand."""
    world = SyntheticWorld(
        SyntheticSpec(num_users=3, num_items=4, num_groups=2, successors=1, follow=0.5, stick=0.5, min_length=3)
    )
    world.group[:] = [0, 0, 0, 1, 1]
    world.pop_matrix[:] = [[0, 0.75, 0.25, 0, 0], [0, 0, 0, 0.6, 0.4]]
    world.succ[:, 0] = [0, 3, 4, 2, 1]  # 1 -> 3, 2 -> 4, 3 -> 2, 4 -> 1
    world.succ_w[:] = 1.0
    world.preference[:] = [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]]
    return world


def test_oracle_ranks_equal_a_hand_computation():
    world = hand_world()
    # user 0 is too short to split and is skipped: kept users 1 and 2 must use world users 1 and 2
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists([[1, 2], [2, 1, 3], [4, 3, 1]]), 4)
    assert split.users.tolist() == [1, 2]
    # user 1, history [2, 1], last item 1: P(3) = 0.5 * 1 (successor of 1) + 0.5 * 0.5 * 0.3 (the
    # preference part: 0.5 * 0.6) = 0.575, P(4) = 0.5 * 0.5 * 0.2 = 0.05; items 1 and 2 are history.
    # Target 3 ranks first.
    # user 2, history [4, 3], last item 3: P(2) = 0.5 (successor of 3) + 0.25 * 0.9 * 0.25 = 0.55625,
    # P(1) = 0.25 * 0.9 * 0.75 = 0.16875. Target 1 ranks second.
    p = world.next_distribution(2, [4, 3])
    assert p[2] / p[1] == pytest.approx(0.55625 / 0.16875)
    assert oracle_ranks(world, split).tolist() == [1, 2]
    m = oracle_metrics(world, split)
    assert m["ndcg@10"] == pytest.approx((1.0 + 1.0 / math.log2(3)) / 2)
    assert m["recall@10"] == 1.0 and m["mrr"] == pytest.approx(0.75)


def test_ties_count_against_the_target():
    world = hand_world()
    # after [2, 1] only the preference part is left (1's successor 2 and group 0 are history), and
    # items 3 and 4 get the same probability: target 3 shares first place, so it ranks second
    world.pop_matrix[1] = [0, 0, 0, 0.5, 0.5]
    world.succ[1, 0] = 2
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists([[1, 2], [2, 1, 3]]), 4)
    assert oracle_ranks(world, split).tolist() == [2]


def test_oracle_refuses_data_of_another_catalogue():
    world = known_world("synthetic-tiny")
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists([[1, 2, 3]]), TINY_SPEC.num_items + 5)
    with pytest.raises(ValueError, match="not the world's data"):
        oracle_ranks(world, split)


def test_oracle_beats_popularity_on_the_tiny_world():
    world = known_world("synthetic-tiny")
    data = world.sample_sequences()
    split = LeaveOneOutSplit.from_sequences(data, TINY_SPEC.num_items)
    ranks = oracle_ranks(world, split)
    train = split.train()
    pop = np.bincount(train.items, minlength=TINY_SPEC.num_items + 1).astype(float)
    pop_ranks = []
    for j in range(split.num_users):
        seq = split.full[j]
        s = pop.copy()
        s[0] = -1
        s[seq[:-1]] = -1
        pop_ranks.append(int((s >= s[seq[-1]]).sum()))
    assert np.mean(ranks <= 10) > 2 * np.mean(np.array(pop_ranks) <= 10)
