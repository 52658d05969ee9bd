"""rsir evaluate: the loop's full-ranking test of a saved model, on its own data or on any dataset
whose original ids map onto its catalogue; a dataset that does not map is refused with the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rsir_pl.cli import main
from rsir_pl.data.registry import load_dataset
from rsir_pl.inference.evaluate import evaluate_checkpoint
from rsir_pl.inference.recommend import inference_trainer
from rsir_pl.models.checkpoint import load_checkpoint
from rsir_pl.storage.rundir import RunDir

QUIET = ["--log_level", "WARNING"]
CPU = ["--accelerator", "cpu", "--progress_bar", "false"]


def test_evaluate_gives_the_loops_test_metrics(trained_run, tmp_path, capsys):
    model_pt = trained_run / "iter_0" / "model.pt"
    assert main([*QUIET, "evaluate", "--model", str(model_pt), *CPU, "--out", str(tmp_path / "m.json")]) == 0
    assert "synthetic-tiny (the data it was trained on), 400 users tested" in capsys.readouterr().out
    loop = json.loads((trained_run / "iter_0" / "metrics.json").read_text())["test"]
    got = json.loads((tmp_path / "m.json").read_text())
    assert got["same_as_training"] is True
    assert got["test"].keys() == loop.keys()
    for key, value in loop.items():
        assert got["test"][key] == pytest.approx(value, abs=1e-7), key


def test_another_file_in_original_ids_is_mapped_onto_the_model(trained_run, tmp_path):
    """The first 60 users written to a file: the file's own internal ids differ (it holds fewer
    items), yet every user's test rank equals the loop's."""
    tiny = load_dataset("synthetic-tiny")
    lines = [" ".join([str(tiny.user_ids[u]), *(tiny.item_ids[i] for i in tiny.sequences[u])]) for u in range(60)]
    (tmp_path / "part.txt").write_text("\n".join(lines) + "\n")
    part = load_dataset(str(tmp_path / "part.txt"))
    assert part.num_items < tiny.num_items
    ckpt = load_checkpoint(trained_run)
    result = evaluate_checkpoint(ckpt, part, inference_trainer("cpu", progress=False))
    assert result.same_as_training is False and result.users == 60
    loop_ranks = RunDir(trained_run, writer=False).read_arrays("iter_0/test_ranks.npz")["ranks"]
    assert np.array_equal(result.ranks, loop_ranks[:60])


def test_a_dataset_that_does_not_map_is_refused(trained_run, capsys):
    assert main([*QUIET, "evaluate", "--model", str(trained_run), "--data", "synthetic", *CPU]) == 2
    err = capsys.readouterr().err
    assert "2160 of its 2400 items are not in the catalogue" in err and "trained on 'synthetic-tiny'" in err
