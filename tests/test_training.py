"""Every Lightning Trainer argument is an option (or reserved, with a reason), reaches the Trainer,
and a bad value stops with the option's name."""

from __future__ import annotations

import dataclasses
import inspect

import lightning as L
import pytest
import torch

from rsir_pl.cli import main
from rsir_pl.config import ConfigError, DataConfig, ModelConfig, TrainerConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.models import build_model
from rsir_pl.training import (
    RENAMED_TRAINER_ARGS,
    RESERVED_TRAINER_ARGS,
    RSIR_TRAINER_FIELDS,
    BestWeights,
    build_trainer,
    fit,
    trainer_kwargs,
)


def test_every_trainer_argument_is_an_option_or_reserved():
    trainer_args = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    options = set(trainer_kwargs(TrainerConfig()))
    assert options <= trainer_args, f"not Trainer arguments: {options - trainer_args}"
    missing = trainer_args - options - set(RESERVED_TRAINER_ARGS)
    assert not missing, f"Trainer arguments with no trainer.* option and no reason to reserve them: {missing}"
    assert not options & set(RESERVED_TRAINER_ARGS)
    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    assert set(RENAMED_TRAINER_ARGS) <= fields and set(RSIR_TRAINER_FIELDS) <= fields


def test_options_reach_the_trainer():
    cfg = TrainerConfig(
        accelerator="cpu",
        num_nodes=1,
        precision="bf16-mixed",
        gradient_clip_val=0.5,
        gradient_clip_algorithm="value",
        accumulate_grad_batches=3,
        log_every_n_steps=7,
        max_steps=11,
        val_every_n_epochs=2,
        progress_bar=False,
        detect_anomaly=True,
        max_time="00:00:05:00",
    )
    t = build_trainer(cfg)
    assert t.precision == "bf16-mixed" and t.num_nodes == 1
    assert t.gradient_clip_val == 0.5 and t.gradient_clip_algorithm == "value"
    assert t.accumulate_grad_batches == 3 and t.log_every_n_steps == 7
    assert t.max_steps == 11 and t.check_val_every_n_epoch == 2 and t._detect_anomaly is True
    assert t.progress_bar_callback is None


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"num_nodes": 0}, "trainer.num_nodes"),
        ({"precision": "fp8"}, "trainer.precision"),
        ({"gradient_clip_val": -1.0}, "trainer.gradient_clip_val"),
        ({"gradient_clip_algorithm": "norm2"}, "trainer.gradient_clip_algorithm"),
        ({"accumulate_grad_batches": 0}, "trainer.accumulate_grad_batches"),
        ({"log_every_n_steps": 0}, "trainer.log_every_n_steps"),
        ({"max_steps": -2}, "trainer.max_steps"),
        ({"max_time": "90 minutes"}, "trainer.max_time"),
        ({"limit_val_batches": 1.5}, "trainer.limit_val_batches"),
        ({"val_check_interval": 0}, "trainer.val_check_interval"),
        ({"profiler": "fancy"}, "trainer.profiler"),
        ({"deterministic": "always"}, "trainer.deterministic"),
    ],
)
def test_bad_values_name_the_option(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        TrainerConfig(**kwargs)


def test_lightning_refusals_become_config_errors():
    with pytest.raises(ConfigError, match="trainer: Lightning refused"):
        build_trainer(TrainerConfig(accelerator="cpu", strategy="no-such-strategy"))


def test_cli_sets_pass_through_options_and_rejects_bad_ones(tmp_path, capsys):
    from rsir_pl.cli import _run_config, build_parser

    ns = build_parser().parse_args(
        [
            "fit",
            "--trainer.gradient_clip_val",
            "1.0",
            "--trainer.accumulate_grad_batches",
            "2",
            "--trainer.num_nodes",
            "1",
            "--trainer.precision",
            "bf16-mixed",
            "--model.lr_schedule",
            "cosine",
            "--model.lr_warmup_steps",
            "10",
        ]
    )
    cfg = _run_config(ns.fit)
    assert cfg.trainer.gradient_clip_val == 1.0 and cfg.trainer.accumulate_grad_batches == 2
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.model.lr_schedule == "cosine" and cfg.model.lr_warmup_steps == 10
    code = main(["fit", "--run_dir", str(tmp_path / "r"), "--trainer.accumulate_grad_batches", "0"])
    assert code == 2 and "trainer.accumulate_grad_batches must be >= 1" in capsys.readouterr().err


def _weight_change(trainer_cfg: TrainerConfig) -> float:
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64), seed=0)
    dm.setup()
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=8, heads=1, layers=1, lr=0.05, optimizer="adam"), dm.num_items, 20)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, dm, trainer_cfg)
    return sum(float((model.state_dict()[k] - before[k]).abs().sum()) for k in before)


def test_gradient_clipping_reaches_the_training_loop():
    base = dict(max_epochs=1, patience=1, accelerator="cpu", progress_bar=False, limit_train_batches=2)
    free = _weight_change(TrainerConfig(**base))
    # gradients clipped to 1e-12 fall far below Adam's eps (1e-8): the steps all but vanish
    clipped = _weight_change(TrainerConfig(**base, gradient_clip_val=1e-12, gradient_clip_algorithm="value"))
    assert free > 1.0 and clipped < 1e-3 * free


class _Clock:
    """A stand-in for ``time.perf_counter`` that moves only when told: these tests check what
    BestWeights adds up, not how fast anything runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _EpochsThenGeneration(L.Callback):
    """Moves the clock one unit per epoch, then, in ``on_train_end`` after BestWeights (where
    generation runs at fit end), by a large jump that must not count as training."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.reading_at_generation: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.clock.now += 1.0

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.reading_at_generation = self.clock.now
        self.clock.now += 1000.0


def test_fit_seconds_count_training_and_not_the_work_at_fit_end(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(BestWeights, "clock", staticmethod(clock))
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64), seed=0)
    dm.setup()
    model = build_model(ModelConfig(hidden=8, heads=1, layers=1), dm.num_items, 20)
    cfg = TrainerConfig(max_epochs=3, patience=5, accelerator="cpu", progress_bar=False, limit_train_batches=1)
    after = _EpochsThenGeneration(clock)
    result, _ = fit(model, dm, cfg, callbacks=[after])
    # the clock read 0 at fit start: the record is its reading when generation began, one unit per epoch
    assert result.fit_seconds == after.reading_at_generation == result.epochs


def test_fit_seconds_continue_over_a_resumed_fit(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(BestWeights, "clock", staticmethod(clock))
    first = BestWeights()
    first.on_fit_start(None, None)  # type: ignore[arg-type]
    clock.now = first_start_saved = 4.0  # an epoch ends and fit.ckpt is written
    saved = first.state_dict()
    assert saved["seconds"] == first_start_saved
    clock.now = 100.0  # the start is killed later (its unsaved part is lost); the next one resumes from the file
    second = BestWeights()
    second.load_state_dict(saved)
    second.on_fit_start(None, None)  # type: ignore[arg-type]
    clock.now = 100.0 + (second_start := 2.5)
    second.on_train_end(None, None)  # type: ignore[arg-type]
    clock.now = 500.0  # later readings (generation, testing) do not count
    assert second.seconds == first_start_saved + second_start
    old = {k: v for k, v in saved.items() if k != "seconds"}  # a file written before seconds were kept
    third = BestWeights()
    third.load_state_dict(old)
    assert third.seconds == 0.0
