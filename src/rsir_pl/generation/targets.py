"""The fidelity targets of a generation attempt (RSIR-SPEC §2, §3.4): which seed items a check
tests before the first step, at each step, and the record of what was tested that the leakage
guard verifies."""

from __future__ import annotations

import numpy as np
import torch

from rsir_pl.data.store import SequenceStore


def initial_targets(seeds: np.ndarray, prefix: np.ndarray, held: np.ndarray) -> np.ndarray:
    """``[B, Ls]`` mask of each row's fidelity targets before its first step (RSIR-SPEC §2, §3.4).

    The first occurrence of every item of the seed ``seeds [B, Ls]`` (right-padded with 0) that is
    not in its prefix of ``prefix [B]`` items, except the root user's validation and test items
    ``held [B, 2]``, which are never targets.
    """
    after_prefix = np.arange(seeds.shape[1])[None, :] >= prefix[:, None]
    is_held = (seeds[:, :, None] == held[:, None, :]).any(axis=2)
    return first_occurrences(seeds) & after_prefix & ~is_held


def step_targets(tgt: torch.Tensor, is_item: torch.Tensor, remaining: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The targets one step's check tests, and the rows whose true future the step exhausted.

    ``tgt [B, Ls]`` are the targets before the step, ``is_item`` marks the proposed item's seed
    positions. With ``remaining`` the check tests ``tgt`` without the item; when none is left the item was
    the last target, the step is accepted and the attempt ends. Otherwise it tests ``tgt``.
    """
    if not remaining:
        return tgt, torch.zeros(tgt.shape[0], dtype=torch.bool, device=tgt.device)
    check_tgt = tgt & ~is_item
    return check_tgt, ~check_tgt.any(dim=1)


def tested_items(seeds: np.ndarray, tested: np.ndarray, root: np.ndarray) -> SequenceStore:
    """Per row, the seed items (ascending) at the positions ``tested [B, Ls]`` its checks tested."""
    counts = tested.sum(axis=1)
    items = np.sort(np.where(tested, seeds, np.iinfo(seeds.dtype).max), axis=1)
    kept = np.arange(seeds.shape[1])[None, :] < counts[:, None]
    return SequenceStore(items[kept], np.concatenate([[0], np.cumsum(counts)]), root)


def first_occurrences(S: np.ndarray) -> np.ndarray:
    """True where an entry is the first occurrence of its value in its row (padding 0 never is)."""
    order = np.argsort(S, axis=1, kind="stable")  # stable: equal values keep their row order
    srt = np.take_along_axis(S, order, axis=1)
    starts = np.ones_like(srt, dtype=bool)
    starts[:, 1:] = srt[:, 1:] != srt[:, :-1]
    out = np.empty_like(starts)
    np.put_along_axis(out, order, starts, axis=1)
    return out & (S != 0)
