"""Leave-one-out split: targets, training parts, and users too short to split."""

import logging

import numpy as np
import pytest

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore

SEQS = [[1, 2, 3, 4, 5], [6, 7], [2, 8, 2], [9], [4, 3, 2, 1], []]


def test_targets_and_training_parts(caplog):
    with caplog.at_level(logging.WARNING, logger="rsir_pl.data.split"):
        split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(SEQS), num_items=9)
    kept = [0, 2, 4]
    assert split.users.tolist() == kept
    assert split.num_users == 3 and split.num_items == 9
    assert split.valid_target.tolist() == [4, 8, 2]  # second-to-last
    assert split.test_target.tolist() == [5, 2, 1]  # last
    train = split.train()
    assert train.to_lists() == [[1, 2, 3], [2], [4, 3]]
    assert train.root.tolist() == [0, 1, 2] and train.generation.tolist() == [0, 0, 0]
    assert split.full.to_lists() == [SEQS[i] for i in kept]
    # too-short users are skipped, counted and reported
    assert split.skipped == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 of 6 users" in warnings[0].getMessage()


def test_training_part_never_holds_the_held_out_positions():
    rng = np.random.default_rng(0)
    seqs = [rng.choice(np.arange(1, 60), size=rng.integers(3, 15), replace=False).tolist() for _ in range(40)]
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(seqs), num_items=59)
    for u, part in enumerate(split.train()):
        assert part.tolist() == seqs[u][:-2]
        # items are unique per user here, so the targets cannot be in the training part at all
        assert split.valid_target[u] not in part and split.test_target[u] not in part


def test_held_out_items_shape_and_order():
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(SEQS), num_items=9)
    held = split.held_out_items()
    assert held.shape == (3, 2)
    assert held.tolist() == [[4, 5], [8, 2], [2, 1]]


def test_eval_stage_helpers():
    split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(SEQS), num_items=9)
    assert split.eval_drop("valid") == 2 and split.eval_drop("test") == 1
    np.testing.assert_array_equal(split.eval_target("valid"), split.valid_target)
    np.testing.assert_array_equal(split.eval_target("test"), split.test_target)
    with pytest.raises(ValueError, match="stage"):
        split.eval_drop("train")


def test_no_warning_when_every_user_splits(caplog):
    with caplog.at_level(logging.WARNING):
        split = LeaveOneOutSplit.from_sequences(SequenceStore.from_lists([[1, 2, 3]]), num_items=3)
    assert split.skipped == 0 and not caplog.records
    assert split.train().to_lists() == [[1]]


def test_all_users_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3 interactions"):
        LeaveOneOutSplit.from_sequences(SequenceStore.from_lists([[1, 2], [3], []]), num_items=3)


def test_split_does_not_alias_the_dataset():
    store = SequenceStore.from_lists(SEQS, root=[5, 5, 5, 5, 5, 5])
    before = store.digest()
    split = LeaveOneOutSplit.from_sequences(store, num_items=9)
    split.full.items[:] = 0
    assert store.digest() == before
