"""Typed configuration of a run. Defaults live here; YAML files under ``configs/`` override them.

Every section validates itself on construction and raises :class:`ConfigError` naming the option
(``generation.tau must be >= 1 (got 0)``), so an impossible value stops a run before any work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

BACKBONES = ("sasrec", "cl4srec", "hstu")
LOSSES = ("ce", "sampled_softmax", "bce")
OPTIMIZERS = ("adam", "adamw")
#: how a synthetic target enters the loss (models/losses.py)
SYNTHETIC_LOSSES = ("plain", "idl")
#: learning-rate schedules after the linear warm-up (model.lr_schedule; null = none)
LR_SCHEDULES = ("constant", "cosine")
FIDELITY = ("exact", "faiss", "faiss-ivf", "none")
#: what the fidelity check tests after item i is appended (RSIR-SPEC §3 step 4)
CHECK_TARGETS = ("remaining", "including_new")
LOGGERS = ("csv", "wandb", "none")
#: Lightning precision strings (trainer.precision)
PRECISIONS = (
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
    "transformer-engine-float16",
    "32",
    "16",
    "bf16",
    "64",
)
#: Lightning profiler names (trainer.profiler)
PROFILERS = ("simple", "advanced", "pytorch", "xla")
#: how D'_{k+1} is produced: RSIR or an augmentation baseline (rsir_pl.baselines)
GENERATION_METHODS = ("rsir", "reorder", "insertion", "asrep", "asrep+rsir")
#: the methods whose D'_1 is ASReP's augmentation of D_0 (rsir_pl.baselines.asrep)
ASREP_METHODS = ("asrep", "asrep+rsir")


class ConfigError(ValueError):
    """An option has an impossible value; the message names the option."""


def _check(cond: bool, option: str, message: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{option} {message} (got {value!r})")


def _choice(value: Any, option: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{option}: unknown value {value!r}; choose one of {', '.join(choices)}")


@dataclass
class DataConfig:
    """Which data and how it is batched.

    Args:
        dataset: registered name (synthetic, beauty, toys, sports, yelp) or a file path.
        max_len: most recent items a model sees per sequence.
        batch_size: training sequences per batch.
        eval_batch_size: users per evaluation batch.
        mask_history: remove the user's earlier items from the ranking at evaluation.
        k_core: k-core filter for interaction logs (CSV, Parquet, .inter).
        num_workers: DataLoader worker processes (0 keeps everything in the main process).
        bucket_by_length: batch sequences of similar length together (narrower padded batches,
            several times faster on CPU); batches are still shuffled every epoch.
        bucket_reweight: with bucket_by_length, scale each batch's loss by its number of targets
            over the mean number per batch, so every target weighs what it weighs in uniformly
            drawn batches (a per-batch mean gives a target in a batch of short sequences many times
            the weight of one in a batch of long sequences: on Toys the base's best validation
            NDCG@10 was 0.0651 without reweighting, 0.0758 with it and 0.0757 with uniform
            batches, which take twice the CPU time per epoch; benchmarks/RESULTS.md).
    """

    dataset: str = "synthetic"
    max_len: int = 50
    batch_size: int = 256
    eval_batch_size: int = 512
    mask_history: bool = True
    k_core: int = 5
    num_workers: int = 0
    bucket_by_length: bool = True
    bucket_reweight: bool = True

    def __post_init__(self) -> None:
        _check(self.max_len >= 2, "data.max_len", "must be >= 2", self.max_len)
        _check(self.batch_size >= 1, "data.batch_size", "must be >= 1", self.batch_size)
        _check(self.eval_batch_size >= 1, "data.eval_batch_size", "must be >= 1", self.eval_batch_size)
        _check(self.k_core >= 0, "data.k_core", "must be >= 0", self.k_core)
        _check(self.num_workers >= 0, "data.num_workers", "must be >= 0", self.num_workers)


@dataclass
class ModelConfig:
    """The backbone, its size and its loss.

    Args:
        backbone: sasrec, cl4srec or hstu.
        hidden: embedding and hidden size.
        layers: number of blocks.
        heads: attention heads.
        dropout: dropout on embeddings and block outputs.
        attn_dropout: dropout on attention weights.
        ffn_mult: feed-forward inner size as a multiple of hidden (SASRec, CL4SRec).
        loss: ce (full softmax), sampled_softmax (uniform negatives) or bce (one negative).
        num_negatives: negatives per batch for sampled_softmax.
        temperature: logit temperature for sampled_softmax.
        lr: learning rate.
        lr_schedule: null (constant lr), constant (linear warm-up, then constant) or cosine (linear
            warm-up, then cosine decay to lr * lr_min_ratio over the fit's planned optimizer steps,
            from trainer.max_epochs or trainer.max_steps; early stopping may end the fit before).
        lr_warmup_steps: optimizer steps of linear warm-up (with lr_schedule).
        lr_min_ratio: where cosine ends, as a fraction of lr.
        weight_decay: weight decay: an L2 term in the gradient for adam, decoupled for adamw.
        optimizer: adam (torch.optim.Adam) or adamw (torch.optim.AdamW, decoupled weight decay as
            in the HSTU authors' Lightning configs: lr 1e-3, betas 0.9/0.98, weight decay 1e-3).
        adam_beta2: the second-moment decay of Adam/AdamW (torch's default 0.999).
        synthetic_weight: how synthetic targets weigh against real ones in the loss. null pools
            every target with weight 1 (the paper's code); a number w in (0, 1] gives
            w * mean(real) + (1 - w) * mean(synthetic); "golden" picks w from the ratio of real to
            synthetic targets (see models/losses.py).
        generation_decay: synthetic targets of generation g weigh decay^(g-1) (older generations of
            synthetic data count more than newer ones when decay < 1); null = no decay.
        synthetic_loss: how a synthetic target is trained: plain (as a real positive) or idl
            (Inverse Dual Loss, "Inverse Learning with Extremely Sparse Feedback for
            Recommendation", arXiv 2311.08302: the target's positive loss -log p and negative
            loss -log(1 - p) weighted inversely to their magnitudes, so a synthetic target the
            model finds implausible is trained mostly as a negative); ce and sampled_softmax only.
        item_weighting: null or "adaptive": a per-target weight from the sparsity of the target
            item's popularity bucket (inspired by "Adaptive Weighted Loss for Sequential
            Recommendations on Sparse Domains"; our parametrisation, see models/losses.py).
        item_weight_alpha: exponent of the inverse bucket frequency.
        item_weight_max: upper clip of a bucket weight (before renormalisation).
        item_weight_buckets: number of item-popularity buckets (the "domains").
        item_weight_momentum: weights move towards the new raw weights by 1 - momentum each iteration.
        cl_weight: CL4SRec contrastive loss weight (lambda).
        cl_temperature: CL4SRec InfoNCE temperature.
        crop_ratio: CL4SRec crop ratio (eta).
        mask_ratio: CL4SRec mask ratio (gamma).
        reorder_ratio: CL4SRec reorder ratio (beta).
        hstu_norm: HSTU attention normalisation: n_padded (published), true_len or softmax.
        hstu_l2norm: HSTU L2-normalises user and item embeddings.
        hstu_time_bias: HSTU adds the published relative time bias (129 log-spaced buckets of the
            gap, in the data's time unit, from the query's timestamp to each key's) where both
            timestamps exist; needs a dataset with timestamps. Synthetic sequences and generation
            carry none, so for them the bias is skipped (position bias only).
    """

    backbone: str = "sasrec"
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.5
    attn_dropout: float = 0.5
    ffn_mult: int = 4
    loss: str = "ce"
    num_negatives: int = 256
    temperature: float = 1.0
    lr: float = 1e-3
    lr_schedule: Optional[str] = None
    lr_warmup_steps: int = 0
    lr_min_ratio: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "adam"
    adam_beta2: float = 0.999
    synthetic_weight: Optional[Union[float, str]] = None
    generation_decay: Optional[float] = None
    synthetic_loss: str = "plain"
    item_weighting: Optional[str] = None
    item_weight_alpha: float = 1.0
    item_weight_max: float = 10.0
    item_weight_buckets: int = 5
    item_weight_momentum: float = 0.9
    cl_weight: float = 0.1
    cl_temperature: float = 1.0
    crop_ratio: float = 0.6
    mask_ratio: float = 0.3
    reorder_ratio: float = 0.6
    hstu_norm: str = "n_padded"
    hstu_l2norm: bool = False
    hstu_time_bias: bool = False

    def __post_init__(self) -> None:
        _choice(self.backbone, "model.backbone", BACKBONES)
        _choice(self.loss, "model.loss", LOSSES)
        _check(self.hidden >= 1, "model.hidden", "must be >= 1", self.hidden)
        _check(self.layers >= 1, "model.layers", "must be >= 1", self.layers)
        _check(
            self.heads >= 1 and self.hidden % self.heads == 0,
            "model.heads",
            f"must be >= 1 and divide model.hidden={self.hidden}",
            self.heads,
        )
        for name in ("dropout", "attn_dropout", "crop_ratio", "mask_ratio", "reorder_ratio"):
            v = getattr(self, name)
            _check(
                0.0 <= v <= 1.0 if name.endswith("ratio") else 0.0 <= v < 1.0,
                f"model.{name}",
                "must lie in [0, 1)" if "dropout" in name else "must lie in [0, 1]",
                v,
            )
        _check(self.ffn_mult >= 1, "model.ffn_mult", "must be >= 1", self.ffn_mult)
        _check(self.num_negatives >= 1, "model.num_negatives", "must be >= 1", self.num_negatives)
        _check(self.temperature > 0, "model.temperature", "must be > 0", self.temperature)
        _check(self.cl_temperature > 0, "model.cl_temperature", "must be > 0", self.cl_temperature)
        _check(self.lr > 0, "model.lr", "must be > 0", self.lr)
        if self.lr_schedule is not None:
            _choice(self.lr_schedule, "model.lr_schedule", LR_SCHEDULES)
        _check(self.lr_warmup_steps >= 0, "model.lr_warmup_steps", "must be >= 0", self.lr_warmup_steps)
        _check(
            self.lr_schedule is not None or self.lr_warmup_steps == 0,
            "model.lr_warmup_steps",
            "needs model.lr_schedule (constant or cosine)",
            self.lr_warmup_steps,
        )
        _check(0.0 <= self.lr_min_ratio <= 1.0, "model.lr_min_ratio", "must lie in [0, 1]", self.lr_min_ratio)
        _check(self.weight_decay >= 0, "model.weight_decay", "must be >= 0", self.weight_decay)
        _choice(self.optimizer, "model.optimizer", OPTIMIZERS)
        _check(0.0 <= self.adam_beta2 < 1.0, "model.adam_beta2", "must lie in [0, 1)", self.adam_beta2)
        _check(self.cl_weight >= 0, "model.cl_weight", "must be >= 0", self.cl_weight)
        _choice(self.hstu_norm, "model.hstu_norm", ("n_padded", "true_len", "softmax"))
        _check(
            not self.hstu_time_bias or self.backbone == "hstu",
            "model.hstu_time_bias",
            f"applies to backbone hstu only (backbone is {self.backbone!r})",
            self.hstu_time_bias,
        )
        if self.generation_decay is not None:
            _check(
                0.0 < self.generation_decay <= 1.0,
                "model.generation_decay",
                "must lie in (0, 1]",
                self.generation_decay,
            )
        _choice(self.synthetic_loss, "model.synthetic_loss", SYNTHETIC_LOSSES)
        _check(
            self.synthetic_loss != "idl" or self.loss in ("ce", "sampled_softmax"),
            "model.synthetic_loss",
            f"idl needs a softmax loss (model.loss ce or sampled_softmax; model.loss is {self.loss!r})",
            self.synthetic_loss,
        )
        if self.item_weighting is not None:
            _choice(self.item_weighting, "model.item_weighting", ("adaptive",))
        _check(self.item_weight_alpha >= 0, "model.item_weight_alpha", "must be >= 0", self.item_weight_alpha)
        _check(self.item_weight_max >= 1, "model.item_weight_max", "must be >= 1", self.item_weight_max)
        _check(self.item_weight_buckets >= 1, "model.item_weight_buckets", "must be >= 1", self.item_weight_buckets)
        _check(
            0.0 <= self.item_weight_momentum < 1.0,
            "model.item_weight_momentum",
            "must lie in [0, 1)",
            self.item_weight_momentum,
        )
        w = self.synthetic_weight
        if isinstance(w, str):
            _check(w == "golden", "model.synthetic_weight", "must be null, a number in (0, 1] or 'golden'", w)
        elif w is not None:
            _check(0.0 < float(w) <= 1.0, "model.synthetic_weight", "must lie in (0, 1]", w)


@dataclass
class TrainerConfig:
    """Lightning Trainer settings used for every iteration's fit.

    Every ``lightning.Trainer`` argument that takes a plain value is an option here, under its
    Lightning name (three are renamed: ``val_every_n_epochs``, ``progress_bar``, ``model_summary``);
    the few that rsir_pl sets itself are listed in ``rsir_pl.training.RESERVED_TRAINER_ARGS`` with
    the reason. Lightning's documentation describes each one.

    Args:
        max_epochs: upper bound on epochs per fit.
        patience: epochs without a better validation NDCG@10 before stopping (rsir_pl's early stopping).
        min_epochs: epochs to train before early stopping may act.
        max_steps: upper bound on optimizer steps per fit (-1 = none).
        min_steps: optimizer steps to train before early stopping may act.
        max_time: wall-time limit per fit, "DD:HH:MM:SS".
        accelerator: cpu, gpu or auto.
        devices: number of devices (or "auto"); per node when num_nodes > 1.
        num_nodes: machines of a DDP run (launched by torchrun or SLURM; see the README).
        strategy: auto or ddp (multi-GPU: ddp).
        precision: Lightning precision: 32-true, 16-mixed, bf16-mixed, 16-true, bf16-true, 64-true.
        progress_bar: show Lightning's progress bar (enable_progress_bar).
        model_summary: print the model summary at the start of a fit (enable_model_summary).
        val_every_n_epochs: validate every n epochs (check_val_every_n_epoch).
        val_check_interval: validate within an epoch too: a fraction of it or a number of batches.
        num_sanity_val_steps: validation batches run before training as a smoke check.
        log_every_n_steps: how often training-step metrics are logged.
        limit_train_batches: fraction or count of training batches per epoch (debugging).
        limit_val_batches: fraction or count of validation batches (debugging; early stopping then
            sees part of the users).
        accumulate_grad_batches: batches whose gradients are summed before an optimizer step.
        gradient_clip_val: clip gradients at this value (null = no clipping).
        gradient_clip_algorithm: norm or value (with gradient_clip_val).
        deterministic: ask torch for deterministic algorithms (true, false or "warn").
        benchmark: cudnn.benchmark (null leaves torch's setting).
        inference_mode: evaluate under torch.inference_mode (else torch.no_grad).
        profiler: simple, advanced or pytorch (null = none).
        detect_anomaly: torch autograd anomaly detection (slow; debugging).
        sync_batchnorm: synchronise batch norm across devices.
        reload_dataloaders_every_n_epochs: rebuild the data loaders every n epochs (0 = never).
        enable_autolog_hparams: let the logger record the model's hyperparameters.
        model_registry: Lightning model registry name (used with Lightning's checkpointing only).
    """

    max_epochs: int = 200
    patience: int = 20
    min_epochs: int = 1
    max_steps: int = -1
    min_steps: Optional[int] = None
    max_time: Optional[str] = None
    accelerator: str = "auto"
    devices: Union[int, str] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    progress_bar: bool = True
    model_summary: bool = False
    val_every_n_epochs: int = 1
    val_check_interval: Optional[Union[int, float]] = None
    num_sanity_val_steps: int = 0
    log_every_n_steps: int = 10
    limit_train_batches: Optional[Union[int, float]] = None
    limit_val_batches: Optional[Union[int, float]] = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: Optional[str] = None
    deterministic: Union[bool, str] = False
    benchmark: Optional[bool] = None
    inference_mode: bool = True
    profiler: Optional[str] = None
    detect_anomaly: bool = False
    sync_batchnorm: bool = False
    reload_dataloaders_every_n_epochs: int = 0
    enable_autolog_hparams: bool = True
    model_registry: Optional[str] = None

    def __post_init__(self) -> None:
        _check(self.max_epochs >= 1, "trainer.max_epochs", "must be >= 1", self.max_epochs)
        _check(self.patience >= 1, "trainer.patience", "must be >= 1", self.patience)
        _check(self.min_epochs >= 0, "trainer.min_epochs", "must be >= 0", self.min_epochs)
        _check(self.max_steps >= -1, "trainer.max_steps", "must be -1 (no limit) or >= 0", self.max_steps)
        if self.min_steps is not None:
            _check(self.min_steps >= 0, "trainer.min_steps", "must be >= 0 or null", self.min_steps)
        if self.max_time is not None:
            parts = str(self.max_time).split(":")
            _check(
                len(parts) == 4 and all(p.isdigit() for p in parts),
                "trainer.max_time",
                'must be "DD:HH:MM:SS" (e.g. "00:01:30:00") or null',
                self.max_time,
            )
        if isinstance(self.devices, int):
            _check(self.devices >= 1, "trainer.devices", "must be >= 1 or 'auto'", self.devices)
        _check(self.num_nodes >= 1, "trainer.num_nodes", "must be >= 1", self.num_nodes)
        _choice(self.precision, "trainer.precision", PRECISIONS)
        _check(self.val_every_n_epochs >= 1, "trainer.val_every_n_epochs", "must be >= 1", self.val_every_n_epochs)
        if self.val_check_interval is not None:
            _check(
                self.val_check_interval > 0,
                "trainer.val_check_interval",
                "must be > 0 (a fraction of an epoch or a number of batches) or null",
                self.val_check_interval,
            )
        _check(
            self.num_sanity_val_steps >= -1,
            "trainer.num_sanity_val_steps",
            "must be >= 0 (or -1: all)",
            self.num_sanity_val_steps,
        )
        _check(self.log_every_n_steps >= 1, "trainer.log_every_n_steps", "must be >= 1", self.log_every_n_steps)
        for name in ("limit_train_batches", "limit_val_batches"):
            v = getattr(self, name)
            if v is not None:
                _check(
                    (isinstance(v, int) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0),
                    f"trainer.{name}",
                    "must be a batch count >= 0, a fraction in [0, 1] or null",
                    v,
                )
        _check(
            self.accumulate_grad_batches >= 1,
            "trainer.accumulate_grad_batches",
            "must be >= 1",
            self.accumulate_grad_batches,
        )
        if self.gradient_clip_val is not None:
            _check(
                self.gradient_clip_val >= 0, "trainer.gradient_clip_val", "must be >= 0 or null", self.gradient_clip_val
            )
        if self.gradient_clip_algorithm is not None:
            _choice(self.gradient_clip_algorithm, "trainer.gradient_clip_algorithm", ("norm", "value"))
        if isinstance(self.deterministic, str):
            _choice(self.deterministic, "trainer.deterministic", ("warn",))
        if self.profiler is not None:
            _choice(self.profiler, "trainer.profiler", PROFILERS)
        _check(
            self.reload_dataloaders_every_n_epochs >= 0,
            "trainer.reload_dataloaders_every_n_epochs",
            "must be >= 0",
            self.reload_dataloaders_every_n_epochs,
        )


#: generation presets; a field left unset (null) takes the preset's value (RSIR-SPEC §3)
GENERATION_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"prefix": "random", "top_k": 10, "m": 10, "min_len": 2},
    "authors-code": {"prefix": "first", "top_k": 1, "m": 5, "min_len": 3},
}


@dataclass
class GenerationConfig:
    """How each iteration generates synthetic sequences (the paper's rules; README "What is supported").

    Args:
        preset: paper (the paper's text) or authors-code (the public code's behaviour); it fills
            prefix, top_k, m and min_len where they are left null.
        m: attempts per seed sequence.
        tau: fidelity rank threshold (accept when a true future item ranks <= tau).
        p: probability that a step samples from the sequence's own items (else the catalogue).
        top_k: sample among the top_k items of the pool (1 = greedy).
        temperature: softmax temperature of the sampling step, on top of the model's own
            logit scale (1 samples from the distribution the model was trained to predict).
        prefix: random (length uniform in 1..len-1) or first (start from the first item).
        exclude_context: never propose an item already in the context.
        check_targets: which true items the fidelity check tests after appending item i:
            remaining (the paper's S_tgt = s \\ ctx': the user's remaining true future, without
            i; when i was the last one, the step is accepted and the attempt ends) or
            including_new (i itself still counts, so a proposal taken from the user's own items
            passes whenever the model ranks it highly right after appending it).
        max_len: longest synthetic sequence.
        min_len: shortest synthetic sequence kept.
        seed_from: all (every sequence of D_k) or real (original users only).
        fidelity: exact, faiss (flat inner product), faiss-ivf (clustered) or none.
        nlist: faiss-ivf clusters.
        nprobe: faiss-ivf clusters searched per query.
        index_device: where a faiss index lives: auto (GPU when the model is on CUDA and faiss
            has GPU support), cpu or gpu.
        batch_size: (sequence, attempt) rows decoded together.
        chunk_items: catalogue items scored at once by the exact check (bounds memory).
        kv_cache: reuse attention keys/values between steps (transformer backbones).
        max_synthetic_ratio: cap on synthetic / real training interactions added per iteration
            (null = no cap), applied by a seeded subsample.
        generator_checkpoint: generate with this saved model instead of the student
            (weak-to-strong); null uses the model just trained.
        progress: show a progress bar while generating.
        method: how D'_{k+1} is produced: rsir (the model generates, fidelity-checked), or an
            augmentation baseline that needs no model: reorder (DA4Rec Reordering: shuffle a
            contiguous block) or insertion (CoSeRec/DA4Rec Insertion: insert the ItemCF-IUF most
            similar item, similarity from D_0 only); asrep (ASReP, Liu et al. SIGIR 2021: a
            reverse model prepends pseudo-prior items to short training sequences, D'_1 only) or
            asrep+rsir (ASReP's D_1, then RSIR iterations on top).
        num_sequences: baselines only: how many augmented sequences to add per iteration (null:
            2 copies per eligible sequence, as DA4Rec); RSIR ignores it (see max_synthetic_ratio).
        reorder_ratio: reorder only: the shuffled block has max(2, int(len * ratio)) items.
        asrep_threshold: asrep / asrep+rsir: training sequences shorter than this get pseudo-prior
            items (ASReP's M; 18 in both forward commands of the authors' README, ``--M 18``).
        asrep_length: the length an augmented sequence is filled up to (pseudo-prior items + the
            real sequence; the authors' code fills up to M, so 18).
        asrep_max_items: at most this many pseudo-prior items per sequence (the code's
            ``--aug_traindata``: 15 in the README's Beauty command, 17 for Cell Phones).
        asrep_top_k: each pseudo-prior item is sampled among the reverse model's top_k items (not
            in the sequence yet); 1 = greedy, as the authors' code (it takes the best-ranked item).
        asrep_finetune: the forward models (f_1, and with asrep+rsir every later f_k unless
            ``finetune`` carries f_{k-1} forward) start from the reverse model's weights (ASReP's
            "left-to-right fine-tuning", the code's ``--reversed_pretrain 1``); false trains them
            from scratch.
    """

    preset: str = "paper"
    m: Optional[int] = None
    tau: int = 20
    p: float = 0.5
    top_k: Optional[int] = None
    temperature: float = 1.0
    prefix: Optional[str] = None
    exclude_context: bool = True
    check_targets: str = "remaining"
    max_len: int = 50
    min_len: Optional[int] = None
    seed_from: str = "all"
    fidelity: str = "exact"
    nlist: int = 256
    nprobe: int = 16
    index_device: str = "auto"
    batch_size: int = 256
    chunk_items: int = 65536
    kv_cache: bool = True
    max_synthetic_ratio: Optional[float] = None
    generator_checkpoint: Optional[str] = None
    progress: bool = True
    ivf_agreement_rows: int = 32
    method: str = "rsir"
    num_sequences: Optional[int] = None
    reorder_ratio: float = 0.0
    asrep_threshold: int = 18
    asrep_length: int = 18
    asrep_max_items: int = 15
    asrep_top_k: int = 1
    asrep_finetune: bool = True

    def __post_init__(self) -> None:
        _choice(self.preset, "generation.preset", tuple(GENERATION_PRESETS))
        for key, value in GENERATION_PRESETS[self.preset].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        _check(self.m >= 1, "generation.m", "must be >= 1", self.m)
        _check(self.tau >= 1, "generation.tau", "must be >= 1", self.tau)
        _check(0.0 <= self.p <= 1.0, "generation.p", "must lie in [0, 1]", self.p)
        _check(self.top_k >= 1, "generation.top_k", "must be >= 1", self.top_k)
        _check(self.temperature > 0, "generation.temperature", "must be > 0", self.temperature)
        _choice(self.prefix, "generation.prefix", ("random", "first"))
        _choice(self.check_targets, "generation.check_targets", CHECK_TARGETS)
        _check(self.max_len >= 2, "generation.max_len", "must be >= 2", self.max_len)
        _check(
            2 <= self.min_len <= self.max_len,
            "generation.min_len",
            f"must lie in [2, generation.max_len={self.max_len}]",
            self.min_len,
        )
        _choice(self.seed_from, "generation.seed_from", ("all", "real"))
        _choice(self.fidelity, "generation.fidelity", FIDELITY)
        _check(self.nlist >= 1, "generation.nlist", "must be >= 1", self.nlist)
        _check(1 <= self.nprobe, "generation.nprobe", "must be >= 1", self.nprobe)
        _choice(self.index_device, "generation.index_device", ("auto", "cpu", "gpu"))
        _check(self.batch_size >= 1, "generation.batch_size", "must be >= 1", self.batch_size)
        _check(self.ivf_agreement_rows >= 0, "generation.ivf_agreement_rows", "must be >= 0", self.ivf_agreement_rows)
        _check(self.chunk_items >= 1, "generation.chunk_items", "must be >= 1", self.chunk_items)
        if self.max_synthetic_ratio is not None:
            _check(
                self.max_synthetic_ratio > 0, "generation.max_synthetic_ratio", "must be > 0", self.max_synthetic_ratio
            )
        _choice(self.method, "generation.method", GENERATION_METHODS)
        if self.num_sequences is not None:
            _check(self.num_sequences >= 1, "generation.num_sequences", "must be >= 1 or null", self.num_sequences)
        _check(0.0 <= self.reorder_ratio < 1.0, "generation.reorder_ratio", "must lie in [0, 1)", self.reorder_ratio)
        _check(self.asrep_threshold >= 2, "generation.asrep_threshold", "must be >= 2", self.asrep_threshold)
        _check(self.asrep_length >= 2, "generation.asrep_length", "must be >= 2", self.asrep_length)
        _check(self.asrep_max_items >= 1, "generation.asrep_max_items", "must be >= 1", self.asrep_max_items)
        _check(self.asrep_top_k >= 1, "generation.asrep_top_k", "must be >= 1", self.asrep_top_k)


@dataclass
class LoggerConfig:
    """Where metrics go.

    Args:
        kind: csv (files in the run directory), wandb or none.
        project: W&B project.
        name: W&B run name (default: the run directory's name).
        offline: W&B offline mode (no network needed; runs go to <run_dir>/wandb/offline-run-*;
            upload them with `wandb sync <run_dir>/wandb/offline-run-*`).
        log_dataset: log each generated dataset as a W&B artifact.
        group: W&B group: give every seed of one setting the same group to see them together.
        tags: W&B tags (e.g. the dataset, the backbone, "seed-sweep").
    """

    kind: str = "csv"
    project: str = "rsir_pl"
    name: Optional[str] = None
    offline: bool = True
    log_dataset: bool = False
    group: Optional[str] = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _choice(self.kind, "logger.kind", LOGGERS)
        _check(
            isinstance(self.tags, (list, tuple)) and all(isinstance(t, str) and t for t in self.tags),
            "logger.tags",
            "must be a list of non-empty strings",
            self.tags,
        )


@dataclass
class RunConfig:
    """A whole run: data, model, trainer, generation and logging.

    Args:
        seed: global seed (iteration k trains with seed + k).
        run_dir: directory of results, generated data and checkpoints (resumable).
        iterations: K, the number of self-improvement rounds after the base model.
        finetune: RSIR-FT, start iteration k+1 from f_k's weights instead of a fresh model.
        base_from: another run directory whose trained base model (iteration 0) this run reuses,
            when both were made with the same data, model, trainer and seed settings (studies that
            vary only the generation settings then train the base once).
    """

    seed: int = 0
    run_dir: str = "runs/default"
    iterations: int = 1
    finetune: bool = False
    base_from: Optional[str] = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)

    def __post_init__(self) -> None:
        _check(self.iterations >= 0, "iterations", "must be >= 0", self.iterations)
        for name, cls in (
            ("data", DataConfig),
            ("model", ModelConfig),
            ("trainer", TrainerConfig),
            ("generation", GenerationConfig),
            ("logger", LoggerConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, from_dict(cls, value, prefix=name))
        if self.generation.method == "asrep":
            _check(
                self.iterations <= 1,
                "iterations",
                "must be <= 1 with generation.method asrep (it augments D_0 once; asrep+rsir runs RSIR "
                "iterations on top)",
                self.iterations,
            )
        if self.generation.method in ASREP_METHODS:
            _check(
                self.generation.asrep_length <= self.data.max_len,
                "generation.asrep_length",
                f"must be <= data.max_len={self.data.max_len} (longer sequences are cut to their newest items)",
                self.generation.asrep_length,
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON ready)."""
        return asdict(self)

    def result_settings(self) -> dict[str, Any]:
        """Every setting that changes results (not run_dir, logging, K or progress bars)."""
        return strip_non_result(self.to_dict())

    def base_settings(self) -> dict[str, Any]:
        """The settings that decide the trained base model f_0 (see :func:`base_settings`)."""
        return base_settings(self.result_settings())

    def fingerprint(self) -> str:
        """Hash of :meth:`result_settings`."""
        return hashlib.sha256(json.dumps(self.result_settings(), sort_keys=True).encode()).hexdigest()[:16]


#: settings that never change results: a run may be resumed with other values
NON_RESULT_KEYS = (
    ("run_dir",),
    ("logger",),
    ("iterations",),  # extending K on resume is allowed
    ("trainer", "progress_bar"),
    ("trainer", "model_summary"),
    ("trainer", "log_every_n_steps"),
    ("trainer", "profiler"),
    ("trainer", "enable_autolog_hparams"),
    ("trainer", "model_registry"),
    ("generation", "progress"),
    ("generation", "ivf_agreement_rows"),
    # proven not to change results: generation is keyed per row (batch-size independent), the
    # cached decoding equals re-encoding, chunking only bounds memory, metrics are sums
    ("generation", "batch_size"),
    ("generation", "chunk_items"),
    ("generation", "kv_cache"),
    ("data", "eval_batch_size"),
    ("data", "num_workers"),
    ("base_from",),
)


#: the sections of the settings that decide iteration 0's model
BASE_SECTIONS = ("seed", "data", "model", "trainer")

#: model settings that only weigh synthetic targets; iteration 0 trains on real data alone, where
#: every value of them reduces the loss to the plain mean, so they do not change the base model
SYNTHETIC_ONLY_MODEL_KEYS = ("synthetic_weight", "generation_decay", "synthetic_loss")


def base_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The :data:`BASE_SECTIONS` of result settings, without :data:`SYNTHETIC_ONLY_MODEL_KEYS`:
    two runs whose base settings are equal train the same base model (``base_from`` may share it)."""
    out = {k: json.loads(json.dumps(settings.get(k))) for k in BASE_SECTIONS if k in settings}
    for key in SYNTHETIC_ONLY_MODEL_KEYS:
        (out.get("model") or {}).pop(key, None)
    return out


def strip_non_result(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of a settings dict without the :data:`NON_RESULT_KEYS`."""
    d = json.loads(json.dumps(settings))
    for path in NON_RESULT_KEYS:
        node = d
        for part in path[:-1]:
            node = node.get(part, {})
        node.pop(path[-1], None)
    return d


def from_dict(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Build a config dataclass from a dict, rejecting unknown keys by name."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in names]
    if unknown:
        opt = ", ".join(f"{prefix}.{k}" if prefix else k for k in unknown)
        raise ConfigError(f"unknown option(s) {opt}; known: {', '.join(names)}")
    return cls(**values)


def load_run_config(*paths: str, overrides: Optional[dict[str, Any]] = None) -> RunConfig:
    """Merge YAML files left to right (later wins), then ``overrides`` (dotted keys allowed)."""
    import yaml

    merged: dict[str, Any] = {}
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a config file must hold a mapping of options")
        _deep_merge(merged, data)
    for key, value in (overrides or {}).items():
        node = merged
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return from_dict(RunConfig, merged)


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = v
