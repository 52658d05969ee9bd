"""HSTU (Zhai et al., ICML 2024, "Actions Speak Louder than Words"): pointwise gated attention.

A dense PyTorch version of the research code's layer (``generative-recommenders`` research
``hstu.py``; equations and defaults in ``shared/reference/backbones.md`` §1.1):

* input: ``emb * sqrt(d) + learned position``, dropout, padding zeroed;
* per layer: parameter-free LayerNorm, one bias-free linear map to U, V, Q, K through SiLU,
  attention ``SiLU(Q K^T + rab) / n`` under a causal mask (no softmax, no 1/sqrt(d)), output
  ``x + Linear(dropout(U * LayerNorm(A V)))``; no feed-forward block;
* ``rab``: one learned scalar per relative distance, per layer, shared by the heads, plus (with
  ``hstu_time_bias``) one learned scalar per time bucket ``clamp(floor(ln|t_q - t_k| / 0.301),
  0, 128)``, ``t_q`` being the timestamp of the item the query position predicts and ``t_k`` the
  key's timestamp.

Differences from the research code, on purpose:

* the time part of ``rab`` is added only where both timestamps exist: synthetic sequences and
  generation carry none, so rows without timestamps get the position part alone (the research
  code has no such rows);
* ``n`` is ``max_len`` for ``hstu_norm="n_padded"`` (the research code divides by its padded
  length, ``max_len + 11`` output slots that do not exist here); ``"true_len"`` divides by the
  number of real keys a query sees and ``"softmax"`` is the ``softmax_rel_bias`` ablation;
* without ``hstu_l2norm`` the output goes through a LayerNorm (the research code's ``layer_norm``
  output postprocessor); with it, user outputs and the item table are L2-normalised and the loss
  divides the logits by ``config.temperature`` (ranking is unaffected);
* ``attn_dropout`` is not used: the research code stores it but never applies it.

Positions count from each sequence's first item, so a query's keys, positions and denominator
never change when items are appended: key/value caching is exact.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rsir_pl.config import ModelConfig
from rsir_pl.models.base import FastDropout, SequentialRecommender, positions

#: time buckets of the research code (its ``num_buckets``): indices 0..TIME_BUCKETS
TIME_BUCKETS = 128
#: bucket width in ln-seconds (the research code's ``_bucketization_fn``)
TIME_BUCKET_WIDTH = 0.301


def time_buckets(time_query: torch.Tensor, time_key: torch.Tensor) -> torch.Tensor:
    """Bucket ``[B, Lq, Lk]`` of the gap between each query's and each key's timestamp.

    ``time_query [B, Lq]`` is the timestamp of the item each position predicts, ``time_key
    [B, Lk]`` that of each key; -1 where either is missing (NaN), so no time bias applies there.
    """
    gap = (time_query.unsqueeze(2) - time_key.unsqueeze(1)).double()
    missing = torch.isnan(gap)
    logs = torch.log(gap.abs().nan_to_num(1.0).clamp(min=1.0)) / TIME_BUCKET_WIDTH
    bucket = logs.floor().clamp(0, TIME_BUCKETS).long()
    return bucket.masked_fill(missing, -1)


class HSTULayer(nn.Module):
    """One HSTU layer: x + f2(U * Norm(A(x) V(x))), attention pointwise or softmax."""

    def __init__(
        self, hidden: int, heads: int, max_len: int, dropout: float, norm: str, time_bias: bool = False
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.heads = heads
        self.dh = hidden // heads
        self.max_len = max_len
        self.norm = norm
        self.uvqk = nn.Linear(hidden, 4 * hidden, bias=False)
        self.out = nn.Linear(hidden, hidden)
        # relative position bias: distances 0..max_len-1 (causal, so only non-negative ones occur)
        self.rab = nn.Parameter(torch.zeros(max_len))
        # relative time bias: one scalar per bucket 0..TIME_BUCKETS
        self.tab = nn.Parameter(torch.zeros(TIME_BUCKETS + 1)) if time_bias else None
        self.drop = FastDropout(dropout)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        B, Lq, _ = t.shape
        return t.view(B, Lq, self.heads, self.dh).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        q_pos: torch.Tensor,
        k_pos: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        buckets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x [B, Lq, d]``; positions ``q_pos [B, Lq]``, ``k_pos [B, Lk]`` (keys incl. ``past``);
        ``mask [B, Lq, Lk]`` (True = the query may see the key); ``past`` = cached (K, V);
        ``buckets [B, Lq, Lk]`` = :func:`time_buckets` (-1 = no time bias) or None."""
        normed = F.layer_norm(x, (self.hidden,))
        u, v, q, k = F.silu(self.uvqk(normed)).chunk(4, dim=-1)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        dist = (q_pos[:, :, None] - k_pos[:, None, :]).clamp(0, self.max_len - 1)
        rab = self.rab[dist]
        if buckets is not None and self.tab is not None:
            rab = rab + torch.where(buckets >= 0, self.tab[buckets.clamp(min=0)], 0.0)
        rab = rab.unsqueeze(1)  # [B, 1, Lq, Lk], shared by the heads
        qk = q @ k.transpose(-1, -2)
        m = mask.unsqueeze(1)
        if self.norm == "softmax":
            scores = (qk / math.sqrt(self.dh) + rab).masked_fill(~m, float("-inf"))
            attn = torch.softmax(scores, dim=-1)
        else:
            attn = F.silu(qk + rab) * m
            if self.norm == "n_padded":
                attn = attn / self.max_len
            else:  # true_len: the real keys this query sees (>= 1 so padded queries stay finite)
                attn = attn / mask.sum(dim=-1, keepdim=True).clamp(min=1).unsqueeze(1)
        a = attn @ v
        B, H, Lq, dh = a.shape
        a = a.transpose(1, 2).reshape(B, Lq, H * dh)
        y = u * F.layer_norm(a, (self.hidden,))
        return x + self.out(self.drop(y)), (k, v)


class HSTU(SequentialRecommender):
    """Hierarchical Sequential Transduction Units over item ids, with timestamps when given."""

    def __init__(self, num_items: int, max_len: int, config: ModelConfig | None = None) -> None:
        super().__init__(num_items, max_len, config)
        cfg = self.config
        self.pos_emb = nn.Embedding(max_len, cfg.hidden)
        self.emb_drop = FastDropout(cfg.dropout)
        self.layers = nn.ModuleList(
            HSTULayer(cfg.hidden, cfg.heads, max_len, cfg.dropout, cfg.hstu_norm, cfg.hstu_time_bias)
            for _ in range(cfg.layers)
        )
        self.final_ln = None if cfg.hstu_l2norm else nn.LayerNorm(cfg.hidden)
        self._init_weights()
        # the research code's initialisations where they differ from the shared default
        with torch.no_grad():
            nn.init.trunc_normal_(self.pos_emb.weight, std=math.sqrt(1.0 / cfg.hidden))
            for layer in self.layers:
                nn.init.normal_(layer.rab, std=0.02)
                if layer.tab is not None:
                    nn.init.normal_(layer.tab, std=0.02)
                nn.init.xavier_uniform_(layer.out.weight)

    # ------------------------------------------------------------------ encoder
    def embed(self, seqs: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Scaled item embeddings plus positions, dropout, zero at padding."""
        x = self.item_emb(seqs) * self.emb_scale + self.pos_emb(pos.clamp(max=self.max_len - 1))
        return self.emb_drop(x) * (seqs != 0).unsqueeze(-1)

    def _post(self, x: torch.Tensor) -> torch.Tensor:
        if self.final_ln is None:
            return F.normalize(x, dim=-1, eps=1e-6)
        return self.final_ln(x)

    def _run(
        self, seqs: torch.Tensor, buckets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        valid = seqs != 0
        pos = positions(seqs)
        Lq = seqs.shape[1]
        causal = torch.ones(Lq, Lq, dtype=torch.bool, device=seqs.device).tril()
        mask = causal[None] & valid[:, None, :]
        if self.config.hstu_norm == "softmax":
            # a padded query sees itself so its softmax row is never empty (no NaN)
            mask = mask | torch.eye(Lq, dtype=torch.bool, device=seqs.device)[None]
        x = self.embed(seqs, pos)
        nonpad = valid.unsqueeze(-1)
        cache = []
        for layer in self.layers:
            x, kv = layer(x, pos, pos, mask, buckets=buckets)
            x = x * nonpad
            cache.append(kv)
        return self._post(x), cache

    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        return self._run(seqs)[0]

    def encode_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.hstu_time_bias and "time_key" in batch:
            return self._run(batch["input"], time_buckets(batch["time_query"], batch["time_key"]))[0]
        return self.encode(batch["input"])

    def output_embeddings(self) -> torch.Tensor:
        if self.config.hstu_l2norm:
            return F.normalize(self.item_emb.weight, dim=-1, eps=1e-6)
        return self.item_emb.weight

    @property
    def logit_scale(self) -> float:
        # unit-norm scores are cosines: every loss trains them divided by the temperature
        return 1.0 / self.config.temperature if self.config.hstu_l2norm else super().logit_scale

    def next_item_losses(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # unit-norm logits live in [-1, 1]: the temperature sharpens them (sampled softmax applies it itself)
        if self.config.hstu_l2norm and self.config.loss != "sampled_softmax":
            h = h / self.config.temperature
        return super().next_item_losses(h, t)

    # ------------------------------------------------------------------ cached decoding
    def start_decoding(self, seqs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        h, cache = self._run(seqs)
        valid = seqs != 0
        state = {"kv": cache, "key_valid": valid, "key_pos": positions(seqs), "length": valid.sum(dim=1)}
        return h[:, -1], state

    def extend_decoding(self, state: Any, items: torch.Tensor) -> tuple[torch.Tensor, Any]:
        items = items.view(-1, 1)
        length = state["length"].view(-1, 1)
        key_valid = torch.cat([state["key_valid"], torch.ones_like(items, dtype=torch.bool)], dim=1)
        key_pos = torch.cat([state["key_pos"], length], dim=1)
        mask = key_valid[:, None, :]
        x = self.embed(items, length)
        new_cache = []
        for layer, past in zip(self.layers, state["kv"], strict=True):
            x, kv = layer(x, length, key_pos, mask, past)
            new_cache.append(kv)
        h = self._post(x)[:, -1]
        return h, {"kv": new_cache, "key_valid": key_valid, "key_pos": key_pos, "length": state["length"] + 1}

    def select_decoding(self, state: Any, rows: torch.Tensor) -> Any:
        return {
            "kv": [(k[rows], v[rows]) for k, v in state["kv"]],
            "key_valid": state["key_valid"][rows],
            "key_pos": state["key_pos"][rows],
            "length": state["length"][rows],
        }
