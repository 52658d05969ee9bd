"""Augmentation baselines (Reordering, Insertion): counts, leakage guard, determinism, what they
may touch, and the ItemCF-IUF similarity built from the training parts only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl import draws
from rsir_pl.baselines import ItemSimilarity, augment, insertion, reorder
from rsir_pl.baselines.common import run_augmentation
from rsir_pl.baselines.insertion import insertion_rows
from rsir_pl.baselines.reorder import reorder_rows
from rsir_pl.config import ConfigError, DataConfig, GenerationConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.leakage import check_generated
from rsir_pl.loop.callback import generate_for_next_iteration


@pytest.fixture(scope="module")
def tiny():
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny"), seed=0)
    dm.setup()
    return dm


def _check(dm, result, store=None):
    store = dm.train_store if store is None else store
    check_generated(store, SequenceStore.concat([store, result.sequences]), dm.split, result.source, result.prefix_len)


def _run(method, dm, store=None, **kw):
    store = dm.train_store if store is None else store
    if method == "reorder":
        return reorder(store, **kw)
    return insertion(store, dm.d0, dm.num_items, **kw)


@pytest.mark.parametrize("method", ["reorder", "insertion"])
@pytest.mark.parametrize("n", [1, 37, 400])
def test_requested_count_and_leakage_guard(tiny, method, n):
    r = _run(method, tiny, num_sequences=n, seed=3, iteration=0)
    assert len(r.sequences) == n == r.stats["kept_sequences"]
    assert r.stats["shortfall"] == 0
    assert (r.sequences.generation == 1).all()
    assert np.array_equal(r.sequences.root, tiny.train_store.root[r.source])
    _check(tiny, r)
    # distinct from each other and from D_k
    keys = r.sequences.sequence_keys()
    assert len(set(keys)) == n and not set(keys) & set(tiny.train_store.sequence_keys())


@pytest.mark.parametrize("method", ["reorder", "insertion"])
def test_default_is_two_copies_per_eligible_sequence(tiny, method):
    r = _run(method, tiny, seed=1)
    lengths = tiny.train_store.lengths
    eligible = (lengths >= (3 if method == "reorder" else 1)).sum()
    assert r.stats["attempts"] == 2 * eligible
    assert 0 < len(r.sequences) <= 2 * eligible
    assert set(np.unique(r.attempt)) <= {0, 1}
    assert r.stats["kept_sequences"] + r.stats["duplicates_dropped"] + r.stats["failed_attempts"] == 2 * eligible
    _check(tiny, r)


@pytest.mark.parametrize("method", ["reorder", "insertion"])
def test_deterministic_and_independent_of_other_sequences(tiny, method):
    a = _run(method, tiny, num_sequences=120, seed=5, iteration=2)
    b = _run(method, tiny, num_sequences=120, seed=5, iteration=2)
    assert a.sequences.equals(b.sequences) and np.array_equal(a.source, b.source)
    c = _run(method, tiny, num_sequences=120, seed=6, iteration=2)
    assert not a.sequences.equals(c.sequences)
    # a row's copy depends only on its key, not on the other rows processed with it
    st = tiny.train_store
    seq = np.flatnonzero(st.lengths >= 3)
    att = np.arange(len(seq)) % 3
    sim = ItemSimilarity.from_training(tiny.d0, tiny.num_items)

    def rows(s, t):
        if method == "reorder":
            return reorder_rows(st, s, t, ratio=0.3, seed=5, iteration=2)
        return insertion_rows(st, sim, s, t, items_per_copy=2, seed=5, iteration=2)

    full, full_prefix, full_ok = rows(seq, att)
    pick = np.arange(len(seq))[::-7]  # another subset, another order
    part, part_prefix, part_ok = rows(seq[pick], att[pick])
    assert part.to_lists() == [full.to_lists()[i] for i in pick]
    assert np.array_equal(part_prefix, full_prefix[pick]) and np.array_equal(part_ok, full_ok[pick])


def test_reorder_keeps_items_and_shuffles_one_block(tiny):
    st = tiny.train_store
    r = reorder(st, seed=2)
    for i in range(len(r.sequences)):
        new, old = r.sequences[i], st[r.source[i]]
        assert sorted(new.tolist()) == sorted(old.tolist())
        diff = np.flatnonzero(new != old)
        assert len(diff) >= 2 and diff.max() - diff.min() + 1 <= 2  # the default block: 2 items
        assert r.prefix_len[i] == diff.min()
    assert (st.lengths[r.source] >= 3).all()


def test_reorder_ratio_sets_block_size(tiny):
    st = tiny.train_store
    r = reorder(st, ratio=0.5, seed=2)
    for i in range(len(r.sequences)):
        new, old = r.sequences[i], st[r.source[i]]
        diff = np.flatnonzero(new != old)
        assert diff.max() - diff.min() + 1 <= max(2, int(len(old) * 0.5))


def test_insertion_adds_exactly_one_similar_absent_item(tiny):
    st = tiny.train_store
    sim = ItemSimilarity.from_training(tiny.d0, tiny.num_items)
    r = insertion(st, tiny.d0, tiny.num_items, seed=4, similarity=sim)
    for i in range(len(r.sequences)):
        new, old = r.sequences[i].tolist(), st[r.source[i]].tolist()
        p = int(r.prefix_len[i])
        assert len(new) == len(old) + 1
        assert new[:p] == old[:p] and new[p + 1 :] == old[p:]
        item, anchor = new[p], old[p]
        assert item not in old
        # the most similar item to the anchor that is absent from the sequence
        neigh, _ = sim.neighbours_of(anchor)
        assert item == next(x for x in neigh.tolist() if x not in old)


def _naive_itemcf(d0: SequenceStore, num_items: int) -> dict[tuple[int, int], float]:
    C: dict[tuple[int, int], float] = {}
    N = np.zeros(num_items + 1)
    for s in d0:
        items = sorted(set(s.tolist()))
        for i in items:
            N[i] += 1
            for j in items:
                if i != j:
                    C[(i, j)] = C.get((i, j), 0.0) + 1.0 / math.log(1 + len(items))
    return {k: v / math.sqrt(N[k[0]] * N[k[1]]) for k, v in C.items()}


def test_itemcf_iuf_matches_the_definition(tiny):
    d0 = tiny.d0.select(np.arange(60))
    sim = ItemSimilarity.from_training(d0, tiny.num_items)
    ref = _naive_itemcf(d0, tiny.num_items)
    got = {}
    for i in range(tiny.num_items + 1):
        items, scores = sim.neighbours_of(i)
        assert np.all(np.diff(scores) <= 0)
        for j, s in zip(items.tolist(), scores.tolist()):
            got[(i, j)] = s
    assert got.keys() == ref.keys()
    assert all(abs(got[k] - ref[k]) < 1e-12 for k in ref)


def _held_out_world():
    """Users whose validation/test items occur nowhere in any training part (items 51..)."""
    rng = np.random.default_rng(0)
    seqs = []
    for u in range(60):
        train = rng.choice(np.arange(1, 41), size=rng.integers(3, 8), replace=False).tolist()
        seqs.append(train + [41 + (u % 10), 51 + (u % 10)])
    store = SequenceStore.from_lists(seqs)
    n = 60
    ds = InteractionDataset(
        "held", store, n, np.array([""] + [str(i) for i in range(1, n + 1)], dtype=object), np.arange(60).astype(str)
    )
    return ds


def test_similarity_uses_training_parts_only():
    ds = _held_out_world()
    split = LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items)
    sim = ItemSimilarity.from_training(split.train(), ds.num_items)
    for item in range(41, 61):  # only ever validation / test items
        assert len(sim.neighbours_of(item)[0]) == 0
        assert item not in sim.neighbours
        assert sim.score(1, item) == 0.0
    with pytest.raises(ValueError, match="D_0"):
        insertion(split.train(), split.train().select([0]).__class__.from_lists([[1, 2]], generation=[1]), 60)


@pytest.mark.parametrize("method", ["reorder", "insertion"])
def test_never_adds_held_out_items(method):
    ds = _held_out_world()
    dm = SequenceDataModule(DataConfig(dataset="unused"), dataset=ds)
    dm.setup()
    held = dm.split.held_out_items()
    r = _run(method, dm, num_sequences=100, seed=0)
    assert len(r.sequences) > 0
    _check(dm, r)
    train_items = {int(u): set(dm.d0[int(u)].tolist()) for u in range(dm.split.num_users)}
    for i in range(len(r.sequences)):
        root = int(r.sequences.root[i])
        items = set(r.sequences[i].tolist())
        assert not (items & set(held[root].tolist())) - train_items[root]
        assert items <= set(range(1, 41))  # training items only


def test_loop_dispatch_and_config(tiny):
    with pytest.raises(ConfigError, match="generation.method"):
        GenerationConfig(method="shuffle")
    with pytest.raises(ConfigError, match="generation.num_sequences"):
        GenerationConfig(num_sequences=0)
    with pytest.raises(ConfigError, match="generation.reorder_ratio"):
        GenerationConfig(reorder_ratio=1.0)
    for method in ("reorder", "insertion"):
        cfg = GenerationConfig(method=method, num_sequences=50)
        via_loop = generate_for_next_iteration(None, tiny, cfg, seed=9, iteration=1)
        direct = augment(tiny.train_store, tiny.d0, tiny.num_items, cfg, 9, 1)
        assert via_loop.sequences.equals(direct.sequences) and len(direct.sequences) == 50
        assert (direct.sequences.generation == 2).all()
        for key in ("kept_sequences", "kept_interactions", "attempts", "generation_seconds", "acceptance_rate"):
            assert key in via_loop.stats


@pytest.mark.parametrize("method", ["reorder", "insertion"])
def test_loop_runs_a_baseline_and_resumes(tmp_path, method):
    from rsir_pl.config import LoggerConfig, ModelConfig, RunConfig, TrainerConfig
    from rsir_pl.loop.runner import self_improve

    cfg = RunConfig(
        seed=1,
        run_dir=str(tmp_path / "run"),
        iterations=1,
        data=DataConfig(dataset="synthetic-tiny", max_len=20, batch_size=64, eval_batch_size=256),
        model=ModelConfig(hidden=16, layers=1, heads=1, dropout=0.2, attn_dropout=0.2),
        trainer=TrainerConfig(max_epochs=2, patience=2, accelerator="cpu", progress_bar=False),
        generation=GenerationConfig(m=2, max_len=20, progress=False, method=method, num_sequences=60),
        logger=LoggerConfig(kind="none"),
    )
    records = self_improve(cfg)
    gen = records[0]["generation"]
    assert gen["method"] == method and gen["kept_sequences"] == 60
    assert records[1]["train_data"]["synthetic_sequences"] == 60
    again = self_improve(cfg)  # resume: the saved D'_1 passes the leakage guard when it is reloaded
    assert again[1]["test"] == records[1]["test"]


def _plain_augmentation(store, eligible, make_rows, num_sequences, copies=2):
    """The rule run_augmentation follows, one row at a time with a set of byte keys (reference)."""
    seen = set(store.sequence_keys())
    kept, counts = [], {"attempts": 0, "failed": 0, "duplicates": 0}

    def process(rows_seq, rows_att, limit):
        new, _, ok = make_rows(rows_seq, rows_att)
        keys, n_before = new.sequence_keys(), len(kept)
        for i in range(len(rows_seq)):
            if limit is not None and len(kept) - n_before >= limit:
                break
            counts["attempts"] += 1
            if not ok[i]:
                counts["failed"] += 1
            elif keys[i] in seen:
                counts["duplicates"] += 1
            else:
                seen.add(keys[i])
                kept.append((int(rows_seq[i]), int(rows_att[i]), keys[i]))
        return len(kept) - n_before

    if num_sequences is None:
        process(np.repeat(eligible, copies), np.tile(np.arange(copies), len(eligible)), None)
    else:
        for a in range(math.ceil(num_sequences / len(eligible)) + 8):
            need = num_sequences - len(kept)
            if need <= 0:
                break
            prio = draws.keyed_uniform(5, 1, eligible, a, 0, draws.AUG_ORDER)
            order = eligible[np.argsort(prio, kind="stable")]
            if process(order, np.full(len(order), a, dtype=np.int64), need) == 0:
                break
    return sorted(kept), counts


@settings(max_examples=25, deadline=None)
@given(
    alphabet=st.integers(2, 4),
    fail_rate=st.sampled_from([0.0, 0.3]),
    num_sequences=st.one_of(st.none(), st.integers(1, 60)),
    salt=st.integers(0, 1000),
)
def test_vectorised_dedup_with_a_limit_equals_the_plain_rule(alphabet, fail_rate, num_sequences, salt):
    # a tiny alphabet and short rows make many repeats, of D_k and of each other, within and across rounds
    rng = np.random.default_rng(salt)
    lengths = rng.integers(1, 4, size=12)
    store = SequenceStore.from_lists([list(rng.integers(1, alphabet + 1, size=n)) for n in lengths])
    eligible = np.arange(len(store), dtype=np.int64)

    def make_rows(seq, att):
        r = np.random.default_rng([salt, *seq[:1].tolist(), *att[:1].tolist(), len(seq)])
        rows = [list(r.integers(1, alphabet + 1, size=int(r.integers(1, 4)))) for _ in seq]
        return SequenceStore.from_lists(rows), np.zeros(len(seq), dtype=np.int64), r.random(len(seq)) >= fail_rate

    got = run_augmentation(store, eligible, make_rows, method="t", num_sequences=num_sequences, seed=5, iteration=1)
    want, counts = _plain_augmentation(store, eligible, make_rows, num_sequences)
    keys = got.sequences.sequence_keys()
    assert sorted(zip(got.source.tolist(), got.attempt.tolist(), keys)) == want
    assert got.stats["attempts"] == counts["attempts"]
    assert got.stats["failed_attempts"] == counts["failed"]
    assert got.stats["duplicates_dropped"] == counts["duplicates"]
