"""ASReP's reverse model: the run's backbone trained on the users' training parts read backwards.

The data are D_0's training parts reversed (newest item first), split leave-one-out like the
forward data: per user, the reverse model trains on ``(s_n .. s_3)``, is early-stopped on
predicting ``s_2`` and tested on predicting ``s_1`` (users with fewer than 3 training items are
left out of its training; they are still augmented). No validation or test item of the forward
task is part of these data (:func:`rsir_pl.generation.leakage.check_reverse_data` checks it before
training). The authors' code instead trains the reverse model on whole sequences minus their
first two items, the forward validation and test items included (``data/DataProcessing.py``:
``User_forreversed[user][:-2]``), and feeds it the whole sequence when generating.

The model is the same backbone with the same settings, seeded with the run's seed, trained with
:func:`rsir_pl.training.fit` (early stopping on validation NDCG@10), and stored in the run
directory (``asrep/reverse_model.pt``, ``asrep/reverse.json``), so a resumed run loads it instead
of training it again. It depends only on the base settings (seed, data, model, trainer), so a run
with ``base_from`` copies the reverse model of that run directory when it has one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np

from rsir_pl.config import ASREP_METHODS, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.store import SequenceStore, _ranges
from rsir_pl.generation.leakage import check_reverse_data
from rsir_pl.models import build_model, model_from_payload, model_payload
from rsir_pl.models.base import SequentialRecommender
from rsir_pl.storage.rundir import RunDir, RunDirError
from rsir_pl.training import evaluate, fit

log = logging.getLogger(__name__)

MODEL_FILE = "asrep/reverse_model.pt"
INFO_FILE = "asrep/reverse.json"


@dataclass
class ReverseModel:
    """A trained reverse model and what its training recorded (``reverse.json``)."""

    model: SequentialRecommender
    info: dict[str, Any]


def reversed_parts(store: SequenceStore) -> SequenceStore:
    """Every sequence of ``store`` reversed (newest item first); roots kept, generation 0."""
    lengths = store.lengths
    pos = _ranges(np.zeros(len(store), dtype=np.int64), lengths)
    items = store.items[np.repeat(store.offsets[1:] - 1, lengths) - pos]
    return SequenceStore(items, store.offsets.copy(), store.root.copy(), np.zeros(len(store), dtype=np.int64))


def reverse_datamodule(dm: SequenceDataModule, config: RunConfig) -> SequenceDataModule:
    """A DataModule over the reversed training parts of ``dm``'s users, split leave-one-out,
    checked to hold no forward validation or test item."""
    dm.setup()
    split = dm.split
    assert split is not None
    rev = reversed_parts(split.train())
    check_reverse_data(rev, split)
    dataset = InteractionDataset(
        name=f"{dm.dataset.name} (training parts reversed)",
        sequences=rev,
        num_items=dm.num_items,
        item_ids=dm.dataset.item_ids,
        user_ids=np.asarray(dm.dataset.user_ids)[split.users],
    )
    rdm = SequenceDataModule(config.data, dataset=dataset, seed=config.seed)
    rdm.setup()
    assert rdm.split is not None
    # what the reverse model trains, validates and tests on, with its users' forward indices
    kept = rdm.split.full
    check_reverse_data(SequenceStore(kept.items, kept.offsets, rdm.split.users, kept.generation), split)
    return rdm


def train_reverse_model(config: RunConfig, dm: SequenceDataModule) -> ReverseModel:
    """Train the reverse model (seeded, early-stopped on the reverse validation split) and test it."""
    rdm = reverse_datamodule(dm, config)
    assert rdm.split is not None
    log.info(
        "ASReP: training the reverse %s on %d reversed training parts (%d users with < 3 training items left out)",
        config.model.backbone,
        rdm.split.num_users,
        rdm.split.skipped,
    )
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = build_model(config.model, dm.num_items, config.data.max_len)
    result, trainer = fit(model, rdm, config.trainer, logger=False, default_root_dir=config.run_dir)
    metrics, _ = evaluate(model, rdm, trainer)
    info = {
        "users": rdm.split.num_users,
        "users_left_out": rdm.split.skipped,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "best_val_ndcg@10": result.best_val_ndcg10,
        "fit_seconds": result.fit_seconds,
        # predicting each user's first training item from the others, read backwards
        "test": metrics,
        "history": result.history,
    }
    log.info(
        "ASReP: reverse model best validation NDCG@10 %.5f (epoch %d), test NDCG@10 %.5f",
        result.best_val_ndcg10,
        result.best_epoch,
        metrics["ndcg@10"],
    )
    return ReverseModel(model, info)


def load_or_train(config: RunConfig, rundir: RunDir, dm: SequenceDataModule) -> ReverseModel:
    """The run's reverse model: from its run directory, else copied from ``base_from``'s, else
    trained now and saved (``reverse.json`` first, the model last: the model marks it done)."""
    source = rundir if _has_model(rundir) else _base_source(config)
    if source is not None:
        rev = _load(source, dm.num_items)
        if source is not rundir:
            for rel in (INFO_FILE, MODEL_FILE):
                rundir.write_bytes(rel, source.read_bytes(rel))
            log.info("ASReP: reusing the reverse model of %s", source.path)
        rev.info["loaded"] = True
        return rev
    rev = train_reverse_model(config, dm)
    rundir.write_json(INFO_FILE, rev.info)
    rundir.write_torch(MODEL_FILE, model_payload(rev.model, dm.dataset, config.data))
    rev.info["loaded"] = False
    return rev


def load(rundir: RunDir, num_items: int) -> ReverseModel:
    """The reverse model saved in ``rundir`` (it must be there)."""
    if not _has_model(rundir):
        raise RunDirError(f"{rundir.path / MODEL_FILE}: missing; the run's ASReP reverse model was never saved")
    return _load(rundir, num_items)


def starts_forward_model(config: RunConfig, k: int) -> bool:
    """Whether f_k starts from the reverse model's weights: ASReP trains a forward model by
    fine-tuning its reverse model, so with ``asrep_finetune`` every f_k (k >= 1) of asrep and
    asrep+rsir does, except where ``finetune`` (RSIR-FT) starts f_k (k >= 2) from f_{k-1}, itself
    a descendant of the reverse model."""
    g = config.generation
    return g.method in ASREP_METHODS and g.asrep_finetune and (k == 1 or (k > 1 and not config.finetune))


def _has_model(rundir: RunDir) -> bool:
    return rundir.has(MODEL_FILE) and rundir.has(INFO_FILE)


def _load(rundir: RunDir, num_items: int) -> ReverseModel:
    path = rundir.path / MODEL_FILE
    payload = rundir.read_torch(MODEL_FILE)
    if payload.get("num_items") != num_items:
        raise RunDirError(f"{path}: reverse model has {payload.get('num_items')} items, the dataset {num_items}")
    model = model_from_payload(payload, path)
    return ReverseModel(model, rundir.read_json(INFO_FILE))


def _base_source(config: RunConfig) -> RunDir | None:
    """``base_from``'s run directory when it holds a reverse model trained with equal base settings."""
    if not config.base_from:
        return None
    source = RunDir(config.base_from, writer=False)
    if not (_has_model(source) and source.has("run.json")):
        return None
    diffs = source.base_differences(config)
    if diffs:
        log.info("ASReP: not reusing the reverse model of %s (other base settings: %s)", source.path, diffs[:3])
        return None
    return source
