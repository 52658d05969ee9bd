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


def inverse_dual_loss(positive_loss: torch.Tensor) -> torch.Tensor:
    """Inverse Dual Loss of targets whose label is uncertain (arXiv 2311.08302, sec. 3.1.2).

    ``positive_loss = -log p`` is a softmax loss of the target as a positive; its negative loss is
    ``-log(1 - p)``. The two are mixed with weights inversely proportional to their magnitudes
    (``w+ = l- / (l+ + l-)``, ``w- = l+ / (l+ + l-)``, not differentiated), so the label the model
    already finds likelier is the one mostly trained.
    """
    p = torch.exp(-positive_loss).clamp(max=1.0 - 1e-6)
    negative_loss = -torch.log1p(-p)
    with torch.no_grad():
        total = (positive_loss + negative_loss).clamp(min=1e-12)
        w_pos, w_neg = negative_loss / total, positive_loss / total
    return w_pos * positive_loss + w_neg * negative_loss


def golden_real_weight(real_targets: int, synthetic_targets: int) -> float:
    """w* = (sqrt(k^2 + 4k) - k) / 2 with k = real / synthetic targets (1/phi at k = 1)."""
    if synthetic_targets <= 0:
        return 1.0
    k = real_targets / synthetic_targets
    return (math.sqrt(k * k + 4 * k) - k) / 2


def weighted_mean(
    losses: torch.Tensor,
    synthetic: torch.Tensor,
    real_weight: float | None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce per-target losses.

    ``real_weight=None`` pools every target (weighted mean with ``sample_weight`` when given).
    Otherwise the result is ``w * mean(real) + (1 - w) * mean(synthetic)`` with (weighted) group
    means; a batch that holds only one group uses that group's mean.
    """
    wts = torch.ones_like(losses) if sample_weight is None else sample_weight.to(losses.device, losses.dtype)

    def mean(mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return (losses * wts).sum() / wts.sum().clamp(min=1e-12)
        return (losses[mask] * wts[mask]).sum() / wts[mask].sum().clamp(min=1e-12)

    if real_weight is None:
        return mean()
    syn = synthetic.to(torch.bool)
    n_syn = int(syn.sum())
    if n_syn == 0 or n_syn == losses.numel():
        return mean()
    return real_weight * mean(~syn) + (1.0 - real_weight) * mean(syn)


def generation_weights(generation: torch.Tensor, decay: float | None) -> torch.Tensor | None:
    """Per-target weight decay^(g - 1) for synthetic generation g >= 1, 1 for real targets."""
    if decay is None:
        return None
    g = generation.to(torch.float64)
    return torch.where(g > 0, torch.pow(torch.as_tensor(decay, dtype=torch.float64), g - 1), torch.ones_like(g))


def adaptive_item_weights(
    item_counts: torch.Tensor | list[int],
    buckets: int = 5,
    alpha: float = 1.0,
    w_max: float = 10.0,
    previous: torch.Tensor | None = None,
    momentum: float = 0.9,
) -> torch.Tensor:
    """Per-item loss weights from the sparsity of the item's popularity bucket (our
    parametrisation, inspired by arXiv 2510.04375, whose exact equation is not public).

    Items are split into ``buckets`` equal-size popularity buckets ("domains"); bucket d with
    N_d target occurrences out of N gets raw weight (N / N_d)^alpha, clipped at ``w_max`` times
    the densest bucket's, then renormalised so that sum_d (N_d / N) w_d = 1 (the loss scale is
    kept). With ``previous`` weights the result moves towards the raw ones by ``1 - momentum``
    (an exponential moving average across iterations). Index 0 (padding) gets weight 0.
    """
    counts = torch.as_tensor(item_counts, dtype=torch.float64)
    n_items = counts.numel() - 1
    order = torch.argsort(counts[1:], descending=True, stable=True) + 1
    bucket = torch.zeros(n_items + 1, dtype=torch.long)
    bucket[order] = torch.arange(n_items) * buckets // max(n_items, 1)
    mass = torch.zeros(buckets, dtype=torch.float64).index_add_(0, bucket[1:], counts[1:])
    total = mass.sum().clamp(min=1.0)
    share = mass / total
    present = mass > 0
    raw = torch.where(present, (total / mass.clamp(min=1e-12)) ** alpha, torch.zeros_like(mass))
    if bool(present.any()):
        raw = torch.clamp(raw / raw[present].min(), max=w_max) * present
    raw = raw / (share * raw).sum().clamp(min=1e-12)
    w = raw[bucket]
    w[0] = 0.0
    if previous is not None:
        w = momentum * previous.to(torch.float64) + (1.0 - momentum) * w
        w[0] = 0.0
    return w.to(torch.float32)
