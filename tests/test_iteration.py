"""One iteration's straight path: a run interrupted at any step boundary and resumed equals an
uninterrupted run (data, metrics and the loss-weight state), and a resumed iteration generates
with the model on the Trainer's device through the same GenerationStep as a fresh one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rsir_pl import faults
from rsir_pl.loop.callback import GenerationStep
from rsir_pl.loop.runner import self_improve
from rsir_pl.storage.rundir import RunDir
from test_runner import tiny_config


class Interrupted(Exception):
    pass


def weighted_config(run_dir: Path):
    cfg = tiny_config(run_dir, iterations=2)
    # adaptive item weights are a moving average across iterations: a resume must continue it
    model = dataclasses.replace(cfg.model, item_weighting="adaptive", synthetic_weight="golden")
    return dataclasses.replace(cfg, model=model)


def interrupt_at(monkeypatch, name: str) -> None:
    original = faults.point

    def point(p: str) -> None:
        if p == name:
            raise Interrupted(p)
        original(p)

    monkeypatch.setattr(faults, "point", point)


def snapshot(run_dir: Path) -> dict:
    run = RunDir(run_dir, writer=False)
    out = {}
    for k in range(3):
        out[f"test{k}"] = run.read_json(f"iter_{k}/metrics.json")["test"]
        out[f"ranks{k}"] = run.read_arrays(f"iter_{k}/test_ranks.npz")["ranks"].tolist()
        w = run.read_arrays(f"iter_{k}/loss_weights.npz")
        out[f"weights{k}"] = {name: np.nan_to_num(a, nan=-1.0).tolist() for name, a in w.items()}
        # the fit's record as the results report it (its seconds are the only part a resume changes)
        out[f"fit{k}"] = {key: v for key, v in run.read_json(f"iter_{k}/fit.json").items() if key != "fit_seconds"}
        out[f"history{k}"] = run.read_json(f"iter_{k}/history.json")
    for k in (1, 2):
        out[f"synthetic{k}"] = run.read_bytes(f"iter_{k}/synthetic.npz")
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "run"
    self_improve(weighted_config(path))
    return snapshot(path)


def test_the_weights_of_later_iterations_differ(uninterrupted):
    # otherwise the resume tests could not tell a restarted moving average from a continued one
    assert uninterrupted["weights1"]["item_weight"] != uninterrupted["weights2"]["item_weight"]
    assert uninterrupted["weights0"]["real_weight"] == [-1.0]  # no synthetic data yet: pooled
    assert 0 < uninterrupted["weights1"]["real_weight"][0] < 1  # golden


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["iter0:tested", "iter1:weights", "iter1:model", "generation:iter1", "iter1:generated", "iter1:tested"]
)
def test_resume_at_each_step_boundary_equals_an_uninterrupted_run(tmp_path, monkeypatch, uninterrupted, point):
    cfg = weighted_config(tmp_path / "run")
    with monkeypatch.context() as m:
        interrupt_at(m, point)
        with pytest.raises(Interrupted):
            self_improve(cfg)
    assert not (tmp_path / "run" / "iter_2" / "metrics.json").exists()
    self_improve(cfg)
    assert RunDir(cfg.run_dir, writer=False).verify() == []
    assert snapshot(tmp_path / "run") == uninterrupted


@pytest.mark.parametrize("file", ["provenance.npz", "generation.json", "synthetic.npz"])
def test_a_run_killed_between_the_files_of_d_prime_resumes(tmp_path, monkeypatch, uninterrupted, file):
    """D'_2 is three files; a run that dies before writing any one of them resumes to the
    uninterrupted result (written in another order, it found synthetic.npz without the rest)."""
    cfg = weighted_config(tmp_path / "run")
    original = RunDir.write_bytes

    def write_bytes(self, rel: str, data: bytes) -> None:
        if rel == f"iter_2/{file}":
            raise Interrupted(rel)
        original(self, rel, data)

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_bytes", write_bytes)
        with pytest.raises(Interrupted):
            self_improve(cfg)
    self_improve(cfg)
    assert RunDir(cfg.run_dir, writer=False).verify() == []
    assert snapshot(tmp_path / "run") == uninterrupted


def test_a_resumed_iteration_generates_through_the_same_step_on_the_trainers_device(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    calls: list[tuple[str, str]] = []
    original = GenerationStep.generate

    def spy(self, trainer, model):
        result = original(self, trainer, model)
        calls.append((str(next(model.parameters()).device), str(trainer.strategy.root_device)))
        return result

    monkeypatch.setattr(GenerationStep, "generate", spy)
    with monkeypatch.context() as m:
        interrupt_at(m, "iter0:model")
        with pytest.raises(Interrupted):
            self_improve(cfg)
    assert calls == []  # interrupted after f_0 was saved, before it generated
    assert RunDir(cfg.run_dir, writer=False).has("iter_0/model.pt")
    self_improve(cfg)
    assert len(calls) == 1 and calls[0][0] == calls[0][1]
