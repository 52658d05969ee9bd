"""A plain, one-sequence-at-a-time implementation of the generation rules (RSIR-SPEC §3).

Written to be read, not to be fast: Python sets, full score vectors, no batching, no cache. Tests
check that the batched :class:`~rsir_pl.generation.generator.Generator` makes exactly the same
decisions from the same keyed random draws, and the generation benchmark times both.
"""

from __future__ import annotations

import numpy as np
import torch

from rsir_pl import draws
from rsir_pl.config import GenerationConfig
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.fidelity import tie_pessimistic_rank
from rsir_pl.generation.generator import Candidates, seed_indices
from rsir_pl.models.base import SequentialRecommender


def reference_generate(
    model: SequentialRecommender,
    store: SequenceStore,
    held_out: np.ndarray,
    config: GenerationConfig,
    seed: int = 0,
    iteration: int = 0,
    seeds: np.ndarray | None = None,
) -> Candidates:
    """Run every attempt of every seed sequence one by one; same output type as the generator."""
    if config.fidelity not in ("exact", "none"):
        raise ValueError("the reference implements the exact check (and none) only")
    if seeds is None:
        seeds = seed_indices(store, config)
    model.eval()
    all_lengths = np.sort(store.lengths[store.lengths >= 2])
    out_seq, out_att, out_prefix, out_acc, out_items, out_tested = [], [], [], [], [], []
    proposed = accepted_total = 0
    with torch.inference_mode():
        for s_idx in seeds:
            s = [int(x) for x in store[s_idx]]
            root = int(store.root[s_idx])
            never_target = {int(held_out[root, 0]), int(held_out[root, 1])}
            for j in range(config.m):
                ctx, n_acc, n_prop, tested = _one_attempt(
                    model, s, never_target, config, seed, iteration, int(s_idx), j, all_lengths
                )
                proposed += n_prop
                accepted_total += n_acc
                out_seq.append(int(s_idx))
                out_att.append(j)
                out_prefix.append(len(ctx) - n_acc)
                out_acc.append(n_acc)
                out_items.append(ctx)
                out_tested.append(sorted(tested))
    roots = store.root[np.asarray(out_seq, dtype=np.int64)] if out_seq else np.zeros(0, np.int64)
    sequences = SequenceStore.from_lists(out_items, root=roots, generation=np.full(len(out_items), iteration + 1))
    targets = SequenceStore.from_lists(out_tested, root=roots) if config.fidelity != "none" else None
    return Candidates(
        np.asarray(out_seq, dtype=np.int64),
        np.asarray(out_att, dtype=np.int64),
        np.asarray(out_prefix, dtype=np.int64),
        np.asarray(out_acc, dtype=np.int64),
        sequences,
        {"attempts": float(len(out_seq)), "proposed_steps": float(proposed), "accepted_steps": float(accepted_total)},
        targets,
    )


def _scores(model: SequentialRecommender, ctx: list[int]) -> torch.Tensor:
    """Full score vector over ids 0..N (padding at -inf) after the context ``ctx``."""
    h = model.last_hidden(torch.tensor([ctx[-model.max_len :]], device=model.device))
    return model.score_all(h)[0]


def _prefix_length(length: int, cfg: GenerationConfig, key: tuple[int, int, int, int]) -> int:
    """RSIR-SPEC §3 step 1: uniform in 1..length-1, capped at max_len-1 so that a step fits."""
    if cfg.prefix == "first":
        return 1
    hi = min(length - 1, cfg.max_len - 1)
    return 1 + int(np.floor(draws.keyed_uniform(*key, 0, draws.PREFIX) * hi))


def _stop_length(
    all_lengths: np.ndarray, cfg: GenerationConfig, key: tuple[int, int, int, int], prefix_len: int
) -> int:
    """Without a check: a length drawn from D_k's sorted lengths (>= 2), kept within prefix+1..max_len."""
    u = draws.keyed_uniform(*key, 0, draws.STOP_LENGTH)
    drawn = int(all_lengths[min(int(u * len(all_lengths)), len(all_lengths) - 1)])
    return int(np.clip(drawn, prefix_len + 1, cfg.max_len))


def _one_attempt(
    model: SequentialRecommender,
    s: list[int],
    never_target: set[int],
    cfg: GenerationConfig,
    seed: int,
    iteration: int,
    s_idx: int,
    attempt: int,
    all_lengths: np.ndarray,
) -> tuple[list[int], int, int, set[int]]:
    """One attempt of Algorithm 1; returns (context, accepted steps, proposed steps, the items
    its fidelity checks tested as targets)."""
    key = (seed, iteration, s_idx, attempt)
    prefix_len = _prefix_length(len(s), cfg, key)
    ctx = s[:prefix_len]
    # the true future: the seed's items after the prefix, never the user's validation/test items
    tgt = set(s) - set(ctx) - never_target
    tested: set[int] = set()
    stop_len = cfg.max_len
    if cfg.fidelity == "none":
        stop_len = _stop_length(all_lengths, cfg, key, prefix_len)
    elif not tgt:
        return ctx, 0, 0, tested
    scores = _scores(model, ctx)
    n_items = scores.shape[0] - 1
    accepted = proposed = 0
    step = 0
    while True:
        # 1. the candidate pool: the sequence's own items with probability p, else every item
        exploit = draws.keyed_uniform(*key, step, draws.POOL) < cfg.p
        pool = set(s) if exploit else set(range(1, n_items + 1))
        if cfg.exclude_context:
            pool -= set(ctx)
        # 2. top-k sampling over the pool from the model's own distribution (its trained logit scale)
        ranked = sorted(pool, key=lambda i: -float(scores[i]))[: cfg.top_k]
        if not ranked:
            break
        values = torch.tensor([[float(scores[i]) for i in ranked]], dtype=torch.float64)
        u = torch.tensor(draws.keyed_uniform(*key, step, draws.PICK)).reshape(1)
        item = ranked[int(draws.pick(values, u, cfg.temperature / model.logit_scale)[0])]
        proposed += 1
        # 3. the fidelity check under the new context ctx' = ctx + [item]
        new_scores = _scores(model, ctx + [item])
        # the targets of the check: the remaining true future after appending item (RSIR-SPEC §3.4)
        check_tgt = tgt - {item} if cfg.check_targets == "remaining" else tgt
        if cfg.fidelity == "none":
            ok = True
        elif not check_tgt:
            ok = True  # item was the last true future item: the real future is exhausted
        else:
            tested |= check_tgt
            ok = any(tie_pessimistic_rank(new_scores, t) <= cfg.tau for t in check_tgt)
        if not ok:
            break  # the paper's "break": the attempt ends at the first failed check
        ctx = ctx + [item]
        tgt.discard(item)
        accepted += 1
        scores = new_scores  # the same scores drive the next step's sampling
        step += 1
        if len(ctx) >= stop_len:  # max_len, or the drawn length without a check (<= max_len)
            break
        if cfg.fidelity != "none" and not tgt:
            break
    return ctx, accepted, proposed, tested
