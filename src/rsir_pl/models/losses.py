"""Next-item losses over the targets of a batch, and how real and synthetic targets are weighed.

All losses take the hidden states of the valid positions ``h [M, d]``, their targets ``t [M]``
(ids >= 1) and the item embedding table ``E [N + 1, d]`` (row 0 = padding, never a candidate), and
return one loss per target so the caller decides how to reduce them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def full_softmax_ce(h: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over the whole catalogue (items 1..N)."""
    logits = h @ emb[1:].T
    return F.cross_entropy(logits, t - 1, reduction="none")


def sampled_softmax(
    h: torch.Tensor,
    t: torch.Tensor,
    emb: torch.Tensor,
    num_negatives: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Softmax over the target and ``num_negatives`` uniform negatives shared by the batch.

    A negative equal to the target (an accidental hit) is masked out of that row.
    """
    n_items = emb.shape[0] - 1
    neg = torch.randint(1, n_items + 1, (num_negatives,), device=h.device, generator=generator)
    pos_logit = (h * emb[t]).sum(-1, keepdim=True)
    neg_logit = h @ emb[neg].T
    neg_logit = neg_logit.masked_fill(neg[None, :] == t[:, None], NEG_INF)
    logits = torch.cat([pos_logit, neg_logit], dim=1) / temperature
    return -torch.log_softmax(logits, dim=1)[:, 0]


def bce_one_negative(
    h: torch.Tensor, t: torch.Tensor, emb: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Binary cross-entropy with one uniform negative per target (the original SASRec loss)."""
    n_items = emb.shape[0] - 1
    neg = torch.randint(1, n_items + 1, t.shape, device=h.device, generator=generator)
    pos = (h * emb[t]).sum(-1)
    negl = (h * emb[neg]).sum(-1)
    return F.softplus(-pos) + F.softplus(negl)


def golden_real_weight(real_targets: int, synthetic_targets: int) -> float:
    """w* = (sqrt(k^2 + 4k) - k) / 2 with k = real / synthetic targets (1/phi at k = 1)."""
    if synthetic_targets <= 0:
        return 1.0
    k = real_targets / synthetic_targets
    return (math.sqrt(k * k + 4 * k) - k) / 2


def weighted_mean(losses: torch.Tensor, synthetic: torch.Tensor, real_weight: float | None) -> torch.Tensor:
    """Reduce per-target losses.

    ``real_weight=None`` pools every target equally. Otherwise the result is
    ``w * mean(real) + (1 - w) * mean(synthetic)`` with group means; a batch that holds only one
    group uses that group's mean.
    """
    if real_weight is None:
        return losses.mean()
    syn = synthetic.to(torch.bool)
    n_syn = int(syn.sum())
    n_real = losses.numel() - n_syn
    if n_syn == 0 or n_real == 0:
        return losses.mean()
    real_mean = losses[~syn].mean()
    syn_mean = losses[syn].mean()
    return real_weight * real_mean + (1.0 - real_weight) * syn_mean
