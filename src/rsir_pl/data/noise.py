"""Noisy training data for the robustness study (paper appendix F, Table 13).

Rate ``r``: each user's training part (all items but the last two) gets ``round(r * len)``
random catalogue items (half rounds up) at uniformly random positions; the validation and test
items (the last two) are never moved or changed. The result is a new
:class:`~rsir_pl.data.dataset.InteractionDataset` whose sequences are the noisy training parts
followed by the unchanged last two items, so the leave-one-out split of the noisy dataset has
the same evaluation targets as the clean one.

Noise items are uniform over ``1..num_items`` and may repeat items of the sequence (the paper
inserts "items from the global item set"); a draw that hits the user's own validation or test
item is redrawn, so noise never puts an evaluation target into training. Every draw is keyed by
(seed, user, slot), so the noisy data depend only on the seed and the rate.
"""

from __future__ import annotations

import numpy as np

from rsir_pl import draws
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.split import MIN_SPLIT_LENGTH
from rsir_pl.data.store import SequenceStore

#: redraws of a noise item that hit the user's validation or test item
_REDRAWS = 32


def noise_counts(train_lengths: np.ndarray, rate: float) -> np.ndarray:
    """Noise items per training part: ``round(rate * len)``, halves rounded up."""
    return np.floor(np.asarray(train_lengths, dtype=np.float64) * rate + 0.5).astype(np.int64)


def add_noise(dataset: InteractionDataset, rate: float, seed: int = 0) -> InteractionDataset:
    """A copy of ``dataset`` with random items inserted into every user's training part."""
    if rate < 0:
        raise ValueError(f"noise rate must be >= 0 (got {rate})")
    seqs = dataset.sequences
    lengths = seqs.lengths
    splittable = lengths >= MIN_SPLIT_LENGTH
    n_noise = np.where(splittable, noise_counts(np.maximum(lengths - 2, 0), rate), 0)
    if rate == 0 or not n_noise.any():
        return InteractionDataset(
            f"{dataset.name}+noise{rate:g}", seqs, dataset.num_items, dataset.item_ids, dataset.user_ids
        )
    new_len = lengths + n_noise
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(new_len, out=offsets[1:])
    user = np.repeat(np.arange(len(seqs)), new_len)
    slot = np.arange(int(new_len.sum())) - np.repeat(offsets[:-1], new_len)
    # the n smallest keys among a user's training slots become noise; the last two slots never do
    key = draws.keyed_uniform(seed, 0, user, slot, 0, draws.NOISE_POS)
    key = np.where(slot >= new_len[user] - 2, 2.0, key)
    order = np.lexsort((key, user))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - np.repeat(offsets[:-1], new_len)
    is_noise = rank < n_noise[user]
    items = np.empty(len(user), dtype=np.int64)
    items[~is_noise] = seqs.items  # the original items keep their order
    nu, ns = user[is_noise], slot[is_noise]
    held = np.stack([seqs.items[seqs.offsets[1:] - 2], seqs.items[seqs.offsets[1:] - 1]], axis=1)
    noise = np.zeros(len(nu), dtype=np.int64)
    todo = np.ones(len(nu), dtype=bool)
    for r in range(_REDRAWS):
        idx = np.flatnonzero(todo)
        if len(idx) == 0:
            break
        u = draws.keyed_uniform(seed, 0, nu[idx], ns[idx], r, draws.NOISE_ITEM)
        noise[idx] = 1 + np.minimum((u * dataset.num_items).astype(np.int64), dataset.num_items - 1)
        todo[idx] = (held[nu[idx]] == noise[idx, None]).any(axis=1)
    if todo.any():  # only with a catalogue of one or two items
        raise ValueError("cannot draw noise items different from the users' validation and test items")
    items[is_noise] = noise
    store = SequenceStore(items, offsets)
    return InteractionDataset(
        f"{dataset.name}+noise{rate:g}", store, dataset.num_items, dataset.item_ids, dataset.user_ids
    )
