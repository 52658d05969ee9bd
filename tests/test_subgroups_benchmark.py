"""benchmarks/subgroups.py: pools seeds per user group and refuses seeds tested differently."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import subgroups as SG  # noqa: E402
from seed_summary import Delta, SeedRun  # noqa: E402
from test_compare import DATA, _run, _users  # noqa: E402


def _seed(path: Path, seed: int, base: np.ndarray, new: np.ndarray, data=DATA) -> SeedRun:
    run = _run(path, {0: base, 1: new}, data=data, seed=seed)
    d = Delta(0.0, 0.0, 0.0, 1.0)
    return SeedRun(
        "cell", seed, "CPU", str(run), 0, 0, 0, 0, d, d,
        rank_files=(run / "iter_0" / "test_ranks.npz", run / "iter_1" / "test_ranks.npz"),
    )  # fmt: skip


def test_seeds_are_pooled_pair_by_pair(tmp_path):
    n = _users()
    rng = np.random.default_rng(1)
    ranks = [rng.integers(1, 30, n) for _ in range(4)]
    runs = [_seed(tmp_path / "s0", 0, ranks[0], ranks[1]), _seed(tmp_path / "s1", 1, ranks[2], ranks[3])]
    rows = SG.group_rows(runs, "history")
    assert rows[-1]["users"] == 2 * n
    from rsir_pl.significance import paired_comparison

    pooled = paired_comparison(np.r_[ranks[0], ranks[2]], np.r_[ranks[1], ranks[3]], ("ndcg@10", "recall@10"))
    assert rows[-1]["ndcg@10"] == pooled["ndcg@10"]
    text = SG.table({"cell": (runs, rows)}, "history")
    assert "| cell | 0, 1 | all |" in text


def test_seeds_tested_differently_are_refused(tmp_path):
    n = _users()
    one = np.ones(n, np.int64)
    runs = [
        _seed(tmp_path / "s0", 0, one, one),
        _seed(tmp_path / "s1", 1, one, one, data={**DATA, "mask_history": False}),
    ]
    with pytest.raises(ValueError, match="data.mask_history differs"):
        SG.group_rows(runs, "popularity")
