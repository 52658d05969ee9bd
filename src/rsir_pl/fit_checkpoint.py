"""A fit that resumes from its last finished epoch: ``iter_<k>/fit.ckpt``.

A long fit (an hour on one CPU thread) that is killed used to start again from epoch 0. With
:class:`FitCheckpoint` the fit writes Lightning's full training state after every epoch (weights,
optimizer, scheduler, loop counters, early-stopping and best-weight state) plus what Lightning
does not keep: the random-number states. A re-run resumes after the last finished epoch and, on
one device, ends with the same weights, history and test ranks as a fit that was never
interrupted (tests/test_runner.py kills a fit and compares).

The file is transient: the loop deletes it once ``model.pt`` is saved, and it is not in the run
directory's manifest. It is written atomically (temporary file, fsync, rename), so a kill while
writing leaves the previous epoch's file. Under DDP every rank draws its own dropout masks (its
batches differ), so the file holds every rank's random-number states, gathered when it is written,
and each rank restores its own: a resumed DDP fit ends as the uninterrupted one does, on the same
number of processes (tests/test_ddp.py). Resumed on another number of processes, every rank takes
rank 0's states, and the fit goes on from the same epoch with other dropout draws.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint

log = logging.getLogger(__name__)

#: the checkpoint key holding what only rsir_pl keeps
STATE_KEY = "rsir_fit"
FORMAT = "rsir_pl.fit_checkpoint/1"  # "rng_per_rank" was added later; files without it still load


class FitCheckpointError(RuntimeError):
    """An in-progress fit checkpoint that cannot be used (corrupt, or of other training data)."""


def rng_state() -> dict[str, Any]:
    """Every global random-number state a fit draws from (torch CPU and CUDA, NumPy, Python)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])


def read_fit_checkpoint(path: Path) -> dict[str, Any]:
    """Load an in-progress fit checkpoint (this run's own file, so its pickled parts are trusted)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same remedy
        raise FitCheckpointError(
            f"{path}: unreadable in-progress fit checkpoint ({exc}); delete it to restart this fit from epoch 0"
        ) from exc


def identity_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between a file's identity and this fit's, one ``key: file X, this fit Y`` each.
    Keys only ``current`` has are skipped: older files resume as before."""
    return [
        f"{key}: file {stored[key]}, this fit {value}"
        for key, value in current.items()
        if key in stored and stored[key] != value
    ] + [f"{key}: file {stored[key]}, this fit none" for key in stored if key not in current]


class FitCheckpoint(Checkpoint):
    """Writes the fit's state to ``path`` after every finished epoch and resumes from it.

    A Lightning ``Checkpoint`` so it runs after early stopping has counted the epoch. An epoch
    after which early stopping ends the fit is not written: a fit killed just then re-trains that
    epoch from the previous file and stops at the same place.

    Args:
        path: the checkpoint file (``iter_<k>/fit.ckpt``).
        identity: what the fit trains on (iteration, data summary, the digest of D_k); a file
            with another identity is refused instead of being resumed. A key the file lacks (written
            before that key existed) is not compared.
    """

    def __init__(self, path: str | Path, identity: dict[str, Any]) -> None:
        self.path = Path(path)
        self.identity = identity
        #: the last epoch the file held when this fit resumed from it (None: a fresh fit)
        self.resumed_after_epoch: int | None = None
        self._checked = False

    def resume_path(self) -> Path | None:
        """The file to resume from, after checking it belongs to this fit (None: start fresh).
        Checked once; later calls return the same answer without reading the file again."""
        if self._checked:
            return self.path if self.resumed_after_epoch is not None else None
        if not self.path.exists():
            self._checked = True
            return None
        ckpt = read_fit_checkpoint(self.path)
        state = ckpt.get(STATE_KEY) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise FitCheckpointError(
                f"{self.path}: not an rsir_pl fit checkpoint; delete it to restart this fit from epoch 0"
            )
        differs = identity_differences(state["identity"], self.identity)
        if differs:
            raise FitCheckpointError(
                f"{self.path}: belongs to another fit ({'; '.join(differs)}); "
                "delete it to restart this fit from epoch 0"
            )
        self.resumed_after_epoch = int(ckpt["epoch"])
        self._checked = True  # a refused file is refused again on the next call
        return self.path

    # -------------------------------------------------------------- writing
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.should_stop or trainer.sanity_checking:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp, weights_only=False)  # the full training state; collective under DDP
        if trainer.is_global_zero:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        trainer.strategy.barrier("rsir_fit_checkpoint")

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        mine = rng_state()
        per_rank = [mine]
        if trainer.world_size > 1:
            # runs on every rank (saving is collective), so the gather is matched on all of them
            per_rank = [None] * trainer.world_size
            torch.distributed.all_gather_object(per_rank, mine)
        checkpoint[STATE_KEY] = {
            "format": FORMAT,
            "identity": self.identity,
            "rng": mine,
            "rng_per_rank": per_rank,
            "module": {name: getattr(pl_module, name, 0) for name in ("ig_steps", "ig_reversed")},
        }

    # -------------------------------------------------------------- resuming
    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        state = checkpoint[STATE_KEY]
        for name, value in state["module"].items():
            setattr(pl_module, name, value)
        # restored here, the last hook before the resumed epoch's loader draws its order: Lightning
        # skips the sanity check on resume and draws nothing else in between
        per_rank = state.get("rng_per_rank") or []
        if len(per_rank) == trainer.world_size:
            set_rng_state(per_rank[trainer.global_rank])
        else:
            if trainer.world_size > 1:
                log.warning(
                    "%s: written by %d process(es), resumed on %d: every rank continues from rank 0's "
                    "random-number state (same epochs and batches, other dropout draws)",
                    self.path,
                    len(per_rank) or 1,
                    trainer.world_size,
                )
            set_rng_state(state["rng"])

    def remove(self) -> None:
        """Delete the file (the fit's model is saved)."""
        self.path.unlink(missing_ok=True)
