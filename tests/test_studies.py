"""The studies end to end on tiny synthetic data (each writes study.md, study.png, study.json),
their grids and refusals, resuming, the CLI entry, and the noise transformation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from rsir_pl.config import (
    ConfigError,
    DataConfig,
    GenerationConfig,
    LoggerConfig,
    ModelConfig,
    RunConfig,
    TrainerConfig,
)
from rsir_pl.data.noise import add_noise
from rsir_pl.data.registry import load_dataset
from rsir_pl.studies import STUDIES, run_study

GRIDS = {
    "iterations": None,
    "tau": [5, 50],
    "p": [0.0, 1.0],
    "noise": [0.0, 0.4],
    "weak-to-strong": {"generators": [{"hidden": 8}, {"hidden": 16}], "students": [{"hidden": 16}]},
    "data": None,
    "weighting": [None, "golden", {"generation_decay": 0.5}],
    "leakage": [5],
    "tune": {"generation.tau": [5, 50]},
    "asrep": None,
    "encoder": [{"model.ffn_mult": 1}, {"model.positions": "fixed_slot", "model.input_scale": "none"}],
}


def tiny_config(run_dir: Path, iterations: int = 1) -> RunConfig:
    return RunConfig(
        seed=3,
        run_dir=str(run_dir),
        iterations=iterations,
        data=DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64, eval_batch_size=256),
        model=ModelConfig(hidden=16, layers=1, heads=1, dropout=0.2, attn_dropout=0.2),
        trainer=TrainerConfig(max_epochs=2, patience=2, accelerator="cpu", progress_bar=False),
        generation=GenerationConfig(m=2, max_len=20, progress=False),
        logger=LoggerConfig(kind="none"),
    )


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


@pytest.mark.parametrize("name", STUDIES)
def test_study_runs_end_to_end(study_root, name):
    K = 2 if name in ("iterations", "data") else 1
    cfg = tiny_config(study_root / name, iterations=K)
    out = run_study(name, cfg, grid=GRIDS[name])
    assert out == Path(cfg.run_dir) / f"study-{name}"
    md = (out / "study.md").read_text()
    assert md.startswith(f"# Study `{name}`") and "|---|" in md
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = json.loads((out / "study.json").read_text())
    assert numbers["study"] == name and numbers["runs"] and numbers["rows"]
    for recs in numbers["runs"].values():
        assert all("test" in r for r in recs)
    rows = numbers["rows"]
    if name == "iterations":
        assert len(rows) == K + 1 and "fidelity=none NDCG@10" in rows[0]
        assert rows[0]["fidelity=none NDCG@10"] == rows[0]["fidelity=exact,tau=20 NDCG@10"]  # same base
    elif name in ("tau", "p"):
        assert [r[name] for r in rows] == GRIDS[name]
        assert sum(r["chosen by val"] == "*" for r in rows) == 1
        assert all(r["val NDCG@10"] is not None and r["rel NDCG@10"] is not None for r in rows)
        assert len({r["base NDCG@10"] for r in rows}) == 1  # every setting trains the same base
        for r in rows:  # the paired CI of the change, and it brackets the change itself
            lo, hi = (float(x) for x in r["NDCG@10 CI"].strip("[]").split(","))
            assert lo - 5e-5 <= r["NDCG@10"] - r["base NDCG@10"] <= hi + 5e-5  # printed to 4 decimals
    elif name == "noise":
        assert rows[1]["train interactions"] > rows[0]["train interactions"]
    elif name == "weak-to-strong":
        assert [(r["generator"], r["student"]) for r in rows] == [
            ("sasrec-h8-l1", "sasrec-h16-l1"),
            ("sasrec-h16-l1", "sasrec-h16-l1"),
        ]
        assert rows[0]["generator NDCG@10"] != rows[1]["generator NDCG@10"]
    elif name == "data":
        assert len(rows) == K + 1
        for k in range(1, K + 1):
            assert rows[k]["added"] > 0
            for arm in ("RSIR", "Insertion"):
                assert rows[k][f"{arm} sequences"] == rows[k - 1][f"{arm} sequences"] + rows[k]["added"]
                assert rows[k][f"{arm} density"] > rows[k - 1][f"{arm} density"]
    elif name == "weighting":
        assert {r["weighting"] for r in rows} == {"pooled", "golden", "generation_decay=0.5"}
        golden1 = next(r for r in rows if r["weighting"] == "golden" and r["iteration"] == 1)
        assert 0 < golden1["real weight used"] < 1
        # the paired comparison against the unweighted run: none for pooled itself, a CI for the others
        assert all(r["NDCG@10 vs pooled (95% CI)"] == "" for r in rows if r["weighting"] == "pooled")
        assert golden1["NDCG@10 vs pooled (95% CI)"].endswith("]")
        # at iteration 1 every synthetic sequence is generation 1, so decay weighs it 1: the pooled model
        decay1 = next(r for r in rows if r["weighting"] == "generation_decay=0.5" and r["iteration"] == 1)
        pooled1 = next(r for r in rows if r["weighting"] == "pooled" and r["iteration"] == 1)
        assert decay1["NDCG@10"] == pooled1["NDCG@10"]
        base_rows = [r for r in rows if r["iteration"] == 0]
        assert len({r["NDCG@10"] for r in base_rows}) == 1  # no weighting of these changes the base
    elif name == "encoder":
        assert [r["setting"] for r in rows] == ["config", "ffn_mult=1", "positions=fixed_slot,input_scale=none"]
        assert sum(r["selected"] == "*" for r in rows) == 1 and rows[0]["val vs config"] == 0.0
        # each setting trained its own base with that setting, and they differ
        sub = yaml.safe_load((out / "positions=fixed_slot_input_scale=none" / "config.yaml").read_text())
        assert sub["model"]["positions"] == "fixed_slot" and sub["model"]["input_scale"] == "none"
        assert len({r["val NDCG@10"] for r in rows}) == 3
        assert all(len(recs) == 1 for recs in numbers["runs"].values())  # base only, no RSIR
    elif name == "leakage":
        real = rows[-1]
        assert real["run"] == "real training data"
        check = next(r for r in rows if r["run"] == "exact,tau=5")
        none = next(r for r in rows if r["run"] == "no check")
        # the check filters: its generated steps are more plausible than unchecked ones,
        # and the real data are the most plausible of all
        assert real["implausible share"] < check["implausible share"] < none["implausible share"]


def test_rerun_resumes_without_training_and_cli_entry(study_root, monkeypatch, capsys):
    cfg = tiny_config(study_root / "tau")
    out = run_study("tau", cfg, grid=GRIDS["tau"])  # after test_study_runs_end_to_end, or fresh
    model = out / "tau=5" / "iter_0" / "model.pt"
    mtime = model.stat().st_mtime_ns
    before = json.loads((out / "study.json").read_text())["rows"]
    cfg_file = study_root / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    from rsir_pl.cli import main

    assert main(["study", "tau", "--config", str(cfg_file), "--grid", "[5, 50]"]) == 0
    assert str(out) in capsys.readouterr().out
    assert model.stat().st_mtime_ns == mtime
    assert json.loads((out / "study.json").read_text())["rows"] == before


def test_refusals(tmp_path):
    cfg = tiny_config(tmp_path)
    with pytest.raises(ConfigError, match="unknown study"):
        run_study("ablation", cfg)
    beauty = RunConfig(run_dir=str(tmp_path), data=DataConfig(dataset="beauty"))
    with pytest.raises(ConfigError, match="embedded dataset"):
        run_study("leakage", beauty)
    with pytest.raises(ConfigError, match="mapping"):
        run_study("weak-to-strong", cfg, grid=[32, 64])
    with pytest.raises(ConfigError, match="non-empty list"):
        run_study("tau", cfg, grid=5)
    with pytest.raises(ConfigError, match="synthetic_weight"):
        run_study("weighting", cfg, grid=[1.5])
    with pytest.raises(ConfigError, match="generation_decay"):
        run_study("weighting", cfg, grid=[{"generation_decay": 2.0}])
    with pytest.raises(ConfigError, match="no_such_field"):
        run_study("weighting", cfg, grid=[{"no_such_field": 1}])
    with pytest.raises(ConfigError, match="no grid"):
        run_study("data", cfg, grid=[1])
    assert not any(tmp_path.iterdir())  # refused before running anything


def test_noise_inserts_random_items_into_training_parts_only():
    ds = load_dataset("synthetic-tiny")
    same = add_noise(ds, 0.0, seed=1)
    assert same.sequences.equals(ds.sequences)
    noisy = add_noise(ds, 0.5, seed=1)
    assert noisy.sequences.equals(add_noise(ds, 0.5, seed=1).sequences)
    assert not noisy.sequences.equals(add_noise(ds, 0.5, seed=2).sequences)
    assert noisy.num_items == ds.num_items and len(noisy.sequences) == len(ds.sequences)
    for u in range(len(ds.sequences)):
        old, new = ds.sequences[u].tolist(), noisy.sequences[u].tolist()
        assert new[-2:] == old[-2:]  # validation and test items untouched
        train = old[:-2]
        assert len(new) - len(old) == int(np.floor(0.5 * len(train) + 0.5))
        rest = iter(new[:-2])
        assert all(x in rest for x in train)  # the real items keep their order
        # noise never puts the user's own validation or test item into training
        inserted = list(new[:-2])
        for x in train:
            inserted.remove(x)
        assert not set(inserted) & set(old[-2:]) - set(train)
    with pytest.raises(ValueError):
        add_noise(ds, -0.1)


def test_sub_runs_share_the_base_only_when_it_is_the_same_model(tmp_path):
    from rsir_pl.studies.common import derive

    cfg = tiny_config(tmp_path)
    cfg.base_from = str(tmp_path / "base")
    # loss weights of synthetic targets leave iteration 0 unchanged: the base is shared
    assert derive(cfg, tmp_path / "a", model={"synthetic_weight": 0.8}).base_from == cfg.base_from
    assert derive(cfg, tmp_path / "b", model={"generation_decay": 0.5}).base_from == cfg.base_from
    assert derive(cfg, tmp_path / "c", generation={"tau": 5}).base_from == cfg.base_from
    # another model, another per-item weighting, or other data (noise) train another base
    assert derive(cfg, tmp_path / "d", model={"hidden": 8}).base_from is None
    assert derive(cfg, tmp_path / "e", model={"item_weighting": "adaptive"}).base_from is None
    assert derive(cfg, tmp_path / "f", share_base=False).base_from is None
