"""Exact duplicate detection between sequence stores with bounded memory.

A 64-bit hash per sequence (vectorised, in blocks of rows) finds the few rows that *could* repeat
another; only those rows get byte keys and an exact set check. Rows whose hash is unique among all
rows considered cannot equal any other row, so the result is exact whatever the hash collides on.
"""

from __future__ import annotations

import numpy as np

from rsir_pl.data.store import SequenceStore
from rsir_pl.draws import mix64

#: rows hashed per block: bounds the temporaries to a few arrays of this many rows' items
HASH_BLOCK_ROWS = 1 << 14
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def sequence_hashes(store: SequenceStore, rows: np.ndarray | None = None) -> np.ndarray:
    """A uint64 hash per sequence of ``store`` (``rows``: only these, in that order).

    Equal sequences get equal hashes; unequal ones almost always differ (callers that need
    exactness compare the items of rows whose hashes meet, as :func:`first_new_rows` does).
    Rows are hashed in blocks, so the temporaries stay small whatever the number of rows.
    """
    n = len(store) if rows is None else len(rows)
    out = np.empty(n, dtype=np.uint64)
    for lo in range(0, n, HASH_BLOCK_ROWS):
        hi = min(n, lo + HASH_BLOCK_ROWS)
        if rows is None:
            st = store.offsets[lo:hi]
            ln = store.offsets[lo + 1 : hi + 1] - st
        else:
            blk = np.asarray(rows[lo:hi], dtype=np.int64)
            st = store.offsets[blk]
            ln = store.offsets[blk + 1] - st
        h = mix64(ln.astype(np.uint64))
        nonempty = np.flatnonzero(ln > 0)
        if len(nonempty):
            ln_ne = ln[nonempty]
            seg = np.repeat(np.arange(len(ln_ne)), ln_ne)
            first = np.zeros(len(ln_ne), dtype=np.int64)
            np.cumsum(ln_ne[:-1], out=first[1:])
            pos = np.arange(len(seg)) - first[seg]
            with np.errstate(over="ignore"):
                # an element's hash depends on its item and its position, so order matters
                vals = store.items[st[nonempty][seg] + pos].astype(np.uint64) * _GOLD
                vals ^= pos.astype(np.uint64)
                vals = mix64(vals)
                h[nonempty] += np.add.reduceat(vals, first)
        out[lo:hi] = h
    return out


def first_new_rows(
    existing: SequenceStore,
    candidates: SequenceStore,
    rows: np.ndarray,
    existing_hashes: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Which of ``candidates[rows]`` (in that order) repeat neither ``existing`` nor an earlier row.

    Returns (the kept rows, the number dropped as duplicates): exactly what a set of item-byte
    keys seeded with ``existing`` and filled row by row gives. ``existing_hashes``, when given,
    must be :func:`sequence_hashes` of ``existing`` (callers that test several batches against a
    growing store keep them instead of hashing the store again each time).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return rows, 0
    if existing_hashes is not None and len(existing_hashes) != len(existing):
        raise ValueError(f"existing_hashes has {len(existing_hashes)} entries for {len(existing)} sequences")
    h_old = sequence_hashes(existing) if existing_hashes is None else np.asarray(existing_hashes, dtype=np.uint64)
    h_new = sequence_hashes(candidates, rows)
    n_old = len(h_old)
    allh = np.concatenate([h_old, h_new])
    del h_old, h_new
    # rows whose hash meets another row's: the only ones that can be duplicates
    order = np.argsort(allh)
    sorted_h = allh[order]
    del allh
    meets = np.flatnonzero(sorted_h[1:] == sorted_h[:-1])
    del sorted_h
    shared = np.zeros(len(order), dtype=bool)
    shared[order[meets]] = True
    shared[order[meets + 1]] = True
    del order, meets
    suspect_old = np.flatnonzero(shared[:n_old])
    suspect_new = np.flatnonzero(shared[n_old:])
    keep = np.ones(len(rows), dtype=bool)
    seen = set(existing.sequence_keys(suspect_old))
    duplicates = 0
    for j, key in zip(suspect_new.tolist(), candidates.sequence_keys(rows[suspect_new])):
        if key in seen:
            keep[j] = False
            duplicates += 1
        else:
            seen.add(key)
    return rows[keep], duplicates
