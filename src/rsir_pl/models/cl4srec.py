"""CL4SRec (Xie et al., ICDE 2022): SASRec plus a contrastive loss between augmented views.

The paper has no official code; this follows the description and the de-facto implementations
(DuoRec / RecBole-DA ``cl4srec_aug`` and ``info_nce``; see ``shared/reference/backbones.md`` §3):

* each input sequence of a batch gets two views, made by two *different* operators drawn at
  random from crop (keep a random contiguous ``floor(eta * n)`` items), mask (replace
  ``floor(gamma * n)`` random items by a dedicated mask token) and reorder (shuffle a random
  contiguous ``floor(beta * n)`` span); rows of length <= 1 keep identity views;
* both views go through the shared SASRec encoder; the hidden state after the last item of
  each view is its representation;
* InfoNCE over the 2N views of a batch: each view's positive is its sibling, the other 2N - 2
  views are negatives, similarity = dot product / ``cl_temperature``;
* total loss = next-item loss + ``cl_weight`` * InfoNCE.

The mask token is id ``num_items + 1`` with its own embedding (``mask_emb``), outside the item
table, so it is never a scoring candidate. Augmentations are vectorised and draw from torch's
global RNG (on the batch's device). Decoding reuses SASRec's key/value cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rsir_pl.config import ModelConfig
from rsir_pl.models.base import _trim_left
from rsir_pl.models.sasrec import SASRec

CROP, MASK, REORDER = 0, 1, 2


class CL4SRec(SASRec):
    """SASRec with CL4SRec's sequence-level contrastive objective."""

    def __init__(self, num_items: int, max_len: int, config: ModelConfig | None = None) -> None:
        super().__init__(num_items, max_len, config)
        self.mask_token = self.num_items + 1
        self.mask_emb = nn.Embedding(1, self.config.hidden)
        nn.init.trunc_normal_(self.mask_emb.weight, std=0.02, a=-0.04, b=0.04)

    def embed(self, seqs: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """SASRec's embedding, with the mask token looked up in its own row."""
        is_mask = (seqs == self.mask_token).unsqueeze(-1)
        e = self.item_emb(seqs.masked_fill(is_mask.squeeze(-1), 0))
        e = torch.where(is_mask, self.mask_emb.weight[0], e)
        x = e * self.emb_scale + self.pos_emb(pos.clamp(max=self.max_len - 1))
        return self.emb_drop(x) * (seqs != 0).unsqueeze(-1)

    # ------------------------------------------------------------------ augmentations
    def augment(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views ``[B, L]`` (left-padded) of left-padded ``seqs``, by distinct operators."""
        B = seqs.shape[0]
        op1 = torch.randint(0, 3, (B,), device=seqs.device)
        op2 = (op1 + torch.randint(1, 3, (B,), device=seqs.device)) % 3
        views = torch.stack([self._crop(seqs), self._mask(seqs), self._reorder(seqs)])  # [3, B, L]
        rows = torch.arange(B, device=seqs.device)
        short = ((seqs != 0).sum(dim=1) <= 1).unsqueeze(1)
        v1 = torch.where(short, seqs, views[op1, rows])
        v2 = torch.where(short, seqs, views[op2, rows])
        return v1, v2

    def _span(self, seqs: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per row: (first column of the real items, span start column, span length), all ``[B, 1]``."""
        B, L = seqs.shape
        n = (seqs != 0).sum(dim=1)
        size = torch.floor(n.double() * ratio).long().clamp(min=1).minimum(n.clamp(min=1))
        offset = torch.floor(torch.rand(B, device=seqs.device, dtype=torch.float64) * (n - size + 1)).long()
        first = L - n
        return first.view(-1, 1), (first + offset).view(-1, 1), size.view(-1, 1)

    def _crop(self, seqs: torch.Tensor) -> torch.Tensor:
        """Keep a random contiguous ``floor(crop_ratio * n)`` items, right-aligned."""
        L = seqs.shape[1]
        _, start, size = self._span(seqs, self.config.crop_ratio)
        col = torch.arange(L, device=seqs.device).view(1, -1)
        src = start + size - (L - col)  # column L-1 takes the span's last item
        keep = col >= L - size
        return torch.where(keep, seqs.gather(1, src.clamp(0, L - 1)), torch.zeros_like(seqs))

    def _mask(self, seqs: torch.Tensor) -> torch.Tensor:
        """Replace ``floor(mask_ratio * n)`` random items by the mask token."""
        valid = seqs != 0
        n = valid.sum(dim=1, keepdim=True)
        k = torch.floor(n.double() * self.config.mask_ratio).long()
        # a random rank among each row's real items; padding ranks last
        r = torch.rand(seqs.shape, device=seqs.device).masked_fill(~valid, 2.0)
        rank = r.argsort(dim=1).argsort(dim=1)
        return seqs.masked_fill((rank < k) & valid, self.mask_token)

    def _reorder(self, seqs: torch.Tensor) -> torch.Tensor:
        """Shuffle a random contiguous span of ``floor(reorder_ratio * n)`` items."""
        L = seqs.shape[1]
        _, start, size = self._span(seqs, self.config.reorder_ratio)
        col = torch.arange(L, device=seqs.device).view(1, -1).expand_as(seqs)
        inside = (col >= start) & (col < start + size)
        # sort keys: a column keeps its index outside the span; inside, a random key within
        # [start, start + size) so the span is permuted in place and everything else stays
        u = torch.rand(seqs.shape, device=seqs.device, dtype=torch.float64)
        key = torch.where(inside, start + u * size, col.double())
        return seqs.gather(1, key.argsort(dim=1))

    # ------------------------------------------------------------------ contrastive loss
    def info_nce(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """InfoNCE of paired views ``[N, d]`` with the 2N - 2 other views as negatives."""
        N = z1.shape[0]
        z = torch.cat([z1, z2], dim=0)
        sim = (z @ z.T) / self.config.cl_temperature
        sim = sim.masked_fill(torch.eye(2 * N, dtype=torch.bool, device=z.device), float("-inf"))
        idx = torch.arange(N, device=z.device)
        labels = torch.cat([idx + N, idx])
        return F.cross_entropy(sim, labels)

    def extra_loss(self, batch: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor | None:
        if self.config.cl_weight == 0:
            return None
        seqs = batch["input"]
        seqs = seqs[(seqs != 0).any(dim=1)]
        if seqs.shape[0] == 0:
            return None
        v1, v2 = self.augment(seqs)
        z = self.encode(_trim_left(torch.cat([v1, v2], dim=0)))[:, -1]
        z1, z2 = z.chunk(2, dim=0)
        return self.config.cl_weight * self.info_nce(z1, z2)
