"""W&B offline tracking of a self-improvement run: one run, per-iteration metrics on the
rsir/iteration axis, per-epoch curves kept apart per iteration."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsir_pl.config import LoggerConfig
from rsir_pl.loop.runner import self_improve
from test_runner import tiny_config
from wandb_offline import history, step_metrics


def test_wandb_offline_run_has_iteration_axis(tmp_path):
    pytest.importorskip("wandb")
    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg.logger = LoggerConfig(kind="wandb", offline=True, project="rsir-test")
    records = self_improve(cfg)
    files = list((tmp_path / "run").rglob("run-*.wandb"))
    assert len(files) == 1, files  # one self-improvement run = one W&B run
    rows = history(files[0])
    per_iteration = [r for r in rows if "rsir/iteration" in r and "rsir/test/ndcg@10" in r]
    kinds = sorted({k.split("/")[0] for r in rows for k in r})
    assert [r["rsir/iteration"] for r in per_iteration] == [0, 1], (len(rows), kinds)
    for r, rec in zip(per_iteration, records):
        assert r["rsir/test/ndcg@10"] == pytest.approx(rec["test"]["ndcg@10"])
        assert "rsir/test/recall@10" in r and "rsir/test/mrr" in r
    assert "rsir/gen/acceptance_rate" in per_iteration[0]  # generated-data statistics of D'_1
    assert step_metrics(files[0]).get("rsir/*") == "rsir/iteration"
    epoch_keys = {k for r in rows for k in r}
    assert any(k.startswith("iter0/val/ndcg@10") for k in epoch_keys)
    assert any(k.startswith("iter1/val/ndcg@10") for k in epoch_keys)
    assert any(k.startswith("rsir/results/") for k in epoch_keys)  # the results table is logged too
    assert any(k.startswith("rsir/plot/") for k in epoch_keys)  # and the plot


def test_csv_logger_keeps_iterations_apart(tmp_path):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg.logger = LoggerConfig(kind="csv")
    self_improve(cfg)
    for k in (0, 1):
        text = (Path(cfg.run_dir) / "logs" / f"iter_{k}" / "metrics.csv").read_text()
        assert "val/ndcg@10" in text
