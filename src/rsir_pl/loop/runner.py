"""The recursive self-improvement loop (RSIR-SPEC §1), resumable from its run directory.

For k = 0..K: train f_k on D_k (a fresh Trainer, a fresh model or f_{k-1}'s weights for RSIR-FT),
generate D'_{k+1} at train end (SelfImproveCallback), test f_k, write the iteration's files. A
finished iteration is never redone; an interrupted one restarts from its last finished step
(trained model, generated data, test), with the same seeds, so the results equal those of an
uninterrupted run.

Files per iteration (``iter_<k>/``): ``model.pt``, ``synthetic.npz`` (D'_k, k >= 1),
``provenance.npz``, ``generation.json``, ``data_stats.json``, ``test_ranks.npz``, ``metrics.json``;
for the whole run: ``run.json``, ``config.yaml``, ``results.csv``, ``results.json``,
``results.md``, ``results.png`` and ``manifest.json``.
"""

from __future__ import annotations

import copy
import logging
import signal
import time
from typing import Any

import lightning as L
import numpy as np
import yaml
from lightning.pytorch.utilities import rank_zero_only

from rsir_pl.config import RunConfig, base_settings, strip_non_result
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.oracle import oracle_metrics
from rsir_pl.data.registry import known_world
from rsir_pl.generation.generator import GenerationResult
from rsir_pl.generation.leakage import check_generated
from rsir_pl.generation.stats import dataset_stats
from rsir_pl.loggers import Tracker, make_tracker
from rsir_pl.loop import faults
from rsir_pl.loop import results as R
from rsir_pl.loop.callback import SelfImproveCallback, generate_for_next_iteration
from rsir_pl.loop.faults import KillSwitch
from rsir_pl.loop.rundir import RunDir, settings_diff
from rsir_pl.models import build_model, load_model, model_payload
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.models.losses import adaptive_item_weights, golden_real_weight
from rsir_pl.significance import paired_comparison
from rsir_pl.training import build_trainer, evaluate, fit

log = logging.getLogger("rsir_pl")


def self_improve(
    config: RunConfig, datamodule: SequenceDataModule | None = None, tracker: Tracker | None = None
) -> list[dict[str, Any]]:
    """Run (or resume) the loop; returns one record per iteration (test metrics, statistics)."""
    rank = rank_zero_only.rank
    rundir = RunDir(config.run_dir, writer=rank == 0)
    if rank == 0:
        resumed = rundir.claim(config.result_settings(), RunConfig().result_settings())
        rundir.write_text("config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        starts = rundir.read_json("provenance.json") if rundir.has("provenance.json") else []
        rundir.write_json("provenance.json", [*starts, environment()])
        if resumed:
            problems = rundir.verify()
            if problems:
                raise RuntimeError("run directory failed its integrity check:\n  " + "\n  ".join(problems))
            log.info("resuming %s", rundir.path)
    if config.base_from and rank == 0:
        _import_base(config, rundir)
    dm = datamodule or SequenceDataModule(config.data, seed=config.seed)
    dm.setup()
    if config.model.hstu_time_bias and not dm.has_times:
        from rsir_pl.config import ConfigError

        raise ConfigError(
            f"model.hstu_time_bias needs interaction timestamps, and dataset {config.data.dataset!r} has none "
            "(sequence files carry no time; use a CSV/Parquet log or an .inter file with a timestamp column)"
        )
    if config.iterations > 0 and config.generation.max_len > config.data.max_len:
        from rsir_pl.config import ConfigError

        raise ConfigError(
            f"generation.max_len ({config.generation.max_len}) must be <= data.max_len ({config.data.max_len})"
        )
    tracker = tracker or make_tracker(config.logger, config.run_dir, _settings(config))
    generator_model = None
    if config.generation.generator_checkpoint:
        generator_model = load_model(config.generation.generator_checkpoint, num_items=dm.num_items)
        generator_model.eval()
    base_popularity = np.bincount(dm.d0.items, minlength=dm.num_items + 1)[1:]
    oracle = _oracle(dm, rundir)
    records: list[dict[str, Any]] = []
    prev_model: SequentialRecommender | None = None
    K = config.iterations
    try:
        for k in range(K + 1):
            rec, model = _iteration(
                config, dm, rundir, tracker, k, K, prev_model, generator_model, base_popularity, oracle
            )
            records.append({**rec, "oracle": oracle} if oracle else rec)
            prev_model = model if config.finetune else None
            _write_results(rundir, tracker, records, config)
    finally:
        tracker.finish()
    return records


def _iteration(
    config: RunConfig,
    dm: SequenceDataModule,
    rundir: RunDir,
    tracker: Tracker,
    k: int,
    K: int,
    prev_model: SequentialRecommender | None,
    generator_model: SequentialRecommender | None,
    base_popularity: np.ndarray,
    oracle: dict[str, float] | None = None,
) -> tuple[dict[str, Any], SequentialRecommender | None]:
    it = f"iter_{k}"
    need_gen = k < K
    nxt = f"iter_{k + 1}/synthetic.npz"
    train_summary = dm.state_summary()
    # ---- already finished: load what it produced and move on
    if rundir.has(f"{it}/metrics.json") and (not need_gen or rundir.has(nxt)):
        rec = rundir.read_json(f"{it}/metrics.json")
        if need_gen:
            _load_generated(rundir, dm, k)
        model = _load_iteration_model(rundir, it, dm) if config.finetune and need_gen else None
        # a tracker that already has this iteration ignores it (a start killed after metrics.json
        # but before logging would otherwise leave a hole in the per-iteration charts)
        tracker.log_iteration(k, iteration_summary(rec, oracle))
        log.info("iteration %d: already finished (NDCG@10 %.5f), skipped", k, rec["test"]["ndcg@10"])
        return rec, model

    _set_loss_weight(config, dm)
    gen_stats: dict[str, Any] | None = None
    fit_info: dict[str, Any]
    t_iter = time.perf_counter()
    if rundir.has(f"{it}/model.pt"):
        # trained before the interruption: reuse the weights, redo what follows
        model = _load_iteration_model(rundir, it, dm)
        fit_info = rundir.read_json(f"{it}/fit.json")
        trainer = build_trainer(config.trainer, logger=False, default_root_dir=config.run_dir)
        metrics, ranks = evaluate(model, dm, trainer)
        if need_gen:
            if rundir.has(nxt):
                gen_stats = _load_generated(rundir, dm, k)
            else:
                result = generate_for_next_iteration(
                    generator_model or model,
                    dm,
                    config.generation,
                    config.seed,
                    k,
                    trainer.global_rank,
                    trainer.world_size,
                )
                gen_stats = _save_generated(rundir, tracker, dm, result, k, base_popularity)
                dm.expand(result.sequences)
    else:
        L.seed_everything(config.seed, workers=True, verbose=False)
        if prev_model is not None:
            model = copy.deepcopy(prev_model)
        else:
            model = build_model(config.model, dm.num_items, config.data.max_len)
        model.real_weight = dm.synthetic_real_weight
        model.item_weight = dm.item_weight
        holder: dict[str, Any] = {}

        def save_model(m: SequentialRecommender, trainer: L.Trainer) -> None:
            holder["fit"] = _fit_info_from(trainer)
            rundir.write_json(f"{it}/fit.json", holder["fit"])
            rundir.write_torch(f"{it}/model.pt", model_payload(m))

        def save_generated(result: GenerationResult, trainer: L.Trainer) -> None:
            holder["gen"] = _save_generated(rundir, tracker, dm, result, k, base_popularity)

        callbacks: list[Any] = [KillSwitch(k)] if faults.armed() else []
        if need_gen:
            callbacks.append(
                SelfImproveCallback(
                    config.generation,
                    config.seed,
                    k,
                    on_generated=save_generated,
                    before_generation=save_model,
                    generator_model=generator_model,
                )
            )
        log.info(
            "iteration %d: training %s on %d sequences (%d synthetic)",
            k,
            config.model.backbone,
            train_summary["sequences"],
            train_summary["synthetic_sequences"],
        )
        result, trainer = fit(
            model,
            dm,
            config.trainer,
            callbacks=callbacks,
            logger=tracker.epoch_logger(k),
            default_root_dir=config.run_dir,
        )
        fit_info = {
            "best_epoch": result.best_epoch,
            "epochs": result.epochs,
            "best_val_ndcg@10": result.best_val_ndcg10,
            "fit_seconds": result.fit_seconds,
        }
        if not need_gen:
            rundir.write_json(f"{it}/fit.json", fit_info)
            rundir.write_torch(f"{it}/model.pt", model_payload(model))
        else:
            fit_info = {**holder.get("fit", {}), **fit_info}
            rundir.write_json(f"{it}/fit.json", fit_info)
            gen_stats = holder.get("gen")
        rundir.write_json(f"{it}/history.json", result.history)
        if trainer.received_sigterm:
            # Lightning only stops its loops on SIGTERM; one that arrives after the last epoch (during
            # generation) would otherwise let the loop start the next fit
            log.warning("iteration %d: SIGTERM received; stopping with the fit and its data saved (re-run)", k)
            raise SystemExit(128 + signal.SIGTERM)
        metrics, ranks = evaluate(model, dm, trainer)
    rundir.write_arrays(f"{it}/test_ranks.npz", ranks=ranks)
    rec: dict[str, Any] = {
        "iteration": k,
        "test": metrics,
        "fit": fit_info,
        "train_data": train_summary,
        "generation": gen_stats,
        "real_weight": dm.synthetic_real_weight,
        "seconds": time.perf_counter() - t_iter,
    }
    if k > 0 and rundir.has("iter_0/test_ranks.npz"):
        base = rundir.read_arrays("iter_0/test_ranks.npz")["ranks"]
        rec["vs_base"] = paired_comparison(base, ranks, seed=config.seed)
    rundir.write_json(f"{it}/metrics.json", rec)
    tracker.log_iteration(k, iteration_summary(rec, oracle))
    log.info(
        "iteration %d: test NDCG@10 %.5f Recall@10 %.5f (%.0fs)",
        k,
        metrics["ndcg@10"],
        metrics["recall@10"],
        rec["seconds"],
    )
    return rec, model


def iteration_summary(rec: dict[str, Any], oracle: dict[str, float] | None = None) -> dict[str, float]:
    """The scalars a tracker logs for one iteration: test metrics, training-data statistics,
    generated-data statistics, the change against the base with its CI and p-value
    (``vs_base/<metric>/relative``, ``ci_low``, ``ci_high``, ``relative_ci_low``, ``relative_ci_high``,
    ``p_value``) and the oracle ceiling when the true distribution is known."""
    out: dict[str, Any] = {f"test/{m}": v for m, v in rec["test"].items()}
    out.update({f"data/{m}": v for m, v in rec.get("train_data", {}).items()})
    out.update({f"gen/{m}": v for m, v in (rec.get("generation") or {}).items()})
    for m, c in rec.get("vs_base", {}).items():
        for key in ("relative", "diff", "ci_low", "ci_high", "p_value"):
            out[f"vs_base/{m}/{key}"] = c[key]
        if c["base"] > 0:
            out[f"vs_base/{m}/relative_ci_low"] = c["ci_low"] / c["base"]
            out[f"vs_base/{m}/relative_ci_high"] = c["ci_high"] / c["base"]
    out.update({f"oracle/{m}": v for m, v in (oracle or {}).items()})
    return {k: v for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


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


#: what a base model depends on (generation settings do not change iteration 0)
def _import_base(config: RunConfig, rundir: RunDir) -> None:
    """Copy iteration 0's trained model from ``config.base_from`` (verified, same base settings)."""
    if rundir.has("iter_0/model.pt"):
        return
    source = RunDir(config.base_from, writer=False)  # type: ignore[arg-type]
    if not source.has("run.json") or not source.has("iter_0/model.pt"):
        raise RuntimeError(f"base_from={config.base_from}: no finished iteration 0 (iter_0/model.pt) there")
    theirs = base_settings(strip_non_result(source.read_json("run.json")["settings"]))
    diffs = settings_diff(theirs, config.base_settings(), RunConfig().base_settings())
    if diffs:
        raise RuntimeError(
            f"base_from={config.base_from}: its base was trained with other settings ({'; '.join(diffs[:6])}); "
            "a base can only be reused when seed, data, model and trainer settings are equal"
        )
    for name in ("model.pt", "fit.json", "history.json"):
        if source.has(f"iter_0/{name}"):
            rundir.write_bytes(f"iter_0/{name}", source.read_bytes(f"iter_0/{name}"))
    log.info("reusing the base model of %s", config.base_from)


def _fit_info_from(trainer: L.Trainer) -> dict[str, Any]:
    from rsir_pl.training import BestWeights

    best = next((c for c in trainer.callbacks if isinstance(c, BestWeights)), None)  # type: ignore[attr-defined]
    return {
        "best_epoch": best.best_epoch if best else -1,
        "epochs": trainer.current_epoch,
        "best_val_ndcg@10": best.best if best else None,
    }


def _save_generated(
    rundir: RunDir,
    tracker: Tracker,
    dm: SequenceDataModule,
    result: GenerationResult,
    k: int,
    base_popularity: np.ndarray,
) -> dict[str, Any]:
    nxt = f"iter_{k + 1}"
    stats = dict(result.stats)
    assert dm.split is not None and dm.train_store is not None
    stats["data_generated"] = dataset_stats(result.sequences, dm.num_items, dm.split.num_users, base_popularity)
    d_next = dm.train_store.__class__.concat([dm.train_store, result.sequences])
    stats["data_next"] = dataset_stats(d_next, dm.num_items, dm.split.num_users, base_popularity)
    rundir.write_store(f"{nxt}/synthetic.npz", result.sequences)
    rundir.write_arrays(
        f"{nxt}/provenance.npz", source=result.source, attempt=result.attempt, prefix_len=result.prefix_len
    )
    rundir.write_json(f"{nxt}/generation.json", stats)
    tracker.log_dataset(k + 1, rundir.path / f"{nxt}/synthetic.npz", stats)
    return stats


def _load_generated(rundir: RunDir, dm: SequenceDataModule, k: int) -> dict[str, Any]:
    """Expand D_k with the saved D'_{k+1} after verifying it (ids, leakage, provenance)."""
    nxt = f"iter_{k + 1}"
    synthetic = rundir.read_store(f"{nxt}/synthetic.npz")
    prov = rundir.read_arrays(f"{nxt}/provenance.npz")
    assert dm.train_store is not None and dm.split is not None
    if len(synthetic) and (synthetic.items.min() < 1 or synthetic.max_item > dm.num_items):
        bad = int(synthetic.items.max())
        raise ValueError(
            f"{rundir.path / nxt / 'synthetic.npz'}: item id {bad} is outside the catalogue "
            f"1..{dm.num_items}: the file belongs to another dataset"
        )
    d_next = synthetic.__class__.concat([dm.train_store, synthetic])
    check_generated(dm.train_store, d_next, dm.split, prov["source"], prov["prefix_len"])
    dm.expand(synthetic)
    return rundir.read_json(f"{nxt}/generation.json")


def _load_iteration_model(rundir: RunDir, it: str, dm: SequenceDataModule) -> SequentialRecommender:
    payload = rundir.read_torch(f"{it}/model.pt")
    if payload["num_items"] != dm.num_items:
        raise ValueError(
            f"{rundir.path / it / 'model.pt'}: checkpoint has {payload['num_items']} items, the dataset {dm.num_items}"
        )
    from rsir_pl.config import ModelConfig

    model = build_model(ModelConfig(**payload["config"]), payload["num_items"], payload["max_len"])
    model.load_state_dict(payload["state_dict"])
    return model


def _set_loss_weight(config: RunConfig, dm: SequenceDataModule) -> None:
    mc = config.model
    if mc.item_weighting == "adaptive":
        dm.item_weight = adaptive_item_weights(
            dm.target_item_counts(),
            mc.item_weight_buckets,
            mc.item_weight_alpha,
            mc.item_weight_max,
            previous=dm.item_weight,
            momentum=mc.item_weight_momentum,
        )
    w = config.model.synthetic_weight
    if w is None:
        dm.synthetic_real_weight = None
    elif w == "golden":
        real, syn = dm.target_counts()
        dm.synthetic_real_weight = golden_real_weight(real, syn) if syn else None
    else:
        dm.synthetic_real_weight = float(w)


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
