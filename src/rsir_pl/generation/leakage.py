"""The leakage guard, run on every generated dataset before it is used (RSIR-SPEC §2).

It fails loudly when:

* D_{k+1} does not start with D_k unchanged (accumulate, never replace);
* the real part of the training data is not exactly the users' training parts (a validation or
  test position slipped into training);
* a synthetic sequence does not start with the prefix of the seed it claims to come from, names
  a root user that does not exist, or carries an id outside the catalogue;
* the generator reports that a held-out item was used as a fidelity target.
"""

from __future__ import annotations

import numpy as np

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore


class LeakageError(AssertionError):
    """Generated data would leak evaluation items or corrupt D_k."""


def check_generated(
    d_k: SequenceStore,
    d_next: SequenceStore,
    split: LeaveOneOutSplit,
    source: np.ndarray,
    prefix_len: np.ndarray,
    held_out_targets_used: int = 0,
) -> None:
    """Raise :class:`LeakageError` if D_{k+1} = ``d_next`` is not a clean extension of ``d_k``."""
    if not d_next.startswith(d_k):
        raise LeakageError("D_{k+1} does not contain D_k unchanged at its start")
    d0 = split.train()
    if not d_next.startswith(d0):
        raise LeakageError("the real sequences of the training set are not exactly the users' training parts")
    real_rest = d_next.generation[len(d0) :] == 0
    if real_rest.any():
        raise LeakageError("real (generation 0) sequences appear after D_0")
    new = d_next.select(np.arange(len(d_k), len(d_next)))
    if len(new) == 0:
        return
    if len(source) != len(new) or len(prefix_len) != len(new):
        raise LeakageError("provenance arrays do not match the generated sequences")
    if new.items.min() < 1 or new.max_item > split.num_items:
        raise LeakageError(f"generated item ids outside 1..{split.num_items}")
    if new.root.min() < 0 or new.root.max() >= split.num_users:
        raise LeakageError("generated sequences name a root user that does not exist")
    if not np.array_equal(new.root, d_k.root[source]):
        raise LeakageError("a generated sequence's root differs from its seed's root")
    width = int(prefix_len.max())
    seed_prefix = _prefixes(d_k, source, width)
    gen_prefix = _prefixes(new, np.arange(len(new)), width)
    cols = np.arange(width)[None, :] < prefix_len[:, None]
    if not np.array_equal(seed_prefix[cols], gen_prefix[cols]):
        raise LeakageError("a generated sequence does not start with its seed's prefix")
    if held_out_targets_used:
        raise LeakageError(f"{held_out_targets_used} validation/test items were used as fidelity targets")


def _prefixes(store: SequenceStore, index: np.ndarray, width: int) -> np.ndarray:
    """First ``width`` items of each selected sequence, right-padded with 0."""
    sub = store.select(index)
    out = np.zeros((len(sub), width), dtype=np.int64)
    lengths = np.minimum(sub.lengths, width)
    rows = np.repeat(np.arange(len(sub)), lengths)
    cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[rows, cols] = sub.items[np.repeat(sub.offsets[:-1], lengths) + cols]
    return out
