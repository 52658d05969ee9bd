"""Generated-data statistics: ApEn with r = 0, repeat rate, coverage, tail share."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.stats import approximate_entropy, dataset_stats


@pytest.mark.parametrize("n, m", [(10, 1), (50, 2), (7, 2)])
def test_apen_without_repeats_depends_on_length_only(n, m):
    seq = list(range(1, n + 1))
    assert approximate_entropy(seq, m) == pytest.approx(math.log((n - m + 1) / (n - m)))


def test_apen_of_a_periodic_sequence_is_small():
    periodic = [1, 2] * 20
    assert approximate_entropy(periodic, 2) < approximate_entropy(list(range(1, 41)), 2)
    assert approximate_entropy([1, 2], 2) == 0.0


def test_dataset_stats():
    store = SequenceStore.from_lists([[1, 2, 3], [1, 1, 4], [5, 6]])
    pop = np.array([10, 10, 1, 1, 1, 1, 0, 0, 0, 0])  # items 1..10
    s = dataset_stats(store, num_items=10, num_real_users=3, reference_popularity=pop)
    assert s["sequences"] == 3 and s["interactions"] == 8
    assert s["density_per_sequence"] == pytest.approx(8 / 30)
    assert s["item_coverage"] == pytest.approx(6 / 10)
    assert s["repeat_rate"] == pytest.approx(1 / 8)
    # head = the 2 most popular items (1, 2): 4 of the 8 interactions (item 1 three times)
    assert s["tail_share"] == pytest.approx(4 / 8)
