"""SequenceDataModule: training batches hold exactly the training parts, eval batches the right
history, expand() only appends valid synthetic data, and the samplers cover every index."""

import numpy as np
import pytest
import torch

from rsir_pl.config import DataConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.samplers import LengthBucketBatchSampler, ShardSampler
from rsir_pl.data.store import SequenceStore

NUM_ITEMS = 40


def make_dataset(seed=0, users=60):
    """Random sequences; some users also have their test item earlier in the sequence."""
    rng = np.random.default_rng(seed)
    seqs = []
    for u in range(users):
        seq = rng.integers(1, NUM_ITEMS + 1, size=rng.integers(3, 14)).tolist()
        if u % 5 == 0:
            seq[0] = seq[-1]  # the test item also appears at position 0 (legitimate history)
        seqs.append(seq)
    seqs.append([1, 2])  # too short to split: skipped
    item_ids = np.array([""] + [f"i{i}" for i in range(1, NUM_ITEMS + 1)], dtype=object)
    user_ids = np.array([f"user{u}" for u in range(len(seqs))], dtype=object)
    return InteractionDataset("toy", SequenceStore.from_lists(seqs), NUM_ITEMS, item_ids, user_ids), seqs


def make_dm(max_len=50, batch_size=7, bucket=True, seed=0):
    ds, seqs = make_dataset(seed)
    config = DataConfig(max_len=max_len, batch_size=batch_size, eval_batch_size=16, bucket_by_length=bucket)
    dm = SequenceDataModule(config, dataset=ds)
    dm.setup()
    return dm, seqs


def rows_of_epoch(dm):
    """Every (input, target, synthetic) row of one training epoch."""
    out = []
    for batch in dm.train_dataloader():
        inp, tgt, syn = batch["input"].numpy(), batch["target"].numpy(), batch["synthetic"].numpy()
        assert inp.dtype == np.int64 and inp.shape == tgt.shape and len(syn) == len(inp)
        out += list(zip(inp, tgt, syn, strict=True))
    return out


@pytest.mark.parametrize("bucket", [True, False])
def test_train_batches_are_left_padded_shifted_by_one(bucket):
    dm, _ = make_dm(bucket=bucket)
    rows = rows_of_epoch(dm)
    assert rows
    for inp, tgt, _ in rows:
        n = int((inp != 0).sum())
        assert n >= 1
        assert (inp[: len(inp) - n] == 0).all() and (inp[len(inp) - n :] != 0).all()  # left padding
        assert (tgt[inp == 0] == 0).all()
        assert (tgt[inp != 0] != 0).all()
        # target[j] is the item after input[j]
        np.testing.assert_array_equal(tgt[:-1][inp[:-1] != 0], inp[1:][inp[:-1] != 0])


@pytest.mark.parametrize("bucket", [True, False])
def test_one_epoch_holds_exactly_the_training_parts(bucket):
    dm, seqs = make_dm(bucket=bucket)
    split = dm.split
    by_part = {}
    for j, u in enumerate(split.users):
        part = tuple(seqs[u][:-2])
        assert part == tuple(dm.d0[j].tolist())
        if len(part) >= 2:  # a 1-item training part has no next-item target
            by_part.setdefault(part, []).append(j)
    seen = []
    for inp, tgt, syn in rows_of_epoch(dm):
        assert not syn
        row = tuple(inp[inp != 0].tolist()) + (int(tgt[-1]),)
        # each row is a whole training part: the validation and test positions never show up
        assert row in by_part, row
        seen.append(row)
    assert sorted(seen) == sorted(p for p, users in by_part.items() for _ in users)
    # the held-out positions of each user lie outside what training saw
    for j, u in enumerate(split.users):
        assert split.valid_target[j] == seqs[u][-2] and split.test_target[j] == seqs[u][-1]


def test_truncation_keeps_the_newest_items():
    dm, seqs = make_dm(max_len=4)
    parts = {tuple(seqs[u][:-2][-5:]) for u in dm.split.users if len(seqs[u]) - 2 >= 2}
    for inp, tgt, _ in rows_of_epoch(dm):
        assert inp.shape[0] <= 4
        row = tuple(inp[inp != 0].tolist()) + (int(tgt[-1]),)
        assert row in parts


@pytest.mark.parametrize("stage, drop", [("test", 1), ("valid", 2)])
def test_eval_batches(stage, drop):
    dm, seqs = make_dm(max_len=8)
    split = dm.split
    users = np.arange(split.num_users)
    batch = dm.eval_batch(users, stage)
    inp, target = batch["input"].numpy(), batch["target"].numpy()
    assert inp.shape == (split.num_users, 8)
    for j, u in enumerate(split.users):
        history = seqs[u][:-drop]
        assert target[j] == seqs[u][-drop]
        expected = history[-8:]
        assert inp[j].tolist() == [0] * (8 - len(expected)) + expected
        # the mask holds exactly the input history (untruncated), nothing from the target onward
        rows, items = batch["hist_rows"].numpy(), batch["hist_items"].numpy()
        assert sorted(items[rows == j].tolist()) == sorted(history)
    if stage == "test":
        np.testing.assert_array_equal(inp[:, -1], split.valid_target)  # test input ends in the valid item


def test_eval_loader_covers_each_user_once():
    dm, _ = make_dm()
    users = torch.cat([b["user"] for b in dm.test_dataloader()]).numpy()
    assert sorted(users.tolist()) == list(range(dm.split.num_users))


def test_no_history_mask_when_disabled():
    ds, _ = make_dataset()
    dm = SequenceDataModule(DataConfig(mask_history=False), dataset=ds)
    dm.setup()
    assert "hist_rows" not in dm.eval_batch(np.arange(3), "valid")


def synthetic(dm, roots, generation=1, length=4, seed=1):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, NUM_ITEMS + 1, size=length).tolist() for _ in roots]
    return SequenceStore.from_lists(seqs, root=roots, generation=[generation] * len(roots))


def test_expand_appends_and_keeps_d_k():
    dm, _ = make_dm()
    d0 = dm.train_store
    before = d0.digest()
    syn = synthetic(dm, [0, 3, 3])
    d1 = dm.expand(syn)
    assert d1 is dm.train_store and len(d1) == len(d0) + 3
    assert d1.startswith(d0) and d0.digest() == before
    assert d1.select(np.arange(len(d0), len(d1))).equals(syn)
    d2 = dm.expand(synthetic(dm, [1], generation=2))
    assert d2.startswith(d1) and d2.generation[-1] == 2
    assert dm.expand(SequenceStore.empty()).equals(d2)
    rows = rows_of_epoch(dm)
    assert sum(bool(s) for _, _, s in rows) == 4
    assert dm.target_counts()[1] == 4 * 3
    assert dm.state_summary()["synthetic_sequences"] == 4


@pytest.mark.parametrize(
    "make, word",
    [
        (lambda dm: synthetic(dm, [0], generation=0), "generation"),
        (lambda dm: synthetic(dm, [-1]), "root"),
        (lambda dm: synthetic(dm, [dm.split.num_users]), "root"),
        (lambda dm: SequenceStore.from_lists([[1, 0, 2]], generation=[1]), "items"),
        (lambda dm: SequenceStore.from_lists([[1, NUM_ITEMS + 1]], generation=[1]), "items"),
    ],
    ids=["generation-0", "negative-root", "unknown-root", "padding-item", "item-too-large"],
)
def test_expand_rejects_invalid_sequences(make, word):
    dm, _ = make_dm()
    before = dm.train_store
    with pytest.raises(ValueError, match=word):
        dm.expand(make(dm))
    assert dm.train_store is before


def test_expand_accepts_empty_synthetic_sequences_without_crashing():
    dm, _ = make_dm()
    d1 = dm.expand(SequenceStore.from_lists([[]], generation=[1]))
    assert len(d1) == len(dm.d0) + 1


def test_replaced_real_sequences_stay_in_d_k_but_neither_train_nor_count():
    dm, _ = make_dm()
    d0 = dm.d0
    real_targets = dm.target_counts()[0]
    # user 2's and user 5's training parts, each with one item prepended (ASReP's replacements)
    aug = SequenceStore.from_lists([[9, *d0[2].tolist()], [8, *d0[5].tolist()]], root=[2, 5], generation=[1, 1])
    d1 = dm.expand(aug, replaces=np.array([2, 5]))
    assert d1.startswith(d0) and np.array_equal(dm.replaced, [2, 5])
    assert not dm.training_rows[[2, 5]].any() and dm.training_rows.sum() == len(d1) - 2
    rows = rows_of_epoch(dm)
    assert len(rows) == int(((d1.lengths >= 2) & dm.training_rows).sum())
    # the replaced rows' targets are gone; their augmented rows train one more target each
    gone = sum(min(len(d0[u]) - 1, dm.config.max_len) for u in (2, 5))
    assert dm.target_counts() == (real_targets - gone, gone + 2)
    assert dm.state_summary()["replaced_sequences"] == 2
    assert dm.target_item_counts().sum() == real_targets + 2


@pytest.mark.parametrize("replaces, word", [([60], "real sequences"), ([-1], "real sequences"), ([1, 1], "once")])
def test_expand_refuses_impossible_replacements(replaces, word):
    dm, _ = make_dm()
    with pytest.raises(ValueError, match=word):
        dm.expand(synthetic(dm, [0, 1]), replaces=np.array(replaces))
    dm.expand(synthetic(dm, [1]), replaces=np.array([1]))
    with pytest.raises(ValueError, match="once"):
        dm.expand(synthetic(dm, [1]), replaces=np.array([1]))


def test_set_train_store_must_start_with_d0():
    dm, _ = make_dm()
    grown = SequenceStore.concat([dm.d0, synthetic(dm, [2])])
    dm.set_train_store(grown)
    assert dm.train_store is grown
    with pytest.raises(ValueError, match="D_0"):
        dm.set_train_store(synthetic(dm, [2]))


# ---------------------------------------------------------------------------- samplers
def test_bucket_sampler_yields_every_index_once_per_epoch():
    lengths = np.random.default_rng(0).integers(1, 30, size=103)
    sampler = LengthBucketBatchSampler(lengths, batch_size=8, pool_batches=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 13
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(103))
        assert all(1 <= len(b) <= 8 for b in batches)


def test_bucket_sampler_groups_similar_lengths():
    lengths = np.random.default_rng(1).integers(1, 50, size=400)
    sampler = LengthBucketBatchSampler(lengths, batch_size=16, pool_batches=25)
    sampler.set_seed(0)
    spread = np.mean([np.ptp(lengths[b]) for b in sampler])
    assert spread < 0.3 * np.ptp(lengths)


def test_bucket_sampler_order_depends_on_seed_and_epoch():
    lengths = np.arange(64)
    a, b = LengthBucketBatchSampler(lengths, 4), LengthBucketBatchSampler(lengths, 4)
    a.set_seed(3)
    b.set_seed(3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


@pytest.mark.parametrize("n, batch_size, world", [(103, 8, 2), (96, 8, 2), (10, 4, 3), (5, 8, 2), (3, 4, 3), (9, 4, 4)])
def test_bucket_sampler_under_ddp_gives_equal_batch_counts_and_covers_all(n, batch_size, world):
    lengths = np.random.default_rng(n).integers(1, 30, size=n)
    samplers = [
        LengthBucketBatchSampler(lengths, batch_size, rank=r, world=world, pool_batches=2) for r in range(world)
    ]
    for s in samplers:
        s.set_seed(7)  # what SequenceDataModule does under DDP
    per_rank = [list(s) for s in samplers]
    counts = {len(b) for b in per_rank}
    assert len(counts) == 1, counts
    assert counts == {len(samplers[0])}
    flat = [i for batches in per_rank for b in batches for i in b]
    assert set(flat) == set(range(n))


@pytest.mark.parametrize("n, world", [(10, 1), (10, 3), (2, 4), (0, 2)])
def test_shard_sampler_covers_each_user_exactly_once(n, world):
    shards = [list(ShardSampler(n, r, world)) for r in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(n))
    assert [len(ShardSampler(n, r, world)) for r in range(world)] == [len(s) for s in shards]


def item_time(items):
    """Timestamps that name their item, so a batch's times can be checked cell by cell."""
    items = np.asarray(items)
    return np.where(items > 0, items * 10.0 + 0.5, np.nan)


def make_timed_dm(max_len=50):
    ds, seqs = make_dataset()
    ds.times = item_time(ds.sequences.items)
    dm = SequenceDataModule(DataConfig(max_len=max_len, batch_size=7, eval_batch_size=16), dataset=ds)
    dm.setup()
    return dm, seqs


@pytest.mark.parametrize("max_len", [50, 4])
def test_timed_train_batches_carry_key_and_query_times(max_len):
    dm, _ = make_timed_dm(max_len)
    synthetic = SequenceStore.from_lists([[3, 4, 5], [6, 7]], root=[0, 1], generation=[1, 1])
    dm.expand(synthetic)
    assert dm.has_times
    seen_synthetic = 0
    for batch in dm.train_dataloader():
        inp, tgt = batch["input"].numpy(), batch["target"].numpy()
        tk, tq = batch["time_key"].numpy(), batch["time_query"].numpy()
        assert tk.shape == inp.shape == tq.shape
        for row in range(len(inp)):
            if batch["synthetic"][row]:
                seen_synthetic += 1
                assert np.isnan(tk[row]).all() and np.isnan(tq[row]).all()
            else:
                np.testing.assert_array_equal(tk[row], item_time(inp[row]))
                real = tgt[row] > 0
                np.testing.assert_array_equal(tq[row][real], item_time(tgt[row][real]))
    assert seen_synthetic == 2


@pytest.mark.parametrize("stage", ["valid", "test"])
def test_timed_eval_batches_query_at_the_target_time(stage):
    dm, _ = make_timed_dm(max_len=5)
    batch = dm.eval_batch(np.arange(10), stage)
    inp, tk, tq = batch["input"].numpy(), batch["time_key"].numpy(), batch["time_query"].numpy()
    np.testing.assert_array_equal(tk, item_time(inp))
    np.testing.assert_array_equal(tq[:, -1], item_time(batch["target"].numpy()))
    # earlier query times are those of the next key
    np.testing.assert_array_equal(tq[:, :-1][inp[:, 1:] > 0], tk[:, 1:][inp[:, 1:] > 0])


def test_untimed_batches_have_no_times():
    dm, _ = make_dm()
    assert not dm.has_times
    batch = next(iter(dm.train_dataloader()))
    assert "time_key" not in batch and "time_key" not in dm.eval_batch(np.arange(3), "test")


@pytest.mark.parametrize("reweight", [True, False])
def test_bucket_reweight_gives_every_target_the_same_weight(reweight):
    ds, _ = make_dataset()
    config = DataConfig(batch_size=7, bucket_by_length=True, bucket_reweight=reweight)
    dm = SequenceDataModule(config, dataset=ds)
    dm.setup()
    batches = list(dm.train_dataloader())
    if not reweight:
        assert all("loss_scale" not in b for b in batches)
        return
    counts = np.array([int((b["target"] > 0).sum()) for b in batches])
    scales = np.array([float(b["loss_scale"]) for b in batches])
    assert counts.min() < counts.max()  # batches of short and of long sequences
    # a batch's mean loss times its scale = its summed target losses over one constant, the mean
    # number of targets per batch_size sequences: every target weighs the same in every batch
    per_target = scales / counts
    assert np.allclose(per_target, per_target[0])
    n_sequences = sum(len(b["target"]) for b in batches)
    assert per_target[0] == pytest.approx(n_sequences / (7 * counts.sum()))


def test_uniform_batches_have_no_loss_scale():
    ds, _ = make_dataset()
    dm = SequenceDataModule(DataConfig(batch_size=7, bucket_by_length=False, bucket_reweight=True), dataset=ds)
    dm.setup()
    assert all("loss_scale" not in b for b in dm.train_dataloader())


def test_inverse_gradient_probe_is_held_out_of_training_then_released():
    dm, _ = make_dm(batch_size=8)
    d0 = dm.d0
    syn = SequenceStore.from_lists([[1, 2, 3]] * 4, generation=np.ones(4, dtype=np.int64), root=np.arange(4))
    dm.expand(syn)
    before = len(dm._trainable())
    held = dm.hold_out_probe(0.2, iteration=1)
    real = np.flatnonzero(d0.lengths >= 2)
    assert len(held) == round(0.2 * len(real)) and np.isin(held, real).all()
    assert not np.isin(held, dm._trainable()).any() and len(dm._trainable()) == before - len(held)
    assert not dm.training_rows[held].any()
    # the probe batch is those sequences in the training layout: inputs shifted one left of targets
    inp, tgt = dm.probe_tensors()
    assert inp.shape == tgt.shape and len(inp) == len(held)
    assert torch.equal(inp[:, 1:][tgt[:, :-1] > 0], tgt[:, :-1][tgt[:, :-1] > 0])
    # keyed by seed and iteration: the same set again, another for the next iteration
    assert np.array_equal(dm.hold_out_probe(0.2, iteration=1), held)
    assert not np.array_equal(dm.hold_out_probe(0.2, iteration=2), held)
    dm.release_probe()
    assert len(dm._trainable()) == before
    with pytest.raises(ValueError, match="ig_holdout"):
        dm.hold_out_probe(0.001, iteration=1)
