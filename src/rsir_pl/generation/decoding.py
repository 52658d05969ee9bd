"""One decoding step's building blocks: the backbone's (cached or plain) decoding functions, the
left-aligned context a forward pass reads, and the catalogue search with the seed items' scores."""

from __future__ import annotations

import time

import torch

from rsir_pl.generation.index import CatalogueIndex
from rsir_pl.models.base import SequentialRecommender


def decoding_functions(model: SequentialRecommender, kv_cache: bool):  # noqa: ANN201
    """The backbone's (possibly cached) decoding methods, or the plain re-encoding ones."""
    if kv_cache:
        return model.start_decoding, model.extend_decoding, model.select_decoding
    base = SequentialRecommender
    return (
        lambda seqs: base.start_decoding(model, seqs),
        lambda state, items: base.extend_decoding(model, state, items),
        lambda state, rows: base.select_decoding(model, state, rows),
    )


def left_align(ctx: torch.Tensor, n: torch.Tensor, width: int) -> torch.Tensor:
    """Right-padded ``ctx`` rows of lengths ``n`` -> left-padded ``[B, width]``."""
    cols = torch.arange(width, device=ctx.device)[None, :]
    src = cols - (width - n[:, None])
    valid = src >= 0
    out = ctx.gather(1, src.clamp(min=0))
    return torch.where(valid, out, torch.zeros_like(out))


def search_step(
    index: CatalogueIndex,
    emb: torch.Tensor,
    S: torch.Tensor,
    h: torch.Tensor,
    k: int,
    counters: dict[str, float],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-``k`` catalogue scores and ids for the states ``h``, and the scores of each row's seed
    items ``S``, timed into ``counters["search_s"]``."""
    t = time.perf_counter()
    vals, ids = index.search(h, k)
    s_scores = torch.einsum("bld,bd->bl", emb[S], h)
    counters["search_s"] += time.perf_counter() - t
    return vals, ids, s_scores
