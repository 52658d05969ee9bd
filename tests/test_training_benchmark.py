"""benchmarks/training.py: training time to RecBole's best validation NDCG@10."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import training as T  # noqa: E402


def _rs(vals: list[float], reweight: bool = True) -> dict:
    return {
        "bucket_by_length": True,
        "bucket_reweight": reweight,
        "val_ndcg10": vals,
        "epoch_train_s": [2.0] * len(vals),
        "epoch_val_s": [0.5] * len(vals),
        "best_val_ndcg10": max(vals),
    }


RB = {"val_ndcg10": [0.10, 0.30, 0.25], "epoch_train_s": [10.0, 10.0, 10.0], "epoch_val_s": [1.0, 1.0, 1.0]}


def test_first_epoch_that_reaches_the_target_and_its_cumulative_time() -> None:
    assert T._first_reach([0.1, 0.3, 0.4], [1.0, 2.0, 4.0], 0.3) == (1, 3.0)
    assert T._first_reach([0.1, 0.2], [1.0, 2.0], 0.3) is None


def test_time_to_target_compares_training_time_to_recbole_best() -> None:
    out = T.time_to_target(_rs([0.1, 0.2, 0.31, 0.35]), RB)
    rows = {r[0]: r[1:] for r in out["rows"]}
    assert rows["epoch that first reaches the target"] == [2, 1]
    assert rows["training s to the target"] == [6.0, 20.0]
    assert rows["training + validation s to the target"] == [7.5, 22.0]
    assert "3.3x less training time" in out["reading"] and "with reweighting" in out["reading"]


def test_time_to_target_says_when_the_target_is_not_reached() -> None:
    out = T.time_to_target(_rs([0.1, 0.2], reweight=False), RB)
    rows = {r[0]: r[1:] for r in out["rows"]}
    assert rows["epoch that first reaches the target"] == ["not reached", 1]
    assert "does not reach" in out["reading"] and "reweighting" not in out["reading"]
