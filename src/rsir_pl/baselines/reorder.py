"""Reordering (DA4Rec, Zhou et al. WWW 2024): shuffle one contiguous block of a sequence.

Per augmented copy: the block has ``max(2, int(len * ratio))`` items (DA4Rec's reorder_nums = 2,
reorder_ratio = 0), its start is uniform over the positions where it fits, and its items are
permuted; everything else stays. Sequences shorter than 3 are skipped (DA4Rec skips length 2).

One deviation, documented: DA4Rec's ``random.shuffle`` may return the block unchanged; here the
permutation is drawn uniformly among the non-identity ones (an unchanged copy would be a
duplicate of its source and dropped anyway).
"""

from __future__ import annotations

import numpy as np

from rsir_pl import draws
from rsir_pl.baselines.common import DEFAULT_COPIES, eligible_sources, from_matrix, run_augmentation, shared_prefix
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.generator import GenerationResult

#: shortest sequence that is reordered
MIN_LENGTH = 3
#: redraws of a block permutation that came out as the identity (then: rotate by one)
_RETRIES = 16
_RETRY_STRIDE = 1_000_000


def block_sizes(lengths: np.ndarray, ratio: float) -> np.ndarray:
    """Items shuffled per sequence: ``max(2, int(len * ratio))``, at most the length."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.minimum(lengths, np.maximum(2, np.floor(lengths * ratio).astype(np.int64)))


def reorder_rows(
    store: SequenceStore, seq: np.ndarray, attempt: np.ndarray, *, ratio: float, seed: int, iteration: int
) -> tuple[SequenceStore, np.ndarray, np.ndarray]:
    """One reordered copy per (seq, attempt) row: (sequences of generation ``iteration + 1``,
    prefix_len, ok)."""
    n = len(seq)
    lengths = store.lengths[seq]
    width = int(lengths.max()) if n else 1
    S = store.padded(seq, width, align="right")
    b = block_sizes(lengths, ratio)
    u = draws.keyed_uniform(seed, iteration, seq, attempt, 0, draws.AUG_POS)
    start = np.minimum(np.floor(u * (lengths - b + 1)).astype(np.int64), lengths - b)
    bmax = int(b.max()) if n else 1
    j = np.arange(bmax)[None, :]
    in_block = j < b[:, None]
    perm = np.tile(np.arange(bmax), (n, 1))
    todo = np.ones(n, dtype=bool)
    for r in range(_RETRIES):
        if not todo.any():
            break
        rows = np.flatnonzero(todo)
        keys = draws.keyed_uniform(
            seed, iteration, seq[rows, None], attempt[rows, None], r * _RETRY_STRIDE + j, draws.AUG_SHUFFLE
        )
        keys = np.where(in_block[rows], keys, 2.0)  # positions past the block sort last, in place
        perm[rows] = np.argsort(keys, axis=1, kind="stable")
        todo[rows] = (perm[rows] == np.arange(bmax)[None, :]).all(axis=1)
    if todo.any():  # practically never: rotate the block by one
        rows = np.flatnonzero(todo)
        perm[rows] = np.where(in_block[rows], (j + 1) % b[rows, None], j)
    new = S.copy()
    r_idx = np.repeat(np.arange(n), b)
    within = np.arange(int(b.sum())) - np.repeat(np.cumsum(b) - b, b)
    dst = start[r_idx] + within
    new[r_idx, dst] = S[r_idx, start[r_idx] + perm[r_idx, within]]
    out = from_matrix(new, lengths, store.root[seq], iteration + 1)
    prefix = shared_prefix(new, S, lengths, lengths)
    return out, prefix, np.ones(n, dtype=bool)


def reorder(
    store: SequenceStore,
    *,
    num_sequences: int | None = None,
    ratio: float = 0.0,
    seed: int = 0,
    iteration: int = 0,
    seed_from: str = "all",
    copies: int = DEFAULT_COPIES,
) -> GenerationResult:
    """D'_{k+1} by Reordering from D_k = ``store`` (see the module docstring)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"reorder ratio must lie in [0, 1) (got {ratio})")
    eligible = eligible_sources(store, MIN_LENGTH, seed_from)

    def make_rows(seq: np.ndarray, att: np.ndarray) -> tuple[SequenceStore, np.ndarray, np.ndarray]:
        return reorder_rows(store, seq, att, ratio=ratio, seed=seed, iteration=iteration)

    return run_augmentation(
        store,
        eligible,
        make_rows,
        method="reorder",
        num_sequences=num_sequences,
        seed=seed,
        iteration=iteration,
        copies=copies,
        extra_stats={"reorder_ratio": ratio},
    )
