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

#: the configuration types and their loader, importable from the package itself
__all__ = [cls.__name__ for cls in (DataConfig, GenerationConfig, LoggerConfig, ModelConfig, RunConfig, TrainerConfig)]
__all__ += ["load_run_config", "__version__"]
