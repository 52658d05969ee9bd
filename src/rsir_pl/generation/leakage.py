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
from rsir_pl.data.store import SequenceStore, _ranges


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
    n_new = len(d_next) - len(d_k)
    if n_new == 0:
        return
    # the generated part as views of d_next (no copy: D'_{k+1} can be several times D_k)
    first = int(d_next.offsets[len(d_k)])
    new_items = d_next.items[first:]
    new_starts = d_next.offsets[len(d_k) : -1] - first
    new_lengths = np.diff(d_next.offsets[len(d_k) :])
    new_root = d_next.root[len(d_k) :]
    if len(source) != n_new or len(prefix_len) != n_new:
        raise LeakageError("provenance arrays do not match the generated sequences")
    if len(new_items) and (new_items.min() < 1 or new_items.max() > split.num_items):
        raise LeakageError(f"generated item ids outside 1..{split.num_items}")
    if new_root.min() < 0 or new_root.max() >= split.num_users:
        raise LeakageError("generated sequences name a root user that does not exist")
    source = np.asarray(source, dtype=np.int64)
    prefix_len = np.asarray(prefix_len, dtype=np.int64)
    if source.min() < 0 or source.max() >= len(d_k):
        raise LeakageError("a generated sequence names a seed that is not in D_k")
    if not np.array_equal(new_root, d_k.root[source]):
        raise LeakageError("a generated sequence's root differs from its seed's root")
    # the first prefix_len items of every generated sequence equal its seed's, compared as one flat
    # array of prefix items (memory in the prefixes' total length, not sequences x longest prefix)
    if (prefix_len < 0).any() or (prefix_len > new_lengths).any() or (prefix_len > d_k.lengths[source]).any():
        raise LeakageError("a generated sequence does not start with its seed's prefix (prefix longer than it)")
    seed_prefix = d_k.items[_ranges(d_k.offsets[source], prefix_len)]
    if not np.array_equal(seed_prefix, new_items[_ranges(new_starts, prefix_len)]):
        raise LeakageError("a generated sequence does not start with its seed's prefix")
    if held_out_targets_used:
        raise LeakageError(f"{held_out_targets_used} validation/test items were used as fidelity targets")
