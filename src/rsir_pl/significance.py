"""Paired per-user comparison of two models' test ranks: bootstrap CI and paired t-test."""

from __future__ import annotations

import math

import numpy as np
import torch

from rsir_pl.metrics import metrics_from_ranks


def paired_comparison(
    base_ranks: np.ndarray,
    new_ranks: np.ndarray,
    metrics: tuple[str, ...] = ("ndcg@10", "recall@10", "ndcg@20", "recall@20"),
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """For each metric: base mean, new mean, relative change, 95% bootstrap CI of the mean
    per-user difference, and the two-sided paired t-test p-value (normal approximation)."""
    if base_ranks.shape != new_ranks.shape:
        raise ValueError("paired comparison needs the same users in the same order")
    a = metrics_from_ranks(torch.from_numpy(base_ranks))
    b = metrics_from_ranks(torch.from_numpy(new_ranks))
    n = len(base_ranks)
    if n == 0:
        # no users, no evidence: every number 0 and p = 1
        empty = {"base": 0.0, "new": 0.0, "diff": 0.0, "relative": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0}
        return {name: dict(empty) for name in metrics}
    boot_idx = np.random.default_rng(seed).integers(n, size=(n_boot, n))  # users drawn from 0..n-1
    out: dict[str, dict[str, float]] = {}
    for name in metrics:
        x, y = a[name].numpy(), b[name].numpy()
        d = y - x
        mean_d = float(d.mean())
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        t = mean_d / (sd / math.sqrt(n)) if sd > 0 else 0.0
        boots = d[boot_idx].mean(axis=1)
        base = float(x.mean())
        out[name] = {
            "base": base,
            "new": float(y.mean()),
            "diff": mean_d,
            "relative": mean_d / base if base > 0 else 0.0,
            "ci_low": float(np.quantile(boots, 0.025)),
            "ci_high": float(np.quantile(boots, 0.975)),
            "p_value": math.erfc(abs(t) / math.sqrt(2.0)),
        }
    return out


def relative_interval(comparison: dict[str, float]) -> tuple[float, float, float] | None:
    """One metric's change as shares of its base: (relative change, CI low, CI high), the CI of the
    per-user difference divided by the base mean; None when the base is 0 (no share to speak of)."""
    base = comparison["base"]
    if base <= 0:
        return None
    return comparison["relative"], comparison["ci_low"] / base, comparison["ci_high"] / base
