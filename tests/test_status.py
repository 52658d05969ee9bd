"""``rsir status``: each iteration's state read from the run's files, the fit in progress, the
writer, and files that no longer match the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsir_pl.cli import main
from rsir_pl.loop.runner import self_improve
from rsir_pl.loop.status import format_status, run_status
from rsir_pl.storage.rundir import RunDirError
from rsir_pl.storage.writer_lock import acquire_writer_lock, release_writer_lock, writer_holder
from test_fit_checkpoint import Interrupt, InterruptAt, _fit
from test_runner import tiny_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("status") / "run", iterations=1)
    records = self_improve(cfg)
    release_writer_lock(cfg.run_dir)
    return cfg, records


def test_a_finished_run_reports_each_iteration_and_its_generated_data(finished_run):
    cfg, records = finished_run
    status = run_status(cfg.run_dir)
    assert [s.state for s in status.steps] == ["finished", "finished"]
    assert status.steps[1].test == records[1]["test"] and status.problems == [] and status.writer is None
    text = format_status(status)
    assert f"test NDCG@10 {records[1]['test']['ndcg@10']:.5f}" in text
    kept = records[0]["generation"]["kept_sequences"]
    assert f"D'_1: {kept:,} sequences generated" in text


def test_a_fit_in_progress_shows_its_epochs_and_best_validation(finished_run, tmp_path):
    cfg, _ = finished_run
    with pytest.raises(Interrupt):
        _fit(tmp_path / "fit.ckpt", [InterruptAt(2)])
    # as if the run had a third iteration whose fit was stopped after epoch 1
    run_dir = Path(cfg.run_dir)
    (run_dir / "iter_2").mkdir(exist_ok=True)
    (tmp_path / "fit.ckpt").replace(run_dir / "iter_2" / "fit.ckpt")
    try:
        st = run_status(run_dir).steps[2]
        assert st.state == "training" and st.in_progress["epochs"] == 2
        assert 0 <= st.in_progress["best_epoch"] <= 1
        assert "a re-run resumes after epoch 1" in format_status(run_status(run_dir))
    finally:
        (run_dir / "iter_2" / "fit.ckpt").unlink()
        (run_dir / "iter_2").rmdir()


def test_status_names_the_writer_and_a_corrupt_file(finished_run, capsys):
    cfg, _ = finished_run
    acquire_writer_lock(cfg.run_dir)
    try:
        assert "this process" in writer_holder(cfg.run_dir)
        # with a live writer, the first unfinished iteration is in progress, not "not started"
        (Path(cfg.run_dir) / "iter_2").mkdir()
        assert [st.state for st in run_status(cfg.run_dir).steps] == ["finished", "finished", "in progress"]
    finally:
        (Path(cfg.run_dir) / "iter_2").rmdir()
        release_writer_lock(cfg.run_dir)
    assert writer_holder(cfg.run_dir) is None
    path = Path(cfg.run_dir) / "iter_1" / "metrics.json"
    original = path.read_bytes()
    path.write_bytes(original + b" ")
    try:
        assert main(["--log_level", "WARNING", "status", cfg.run_dir]) == 1
        out = capsys.readouterr().out
        assert "1 do not match the manifest" in out and "iter_1/metrics.json" in out
        assert [st.state for st in run_status(cfg.run_dir).steps] == ["finished", "damaged"]
    finally:
        path.write_bytes(original)
    assert main(["--log_level", "WARNING", "status", cfg.run_dir]) == 0


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    with pytest.raises(RunDirError, match="not a run directory"):
        run_status(tmp_path)
    assert main(["status", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
