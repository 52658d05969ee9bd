"""Typed configuration of a run. Defaults live here; YAML files under ``configs/`` override them.

One module per section (``data``, ``model``, ``trainer``, ``generation``, and ``run`` for the
whole run with its logger); everything is importable from ``rsir_pl.config``. Every section
validates itself on construction and raises :class:`ConfigError` naming the option
(``generation.tau must be >= 1 (got 0)``), so an impossible value stops a run before any work.
"""

from __future__ import annotations

from rsir_pl.config.checks import ConfigError, from_dict
from rsir_pl.config.data import DataConfig
from rsir_pl.config.generation import (
    ASREP_METHODS,
    CHECK_TARGETS,
    GENERATION_METHODS,
    GENERATION_PRESETS,
    GenerationConfig,
)
from rsir_pl.config.model import LOSSES, LR_SCHEDULES, OPTIMIZERS, SYNTHETIC_LOSSES, ModelConfig
from rsir_pl.config.run import (
    BASE_SECTIONS,
    LOGGERS,
    NON_RESULT_KEYS,
    SYNTHETIC_ONLY_MODEL_KEYS,
    LoggerConfig,
    RunConfig,
    base_settings,
    load_run_config,
    strip_non_result,
)
from rsir_pl.config.trainer import PRECISIONS, PROFILERS, TrainerConfig

__all__ = [
    "ASREP_METHODS",
    "BASE_SECTIONS",
    "CHECK_TARGETS",
    "GENERATION_METHODS",
    "GENERATION_PRESETS",
    "LOGGERS",
    "LOSSES",
    "LR_SCHEDULES",
    "NON_RESULT_KEYS",
    "OPTIMIZERS",
    "PRECISIONS",
    "PROFILERS",
    "SYNTHETIC_LOSSES",
    "SYNTHETIC_ONLY_MODEL_KEYS",
    "ConfigError",
    "DataConfig",
    "GenerationConfig",
    "LoggerConfig",
    "ModelConfig",
    "RunConfig",
    "TrainerConfig",
    "base_settings",
    "from_dict",
    "load_run_config",
    "strip_non_result",
]
