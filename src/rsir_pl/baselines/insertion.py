"""Insertion (CoSeRec, Liu et al. 2021; as a data augmentation as in DA4Rec).

Per augmented copy and inserted item: pick a position uniformly, and insert, before the item at
that position, the item most similar to it that is not already in the sequence (ties: smaller
id first). Similarity is offline ItemCF-IUF built from D_0, the real users' **training parts**
only (validation and test items never enter it): every user contributes ``1 / log(1 + |S_u|)``
to the co-occurrence of each pair of distinct items in its training part ``S_u`` (items as a
set), normalised by ``sqrt(N_i * N_j)`` with ``N_i`` the number of users whose training part holds
``i`` (CoSeRec ``OfflineItemSimilarity``, DA4Rec ``memorybasedItemSampler``).

An item that co-occurs with nothing (or with nothing outside the sequence) gives no candidate:
that copy fails and, when a count is requested, another attempt takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsir_pl import draws
from rsir_pl.baselines.common import DEFAULT_COPIES, eligible_sources, from_matrix, run_augmentation, shared_prefix
from rsir_pl.data.store import SequenceStore, _ranges
from rsir_pl.generation.generator import GenerationResult

#: shortest sequence that gets an insertion
MIN_LENGTH = 1
#: co-occurrence pairs aggregated at once (bounds memory)
_PAIR_CHUNK = 4_000_000


@dataclass
class ItemSimilarity:
    """ItemCF-IUF neighbours of every item, most similar first (CSR over item ids 0..N).

    ``neighbours[indptr[i]:indptr[i + 1]]`` are the items co-occurring with ``i`` in some
    training part, by decreasing ``scores`` (ties by increasing id).
    """

    indptr: np.ndarray
    neighbours: np.ndarray
    scores: np.ndarray
    num_items: int

    @classmethod
    def from_training(cls, d0: SequenceStore, num_items: int) -> ItemSimilarity:
        """Build the similarity from D_0 (pass the real training parts only)."""
        n1 = num_items + 1
        # (user, item) pairs without repeats: items as sets per user
        users = np.repeat(np.arange(len(d0)), d0.lengths)
        key = np.unique(users.astype(np.int64) * n1 + d0.items.astype(np.int64))
        u, it = key // n1, key % n1
        count = np.bincount(u, minlength=len(d0))
        start = np.zeros(len(d0) + 1, dtype=np.int64)
        np.cumsum(count, out=start[1:])
        N = np.bincount(it, minlength=n1).astype(np.float64)
        with np.errstate(divide="ignore"):
            w_user = np.where(count > 1, 1.0 / np.log1p(count), 0.0)
        pair_keys: list[np.ndarray] = []
        pair_w: list[np.ndarray] = []
        # users in chunks so that at most ~_PAIR_CHUNK pairs exist at once
        sq = count.astype(np.int64) ** 2
        cum = np.cumsum(sq)
        lo = 0
        while lo < len(d0):
            hi = int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + _PAIR_CHUNK, side="right"))
            hi = max(hi, lo + 1)
            uu = np.arange(lo, hi)
            elem = _ranges(start[uu], count[uu])  # positions of the chunk's (user, item) pairs
            reps = np.repeat(count[uu], count[uu])  # each element pairs with every item of its user
            i_pos = np.repeat(elem, reps)
            j_pos = _ranges(np.repeat(start[uu], count[uu]), reps)
            keep = i_pos != j_pos
            i_pos, j_pos = i_pos[keep], j_pos[keep]
            k = it[i_pos] * n1 + it[j_pos]
            kk, inv = np.unique(k, return_inverse=True)
            pair_keys.append(kk)
            pair_w.append(np.bincount(inv, weights=w_user[u[i_pos]], minlength=len(kk)))
            lo = hi
        if pair_keys:
            kk, inv = np.unique(np.concatenate(pair_keys), return_inverse=True)
            C = np.bincount(inv, weights=np.concatenate(pair_w), minlength=len(kk))
        else:
            kk, C = np.zeros(0, dtype=np.int64), np.zeros(0)
        a, b = kk // n1, kk % n1
        sim = C / np.sqrt(N[a] * N[b])
        order = np.lexsort((b, -sim, a))
        a, b, sim = a[order], b[order], sim[order]
        indptr = np.zeros(n1 + 1, dtype=np.int64)
        np.cumsum(np.bincount(a, minlength=n1), out=indptr[1:])
        return cls(indptr, b.astype(np.int64), sim, num_items)

    def neighbours_of(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores) similar to ``item``, most similar first."""
        lo, hi = self.indptr[item], self.indptr[item + 1]
        return self.neighbours[lo:hi], self.scores[lo:hi]

    def score(self, i: int, j: int) -> float:
        """Similarity of ``i`` and ``j`` (0 when they never co-occur in a training part)."""
        items, scores = self.neighbours_of(i)
        hit = np.flatnonzero(items == j)
        return float(scores[hit[0]]) if len(hit) else 0.0

    def top(self, anchors: np.ndarray, width: int) -> np.ndarray:
        """``[len(anchors), width]`` first neighbours of each anchor, padded with 0."""
        lo = self.indptr[anchors]
        n = np.minimum(self.indptr[anchors + 1] - lo, width)
        out = np.zeros((len(anchors), width), dtype=np.int64)
        rows = np.repeat(np.arange(len(anchors)), n)
        cols = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        out[rows, cols] = self.neighbours[_ranges(lo, n)]
        return out


def most_similar_absent(sim: ItemSimilarity, anchors: np.ndarray, S: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Per row: the anchor's most similar item not among the row's items ``S`` (0 = none).

    Rows are handled in chunks of similar length: a row's items can block at most its length of
    neighbours, so its first ``length + 1`` neighbours decide (the result does not depend on the
    chunking).
    """
    n = len(anchors)
    out = np.zeros(n, dtype=np.int64)
    lengths = (S != 0).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    n1 = sim.num_items + 1
    for lo in range(0, n, chunk):
        idx = order[lo : lo + chunk]
        width = int(lengths[idx].max()) + 1
        rows = S[idx, : width - 1] if width > 1 else S[idx, :0]
        cand = sim.top(anchors[idx], width)
        r = np.arange(len(idx))[:, None]
        present = np.isin(r * n1 + cand, (r * n1 + rows)[rows != 0])
        valid = (cand != 0) & ~present
        first = valid.argmax(axis=1)
        out[idx] = np.where(valid.any(axis=1), cand[np.arange(len(idx)), first], 0)
    return out


def insertion_rows(
    store: SequenceStore,
    sim: ItemSimilarity,
    seq: np.ndarray,
    attempt: np.ndarray,
    *,
    items_per_copy: int,
    seed: int,
    iteration: int,
) -> tuple[SequenceStore, np.ndarray, np.ndarray]:
    """One copy with ``items_per_copy`` insertions per (seq, attempt) row: (sequences, prefix_len, ok)."""
    n = len(seq)
    lengths = store.lengths[seq]
    width = int(lengths.max()) + items_per_copy if n else 1
    S0 = store.padded(seq, width, align="right")
    S = S0.copy()
    cur = lengths.copy()
    ok = np.ones(n, dtype=bool)
    cols = np.arange(width)[None, :]
    for step in range(items_per_copy):
        u = draws.keyed_uniform(seed, iteration, seq, attempt, step, draws.AUG_POS)
        pos = np.minimum(np.floor(u * cur).astype(np.int64), cur - 1)
        anchor = S[np.arange(n), pos]
        item = most_similar_absent(sim, anchor, S)
        ok &= item != 0
        # shift everything from pos one to the right and put the item at pos
        shifted = np.concatenate([np.zeros((n, 1), dtype=S.dtype), S[:, :-1]], axis=1)
        S = np.where(cols < pos[:, None], S, np.where(cols == pos[:, None], item[:, None], shifted))
        cur = cur + 1
    out = from_matrix(S, cur, store.root[seq], iteration + 1)
    return out, shared_prefix(S, S0, cur, lengths), ok


def insertion(
    store: SequenceStore,
    d0: SequenceStore,
    num_items: int,
    *,
    num_sequences: int | None = None,
    items_per_copy: int = 1,
    seed: int = 0,
    iteration: int = 0,
    seed_from: str = "all",
    copies: int = DEFAULT_COPIES,
    similarity: ItemSimilarity | None = None,
) -> GenerationResult:
    """D'_{k+1} by Insertion from D_k = ``store``; similarity from ``d0`` (the real training parts)."""
    if items_per_copy < 1:
        raise ValueError(f"items_per_copy must be >= 1 (got {items_per_copy})")
    if len(d0) and d0.generation.max() > 0:
        raise ValueError("the ItemCF similarity must be built from D_0 (real training parts) only")
    sim = similarity or ItemSimilarity.from_training(d0, num_items)
    eligible = eligible_sources(store, MIN_LENGTH, seed_from)

    def make_rows(seq: np.ndarray, att: np.ndarray) -> tuple[SequenceStore, np.ndarray, np.ndarray]:
        return insertion_rows(store, sim, seq, att, items_per_copy=items_per_copy, seed=seed, iteration=iteration)

    return run_augmentation(
        store,
        eligible,
        make_rows,
        method="insertion",
        num_sequences=num_sequences,
        seed=seed,
        iteration=iteration,
        copies=copies,
        extra_stats={"items_per_copy": items_per_copy, "similarity_pairs": int(len(sim.neighbours))},
    )
