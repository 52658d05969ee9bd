"""Two CPU processes (gloo): sharded generation + gather gives exactly the single-process D_{k+1},
sharded evaluation gives exactly the single-process metrics, and the whole loop runs under DDP; the
same holds for two "nodes" of one process each started by torchrun (the multi-node path)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import yaml

from rsir_pl.config import DataConfig, GenerationConfig, ModelConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.store import SequenceStore
from rsir_pl.loop.callback import generate_for_next_iteration
from rsir_pl.models import build_model, save_model
from rsir_pl.storage.rundir import RunDir
from rsir_pl.training import evaluate
from test_runner import tiny_config

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(HERE.parent / "src"), "OMP_NUM_THREADS": "1"}
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")


def single_process_reference(tmp_path: Path):
    """Save a tiny model; evaluate it and generate D'_1 in this process (the reference of the DDP runs)."""
    torch.manual_seed(0)
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, eval_batch_size=96))
    dm.setup()
    model = build_model(ModelConfig(hidden=16, layers=1, heads=1), dm.num_items, 20)
    save_model(model, tmp_path / "model.pt")
    model.eval()

    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    metrics, ranks = evaluate(model, dm, trainer)
    single = generate_for_next_iteration(
        model, dm, GenerationConfig(m=3, max_len=20, progress=False), seed=3, iteration=0
    )
    dm.expand(single.sequences)
    return metrics, ranks, dm.train_store.digest(), single.sequences


def assert_ranks_equal_reference(tmp_path: Path, reference, node_ranks=(0, 0)) -> None:
    metrics, ranks, digest, sequences = reference
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["world"] == 2 and got["node_rank"] == node_ranks[rank]
        assert got["metrics"] == pytest.approx(metrics, abs=1e-6)
        assert np.array_equal(np.asarray(got["ranks"]), ranks)  # every user once, same rank
        assert got["digest"] == digest  # the same D_{k+1} on every rank
        assert SequenceStore.load(tmp_path / f"synthetic_rank{rank}.npz").equals(sequences)


def test_two_process_eval_and_generation_equal_one_process(tmp_path):
    reference = single_process_reference(tmp_path)
    done = subprocess.run(
        [sys.executable, str(HERE / "ddp_worker.py"), str(tmp_path / "model.pt"), str(tmp_path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_ranks_equal_reference(tmp_path, reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_torchrun_nodes(script_and_args: list[str]) -> None:
    """Start two torchrun "nodes" of one process each (static rendezvous over localhost, gloo); both must succeed."""
    port = free_port()
    env = {**ENV, "GLOO_SOCKET_IFNAME": "lo"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"]
    nodes = [
        subprocess.Popen(
            [*launcher, "--node_rank", str(node), "--master_addr", "127.0.0.1", "--master_port", str(port)]
            + script_and_args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    logs = [p.communicate(timeout=600)[0] for p in nodes]
    for p, log in zip(nodes, logs, strict=True):
        assert p.returncode == 0, log[-3000:]


@pytest.mark.slow
def test_two_nodes_under_torchrun_equal_one_process(tmp_path):
    """The multi-node path: two torchrun nodes of one process each, Trainer(num_nodes=2, devices=1)."""
    reference = single_process_reference(tmp_path)
    run_two_torchrun_nodes([str(HERE / "ddp_worker.py"), str(tmp_path / "model.pt"), str(tmp_path), "2", "1"])
    assert_ranks_equal_reference(tmp_path, reference, node_ranks=(0, 1))


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["lightning", "torchrun"])
def test_self_improve_runs_under_two_process_ddp(tmp_path, launcher):
    """The loop under DDP: 2 devices started by Lightning, or 2 nodes (trainer.num_nodes) started by torchrun."""
    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg.trainer.strategy = "ddp"
    if launcher == "lightning":
        cfg.trainer.devices = 2
    else:
        cfg.trainer.num_nodes = 2
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    cli = ["--log_level", "WARNING", "self-improve", "--config", str(tmp_path / "cfg.yaml")]
    if launcher == "lightning":
        done = subprocess.run(
            [sys.executable, "-m", "rsir_pl", *cli], env=ENV, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        run_two_torchrun_nodes(["-m", "rsir_pl", *cli])
    run = RunDir(tmp_path / "run", writer=False)
    assert run.verify() == []
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [r["iteration"] for r in results] == [0, 1]
    assert results[1]["train_data"]["synthetic_sequences"] > 0
    assert results[0]["generation"]["world_size"] == 2  # D'_1 was generated by both ranks
    ranks = run.read_arrays("iter_1/test_ranks.npz")["ranks"]
    assert (ranks > 0).all()  # every user was evaluated by one of the two ranks


@pytest.mark.slow
def test_a_killed_ddp_fit_resumes_to_the_uninterrupted_result(tmp_path):
    """Two processes: SIGKILL after epoch 1's validation, re-run, and compare with a fit that was
    never stopped. Each rank draws its own dropout masks (its batches differ), so the checkpoint
    must restore every rank's random-number state, not rank 0's on both."""
    from test_runner import _cli

    def ddp(name: str):
        cfg = tiny_config(tmp_path / name, iterations=0)
        cfg.trainer.strategy = "ddp"
        cfg.trainer.devices = 2
        cfg.trainer.max_epochs = 3
        cfg.trainer.patience = 5
        return cfg

    clean = _cli(ddp("clean"), tmp_path / "clean.yaml", None)
    assert clean.returncode == 0, clean.stderr[-3000:]
    cfg = ddp("killed")
    died = _cli(cfg, tmp_path / "killed.yaml", "train:iter0:epoch1")
    assert died.returncode != 0
    assert (tmp_path / "killed" / "iter_0" / "fit.ckpt").exists()  # epoch 0's state
    resumed = _cli(cfg, tmp_path / "killed.yaml", None)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming the interrupted fit after epoch 0" in resumed.stderr
    a, b = RunDir(tmp_path / "clean", writer=False), RunDir(tmp_path / "killed", writer=False)
    assert a.read_json("iter_0/history.json") == b.read_json("iter_0/history.json")
    assert a.read_json("iter_0/metrics.json")["test"] == b.read_json("iter_0/metrics.json")["test"]
    assert np.array_equal(
        a.read_arrays("iter_0/test_ranks.npz")["ranks"], b.read_arrays("iter_0/test_ranks.npz")["ranks"]
    )
