"""W&B offline tracking of a self-improvement run: one run, per-iteration metrics on the
rsir/iteration axis, per-epoch curves kept apart per iteration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import wandb_offline
from rsir_pl.config import ConfigError, LoggerConfig
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
    # the change against the base, its CI and p-value, as scalars of the RSIR iterations only
    vs = records[1]["vs_base"]["ndcg@10"]
    row = per_iteration[1]
    assert row["rsir/vs_base/ndcg@10/relative"] == pytest.approx(vs["relative"])
    assert row["rsir/vs_base/ndcg@10/ci_low"] == pytest.approx(vs["ci_low"])
    assert row["rsir/vs_base/ndcg@10/ci_high"] == pytest.approx(vs["ci_high"])
    assert row["rsir/vs_base/ndcg@10/relative_ci_low"] == pytest.approx(vs["ci_low"] / vs["base"])
    assert row["rsir/vs_base/recall@10/p_value"] == pytest.approx(records[1]["vs_base"]["recall@10"]["p_value"])
    assert not any(k.startswith("rsir/vs_base/") for k in per_iteration[0])
    # the embedded world's oracle ceiling, beside the models on every iteration
    assert per_iteration[0]["rsir/oracle/ndcg@10"] == pytest.approx(records[0]["oracle"]["ndcg@10"])
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


def _wandb_files(run_dir: Path) -> list[Path]:
    # offline-run-<time>-<id> folders sort by start time
    return sorted(run_dir.rglob("run-*.wandb"), key=lambda p: p.parent.name)


def _iterations(path: Path) -> list[int]:
    return [r["rsir/iteration"] for r in history(path) if "rsir/test/ndcg@10" in r]


def test_wandb_resume_continues_the_same_run_without_a_hole(tmp_path):
    pytest.importorskip("wandb")
    run_dir = tmp_path / "run"
    cfg = tiny_config(run_dir, iterations=1)
    cfg.logger = LoggerConfig(kind="wandb", offline=True, project="rsir-test", group="sasrec-tiny", tags=["a", "b"])
    self_improve(cfg)
    state = json.loads((run_dir / "wandb.json").read_text())
    run_id = state["id"]
    assert state["logged_iterations"] == [0, 1] and state["sessions"] == 1
    # pretend the first start died after writing iteration 1's metrics but before logging them
    state["logged_iterations"] = [0]
    (run_dir / "wandb.json").write_text(json.dumps(state))
    again = tiny_config(run_dir, iterations=2)
    again.logger = cfg.logger
    self_improve(again)
    first, second = _wandb_files(run_dir)
    assert first.name == second.name == f"run-{run_id}.wandb"  # one W&B run id across both starts
    assert _iterations(first) == [0, 1]
    assert _iterations(second) == [1, 2]  # the unlogged iteration 1 and the new one; 0 is not repeated
    assert json.loads((run_dir / "wandb.json").read_text())["logged_iterations"] == [0, 1, 2]
    # the second start's history comes after every step of the first (wandb sync appends it)
    last_first = max(r["_step"] for r in history(first))
    assert min(r["_step"] for r in history(second)) > last_first
    run = next(r.run for r in wandb_offline.records(second) if r.WhichOneof("record_type") == "run")
    assert run.run_id == run_id and run.run_group == "sasrec-tiny" and list(run.tags) == ["a", "b"]


def test_corrupt_wandb_state_is_a_clear_error(tmp_path):
    pytest.importorskip("wandb")
    from rsir_pl.loggers import WandbTracker

    (tmp_path / "wandb.json").write_text("{not json")
    tracker = WandbTracker(LoggerConfig(kind="wandb"), tmp_path, {})
    with pytest.raises(ValueError, match="wandb.json"):
        tracker.epoch_logger(0)


def test_logger_tags_must_be_a_list_of_strings():
    with pytest.raises(ConfigError, match="logger.tags"):
        LoggerConfig(tags="seed-sweep")  # type: ignore[arg-type]


def _csv_epochs(logger, epochs, value):
    for e in epochs:
        logger.log_metrics({"val_ndcg10": value + e, "epoch": e}, step=e)
    logger.save()


def test_a_resumed_fit_keeps_the_csv_rows_of_the_epochs_it_does_not_retrain(tmp_path):
    import csv
    import warnings

    from rsir_pl.loggers import CSVTracker

    tracker = CSVTracker(tmp_path)
    _csv_epochs(tracker.epoch_logger(0), range(4), 0.0)  # the interrupted start got to epoch 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "previous log files will be deleted": they are kept
        _csv_epochs(tracker.epoch_logger(0, resume_after_epoch=1), (2, 3, 4), 10.0)  # resumed after epoch 1
    path = tmp_path / "logs" / "iter_0" / "metrics.csv"
    rows = list(csv.DictReader(path.open()))
    assert [(int(r["epoch"]), float(r["val_ndcg10"])) for r in rows] == [
        (0, 0.0),
        (1, 1.0),
        (2, 12.0),
        (3, 13.0),
        (4, 14.0),
    ]
    _csv_epochs(tracker.epoch_logger(0), (0,), 20.0)  # a fit started afresh replaces the file
    assert [float(r["val_ndcg10"]) for r in csv.DictReader(path.open())] == [20.0]
