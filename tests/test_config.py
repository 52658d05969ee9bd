"""Impossible option values stop a run at once, with the option named in the message."""

from __future__ import annotations

import pytest

from rsir_pl.config import (
    ConfigError,
    DataConfig,
    GenerationConfig,
    ModelConfig,
    RunConfig,
    TrainerConfig,
    load_run_config,
)


@pytest.mark.parametrize(
    "make, option",
    [
        (lambda: GenerationConfig(tau=0), "generation.tau"),
        (lambda: GenerationConfig(p=1.5), "generation.p"),
        (lambda: GenerationConfig(p=-0.1), "generation.p"),
        (lambda: GenerationConfig(m=0), "generation.m"),
        (lambda: GenerationConfig(top_k=0), "generation.top_k"),
        (lambda: GenerationConfig(max_len=1), "generation.max_len"),
        (lambda: GenerationConfig(fidelity="cosine"), "generation.fidelity"),
        (lambda: GenerationConfig(prefix="middle"), "generation.prefix"),
        (lambda: GenerationConfig(preset="mine"), "generation.preset"),
        (lambda: GenerationConfig(max_synthetic_ratio=0), "generation.max_synthetic_ratio"),
        (lambda: DataConfig(max_len=1), "data.max_len"),
        (lambda: ModelConfig(backbone="gru4rec"), "model.backbone"),
        (lambda: ModelConfig(loss="hinge"), "model.loss"),
        (lambda: ModelConfig(hidden=64, heads=3), "model.heads"),
        (lambda: ModelConfig(dropout=1.0), "model.dropout"),
        (lambda: ModelConfig(optimizer="sgd"), "model.optimizer"),
        (lambda: ModelConfig(positions="rotary"), "model.positions"),
        (lambda: ModelConfig(backbone="hstu", positions="fixed_slot"), "model.positions"),
        (lambda: ModelConfig(input_scale="log"), "model.input_scale"),
        (lambda: ModelConfig(adam_beta2=1.0), "model.adam_beta2"),
        (lambda: ModelConfig(synthetic_weight=1.5), "model.synthetic_weight"),
        (lambda: ModelConfig(synthetic_weight="silver"), "model.synthetic_weight"),
        (lambda: TrainerConfig(patience=0), "trainer.patience"),
        (lambda: RunConfig(iterations=-1), "iterations"),
    ],
)
def test_impossible_values_name_the_option(make, option):
    with pytest.raises(ConfigError) as err:
        make()
    assert option in str(err.value)


def test_unknown_option_in_a_file_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("generation:\n  tau: 5\n  taus: 3\n")
    with pytest.raises(ConfigError, match="generation.taus"):
        load_run_config(str(path))


def test_presets_fill_unset_fields_only():
    paper = GenerationConfig()
    assert (paper.prefix, paper.top_k, paper.m, paper.min_len) == ("random", 10, 10, 2)
    code = GenerationConfig(preset="authors-code")
    assert (code.prefix, code.top_k, code.m, code.min_len) == ("first", 1, 5, 3)
    mixed = GenerationConfig(preset="authors-code", m=10)
    assert mixed.m == 10 and mixed.top_k == 1


def test_config_files_stack_and_overrides_win(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 1\ngeneration:\n  tau: 5\n  p: 0.3\n")
    b.write_text("generation:\n  tau: 7\n")
    cfg = load_run_config(str(a), str(b), overrides={"generation.p": 0.9, "trainer.devices": 2})
    assert (cfg.seed, cfg.generation.tau, cfg.generation.p, cfg.trainer.devices) == (1, 7, 0.9, 2)


def test_fingerprint_ignores_run_dir_logging_and_iterations():
    a = RunConfig(run_dir="x", iterations=1)
    b = RunConfig(run_dir="y", iterations=3)
    b.logger.kind = "wandb"
    assert a.fingerprint() == b.fingerprint()
    c = RunConfig(generation=GenerationConfig(tau=3))
    assert c.fingerprint() != a.fingerprint()


def test_every_shipped_config_loads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    files = sorted(root.rglob("*.yaml"))
    assert files
    for f in files:
        if f.parent.name in ("generation", "trainer"):
            load_run_config(str(root / "sasrec" / "synthetic.yaml"), str(f))
        else:
            load_run_config(str(f))
