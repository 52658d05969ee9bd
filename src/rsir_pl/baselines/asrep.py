"""ASReP (Liu, Fan, Wang, Yu, SIGIR 2021, "Augmenting Sequential Recommendation with Pseudo-Prior
Items via Reversely Pre-training Transformer"; code: github.com/DyGRec/ASReP).

1. A reverse model (:mod:`rsir_pl.baselines.reverse`) is the backbone trained on the training
   parts read backwards, so it predicts the item *before* a sequence.
2. Every training part shorter than ``generation.asrep_threshold`` (M) gets pseudo-prior items:
   the reverse model reads the training part backwards and decodes ``g_1, g_2, ...`` (``g_1`` the
   item just before ``s_1``), each sampled among its ``asrep_top_k`` best-scored items that are
   not in the sequence yet, until the sequence holds ``asrep_length`` items or
   ``asrep_max_items`` were added. The augmented sequence is ``(g_m .. g_1, s_1 .. s_n)``: the real
   training part stays unchanged at its end.
3. Iteration 1's forward model trains on the augmented data, starting from the reverse model's
   weights (``asrep_finetune``; ASReP's left-to-right fine-tuning). With ``asrep+rsir`` the RSIR
   iterations that follow train their models the same way (from the reverse model), so the
   combination differs from ASReP only by RSIR's data.

Published defaults (GenerationConfig): M = 18 and a filled length of 18 (both forward commands of
the authors' README use ``--M 18``; their code prepends while the sequence is shorter than M),
at most 15 items (the README's Beauty command, ``--aug_traindata 15``), greedy decoding (their
``data_augment`` takes the best-ranked item not yet in the sequence), fine-tuning from the
reverse model (``--reversed_pretrain 1``).

**Replacement.** ASReP replaces a short sequence by its augmented version. Here the augmented
sequence is a synthetic sequence of generation 1 (root = the user, ``source`` = the real row,
``prefix_len`` = 0, ``replaces`` = True) and the real sequence stays in D_k unchanged, so D_k is
still a prefix of D_{k+1}, but it is *replaced for training*: the DataModule neither trains on it
nor seeds RSIR generation from it (``SequenceDataModule.replaced``). The model therefore trains
on exactly ASReP's data, and the leakage guard checks that each augmented sequence ends with
exactly its user's training part. Real sequences at least M long are left as they are.

**Held-out items.** The reverse model's inputs are the training parts only (never the validation
or test item, which the authors' code includes), and its training data hold no held-out item
either; a pseudo-prior item may still coincide with the user's validation or test item, as a
proposal of a model that never saw it for that user: ``held_out_in_prepended`` counts them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from rsir_pl import draws
from rsir_pl.baselines.reverse import ReverseModel, reversed_parts
from rsir_pl.config import ASREP_METHODS, GenerationConfig
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore, _ranges
from rsir_pl.generation.generator import GenerationResult
from rsir_pl.models.base import SequentialRecommender

NEG_INF = float("-inf")


def augments(config: GenerationConfig, iteration: int) -> bool:
    """Whether D'_{iteration+1} is ASReP's augmentation (iteration 0 of asrep and asrep+rsir)."""
    return config.method in ASREP_METHODS and iteration == 0


def pseudo_prior_counts(lengths: np.ndarray, config: GenerationConfig) -> np.ndarray:
    """How many pseudo-prior items each sequence of these lengths gets (0 = left as it is)."""
    short = lengths < config.asrep_threshold
    want = np.clip(config.asrep_length - lengths, 0, config.asrep_max_items)
    return np.where(short, want, 0).astype(np.int64)


def prepend_pseudo_prior(
    reverse: ReverseModel,
    split: LeaveOneOutSplit,
    config: GenerationConfig,
    seed: int,
    iteration: int = 0,
) -> GenerationResult:
    """D'_1: an augmented copy of every short training part, each replacing its real one."""
    t0 = time.perf_counter()
    d0 = split.train()
    need = pseudo_prior_counts(d0.lengths, config)
    rows = np.flatnonzero(need > 0)
    pseudo = decode_pseudo_prior(reverse.model, reversed_parts(d0), rows, need[rows], config, seed, iteration)
    got = (pseudo > 0).sum(axis=1)
    ok = got > 0
    rows, pseudo, got = rows[ok], pseudo[ok], got[ok]
    seqs = _prepend(d0, rows, pseudo, got, generation=iteration + 1)
    held = split.held_out_items()[rows]  # [n, 2]
    in_prefix = (pseudo[:, :, None] == held[:, None, :]).any(axis=2) & (pseudo > 0)
    n = len(rows)
    stats: dict[str, Any] = {
        "iteration": iteration,
        "method": "asrep",
        "threshold": config.asrep_threshold,
        "length": config.asrep_length,
        "max_items": config.asrep_max_items,
        "top_k": config.asrep_top_k,
        "eligible_sequences": int((need > 0).sum()),
        "attempts": int((need > 0).sum()),
        "failed_attempts": int((~ok).sum()),
        "acceptance_rate": 1.0,
        "duplicates_dropped": 0,
        "kept_sequences": n,
        "replaced_sequences": n,
        "kept_interactions": seqs.num_interactions,
        "pseudo_prior_items": int(got.sum()),
        "mean_generated_length": float(got.mean()) if n else 0.0,
        "mean_sequence_length": float(seqs.lengths.mean()) if n else 0.0,
        "held_out_targets_used": 0,
        "held_out_in_prepended": int(in_prefix.sum()),
        "reverse_model": {k: v for k, v in reverse.info.items() if k != "history"},
    }
    stats["generation_seconds"] = time.perf_counter() - t0
    zeros = np.zeros(n, dtype=np.int64)
    return GenerationResult(seqs, rows.astype(np.int64), zeros, zeros.copy(), stats, replaces=np.ones(n, dtype=bool))


@torch.inference_mode()
def decode_pseudo_prior(
    model: SequentialRecommender,
    reversed_store: SequenceStore,
    rows: np.ndarray,
    counts: np.ndarray,
    config: GenerationConfig,
    seed: int,
    iteration: int,
) -> np.ndarray:
    """``[len(rows), counts.max()]``: the items the reverse model decodes after each reversed
    sequence (column j = ``g_{j+1}``, 0 where a row needs no more or found no candidate).

    Draws are keyed by (seed, iteration, row, step), so a row's items do not depend on the batch.
    """
    out = np.zeros((len(rows), int(counts.max()) if len(rows) else 0), dtype=np.int64)
    if len(rows) == 0:
        return out
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n_items = model.num_items
    temperature = config.temperature / model.logit_scale
    try:
        for lo in range(0, len(rows), config.batch_size):
            b_rows = rows[lo : lo + config.batch_size]
            b_need = torch.from_numpy(counts[lo : lo + config.batch_size]).to(device)
            width = int(reversed_store.lengths[b_rows].max())
            ctx = reversed_store.padded(b_rows, width)  # newest (s_1) last, left padding
            seen = torch.zeros(len(b_rows), n_items + 1, dtype=torch.bool, device=device)
            ctx_t = torch.from_numpy(ctx).to(device)
            seen.scatter_(1, ctx_t, True)
            h, state = model.start_decoding(ctx_t[:, -model.max_len :])
            live = torch.arange(len(b_rows), device=device)
            keys = torch.from_numpy(b_rows.astype(np.int64)).to(device)
            step = 0
            while live.numel():
                scores = model.score_all(h).masked_fill(seen[live], NEG_INF)
                vals, ids = torch.topk(scores, min(config.asrep_top_k, n_items), dim=1)
                u = draws.keyed_uniform_torch(
                    seed, iteration, keys[live], torch.zeros_like(live), step, draws.ASREP_PICK
                )
                choice = draws.pick(vals, u, temperature)
                item = ids.gather(1, choice.clamp(min=0).unsqueeze(1)).squeeze(1)
                found = choice >= 0
                item = torch.where(found, item, torch.zeros_like(item))
                out[lo + live.cpu().numpy(), step] = item.cpu().numpy()
                seen[live, item] = True
                step += 1
                go = found & (b_need[live] > step)
                if not bool(go.any()):
                    break
                h, state = model.extend_decoding(state, item)
                keep = go.nonzero().squeeze(1)
                h, state, live = h[keep], model.select_decoding(state, keep), live[keep]
    finally:
        model.train(was_training)
    return out


def _prepend(
    d0: SequenceStore, rows: np.ndarray, pseudo: np.ndarray, got: np.ndarray, generation: int
) -> SequenceStore:
    """``(g_m .. g_1) + d0[row]`` per row; ``pseudo[i, :got[i]]`` holds ``g_1 .. g_m``."""
    real = d0.lengths[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(got + real, out=offsets[1:])
    items = np.zeros(int(offsets[-1]), dtype=np.int32)
    pos = _ranges(np.zeros(len(rows), dtype=np.int64), got)  # position within the pseudo-prior part
    row_of = np.repeat(np.arange(len(rows)), got)
    items[np.repeat(offsets[:-1], got) + pos] = pseudo[row_of, np.repeat(got, got) - 1 - pos]
    items[_ranges(offsets[:-1] + got, real)] = d0.items[_ranges(d0.offsets[rows], real)]
    return SequenceStore(items, offsets, d0.root[rows], np.full(len(rows), generation, dtype=np.int64))
