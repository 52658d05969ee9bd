"""The fidelity-target rules (rsir_pl.generation.targets) against their plain definitions."""

from __future__ import annotations

import numpy as np
import torch

from rsir_pl.generation import targets as targets_module


def test_first_occurrences_match_their_definition():
    # long rows with many repeats: a sort that is not stable would mark a later occurrence first
    S = np.random.default_rng(0).integers(0, 7, size=(20, 300))
    got = targets_module.first_occurrences(S)
    expected = [[bool(v) and v not in row[:j] for j, v in enumerate(row.tolist())] for row in S]
    assert got.dtype == bool and got.tolist() == expected  # a mask: ~ must negate it


def test_step_targets_without_and_with_the_new_item():
    tgt = torch.tensor([[True, True, False], [False, True, False]])
    is_item = torch.tensor([[False, True, False], [False, True, False]])
    check, exhausted = targets_module.step_targets(tgt, is_item, remaining=True)
    assert check.tolist() == [[True, False, False], [False, False, False]] and exhausted.tolist() == [False, True]
    check, exhausted = targets_module.step_targets(tgt, is_item, remaining=False)
    assert check.tolist() == tgt.tolist() and exhausted.tolist() == [False, False]
    # the decisions stay on the device of the targets
    meta = torch.zeros(2, 3, dtype=torch.bool, device="meta")
    for remaining in (True, False):
        assert targets_module.step_targets(meta, meta, remaining)[1].device == meta.device


def test_initial_targets_follow_their_definition():
    seeds = np.array([[1, 7, 2, 1, 3, 7, 2, 8, 0, 0], [4, 5, 6, 5, 4, 9, 0, 0, 0, 0]])
    held = np.array([[7, 8], [9, 1]])
    got = targets_module.initial_targets(seeds, np.array([2, 1]), held)
    # row 0: after [1, 7]: 2 (first at 2) and 3; 1 and 7 are in the prefix, 8 is held out
    # row 1: after [4]: 5 and 6 (their first occurrences); 4 is in the prefix, 9 is held out
    assert [np.flatnonzero(r).tolist() for r in got] == [[2, 4], [1, 2]]
