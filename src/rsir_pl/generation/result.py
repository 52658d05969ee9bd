"""What a generator returns: raw decoded rows (:class:`Candidates`), and D'_{k+1} after the
filters (:class:`GenerationResult`, made by :func:`finalize`: too short, duplicates of each other or
of D_k, and the cap on synthetic interactions)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsir_pl import draws
from rsir_pl.config import GenerationConfig
from rsir_pl.data.dedup import first_new_rows
from rsir_pl.data.store import SequenceStore


@dataclass
class Candidates:
    """Raw rows a generator produced (before duplicate removal and capping)."""

    seq: np.ndarray
    attempt: np.ndarray
    prefix_len: np.ndarray
    accepted: np.ndarray
    sequences: SequenceStore
    counters: dict[str, float] = field(default_factory=dict)
    #: per row, the seed items its fidelity checks tested as targets (None without a check)
    targets: SequenceStore | None = None

    @classmethod
    def concat(cls, parts: Iterable[Candidates]) -> Candidates:
        """Merge parts (e.g. DDP shards) and sort rows by (sequence, attempt)."""
        parts = list(parts)
        seq = np.concatenate([p.seq for p in parts]) if parts else np.zeros(0, np.int64)
        att = np.concatenate([p.attempt for p in parts]) if parts else np.zeros(0, np.int64)
        order = np.lexsort((att, seq))
        store = SequenceStore.concat([p.sequences for p in parts]).select(order)
        counters: dict[str, float] = {}
        for p in parts:
            for k, v in p.counters.items():
                counters[k] = counters.get(k, 0) + v
        targets = None
        if parts and all(p.targets is not None for p in parts):
            targets = SequenceStore.concat([p.targets for p in parts]).select(order)  # type: ignore[misc]
        return cls(
            seq[order],
            att[order],
            np.concatenate([p.prefix_len for p in parts])[order] if parts else np.zeros(0, np.int64),
            np.concatenate([p.accepted for p in parts])[order] if parts else np.zeros(0, np.int64),
            store,
            counters,
            targets,
        )


@dataclass
class GenerationResult:
    """D'_{k+1} with the provenance of every sequence and the run's statistics.

    ``replaces[i]`` (ASReP only; None = all False) says that new sequence ``i`` replaces its
    source, a real sequence of D_k, for training: the source stays in D_k unchanged (so D_k is
    still a prefix of D_{k+1}) but no longer trains or seeds (``SequenceDataModule.replaced``).
    """

    sequences: SequenceStore
    source: np.ndarray
    attempt: np.ndarray
    prefix_len: np.ndarray
    stats: dict[str, Any]
    #: per sequence, the items its fidelity checks tested as targets (None without a check)
    targets: SequenceStore | None = None
    replaces: np.ndarray | None = None

    def replaced_sources(self) -> np.ndarray:
        """Indices in D_k of the sequences this result replaces for training."""
        if self.replaces is None:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.source, dtype=np.int64)[np.asarray(self.replaces, dtype=bool)]


def finalize(
    candidates: Candidates,
    store: SequenceStore,
    config: GenerationConfig,
    seed: int,
    iteration: int,
    real_interactions: int,
) -> GenerationResult:
    """Filter, de-duplicate (against each other and D_k) and cap raw rows into D'_{k+1}."""
    c = candidates
    n = len(c.seq)
    # index arrays over the rows with an accepted step, never per-raw-row arrays: at scale most
    # attempts accept nothing, and per-row lengths and byte keys were the iteration's largest
    # allocations
    offsets = c.sequences.offsets
    accepted_rows = np.flatnonzero(c.accepted >= 1)
    accepted_len = offsets[accepted_rows + 1] - offsets[accepted_rows]
    too_short = int((accepted_len < config.min_len).sum())
    # compared by hash first; only rows whose hashes meet get an exact byte comparison
    idx, duplicates = first_new_rows(store, c.sequences, accepted_rows[accepted_len >= config.min_len])
    del accepted_len
    capped = 0
    if config.max_synthetic_ratio is not None:
        cap = int(config.max_synthetic_ratio * real_interactions)
        prio = draws.keyed_uniform(seed, iteration, c.seq[idx], c.attempt[idx], 0, draws.SUBSAMPLE)
        by_prio = idx[np.argsort(prio, kind="stable")]
        within = np.cumsum(offsets[by_prio + 1] - offsets[by_prio]) <= cap
        idx = np.sort(by_prio[within])
        capped = int((~within).sum())
    out = c.sequences.select(idx)
    counters = c.counters
    proposed = counters.get("proposed_steps", 0.0)
    stats: dict[str, Any] = {
        "iteration": iteration,
        "attempts": int(counters.get("attempts", n)),
        "proposed_steps": int(proposed),
        "accepted_steps": int(counters.get("accepted_steps", 0)),
        "acceptance_rate": counters.get("accepted_steps", 0.0) / proposed if proposed else 0.0,
        "attempts_with_accepted_step": int(len(accepted_rows)),
        "too_short_dropped": too_short,
        "duplicates_dropped": duplicates,
        "capped_dropped": capped,
        "kept_sequences": int(len(idx)),
        "kept_share": len(idx) / n if n else 0.0,
        "kept_interactions": out.num_interactions,
        "mean_generated_length": float(c.accepted[idx].mean()) if len(idx) else 0.0,
        "mean_sequence_length": float(out.lengths.mean()) if len(idx) else 0.0,
        "generation_seconds": counters.get("wall_s", 0.0),
        "profile_forward_s": counters.get("forward_s", 0.0),
        "profile_search_s": counters.get("search_s", 0.0),
        "profile_sampling_s": counters.get("sampling_s", 0.0),
        "profile_check_s": counters.get("check_s", 0.0),
        "profile_agreement_s": counters.get("agreement_s", 0.0),
        "held_out_excluded_targets": int(counters.get("held_out_excluded_targets", 0)),
    }
    if counters.get("agreement_checked"):
        stats["agreement_with_exact"] = counters["agreement_equal"] / counters["agreement_checked"]
        stats["agreement_checked_steps"] = int(counters["agreement_checked"])
    targets = c.targets.select(idx) if c.targets is not None else None
    return GenerationResult(out, c.seq[idx], c.attempt[idx], c.prefix_len[idx], stats, targets=targets)
