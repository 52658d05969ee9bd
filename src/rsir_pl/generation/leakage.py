"""The leakage guard, run on every generated dataset before it is used (RSIR-SPEC §2).

It fails loudly when:

* D_{k+1} does not start with D_k unchanged (accumulate, never replace);
* the real part of the training data is not exactly the users' training parts (a validation or
  test position slipped into training);
* a synthetic sequence does not start with the prefix of the seed it claims to come from, names
  a root user that does not exist, or carries an id outside the catalogue;
* the generator reports that a held-out item was used as a fidelity target;
* a sequence that replaces a real one for training (ASReP) does not end with exactly that real
  sequence, the user's training part, or replaces something other than a real sequence.

For ASReP, :func:`check_reverse_data` also checks the reverse model's data before it trains: every
sequence it trains, validates and tests on is the reversed training part of its user, so no
validation or test item of the forward task reaches the reverse model, neither as a target nor
as an input. Its pseudo-prior items may still coincide with a user's validation or test item:
they are proposals of a model that never saw that item for that user, not targets chosen with it
(the statistic ``held_out_in_prepended`` counts them).
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
    replaces: np.ndarray | None = None,
) -> None:
    """Raise :class:`LeakageError` if D_{k+1} = ``d_next`` is not a clean extension of ``d_k``.

    ``replaces[i]`` marks new sequence ``i`` as the replacement of its source for training.
    """
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
    if replaces is not None:
        new = d_next.select(np.arange(len(d_k), len(d_next)))
        _check_replacements(new, d0, source, np.asarray(replaces, dtype=bool))


def _check_replacements(new: SequenceStore, d0: SequenceStore, source: np.ndarray, replaces: np.ndarray) -> None:
    """Each replacing sequence = some prepended items + exactly its source's real training part."""
    if len(replaces) != len(new):
        raise LeakageError("provenance arrays do not match the generated sequences")
    rows = np.flatnonzero(replaces)
    if len(rows) == 0:
        return
    src = source[rows]
    if src.min() < 0 or src.max() >= len(d0):
        raise LeakageError("a sequence replaces something other than a real training sequence")
    if len(np.unique(src)) != len(src):
        raise LeakageError("a real sequence is replaced twice")
    real_len = d0.lengths[src]
    new_len = new.lengths[rows]
    if (new_len <= real_len).any():
        raise LeakageError("a replacing sequence adds no item before its real sequence")
    suffix = new.items[_ranges(new.offsets[rows + 1] - real_len, real_len)]
    real = d0.items[_ranges(d0.offsets[src], real_len)]
    if not np.array_equal(suffix, real):
        raise LeakageError("a replacing sequence does not end with exactly its user's training part")


def check_reverse_data(reverse: SequenceStore, split: LeaveOneOutSplit) -> None:
    """Raise :class:`LeakageError` unless every sequence of the reverse model's data (its training
    parts, validation and test targets all come from it) is its root user's training part
    reversed: then no validation or test item of the forward task reaches the reverse model."""
    d0 = split.train()
    root = reverse.root
    if len(root) and (root.min() < 0 or root.max() >= len(d0)):
        raise LeakageError("the reverse data names a user that does not exist")
    if not np.array_equal(reverse.lengths, d0.lengths[root]):
        raise LeakageError("a reverse sequence is not as long as its user's training part")
    lengths = reverse.lengths
    # position j of a reverse sequence holds item (length - 1 - j) of the training part
    pos = _ranges(np.zeros(len(root), dtype=np.int64), lengths)
    expected = d0.items[np.repeat(d0.offsets[root + 1] - 1, lengths) - pos]
    if not np.array_equal(reverse.items, expected):
        raise LeakageError("the reverse data is not the users' training parts reversed")

