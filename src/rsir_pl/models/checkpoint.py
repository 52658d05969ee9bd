"""A trained model with what it needs outside its run: the item-id map, the dataset it was trained on
and that dataset's settings, from any of the places a model is saved.

Sources :func:`load_checkpoint` reads:

* a run directory (``--model runs/x``, any iteration; the files are checked against its manifest);
* a ``model.pt`` (``rsir_pl.model/2`` carries the id map and the dataset's fingerprint;
  ``rsir_pl.model/1`` files have neither, so the dataset must be named and have the same size);
* a Lightning checkpoint (``Trainer.save_checkpoint``; its ``hyper_parameters`` hold the model
  settings).

:func:`bind_dataset` re-expresses a dataset in the checkpoint's internal item ids, through their
original ids, and refuses a dataset whose items the model does not know.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsir_pl.config import DataConfig, ModelConfig
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.store import SequenceStore
from rsir_pl.models import MODEL_FORMATS, build_model, model_from_payload
from rsir_pl.models.base import SequentialRecommender

log = logging.getLogger(__name__)

_ITER_DIR = re.compile(r"^iter_(\d+)/model\.pt$")


@dataclass
class Checkpoint:
    """A model and what it knows of its data.

    Attributes:
        model: the rebuilt model (CPU, eval mode).
        source: where it came from (for messages), e.g. ``runs/x/iter_1/model.pt``.
        item_ids: original id of every internal item id (index 0 = padding ``""``); None for a
            checkpoint without an id map until :func:`bind_dataset` supplies one.
        dataset: name, fingerprint, users, items and interactions of the training dataset (None
            when unknown).
        data: the training data settings ``{"dataset", "k_core", "mask_history"}`` (None when unknown).
    """

    model: SequentialRecommender
    source: str
    item_ids: np.ndarray | None = None
    dataset: dict[str, Any] | None = None
    data: dict[str, Any] | None = None

    @property
    def num_items(self) -> int:
        """Catalogue size N of the model."""
        return self.model.num_items

    def item_index(self) -> dict[str, int]:
        """Original item id -> internal id (needs the id map)."""
        if self.item_ids is None:
            raise ValueError(
                f"{self.source}: the checkpoint has no item-id map (an rsir_pl.model/1 file); name the dataset "
                "it was trained on (--data) so original item ids can be translated"
            )
        return {str(x): i for i, x in enumerate(self.item_ids) if i > 0}


def load_checkpoint(path: str | Path, iteration: int | None = None) -> Checkpoint:
    """Load a model from a run directory (``iteration``: default the last one with a model), a
    ``model.pt`` or a Lightning ``.ckpt``; errors name the path and what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        return _from_run_dir(path, iteration)
    if iteration is not None:
        raise ValueError(f"{path}: --iteration applies to a run directory, and this is a file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file or run directory")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path}: not a readable model checkpoint ({exc})") from exc
    return from_payload(payload, str(path))


def from_payload(payload: Any, source: str) -> Checkpoint:
    """A :class:`Checkpoint` from a loaded ``model.pt`` dict or Lightning checkpoint dict."""
    if isinstance(payload, dict) and payload.get("format") in MODEL_FORMATS:
        model = model_from_payload(payload, source)
        item_ids = payload.get("item_ids")
        ckpt = Checkpoint(
            model=model,
            source=source,
            item_ids=None if item_ids is None else np.asarray(item_ids, dtype=object),
            dataset=payload.get("dataset"),
            data=payload.get("data"),
        )
    elif isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload:
        ckpt = Checkpoint(model=_from_lightning(payload, source), source=source)
    else:
        raise ValueError(
            f"{source}: neither an rsir_pl model.pt nor a Lightning checkpoint of an rsir_pl model "
            f"(format {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})"
        )
    if ckpt.item_ids is not None and len(ckpt.item_ids) != ckpt.num_items + 1:
        raise ValueError(f"{source}: its item-id map has {len(ckpt.item_ids) - 1} ids for {ckpt.num_items} items")
    ckpt.model.eval()
    return ckpt


def _from_lightning(payload: dict[str, Any], source: str) -> SequentialRecommender:
    hp = payload["hyper_parameters"]
    try:
        config = ModelConfig(**hp["model"])
        model = build_model(config, int(hp["num_items"]), int(hp["max_len"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{source}: its hyper_parameters do not describe an rsir_pl model (missing or unknown {exc})"
        ) from exc
    model.load_state_dict(payload["state_dict"])
    return model


def _from_run_dir(path: Path, iteration: int | None) -> Checkpoint:
    from rsir_pl.storage.rundir import RunDir

    run = RunDir(path, writer=False)
    if not run.has("run.json"):
        raise ValueError(f"{path}: not a run directory (no run.json) and not a model file")
    found = sorted(int(m.group(1)) for rel in run.recorded() if (m := _ITER_DIR.match(rel)) and run.has(rel))
    if not found:
        raise ValueError(f"{path}: no trained model yet (no iter_<k>/model.pt)")
    k = found[-1] if iteration is None else iteration
    if k not in found:
        raise ValueError(f"{path}: iteration {k} has no model; trained iterations: {', '.join(map(str, found))}")
    rel = f"iter_{k}/model.pt"
    ckpt = from_payload(run.read_torch(rel), str(path / rel))
    if ckpt.data is None:  # an rsir_pl.model/1 file: the run's own settings name its data
        settings = run.read_json("run.json").get("settings", {}).get("data", {})
        defaults = DataConfig()
        ckpt.data = {
            "dataset": settings.get("dataset"),
            "k_core": settings.get("k_core", defaults.k_core),
            "mask_history": settings.get("mask_history", defaults.mask_history),
        }
    return ckpt


def load_data(ckpt: Checkpoint, data: str | None = None, k_core: int | None = None) -> InteractionDataset:
    """The dataset ``data`` (default: the one the checkpoint was trained on) in the checkpoint's ids."""
    name = data or (ckpt.data or {}).get("dataset")
    if not name:
        raise ValueError(f"{ckpt.source}: the checkpoint does not name its dataset; pass --data NAME_OR_FILE")
    if k_core is None:
        k_core = int((ckpt.data or {}).get("k_core", DataConfig().k_core))
    return bind_dataset(ckpt, load_dataset(name, k_core=k_core))


def bind_dataset(ckpt: Checkpoint, dataset: InteractionDataset) -> InteractionDataset:
    """``dataset`` with the checkpoint's internal item ids (matched by original id).

    Refuses, with the reason, a dataset one of whose items is not in the model's catalogue. A
    checkpoint without an id map adopts the dataset's ids when the catalogue sizes agree (the run
    directory or the caller vouches that it is the training data).
    """
    if ckpt.item_ids is None:
        if dataset.num_items != ckpt.num_items:
            raise ValueError(
                f"{ckpt.source}: the model has {ckpt.num_items} items and dataset {dataset.name!r} has "
                f"{dataset.num_items}; without an item-id map in the checkpoint (an rsir_pl.model/1 file) "
                "only the dataset it was trained on can be used"
            )
        log.warning(
            "%s has no item-id map (rsir_pl.model/1): assuming the ids of %s, %d items",
            ckpt.source,
            dataset.name,
            dataset.num_items,
        )
        ckpt.item_ids = np.asarray(dataset.item_ids, dtype=object)
        return dataset
    theirs = [str(x) for x in dataset.item_ids]
    if len(theirs) == len(ckpt.item_ids) and all(a == b for a, b in zip(theirs, ckpt.item_ids)):
        return dataset
    index = ckpt.item_index()
    unknown = [x for x in theirs[1:] if x not in index]
    if unknown:
        trained = (ckpt.dataset or {}).get("name", "its training data")
        raise ValueError(
            f"dataset {dataset.name!r}: {len(unknown)} of its {dataset.num_items} items are not in the catalogue "
            f"of {ckpt.source} (trained on {trained!r}, {ckpt.num_items} items), e.g. "
            f"{', '.join(repr(x) for x in unknown[:5])}; its ids do not map onto the model's"
        )
    lut = np.array([0] + [index[x] for x in theirs[1:]], dtype=np.int64)
    s = dataset.sequences
    store = SequenceStore(lut[s.items], s.offsets, s.root, s.generation)
    return InteractionDataset(dataset.name, store, ckpt.num_items, ckpt.item_ids, dataset.user_ids, dataset.times)


def same_as_training(ckpt: Checkpoint, dataset: InteractionDataset) -> bool | None:
    """Whether ``dataset`` (as loaded, before binding) is the training data by fingerprint;
    None when the checkpoint records none."""
    recorded = (ckpt.dataset or {}).get("fingerprint")
    return None if recorded is None else recorded == dataset.fingerprint()
