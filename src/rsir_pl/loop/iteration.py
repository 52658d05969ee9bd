"""One iteration k of the loop as one straight sequence of steps, each resumable from its files:

1. loss weights: restore iteration k's saved state, or compute it from D_k and save it;
2. f_k: load ``model.pt``, or train it with a fresh Trainer and save it (when k < K, the
   :class:`~rsir_pl.loop.callback.SelfImproveCallback` saves it at fit end and generates
   D'_{k+1} right away, on the model's device and in its precision);
3. the full-ranking test of f_k;
4. D'_{k+1} (k < K), unless generated at fit end: read back and verified when saved, else made by
   the same :class:`~rsir_pl.loop.callback.GenerationStep` on the testing Trainer's device and
   precision; D_k is expanded to D_{k+1};
5. the paired comparison with the base and ``metrics.json``.

A finished iteration is never redone: its files are read back and D_{k+1} rebuilt from them.
"""

from __future__ import annotations

import copy
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np

from rsir_pl import faults
from rsir_pl.baselines import reverse
from rsir_pl.config import RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.faults import KillSwitch
from rsir_pl.fit_checkpoint import FitCheckpoint
from rsir_pl.generation.generator import GenerationResult
from rsir_pl.loggers import Tracker
from rsir_pl.loop.callback import GenerationStep, SelfImproveCallback
from rsir_pl.loop.iteration_files import IterationFiles
from rsir_pl.models import build_model
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.models.losses import adaptive_item_weights, golden_real_weight
from rsir_pl.significance import paired_comparison, relative_interval
from rsir_pl.storage.rundir import RunDir
from rsir_pl.training import BestWeights, build_trainer, evaluate, fit

log = logging.getLogger("rsir_pl")


@dataclass
class LoopState:
    """What every iteration of one run shares."""

    config: RunConfig
    datamodule: SequenceDataModule
    rundir: RunDir
    tracker: Tracker
    generator_model: SequentialRecommender | None
    base_popularity: np.ndarray
    #: test metrics of ranking by the true distribution (the embedded world only)
    oracle: dict[str, float] | None = None
    #: ASReP's reverse model once loaded or trained in this process
    reverse_model: reverse.ReverseModel | None = None


class SavingGenerationStep(GenerationStep):
    """The loop's generation step: f_k is saved before it generates (a run killed during
    generation resumes without retraining), and D'_{k+1} is saved before D_k is expanded."""

    def __init__(self, state: LoopState, files: IterationFiles) -> None:
        cfg = state.config
        super().__init__(
            state.datamodule, cfg.generation, cfg.seed, files.k, state.generator_model, self._reverse_model
        )
        self.state = state
        self.files = files
        #: the inverse gradient's probe size, set before the fit (its reversed share is read at fit end)
        self.ig_info: dict[str, Any] = {}
        self.stats: dict[str, Any] | None = None

    def _reverse_model(self) -> reverse.ReverseModel:
        s = self.state
        if s.reverse_model is None:
            s.reverse_model = reverse.load_or_train(s.config, s.rundir, s.datamodule)
        return s.reverse_model

    def trained(self, trainer: L.Trainer, model: SequentialRecommender) -> None:
        # fit.json and history.json complete before model.pt (which marks f_k trained): a run killed
        # during generation resumes with the same fit record as one that was not
        fit_info = {**fit_info_from(trainer), **self.ig_info, **ig_reversed_share(model)}
        self.files.save_history(best_weights(trainer).history)
        self.files.save_model(model, fit_info, self.state.datamodule, self.state.config.data)
        faults.point(f"iter{self.files.k}:model")

    def generated(self, result: GenerationResult, trainer: L.Trainer) -> None:
        s = self.state
        self.stats = self.files.save_generated(result, s.datamodule, s.base_popularity, s.tracker)
        faults.point(f"iter{self.files.k}:generated")


def run_iteration(
    state: LoopState, k: int, prev_model: SequentialRecommender | None
) -> tuple[dict[str, Any], SequentialRecommender | None]:
    """Run (or resume, or read back) iteration ``k``; returns its record and f_k (None when it
    was read back and no later iteration fine-tunes from it)."""
    config, dm = state.config, state.datamodule
    files = IterationFiles(state.rundir, k)
    need_gen = k < config.iterations
    if files.finished and (not need_gen or files.has_generated):
        return _read_back(state, files, need_gen)

    # 1. the loss weights f_k trains with; the inverse gradient's probe set (the same keyed rows
    # the fit holds out) is out while they are counted, so they weigh only what trains
    ig_probe = config.model.inverse_gradient and dm.state_summary()["synthetic_sequences"] > 0
    if ig_probe:
        dm.hold_out_probe(config.model.ig_holdout, k)
    try:
        restore_or_set_loss_weights(config, dm, files)
    finally:
        dm.release_probe()
    faults.point(f"iter{k}:weights")
    train_summary = dm.state_summary()
    t_iter = time.perf_counter()
    step = SavingGenerationStep(state, files) if need_gen else None

    # 2. f_k: load, or train (and at fit end generate D'_{k+1})
    if files.has_model:
        model = files.load_model(dm.num_items)
        fit_info = files.fit_info()
        files.drop_fit_checkpoint()  # left by a run killed after saving f_k (during generation)
        trainer = build_trainer(config.trainer, logger=False, default_root_dir=config.run_dir)
    else:
        model, fit_info, trainer = _train(state, k, prev_model, step, train_summary)

    # 3. f_k's test
    metrics, ranks = evaluate(model, dm, trainer)

    # 4. D'_{k+1}: generated at fit end, or read back, or made now on the testing Trainer
    gen_stats: dict[str, Any] | None = None
    if step is not None:
        if step.result is not None:
            gen_stats = step.stats
        elif files.has_generated:
            gen_stats = files.apply_generated(dm)
        else:
            step.generate(trainer, model)
            gen_stats = step.stats

    rec: dict[str, Any] = {
        "iteration": k,
        "test": metrics,
        "fit": fit_info,
        "train_data": train_summary,
        "generation": gen_stats,
        "real_weight": dm.synthetic_real_weight,
        "seconds": time.perf_counter() - t_iter,
    }
    if k > 0 and state.rundir.has("iter_0/test_ranks.npz"):
        base = state.rundir.read_arrays("iter_0/test_ranks.npz")["ranks"]
        rec["vs_base"] = paired_comparison(base, ranks, seed=config.seed)
    files.save_test(ranks, rec)
    faults.point(f"iter{k}:tested")
    state.tracker.log_iteration(k, iteration_summary(rec, state.oracle))
    log.info(
        "iteration %d: test NDCG@10 %.5f Recall@10 %.5f (%.0fs)",
        k,
        metrics["ndcg@10"],
        metrics["recall@10"],
        rec["seconds"],
    )
    return rec, model


def _train(
    state: LoopState,
    k: int,
    prev_model: SequentialRecommender | None,
    step: SavingGenerationStep | None,
    train_summary: dict[str, Any],
) -> tuple[SequentialRecommender, dict[str, Any], L.Trainer]:
    """Train f_k with early stopping; with a generation step, D'_{k+1} is made at fit end."""
    config, dm = state.config, state.datamodule
    if reverse.starts_forward_model(config, k):
        # ASReP fine-tunes its reverse model; loaded before seeding (rebuilding it draws random numbers)
        prev_model = (state.reverse_model or reverse.load(state.rundir, dm.num_items)).model
    L.seed_everything(config.seed, workers=True, verbose=False)
    if prev_model is not None:
        model = copy.deepcopy(prev_model)
    else:
        model = build_model(config.model, dm.num_items, config.data.max_len)
    model.real_weight = dm.synthetic_real_weight
    model.item_weight = dm.item_weight
    callbacks: list[Any] = [KillSwitch(k)] if faults.armed() else []
    if step is not None:
        callbacks.append(SelfImproveCallback(step))
    log.info(
        "iteration %d: training %s on %d sequences (%d synthetic)",
        k,
        config.model.backbone,
        train_summary["sequences"],
        train_summary["synthetic_sequences"],
    )
    ig_info: dict[str, Any] = {}
    if config.model.inverse_gradient and train_summary["synthetic_sequences"] > 0:
        held = dm.hold_out_probe(config.model.ig_holdout, k)
        model.ig_probe = dm.probe_tensors()
        ig_info["ig_holdout_sequences"] = int(len(held))
        log.info("iteration %d: inverse gradient: %d real sequences held out as its probe set", k, len(held))
    if step is not None:
        step.ig_info = ig_info
    files = IterationFiles(state.rundir, k)
    checkpoint = None
    if config.trainer.fit_checkpoint:
        # the digest, not only the sizes: D_k re-made differently with equal sizes must not resume
        identity = {"iteration": k, "train_data": train_summary, "train_digest": dm.train_store.digest()}
        checkpoint = FitCheckpoint(files.fit_checkpoint_path, identity)
        if checkpoint.resume_path() is not None:
            log.warning(
                "iteration %d: resuming the interrupted fit after epoch %d from %s",
                k,
                checkpoint.resumed_after_epoch,
                files.fit_checkpoint_path,
            )
    resumed_after = checkpoint.resumed_after_epoch if checkpoint is not None else None
    try:
        result, trainer = fit(
            model,
            dm,
            config.trainer,
            callbacks=callbacks,
            logger=state.tracker.epoch_logger(k, resume_after_epoch=resumed_after),
            default_root_dir=config.run_dir,
            checkpoint=checkpoint,
        )
    finally:
        dm.release_probe()
    ig_info.update(ig_reversed_share(model))
    model.ig_probe = None
    fit_info = {**fit_info_from(trainer), **ig_info}
    if step is None:
        files.save_history(result.history)  # before model.pt, which marks f_k trained
        files.save_model(model, fit_info, dm, config.data)
    # else model.pt, fit.json (this same record) and history.json were saved at fit end, before generating
    files.drop_fit_checkpoint()  # f_k is saved: the in-progress state is spent
    if trainer.received_sigterm:
        # Lightning only stops its own loops on SIGTERM; one that arrives after the last epoch
        # (during generation) would otherwise let the loop start the next fit
        log.warning("iteration %d: SIGTERM received; stopping with the fit and its data saved (re-run)", k)
        raise SystemExit(128 + signal.SIGTERM)
    return model, fit_info, trainer


def _read_back(
    state: LoopState, files: IterationFiles, need_gen: bool
) -> tuple[dict[str, Any], SequentialRecommender | None]:
    """A finished iteration: its record, its loss-weight state, and D_{k+1} rebuilt from its files."""
    config, dm = state.config, state.datamodule
    rec = files.record()
    saved = files.load_loss_weights()
    if saved is not None:
        dm.item_weight, dm.synthetic_real_weight = saved
    if need_gen:
        files.apply_generated(dm)
    model = files.load_model(dm.num_items) if config.finetune and need_gen else None
    # a tracker that already has this iteration ignores it (a start killed after metrics.json
    # but before logging would otherwise leave a hole in the per-iteration charts)
    state.tracker.log_iteration(files.k, iteration_summary(rec, state.oracle))
    log.info("iteration %d: already finished (NDCG@10 %.5f), skipped", files.k, rec["test"]["ndcg@10"])
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
        shares = relative_interval(c)
        if shares is not None:
            out[f"vs_base/{m}/relative_ci_low"], out[f"vs_base/{m}/relative_ci_high"] = shares[1:]
    out.update({f"oracle/{m}": v for m, v in (oracle or {}).items()})
    return {k: v for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def restore_or_set_loss_weights(config: RunConfig, dm: SequenceDataModule, files: IterationFiles) -> None:
    """Iteration k's loss weights: as saved in ``iter_k/``, or computed from D_k (and the previous
    iteration's item weights, a moving average) and saved, so a resume continues the same state."""
    saved = files.load_loss_weights()
    if saved is not None:
        dm.item_weight, dm.synthetic_real_weight = saved
        return
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
    w = mc.synthetic_weight
    if w is None:
        dm.synthetic_real_weight = None
    elif w == "golden":
        real, syn = dm.target_counts()
        dm.synthetic_real_weight = golden_real_weight(real, syn) if syn else None
    else:
        dm.synthetic_real_weight = float(w)
    files.save_loss_weights(dm.item_weight, dm.synthetic_real_weight)


def best_weights(trainer: L.Trainer) -> BestWeights:
    """The fit's :class:`~rsir_pl.training.BestWeights` callback (best epoch, history)."""
    best = next((c for c in trainer.callbacks if isinstance(c, BestWeights)), None)  # type: ignore[attr-defined]
    if best is None:
        raise RuntimeError("the Trainer has no BestWeights callback: it was not built by rsir_pl.training.fit")
    return best


def ig_reversed_share(model: SequentialRecommender) -> dict[str, float]:
    """The share of steps whose synthetic gradient the inverse gradient reversed ({} without one)."""
    if model.ig_probe is None:
        return {}
    return {"ig_reversed_share": model.ig_reversed / model.ig_steps if model.ig_steps else 0.0}


def fit_info_from(trainer: L.Trainer) -> dict[str, Any]:
    """Best epoch, epochs, best validation NDCG@10 and training seconds of a finished fit (from its
    BestWeights)."""
    best = best_weights(trainer)
    return {
        "best_epoch": best.best_epoch,
        "epochs": trainer.current_epoch,
        "best_val_ndcg@10": best.best,
        "fit_seconds": best.seconds,
    }
