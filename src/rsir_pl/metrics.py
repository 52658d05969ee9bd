"""Full-ranking metrics with ties counted against the target.

The rank of the target among all items is ``1 + #{other items j : score_j >= score_target}``, so a
constant scorer ranks every target last among its ties (its metrics are about 0, never 1).
With one target per user, IDCG = 1: NDCG@k = 1/log2(rank + 1) for rank <= k, Recall@k = HR@k,
Precision@k = HR@k / k and F1@k = 2 HR@k / (k + 1) per user.

:class:`FullRankingMetrics` keeps only scalar sums (synced across DDP ranks with one all-reduce);
``torchmetrics.retrieval`` stores every score and loops in Python, far too slow for full ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


def target_rank(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1-based tie-pessimistic rank of ``target[b]`` among ``scores[b]`` (masked items = -inf).

    Raises on NaN scores, which would otherwise compare false and flatter the model.
    """
    if torch.isnan(scores).any():
        raise ValueError("NaN in ranking scores: the model produced invalid outputs")
    t_score = scores.gather(1, target.view(-1, 1))
    # counts the target itself once (score >= own score), which is the "1 +"
    return (scores >= t_score).sum(dim=1)


def metrics_from_ranks(ranks: torch.Tensor, ks: Sequence[int] = (10, 20)) -> dict[str, torch.Tensor]:
    """Per-user metric values (no averaging) from 1-based ranks."""
    r = ranks.to(torch.float64)
    out: dict[str, torch.Tensor] = {"mrr": 1.0 / r}
    for k in ks:
        hit = (r <= k).to(torch.float64)
        out[f"recall@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(r + 1.0)
        out[f"mrr@{k}"] = hit / r
        out[f"precision@{k}"] = hit / k
        out[f"f1@{k}"] = 2.0 * hit / (k + 1)
    return out


class FullRankingMetrics(Metric):
    """NDCG, Recall, MRR, Precision and F1 at several cutoffs, over full-catalogue ranks."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, ks: Sequence[int] = (10, 20), **kwargs) -> None:
        super().__init__(**kwargs)
        self.ks = tuple(int(k) for k in ks)
        self.names = list(metrics_from_ranks(torch.ones(1), self.ks))
        for name in self.names:
            self.add_state(_state(name), default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(  # type: ignore[override]
        self,
        scores: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        *,
        ranks: torch.Tensor | None = None,
    ) -> None:
        """Add a batch: ``scores [B, N + 1]`` (masked items -inf) and ``target [B]``, or
        precomputed 1-based ``ranks [B]``."""
        if ranks is None:
            if scores is None or target is None:
                raise ValueError("update() needs scores and target, or ranks")
            ranks = target_rank(scores, target)
        for name, values in metrics_from_ranks(ranks, self.ks).items():
            setattr(self, _state(name), getattr(self, _state(name)) + values.sum())
        self.count += ranks.numel()

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Mean of every metric over the users seen."""
        n = self.count.clamp(min=1).to(torch.float64)
        return {name: getattr(self, _state(name)) / n for name in self.names}


def _state(name: str) -> str:
    return "sum_" + name.replace("@", "_at_")
