"""The synthetic world: deterministic, the documented shape, and a true next-item distribution."""

import numpy as np
import pytest

from rsir_pl.data.synthetic import SyntheticSpec, SyntheticWorld, synthetic_dataset

SMALL = SyntheticSpec(num_users=150, num_items=200, num_groups=8)


@pytest.fixture(scope="module")
def default_world():
    world = SyntheticWorld()
    return world, world.sample_sequences()


def test_same_seed_same_data_different_seed_different_data():
    a = synthetic_dataset(SMALL).sequences
    b = synthetic_dataset(SMALL).sequences
    assert a.digest() == b.digest() and a.equals(b)
    c = synthetic_dataset(SyntheticSpec(num_users=150, num_items=200, num_groups=8, seed=1)).sequences
    assert c.digest() != a.digest()
    w1, w2 = SyntheticWorld(SMALL), SyntheticWorld(SMALL)
    np.testing.assert_array_equal(w1.succ, w2.succ)
    np.testing.assert_array_equal(w1.preference, w2.preference)


def test_default_dataset_stats(default_world):
    _, store = default_world
    ds = synthetic_dataset()
    assert ds.sequences.digest() == store.digest()  # the dataset is exactly the world's sample
    assert ds.num_users == 4000 and ds.num_items == 2400  # catalogue 0.6x the users, as Amazon Toys
    assert ds.item_ids[0] == "" and ds.item_ids[7] == "7" and ds.user_ids[3] == "u3"
    lengths = store.lengths
    # the Amazon sets' history lengths: floor 5, median 6, mean 8.6-8.9, a third at 5, ~5% above 20
    assert 8.4 <= lengths.mean() <= 9.0 and np.median(lengths) == 6
    assert 0.30 <= (lengths == 5).mean() <= 0.36 and 0.03 <= (lengths > 20).mean() <= 0.06
    assert lengths.min() >= 5 and lengths.max() <= 80
    assert store.items.min() >= 1 and store.max_item <= 2400
    for seq in store:
        assert len(np.unique(seq)) == len(seq), "an item repeats within a sequence"
    # long-tailed popularity as on Amazon (Gini 0.44-0.50): nearly every item used, a few far more
    counts = np.bincount(store.items, minlength=2401)[1:]
    assert (counts > 0).sum() > 2350
    assert counts.max() > 20 * np.median(counts)
    sorted_counts = np.sort(counts)
    gini = 1 - 2 * np.sum(np.cumsum(sorted_counts) / sorted_counts.sum()) / len(counts) + 1 / len(counts)
    assert 0.42 <= gini <= 0.50


def test_lengths_stay_below_half_a_small_catalogue():
    # the length tail is heavy; a tiny world must not ask for more distinct items than it can draw quickly
    store = SyntheticWorld(SyntheticSpec(num_users=300, num_items=30, num_groups=3)).sample_sequences()
    assert store.lengths.max() <= 15 and store.lengths.min() >= 5


def test_next_distribution_is_a_distribution_excluding_padding_and_prefix(default_world):
    world, store = default_world
    for u in (0, 17, 3999):
        seq = store[u]
        for t in (0, 1, len(seq) - 1):
            p = world.next_distribution(u, seq[:t])
            assert p.shape == (2401,)
            assert p.sum() == pytest.approx(1.0, abs=1e-9)
            assert (p >= 0).all()
            assert p[0] == 0.0
            assert (p[seq[:t]] == 0.0).all()


def test_next_distribution_follows_the_successors(default_world):
    world, _ = default_world
    item = 5
    p = world.next_distribution(0, [item])
    succ = np.unique(world.succ[item])
    # successors carry at least the follow mass (before removing the prefix item itself)
    assert p[succ].sum() >= world.spec.follow * 0.99


def test_sampled_sequences_are_plausible_under_the_truth(default_world):
    world, store = default_world
    for u in range(0, 4000, 97):
        steps = world.step_plausibility(u, store[u], start=0)
        assert len(steps) == len(store[u])
        assert (steps > 0).all(), f"user {u}: a sampled item has zero true probability"


def test_implausible_sequence_scores_zero():
    world = SyntheticWorld(SMALL)
    item = 1
    # an item the user has already seen can never come next
    assert world.step_plausibility(0, [item, 2, item])[-1] == 0.0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"num_items": 3, "num_groups": 5}, "num_groups"),
        ({"min_length": 2}, "min_length"),
        ({"follow": 1.5}, "follow"),
        ({"max_length": 4}, "max_length"),
        ({"length_tail": 0.0}, "length_tail"),
    ],
)
def test_spec_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        SyntheticSpec(**kwargs)
