"""Paired per-user comparison of two rank vectors."""

from __future__ import annotations

import numpy as np
import pytest

from rsir_pl.significance import paired_comparison


def test_identical_models_have_zero_difference():
    ranks = np.random.default_rng(0).integers(1, 100, size=500)
    out = paired_comparison(ranks, ranks)
    assert out["ndcg@10"]["diff"] == 0 and out["ndcg@10"]["ci_low"] == 0 and out["ndcg@10"]["p_value"] == 1.0


def test_clearly_better_model_has_positive_ci():
    rng = np.random.default_rng(0)
    base = rng.integers(1, 200, size=3000)
    better = np.maximum(1, base // 3)
    out = paired_comparison(base, better)
    assert out["recall@10"]["ci_low"] > 0 and out["recall@10"]["p_value"] < 1e-6
    assert out["recall@10"]["relative"] == pytest.approx(out["recall@10"]["diff"] / out["recall@10"]["base"])


def test_shapes_must_match():
    with pytest.raises(ValueError):
        paired_comparison(np.ones(3, dtype=np.int64), np.ones(4, dtype=np.int64))
