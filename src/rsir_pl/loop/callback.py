"""One generation path: :class:`GenerationStep` makes D'_{k+1} with a trained model on the device
and in the precision its Trainer set up, and :class:`SelfImproveCallback` runs it at fit end.

The callback runs in ``on_train_end`` (the model is still on its device; ``on_fit_end`` comes
after the DDP teardown) and must follow :class:`rsir_pl.training.BestWeights` in the callback
list, so the best-validation weights generate. An iteration resumed after its model was saved
calls the same :meth:`GenerationStep.generate` with the Trainer that tested the model, which
moves it back to that Trainer's device and precision, so a resumed run generates exactly what an
uninterrupted one does. Under DDP every rank decodes a shard of the seed sequences, the shards are
gathered with ``all_gather_object`` and merged in a fixed order, and every rank applies the same
filtering, so all ranks hold the same D_{k+1}.

ASReP's D'_1 (``generation.method`` asrep or asrep+rsir, iteration 0) does not use f_0: it needs
a reverse model, which may have to be trained first, so it is made after the fit, not inside it
(:attr:`GenerationStep.at_fit_end` is False), by the step's ``reverse_model`` provider.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from rsir_pl.config import GenerationConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.generation.generator import Candidates, GenerationResult, Generator
from rsir_pl.generation.leakage import check_generated
from rsir_pl.models.base import SequentialRecommender

if TYPE_CHECKING:
    from rsir_pl.baselines.reverse import ReverseModel

log = logging.getLogger(__name__)


def generate_for_next_iteration(
    model: SequentialRecommender,
    datamodule: SequenceDataModule,
    config: GenerationConfig,
    seed: int,
    iteration: int,
    rank: int = 0,
    world: int = 1,
    reverse: ReverseModel | None = None,
) -> GenerationResult:
    """Generate D'_{k+1} from the datamodule's D_k (sharded when ``world > 1``), leakage-checked.

    Does not modify the datamodule; call ``datamodule.expand(result.sequences,
    replaces=result.replaced_sources())`` to move on. With ``config.method`` set to an
    augmentation baseline (reorder, insertion) the model is not used: every rank computes the
    same result deterministically (cheap, no gathering needed). ASReP's D'_1 (asrep, asrep+rsir
    at iteration 0) is made by the ``reverse`` model instead of ``model``, likewise on every rank.
    RSIR never seeds from sequences replaced for training (``datamodule.replaced``).
    """
    from rsir_pl.baselines.asrep import augments, prepend_pseudo_prior

    split = datamodule.split
    store = datamodule.train_store
    assert split is not None and store is not None
    if augments(config, iteration):
        if reverse is None:
            raise ValueError("generation.method asrep needs its reverse model (reverse=...)")
        result = prepend_pseudo_prior(reverse, split, config, seed, iteration)
        result.stats["world_size"] = world
        d_next = store.__class__.concat([store, result.sequences])
        check_generated(store, d_next, split, result.source, result.prefix_len, replaces=result.replaces)
        return result
    if config.method == "asrep":
        raise ValueError("generation.method asrep only generates D'_1 (iterations <= 1); asrep+rsir continues")
    if config.method in ("reorder", "insertion"):
        from rsir_pl.baselines import augment

        result = augment(store, split.train(), split.num_items, config, seed, iteration)
        result.stats["world_size"] = world
        d_next = store.__class__.concat([store, result.sequences])
        check_generated(store, d_next, split, result.source, result.prefix_len)
        return result
    generator = Generator(config, seed=seed, iteration=iteration)
    t0 = time.perf_counter()
    part = generator.generate(model, store, split.held_out_items(), rank=rank, world=world, skip=datamodule.replaced)
    if world > 1:
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, part)
        candidates = Candidates.concat(gathered)
        counters: dict[str, float] = {}
        for g in gathered:
            for k, v in g.counters.items():
                counters[k] = max(counters.get(k, 0.0), v) if k.endswith("_s") else counters.get(k, 0.0) + v
        candidates.counters = counters
    else:
        candidates = part
    real_interactions = int(store.lengths[store.generation == 0].sum())
    result = generator.finalize(candidates, store, real_interactions)
    result.stats["generation_seconds"] = time.perf_counter() - t0
    result.stats["world_size"] = world
    d_next = store.__class__.concat([store, result.sequences])
    check_generated(
        store,
        d_next,
        split,
        result.source,
        result.prefix_len,
        targets=result.targets,
        fidelity_checked=generator.backend.tests_targets,
    )
    return result


class GenerationStep:
    """Generates D'_{k+1} from a DataModule's D_k with a trained model and expands the DataModule.

    Subclasses hook in before generation (:meth:`trained`: f_k is final) and after it
    (:meth:`generated`: D'_{k+1} exists, D_k not yet expanded); the loop uses them to save files.

    Args:
        datamodule: holds D_k; expanded to D_{k+1} by :meth:`generate`.
        config: generation settings.
        seed: run seed (keys every random draw together with the iteration).
        iteration: k, the iteration whose model just trained.
        generator_model: a fixed model that generates instead of the student (weak-to-strong).
        reverse_model: ASReP: returns the run's reverse model (loading or training it); called
            only when this step makes ASReP's D'_1.
    """

    def __init__(
        self,
        datamodule: SequenceDataModule,
        config: GenerationConfig,
        seed: int,
        iteration: int,
        generator_model: SequentialRecommender | None = None,
        reverse_model: Callable[[], ReverseModel] | None = None,
    ) -> None:
        self.datamodule = datamodule
        self.config = config
        self.seed = seed
        self.iteration = iteration
        self.generator_model = generator_model
        self.reverse_model = reverse_model
        self.result: GenerationResult | None = None

    @property
    def at_fit_end(self) -> bool:
        """Whether D'_{k+1} is made at fit end by f_k (False for ASReP's D'_1, which may train
        its reverse model first and is made after the fit)."""
        from rsir_pl.baselines.asrep import augments

        return not augments(self.config, self.iteration)

    def trained(self, trainer: L.Trainer, model: SequentialRecommender) -> None:
        """Called once f_k is final (best weights restored), before it generates."""

    def generated(self, result: GenerationResult, trainer: L.Trainer) -> None:
        """Called with D'_{k+1} on every rank, before the DataModule is expanded."""

    def generate(self, trainer: L.Trainer, model: SequentialRecommender) -> GenerationResult:
        """D'_{k+1} from ``model`` (or the fixed generator, or ASReP's reverse model) on
        ``trainer``'s device and precision."""
        reverse = None
        if not self.at_fit_end:
            if self.reverse_model is None:
                raise ValueError("generation.method asrep needs a reverse_model provider")
            reverse = self.reverse_model()
            reverse.model.to(trainer.strategy.root_device)
        gen_model = self.generator_model or model
        gen_model.to(trainer.strategy.root_device)
        with trainer.precision_plugin.forward_context():
            result = generate_for_next_iteration(
                gen_model,
                self.datamodule,
                self.config,
                self.seed,
                self.iteration,
                rank=trainer.global_rank,
                world=trainer.world_size,
                reverse=reverse,
            )
        self.generated(result, trainer)
        self.datamodule.expand(result.sequences, replaces=result.replaced_sources())
        self.result = result
        log.info("iteration %d: %s", self.iteration, generation_summary(result.stats))
        return result


def generation_summary(stats: dict[str, Any]) -> str:
    """One line on what generation produced and what each filter dropped; its ``candidates``
    and ``accepted steps`` are the counts the progress bar shows (``candidates``, ``steps``)."""
    if "attempts_with_accepted_step" not in stats:  # an augmentation baseline: no fidelity check
        return (
            f"{stats.get('method', 'baseline')} made {stats['attempts']:,} attempts; dropped "
            f"{stats.get('duplicates_dropped', 0):,} duplicates; kept {stats['kept_sequences']:,} sequences "
            f"({stats['kept_interactions']:,} interactions) in {stats.get('generation_seconds', 0.0):.1f}s"
        )
    return (
        f"generated from {stats['attempts']:,} attempts: {stats['accepted_steps']:,} accepted steps of "
        f"{stats['proposed_steps']:,} proposed (acceptance {stats['acceptance_rate']:.3f}), "
        f"{stats['attempts_with_accepted_step']:,} candidates; dropped {stats['too_short_dropped']:,} shorter "
        f"than min_len, {stats['duplicates_dropped']:,} duplicates, {stats['capped_dropped']:,} over the "
        f"max_synthetic_ratio cap; kept {stats['kept_sequences']:,} sequences ({stats['kept_interactions']:,} "
        f"interactions) in {stats['generation_seconds']:.1f}s"
    )


class SelfImproveCallback(Callback):
    """Runs a :class:`GenerationStep` when fit k ends: f_k generates D'_{k+1} and the DataModule
    becomes D_{k+1} before the next ``Trainer.fit`` (a step that is not :attr:`~GenerationStep.at_fit_end`
    is only told that f_k is final; the loop generates after the fit)."""

    def __init__(self, step: GenerationStep) -> None:
        self.step = step

    @property
    def result(self) -> GenerationResult | None:
        """D'_{k+1} once the fit has ended."""
        return self.step.result

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, SequentialRecommender)
        self.step.trained(trainer, pl_module)
        if self.step.at_fit_end:
            self.step.generate(trainer, pl_module)
