"""Portable checkpoints: model.pt carries its settings, item-id map and dataset fingerprint;
load_from_checkpoint rebuilds the exact architecture from model.pt, a Lightning .ckpt or a run
directory; older model.pt files still load; datasets are matched to the model by original id."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from rsir_pl.config import DataConfig, ModelConfig
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.store import SequenceStore
from rsir_pl.models import build_model, model_payload, save_model
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.models.checkpoint import bind_dataset, load_checkpoint, load_data, same_as_training
from rsir_pl.models.hstu import HSTU
from rsir_pl.models.sasrec import SASRec

#: far from the defaults, so a rebuild from default settings cannot pass for the right one
HSTU_CONFIG = ModelConfig(backbone="hstu", hidden=24, layers=3, heads=3, dropout=0.1, hstu_l2norm=True, temperature=0.2)


@pytest.fixture(scope="module")
def tiny() -> InteractionDataset:
    return load_dataset("synthetic-tiny")


def _scores(model: SequentialRecommender) -> torch.Tensor:
    seqs = torch.tensor([[0, 0, 3, 7, 9], [1, 2, 3, 4, 5]])
    model.eval()
    with torch.no_grad():
        return model.score_all(model.last_hidden(seqs))


def test_model_pt_carries_settings_id_map_and_fingerprint(tmp_path, tiny):
    model = build_model(HSTU_CONFIG, tiny.num_items, 20)
    save_model(model, tmp_path / "model.pt", tiny, DataConfig(dataset="synthetic-tiny", mask_history=False))
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["format"] == "rsir_pl.model/2"
    assert payload["config"]["hidden"] == 24 and payload["config"]["backbone"] == "hstu"
    assert payload["item_ids"] == [str(x) for x in tiny.item_ids]
    assert payload["dataset"]["fingerprint"] == load_dataset("synthetic-tiny").fingerprint()
    assert payload["dataset"]["users"] == 400 and payload["dataset"]["name"] == "synthetic-tiny"
    assert payload["data"] == {"dataset": "synthetic-tiny", "k_core": 5, "mask_history": False}


def test_fingerprint_changes_with_the_data(tiny):
    seqs = tiny.sequences
    changed = seqs.items.copy()
    changed[0] = changed[0] % tiny.num_items + 1
    other = InteractionDataset(
        tiny.name, SequenceStore(changed, seqs.offsets), tiny.num_items, tiny.item_ids, tiny.user_ids
    )
    renamed = InteractionDataset(tiny.name, seqs, tiny.num_items, tiny.item_ids, np.array(["x"] * tiny.num_users))
    assert len({tiny.fingerprint(), other.fingerprint(), renamed.fingerprint()}) == 3


def test_load_from_checkpoint_rebuilds_a_non_default_architecture(tmp_path, tiny):
    torch.manual_seed(0)
    model = build_model(HSTU_CONFIG, tiny.num_items, 20)
    save_model(model, tmp_path / "model.pt", tiny)
    for cls in (SequentialRecommender, HSTU):
        loaded = cls.load_from_checkpoint(tmp_path / "model.pt")
        assert type(loaded) is HSTU and loaded.config == HSTU_CONFIG and loaded.max_len == 20
        assert torch.equal(_scores(loaded), _scores(model))
    with pytest.raises(TypeError, match="holds a HSTU model, not a SASRec"):
        SASRec.load_from_checkpoint(tmp_path / "model.pt")


def test_load_from_a_lightning_checkpoint(tmp_path):
    from rsir_pl.data.datamodule import SequenceDataModule

    torch.manual_seed(0)
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64))
    dm.setup()
    model = build_model(HSTU_CONFIG, dm.num_items, 20)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    loaded = SequentialRecommender.load_from_checkpoint(tmp_path / "last.ckpt")
    assert type(loaded) is HSTU and loaded.config == HSTU_CONFIG
    assert torch.equal(_scores(loaded), _scores(model))


def test_run_directory_gives_its_last_or_a_named_iteration(trained_run):
    run_dir = trained_run
    ckpt = load_checkpoint(run_dir)
    assert ckpt.source.endswith("iter_0/model.pt") and ckpt.data["dataset"] == "synthetic-tiny"
    assert list(ckpt.item_ids[:3]) == ["", "1", "2"]
    assert isinstance(SequentialRecommender.load_from_checkpoint(run_dir), SASRec)
    with pytest.raises(ValueError, match="iteration 3 has no model; trained iterations: 0"):
        load_checkpoint(run_dir, iteration=3)
    with pytest.raises(ValueError, match="--iteration applies to a run directory"):
        load_checkpoint(run_dir / "iter_0" / "model.pt", iteration=0)


def test_format_1_model_pt_still_loads_and_adopts_the_datasets_ids(tmp_path, tiny):
    model = build_model(ModelConfig(hidden=16, heads=2, layers=1), tiny.num_items, 20)
    old = {k: v for k, v in model_payload(model).items() if k not in ("item_ids", "dataset", "data")}
    old["format"] = "rsir_pl.model/1"
    torch.save(old, tmp_path / "old.pt")
    ckpt = load_checkpoint(tmp_path / "old.pt")
    assert ckpt.item_ids is None and torch.equal(_scores(ckpt.model), _scores(model))
    with pytest.raises(ValueError, match="no item-id map"):
        ckpt.item_index()
    with pytest.raises(ValueError, match="does not name its dataset; pass --data"):
        load_data(ckpt)
    bound = load_data(ckpt, "synthetic-tiny")
    assert bound is not None and list(ckpt.item_ids) == list(tiny.item_ids)
    with pytest.raises(ValueError, match="without an item-id map"):
        bind_dataset(load_checkpoint(tmp_path / "old.pt"), load_dataset("synthetic"))


def test_bind_maps_other_ids_onto_the_model_and_refuses_unknown_items(tmp_path, tiny):
    model = build_model(ModelConfig(hidden=16, heads=2, layers=1), tiny.num_items, 20)
    save_model(model, tmp_path / "m.pt", tiny)
    ckpt = load_checkpoint(tmp_path / "m.pt")
    # a file of three users whose items are a few ids of the catalogue: internal ids 1..k there
    (tmp_path / "few.txt").write_text("a 200 7 200 33\nb 33 99 7\nc 240 1 2\n")
    few = load_dataset(str(tmp_path / "few.txt"))
    assert few.num_items == 7 and same_as_training(ckpt, few) is False
    bound = bind_dataset(ckpt, few)
    assert bound.num_items == tiny.num_items
    assert [[str(ckpt.item_ids[i]) for i in s] for s in bound.sequences] == [
        ["200", "7", "200", "33"],
        ["33", "99", "7"],
        ["240", "1", "2"],
    ]
    assert same_as_training(ckpt, tiny) is True
    assert tiny.num_items == 240  # the ids above lie in the catalogue, the ones below do not
    (tmp_path / "foreign.txt").write_text("a 1 2 241\nb 5 6 7000\n")
    with pytest.raises(ValueError, match=r"2 of its 6 items are not in the catalogue .*'241', '7000'"):
        bind_dataset(ckpt, load_dataset(str(tmp_path / "foreign.txt")))


def test_not_a_checkpoint_is_named(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="x.pt: not a readable model checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.pt")
    with pytest.raises(ValueError, match="neither an rsir_pl model.pt nor a Lightning checkpoint"):
        load_checkpoint(tmp_path / "y.pt")
    with pytest.raises(FileNotFoundError, match="no such model file or run directory"):
        load_checkpoint(tmp_path / "missing.pt")
