"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item sequence.

Pre-LayerNorm transformer blocks on ``torch.nn.functional.scaled_dot_product_attention``,
learned positions counted from each sequence's first item by default (so appending an item never
moves earlier positions, which makes key/value caching exact; ``model.positions: fixed_slot`` gives
the original code's window slots, decoded by re-encoding), and the item table shared between input
and output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rsir_pl.config import ModelConfig
from rsir_pl.models.base import FastDropout, SequentialRecommender, attention_mask, fixed_slots, positions


class CausalBlock(nn.Module):
    """Pre-LN block: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, hidden: int, heads: int, inner: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attn_dropout = attn_dropout
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), FastDropout(dropout), nn.Linear(inner, hidden))
        self.drop = FastDropout(dropout)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        B, Lq, D = t.shape
        return t.view(B, Lq, self.heads, D // self.heads).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x [B, Lq, d]``; ``mask [B, 1, Lq, Lk]``; ``past`` = cached (K, V) of earlier positions."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q, k, v = self._split(q), self._split(k), self._split(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        B, H, Lq, dh = a.shape
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, Lq, H * dh)))
        x = x + self.drop(self.ffn(self.ln2(x)))
        return x, (k, v)


class SASRec(SequentialRecommender):
    """Self-attentive sequential recommendation."""

    def __init__(self, num_items: int, max_len: int, config: ModelConfig | None = None) -> None:
        super().__init__(num_items, max_len, config)
        cfg = self.config
        self.pos_emb = nn.Embedding(max_len, cfg.hidden)
        self.emb_drop = FastDropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            CausalBlock(cfg.hidden, cfg.heads, cfg.ffn_mult * cfg.hidden, cfg.dropout, cfg.attn_dropout)
            for _ in range(cfg.layers)
        )
        self.final_ln = nn.LayerNorm(cfg.hidden)
        self._init_weights()

    def embed(self, seqs: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Scaled item embeddings plus positions, dropout, zero at padding."""
        x = self.item_emb(seqs) * self.emb_scale + self.pos_emb(pos.clamp(max=self.max_len - 1))
        return self.emb_drop(x) * (seqs != 0).unsqueeze(-1)

    def _run(self, seqs: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        nonpad = (seqs != 0).unsqueeze(-1)
        mask = attention_mask(seqs)
        x = self.embed(seqs, self.positions_of(seqs))
        cache = []
        for block in self.blocks:
            x, kv = block(x, mask)
            x = x * nonpad
            cache.append(kv)
        return self.final_ln(x), cache

    def positions_of(self, seqs: torch.Tensor) -> torch.Tensor:
        """Position ids of left-padded ``seqs`` under ``model.positions``."""
        if self.config.positions == "fixed_slot":
            return fixed_slots(seqs, self.max_len)
        return positions(seqs)

    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        return self._run(seqs)[0]

    # ------------------------------------------------------------------ cached decoding
    @property
    def reencodes(self) -> bool:
        """Fixed slots move on every append, so cached keys would carry stale positions."""
        return self.config.positions == "fixed_slot"

    def start_decoding(self, seqs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.reencodes:
            return super().start_decoding(seqs)
        h, cache = self._run(seqs)
        state = {
            "kv": cache,
            "key_valid": seqs != 0,
            "length": (seqs != 0).sum(dim=1),
        }
        return h[:, -1], state

    def extend_decoding(self, state: Any, items: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.reencodes:
            return super().extend_decoding(state, items)
        items = items.view(-1, 1)
        key_valid = torch.cat([state["key_valid"], torch.ones_like(items, dtype=torch.bool)], dim=1)
        mask = key_valid[:, None, None, :]
        x = self.embed(items, state["length"].view(-1, 1))
        new_cache = []
        for block, past in zip(self.blocks, state["kv"]):
            x, kv = block(x, mask, past)
            new_cache.append(kv)
        h = self.final_ln(x)[:, -1]
        return h, {"kv": new_cache, "key_valid": key_valid, "length": state["length"] + 1}

    def select_decoding(self, state: Any, rows: torch.Tensor) -> Any:
        if self.reencodes:
            return super().select_decoding(state, rows)
        return {
            "kv": [(k[rows], v[rows]) for k, v in state["kv"]],
            "key_valid": state["key_valid"][rows],
            "length": state["length"][rows],
        }
