"""The rsir command: data stats, clear errors for bad options and files, fit end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rsir_pl.cli import main
from rsir_pl.config import ModelConfig
from rsir_pl.models import build_model, load_model, save_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_data_stats_synthetic(capsys):
    assert main(["data", "stats", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert "users         4,000" in out and "items         2,400" in out


@pytest.mark.skipif(not (SHARED / "Beauty.txt").exists(), reason=f"no {SHARED}/Beauty.txt")
def test_data_stats_beauty(capsys, monkeypatch):
    monkeypatch.setenv("RSIR_DATA_DIR", str(SHARED))
    assert main(["data", "stats", "beauty"]) == 0
    out = capsys.readouterr().out
    assert "22,363" in out and "12,101" in out and "198,502" in out


def test_malformed_file_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 3 4 5\n2 7 x 9\n")
    assert main(["data", "stats", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "'x'" in err and "Traceback" not in err


def test_impossible_option_is_a_clear_error(tmp_path, capsys):
    code = main(["fit", "--run_dir", str(tmp_path / "r"), "--data.dataset", "synthetic-tiny", "--generation.tau", "0"])
    assert code == 2
    assert "generation.tau must be >= 1" in capsys.readouterr().err


def test_unknown_backbone_is_a_clear_error(tmp_path, capsys):
    code = main(["fit", "--run_dir", str(tmp_path / "r"), "--model.backbone", "gru4rec"])
    assert code == 2
    err = capsys.readouterr().err
    assert "model.backbone" in err and "gru4rec" in err


def test_fit_runs_and_writes_results(tmp_path, capsys):
    run = tmp_path / "r"
    code = main(
        [
            "--log_level",
            "WARNING",
            "fit",
            "--run_dir",
            str(run),
            "--data.dataset",
            "synthetic-tiny",
            "--data.max_len",
            "20",
            "--model.hidden",
            "16",
            "--model.layers",
            "1",
            "--model.heads",
            "1",
            "--trainer.max_epochs",
            "2",
            "--trainer.accelerator",
            "cpu",
            "--trainer.progress_bar",
            "false",
            "--logger.kind",
            "none",
        ]
    )
    assert code == 0
    records = json.loads((run / "results.json").read_text())
    assert len(records) == 1 and 0.0 <= records[0]["test"]["ndcg@10"] <= 1.0
    assert "ndcg@10" in capsys.readouterr().out


def test_checkpoint_with_other_catalogue_is_refused(tmp_path):
    model = build_model(ModelConfig(hidden=8, heads=1, layers=1), 50, 10)
    save_model(model, tmp_path / "m.pt")
    assert load_model(tmp_path / "m.pt", num_items=50).num_items == 50
    with pytest.raises(ValueError, match="50 items but the dataset has 300"):
        load_model(tmp_path / "m.pt", num_items=300)


def test_generator_checkpoint_of_other_dataset_stops_the_run(tmp_path, capsys):
    model = build_model(ModelConfig(hidden=8, heads=1, layers=1), 50, 20)
    save_model(model, tmp_path / "m.pt")
    code = main(
        [
            "self-improve",
            "--run_dir",
            str(tmp_path / "r"),
            "--data.dataset",
            "synthetic-tiny",
            "--data.max_len",
            "20",
            "--generation.max_len",
            "20",
            "--generation.generator_checkpoint",
            str(tmp_path / "m.pt"),
        ]
    )
    assert code == 2
    assert "trained on 50 items" in capsys.readouterr().err


def test_synthetic_file_with_foreign_ids_is_refused_on_resume(tmp_path):
    from rsir_pl.data.store import SequenceStore
    from rsir_pl.loop.runner import self_improve
    from rsir_pl.storage.rundir import RunDir
    from test_runner import tiny_config

    cfg = tiny_config(tmp_path / "run", iterations=1)
    self_improve(cfg)
    run = RunDir(cfg.run_dir)
    bad = run.read_store("iter_1/synthetic.npz")
    bad.items[0] = 10_000  # beyond the 300-item catalogue, written through the manifest
    run.write_store("iter_1/synthetic.npz", SequenceStore(bad.items, bad.offsets, bad.root, bad.generation))
    with pytest.raises(ValueError, match="synthetic.npz: item id 10000 is outside the catalogue"):
        self_improve(cfg)
    assert os.path.exists(Path(cfg.run_dir) / "iter_0" / "model.pt")  # nothing written before is lost


def test_fit_ignores_the_config_files_iterations(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "iterations: 2\ndata:\n  dataset: synthetic-tiny\n  max_len: 20\nmodel:\n  hidden: 8\n  heads: 1\n  layers: 1\n"
        "trainer:\n  max_epochs: 1\n  accelerator: cpu\n  progress_bar: false\nlogger:\n  kind: none\n"
    )
    assert main(["--log_level", "WARNING", "fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")]) == 0
    assert len(json.loads((tmp_path / "r" / "results.json").read_text())) == 1


# ---------------------------------------------------------------------------- as a newcomer meets it
def test_missing_named_dataset_says_rsir_data_dir_is_unset_and_where_it_looked(tmp_path, monkeypatch, capsys):
    import rsir_pl.data.registry as registry

    def offline(url, target, sha256):
        raise OSError("network unreachable")

    monkeypatch.delenv("RSIR_DATA_DIR", raising=False)
    monkeypatch.setenv("RSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_download", offline)
    assert main(["data", "stats", "beauty"]) == 2
    err = capsys.readouterr().err
    assert "$RSIR_DATA_DIR (it is unset)" in err
    assert str(tmp_path / "cache" / "Beauty.txt") in err and "network unreachable" in err
    assert "export RSIR_DATA_DIR=" in err


def test_a_run_that_fails_before_its_first_fit_leaves_no_run_directory(tmp_path, capsys):
    run = tmp_path / "r"
    args = ["--log_level", "WARNING", "fit", "--run_dir", str(run), "--data.max_len", "20", "--model.hidden", "8"]
    args += ["--model.heads", "1", "--model.layers", "1", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu"]
    args += ["--trainer.progress_bar", "false", "--logger.kind", "none"]
    assert main([*args, "--data.dataset", "beuaty"]) == 2
    assert "did you mean 'beauty'?" in capsys.readouterr().err
    assert not run.exists()
    # the corrected command is a new run, not "a run directory of another run"
    assert main([*args, "--data.dataset", "synthetic-tiny"]) == 0
    assert (run / "iter_0" / "model.pt").exists()


def test_a_failed_set_up_removes_only_the_directory_it_created(tmp_path):
    from rsir_pl.loop.runner import self_improve
    from test_runner import tiny_config

    cfg = tiny_config(tmp_path / "fresh", iterations=0)
    cfg.base_from = str(tmp_path / "no-such-run")
    with pytest.raises(RuntimeError, match="no finished iteration 0"):
        self_improve(cfg)
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    cfg.run_dir = str(tmp_path / "mine")
    with pytest.raises(RuntimeError, match="no finished iteration 0"):
        self_improve(cfg)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_mistyped_option_gets_a_suggestion_without_the_usage_dump(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--generation.tua", "5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean --generation.tau?" in err
    assert "usage:" not in err and len(err.strip().splitlines()) <= 3
    with pytest.raises(SystemExit):
        main(["fitt"])
    assert "did you mean 'fit'?" in capsys.readouterr().err


def test_fit_help_lists_only_what_fit_uses_and_cites_no_outside_file(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    fit_help = capsys.readouterr().out
    assert "--data.dataset" in fit_help and "--model.backbone" in fit_help
    for unused in ("--iterations", "--finetune", "--generation"):
        assert unused not in fit_help
    with pytest.raises(SystemExit):
        main(["self-improve", "--help"])
    loop_help = capsys.readouterr().out
    assert "--iterations" in loop_help and "--generation.tau" in loop_help
    for command in (["study"], ["data", "stats"], ["recommend"], ["evaluate"], ["serve"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "RSIR-SPEC" not in capsys.readouterr().out
    assert "RSIR-SPEC" not in fit_help + loop_help


def test_fit_still_reads_a_config_file_with_generation_settings(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data:\n  dataset: synthetic-tiny\n  max_len: 20\nmodel:\n  hidden: 8\n  heads: 1\n  layers: 1\n"
        "trainer:\n  max_epochs: 1\n  accelerator: cpu\n  progress_bar: false\nlogger:\n  kind: none\n"
        "generation:\n  tau: 5\nfinetune: true\n"
    )
    assert main(["--log_level", "WARNING", "fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")]) == 0


def test_readme_documents_the_new_commands_and_a_cuda_torch():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for text in ("rsir recommend", "rsir evaluate", "rsir serve", "load_from_checkpoint", "TORCH_SPEC"):
        assert text in readme, text
