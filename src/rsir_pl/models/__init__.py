"""Backbones behind one interface, built by name, saved and loaded with their configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from rsir_pl.config import ConfigError, ModelConfig
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.models.sasrec import SASRec


def _cl4srec() -> type[SequentialRecommender]:
    from rsir_pl.models.cl4srec import CL4SRec

    return CL4SRec


def _hstu() -> type[SequentialRecommender]:
    from rsir_pl.models.hstu import HSTU

    return HSTU


BACKBONES: dict[str, Callable[[], type[SequentialRecommender]]] = {
    "sasrec": lambda: SASRec,
    "cl4srec": _cl4srec,
    "hstu": _hstu,
}


def build_model(config: ModelConfig, num_items: int, max_len: int) -> SequentialRecommender:
    """A fresh backbone of ``config.backbone`` for a catalogue of ``num_items`` items."""
    if config.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone: unknown backbone {config.backbone!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[config.backbone]()(num_items, max_len, config)


def save_model(model: SequentialRecommender, path: str | Path) -> None:
    """Save weights with the configuration needed to rebuild the model."""
    torch.save(model_payload(model), path)


def model_payload(model: SequentialRecommender) -> dict:
    """The dict :func:`save_model` writes (CPU tensors)."""
    return {
        "format": "rsir_pl.model/1",
        "config": dataclasses.asdict(model.config),
        "num_items": model.num_items,
        "max_len": model.max_len,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def load_model(path: str | Path, num_items: int | None = None) -> SequentialRecommender:
    """Rebuild a saved model; ``num_items`` (if given) must match the checkpoint's catalogue."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"{path}: not a readable rsir_pl model checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != "rsir_pl.model/1":
        raise ValueError(f"{path}: not an rsir_pl model checkpoint")
    if num_items is not None and payload["num_items"] != num_items:
        raise ValueError(
            f"{path}: checkpoint was trained on {payload['num_items']} items but the dataset has "
            f"{num_items}; use a checkpoint of this dataset"
        )
    model = build_model(ModelConfig(**payload["config"]), payload["num_items"], payload["max_len"])
    model.load_state_dict(payload["state_dict"])
    return model


__all__ = ["SequentialRecommender", "SASRec", "build_model", "save_model", "load_model", "model_payload"]
