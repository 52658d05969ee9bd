"""Shared test set-up: one torch thread (tiny tensors run faster and steadier that way on a
2-core machine), W&B offline, and no stray kill switch from the environment."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import Phase, settings

# `pytest --hypothesis-profile=mutation` (benchmarks/mutation.py): the same examples every run, and a
# failing example is reported as found instead of being shrunk (a killed mutant need not be minimal)
settings.register_profile("mutation", derandomize=True, phases=[Phase.explicit, Phase.generate])


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("RSIR_KILL_AT", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / ".wandb-cache"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / ".wandb-data"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".wandb-config"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    os.environ.setdefault("PYTHONHASHSEED", "0")
