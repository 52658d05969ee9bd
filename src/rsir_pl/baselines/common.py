"""What every augmentation baseline shares: which sequences it may start from, how many copies
it makes, duplicate removal, and the :class:`GenerationResult` it returns.

A baseline describes one augmented copy per (source sequence, attempt) row with a vectorised
``make_rows(seq, attempt)`` whose randomness is keyed by (seed, iteration, seq, attempt, ...), so
a row's output does not depend on which other rows are processed with it.

* ``num_sequences=None``: ``copies`` attempts per eligible sequence (DA4Rec: 2), in (sequence,
  attempt) order; failed rows and duplicates are dropped, so fewer may remain.
* ``num_sequences=n``: rounds of one attempt per eligible sequence, the sequences of round ``a``
  in a keyed random order; rows are taken in that order until ``n`` new distinct sequences are
  kept. Further rounds run while they still add something (at most ``ceil(n / eligible) + 8``);
  a shortfall is reported in the statistics.

Duplicates are dropped like :func:`rsir_pl.generation.generator.finalize` does, against every
sequence of D_k and against each other, by :func:`rsir_pl.data.dedup.first_new_rows` (hashes
first, bytes only where hashes meet, so no key set over all of D_k is built; D_k is hashed once
per call, not once per round).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rsir_pl import draws
from rsir_pl.data.dedup import first_new_rows, sequence_hashes
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.generator import GenerationResult

log = logging.getLogger(__name__)

#: make_rows(seq, attempt) -> (new sequences, one per row; prefix_len per row; ok per row)
RowMaker = Callable[[np.ndarray, np.ndarray], tuple[SequenceStore, np.ndarray, np.ndarray]]

#: DA4Rec's reorder_n_times / insert_n_times
DEFAULT_COPIES = 2


def eligible_sources(store: SequenceStore, min_length: int, seed_from: str = "all") -> np.ndarray:
    """Indices of D_k's sequences a baseline may augment (``seed_from=real``: originals only)."""
    ok = store.lengths >= min_length
    if seed_from == "real":
        ok &= store.generation == 0
    return np.flatnonzero(ok)


def shared_prefix(new: np.ndarray, old: np.ndarray, new_len: np.ndarray, old_len: np.ndarray) -> np.ndarray:
    """Per row, how many leading items two right-padded matrices share (within both lengths)."""
    width = min(new.shape[1], old.shape[1])
    n = np.minimum(new_len, old_len)
    same = new[:, :width] == old[:, :width]
    same &= np.arange(width)[None, :] < n[:, None]
    first_diff = np.where(same.all(axis=1), width, (~same).argmax(axis=1))
    return np.minimum(first_diff, n).astype(np.int64)


def from_matrix(mat: np.ndarray, lengths: np.ndarray, root: np.ndarray, generation: int) -> SequenceStore:
    """A store from a right-padded matrix (row i keeps its first ``lengths[i]`` entries)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    mask = np.arange(mat.shape[1])[None, :] < lengths[:, None]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return SequenceStore(mat[mask].astype(np.int32), offsets, root, np.full(len(lengths), generation))


def run_augmentation(
    store: SequenceStore,
    eligible: np.ndarray,
    make_rows: RowMaker,
    *,
    method: str,
    num_sequences: int | None,
    seed: int,
    iteration: int,
    copies: int = DEFAULT_COPIES,
    extra_stats: dict[str, Any] | None = None,
) -> GenerationResult:
    """Run a baseline's rows, keep distinct new sequences, and package D'_{k+1} with statistics."""
    t0 = time.perf_counter()
    kept: list[tuple[SequenceStore, np.ndarray, np.ndarray, np.ndarray]] = []
    counters = {"attempts": 0, "failed": 0, "duplicates": 0, "kept": 0, "rounds": 0}
    # D_k is hashed once; each round adds only the hashes of the rows it kept
    known_hashes = [sequence_hashes(store)]

    def process(rows_seq: np.ndarray, rows_att: np.ndarray, limit: int | None) -> int:
        new, prefix, ok = make_rows(rows_seq, rows_att)
        existing = SequenceStore.concat([store, *(k[0] for k in kept)]) if kept else store
        # whether a row is new depends only on the rows before it, so the rows a limit lets
        # through are the first `limit` of the rows new against everything before them
        fresh, _ = first_new_rows(existing, new, np.flatnonzero(ok), np.concatenate(known_hashes))
        if limit is not None and len(fresh) >= limit:
            fresh = fresh[:limit]
            used = int(fresh[-1]) + 1 if limit else 0
        else:
            used = len(rows_seq)
        n_ok = int(np.count_nonzero(ok[:used]))
        counters["failed"] += used - n_ok
        counters["duplicates"] += n_ok - len(fresh)
        counters["attempts"] += used
        counters["rounds"] += 1
        sel = fresh.astype(np.int64)
        kept.append((new.select(sel), rows_seq[sel], rows_att[sel], prefix[sel]))
        known_hashes.append(sequence_hashes(new, sel))
        counters["kept"] += len(sel)
        return len(sel)

    if len(eligible) == 0:
        pass
    elif num_sequences is None:
        process(np.repeat(eligible, copies), np.tile(np.arange(copies), len(eligible)), None)
    else:
        max_rounds = math.ceil(num_sequences / len(eligible)) + 8
        for a in range(max_rounds):
            need = num_sequences - counters["kept"]
            if need <= 0:
                break
            prio = draws.keyed_uniform(seed, iteration, eligible, a, 0, draws.AUG_ORDER)
            order = eligible[np.argsort(prio, kind="stable")]
            if process(order, np.full(len(order), a, dtype=np.int64), need) == 0:
                break
    if num_sequences is not None and counters["kept"] < num_sequences:
        log.warning(
            "%s: only %d distinct augmented sequences for the %d requested", method, counters["kept"], num_sequences
        )

    if kept:
        seqs = SequenceStore.concat([k[0] for k in kept])
        source = np.concatenate([k[1] for k in kept]).astype(np.int64)
        attempt = np.concatenate([k[2] for k in kept]).astype(np.int64)
        prefix_len = np.concatenate([k[3] for k in kept]).astype(np.int64)
    else:
        seqs = SequenceStore.empty()
        source = attempt = prefix_len = np.zeros(0, dtype=np.int64)
    order = np.lexsort((attempt, source))
    seqs, source, attempt, prefix_len = seqs.select(order), source[order], attempt[order], prefix_len[order]
    n_kept = len(seqs)
    generated = seqs.lengths - prefix_len
    stats: dict[str, Any] = {
        "iteration": iteration,
        "method": method,
        "eligible_sequences": int(len(eligible)),
        "requested_sequences": num_sequences,
        "attempts": int(counters["attempts"]),
        "rounds": int(counters["rounds"]),
        "failed_attempts": int(counters["failed"]),
        # no fidelity check: every proposed change is accepted
        "acceptance_rate": 1.0,
        "duplicates_dropped": int(counters["duplicates"]),
        "kept_sequences": n_kept,
        "kept_share": n_kept / counters["attempts"] if counters["attempts"] else 0.0,
        "kept_interactions": seqs.num_interactions,
        "shortfall": max(0, (num_sequences or 0) - n_kept),
        # items after the part shared with the source (RSIR: the generated items)
        "mean_generated_length": float(generated.mean()) if n_kept else 0.0,
        "mean_sequence_length": float(seqs.lengths.mean()) if n_kept else 0.0,
        **(extra_stats or {}),
    }
    stats["generation_seconds"] = time.perf_counter() - t0
    return GenerationResult(seqs, source, attempt, prefix_len, stats)
