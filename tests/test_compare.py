"""``rsir compare``: reads tested iterations of run directories and compares them per user group;
refuses runs whose test ranks do not refer to the same users."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from rsir_pl.cli import main
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.loop.compare import compare_runs, read_tested
from rsir_pl.storage.rundir import RunDir, RunDirError
from rsir_pl.storage.writer_lock import release_writer_lock

DATA = {"dataset": "synthetic-tiny", "k_core": 5, "mask_history": True}


def _users() -> int:
    ds = load_dataset("synthetic-tiny")
    return LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items).num_users


def _run(path, ranks_by_iteration, data=DATA, seed=0):
    rd = RunDir(path)
    rd.write_json("run.json", {"format": "rsir_pl.run/2", "settings": {}})
    (path / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "data": data}))
    for k, ranks in ranks_by_iteration.items():
        rd.write_arrays(f"iter_{k}/test_ranks.npz", ranks=np.asarray(ranks, dtype=np.int64))
    release_writer_lock(path)
    return path


@pytest.fixture
def run(tmp_path):
    n = _users()
    rng = np.random.default_rng(0)
    return _run(tmp_path / "run", {0: rng.integers(1, 40, n), 1: rng.integers(1, 40, n)})


def test_the_last_tested_iteration_is_the_default(run):
    assert read_tested(run).iteration == 1
    with pytest.raises(RunDirError, match="iteration 2 has not been tested \\(tested iterations: 0, 1\\)"):
        read_tested(run, 2)


def test_compare_reports_every_group_and_all_users(run):
    rows, by = compare_runs(read_tested(run), read_tested(run, 0), "history")
    assert by == "history" and rows[-1]["group"] == "all" and rows[-1]["users"] == _users()
    assert sum(r["users"] for r in rows[:-1]) == _users()


def test_runs_tested_differently_are_refused(run, tmp_path):
    other = _run(tmp_path / "other", {0: np.ones(_users())}, data={**DATA, "mask_history": False})
    with pytest.raises(ValueError, match="data.mask_history differs"):
        compare_runs(read_tested(run), read_tested(other, 0))


def test_ranks_of_another_user_count_are_refused(tmp_path):
    n = _users()
    bad = _run(tmp_path / "bad", {0: np.ones(n + 1), 1: np.ones(n + 1)})
    with pytest.raises(ValueError, match="data changed since the runs were tested"):
        compare_runs(read_tested(bad), read_tested(bad, 0))


def test_cli_prints_the_table_or_json(run, capsys):
    png = run.parent / "groups.png"
    assert main(["compare", str(run), "--by", "popularity", "--edges", "2", "8", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "iteration 1 against" in out and "| test item's training count | users |" in out and "| >= 8 |" in out
    assert main(["compare", str(run), "--iteration", "0", "--base_iteration", "1", "--json", "true"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1]["users"] == _users() and rows[-1]["ndcg@10"]["diff"] != 0.0


def test_an_iteration_is_not_compared_with_itself(run, capsys):
    assert main(["compare", str(run), "--iteration", "0"]) == 2
    assert "iteration 0 compared with itself" in capsys.readouterr().err


def test_cli_names_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
