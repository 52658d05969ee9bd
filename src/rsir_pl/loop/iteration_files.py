"""The files of one iteration ``iter_<k>/`` of a run directory, read and written in one place.

``model.pt`` and ``fit.json`` (the trained f_k; while it trains, ``fit.ckpt`` holds the fit's
state after its last finished epoch, outside the manifest: :mod:`rsir_pl.fit_checkpoint`),
``loss_weights.npz`` (the loss-weight state f_k trained with), ``test_ranks.npz`` and
``metrics.json`` (its test), and for D'_{k+1} in
``iter_<k+1>/``: ``synthetic.npz``, ``provenance.npz`` (source, attempt, prefix_len, the fidelity
checks' target record, and ``replaces`` when a new sequence replaces its source for training:
ASReP; see :func:`~rsir_pl.generation.leakage.provenance_arrays`) and ``generation.json``. Every write goes
through :class:`~rsir_pl.storage.rundir.RunDir` (atomic, in the manifest); every read of generated
data is verified (catalogue ids, leakage) before the DataModule sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsir_pl.config import DataConfig, ModelConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.generator import GenerationResult
from rsir_pl.generation.leakage import check_generated, provenance_arrays, saved_target_record
from rsir_pl.generation.stats import dataset_stats
from rsir_pl.loggers import Tracker
from rsir_pl.models import build_model, model_payload
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.storage.rundir import RunDir


class IterationFiles:
    """Reads and writes the files of iteration ``k`` (and its D'_{k+1}) in ``rundir``."""

    def __init__(self, rundir: RunDir, k: int) -> None:
        self.rundir = rundir
        self.k = k
        self.it = f"iter_{k}"
        self.nxt = f"iter_{k + 1}"

    # ------------------------------------------------------------------ state
    @property
    def finished(self) -> bool:
        """The test of f_k is recorded (its D'_{k+1} may or may not be)."""
        return self.rundir.has(f"{self.it}/metrics.json")

    @property
    def has_model(self) -> bool:
        return self.rundir.has(f"{self.it}/model.pt")

    @property
    def has_generated(self) -> bool:
        return self.rundir.has(f"{self.nxt}/synthetic.npz")

    # ------------------------------------------------------------------ the model
    @property
    def fit_checkpoint_path(self) -> Path:
        """``iter_<k>/fit.ckpt``: the state of f_k's fit after its last finished epoch."""
        return self.rundir.path / self.it / "fit.ckpt"

    def drop_fit_checkpoint(self) -> None:
        """Delete ``fit.ckpt`` once f_k is saved (the writer only)."""
        if self.rundir.writer:
            self.fit_checkpoint_path.unlink(missing_ok=True)

    def save_model(
        self, model: SequentialRecommender, fit_info: dict[str, Any], dm: SequenceDataModule, data: DataConfig
    ) -> None:
        """``fit.json`` and ``model.pt``: weights on the CPU with the config to rebuild them, the
        item-id map and the fingerprint of the data they were trained on (a portable checkpoint)."""
        self.save_fit_info(fit_info)
        self.rundir.write_torch(f"{self.it}/model.pt", model_payload(model, dm.dataset, data))

    def load_model(self, num_items: int) -> SequentialRecommender:
        """Rebuild f_k from ``model.pt``; refuses a checkpoint of another catalogue."""
        payload = self.rundir.read_torch(f"{self.it}/model.pt")
        if payload["num_items"] != num_items:
            raise ValueError(
                f"{self.rundir.path / self.it / 'model.pt'}: checkpoint has {payload['num_items']} items, "
                f"the dataset {num_items}"
            )
        model = build_model(ModelConfig(**payload["config"]), payload["num_items"], payload["max_len"])
        model.load_state_dict(payload["state_dict"])
        return model

    def save_fit_info(self, fit_info: dict[str, Any]) -> None:
        self.rundir.write_json(f"{self.it}/fit.json", fit_info)

    def fit_info(self) -> dict[str, Any]:
        return self.rundir.read_json(f"{self.it}/fit.json")

    def save_history(self, history: list[dict[str, float]]) -> None:
        self.rundir.write_json(f"{self.it}/history.json", history)

    # ------------------------------------------------------------------ loss weights
    def save_loss_weights(self, item_weight: torch.Tensor | None, real_weight: float | None) -> None:
        """The loss-weight state f_k trains with (the adaptive item weights are a moving average
        across iterations, so a resumed run must continue from the saved state, not restart)."""
        arrays: dict[str, np.ndarray] = {"real_weight": np.array([np.nan if real_weight is None else real_weight])}
        if item_weight is not None:
            arrays["item_weight"] = item_weight.detach().cpu().numpy()
        self.rundir.write_arrays(f"{self.it}/loss_weights.npz", **arrays)

    def load_loss_weights(self) -> tuple[torch.Tensor | None, float | None] | None:
        """``(item_weight, real_weight)`` as saved, or None when this iteration saved none."""
        if not self.rundir.has(f"{self.it}/loss_weights.npz"):
            return None
        a = self.rundir.read_arrays(f"{self.it}/loss_weights.npz")
        rw = float(a["real_weight"][0])
        iw = torch.from_numpy(a["item_weight"]) if "item_weight" in a else None
        return iw, None if np.isnan(rw) else rw

    # ------------------------------------------------------------------ the test
    def save_test(self, ranks: np.ndarray, record: dict[str, Any]) -> None:
        self.rundir.write_arrays(f"{self.it}/test_ranks.npz", ranks=ranks)
        self.rundir.write_json(f"{self.it}/metrics.json", record)

    def record(self) -> dict[str, Any]:
        return self.rundir.read_json(f"{self.it}/metrics.json")

    # ------------------------------------------------------------------ D'_{k+1}
    def save_generated(
        self,
        result: GenerationResult,
        dm: SequenceDataModule,
        base_popularity: np.ndarray,
        tracker: Tracker,
    ) -> dict[str, Any]:
        """Write D'_{k+1} with its provenance and statistics; returns the statistics."""
        assert dm.split is not None and dm.train_store is not None
        stats = dict(result.stats)
        stats["data_generated"] = dataset_stats(result.sequences, dm.num_items, dm.split.num_users, base_popularity)
        d_next = SequenceStore.concat([dm.train_store, result.sequences])
        stats["data_next"] = dataset_stats(d_next, dm.num_items, dm.split.num_users, base_popularity)
        # synthetic.npz marks D'_{k+1} as saved (has_generated), so it is written last: a run killed
        # between these writes generates again instead of finding the data without its provenance
        self.rundir.write_arrays(f"{self.nxt}/provenance.npz", **provenance_arrays(result))
        self.rundir.write_json(f"{self.nxt}/generation.json", stats)
        self.rundir.write_store(f"{self.nxt}/synthetic.npz", result.sequences)
        tracker.log_dataset(self.k + 1, self.rundir.path / f"{self.nxt}/synthetic.npz", stats)
        return stats

    def apply_generated(self, dm: SequenceDataModule) -> dict[str, Any]:
        """Read back the saved D'_{k+1} (verified), expand ``dm`` to D_{k+1} with the replacements
        it records, and return its statistics."""
        synthetic, stats = self.load_generated(dm)
        prov = self.rundir.read_arrays(f"{self.nxt}/provenance.npz")
        replaces = prov["source"][prov["replaces"]] if "replaces" in prov else None
        dm.expand(synthetic, replaces=replaces)
        return stats

    def load_generated(self, dm: SequenceDataModule) -> tuple[SequenceStore, dict[str, Any]]:
        """The saved D'_{k+1}, verified against D_k (catalogue ids, leakage), and its statistics."""
        synthetic = self.rundir.read_store(f"{self.nxt}/synthetic.npz")
        prov = self.rundir.read_arrays(f"{self.nxt}/provenance.npz")
        assert dm.train_store is not None and dm.split is not None
        if len(synthetic) and (synthetic.items.min() < 1 or synthetic.max_item > dm.num_items):
            bad = int(synthetic.items.max())
            raise ValueError(
                f"{self.rundir.path / self.nxt / 'synthetic.npz'}: item id {bad} is outside the catalogue "
                f"1..{dm.num_items}: the file belongs to another dataset"
            )
        d_next = SequenceStore.concat([dm.train_store, synthetic])
        check_generated(
            dm.train_store,
            d_next,
            dm.split,
            prov["source"],
            prov["prefix_len"],
            replaces=prov.get("replaces"),
            **saved_target_record(prov),
        )
        return synthetic, self.rundir.read_json(f"{self.nxt}/generation.json")
