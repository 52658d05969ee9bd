"""``rsir tune``: grid expansion and refusals, one shared base, selection by validation only."""

from __future__ import annotations

import json
import re

import pytest

from rsir_pl.cli import main
from rsir_pl.config import ConfigError
from rsir_pl.studies import run_study
from rsir_pl.studies.tune import expand_grid, label
from test_studies import tiny_config


def test_grid_mapping_is_a_product_and_a_list_is_explicit():
    grid = {"generation.tau": [5, 20], "generation.p": [0.5, 1.0]}
    assert expand_grid(grid) == [
        {"generation.tau": 5, "generation.p": 0.5},
        {"generation.tau": 5, "generation.p": 1.0},
        {"generation.tau": 20, "generation.p": 0.5},
        {"generation.tau": 20, "generation.p": 1.0},
    ]
    explicit = [{"generation.p": 1.0}, {"model.synthetic_weight": 0.8}]
    assert expand_grid(explicit) == explicit
    assert label({"generation.tau": 5, "generation.p": 0.5}) == "tau=5,p=0.5"
    assert expand_grid({"finetune": [True]}) == [{"finetune": True}]
    assert label({"generation.p": 0.5, "finetune": True}) == "p=0.5,finetune=True"
    assert len(expand_grid(None)) == 4


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"model.hidden": [32, 64]}, "model.hidden"),
        ({"trainer.max_epochs": [3]}, "generation.<name>, model.<name> or finetune"),
        ({"seed": [1]}, "generation.<name>, model.<name> or finetune"),
        ({"generation.tau": 5}, "non-empty list"),
        ({}, "must not be empty"),
        ("tau", "mapping of option lists"),
        ([5], "grid entry 0"),
    ],
)
def test_bad_grids_are_refused_by_name(grid, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        expand_grid(grid)


@pytest.mark.slow
def test_tune_trains_one_base_and_selects_on_validation(tmp_path):
    cfg = tiny_config(tmp_path / "t")
    grid = {"generation.tau": [3, 50]}
    out = run_study("tune", cfg, grid=grid)
    numbers = json.loads((out / "study.json").read_text())
    rows, sel = numbers["rows"], numbers["selected"]
    assert [r["setting"] for r in rows] == ["tau=3", "tau=50"]
    best = max(rows, key=lambda r: r["val NDCG@10"])
    assert best["selected"] == "*" and sel["label"] == best["setting"]
    assert sum(r["selected"] == "*" for r in rows) == 1
    # every setting reused the one base: identical base test ranks and base metrics
    runs = numbers["runs"]
    assert all(runs[r["setting"]][0]["test"] == runs["base"][0]["test"] for r in rows)
    assert sel["base test"] == runs["base"][0]["test"]
    assert sel["test"] == runs[sel["label"]][1]["test"]
    assert sel["beats base on validation"] == (sel["val NDCG@10"] > sel["base val NDCG@10"])
    md = (out / "study.md").read_text()
    assert "Selected on validation" in md and "base (no RSIR)" in md
    # the report shows test metrics of the selected setting only
    other = next(r["setting"] for r in rows if r["setting"] != sel["label"])
    other_ndcg = f"{runs[other][1]['test']['ndcg@10']:.5f}"
    assert other_ndcg not in md or other_ndcg == f"{sel['test']['ndcg@10']:.5f}"
    # every finished sub-run's writer lock is given back, so another process can read it back or
    # train another setting of the same study beside this one
    from rsir_pl.storage import writer_lock

    assert not [p for p in writer_lock._held if out in p.parents]
    # a second call resumes: nothing retrains, same selection
    again = json.loads((run_study("tune", cfg, grid=grid) / "study.json").read_text())
    assert again["selected"]["label"] == sel["label"]


def test_cli_tune_refuses_a_bad_grid(tmp_path, capsys):
    argv = ["tune", "--config", "configs/sasrec/synthetic.yaml", "--run_dir", str(tmp_path)]
    rc = main([*argv, "--grid", "{model.hidden: [8]}"])
    assert rc == 2
    assert "model.hidden" in capsys.readouterr().err


@pytest.mark.slow
def test_a_finetune_setting_starts_the_student_from_the_base(tmp_path, monkeypatch):
    """``finetune: true`` in a grid: the student's fit begins with the base's weights."""
    import torch

    from rsir_pl.loop import iteration
    from rsir_pl.storage.rundir import RunDir

    starts: list[dict] = []
    train = iteration._train

    def spy(state, k, prev_model, step, summary):
        starts.append({"k": k, "prev": None if prev_model is None else prev_model.state_dict()})
        return train(state, k, prev_model, step, summary)

    monkeypatch.setattr(iteration, "_train", spy)
    cfg = tiny_config(tmp_path / "t")
    out = run_study("tune", cfg, grid=[{"finetune": True}])
    sub = out / "finetune=True"
    assert yaml_load(sub / "config.yaml")["finetune"] is True
    student = [s for s in starts if s["k"] == 1]
    assert len(student) == 1 and student[0]["prev"] is not None
    base = RunDir(out / "base", writer=False).read_torch("iter_0/model.pt")["state_dict"]
    assert all(torch.equal(student[0]["prev"][k], base[k]) for k in base)


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())
