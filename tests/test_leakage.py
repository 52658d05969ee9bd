"""The leakage guard fails loudly on every kind of violation."""

from __future__ import annotations

import numpy as np
import pytest

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.leakage import LeakageError, check_generated


@pytest.fixture()
def split():
    users = SequenceStore.from_lists([[1, 2, 3, 4, 5], [6, 7, 8, 9]])
    return LeaveOneOutSplit.from_sequences(users, 10)


def test_clean_extension_passes(split):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists([[1, 2, 9], [6, 3]], root=[0, 1], generation=[1, 1])
    check_generated(d0, SequenceStore.concat([d0, new]), split, np.array([0, 1]), np.array([2, 1]))


def test_changed_dk_fails(split):
    d0 = split.train()
    tampered = SequenceStore(d0.items.copy(), d0.offsets, d0.root, d0.generation)
    tampered.items[0] = 5
    with pytest.raises(LeakageError, match="D_k unchanged"):
        check_generated(d0, tampered, split, np.zeros(0, np.int64), np.zeros(0, np.int64))


def test_validation_item_in_real_training_data_fails(split):
    leaky = SequenceStore.from_lists([[1, 2, 3, 4], [6, 7]])  # user 0's validation item 4 in training
    with pytest.raises(LeakageError):
        check_generated(leaky, leaky, split, np.zeros(0, np.int64), np.zeros(0, np.int64))


def test_wrong_prefix_or_root_fails(split):
    d0 = split.train()
    wrong_prefix = SequenceStore.from_lists([[2, 1, 9]], root=[0], generation=[1])
    with pytest.raises(LeakageError, match="prefix"):
        check_generated(d0, SequenceStore.concat([d0, wrong_prefix]), split, np.array([0]), np.array([2]))
    wrong_root = SequenceStore.from_lists([[1, 2, 9]], root=[1], generation=[1])
    with pytest.raises(LeakageError, match="root"):
        check_generated(d0, SequenceStore.concat([d0, wrong_root]), split, np.array([0]), np.array([2]))


def test_held_out_targets_fail(split):
    d0 = split.train()
    new = SequenceStore.from_lists([[1, 2, 9]], root=[0], generation=[1])
    with pytest.raises(LeakageError, match="fidelity targets"):
        check_generated(d0, SequenceStore.concat([d0, new]), split, np.array([0]), np.array([2]), 1)


def test_bad_provenance_fails(split):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists([[1, 2]], root=[0], generation=[1])
    d1 = SequenceStore.concat([d0, new])
    with pytest.raises(LeakageError, match="not in D_k"):
        check_generated(d0, d1, split, np.array([2]), np.array([1]))
    # a claimed prefix longer than the generated sequence (its missing items cannot match the seed's)
    with pytest.raises(LeakageError, match="prefix longer"):
        check_generated(d0, d1, split, np.array([0]), np.array([3]))
    check_generated(d0, d1, split, np.array([0]), np.array([2]))  # the whole sequence is the prefix: fine
