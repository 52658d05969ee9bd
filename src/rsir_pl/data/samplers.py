"""Which rows make a batch: row-index datasets, length-bucketed batches, and DDP shards that
cover each user exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class IndexDataset(Dataset):
    """A dataset of row indices; the collate function builds whole batches with NumPy."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class ShardSampler(Sampler[int]):
    """Every ``world``-th index from ``rank``, no padding: each user is evaluated exactly once."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length sequences, so padded batches stay narrow.

    Indices are shuffled, cut into pools of ``pool_batches`` batches, sorted by length inside a
    pool, cut into batches, and the batches shuffled again. Under DDP every rank takes every
    ``world``-th batch; the batch list is padded by repetition so all ranks run the same number of
    steps. The order depends only on the global torch RNG (seeded by ``seed_everything``) and the
    epoch.
    """

    def __init__(
        self, lengths: np.ndarray, batch_size: int, rank: int = 0, world: int = 1, pool_batches: int = 50
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size, self.rank, self.world = batch_size, rank, world
        self.pool = batch_size * pool_batches
        self.base_seed: int | None = None
        self.epoch = 0

    def _batches(self) -> list[np.ndarray]:
        if self.base_seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        else:
            seed = self.base_seed * 1_000_003 + self.epoch
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(self.lengths))
        batches = []
        for start in range(0, len(perm), self.pool):
            pool = perm[start : start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        order = rng.permutation(len(batches))
        batches = [batches[i] for i in order]
        if self.world > 1 and len(batches) % self.world:
            # cyclic: with fewer batches than ranks a plain slice would still leave some ranks short
            extra = self.world - len(batches) % self.world
            batches += [batches[i % len(batches)] for i in range(extra)]
        return batches[self.rank :: self.world]

    def set_seed(self, seed: int) -> None:
        """Shuffle from ``seed`` and the epoch instead of the global RNG (DDP: every rank must
        draw the same batch list)."""
        self.base_seed = seed

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._batches():
            yield b.tolist()

    def __len__(self) -> int:
        n = -(-len(self.lengths) // self.batch_size)  # pools are whole batches
        if self.world > 1:
            n = -(-n // self.world)
        return n
