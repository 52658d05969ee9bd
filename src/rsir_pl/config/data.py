"""The ``data`` section: which dataset, and how it is batched."""

from __future__ import annotations

from dataclasses import dataclass

from rsir_pl.config.checks import check


@dataclass
class DataConfig:
    """Which data and how it is batched.

    Args:
        dataset: registered name (synthetic, beauty, toys, sports, yelp) or a file path.
        max_len: most recent items a model sees per sequence.
        batch_size: training sequences per batch.
        eval_batch_size: users per evaluation batch.
        mask_history: remove the user's earlier items from the ranking at evaluation.
        k_core: k-core filter for interaction logs (CSV, Parquet, .inter).
        num_workers: DataLoader worker processes (0 keeps everything in the main process).
        bucket_by_length: batch sequences of similar length together (narrower padded batches,
            several times faster on CPU); batches are still shuffled every epoch.
        bucket_reweight: with bucket_by_length, scale each batch's loss by its number of targets
            over the mean number per batch, so every target weighs what it weighs in uniformly
            drawn batches (a per-batch mean gives a target in a batch of short sequences many times
            the weight of one in a batch of long sequences: on Toys the base's best validation
            NDCG@10 was 0.0651 without reweighting, 0.0758 with it and 0.0757 with uniform
            batches, which take twice the CPU time per epoch; benchmarks/RESULTS.md).
    """

    dataset: str = "synthetic"
    max_len: int = 50
    batch_size: int = 256
    eval_batch_size: int = 512
    mask_history: bool = True
    k_core: int = 5
    num_workers: int = 0
    bucket_by_length: bool = True
    bucket_reweight: bool = True

    def __post_init__(self) -> None:
        check(self.max_len >= 2, "data.max_len", "must be >= 2", self.max_len)
        check(self.batch_size >= 1, "data.batch_size", "must be >= 1", self.batch_size)
        check(self.eval_batch_size >= 1, "data.eval_batch_size", "must be >= 1", self.eval_batch_size)
        check(self.k_core >= 0, "data.k_core", "must be >= 0", self.k_core)
        check(self.num_workers >= 0, "data.num_workers", "must be >= 0", self.num_workers)
