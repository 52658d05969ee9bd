"""A first-order Markov 'backbone' whose scores are set by hand: score(next = j | last = i) = T[i, j].

With the identity as item table, ``encode`` returns the row ``T[last item]``, so a test decides
exactly which items rank where after any context (and can create ties on purpose).
"""

from __future__ import annotations

import torch

from rsir_pl.config import ModelConfig
from rsir_pl.models.base import SequentialRecommender


class MarkovModel(SequentialRecommender):
    def __init__(self, T: torch.Tensor, max_len: int = 20) -> None:
        n = T.shape[0] - 1
        super().__init__(n, max_len, ModelConfig(hidden=n + 1, heads=1))
        with torch.no_grad():
            self.item_emb.weight.copy_(torch.eye(n + 1, dtype=T.dtype))
        self.item_emb.weight.requires_grad_(False)
        self.T = torch.nn.Parameter(T.clone(), requires_grad=False)
        self.to(T.dtype)

    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.T[seqs] * (seqs != 0).unsqueeze(-1)


def table(n: int, rows: dict[int, dict[int, float]], default: float = 0.0) -> torch.Tensor:
    """Score table over items 0..n; ``rows[i][j]`` is score(j | i); unspecified entries get
    ``default`` minus a tiny index-dependent amount so that they never tie by accident."""
    T = torch.full((n + 1, n + 1), default, dtype=torch.float64)
    T -= torch.arange(n + 1, dtype=torch.float64)[None, :] * 1e-3
    for i, row in rows.items():
        for j, v in row.items():
            T[i, j] = v
    return T
