"""``rsir study encoder``: grid refusals, the reference row and selection by validation only."""

from __future__ import annotations

import re

import pytest

from rsir_pl.config import ConfigError
from rsir_pl.studies.encoder import DEFAULT_GRID, check_encoder_key, encoder_rows, selected_text
from rsir_pl.studies.tune import expand_grid


def record(val: float, epochs: int = 10, seconds: float = 50.0, best: int = 5) -> dict:
    return {"fit": {"best_val_ndcg@10": val, "epochs": epochs, "fit_seconds": seconds, "best_epoch": best}}


def test_rows_select_the_best_validation_score_and_measure_cost():
    rows = encoder_rows(
        ["config", "a", "b"], {"config": record(0.070), "a": record(0.072, 20, 300.0), "b": record(0.069)}
    )
    assert [r["selected"] for r in rows] == ["", "*", ""]
    assert rows[1]["val vs config"] == pytest.approx(0.072 / 0.070 - 1)
    assert rows[0]["val vs config"] == 0.0
    assert rows[1]["s/epoch"] == 15.0 and rows[1]["epochs"] == 20


def test_a_tie_keeps_the_config():
    rows = encoder_rows(["config", "a"], {"config": record(0.070), "a": record(0.070)})
    assert [r["selected"] for r in rows] == ["*", ""]


def test_selected_text_reads_test_only_for_the_choice():
    test = {"ndcg@10": 0.06, "recall@10": 0.1}
    keep = selected_text({"label": "config", "val NDCG@10": 0.07, "test": test, "reference test": test})
    assert "config's own encoder" in keep
    vs = {m: {"relative": 0.02, "ci_low": 0.0001, "ci_high": 0.002, "p_value": 0.01} for m in ("ndcg@10", "recall@10")}
    other = selected_text(
        {
            "label": "ffn_mult=1",
            "val NDCG@10": 0.072,
            "reference val NDCG@10": 0.07,
            "test": {"ndcg@10": 0.0612, "recall@10": 0.102},
            "reference test": test,
            "vs_reference": vs,
        }
    )
    assert "`ffn_mult=1`" in other and "+2.00%" in other and "0.06000 -> 0.06120" in other


def test_default_grid_is_the_three_textbook_choices():
    settings = expand_grid(None, DEFAULT_GRID, check_encoder_key, "encoder")
    assert settings == [{"model.positions": "fixed_slot"}, {"model.input_scale": "none"}, {"model.ffn_mult": 1}]


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"generation.p": [0.5]}, "model.<name> or data.<name>"),
        ({"model.ffn_mult": 1}, "encoder: grid option model.ffn_mult needs a non-empty list"),
        ("ffn", "encoder: --grid must be a mapping"),
    ],
)
def test_bad_grids_are_refused_by_name(grid, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        expand_grid(grid, DEFAULT_GRID, check_encoder_key, "encoder")
