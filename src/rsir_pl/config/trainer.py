"""The ``trainer`` section: every Lightning Trainer argument rsir_pl passes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from rsir_pl.config.checks import check, choice

#: Lightning precision strings (trainer.precision)
PRECISIONS = (
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
    "transformer-engine-float16",
    "32",
    "16",
    "bf16",
    "64",
)
#: Lightning profiler names (trainer.profiler)
PROFILERS = ("simple", "advanced", "pytorch", "xla")


@dataclass
class TrainerConfig:
    """Lightning Trainer settings used for every iteration's fit.

    Every ``lightning.Trainer`` argument that takes a plain value is an option here, under its
    Lightning name (three are renamed: ``val_every_n_epochs``, ``progress_bar``, ``model_summary``);
    the few that rsir_pl sets itself are listed in ``rsir_pl.training.RESERVED_TRAINER_ARGS`` with
    the reason. Lightning's documentation describes each one.

    Args:
        max_epochs: upper bound on epochs per fit.
        patience: epochs without a better validation NDCG@10 before stopping (rsir_pl's early stopping).
        fit_checkpoint: write ``iter_<k>/fit.ckpt`` after every epoch so a killed fit resumes from
            its last finished epoch, to the same result (rsir_pl's own; deleted once ``model.pt`` is
            saved). Off saves the write (the full weights and optimizer state) on huge catalogues.
        min_epochs: epochs to train before early stopping may act.
        max_steps: upper bound on optimizer steps per fit (-1 = none).
        min_steps: optimizer steps to train before early stopping may act.
        max_time: wall-time limit per fit, "DD:HH:MM:SS".
        accelerator: cpu, gpu or auto.
        devices: number of devices (or "auto"); per node when num_nodes > 1.
        num_nodes: machines of a DDP run (launched by torchrun or SLURM; see the README).
        strategy: auto or ddp (multi-GPU: ddp).
        precision: Lightning precision: 32-true, 16-mixed, bf16-mixed, 16-true, bf16-true, 64-true.
        progress_bar: show Lightning's progress bar (enable_progress_bar).
        model_summary: print the model summary at the start of a fit (enable_model_summary).
        val_every_n_epochs: validate every n epochs (check_val_every_n_epoch).
        val_check_interval: validate within an epoch too: a fraction of it or a number of batches.
        num_sanity_val_steps: validation batches run before training as a smoke check.
        log_every_n_steps: how often training-step metrics are logged.
        limit_train_batches: fraction or count of training batches per epoch (debugging).
        limit_val_batches: fraction or count of validation batches (debugging; early stopping then
            sees part of the users).
        accumulate_grad_batches: batches whose gradients are summed before an optimizer step.
        gradient_clip_val: clip gradients at this value (null = no clipping).
        gradient_clip_algorithm: norm or value (with gradient_clip_val).
        deterministic: ask torch for deterministic algorithms (true, false or "warn").
        benchmark: cudnn.benchmark (null leaves torch's setting).
        inference_mode: evaluate under torch.inference_mode (else torch.no_grad).
        profiler: simple, advanced or pytorch (null = none).
        detect_anomaly: torch autograd anomaly detection (slow; debugging).
        sync_batchnorm: synchronise batch norm across devices.
        reload_dataloaders_every_n_epochs: rebuild the data loaders every n epochs (0 = never).
        enable_autolog_hparams: let the logger record the model's hyperparameters.
        model_registry: Lightning model registry name (used with Lightning's checkpointing only).
    """

    max_epochs: int = 200
    patience: int = 20
    fit_checkpoint: bool = True
    min_epochs: int = 1
    max_steps: int = -1
    min_steps: Optional[int] = None
    max_time: Optional[str] = None
    accelerator: str = "auto"
    devices: Union[int, str] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    progress_bar: bool = True
    model_summary: bool = False
    val_every_n_epochs: int = 1
    val_check_interval: Optional[Union[int, float]] = None
    num_sanity_val_steps: int = 0
    log_every_n_steps: int = 10
    limit_train_batches: Optional[Union[int, float]] = None
    limit_val_batches: Optional[Union[int, float]] = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: Optional[str] = None
    deterministic: Union[bool, str] = False
    benchmark: Optional[bool] = None
    inference_mode: bool = True
    profiler: Optional[str] = None
    detect_anomaly: bool = False
    sync_batchnorm: bool = False
    reload_dataloaders_every_n_epochs: int = 0
    enable_autolog_hparams: bool = True
    model_registry: Optional[str] = None

    def __post_init__(self) -> None:
        check(self.max_epochs >= 1, "trainer.max_epochs", "must be >= 1", self.max_epochs)
        check(self.patience >= 1, "trainer.patience", "must be >= 1", self.patience)
        check(self.min_epochs >= 0, "trainer.min_epochs", "must be >= 0", self.min_epochs)
        check(self.max_steps >= -1, "trainer.max_steps", "must be -1 (no limit) or >= 0", self.max_steps)
        if self.min_steps is not None:
            check(self.min_steps >= 0, "trainer.min_steps", "must be >= 0 or null", self.min_steps)
        if self.max_time is not None:
            parts = str(self.max_time).split(":")
            check(
                len(parts) == 4 and all(p.isdigit() for p in parts),
                "trainer.max_time",
                'must be "DD:HH:MM:SS" (e.g. "00:01:30:00") or null',
                self.max_time,
            )
        if isinstance(self.devices, int):
            check(self.devices >= 1, "trainer.devices", "must be >= 1 or 'auto'", self.devices)
        check(self.num_nodes >= 1, "trainer.num_nodes", "must be >= 1", self.num_nodes)
        choice(self.precision, "trainer.precision", PRECISIONS)
        check(self.val_every_n_epochs >= 1, "trainer.val_every_n_epochs", "must be >= 1", self.val_every_n_epochs)
        if self.val_check_interval is not None:
            check(
                self.val_check_interval > 0,
                "trainer.val_check_interval",
                "must be > 0 (a fraction of an epoch or a number of batches) or null",
                self.val_check_interval,
            )
        check(
            self.num_sanity_val_steps >= -1,
            "trainer.num_sanity_val_steps",
            "must be >= 0 (or -1: all)",
            self.num_sanity_val_steps,
        )
        check(self.log_every_n_steps >= 1, "trainer.log_every_n_steps", "must be >= 1", self.log_every_n_steps)
        for name in ("limit_train_batches", "limit_val_batches"):
            v = getattr(self, name)
            if v is not None:
                check(
                    (isinstance(v, int) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0),
                    f"trainer.{name}",
                    "must be a batch count >= 0, a fraction in [0, 1] or null",
                    v,
                )
        check(
            self.accumulate_grad_batches >= 1,
            "trainer.accumulate_grad_batches",
            "must be >= 1",
            self.accumulate_grad_batches,
        )
        if self.gradient_clip_val is not None:
            check(
                self.gradient_clip_val >= 0, "trainer.gradient_clip_val", "must be >= 0 or null", self.gradient_clip_val
            )
        if self.gradient_clip_algorithm is not None:
            choice(self.gradient_clip_algorithm, "trainer.gradient_clip_algorithm", ("norm", "value"))
        if isinstance(self.deterministic, str):
            choice(self.deterministic, "trainer.deterministic", ("warn",))
        if self.profiler is not None:
            choice(self.profiler, "trainer.profiler", PROFILERS)
        check(
            self.reload_dataloaders_every_n_epochs >= 0,
            "trainer.reload_dataloaders_every_n_epochs",
            "must be >= 0",
            self.reload_dataloaders_every_n_epochs,
        )
