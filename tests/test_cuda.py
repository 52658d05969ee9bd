"""The CUDA code paths against their CPU counterparts: backbone outputs, batched generation on the GPU
against the CPU reference, the exact catalogue search, and the loop end to end with
``trainer.accelerator=gpu``. Skipped where torch sees no CUDA device (CI has none); run on a GPU
machine with ``pytest tests/test_cuda.py``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from backbone_checks import batch_seqs, tiny_split
from rsir_pl.config import GenerationConfig, ModelConfig
from rsir_pl.generation.generator import Generator
from rsir_pl.generation.index import ExactIndex, build_index
from rsir_pl.generation.reference import reference_generate
from rsir_pl.loop.runner import self_improve
from rsir_pl.models import build_model
from test_runner import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

BACKBONES = ["sasrec", "cl4srec", "hstu"]


def make(backbone: str, num_items: int = 30, max_len: int = 20, seed: int = 0):  # noqa: ANN201
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone=backbone, hidden=16, layers=2, heads=2, dropout=0.0, attn_dropout=0.0)
    return build_model(cfg, num_items, max_len).eval()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_encoder_on_cuda_matches_cpu(backbone):
    model = make(backbone, max_len=8)
    seqs = batch_seqs()
    with torch.no_grad():
        cpu = model.encode(seqs)
        gpu = model.cuda().encode(seqs.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_batched_generation_on_cuda_equals_cpu_reference(backbone):
    # float64 on both devices: the decisions (ranks, samples) must then be identical
    split = tiny_split()
    D, held = split.train(), split.held_out_items()
    model = make(backbone, split.num_items, 20).double()
    cfg = GenerationConfig(max_len=20, m=2, progress=False)
    ref = reference_generate(model, D, held, cfg, seed=3, iteration=1)
    batched = Generator(cfg, seed=3, iteration=1).generate(model.cuda(), D, held)
    assert batched.accepted.sum() > 0
    assert batched.sequences.equals(ref.sequences)
    assert (batched.accepted == ref.accepted).all()


def test_exact_index_on_cuda_matches_faiss_on_cpu():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(5001, 32, generator=g)  # row 0 is padding
    h = torch.randn(64, 32, generator=g)
    exact = ExactIndex(emb.cuda(), chunk_items=1000)
    v_gpu, i_gpu = exact.search(h.cuda(), 25)
    flat = build_index("faiss", emb, device="cpu")
    v_cpu, i_cpu = flat.search(h, 25)
    assert i_gpu.device.type == "cuda"
    torch.testing.assert_close(v_gpu.cpu(), v_cpu, atol=1e-4, rtol=1e-4)
    agree = (i_gpu.cpu() == i_cpu).float().mean().item()
    assert agree > 0.99


def test_loop_runs_on_the_gpu(tmp_path):
    cfg = tiny_config(tmp_path / "run", iterations=1)
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, accelerator="gpu", devices=1))
    records = self_improve(cfg)
    assert [r["iteration"] for r in records] == [0, 1]
    for r in records:
        assert np.isfinite(r["test"]["ndcg@10"])
    assert records[1]["train_data"]["sequences"] > records[0]["train_data"]["sequences"]
    prov = json.loads((Path(cfg.run_dir) / "provenance.json").read_text())
    assert prov[-1]["cuda"]
