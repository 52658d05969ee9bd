"""One fit of one model: a fresh Trainer with early stopping on validation NDCG@10, best weights
restored before anything else reads the model, then a full-ranking test."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint, EarlyStopping
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from rsir_pl.config import ConfigError, TrainerConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.fit_checkpoint import FitCheckpoint
from rsir_pl.models.base import SequentialRecommender

log = logging.getLogger(__name__)

MONITOR = "val_ndcg10"


class BestWeights(Callback):
    """Keeps the weights of the best validation epoch in memory and restores them at train end.

    It must come before any callback that uses the trained model in ``on_train_end`` (such as
    :class:`rsir_pl.loop.callback.SelfImproveCallback`): Lightning runs callbacks in list order.
    """

    #: what :attr:`seconds` reads time from (tests substitute a clock they move by hand)
    clock: Callable[[], float] = staticmethod(time.perf_counter)

    def __init__(self, monitor: str = MONITOR) -> None:
        self.monitor = monitor
        self.best: float = -float("inf")
        self.best_epoch: int = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        #: seconds of earlier starts of this fit, up to their last saved epoch (0 for a fresh fit)
        self.earlier_seconds = 0.0
        self._started: float | None = None
        self._ended: float | None = None

    @property
    def seconds(self) -> float:
        """Wall seconds this fit has trained, summed over its starts (a killed start counts up to
        its last saved epoch); stops at train end, so generation at fit end is not included."""
        if self._started is None:
            return self.earlier_seconds
        end = self._ended if self._ended is not None else self.clock()
        return self.earlier_seconds + (end - self._started)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started, self._ended = self.clock(), None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        metrics["epoch"] = trainer.current_epoch
        self.history.append(metrics)
        value = metrics.get(self.monitor)
        if value is not None and value > self.best:
            self.best = value
            self.best_epoch = trainer.current_epoch
            self.best_state = {k: v.detach().clone().cpu() for k, v in pl_module.state_dict().items()}
        if trainer.is_global_zero and value is not None:
            log.info(
                "epoch %d: validation NDCG@10 %.5f (best %.5f at epoch %d)",
                trainer.current_epoch,
                value,
                self.best,
                self.best_epoch,
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ended = self.clock()
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        """Best value, epoch, weights and history: a resumed fit (``FitCheckpoint``) continues them."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "history": self.history,
            "seconds": self.seconds,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict["best"]
        self.best_epoch = state_dict["best_epoch"]
        self.best_state = state_dict["best_state"]
        self.history = list(state_dict["history"])
        self.earlier_seconds = float(state_dict.get("seconds", 0.0))  # files written before it: 0


@dataclass
class FitResult:
    """What one fit produced."""

    model: SequentialRecommender
    best_epoch: int
    epochs: int
    best_val_ndcg10: float
    fit_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


#: Trainer arguments rsir_pl sets itself, so they are not options, with the reason
RESERVED_TRAINER_ARGS: dict[str, str] = {
    "logger": "set from logger.* (csv, wandb or none)",
    "callbacks": "rsir_pl adds early stopping, best-weight restoring and generation itself",
    "enable_checkpointing": "each iteration's model.pt is the checkpoint, and iter_<k>/fit.ckpt the in-progress fit's "
    "(trainer.fit_checkpoint)",
    "default_root_dir": "set to run_dir",
    "use_distributed_sampler": "the datamodule shards users and batches across ranks itself",
    "limit_test_batches": "the test ranks every user (the paired comparison with the base needs all of them)",
    "limit_predict_batches": "rsir_pl does not predict through the Trainer",
    "fast_dev_run": "it limits the test to one batch; use trainer.max_steps or trainer.limit_train_batches",
    "overfit_batches": "it evaluates on training batches; use trainer.limit_train_batches",
    "barebones": "it disables the metric logging that early stopping reads",
    "plugins": "Python objects, not config values; pass them to rsir_pl.training.build_trainer(plugins=...)",
}
#: TrainerConfig fields whose Trainer argument has another name
RENAMED_TRAINER_ARGS: dict[str, str] = {
    "val_every_n_epochs": "check_val_every_n_epoch",
    "progress_bar": "enable_progress_bar",
    "model_summary": "enable_model_summary",
}
#: TrainerConfig fields that are rsir_pl's own, not Trainer arguments
RSIR_TRAINER_FIELDS = ("patience", "fit_checkpoint")


def trainer_kwargs(config: TrainerConfig) -> dict[str, Any]:
    """The ``lightning.Trainer`` arguments of ``config`` (every field but :data:`RSIR_TRAINER_FIELDS`)."""
    out = {}
    for f in dataclasses.fields(config):
        if f.name not in RSIR_TRAINER_FIELDS:
            out[RENAMED_TRAINER_ARGS.get(f.name, f.name)] = getattr(config, f.name)
    return out


def build_trainer(
    config: TrainerConfig,
    callbacks: Sequence[Callback] = (),
    logger: Any = False,
    default_root_dir: str | None = None,
    **extra: Any,
) -> L.Trainer:
    """A fresh Trainer for one fit (never reuse one: a second fit trains 0 steps).

    ``extra`` passes Python objects no config can hold (``plugins``, a ``profiler`` instance).
    Lightning's own refusal of a setting is re-raised as a ConfigError.
    """
    kwargs = {
        **trainer_kwargs(config),
        **extra,
        "callbacks": list(callbacks),
        "logger": logger,
        "enable_checkpointing": any(isinstance(c, Checkpoint) for c in callbacks),
        "use_distributed_sampler": False,
        "default_root_dir": default_root_dir,
    }
    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, TypeError) as exc:
        raise ConfigError(f"trainer: Lightning refused the settings: {exc}") from exc


def fit(
    model: SequentialRecommender,
    datamodule: SequenceDataModule,
    config: TrainerConfig,
    callbacks: Sequence[Callback] = (),
    logger: Any = False,
    default_root_dir: str | None = None,
    checkpoint: FitCheckpoint | None = None,
) -> tuple[FitResult, L.Trainer]:
    """Train ``model`` on the datamodule's current D_k with early stopping; best weights restored.

    ``callbacks`` run after the best weights are back in place (so generation sees them). With a
    ``checkpoint``, the fit writes its state after every epoch and resumes from the file when it
    exists (``checkpoint.resumed_after_epoch`` then says from where).
    """
    best = BestWeights()
    stop = EarlyStopping(monitor=MONITOR, mode="max", patience=config.patience, check_finite=True)
    extra = [checkpoint] if checkpoint is not None else []
    trainer = build_trainer(config, [best, stop, *callbacks, *extra], logger, default_root_dir)
    ckpt_path = checkpoint.resume_path() if checkpoint is not None else None
    # the file is this run's own (written by FitCheckpoint), so its pickled parts are trusted
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False if ckpt_path else None)
    result = FitResult(
        model=model,
        best_epoch=best.best_epoch,
        epochs=trainer.current_epoch,
        best_val_ndcg10=best.best,
        fit_seconds=best.seconds,
        history=best.history,
    )
    return result, trainer


def evaluate(
    model: SequentialRecommender, datamodule: SequenceDataModule, trainer: L.Trainer
) -> tuple[dict[str, float], np.ndarray]:
    """Full-ranking test metrics and the per-user ranks (gathered across ranks, by user index)."""
    out = trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {k.removeprefix("test/"): float(v) for k, v in out[0].items()}
    users = torch.cat([u for u, _ in model.test_ranks]) if model.test_ranks else torch.zeros(0, dtype=torch.long)
    ranks = torch.cat([r for _, r in model.test_ranks]) if model.test_ranks else torch.zeros(0, dtype=torch.long)
    if trainer.world_size > 1:
        gathered: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, (users, ranks))
        users = torch.cat([g[0] for g in gathered])
        ranks = torch.cat([g[1] for g in gathered])
    per_user = np.zeros(datamodule.split.num_users, dtype=np.int64)  # type: ignore[union-attr]
    per_user[users.numpy()] = ranks.numpy()
    return metrics, per_user
