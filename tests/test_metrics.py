"""Full-ranking metrics against a brute-force NumPy reference, ties counted against the target."""

import math

import numpy as np
import pytest
import torch

from rsir_pl.metrics import FullRankingMetrics, metrics_from_ranks, target_rank


def reference_metrics(scores: np.ndarray, target: np.ndarray, ks=(10, 20)) -> dict[str, float]:
    """Plain loops: rank = 1 + number of OTHER items scoring >= the target."""
    out: dict[str, list[float]] = {}
    for s, t in zip(scores, target):
        rank = 1 + sum(1 for j in range(len(s)) if j != t and s[j] >= s[t])
        out.setdefault("mrr", []).append(1.0 / rank)
        for k in ks:
            hit = 1.0 if rank <= k else 0.0
            out.setdefault(f"recall@{k}", []).append(hit)
            out.setdefault(f"ndcg@{k}", []).append(hit / math.log2(rank + 1))
            out.setdefault(f"mrr@{k}", []).append(hit / rank)
            out.setdefault(f"precision@{k}", []).append(hit / k)
            p, r = hit / k, hit
            out.setdefault(f"f1@{k}", []).append(2 * p * r / (p + r) if p + r else 0.0)
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_bruteforce_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 64, 40
    # few distinct values -> many ties
    scores = rng.integers(0, 6, size=(n_users, n_items + 1)).astype(np.float64)
    scores[:, 0] = -np.inf
    target = rng.integers(1, n_items + 1, size=n_users)
    m = FullRankingMetrics()
    m.update(torch.from_numpy(scores[:32]), torch.from_numpy(target[:32]))
    m.update(torch.from_numpy(scores[32:]), torch.from_numpy(target[32:]))
    got = {k: float(v) for k, v in m.compute().items()}
    ref = reference_metrics(scores, target)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k


def test_constant_scorer_scores_about_zero():
    n_items = 1000
    scores = torch.zeros(50, n_items + 1)
    scores[:, 0] = float("-inf")
    target = torch.randint(1, n_items + 1, (50,))
    ranks = target_rank(scores, target)
    assert (ranks == n_items).all()  # every other real item ties, so the target is last
    m = FullRankingMetrics()
    m.update(scores, target)
    assert float(m.compute()["recall@10"]) == 0.0


def test_masked_target_counts_as_miss():
    scores = torch.tensor([[float("-inf"), 3.0, float("-inf"), 1.0]])
    rank = target_rank(scores, torch.tensor([2]))
    assert int(rank) == 4  # ties with every other item, padding included: last


def test_nan_scores_raise():
    scores = torch.tensor([[float("-inf"), float("nan"), 1.0]])
    with pytest.raises(ValueError, match="^NaN in ranking scores: the model produced invalid outputs$"):
        target_rank(scores, torch.tensor([2]))


def test_update_needs_scores_and_target_or_ranks():
    m = FullRankingMetrics()
    scores = torch.tensor([[float("-inf"), 2.0, 1.0]])
    for kwargs in ({"scores": scores}, {"target": torch.tensor([1])}, {}):
        with pytest.raises(ValueError, match=r"^update\(\) needs scores and target, or ranks$"):
            m.update(**kwargs)


def test_other_cutoffs_match_bruteforce():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, size=(30, 12)).astype(np.float64)
    scores[:, 0] = -np.inf
    target = rng.integers(1, 12, size=30)
    m = FullRankingMetrics(ks=(3, 5))
    m.update(torch.from_numpy(scores), torch.from_numpy(target))
    got = {k: float(v) for k, v in m.compute().items()}
    ref = reference_metrics(scores, target, ks=(3, 5))
    assert set(got) == set(ref) and "ndcg@5" in got and "ndcg@10" not in got
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k


def test_one_user_mean_is_that_users_value():
    m = FullRankingMetrics()
    m.update(ranks=torch.tensor([3]))
    out = m.compute()
    assert float(out["ndcg@10"]) == pytest.approx(0.5) and float(out["mrr"]) == pytest.approx(1 / 3)


def test_metrics_from_ranks_values():
    vals = metrics_from_ranks(torch.tensor([1, 3, 11, 25]))
    assert vals["recall@10"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert vals["ndcg@10"][1].item() == pytest.approx(1 / math.log2(4))
    assert vals["recall@20"].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_metric_states_are_scalar_sums():
    m = FullRankingMetrics()
    # every state is a 0-d tensor reduced by sum: a single all-reduce under DDP
    for name, reduce in m._reductions.items():
        assert getattr(m, name).dim() == 0
        assert reduce is not None
