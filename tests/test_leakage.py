"""The leakage guard fails loudly on every kind of violation."""

from __future__ import annotations

import numpy as np
import pytest

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.leakage import LeakageError, check_generated, check_reverse_data


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


# ---------------------------------------------------------------------------- replacements (ASReP)
def _replacing(split, seqs, source):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists(seqs, root=source, generation=[1] * len(seqs))
    src = np.asarray(source)
    return d0, SequenceStore.concat([d0, new]), src, np.zeros(len(seqs), np.int64), np.ones(len(seqs), bool)


def test_replacement_ending_with_the_training_part_passes(split):
    d0, d1, src, prefix, rep = _replacing(split, [[9, 8, 1, 2, 3], [4, 6, 7]], [0, 1])
    check_generated(d0, d1, split, src, prefix, replaces=rep)


@pytest.mark.parametrize(
    "seqs, source, word",
    [
        ([[9, 1, 2, 4]], [0], "training part"),  # the real suffix changed (a validation item in it)
        ([[9, 8, 2, 3]], [0], "training part"),  # the real suffix lost its first item
        ([[1, 2, 3]], [0], "adds no item"),  # nothing prepended
        ([[9, 1, 2, 3], [8, 1, 2, 3]], [0, 0], "twice"),
    ],
    ids=["changed-suffix", "cut-suffix", "nothing-prepended", "replaced-twice"],
)
def test_bad_replacements_fail(split, seqs, source, word):
    d0, d1, src, prefix, rep = _replacing(split, seqs, source)
    with pytest.raises(LeakageError, match=word):
        check_generated(d0, d1, split, src, prefix, replaces=rep)


def test_only_real_sequences_can_be_replaced(split):
    d0 = split.train()
    d1 = SequenceStore.concat([d0, SequenceStore.from_lists([[1, 2, 9]], root=[0], generation=[1])])
    new = SequenceStore.from_lists([[5, 1, 2, 9]], root=[0], generation=[2])
    with pytest.raises(LeakageError, match="something other than a real"):
        check_generated(d1, SequenceStore.concat([d1, new]), split, np.array([2]), np.array([0]), replaces=[True])


def test_reverse_data_must_be_the_reversed_training_parts(split):
    ok = SequenceStore.from_lists([[3, 2, 1], [7, 6]], root=[0, 1])
    check_reverse_data(ok, split)
    subset = SequenceStore.from_lists([[7, 6]], root=[1])  # users left out of reverse training
    check_reverse_data(subset, split)
    with_held_out = SequenceStore.from_lists([[5, 4, 3, 2, 1], [7, 6]], root=[0, 1])  # authors' code
    with pytest.raises(LeakageError, match="as long as"):
        check_reverse_data(with_held_out, split)
    forward = SequenceStore.from_lists([[1, 2, 3], [6, 7]], root=[0, 1])
    with pytest.raises(LeakageError, match="reversed"):
        check_reverse_data(forward, split)
    swapped_valid = SequenceStore.from_lists([[4, 2, 1], [7, 6]], root=[0, 1])  # validation item 4 in
    with pytest.raises(LeakageError, match="reversed"):
        check_reverse_data(swapped_valid, split)
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
