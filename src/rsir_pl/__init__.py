"""rsir_pl: recursive self-improving sequential recommendation on PyTorch Lightning."""

from rsir_pl.config import (
    DataConfig,
    GenerationConfig,
    LoggerConfig,
    ModelConfig,
    RunConfig,
    TrainerConfig,
    load_run_config,
)

__version__ = "0.1.0"

__all__ = [
    "DataConfig",
    "GenerationConfig",
    "LoggerConfig",
    "ModelConfig",
    "RunConfig",
    "TrainerConfig",
    "load_run_config",
    "__version__",
]
