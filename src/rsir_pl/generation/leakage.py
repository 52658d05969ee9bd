"""The leakage guard, run on every generated dataset before it is used (RSIR-SPEC §2).

It fails loudly when:

* D_{k+1} does not start with D_k unchanged (accumulate, never replace);
* the real part of the training data is not exactly the users' training parts (a validation or
  test position slipped into training);
* a synthetic sequence does not start with the prefix of the seed it claims to come from, names
  a root user that does not exist, or carries an id outside the catalogue;
* with a fidelity check (``fidelity_checked``): a validation or test item of a sequence's root user
  could have been, or was recorded as, a fidelity target. See :func:`check_fidelity_targets`;
* a sequence that replaces a real one for training (ASReP) does not end with exactly that real
  sequence, the user's training part, or replaces something other than a real sequence.

The target check re-derives everything from what is saved (the seed ``D_k[source]``, the prefix
length, the synthetic sequence, the users' held-out items read from the split's full sequences)
plus the generator's record of the items its checks tested (``targets``); it never reuses the
generator's masks. A fresh iteration and one resumed from its saved files
(:mod:`rsir_pl.loop.iteration`) run the same checks: :func:`provenance_arrays` is what
``provenance.npz`` stores and :func:`saved_target_record` reads it back.

For ASReP, :func:`check_reverse_data` also checks the reverse model's data before it trains: every
sequence it trains, validates and tests on is the reversed training part of its user, so no
validation or test item of the forward task reaches the reverse model, neither as a target nor
as an input. Its pseudo-prior items may still coincide with a user's validation or test item:
they are proposals of a model that never saw that item for that user, not targets chosen with it
(the statistic ``held_out_in_prepended`` counts them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore, _ranges

if TYPE_CHECKING:
    from rsir_pl.generation.generator import GenerationResult

log = logging.getLogger(__name__)

#: item ids are int32, so (row, item) is one int64 key ``row * KEY_SPAN + item`` for up to 2^32 rows
KEY_SPAN = 1 << 31


class LeakageError(AssertionError):
    """Generated data would leak evaluation items or corrupt D_k."""


def check_generated(
    d_k: SequenceStore,
    d_next: SequenceStore,
    split: LeaveOneOutSplit,
    source: np.ndarray,
    prefix_len: np.ndarray,
    *,
    targets: SequenceStore | None = None,
    fidelity_checked: bool = False,
    replaces: np.ndarray | None = None,
) -> None:
    """Raise :class:`LeakageError` if D_{k+1} = ``d_next`` is not a clean extension of ``d_k``.

    ``fidelity_checked``: the generated sequences passed a fidelity check (RSIR with
    ``generation.fidelity`` other than none); their targets are then verified against ``targets``,
    the generator's per-sequence record of the items its checks tested (required).
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
    if replaces is None and not fidelity_checked:
        return
    # the generated part over the same item buffer (select() would copy all of D'_{k+1})
    new = SequenceStore(new_items, d_next.offsets[len(d_k) :] - first, new_root, d_next.generation[len(d_k) :])
    if replaces is not None:
        _check_replacements(new, d0, source, np.asarray(replaces, dtype=bool))
    if fidelity_checked:
        if targets is None:
            raise LeakageError(
                "the generated sequences passed a fidelity check but carry no record of its targets: "
                "the guard cannot verify that no validation/test item was a target"
            )
        check_fidelity_targets(d_k.select(source), new, prefix_len, held_out_of(split)[new.root], targets)


def check_fidelity_targets(
    seeds: SequenceStore,
    generated: SequenceStore,
    prefix_len: np.ndarray,
    held: np.ndarray,
    targets: SequenceStore,
) -> None:
    """Verify the fidelity targets of RSIR-generated sequences against the generation rule.

    Row r: ``generated[r]`` was decoded from ``seeds[r]`` after its first ``prefix_len[r]`` items;
    ``held[r]`` are the root user's validation and test items; ``targets[r]`` are the items the
    generator recorded as tested by any of the row's checks. The rule (RSIR-SPEC §3.4): the
    targets before the first step are ``R = items(seed after the prefix) - items(prefix) - held``;
    each accepted item leaves them; an attempt takes no step once they are used up. Raises when

    1. a recorded target is a held-out item of the root user (the leak itself);
    2. a recorded target is not in R (not in the seed's future, or in its prefix);
    3. the record lacks an item of R other than the first generated item (the first step's
       check tests all of R, or R without that item under ``check_targets=remaining``): the
       record does not describe what the checks tested;
    4. from the output alone, without the record: a step was taken after R minus the items
       generated before it was empty. Only a target outside R (such as a held-out item) can
       keep an attempt going then.

    What it cannot detect. 1-3 rely on the record being what the checks received (the generator
    accumulates it from the very tensor it passes to the check): a bug that let a check use a
    held-out target while leaving it out of the record shows only through 4, i.e. only when that
    item was the last target left at some step. Under ``check_targets=remaining`` 3 cannot tell
    whether the first generated item was tested at the first step. Attempts that were not kept
    (they add nothing to the training data) are not in the output. The prefix length is checked
    against its range 1..len(seed)-1, not against its keyed draw.
    """
    n = len(generated)
    rows = np.arange(n)
    if len(seeds) != n or len(prefix_len) != n or len(held) != n or len(targets) != n:
        raise LeakageError(
            f"{len(targets)} target records, {len(seeds)} seeds, {len(prefix_len)} prefix lengths and {len(held)} "
            f"held-out pairs for {n} generated sequences"
        )
    bad = np.flatnonzero((prefix_len < 1) | (prefix_len > seeds.lengths - 1))
    if len(bad):
        r = int(bad[0])
        raise LeakageError(
            f"generated sequence {r}: prefix length {int(prefix_len[r])} outside 1..{int(seeds.lengths[r]) - 1} "
            "(the seed's length - 1): the true future after the prefix would be empty or the prefix impossible"
        )
    steps = generated.lengths - prefix_len
    bad = np.flatnonzero(steps < 1)
    if len(bad):
        raise LeakageError(f"generated sequence {int(bad[0])} has no generated item after its prefix")

    def keys(row: np.ndarray, items: np.ndarray) -> np.ndarray:
        return row.astype(np.int64) * KEY_SPAN + items.astype(np.int64)

    starts = seeds.offsets[:-1]
    prefix_keys = keys(np.repeat(rows, prefix_len), seeds.items[_ranges(starts, prefix_len)])
    future_len = seeds.lengths - prefix_len
    future_keys = keys(np.repeat(rows, future_len), seeds.items[_ranges(starts + prefix_len, future_len)])
    held_keys = keys(np.repeat(rows, 2), np.ravel(held))
    rule = np.setdiff1d(np.setdiff1d(future_keys, prefix_keys), held_keys)
    tested = keys(np.repeat(rows, targets.lengths), targets.items)

    leaked = np.flatnonzero(np.isin(tested, held_keys))
    if len(leaked):
        r, item = divmod(int(tested[leaked[0]]), KEY_SPAN)
        which = "validation" if item == int(held[r, 0]) else "test"
        raise LeakageError(
            f"generated sequence {r}: its root user's {which} item {item} was a fidelity target "
            f"({len(leaked)} held-out target(s) recorded in all)"
        )
    outside = np.flatnonzero(~np.isin(tested, rule))
    if len(outside):
        r, item = divmod(int(tested[outside[0]]), KEY_SPAN)
        raise LeakageError(
            f"generated sequence {r}: item {item} was a fidelity target but the rule excludes it (it is in the "
            f"prefix of {int(prefix_len[r])} items or not in the seed after it)"
        )
    required = np.setdiff1d(rule, keys(rows, generated.items[generated.offsets[:-1] + prefix_len]))
    missing = np.flatnonzero(~np.isin(required, tested))
    if len(missing):
        r, item = divmod(int(required[missing[0]]), KEY_SPAN)
        raise LeakageError(
            f"generated sequence {r}: its first check must have tested item {item} of the seed's future, but the "
            "target record lacks it: the record does not describe the targets the checks used"
        )
    before_last = steps - 1
    generated_keys = keys(
        np.repeat(rows, before_last), generated.items[_ranges(generated.offsets[:-1] + prefix_len, before_last)]
    )
    alive = np.zeros(n, dtype=bool)
    alive[np.setdiff1d(rule, generated_keys) // KEY_SPAN] = True
    stuck = np.flatnonzero(~alive)
    if len(stuck):
        r = int(stuck[0])
        raise LeakageError(
            f"generated sequence {r}: its last step (step {int(steps[r])}) was taken after the seed's true future "
            "without the root user's validation/test items was used up; only a target outside the rule (e.g. a "
            f"held-out item) can keep an attempt going ({len(stuck)} such sequence(s))"
        )


def held_out_of(split: LeaveOneOutSplit) -> np.ndarray:
    """``[num_users, 2]`` validation and test item of every user, read from the full sequences
    (the last two items), independently of the generator's own ``held_out`` input."""
    ends = split.full.offsets[1:]
    return np.stack([split.full.items[ends - 2], split.full.items[ends - 1]], axis=1)


def provenance_arrays(result: GenerationResult) -> dict[str, np.ndarray]:
    """The arrays ``provenance.npz`` stores for D'_{k+1}: source, attempt, prefix length, whether a
    fidelity check ran and, if so, the per-sequence target record (CSR ``target_offsets``/``target_items``),
    and ``replaces`` when new sequences replace their sources for training (ASReP)."""
    arrays = {
        "source": result.source,
        "attempt": result.attempt,
        "prefix_len": result.prefix_len,
        "fidelity_checked": np.array(result.targets is not None),
    }
    if result.targets is not None:
        arrays["target_offsets"] = result.targets.offsets
        arrays["target_items"] = result.targets.items
    if result.replaces is not None:
        arrays["replaces"] = np.asarray(result.replaces, dtype=bool)
    return arrays


def saved_target_record(prov: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """:func:`check_generated`'s ``targets``/``fidelity_checked`` from a loaded ``provenance.npz``.

    Files written before the record existed carry no ``fidelity_checked``: their targets cannot be
    verified (logged), the other checks still run.
    """
    if "fidelity_checked" not in prov:
        log.warning("provenance.npz has no fidelity target record (older run): the targets are not verified")
        return {}
    targets = None
    if "target_items" in prov:
        targets = SequenceStore(prov["target_items"], prov["target_offsets"])
    return {"targets": targets, "fidelity_checked": bool(prov["fidelity_checked"])}


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
