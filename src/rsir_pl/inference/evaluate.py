"""The full-ranking test of a saved model on a dataset whose ids map onto its catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np

from rsir_pl.config import DataConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.models.checkpoint import Checkpoint, bind_dataset, same_as_training
from rsir_pl.training import evaluate


@dataclass
class Evaluation:
    """Test metrics, per-user target ranks, and whether the data is the training data."""

    metrics: dict[str, float]
    ranks: np.ndarray
    dataset: str
    users: int
    same_as_training: bool | None


def evaluate_checkpoint(
    ckpt: Checkpoint,
    dataset: InteractionDataset,
    trainer: L.Trainer,
    mask_history: bool | None = None,
    eval_batch_size: int = 512,
) -> Evaluation:
    """Leave-one-out split of ``dataset`` (original ids; bound to the checkpoint's here), then the
    same full-ranking test the loop runs: the model's own ``max_len``, history masked as in
    training unless ``mask_history`` says otherwise."""
    same = same_as_training(ckpt, dataset)
    bound = bind_dataset(ckpt, dataset)
    if mask_history is None:
        mask_history = bool((ckpt.data or {}).get("mask_history", DataConfig.mask_history))
    config = DataConfig(
        dataset=bound.name, max_len=ckpt.model.max_len, eval_batch_size=eval_batch_size, mask_history=mask_history
    )
    dm = SequenceDataModule(config, dataset=bound)
    dm.setup()
    metrics, ranks = evaluate(ckpt.model, dm, trainer)
    assert dm.split is not None
    return Evaluation(metrics, ranks, bound.name, dm.split.num_users, same)
