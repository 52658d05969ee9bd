"""The true-distribution plausibility of steps (synthetic world): the vectorised probabilities
equal the world's own, and world-sampled data are far more plausible than random sequences."""

from __future__ import annotations

import numpy as np

from rsir_pl.data.registry import TINY_SPEC
from rsir_pl.data.store import SequenceStore
from rsir_pl.data.synthetic import SyntheticWorld
from rsir_pl.generation.plausibility import implausible_share, plausibility_summary, step_probabilities


def test_step_probabilities_equal_the_worlds_own():
    world = SyntheticWorld(TINY_SPEC)
    data = world.sample_sequences().select(np.arange(40))
    start = np.arange(40) % 4  # includes start 0 (the empty prefix)
    users = np.arange(40)
    p, owner = step_probabilities(world, data, start, users)
    ref = []
    for u in range(40):
        s = data[u]
        for t in range(int(start[u]), len(s)):
            ref.append(world.next_distribution(u, s[:t])[s[t]])
    np.testing.assert_allclose(p, ref, rtol=1e-9, atol=1e-15)
    assert np.array_equal(owner, np.repeat(users, data.lengths - start))
    # repeats (which the world never makes) have probability 0, other steps are renormalised
    rep = SequenceStore.from_lists([[5, 7, 5, 9, 7]])
    p, _ = step_probabilities(world, rep, np.array([1]), np.array([3]))
    np.testing.assert_allclose(p, world.step_plausibility(3, rep[0]), rtol=1e-9, atol=1e-15)
    assert p[1] == 0.0 and p[3] == 0.0


def test_world_sequences_are_more_plausible_than_random_ones():
    world = SyntheticWorld(TINY_SPEC)
    data = world.sample_sequences()
    users = np.arange(len(data))
    ones = np.ones(len(data), dtype=np.int64)
    sampled = implausible_share(world, data, ones, users)
    rng = np.random.default_rng(0)
    random = SequenceStore.from_lists(
        [rng.choice(np.arange(1, TINY_SPEC.num_items + 1), size=len(s), replace=False) for s in data]
    )
    noise = implausible_share(world, random, ones, users)
    assert sampled < 0.15 < 0.6 < noise
    # the prefix is not judged: with prefix_len = length there is nothing to measure
    empty = plausibility_summary(world, data, data.lengths, users)
    assert empty["steps"] == 0 and np.isnan(empty["implausible_share"])
