"""The leakage guard fails loudly on every kind of violation, and re-derives the fidelity targets
from what is saved: an injected leak is caught on the fresh and on the resume path."""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np
import pytest
import torch

from markov import MarkovModel
from rsir_pl.config import DataConfig, GenerationConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation import generator as generator_module
from rsir_pl.generation.generator import Generator
from rsir_pl.generation.leakage import (
    LeakageError,
    check_fidelity_targets,
    check_generated,
    check_reverse_data,
    held_out_of,
    provenance_arrays,
    saved_target_record,
)
from rsir_pl.loop.callback import generate_for_next_iteration
from rsir_pl.loop.iteration_files import IterationFiles
from rsir_pl.storage.rundir import RunDir


def exactly(message: str) -> str:
    """A ``match`` pattern for the whole message (the guard's messages are its interface)."""
    return "^" + re.escape(message) + "$"


@pytest.fixture()
def split():
    users = SequenceStore.from_lists([[1, 2, 3, 4, 5], [6, 7, 8, 9]])
    return LeaveOneOutSplit.from_sequences(users, 10)


def test_clean_extension_passes(split):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists([[1, 2, 9], [6, 3]], root=[0, 1], generation=[1, 1])
    check_generated(d0, SequenceStore.concat([d0, new]), split, np.array([0, 1]), np.array([2, 1]))


def test_an_empty_generation_passes(split):
    d0 = split.train()
    none = np.zeros(0, np.int64)
    check_generated(d0, d0, split, none, none, fidelity_checked=True)  # nothing generated: no record needed
    d1 = SequenceStore.concat([d0, SequenceStore.from_lists([[1, 2, 9]], root=[0], generation=[1])])
    check_generated(d1, d1, split, none, none)  # D_2 = D_1: nothing new to verify


def test_changed_dk_fails(split):
    d0 = split.train()
    tampered = SequenceStore(d0.items.copy(), d0.offsets, d0.root, d0.generation)
    tampered.items[0] = 5
    with pytest.raises(LeakageError, match=exactly("D_{k+1} does not contain D_k unchanged at its start")):
        check_generated(d0, tampered, split, np.zeros(0, np.int64), np.zeros(0, np.int64))


def test_validation_item_in_real_training_data_fails(split):
    leaky = SequenceStore.from_lists([[1, 2, 3, 4], [6, 7]])  # user 0's validation item 4 in training
    message = "the real sequences of the training set are not exactly the users' training parts"
    with pytest.raises(LeakageError, match=exactly(message)):
        check_generated(leaky, leaky, split, np.zeros(0, np.int64), np.zeros(0, np.int64))


def test_real_sequences_after_d0_fail(split):
    d0 = split.train()
    real_again = SequenceStore.from_lists([[1, 2]], root=[0], generation=[0])
    with pytest.raises(LeakageError, match=exactly("real (generation 0) sequences appear after D_0")):
        check_generated(d0, SequenceStore.concat([d0, real_again]), split, np.array([0]), np.array([1]))


def test_bad_provenance_ids_and_roots_fail(split):
    d0 = split.train()
    new = SequenceStore.from_lists([[1, 2, 9]], root=[0], generation=[1])
    d1 = SequenceStore.concat([d0, new])
    for source, prefix_len in (([0, 1], [2]), ([0], [2, 2])):
        with pytest.raises(LeakageError, match=exactly("provenance arrays do not match the generated sequences")):
            check_generated(d0, d1, split, np.array(source), np.array(prefix_len))
    for bad in (11, 0):
        outside = SequenceStore.from_lists([[1, 2, bad]], root=[0], generation=[1])
        with pytest.raises(LeakageError, match=exactly("generated item ids outside 1..10")):
            check_generated(d0, SequenceStore.concat([d0, outside]), split, np.array([0]), np.array([2]))
    no_user = SequenceStore.from_lists([[1, 2, 9]], root=[2], generation=[1])
    with pytest.raises(LeakageError, match=exactly("generated sequences name a root user that does not exist")):
        check_generated(d0, SequenceStore.concat([d0, no_user]), split, np.array([0]), np.array([2]))


def test_wrong_prefix_or_root_fails(split):
    d0 = split.train()
    wrong_prefix = SequenceStore.from_lists([[2, 1, 9]], root=[0], generation=[1])
    with pytest.raises(LeakageError, match=exactly("a generated sequence does not start with its seed's prefix")):
        check_generated(d0, SequenceStore.concat([d0, wrong_prefix]), split, np.array([0]), np.array([2]))
    wrong_root = SequenceStore.from_lists([[1, 2, 9]], root=[1], generation=[1])
    with pytest.raises(LeakageError, match=exactly("a generated sequence's root differs from its seed's root")):
        check_generated(d0, SequenceStore.concat([d0, wrong_root]), split, np.array([0]), np.array([2]))


def test_held_out_items_are_read_from_the_full_sequences(split):
    assert held_out_of(split).tolist() == [[4, 5], [8, 9]]


# ---------------------------------------------------------------------------- fidelity targets, by hand
# user 0: full [1, 7, 2, 3, 7, 8] -> training part [1, 7, 2, 3], validation 7, test 8 (7 recurs)
# user 1: full [4, 5, 6, 2, 1, 5] -> training part [4, 5, 6, 2], validation 1, test 5 (5 recurs)
# user 3: full [1, 4, 2, 1, 3, 6, 5] -> training part [1, 4, 2, 1, 3] (1 recurs after a prefix of 1 or 2)
FULL = [[1, 7, 2, 3, 7, 8], [4, 5, 6, 2, 1, 5], [2, 3, 4, 5, 6], [1, 4, 2, 1, 3, 6, 5]]


@pytest.fixture()
def recurring():
    return LeaveOneOutSplit.from_sequences(SequenceStore.from_lists(FULL), 8)


def guard(split, rows, prefix_len, targets, checked=True, seed=0):
    """check_generated on D_0 + generated ``rows`` (lists) from the training part of user ``seed``."""
    d0 = split.train()
    new = SequenceStore.from_lists(rows, root=[seed] * len(rows), generation=[1] * len(rows))
    record = None if targets is None else SequenceStore.from_lists(targets)
    check_generated(
        d0,
        SequenceStore.concat([d0, new]),
        split,
        np.full(len(rows), seed, np.int64),
        np.asarray(prefix_len),
        targets=record,
        fidelity_checked=checked,
    )


def test_targets_following_the_rule_pass(recurring):
    # seed [1, 7, 2, 3], prefix [1]: the targets are {2, 3} (7 is user 0's validation item)
    guard(recurring, [[1, 2, 5]], [1], [[3]])  # remaining: the first step tested {2, 3} minus 2
    guard(recurring, [[1, 2, 5]], [1], [[2, 3]])  # including_new
    guard(recurring, [[1, 4, 2, 3]], [1], [[2, 3]])  # 2 then 3: the last target ends the attempt
    guard(recurring, [[1, 7, 2, 5]], [2], [[3]])  # prefix [1, 7]: targets {2, 3}
    # seed [1, 4, 2, 1, 3], prefix [1, 4]: item 1 recurs but is in the prefix, so the targets are {2, 3}
    guard(recurring, [[1, 4, 8, 5]], [2], [[2, 3]], seed=3)
    # several rows at once, each checked against its own seed
    guard(recurring, [[1, 2, 5], [1, 7, 3]], [1, 2], [[3], [2]])
    # without a fidelity check nothing about targets is claimed or verified
    guard(recurring, [[1, 2, 3, 4, 5, 6]], [1], None, checked=False)


def test_a_recorded_held_out_target_fails(recurring):
    message = (
        "generated sequence {}: its root user's {} item {} was a fidelity target "
        "({} held-out target(s) recorded in all)"
    )
    with pytest.raises(LeakageError, match=exactly(message.format(0, "validation", 7, 1))):
        guard(recurring, [[1, 2, 5]], [1], [[3, 7]])
    with pytest.raises(LeakageError, match=exactly(message.format(0, "test", 8, 1))):
        guard(recurring, [[1, 2, 5]], [1], [[3, 8]])
    with pytest.raises(LeakageError, match=exactly(message.format(1, "validation", 7, 2))):
        guard(recurring, [[1, 2, 5], [1, 2, 5]], [1, 1], [[3], [3, 7, 8]])


def test_a_recorded_target_outside_the_rule_fails(recurring):
    message = (
        "generated sequence 0: item {} was a fidelity target but the rule excludes it (it is in the prefix of {} items "
        "or not in the seed after it)"
    )
    with pytest.raises(LeakageError, match=exactly(message.format(1, 2))):
        guard(recurring, [[1, 7, 4]], [2], [[1, 2, 3]])  # 1 is in the prefix
    with pytest.raises(LeakageError, match=exactly(message.format(6, 1))):
        guard(recurring, [[1, 2, 5]], [1], [[3, 6]])  # 6 is not in the seed
    with pytest.raises(LeakageError, match=exactly(message.format(1, 2))):
        guard(recurring, [[1, 4, 8, 5]], [2], [[1, 2, 3]], seed=3)  # 1 recurs after the prefix, still excluded


def test_a_record_that_omits_a_target_fails(recurring):
    # the first step's check tests {2, 3} (or {3} after proposing 2): a record of {} or {2} is false
    message = (
        "generated sequence 0: its first check must have tested item {} of the seed's future, but the target record "
        "lacks it: the record does not describe the targets the checks used"
    )
    with pytest.raises(LeakageError, match=exactly(message.format(3))):
        guard(recurring, [[1, 5, 4]], [1], [[2]])
    with pytest.raises(LeakageError, match=exactly(message.format(3))):
        guard(recurring, [[1, 2, 5]], [1], [[]])
    with pytest.raises(LeakageError, match=exactly(message.format(2))):
        guard(recurring, [[1, 5, 4]], [1], [[]])


def test_a_step_after_the_true_future_is_used_up_fails_from_the_output_alone(recurring):
    # prefix [1, 7, 2]: the only target is 3. A row that generated 3 and then another step must
    # have had another target, and the seed's only other future item is the validation item 7
    message = (
        "generated sequence {}: its last step (step 2) was taken after the seed's true future without the root "
        "user's validation/test items was used up; only a target outside the rule (e.g. a held-out item) can keep "
        "an attempt going ({} such sequence(s))"
    )
    with pytest.raises(LeakageError, match=exactly(message.format(0, 1))):
        guard(recurring, [[1, 7, 2, 3, 4]], [3], [[]])
    with pytest.raises(LeakageError, match=exactly(message.format(1, 2))):
        guard(recurring, [[1, 7, 2, 3], [1, 7, 2, 3, 4], [1, 7, 2, 3, 5]], [3, 3, 3], [[], [], []])
    # prefix [1, 7, 2, 3] would leave no target at all: the prefix length itself is impossible
    message = (
        "generated sequence 0: prefix length {} outside 1..3 (the seed's length - 1): the true future after the "
        "prefix would be empty or the prefix impossible"
    )
    for prefix_len in (4, 0):
        with pytest.raises(LeakageError, match=exactly(message.format(prefix_len))):
            guard(recurring, [[1, 7, 2, 3, 4]], [prefix_len], [[]])


def test_a_checked_run_without_a_record_or_a_step_fails(recurring):
    message = (
        "the generated sequences passed a fidelity check but carry no record of its targets: the guard cannot "
        "verify that no validation/test item was a target"
    )
    with pytest.raises(LeakageError, match=exactly(message)):
        guard(recurring, [[1, 2, 5]], [1], None)
    message = "{} target records, {} seeds, {} prefix lengths and {} held-out pairs for 1 generated sequences"
    seeds, generated = SequenceStore.from_lists([[1, 7, 2, 3]] * 2), SequenceStore.from_lists([[1, 2, 5]])
    record, held = SequenceStore.from_lists([[3]] * 2), np.array([[7, 8]] * 2)
    for counts in ((2, 1, 1, 1), (1, 2, 1, 1), (1, 1, 2, 1), (1, 1, 1, 2)):
        t, s, p, h = counts
        with pytest.raises(LeakageError, match=exactly(message.format(*counts))):
            check_fidelity_targets(
                seeds.select(range(s)), generated, np.ones(p, np.int64), held[:h], record.select(range(t))
            )
    only_prefix = SequenceStore.from_lists([[1, 7, 2]])
    with pytest.raises(LeakageError, match=exactly("generated sequence 0 has no generated item after its prefix")):
        check_fidelity_targets(seeds.select([0]), only_prefix, np.array([3]), held[:1], SequenceStore.from_lists([[]]))
    # no generated sequence: nothing to verify
    empty = SequenceStore.from_lists([])
    check_fidelity_targets(empty, empty, np.zeros(0, np.int64), np.zeros((0, 2), np.int64), empty)


# ---------------------------------------------------------------------------- generator output
def recurring_datamodule() -> SequenceDataModule:
    store = SequenceStore.from_lists(FULL)
    ids = np.array([""] + [f"i{i}" for i in range(1, 9)], dtype=object)
    users = np.array([f"u{u}" for u in range(len(FULL))], dtype=object)
    dm = SequenceDataModule(DataConfig(max_len=10), dataset=InteractionDataset("recurring", store, 8, ids, users))
    dm.setup()
    return dm


def permissive_model() -> MarkovModel:
    """Random scores; with tau = 8 (the catalogue) every check that has a target passes."""
    return MarkovModel(torch.rand(9, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).eval()


CONFIG = GenerationConfig(m=12, tau=8, max_len=10, p=0.5, top_k=3, progress=False)


@pytest.fixture()
def leaky_generator(monkeypatch):
    """Inject a leak: the generator's targets keep the users' validation and test items."""
    original = generator_module.initial_targets
    monkeypatch.setattr(
        generator_module, "initial_targets", lambda seeds, prefix, held: original(seeds, prefix, np.zeros_like(held))
    )


@pytest.mark.parametrize("check_targets", ["remaining", "including_new"])
def test_generator_output_passes_the_guard(check_targets):
    dm = recurring_datamodule()
    config = dataclasses.replace(CONFIG, check_targets=check_targets)
    result = generate_for_next_iteration(permissive_model(), dm, config, seed=0, iteration=0)
    assert len(result.sequences) > 0 and result.targets is not None
    assert result.stats["held_out_excluded_targets"] > 0  # the data does put held-out items in reach


def test_fresh_path_catches_an_injected_leak(leaky_generator):
    with pytest.raises(LeakageError, match="(validation|test) item [578] was a fidelity target"):
        generate_for_next_iteration(permissive_model(), recurring_datamodule(), CONFIG, seed=0, iteration=0)


def write_generation(path, model, config) -> RunDir:
    """Generate D'_1 from D_0 without the guard and save it as the loop does."""
    dm = recurring_datamodule()
    result = Generator(config, seed=0, iteration=0).run(model, dm.train_store, dm.split.held_out_items())
    rundir = RunDir(path)
    rundir.write_store("iter_1/synthetic.npz", result.sequences)
    rundir.write_arrays("iter_1/provenance.npz", **provenance_arrays(result))
    rundir.write_json("iter_1/generation.json", result.stats)
    return rundir


def test_resume_path_verifies_the_saved_targets(tmp_path):
    rundir = write_generation(tmp_path / "clean", permissive_model(), CONFIG)
    dm = recurring_datamodule()
    n0 = len(dm.train_store)
    IterationFiles(rundir, 0).apply_generated(dm)
    assert len(dm.train_store) > n0
    prov = rundir.read_arrays("iter_1/provenance.npz")
    assert bool(prov["fidelity_checked"]) and saved_target_record(prov)["targets"] is not None


def test_resume_path_catches_an_injected_leak(tmp_path, leaky_generator):
    rundir = write_generation(tmp_path / "leaky", permissive_model(), CONFIG)
    with pytest.raises(LeakageError, match="(validation|test) item [578] was a fidelity target"):
        IterationFiles(rundir, 0).apply_generated(recurring_datamodule())


def test_resume_path_catches_a_record_tampered_after_saving(tmp_path):
    rundir = write_generation(tmp_path / "tampered", permissive_model(), CONFIG)
    prov = rundir.read_arrays("iter_1/provenance.npz")
    prov["target_items"] = np.zeros_like(prov["target_items"])  # the record no longer matches the rule
    rundir.write_arrays("iter_1/provenance.npz", **prov)
    with pytest.raises(LeakageError, match="item 0 was a fidelity target but the rule excludes it"):
        IterationFiles(rundir, 0).apply_generated(recurring_datamodule())
    del prov["target_items"], prov["target_offsets"]  # a checked run whose record went missing
    rundir.write_arrays("iter_1/provenance.npz", **prov)
    with pytest.raises(LeakageError, match="carry no record of its targets"):
        IterationFiles(rundir, 0).apply_generated(recurring_datamodule())


def test_resume_of_a_run_saved_before_the_record_still_loads(tmp_path, caplog):
    rundir = write_generation(tmp_path / "old", permissive_model(), CONFIG)
    prov = rundir.read_arrays("iter_1/provenance.npz")
    rundir.write_arrays("iter_1/provenance.npz", **{k: prov[k] for k in ("source", "attempt", "prefix_len")})
    dm = recurring_datamodule()
    with caplog.at_level(logging.WARNING, logger="rsir_pl.generation.leakage"):
        IterationFiles(rundir, 0).apply_generated(dm)
    assert (dm.train_store.generation == 1).any()
    assert caplog.messages == ["provenance.npz has no fidelity target record (older run): the targets are not verified"]


# ---------------------------------------------------------------------------- replacements (ASReP)
def _replacing(split, seqs, source):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists(seqs, root=source, generation=[1] * len(seqs))
    src = np.asarray(source)
    return d0, SequenceStore.concat([d0, new]), src, np.zeros(len(seqs), np.int64), np.ones(len(seqs), bool)


def test_replacement_ending_with_the_training_part_passes(split):
    d0, d1, src, prefix, rep = _replacing(split, [[9, 8, 1, 2, 3], [4, 6, 7]], [0, 1])
    check_generated(d0, d1, split, src, prefix, replaces=rep)


def test_generated_sequences_that_replace_nothing_pass(split):
    d0, d1, src, prefix, _ = _replacing(split, [[1, 2, 3, 9]], [0])
    prefix = np.array([3])
    check_generated(d0, d1, split, src, prefix, replaces=np.zeros(1, dtype=bool))
    # sources and prefix lengths given as plain lists are read as integer arrays
    check_generated(d0, d1, split, [0], [3], replaces=[False])


NOT_ENDING = "a replacing sequence does not end with exactly its user's training part"


@pytest.mark.parametrize(
    "seqs, source, message",
    [
        ([[9, 1, 2, 4]], [0], NOT_ENDING),  # the real suffix changed (a validation item in it)
        ([[9, 8, 2, 3]], [0], NOT_ENDING),  # the real suffix lost its first item
        ([[1, 2, 3]], [0], "a replacing sequence adds no item before its real sequence"),  # nothing prepended
        ([[9, 1, 2, 3], [8, 1, 2, 3]], [0, 0], "a real sequence is replaced twice"),
    ],
    ids=["changed-suffix", "cut-suffix", "nothing-prepended", "replaced-twice"],
)
def test_bad_replacements_fail(split, seqs, source, message):
    d0, d1, src, prefix, rep = _replacing(split, seqs, source)
    with pytest.raises(LeakageError, match=exactly(message)):
        check_generated(d0, d1, split, src, prefix, replaces=rep)


def test_a_replacement_record_of_the_wrong_length_fails(split):
    d0, d1, src, prefix, rep = _replacing(split, [[9, 8, 1, 2, 3], [4, 6, 7]], [0, 1])
    with pytest.raises(LeakageError, match=exactly("provenance arrays do not match the generated sequences")):
        check_generated(d0, d1, split, src, prefix, replaces=rep[:1])


def test_only_real_sequences_can_be_replaced(split):
    d0 = split.train()
    d1 = SequenceStore.concat([d0, SequenceStore.from_lists([[1, 2, 9]], root=[0], generation=[1])])
    new = SequenceStore.from_lists([[5, 1, 2, 9]], root=[0], generation=[2])
    message = "a sequence replaces something other than a real training sequence"
    with pytest.raises(LeakageError, match=exactly(message)):
        check_generated(d1, SequenceStore.concat([d1, new]), split, np.array([2]), np.array([0]), replaces=[True])


def test_provenance_records_the_replacements():
    from rsir_pl.generation.generator import GenerationResult

    store = SequenceStore.from_lists([[9, 1, 2, 3]], root=[0], generation=[1])
    result = GenerationResult(store, np.array([0]), np.zeros(1, np.int64), np.zeros(1, np.int64), {})
    assert "replaces" not in provenance_arrays(result)
    result.replaces = [1]
    arrays = provenance_arrays(result)
    assert arrays["replaces"].dtype == bool and arrays["replaces"].tolist() == [True]


def test_reverse_data_must_be_the_reversed_training_parts(split):
    ok = SequenceStore.from_lists([[3, 2, 1], [7, 6]], root=[0, 1])
    check_reverse_data(ok, split)
    subset = SequenceStore.from_lists([[7, 6]], root=[1])  # users left out of reverse training
    check_reverse_data(subset, split)
    with_held_out = SequenceStore.from_lists([[5, 4, 3, 2, 1], [7, 6]], root=[0, 1])  # authors' code
    with pytest.raises(LeakageError, match=exactly("a reverse sequence is not as long as its user's training part")):
        check_reverse_data(with_held_out, split)
    not_reversed = exactly("the reverse data is not the users' training parts reversed")
    forward = SequenceStore.from_lists([[1, 2, 3], [6, 7]], root=[0, 1])
    with pytest.raises(LeakageError, match=not_reversed):
        check_reverse_data(forward, split)
    swapped_valid = SequenceStore.from_lists([[4, 2, 1], [7, 6]], root=[0, 1])  # validation item 4 in
    with pytest.raises(LeakageError, match=not_reversed):
        check_reverse_data(swapped_valid, split)


@pytest.mark.parametrize("root", [-1, 2, 3])
def test_reverse_data_of_an_unknown_user_fails(split, root):
    stranger = SequenceStore.from_lists([[3, 2, 1], [7, 6]], root=[0, root])
    with pytest.raises(LeakageError, match=exactly("the reverse data names a user that does not exist")):
        check_reverse_data(stranger, split)


def test_bad_provenance_fails(split):
    d0 = split.train()  # [[1, 2, 3], [6, 7]]
    new = SequenceStore.from_lists([[1, 2]], root=[0], generation=[1])
    d1 = SequenceStore.concat([d0, new])
    with pytest.raises(LeakageError, match=exactly("a generated sequence names a seed that is not in D_k")):
        check_generated(d0, d1, split, np.array([2]), np.array([1]))
    # a claimed prefix longer than the generated sequence (its missing items cannot match the seed's)
    message = "a generated sequence does not start with its seed's prefix (prefix longer than it)"
    with pytest.raises(LeakageError, match=exactly(message)):
        check_generated(d0, d1, split, np.array([0]), np.array([3]))
    check_generated(d0, d1, split, np.array([0]), np.array([2]))  # the whole sequence is the prefix: fine
