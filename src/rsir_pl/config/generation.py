"""The ``generation`` section: how each iteration makes D'_{k+1} (RSIR-SPEC §3, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from rsir_pl.config.checks import check, choice

#: what the fidelity check tests after item i is appended (RSIR-SPEC §3 step 4)
CHECK_TARGETS = ("remaining", "including_new")
#: how D'_{k+1} is produced: RSIR or an augmentation baseline (rsir_pl.baselines)
GENERATION_METHODS = ("rsir", "reorder", "insertion", "asrep", "asrep+rsir")
#: the methods whose D'_1 is ASReP's augmentation of D_0 (rsir_pl.baselines.asrep)
ASREP_METHODS = ("asrep", "asrep+rsir")


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
        choice(self.preset, "generation.preset", tuple(GENERATION_PRESETS))
        for key, value in GENERATION_PRESETS[self.preset].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        check(self.m >= 1, "generation.m", "must be >= 1", self.m)
        check(self.tau >= 1, "generation.tau", "must be >= 1", self.tau)
        check(0.0 <= self.p <= 1.0, "generation.p", "must lie in [0, 1]", self.p)
        check(self.top_k >= 1, "generation.top_k", "must be >= 1", self.top_k)
        check(self.temperature > 0, "generation.temperature", "must be > 0", self.temperature)
        choice(self.prefix, "generation.prefix", ("random", "first"))
        choice(self.check_targets, "generation.check_targets", CHECK_TARGETS)
        check(self.max_len >= 2, "generation.max_len", "must be >= 2", self.max_len)
        check(
            2 <= self.min_len <= self.max_len,
            "generation.min_len",
            f"must lie in [2, generation.max_len={self.max_len}]",
            self.min_len,
        )
        choice(self.seed_from, "generation.seed_from", ("all", "real"))
        from rsir_pl.plugins import fidelity_backend  # registries sit beside the config; imported late

        fidelity_backend(self.fidelity)
        check(self.nlist >= 1, "generation.nlist", "must be >= 1", self.nlist)
        check(1 <= self.nprobe, "generation.nprobe", "must be >= 1", self.nprobe)
        choice(self.index_device, "generation.index_device", ("auto", "cpu", "gpu"))
        check(self.batch_size >= 1, "generation.batch_size", "must be >= 1", self.batch_size)
        check(self.ivf_agreement_rows >= 0, "generation.ivf_agreement_rows", "must be >= 0", self.ivf_agreement_rows)
        check(self.chunk_items >= 1, "generation.chunk_items", "must be >= 1", self.chunk_items)
        if self.max_synthetic_ratio is not None:
            check(
                self.max_synthetic_ratio > 0, "generation.max_synthetic_ratio", "must be > 0", self.max_synthetic_ratio
            )
        choice(self.method, "generation.method", GENERATION_METHODS)
        if self.num_sequences is not None:
            check(self.num_sequences >= 1, "generation.num_sequences", "must be >= 1 or null", self.num_sequences)
        check(0.0 <= self.reorder_ratio < 1.0, "generation.reorder_ratio", "must lie in [0, 1)", self.reorder_ratio)
        check(self.asrep_threshold >= 2, "generation.asrep_threshold", "must be >= 2", self.asrep_threshold)
        check(self.asrep_length >= 2, "generation.asrep_length", "must be >= 2", self.asrep_length)
        check(self.asrep_max_items >= 1, "generation.asrep_max_items", "must be >= 1", self.asrep_max_items)
        check(self.asrep_top_k >= 1, "generation.asrep_top_k", "must be >= 1", self.asrep_top_k)
