"""SequenceDataModule: training loaders for D_k, evaluation loaders, and ``expand`` to D_{k+1}."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from rsir_pl import draws
from rsir_pl.config import DataConfig
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.samplers import IndexDataset, LengthBucketBatchSampler, ShardSampler
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore, _ranges

log = logging.getLogger(__name__)


class SequenceDataModule(L.LightningDataModule):
    """Owns the dataset, its leave-one-out split and the current training set D_k.

    One instance lives across all iterations; :meth:`expand` appends synthetic sequences, and the
    next ``Trainer.fit`` sees D_{k+1} because :meth:`train_dataloader` always reads the current
    store (never a cached loader).
    """

    def __init__(
        self, config: DataConfig | None = None, dataset: InteractionDataset | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        self.config = config or DataConfig()
        self.seed = seed
        self._dataset = dataset
        self.split: LeaveOneOutSplit | None = None
        self.train_store: SequenceStore | None = None
        #: loss weighting the loop sets for the current D_k (see models/losses.py)
        self.synthetic_real_weight: float | None = None
        self.item_weight: torch.Tensor | None = None
        #: indices of D_k's real sequences replaced for training by an augmented version (ASReP):
        #: they stay in D_k unchanged but neither train nor seed generation
        self.replaced: np.ndarray = np.zeros(0, dtype=np.int64)
        #: indices of D_0's sequences held out of the current fit as the inverse gradient's probe
        #: set (:meth:`hold_out_probe`); they stay in D_k and seed generation as usual
        self.probe_rows: np.ndarray = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ set-up
    def prepare_data(self) -> None:
        if self._dataset is None:
            load_dataset(self.config.dataset, k_core=self.config.k_core)

    def setup(self, stage: str | None = None) -> None:
        if self.split is not None:
            return
        if self._dataset is None:
            self._dataset = load_dataset(self.config.dataset, k_core=self.config.k_core)
        self.split = LeaveOneOutSplit.from_sequences(
            self._dataset.sequences, self._dataset.num_items, self._dataset.times
        )
        self.train_store = self.split.train()

    @property
    def dataset(self) -> InteractionDataset:
        """The loaded dataset (after :meth:`setup`)."""
        self.setup()
        assert self._dataset is not None
        return self._dataset

    @property
    def num_items(self) -> int:
        """Catalogue size N (ids 1..N)."""
        return self.dataset.num_items

    @property
    def has_times(self) -> bool:
        """Whether the dataset carries interaction timestamps (batches then hold ``time_key`` and
        ``time_query``; synthetic sequences have none and carry NaN)."""
        self.setup()
        assert self.split is not None
        return self.split.full_times is not None

    def _train_times(self) -> np.ndarray | None:
        """Timestamps parallel to D_k's items: D_0's real times, NaN for synthetic sequences."""
        assert self.split is not None and self.train_store is not None
        d0_times = self.split.train_times()
        if d0_times is None:
            return None
        # D_k always starts with D_0 (expand and set_train_store keep it), so D_0's times lead
        times = np.full(self.train_store.num_interactions, np.nan)
        times[: len(d0_times)] = d0_times
        return times

    @property
    def d0(self) -> SequenceStore:
        """D_0: the real training parts."""
        self.setup()
        assert self.split is not None
        return self.split.train()

    # ------------------------------------------------------------------ D_k
    def expand(self, new_sequences: SequenceStore, replaces: np.ndarray | None = None) -> SequenceStore:
        """D_{k+1} = D_k followed by ``new_sequences``; D_k's sequences stay as they were.

        ``replaces``: indices of D_k's real sequences that the new sequences replace for training
        (ASReP's augmented versions); they are added to :attr:`replaced`.
        """
        self.setup()
        assert self.train_store is not None and self.split is not None
        if replaces is not None and len(replaces):
            replaces = np.asarray(replaces, dtype=np.int64)
            n_real = len(self.split.train())
            if replaces.min() < 0 or replaces.max() >= n_real:
                raise ValueError("only real sequences (rows of D_0) can be replaced for training")
            if len(np.unique(replaces)) != len(replaces) or np.isin(replaces, self.replaced).any():
                raise ValueError("a real sequence can be replaced for training only once")
        if len(new_sequences):
            if new_sequences.generation.min() < 1:
                raise ValueError("expand() takes synthetic sequences only (generation >= 1)")
            if new_sequences.root.min() < 0 or new_sequences.root.max() >= self.split.num_users:
                raise ValueError("synthetic sequences must name an existing real user as root")
            # num_interactions guard: min() of an empty item array would raise a confusing error
            if new_sequences.num_interactions and (
                new_sequences.items.min() < 1 or new_sequences.max_item > self.num_items
            ):
                raise ValueError(f"synthetic items must lie in 1..{self.num_items}")
        self.train_store = SequenceStore.concat([self.train_store, new_sequences])
        if replaces is not None and len(replaces):
            self.replaced = np.sort(np.concatenate([self.replaced, replaces]))
        return self.train_store

    @property
    def training_rows(self) -> np.ndarray:
        """Mask over D_k: the sequences the model trains on (all but the :attr:`replaced` and the
        :attr:`probe_rows`)."""
        assert self.train_store is not None
        mask = np.ones(len(self.train_store), dtype=bool)
        mask[self.replaced] = False
        mask[self.probe_rows] = False
        return mask

    def hold_out_probe(self, share: float, iteration: int) -> np.ndarray:
        """Hold ``share`` of the trainable real sequences (keyed by seed and iteration) out of
        training until :meth:`release_probe`; returns their indices in D_0."""
        self.setup()
        assert self.train_store is not None
        self.probe_rows = np.zeros(0, dtype=np.int64)
        store = self.train_store
        real = np.flatnonzero((store.generation == 0) & (store.lengths >= 2) & self.training_rows)
        n = int(round(share * len(real)))
        if n == 0 or n >= len(real):
            raise ValueError(f"model.ig_holdout={share}: holds out {n} of {len(real)} real sequences")
        u = draws.keyed_uniform(self.seed, iteration, real, 0, 0, draws.IG_HOLDOUT)
        self.probe_rows = np.sort(real[np.argsort(u, kind="stable")[:n]])
        return self.probe_rows

    def release_probe(self) -> None:
        """Train on every sequence again (after the fit that held the probe set out)."""
        self.probe_rows = np.zeros(0, dtype=np.int64)

    def probe_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out sequences as a training batch: left-padded inputs and next-item targets
        ``[P, max_len]`` (the layout :meth:`train_dataloader` gives)."""
        assert self.train_store is not None and len(self.probe_rows)
        inp, tgt, _ = _training_arrays(self.train_store, self.probe_rows, self.config.max_len)
        return torch.from_numpy(inp), torch.from_numpy(tgt)

    def set_train_store(self, store: SequenceStore) -> None:
        """Replace D_k (used when resuming a run from files); must start with D_0."""
        if not store.startswith(self.d0):
            raise ValueError("a training store must start with D_0, the real training parts")
        self.train_store = store

    def target_item_counts(self) -> np.ndarray:
        """How often each item (0..N) is a next-item target in D_k (after truncation to max_len)."""
        assert self.train_store is not None
        store = self.train_store
        rows = np.flatnonzero((store.lengths >= 2) & self.training_rows)
        n_t = np.minimum(store.lengths[rows] - 1, self.config.max_len)
        starts = store.offsets[rows + 1] - n_t
        items = store.items[_ranges(starts, n_t)]
        return np.bincount(items, minlength=self.num_items + 1)

    def target_counts(self) -> tuple[int, int]:
        """(real, synthetic) next-item targets in D_k, after truncation to max_len."""
        assert self.train_store is not None
        n_targets = np.minimum(np.maximum(self.train_store.lengths - 1, 0), self.config.max_len)
        n_targets = n_targets * self.training_rows
        syn = self.train_store.generation > 0
        return int(n_targets[~syn].sum()), int(n_targets[syn].sum())

    # ------------------------------------------------------------------ loaders
    def _trainable(self) -> np.ndarray:
        assert self.train_store is not None
        return np.flatnonzero((self.train_store.lengths >= 2) & self.training_rows)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        rows = self._trainable()
        store = self.train_store
        assert store is not None
        max_len = self.config.max_len
        n_inputs = np.minimum(store.lengths[rows] - 1, max_len)
        times = self._train_times()
        reweight = self.config.bucket_by_length and self.config.bucket_reweight
        # targets a batch of batch_size sequences holds on average (the reweighting's unit)
        mean_targets = float(n_inputs.mean()) * self.config.batch_size if len(rows) else 1.0

        def collate(batch: list[int]) -> dict[str, torch.Tensor]:
            idx = rows[np.asarray(batch, dtype=np.int64)]
            inp, tgt, width = _training_arrays(store, idx, max_len)
            out = {
                "input": torch.from_numpy(inp),
                "target": torch.from_numpy(tgt),
                "synthetic": torch.from_numpy(store.generation[idx] > 0),
                "generation": torch.from_numpy(store.generation[idx]),
            }
            if reweight:
                out["loss_scale"] = torch.tensor(float(n_inputs[np.asarray(batch)].sum()) / mean_targets)
            if times is not None:
                # query time of position j = time of its target (the next item)
                out["time_key"] = torch.from_numpy(store.padded_values(times, idx, width, drop_last=1, fill=np.nan))
                out["time_query"] = torch.from_numpy(store.padded_values(times, idx, width, fill=np.nan))
            return out

        world, rank = self._world()
        dataset = IndexDataset(len(rows))
        if self.config.bucket_by_length:
            sampler = LengthBucketBatchSampler(n_inputs, self.config.batch_size, rank, world)
            if world > 1:
                sampler.set_seed(self.seed)
            return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=self.config.num_workers)
        if world > 1:
            base: Sampler[int] = torch.utils.data.DistributedSampler(
                dataset, num_replicas=world, rank=rank, shuffle=True, seed=self.seed
            )
            if self.trainer is not None:
                base.set_epoch(self.trainer.current_epoch)  # type: ignore[attr-defined]
        else:
            base = torch.utils.data.RandomSampler(dataset)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=base,
            collate_fn=collate,
            num_workers=self.config.num_workers,
        )

    def eval_batch(self, users: np.ndarray, stage: str) -> dict[str, torch.Tensor]:
        """Evaluation batch for ``users``: input, target and the history items to mask."""
        assert self.split is not None
        full = self.split.full
        drop = self.split.eval_drop(stage)
        users = np.asarray(users, dtype=np.int64)
        inp = full.padded(users, self.config.max_len, drop_last=drop)
        target = self.split.eval_target(stage)[users]
        batch = {
            "input": torch.from_numpy(inp),
            "target": torch.from_numpy(target),
            "user": torch.from_numpy(users),
        }
        if self.split.full_times is not None:
            # the last query time is the target's own time: when the request is made, not what
            times = self.split.full_times
            batch["time_key"] = torch.from_numpy(
                full.padded_values(times, users, self.config.max_len, drop_last=drop, fill=np.nan)
            )
            batch["time_query"] = torch.from_numpy(
                full.padded_values(times, users, self.config.max_len, drop_last=drop - 1, fill=np.nan)
            )
        if self.config.mask_history:
            hist_len = full.lengths[users] - drop
            batch["hist_rows"] = torch.from_numpy(np.repeat(np.arange(len(users)), hist_len))
            batch["hist_items"] = torch.from_numpy(full.items[_ranges(full.offsets[users], hist_len)].astype(np.int64))
        return batch

    def _eval_loader(self, stage: str) -> DataLoader:
        self.setup()
        assert self.split is not None
        world, rank = self._world()
        n = self.split.num_users
        return DataLoader(
            IndexDataset(n),
            batch_size=self.config.eval_batch_size,
            sampler=ShardSampler(n, rank, world),
            collate_fn=lambda b: self.eval_batch(np.asarray(b), stage),
            num_workers=0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is not None:
            return trainer.world_size, trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def state_summary(self) -> dict[str, Any]:
        """Sizes of D_k for logs."""
        assert self.train_store is not None
        syn = self.train_store.generation > 0
        return {
            "sequences": len(self.train_store),
            "synthetic_sequences": int(syn.sum()),
            "interactions": self.train_store.num_interactions,
            "synthetic_interactions": int(self.train_store.lengths[syn].sum()),
            "replaced_sequences": len(self.replaced),
        }


def _training_arrays(store: SequenceStore, idx: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows ``idx`` of ``store`` as training arrays: left-padded inputs (each sequence without its
    last item), the next-item target of every input position, and their width (at most ``max_len``)."""
    width = int(min(max_len, store.lengths[idx].max() - 1))
    inp = store.padded(idx, width, drop_last=1)
    return inp, store.padded(idx, width) * (inp != 0), width
