"""Fault injection for durability tests: ``RSIR_KILL_AT=<point>`` makes the process SIGKILL itself
when it reaches that named point (a real, unclean death: no cleanup handlers run);
``RSIR_TERM_AT=<point>`` sends it SIGTERM there instead (what a scheduler or ``kill`` sends).

Points: ``train:iter<k>:epoch<e>`` (after validation of epoch e of fit k),
``generation:iter<k>`` (after the first batch of rows of iteration k's generation), and the step
boundaries of an iteration (:mod:`rsir_pl.loop.iteration`): ``iter<k>:weights`` (loss weights
saved), ``iter<k>:model`` (f_k saved at fit end, before it generates), ``iter<k>:generated``
(D'_{k+1} saved) and ``iter<k>:tested`` (metrics saved).
"""

from __future__ import annotations

import os
import signal

import lightning as L
from lightning.pytorch.callbacks import Callback

ENV = "RSIR_KILL_AT"
TERM_ENV = "RSIR_TERM_AT"


def point(name: str) -> None:
    """Die here (SIGKILL) if ``$RSIR_KILL_AT`` names this point; send SIGTERM if ``$RSIR_TERM_AT`` does."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(TERM_ENV) == name:
        os.kill(os.getpid(), signal.SIGTERM)


class KillSwitch(Callback):
    """Calls :func:`point` after every validation of fit ``iteration``."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            point(f"train:iter{self.iteration}:epoch{trainer.current_epoch}")


def armed() -> bool:
    """True when a kill or SIGTERM point is set."""
    return bool(os.environ.get(ENV) or os.environ.get(TERM_ENV))
