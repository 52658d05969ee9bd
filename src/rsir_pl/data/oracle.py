"""The oracle ceiling of the embedded world: rank every test item by the true distribution.

For a dataset whose generating world is known (``synthetic``, ``synthetic-tiny``), the best any
recommender can do for a user is to rank the catalogue by the true ``P(next item | user, history)``.
Scoring the test items that way, with the same leave-one-out inputs, tie-pessimistic ranks and
metrics as the models, gives the ceiling that base and RSIR are measured against: how much of the
base's distance to it one RSIR iteration closes.
"""

from __future__ import annotations

import numpy as np
import torch

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.synthetic import SyntheticWorld
from rsir_pl.metrics import metrics_from_ranks


def oracle_ranks(world: SyntheticWorld, split: LeaveOneOutSplit) -> np.ndarray:
    """1-based rank of each kept user's test item under the true next-item distribution given the
    test input (training part + validation item); ties count against the target, as for models.

    History items have true probability 0 (the world never repeats an item), so they rank below
    every possible item, as masked history does for the models.
    """
    if split.num_items != world.spec.num_items:
        raise ValueError(
            f"oracle: the split has {split.num_items} items and the world {world.spec.num_items}: not the world's data"
        )
    full = split.full
    ranks = np.empty(split.num_users, dtype=np.int64)
    for j in range(split.num_users):
        seq = full[j]
        p = world.next_distribution(int(split.users[j]), seq[:-1])
        ranks[j] = int((p >= p[seq[-1]]).sum())
    return ranks


def oracle_metrics(world: SyntheticWorld, split: LeaveOneOutSplit) -> dict[str, float]:
    """Mean test metrics (NDCG, Recall, MRR, ... at 10 and 20) of ranking by the truth."""
    values = metrics_from_ranks(torch.from_numpy(oracle_ranks(world, split)))
    return {name: float(v.mean()) for name, v in values.items()}
