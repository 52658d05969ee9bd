"""Experiment tracking: CSV files by default, W&B with one config switch, or nothing.

One self-improvement run is one tracker. Per-epoch curves of iteration k are logged under
``iter{k}/...`` keys so iterations never overlap; per-iteration test metrics, the change against
the base with its CI (``rsir/vs_base/<metric>/...``), the oracle ceiling and generated-data
statistics go under ``rsir/...`` with ``rsir/iteration`` as their x-axis.

A run directory is one W&B run, across resumes: the W&B run id is kept in ``<run_dir>/wandb.json``
and every later start of the same directory continues that run, logging only the iterations it
has not logged yet, so the per-iteration charts have no hole and no repeat. Offline, each start
writes its own ``<run_dir>/wandb/offline-run-*`` folder under the same id; each start's history
begins at a step of its own (session x 10^7; the charts' x-axes are ``rsir/iteration`` and
``trainer/global_step``, not W&B's step), so ``wandb sync`` uploads them in order into one run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import string
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities import rank_zero_only

from rsir_pl.atomic import atomic_write_bytes, read_json_object
from rsir_pl.config import LoggerConfig

log = logging.getLogger(__name__)


class PrefixedLogger(Logger):
    """Wraps a Lightning logger and prefixes every metric key with ``iter{k}/``."""

    def __init__(self, inner: Logger, prefix: str) -> None:
        super().__init__()
        self.inner = inner
        self.prefix = prefix

    @property
    def name(self) -> str:
        return self.inner.name or "rsir"

    @property
    def version(self) -> str | int:
        return self.inner.version or 0

    @property
    def save_dir(self) -> str | None:
        return self.inner.save_dir

    @property
    def experiment(self) -> Any:
        return self.inner.experiment

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.inner.log_metrics({f"{self.prefix}/{k}": v for k, v in metrics.items()}, step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    @rank_zero_only
    def finalize(self, status: str) -> None:
        pass


class ResumedCSVLogger(CSVLogger):
    """A CSV logger for a fit resumed after epoch ``keep_through_epoch``: the rows the interrupted
    start logged up to that epoch stay in ``metrics.csv`` (Lightning's writer would delete them),
    later ones, which the resumed fit logs again, are dropped."""

    def __init__(self, *args: Any, keep_through_epoch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[dict[str, str]] = []
        path = Path(self.log_dir) / "metrics.csv"
        if path.is_file():
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    epoch = row.get("epoch") or ""
                    if epoch and float(epoch) <= keep_through_epoch:
                        self._kept.append(row)

    @property
    def experiment(self) -> Any:
        fresh = self._experiment is None
        with warnings.catch_warnings():
            # Lightning warns that the old rows will be deleted; the kept ones are written back below
            warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
            exp = super().experiment
        if fresh and self._kept:
            exp.metrics[:0] = self._kept  # written with the resumed fit's first rows
            self._kept = []
        return exp


class Tracker:
    """Base tracker: per-iteration Lightning loggers plus run-level summaries."""

    def epoch_logger(self, iteration: int, resume_after_epoch: int | None = None) -> Logger | bool:
        """The Lightning logger for fit ``iteration`` (False = none); ``resume_after_epoch`` says the
        fit resumes after that epoch, so what was logged up to it is kept."""
        return False

    def log_iteration(self, iteration: int, values: Mapping[str, float]) -> None:
        """Per-iteration summary values (test metrics, generation statistics)."""

    def log_results(self, table_csv: str, plot_png: bytes | None, records: list[dict[str, Any]]) -> None:
        """The results table and plot after each iteration."""

    def log_dataset(self, iteration: int, path: Path, metadata: Mapping[str, Any]) -> None:
        """A generated dataset file."""

    def finish(self) -> None:
        """Close the run."""


class CSVTracker(Tracker):
    """Per-epoch CSV files under ``<run_dir>/logs/iter_<k>/``; summaries live in results.csv."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def epoch_logger(self, iteration: int, resume_after_epoch: int | None = None) -> Logger:
        if resume_after_epoch is None:
            return CSVLogger(save_dir=str(self.run_dir), name="logs", version=f"iter_{iteration}")
        return ResumedCSVLogger(
            save_dir=str(self.run_dir), name="logs", version=f"iter_{iteration}", keep_through_epoch=resume_after_epoch
        )


class WandbTracker(Tracker):
    """One W&B run per run directory, kept across resumes; ``rsir/iteration`` is the x-axis of summaries."""

    #: the tracker's state in the run directory: run id, number of starts, iterations logged
    STATE_FILE = "wandb.json"
    #: W&B steps per start: start s logs from step s * STEP_BLOCK (offline files never overlap)
    STEP_BLOCK = 10**7

    def __init__(self, config: LoggerConfig, run_dir: str | Path, settings: Mapping[str, Any]) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.settings = dict(settings)
        self._logger: Any = None
        self._state: dict[str, Any] = {}

    @property
    def run_id(self) -> str | None:
        """The W&B run id (None before the run starts)."""
        return self._state.get("id")

    def _load_state(self) -> dict[str, Any]:
        path = self.run_dir / self.STATE_FILE
        state = read_json_object(path, ValueError, "delete it to start a new W&B run")
        if state is None:
            return {}
        if not isinstance(state.get("id"), str):
            raise ValueError(f"{path}: no W&B run id in it; delete it to start a new W&B run")
        return state

    def _save_state(self) -> None:
        if rank_zero_only.rank == 0:
            atomic_write_bytes(self.run_dir / self.STATE_FILE, (json.dumps(self._state, indent=1) + "\n").encode())

    def _wandb_logger(self) -> Any:
        if self._logger is None:
            from lightning.pytorch.loggers import WandbLogger

            if self.config.offline:
                os.environ.setdefault("WANDB_MODE", "offline")
            state = self._load_state()
            session = int(state.get("sessions", 0))
            self._state = {
                "id": state.get("id") or new_run_id(),
                "project": self.config.project,
                "sessions": session + 1,
                "logged_iterations": list(state.get("logged_iterations", [])),
            }
            self._save_state()
            self._logger = WandbLogger(
                project=self.config.project,
                name=self.config.name or self.run_dir.name,
                save_dir=str(self.run_dir),
                offline=self.config.offline,
                config=self.settings,
                id=self._state["id"],
                group=self.config.group,
                tags=list(self.config.tags) or None,
            )
            exp = self._logger.experiment
            if rank_zero_only.rank == 0 and hasattr(exp, "define_metric"):
                exp.define_metric("rsir/iteration")
                exp.define_metric("rsir/*", step_metric="rsir/iteration")
                if session:
                    # a resumed run: continue after every step an earlier start may have used
                    exp.log({"rsir_start": session}, step=session * self.STEP_BLOCK, commit=False)
        return self._logger

    def epoch_logger(self, iteration: int, resume_after_epoch: int | None = None) -> Logger:
        # a resumed fit logs its later epochs in this start's own step block (see the module doc)
        return PrefixedLogger(self._wandb_logger(), f"iter{iteration}")

    @rank_zero_only
    def log_iteration(self, iteration: int, values: Mapping[str, float]) -> None:
        exp = self._wandb_logger().experiment
        if iteration in self._state["logged_iterations"]:
            return  # logged by an earlier start of this run directory
        payload = {f"rsir/{k}": v for k, v in values.items() if isinstance(v, (int, float))}
        payload["rsir/iteration"] = iteration
        exp.log(payload)
        self._state["logged_iterations"].append(iteration)
        self._save_state()

    @rank_zero_only
    def log_results(self, table_csv: str, plot_png: bytes | None, records: list[dict[str, Any]]) -> None:
        import wandb

        exp = self._wandb_logger().experiment
        lines = list(csv.reader(io.StringIO(table_csv)))
        payload: dict[str, Any] = {"rsir/results": wandb.Table(columns=lines[0], data=lines[1:])}
        if plot_png is not None:
            path = self.run_dir / "results.png"
            if path.exists():
                payload["rsir/plot"] = wandb.Image(str(path))
        exp.log(payload)

    @rank_zero_only
    def log_dataset(self, iteration: int, path: Path, metadata: Mapping[str, Any]) -> None:
        if not self.config.log_dataset:
            return
        import wandb

        art = wandb.Artifact(
            f"D{iteration}-synthetic",
            type="dataset",
            metadata={k: v for k, v in metadata.items() if isinstance(v, (int, float, str))},
        )
        art.add_file(str(path))
        self._wandb_logger().experiment.log_artifact(art)

    @rank_zero_only
    def finish(self) -> None:
        if self._logger is not None:
            import wandb

            wandb.finish()


def new_run_id() -> str:
    """A fresh W&B run id (8 lowercase letters and digits, as W&B makes them)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def make_tracker(config: LoggerConfig, run_dir: str | Path, settings: Mapping[str, Any]) -> Tracker:
    """The tracker for ``logger.kind``."""
    if config.kind == "wandb":
        return WandbTracker(config, run_dir, settings)
    if config.kind == "csv":
        return CSVTracker(run_dir)
    return Tracker()
