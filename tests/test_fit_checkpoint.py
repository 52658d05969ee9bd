"""A fit interrupted after an epoch resumes from ``fit.ckpt`` to exactly the weights, history and
best epoch of a fit that was never interrupted; a file of another fit is refused by name."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from rsir_pl.config import DataConfig, ModelConfig, TrainerConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.fit_checkpoint import STATE_KEY, FitCheckpoint, FitCheckpointError
from rsir_pl.models import build_model
from rsir_pl.training import fit

IDENTITY = {"iteration": 0, "train_data": {"sequences": 1}}
# dropout and a warm-up/cosine schedule: the resumed fit must bring back the RNG and the scheduler too
MODEL = ModelConfig(hidden=8, heads=1, layers=1, dropout=0.3, attn_dropout=0.3, lr_schedule="cosine", lr_warmup_steps=5)
TRAINER = TrainerConfig(max_epochs=5, patience=5, accelerator="cpu", progress_bar=False, limit_train_batches=4)


class Interrupt(RuntimeError):
    pass


class InterruptAt(Callback):
    """Raises when epoch ``epoch`` starts (the previous epoch's file is written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise Interrupt


def _fit(path, callbacks=(), trainer=TRAINER):
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=32), seed=0)
    dm.setup()
    L.seed_everything(3, workers=True, verbose=False)
    model = build_model(MODEL, dm.num_items, 20)
    ckpt = FitCheckpoint(path, IDENTITY) if path is not None else None
    result, _ = fit(model, dm, trainer, callbacks=list(callbacks), checkpoint=ckpt)
    return result, ckpt


def test_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path):
    clean, _ = _fit(None)
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupt):
        _fit(path, [InterruptAt(3)])
    assert path.exists()
    resumed, ckpt = _fit(path)
    assert ckpt.resumed_after_epoch == 2
    assert resumed.history == clean.history and resumed.best_epoch == clean.best_epoch
    assert resumed.epochs == clean.epochs
    a, b = clean.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_epoch_that_ends_the_fit_is_not_written(tmp_path):
    """A fit killed after its stopping epoch re-trains that epoch from the one before and stops
    there again; a file of the stopping epoch would resume into one epoch too many."""
    path = tmp_path / "fit.ckpt"
    stopping = TrainerConfig(max_epochs=30, patience=1, accelerator="cpu", progress_bar=False, limit_train_batches=1)
    result, _ = _fit(path, trainer=stopping)
    last = result.history[-1]["epoch"]
    assert last < 29  # early stopping ended it
    assert torch.load(path, map_location="cpu", weights_only=False)["epoch"] == last - 1


def test_a_file_of_another_fit_is_refused_by_name(tmp_path):
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupt):
        _fit(path, [InterruptAt(1)])
    other = FitCheckpoint(path, {**IDENTITY, "iteration": 1})
    refused = r"fit\.ckpt: belongs to another fit \(iteration: file 0, this fit 1\).*delete it"
    with pytest.raises(FitCheckpointError, match=refused):
        other.resume_path()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(FitCheckpointError, match=r"fit\.ckpt: unreadable.*delete it"):
        FitCheckpoint(path, IDENTITY).resume_path()
    assert FitCheckpoint(tmp_path / "none.ckpt", IDENTITY).resume_path() is None


def test_same_sizes_other_contents_is_refused_and_older_files_still_resume(tmp_path):
    """D_k re-made with other sequences of the same sizes differs by its digest only; a file
    written before the digest was part of the identity is compared on what it has."""
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Interrupt):
        _fit(path, [InterruptAt(1)])  # written with IDENTITY, which has no digest: an older file
    assert FitCheckpoint(path, {**IDENTITY, "train_digest": "abc"}).resume_path() == path
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt[STATE_KEY]
    state["identity"] = {**IDENTITY, "train_digest": "abc"}
    torch.save(ckpt, path)
    assert FitCheckpoint(path, {**IDENTITY, "train_digest": "abc"}).resume_path() == path
    with pytest.raises(FitCheckpointError, match=r"train_digest: file abc, this fit def.*delete it"):
        FitCheckpoint(path, {**IDENTITY, "train_digest": "def"}).resume_path()
    with pytest.raises(FitCheckpointError, match=r"train_digest: file abc, this fit none"):
        FitCheckpoint(path, IDENTITY).resume_path()


def _rng_after(seed: int) -> dict:
    from rsir_pl.fit_checkpoint import rng_state

    torch.manual_seed(seed)
    return rng_state()


@pytest.mark.parametrize(
    ("world", "rank", "written_by", "expected_seed"), [(2, 1, 2, 11), (2, 1, 1, 10), (1, 0, 1, 10)]
)
def test_each_rank_restores_its_own_random_state(world, rank, written_by, expected_seed, caplog):
    """A file written by N processes gives rank r the r-th state; on another number of processes
    every rank takes rank 0's (and says so)."""
    per_rank = [_rng_after(10 + r) for r in range(written_by)]
    state = {"rng": per_rank[0], "rng_per_rank": per_rank, "module": {}}
    cb = FitCheckpoint("unused.ckpt", {})
    trainer = SimpleNamespace(world_size=world, global_rank=rank)
    torch.manual_seed(99)
    cb.on_load_checkpoint(trainer, SimpleNamespace(), {"rsir_fit": state})
    assert torch.equal(torch.get_rng_state(), per_rank[expected_seed - 10]["torch"])
    assert ("rank 0's random-number state" in caplog.text) == (world != written_by)


def test_a_file_written_before_per_rank_states_still_resumes():
    state = {"rng": _rng_after(5), "module": {}}
    torch.manual_seed(99)
    FitCheckpoint("unused.ckpt", {}).on_load_checkpoint(
        SimpleNamespace(world_size=1, global_rank=0), SimpleNamespace(), {"rsir_fit": state}
    )
    assert torch.equal(torch.get_rng_state(), state["rng"]["torch"])
