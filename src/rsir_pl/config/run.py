"""A whole run: its sections, the settings that decide its results, loading YAML."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from rsir_pl.config.checks import ConfigError, check, choice, from_dict
from rsir_pl.config.data import DataConfig
from rsir_pl.config.generation import ASREP_METHODS, GenerationConfig
from rsir_pl.config.model import ModelConfig
from rsir_pl.config.trainer import TrainerConfig

LOGGERS = ("csv", "wandb", "none")


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
        choice(self.kind, "logger.kind", LOGGERS)
        check(
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
        check(self.iterations >= 0, "iterations", "must be >= 0", self.iterations)
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
            check(
                self.iterations <= 1,
                "iterations",
                "must be <= 1 with generation.method asrep (it augments D_0 once; asrep+rsir runs RSIR "
                "iterations on top)",
                self.iterations,
            )
        if self.generation.method in ASREP_METHODS:
            check(
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
    ("trainer", "fit_checkpoint"),
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
SYNTHETIC_ONLY_MODEL_KEYS = (
    "synthetic_weight",
    "generation_decay",
    "synthetic_loss",
    "inverse_gradient",
    "ig_holdout",
    "ig_probe_batch",
)


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
