"""The self-improvement loop end to end on tiny synthetic data: files, resume, refusal, kill and
resume, determinism."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rsir_pl.config import DataConfig, GenerationConfig, LoggerConfig, ModelConfig, RunConfig, TrainerConfig
from rsir_pl.fit_checkpoint import STATE_KEY
from rsir_pl.loop.runner import self_improve
from rsir_pl.storage.rundir import RunDir, RunDirError

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(run_dir: Path, iterations: int = 2, **gen) -> RunConfig:
    return RunConfig(
        seed=7,
        run_dir=str(run_dir),
        iterations=iterations,
        data=DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64, eval_batch_size=256),
        model=ModelConfig(hidden=16, layers=1, heads=1, dropout=0.2, attn_dropout=0.2),
        trainer=TrainerConfig(max_epochs=3, patience=2, accelerator="cpu", progress_bar=False),
        generation=GenerationConfig(m=2, max_len=20, progress=False, **gen),
        logger=LoggerConfig(kind="none"),
    )


def test_loop_writes_every_file_and_grows_the_data(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    records = self_improve(cfg)
    assert [r["iteration"] for r in records] == [0, 1, 2]
    run = RunDir(cfg.run_dir, writer=False)
    assert run.verify() == []
    for k in range(3):
        assert run.has(f"iter_{k}/metrics.json") and run.has(f"iter_{k}/model.pt")
    for k in (1, 2):
        assert run.has(f"iter_{k}/synthetic.npz") and run.has(f"iter_{k}/generation.json")
    sizes = [r["train_data"]["sequences"] for r in records]
    assert sizes[0] < sizes[1] < sizes[2]
    table = (Path(cfg.run_dir) / "results.csv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("iteration,ndcg@10")
    assert (Path(cfg.run_dir) / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "vs_base" in records[1] and "ci_low" in records[1]["vs_base"]["ndcg@10"]
    # the embedded world's oracle ceiling sits beside every iteration, and the verdict ends results.md
    assert run.read_json("oracle.json") == records[0]["oracle"] == records[2]["oracle"]
    assert records[0]["oracle"]["ndcg@10"] > max(r["test"]["ndcg@10"] for r in records)
    md = (Path(cfg.run_dir) / "results.md").read_text()
    assert "Verdict: RSIR (iteration 2) against the base" in md and "oracle" in md
    stats = run.read_json("iter_1/generation.json")
    for key in (
        "acceptance_rate",
        "mean_generated_length",
        "duplicates_dropped",
        "generation_seconds",
        "kept_sequences",
        "data_generated",
        "data_next",
    ):
        assert key in stats
    assert "apen_inverse_mean" in stats["data_next"] and "tail_share" in stats["data_generated"]


def test_resume_skips_finished_iterations_and_extends(tmp_path):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    first = self_improve(cfg)
    run_dir = Path(cfg.run_dir)
    before = (run_dir / "iter_1" / "synthetic.npz").read_bytes()
    mtime = (run_dir / "iter_0" / "model.pt").stat().st_mtime_ns
    again = self_improve(tiny_config(tmp_path / "run", iterations=2))
    assert again[0]["test"] == first[0]["test"] and again[1]["test"] == first[1]["test"]
    assert (run_dir / "iter_0" / "model.pt").stat().st_mtime_ns == mtime  # not retrained
    assert (run_dir / "iter_1" / "synthetic.npz").read_bytes() == before
    assert len(again) == 3 and (run_dir / "iter_2" / "synthetic.npz").exists()


def test_refuses_a_run_dir_of_another_config(tmp_path):
    self_improve(tiny_config(tmp_path / "run", iterations=0))
    other = tiny_config(tmp_path / "run", iterations=0)
    other.generation.tau = 3
    with pytest.raises(RunDirError, match="different settings.*generation.tau"):
        self_improve(other)


def test_corrupt_file_is_reported_not_used(tmp_path):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    self_improve(cfg)
    path = Path(cfg.run_dir) / "iter_1" / "synthetic.npz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RuntimeError, match="synthetic.npz.*do not match"):
        self_improve(cfg)


def test_same_seed_same_data_and_metrics(tmp_path):
    a = self_improve(tiny_config(tmp_path / "a", iterations=1))
    b = self_improve(tiny_config(tmp_path / "b", iterations=1))
    assert [r["test"] for r in a] == [r["test"] for r in b]
    fa = (tmp_path / "a" / "iter_1" / "synthetic.npz").read_bytes()
    fb = (tmp_path / "b" / "iter_1" / "synthetic.npz").read_bytes()
    assert fa == fb


def _cli(
    cfg: RunConfig, cfg_path: Path, kill_at: str | None, term_at: str | None = None
) -> subprocess.CompletedProcess:
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("RSIR_KILL_AT", None)
    env.pop("RSIR_TERM_AT", None)
    if kill_at:
        env["RSIR_KILL_AT"] = kill_at
    if term_at:
        env["RSIR_TERM_AT"] = term_at
    return subprocess.run(
        [sys.executable, "-m", "rsir_pl", "--log_level", "WARNING", "self-improve", "--config", str(cfg_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_killed_loop_resumes_to_the_same_result(tmp_path):
    """SIGKILL during generation of iteration 0 and during training of iteration 1, re-run each
    time, and compare with an uninterrupted run of the same seed (the second fit resumes from its
    ``fit.ckpt`` after epoch 0)."""
    clean = tiny_config(tmp_path / "clean", iterations=2)
    done = _cli(clean, tmp_path / "clean.yaml", None)
    assert done.returncode == 0, done.stderr[-2000:]

    cfg = tiny_config(tmp_path / "killed", iterations=2)
    for point in ("generation:iter0", "train:iter1:epoch1"):
        died = _cli(cfg, tmp_path / "killed.yaml", point)
        assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert not (tmp_path / "killed" / "iter_2" / "metrics.json").exists()
    assert (tmp_path / "killed" / "iter_1" / "fit.ckpt").exists()  # epoch 0 of the killed fit
    identity = torch.load(tmp_path / "killed" / "iter_1" / "fit.ckpt", weights_only=False)[STATE_KEY]["identity"]
    assert re.fullmatch(r"[0-9a-f]{64}", identity["train_digest"])  # D_1 by contents, not sizes alone
    resumed = _cli(cfg, tmp_path / "killed.yaml", None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "iteration 1: resuming the interrupted fit after epoch 0" in resumed.stderr
    assert not list((tmp_path / "killed").rglob("fit.ckpt"))  # spent once each model.pt is saved

    run_a, run_b = RunDir(tmp_path / "clean", writer=False), RunDir(tmp_path / "killed", writer=False)
    assert run_b.verify() == []
    for k in (1, 2):
        assert run_a.read_store(f"iter_{k}/synthetic.npz").equals(run_b.read_store(f"iter_{k}/synthetic.npz"))
    for k in range(3):
        assert run_a.read_json(f"iter_{k}/metrics.json")["test"] == run_b.read_json(f"iter_{k}/metrics.json")["test"]
    res_a = json.loads((tmp_path / "clean" / "results.json").read_text())
    res_b = json.loads((tmp_path / "killed" / "results.json").read_text())
    assert [r["test"] for r in res_a] == [r["test"] for r in res_b]
    ranks_a = run_a.read_arrays("iter_2/test_ranks.npz")["ranks"]
    assert np.array_equal(ranks_a, run_b.read_arrays("iter_2/test_ranks.npz")["ranks"])


@pytest.mark.slow
def test_sigterm_during_generation_stops_the_loop_with_the_data_saved(tmp_path):
    """Lightning stops its own loops on SIGTERM but not the fit-end hook that generates; the loop
    must not go on to the next fit, and a re-run resumes from what was saved."""
    cfg = tiny_config(tmp_path / "termed", iterations=1)
    stopped = _cli(cfg, tmp_path / "termed.yaml", None, term_at="generation:iter0")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert "SIGTERM received" in stopped.stderr
    run = RunDir(tmp_path / "termed", writer=False)
    assert run.has("iter_0/model.pt") and run.has("iter_1/synthetic.npz")
    assert not (tmp_path / "termed" / "iter_1" / "model.pt").exists()  # the next fit never started
    resumed = _cli(cfg, tmp_path / "termed.yaml", None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert RunDir(tmp_path / "termed", writer=False).verify() == []
    assert len(json.loads((tmp_path / "termed" / "results.json").read_text())) == 2


def test_options_added_later_are_accepted_at_their_default(tmp_path):
    run = RunDir(tmp_path / "r")
    settings = RunConfig().result_settings()
    older = json.loads(json.dumps(settings))
    del older["generation"]["nprobe"]  # a run made before this option existed
    run.write_json("run.json", {"format": "rsir_pl.run/2", "settings": older})
    assert run.claim(settings, RunConfig().result_settings()) is True
    changed = json.loads(json.dumps(settings))
    changed["generation"]["nprobe"] = 3
    with pytest.raises(RunDirError, match=r"generation.nprobe: \(not set\) -> 3"):
        run.claim(changed, RunConfig().result_settings())


def test_base_from_reuses_the_trained_base(tmp_path):
    first = self_improve(tiny_config(tmp_path / "a", iterations=1))
    other = tiny_config(tmp_path / "b", iterations=1, tau=5)
    other.base_from = str(tmp_path / "a")
    second = self_improve(other)
    assert second[0]["test"] == first[0]["test"]  # the same base model, re-tested
    a = (tmp_path / "a" / "iter_0" / "model.pt").read_bytes()
    assert (tmp_path / "b" / "iter_0" / "model.pt").read_bytes() == a
    weighted = tiny_config(tmp_path / "w", iterations=0)
    weighted.model.synthetic_weight = 0.8  # weighs only synthetic targets: the same base model
    weighted.base_from = str(tmp_path / "a")
    assert self_improve(weighted)[0]["test"] == first[0]["test"]
    bad = tiny_config(tmp_path / "c", iterations=1)
    bad.model.hidden = 8
    bad.base_from = str(tmp_path / "a")
    with pytest.raises(RuntimeError, match="other settings.*model.hidden"):
        self_improve(bad)


def test_base_from_cut_short_is_completed_on_the_next_start(tmp_path, monkeypatch):
    """The base's files are copied with model.pt (which marks f_0 trained) last, so a start that
    dies during the copy is completed by the next one."""
    first = self_improve(tiny_config(tmp_path / "a", iterations=0))
    cfg = tiny_config(tmp_path / "b", iterations=0)
    cfg.base_from = str(tmp_path / "a")
    (tmp_path / "b").mkdir()  # there before the start, so a failed start leaves it as a kill would
    real_write = RunDir.write_bytes

    def cut_short(self, rel, data):
        if rel == "iter_0/history.json":
            raise KeyboardInterrupt
        real_write(self, rel, data)

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_bytes", cut_short)
        with pytest.raises(KeyboardInterrupt):
            self_improve(cfg)
    assert self_improve(cfg)[0]["test"] == first[0]["test"]
    b = RunDir(tmp_path / "b", writer=False)
    assert b.verify() == [] and b.read_json("iter_0/fit.json") and b.read_json("iter_0/history.json")


def test_finetune_starts_from_the_previous_model(tmp_path, monkeypatch):
    import torch

    import rsir_pl.loop.iteration as runner

    starts = []
    real_fit = runner.fit

    def spy(model, *args, **kwargs):
        starts.append(model.item_emb.weight.detach().clone())
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(runner, "fit", spy)
    for finetune in (True, False):
        starts.clear()
        cfg = tiny_config(tmp_path / f"ft{finetune}", iterations=1)
        cfg.finetune = finetune
        self_improve(cfg)
        w0 = RunDir(cfg.run_dir, writer=False).read_torch("iter_0/model.pt")["state_dict"]["item_emb.weight"]
        # RSIR-FT: iteration 1 starts from f_0; RSIR: from the same fresh initialisation as f_0
        assert torch.equal(starts[1], w0) is finetune
        assert torch.equal(starts[1], starts[0]) is (not finetune)


def timed_csv(path: Path) -> Path:
    """The tiny synthetic dataset as a CSV log with irregular, increasing timestamps."""
    from rsir_pl.data.registry import load_dataset

    ds = load_dataset("synthetic-tiny")
    rng = np.random.default_rng(0)
    lines = ["user,item,timestamp"]
    for u, seq in enumerate(ds.sequences):
        t = 1.6e9 + rng.integers(0, 10**7)
        for item in seq:
            t += float(np.exp(rng.uniform(0, 12)))
            lines.append(f"u{u},{ds.item_ids[item]},{t:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hstu_time_bias_runs_the_loop_on_a_timed_log(tmp_path):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg.data.dataset = str(timed_csv(tmp_path / "timed.csv"))
    cfg.data.k_core = 0
    cfg.model = ModelConfig(backbone="hstu", hidden=16, layers=1, heads=1, dropout=0.2, hstu_time_bias=True)
    records = self_improve(cfg)
    assert [r["iteration"] for r in records] == [0, 1]
    assert records[1]["train_data"]["synthetic_sequences"] > 0
    assert all(np.isfinite(r["test"]["ndcg@10"]) for r in records)


def test_hstu_time_bias_without_timestamps_is_refused(tmp_path):
    from rsir_pl.config import ConfigError

    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg.model = ModelConfig(backbone="hstu", hidden=16, layers=1, heads=1, hstu_time_bias=True)
    with pytest.raises(ConfigError, match="hstu_time_bias needs interaction timestamps"):
        self_improve(cfg)


def test_inverse_gradient_holds_out_a_probe_only_where_there_is_synthetic_data(tmp_path):
    cfg = tiny_config(tmp_path / "ig", iterations=1)
    cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, synthetic_loss="idl", inverse_gradient=True, ig_holdout=0.1)
    )
    records = self_improve(cfg)
    assert "ig_holdout_sequences" not in records[0]["fit"]  # the base has no synthetic data
    fit = records[1]["fit"]
    real = records[1]["train_data"]["sequences"] - records[1]["train_data"]["synthetic_sequences"]
    assert 0 < fit["ig_holdout_sequences"] <= round(0.1 * real)  # a tenth of the trainable real ones
    assert 0.0 <= fit["ig_reversed_share"] <= 1.0


def test_inverse_gradient_record_survives_a_kill_during_generation(tmp_path, monkeypatch):
    """f_1's record (probe size, reversed share) is written with its model at fit end, so a run
    killed while f_1 generates D'_2 reports what an uninterrupted run reports."""
    from rsir_pl import faults

    class Killed(Exception):
        pass

    def ig(path):
        cfg = tiny_config(path, iterations=2)
        model = dataclasses.replace(cfg.model, synthetic_loss="idl", inverse_gradient=True, ig_holdout=0.1)
        return dataclasses.replace(cfg, model=model)

    clean = self_improve(ig(tmp_path / "clean"))
    original = faults.point

    def die(name):
        if name == "generation:iter1":
            raise Killed(name)
        original(name)

    with monkeypatch.context() as m:
        m.setattr(faults, "point", die)
        with pytest.raises(Killed):
            self_improve(ig(tmp_path / "killed"))
    resumed = self_improve(ig(tmp_path / "killed"))
    fits = [{k: v for k, v in r["fit"].items() if k != "fit_seconds"} for r in (clean[1], resumed[1])]
    assert fits[0] == fits[1] and "ig_reversed_share" in fits[1] and fits[1]["ig_holdout_sequences"] > 0


def test_inverse_gradient_loss_weights_count_only_what_trains(tmp_path, monkeypatch):
    """Golden and adaptive weights are counted with the probe set held out, as the fit trains."""
    from rsir_pl.data.datamodule import SequenceDataModule

    held_at_count: list[int] = []
    counts = SequenceDataModule.target_counts

    def spy(self):
        held_at_count.append(len(self.probe_rows))
        return counts(self)

    monkeypatch.setattr(SequenceDataModule, "target_counts", spy)
    cfg = tiny_config(tmp_path / "ig", iterations=1)
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(
            cfg.model, synthetic_loss="idl", inverse_gradient=True, ig_holdout=0.1, synthetic_weight="golden"
        ),
    )
    records = self_improve(cfg)
    # iteration 0 counts nothing (no synthetic data); iteration 1 counts with its probe set out
    assert held_at_count and held_at_count[-1] == records[1]["fit"]["ig_holdout_sequences"] > 0
