"""The learning-rate schedule: linear warm-up, then constant or cosine; what a fit really uses."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from rsir_pl.config import ConfigError, DataConfig, ModelConfig, TrainerConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.models import build_model
from rsir_pl.models.schedule import build_scheduler, lr_factor
from rsir_pl.training import fit


def test_warmup_rises_linearly_then_holds_for_constant():
    got = [lr_factor(s, "constant", warmup=4, total=0) for s in range(8)]
    assert got == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0])


def test_cosine_falls_from_one_to_the_floor_and_stays():
    f = [lr_factor(s, "cosine", warmup=2, total=12, min_ratio=0.1) for s in range(16)]
    assert f[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    # halfway through the decay (step 2 + 5 of 10): the midpoint between 1 and the floor
    assert f[7] == pytest.approx(0.55)
    assert f[12] == pytest.approx(0.1) and f[15] == pytest.approx(0.1)
    decay = f[2:13]
    assert all(a > b for a, b in zip(decay, decay[1:]))  # strictly decreasing
    # the cosine's shape, not a straight line: a quarter of the way down it has lost 1 - cos(pi/4) / 2
    assert f[2 + 10 // 4] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.2)))


def test_no_warmup_starts_at_the_full_rate():
    assert lr_factor(0, "cosine", warmup=0, total=10) == 1.0
    assert lr_factor(0, "constant", warmup=0, total=0) == 1.0


def test_scheduler_refuses_an_endless_cosine():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="model.lr_schedule cosine"):
        build_scheduler(opt, "cosine", 0, float("inf"))


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"lr_schedule": "linear"}, "model.lr_schedule"),
        ({"lr_warmup_steps": 5}, "model.lr_warmup_steps"),  # warm-up without a schedule
        ({"lr_schedule": "cosine", "lr_warmup_steps": -1}, "model.lr_warmup_steps"),
        ({"lr_schedule": "cosine", "lr_min_ratio": 1.5}, "model.lr_min_ratio"),
    ],
)
def test_bad_schedule_options_name_the_option(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        ModelConfig(**kwargs)


class _RecordLR(Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_fit_follows_the_schedule_step_by_step():
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64), seed=0)
    dm.setup()
    cfg = ModelConfig(hidden=8, heads=1, layers=1, lr=0.01, lr_schedule="cosine", lr_warmup_steps=3, lr_min_ratio=0.0)
    model = build_model(cfg, dm.num_items, 20)
    rec = _RecordLR()
    trainer_cfg = TrainerConfig(max_epochs=2, patience=5, accelerator="cpu", progress_bar=False, limit_train_batches=4)
    fit(model, dm, trainer_cfg, callbacks=[rec])
    total = 2 * 4  # planned optimizer steps: epochs x batches
    assert rec.lrs == pytest.approx([0.01 * lr_factor(s, "cosine", 3, total) for s in range(total)])
