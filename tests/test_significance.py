"""Paired per-user comparison of two rank vectors, checked against textbook definitions."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pytest

from rsir_pl.significance import paired_comparison, relative_interval


def recall10(ranks):
    return [1.0 if r <= 10 else 0.0 for r in ranks]


def ndcg10(ranks):
    return [1.0 / math.log2(r + 1) if r <= 10 else 0.0 for r in ranks]


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


def test_means_and_p_value_follow_the_paired_t_test():
    """p = 2 (1 - Phi(|t|)), t = mean(d) / (stdev(d) / sqrt(n)) with the n - 1 standard deviation."""
    base = np.array([1, 4, 12, 3, 30, 9])
    new = np.array([2, 1, 5, 3, 8, 25])
    out = paired_comparison(base, new)
    for name, metric in (("recall@10", recall10), ("ndcg@10", ndcg10)):
        x, y = metric(base), metric(new)
        d = [b - a for a, b in zip(x, y)]
        t = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(len(d)))
        assert out[name]["base"] == pytest.approx(statistics.mean(x))
        assert out[name]["new"] == pytest.approx(statistics.mean(y))
        assert out[name]["diff"] == pytest.approx(statistics.mean(d))
        assert out[name]["relative"] == pytest.approx(statistics.mean(d) / statistics.mean(x))
        assert out[name]["p_value"] == pytest.approx(2 * (1 - statistics.NormalDist().cdf(abs(t))))


def test_bootstrap_ci_matches_normal_theory():
    rng = np.random.default_rng(1)
    base = rng.integers(1, 40, size=4000)
    new = rng.integers(1, 30, size=4000)
    out = paired_comparison(base, new)["ndcg@10"]
    d = np.array(ndcg10(new)) - np.array(ndcg10(base))
    half_width = 1.959964 * d.std(ddof=1) / math.sqrt(len(d))
    assert (out["ci_high"] - out["ci_low"]) / 2 == pytest.approx(half_width, rel=0.1)
    assert (out["ci_high"] + out["ci_low"]) / 2 == pytest.approx(out["diff"], abs=0.1 * half_width)
    assert out["ci_low"] < out["diff"] < out["ci_high"]


def test_bootstrap_resamples_every_user():
    # the whole difference comes from user 0: most resamples contain that user, so the upper end is > 0
    base = np.full(20, 50)
    new = base.copy()
    new[0] = 1
    out = paired_comparison(base, new)["recall@10"]
    # a resample misses user 0 with probability (19/20)^20 = 36%, so the 2.5% end is 0
    assert out["ci_low"] == 0.0 and out["ci_high"] >= 1 / 20


def test_defaults_are_2000_resamples_with_seed_0_and_the_seed_matters():
    rng = np.random.default_rng(2)
    base, new = rng.integers(1, 30, size=300), rng.integers(1, 30, size=300)
    default = paired_comparison(base, new)
    assert default == paired_comparison(base, new, n_boot=2000, seed=0)
    assert default == paired_comparison(base, new)
    assert default["ndcg@10"]["ci_low"] != paired_comparison(base, new, seed=1)["ndcg@10"]["ci_low"]
    assert default["ndcg@10"]["ci_low"] != paired_comparison(base, new, n_boot=2001)["ndcg@10"]["ci_low"]


def test_zero_baseline_has_zero_relative_change():
    base = np.array([50, 60, 70])
    out = paired_comparison(base, np.array([1, 60, 70]))["recall@10"]
    assert out["base"] == 0.0 and out["new"] == pytest.approx(1 / 3) and out["relative"] == 0.0


def test_two_users_are_enough_for_a_t_test():
    out = paired_comparison(np.array([20, 20]), np.array([1, 3]))["ndcg@10"]
    d = [1.0, 0.5]  # ndcg@10 of ranks 1 and 3 minus 0
    t = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(2))
    assert out["p_value"] == pytest.approx(2 * (1 - statistics.NormalDist().cdf(t)))


def test_one_user_gives_no_evidence_and_no_users_give_zeros():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no standard deviation of a single difference is attempted
        one = paired_comparison(np.array([20]), np.array([1]))["recall@10"]
    assert one["diff"] == 1.0 and one["p_value"] == 1.0 and one["ci_low"] == one["ci_high"] == 1.0
    none = paired_comparison(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert set(none) == {"ndcg@10", "recall@10", "ndcg@20", "recall@20"}
    assert none["ndcg@10"] == {
        "base": 0.0,
        "new": 0.0,
        "diff": 0.0,
        "relative": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "p_value": 1.0,
    }


def test_shapes_must_match():
    with pytest.raises(ValueError, match="^paired comparison needs the same users in the same order$"):
        paired_comparison(np.ones(3, dtype=np.int64), np.ones(4, dtype=np.int64))


def test_relative_interval_puts_the_ci_on_the_relative_scale():
    c = {"base": 0.05, "new": 0.055, "diff": 0.005, "relative": 0.1, "ci_low": -0.001, "ci_high": 0.01, "p_value": 0.2}
    rel, low, high = relative_interval(c)
    assert (rel, low, high) == pytest.approx((0.1, -0.02, 0.2))
    assert relative_interval({**c, "base": 0.0}) is None
