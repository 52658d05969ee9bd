"""Backbones behind one interface, built by name, saved and loaded with their configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from rsir_pl import plugins
from rsir_pl.config import DataConfig, ModelConfig
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.models.sasrec import SASRec


def build_model(config: ModelConfig, num_items: int, max_len: int) -> SequentialRecommender:
    """A fresh backbone of ``config.backbone`` for a catalogue of ``num_items`` items."""
    return plugins.backbone(config.backbone).model_class()(num_items, max_len, config)


#: model.pt formats: /2 adds the item-id map, the dataset's fingerprint and its data settings;
#: /1 files (weights and model settings only) stay loadable
MODEL_FORMAT = "rsir_pl.model/2"
MODEL_FORMATS = ("rsir_pl.model/1", MODEL_FORMAT)


def save_model(
    model: SequentialRecommender,
    path: str | Path,
    dataset: InteractionDataset | None = None,
    data: DataConfig | None = None,
) -> None:
    """Save weights with the configuration needed to rebuild the model (see :func:`model_payload`)."""
    torch.save(model_payload(model, dataset, data), path)


def model_payload(
    model: SequentialRecommender, dataset: InteractionDataset | None = None, data: DataConfig | None = None
) -> dict:
    """The dict :func:`save_model` writes (CPU tensors and plain values).

    With ``dataset`` it carries the original id of every internal item id (``item_ids``, index 0
    = padding) and the dataset's name, size and fingerprint, so the model can rank and be
    evaluated in original ids without the run that trained it; ``data`` records the dataset
    settings (name or path, k-core, history masking) to reload the same data.
    """
    payload: dict = {
        "format": MODEL_FORMAT,
        "config": dataclasses.asdict(model.config),
        "num_items": model.num_items,
        "max_len": model.max_len,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "item_ids": None,
        "dataset": None,
        "data": None,
    }
    if dataset is not None:
        if dataset.num_items != model.num_items:
            raise ValueError(f"dataset {dataset.name!r} has {dataset.num_items} items, the model {model.num_items}")
        payload["item_ids"] = [str(x) for x in dataset.item_ids]
        payload["dataset"] = {
            "name": dataset.name,
            "fingerprint": dataset.fingerprint(),
            "users": int(dataset.num_users),
            "items": int(dataset.num_items),
            "interactions": int(dataset.sequences.num_interactions),
        }
    if data is not None:
        source = data.dataset
        if Path(source).is_file():  # a file path must still resolve from another working directory
            source = str(Path(source).resolve())
        payload["data"] = {"dataset": source, "k_core": data.k_core, "mask_history": data.mask_history}
    return payload


def model_from_payload(payload: dict, source: str | Path) -> SequentialRecommender:
    """Rebuild the model of a :func:`model_payload` dict; ``source`` names it in errors."""
    if not isinstance(payload, dict) or payload.get("format") not in MODEL_FORMATS:
        raise ValueError(f"{source}: not an rsir_pl model checkpoint")
    model = build_model(ModelConfig(**payload["config"]), payload["num_items"], payload["max_len"])
    model.load_state_dict(payload["state_dict"])
    return model


def load_model(path: str | Path, num_items: int | None = None) -> SequentialRecommender:
    """Rebuild a saved model; ``num_items`` (if given) must match the checkpoint's catalogue."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"{path}: not a readable rsir_pl model checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") not in MODEL_FORMATS:
        raise ValueError(f"{path}: not an rsir_pl model checkpoint")
    if num_items is not None and payload["num_items"] != num_items:
        raise ValueError(
            f"{path}: checkpoint was trained on {payload['num_items']} items but the dataset has "
            f"{num_items}; use a checkpoint of this dataset"
        )
    return model_from_payload(payload, path)


__all__ = [
    "SequentialRecommender",
    "SASRec",
    "build_model",
    "save_model",
    "load_model",
    "model_payload",
    "model_from_payload",
]
