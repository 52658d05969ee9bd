"""The recursive self-improvement loop (RSIR-SPEC §1), resumable from its run directory.

For k = 0..K: train f_k on D_k (a fresh Trainer, a fresh model or f_{k-1}'s weights for RSIR-FT),
generate D'_{k+1} at train end (SelfImproveCallback), test f_k, write the iteration's files (the
steps of one iteration: :mod:`rsir_pl.loop.iteration`). A finished iteration is never redone; an
interrupted one restarts from its last finished step (trained model, generated data, test), with
the same seeds, so the results equal those of an uninterrupted run.

Files per iteration (``iter_<k>/``, :mod:`rsir_pl.loop.iteration_files`): ``model.pt``,
``fit.json``, ``history.json``, ``loss_weights.npz``, ``synthetic.npz`` (D'_k, k >= 1),
``provenance.npz``, ``generation.json``, ``test_ranks.npz``, ``metrics.json``;
for the whole run: ``run.json``, ``config.yaml``, ``results.csv``, ``results.json``,
``results.md``, ``results.png`` and ``manifest.json``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import yaml
from lightning.pytorch.utilities import rank_zero_only

from rsir_pl.baselines import reverse
from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.oracle import oracle_metrics
from rsir_pl.data.registry import known_world
from rsir_pl.loggers import Tracker, make_tracker
from rsir_pl.loop import results as R
from rsir_pl.loop.iteration import LoopState, run_iteration
from rsir_pl.models import load_model
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.storage.rundir import CONFIG, RunDir, settings_diff
from rsir_pl.storage.writer_lock import release_writer_lock

log = logging.getLogger("rsir_pl")


def self_improve(
    config: RunConfig, datamodule: SequenceDataModule | None = None, tracker: Tracker | None = None
) -> list[dict[str, Any]]:
    """Run (or resume) the loop; returns one record per iteration (test metrics, statistics)."""
    rank = rank_zero_only.rank
    # everything that can fail before the first fit is checked before the run directory exists
    dm = datamodule or SequenceDataModule(config.data, seed=config.seed)
    dm.setup()
    _check_against_data(config, dm)
    generator_model = None
    if config.generation.generator_checkpoint:
        generator_model = load_model(config.generation.generator_checkpoint, num_items=dm.num_items)
        generator_model.eval()
    created = rank == 0 and not Path(config.run_dir).exists()
    try:
        rundir = _open_run_dir(config, rank)
        tracker = tracker or make_tracker(config.logger, config.run_dir, _settings(config))
    except BaseException:
        # a run directory this call created and could not set up would refuse the corrected command
        if created:
            release_writer_lock(config.run_dir)
            shutil.rmtree(config.run_dir, ignore_errors=True)
        raise
    state = LoopState(
        config=config,
        datamodule=dm,
        rundir=rundir,
        tracker=tracker,
        generator_model=generator_model,
        base_popularity=np.bincount(dm.d0.items, minlength=dm.num_items + 1)[1:],
        oracle=_oracle(dm, rundir),
    )
    records: list[dict[str, Any]] = []
    prev_model: SequentialRecommender | None = None
    try:
        for k in range(config.iterations + 1):
            rec, model = run_iteration(state, k, prev_model)
            records.append({**rec, "oracle": state.oracle} if state.oracle else rec)
            prev_model = model if config.finetune else None
            _write_results(rundir, tracker, records, config)
    finally:
        tracker.finish()
    return records


def _open_run_dir(config: RunConfig, rank: int) -> RunDir:
    """Claim (or verify, on resume) the run directory and record this start."""
    rundir = RunDir(config.run_dir, writer=rank == 0)
    if rank == 0:
        resumed = rundir.claim(config.result_settings(), RunConfig().result_settings())
        rundir.write_text(CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))
        starts = rundir.read_json("provenance.json") if rundir.has("provenance.json") else []
        rundir.write_json("provenance.json", [*starts, environment()])
        if resumed:
            problems = rundir.verify()
            if problems:
                raise RuntimeError("run directory failed its integrity check:\n  " + "\n  ".join(problems))
            log.info("resuming %s", rundir.path)
        if config.base_from:
            _import_base(config, rundir)
            _import_asrep_iteration(config, rundir)
    return rundir


def _check_against_data(config: RunConfig, dm: SequenceDataModule) -> None:
    """Settings that only the loaded data can refute."""
    if config.model.hstu_time_bias and not dm.has_times:
        raise ConfigError(
            f"model.hstu_time_bias needs interaction timestamps, and dataset {config.data.dataset!r} has none "
            "(sequence files carry no time; use a CSV/Parquet log or an .inter file with a timestamp column)"
        )
    if config.iterations > 0 and config.generation.max_len > config.data.max_len:
        raise ConfigError(
            f"generation.max_len ({config.generation.max_len}) must be <= data.max_len ({config.data.max_len})"
        )


def environment() -> dict[str, Any]:
    """Where and with what this process runs (recorded at every start of a run)."""
    import datetime
    import os
    import platform
    import subprocess
    import sys

    import torch

    import rsir_pl

    revision = None
    try:
        here = os.path.dirname(rsir_pl.__file__)
        revision = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        if revision and dirty:
            revision += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rsir_pl": rsir_pl.__version__,
        "revision": revision,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "host": platform.node(),
        "argv": sys.argv,
    }


def _import_base(config: RunConfig, rundir: RunDir) -> None:
    """Copy iteration 0's trained model from ``config.base_from`` (verified, same base settings)."""
    if rundir.has("iter_0/model.pt"):
        return
    source = RunDir(config.base_from, writer=False)  # type: ignore[arg-type]
    if not source.has("run.json") or not source.has("iter_0/model.pt"):
        raise RuntimeError(f"base_from={config.base_from}: no finished iteration 0 (iter_0/model.pt) there")
    diffs = source.base_differences(config)
    if diffs:
        raise RuntimeError(
            f"base_from={config.base_from}: its base was trained with other settings ({'; '.join(diffs[:6])}); "
            "a base can only be reused when seed, data, model and trainer settings are equal"
        )
    _copy_files(source, rundir, BASE_FILES)
    log.info("reusing the base model of %s", config.base_from)


#: what ``base_from`` copies; model.pt marks f_0 as trained, so it comes last
BASE_FILES = ("iter_0/fit.json", "iter_0/history.json", "iter_0/model.pt")
#: what an asrep+rsir run copies from an asrep ``base_from``: ASReP's reverse model, D'_1 (its
#: synthetic.npz marks it saved) and f_1 (its model.pt marks it trained), each marker last
ASREP_FILES = (
    reverse.INFO_FILE,
    reverse.MODEL_FILE,
    "iter_1/provenance.npz",
    "iter_1/generation.json",
    "iter_1/synthetic.npz",
    "iter_1/loss_weights.npz",
    "iter_1/fit.json",
    "iter_1/history.json",
    "iter_1/model.pt",
)


def _copy_files(source: RunDir, rundir: RunDir, names: tuple[str, ...]) -> None:
    """Copy (verified) each of ``names`` that ``source`` has and ``rundir`` lacks, in order: a
    copy cut short is completed by the next start, and a marker file is never there before the
    files it stands for."""
    for rel in names:
        if source.has(rel) and not rundir.has(rel):
            rundir.write_bytes(rel, source.read_bytes(rel))


def _import_asrep_iteration(config: RunConfig, rundir: RunDir) -> None:
    """asrep+rsir on an asrep ``base_from`` whose other settings are all equal: both make the
    same D'_1 (ASReP's) and the same f_1 on it, so they are copied instead of made again."""
    if config.generation.method != "asrep+rsir" or rundir.has("iter_1/model.pt"):
        return
    source = RunDir(config.base_from, writer=False)  # type: ignore[arg-type]
    if not (source.has("run.json") and source.has("iter_1/model.pt") and source.has("iter_1/synthetic.npz")):
        return
    theirs = source.settings()
    if (theirs.get("generation") or {}).get("method") != "asrep":
        return
    mine = config.result_settings()
    mine["generation"].pop("method")
    theirs["generation"].pop("method")
    diffs = settings_diff(theirs, mine, RunConfig().result_settings())
    if diffs:
        log.info("not reusing ASReP's first iteration of %s (other settings: %s)", source.path, "; ".join(diffs[:3]))
        return
    _copy_files(source, rundir, ASREP_FILES)
    log.info("reusing ASReP's D'_1 and f_1 of %s", source.path)


def _oracle(dm: SequenceDataModule, rundir: RunDir) -> dict[str, float] | None:
    """Test metrics of ranking by the true distribution, for a dataset whose world is known."""
    world = known_world(dm.dataset.name)
    if world is None or world.spec.num_items != dm.num_items:
        return None
    if rundir.has("oracle.json"):
        return rundir.read_json("oracle.json")
    assert dm.split is not None
    metrics = oracle_metrics(world, dm.split)
    rundir.write_json("oracle.json", metrics)
    log.info(
        "oracle (ranking by the true distribution): test NDCG@10 %.5f Recall@10 %.5f",
        metrics["ndcg@10"],
        metrics["recall@10"],
    )
    return metrics


def _write_results(rundir: RunDir, tracker: Tracker, records: list[dict[str, Any]], config: RunConfig) -> None:
    table = R.to_csv(records)
    rundir.write_text("results.csv", table)
    rundir.write_json("results.json", records)
    rundir.write_text("results.md", R.to_markdown(records) + "\n```text\n" + R.verdict_text(records) + "\n```\n")
    png = None
    try:
        png = R.plot_png(records, title=f"{config.model.backbone} on {config.data.dataset}: RSIR iterations")
        rundir.write_bytes("results.png", png)
    except ImportError:  # pragma: no cover - matplotlib missing
        log.warning("matplotlib is not installed: no results.png")
    tracker.log_results(table, png, records)


def _settings(config: RunConfig) -> dict[str, Any]:
    d = config.to_dict()
    d.pop("run_dir")
    return d


__all__ = ["self_improve"]
