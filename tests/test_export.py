"""Export: written files read back to the same sequences with the original ids; D_k of a run."""

import os

import numpy as np
import pytest
import yaml

from rsir_pl.data.readers import read_recbole_inter, read_sequence_file
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.store import SequenceStore
from rsir_pl.storage.export import default_user_names, export_run, write_recbole_inter, write_sequence_file
from rsir_pl.storage.rundir import RunDir, RunDirError

ITEM_IDS = np.array(["", "100", "7", "42", "5"], dtype=object)


def original(ds):
    """{user: [original item id, ...]} whatever the internal numbering."""
    return {str(u): [str(ds.item_ids[i]) for i in seq] for u, seq in zip(ds.user_ids, ds.sequences, strict=True)}


def small_store():
    return SequenceStore.from_lists(
        [[1, 2, 3], [4, 1], [2, 2, 4, 3], [3, 1], [1, 4, 2]],
        root=[0, 1, 2, 0, 1],
        generation=[0, 0, 0, 1, 2],
    )


def expected(store, names, item_ids=ITEM_IDS):
    return {n: [str(item_ids[i]) for i in seq] for n, seq in zip(names, store.to_lists(), strict=True)}


def test_default_names():
    store = SequenceStore.from_lists([[1], [2], [3], [4], [1]], root=[0, 1, 0, 1, 1], generation=[0, 0, 1, 1, 2])
    assert default_user_names(store) == ["0", "1", "syn1_0_of_0", "syn1_1_of_1", "syn2_0_of_1"]
    named = default_user_names(store, ["ann", "bob"])
    assert named == ["ann", "bob", "syn1_0_of_ann", "syn1_1_of_bob", "syn2_0_of_bob"]


@pytest.mark.parametrize("names", [None, ["a", "b", "c", "d", "e"]])
def test_sequence_file_round_trip(tmp_path, names):
    store = small_store()
    path = write_sequence_file(store, tmp_path / "out" / "d.txt", ITEM_IDS, names)
    assert path == tmp_path / "out" / "d.txt"
    lines = path.read_text().splitlines()
    assert lines[0] == ("0" if names is None else "a") + " 100 7 42"
    back = read_sequence_file(path)
    assert original(back) == expected(store, names or default_user_names(store))
    assert [f.name for f in path.parent.iterdir()] == ["d.txt"]  # no temporary file left behind


@pytest.mark.parametrize("names", [None, ["b", "c", "d", "e", "a:b"]])
def test_inter_round_trip(tmp_path, names):
    store = small_store()
    path = write_recbole_inter(store, tmp_path / "d.inter", ITEM_IDS, names)
    lines = path.read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
    first = names[0] if names else "0"
    assert lines[1:4] == [f"{first}\t100\t0", f"{first}\t7\t1", f"{first}\t42\t2"]
    back = read_recbole_inter(path, k_core=0)
    assert original(back) == expected(store, names or default_user_names(store))


def test_string_item_ids_round_trip_through_inter(tmp_path):
    ids = np.array(["", "B00X", "A-1", "z"], dtype=object)
    store = SequenceStore.from_lists([[3, 1, 2], [2, 3]])
    back = read_recbole_inter(write_recbole_inter(store, tmp_path / "s.inter", ids, ["u", "v"]), k_core=0)
    assert original(back) == {"u": ["z", "B00X", "A-1"], "v": ["A-1", "z"]}
    with pytest.raises(ValueError, match="'A-1'.*format 'inter'"):
        write_sequence_file(store, tmp_path / "s.txt", ids, ["u", "v"])
    assert not (tmp_path / "s.txt").exists()


@pytest.mark.parametrize(
    "store, names, word",
    [
        (SequenceStore.from_lists([[1], [2]]), ["a", "a"], "unique"),
        (SequenceStore.from_lists([[1], [2]]), ["a", "b c"], "whitespace"),
        (SequenceStore.from_lists([[1], [2]]), ["a"], "1 user names for 2"),
        (SequenceStore.from_lists([[1], []]), None, "sequence 1 is empty"),
        (SequenceStore.from_lists([[1, 5]]), None, "1..4"),
    ],
    ids=["duplicate-names", "space-in-name", "name-count", "empty-sequence", "unknown-item"],
)
@pytest.mark.parametrize("writer", [write_sequence_file, write_recbole_inter])
def test_writers_reject_what_cannot_be_read_back(tmp_path, writer, store, names, word):
    with pytest.raises(ValueError, match=word):
        writer(store, tmp_path / "x", ITEM_IDS, names)
    assert not (tmp_path / "x").exists()


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_sequence_file(small_store(), tmp_path / "keep.txt", ITEM_IDS)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_sequence_file(SequenceStore.from_lists([[1]]), path, ITEM_IDS)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["keep.txt"]


# ---------------------------------------------------------------------------- export_run
@pytest.fixture(scope="module")
def synthetic_split():
    ds = load_dataset("synthetic")
    return ds, LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items)


def fake_run(path, split, iterations=1):
    """A run directory as the loop leaves it: config.yaml and iter_<j>/synthetic.npz in the manifest."""
    rundir = RunDir(path)
    rundir.write_text("config.yaml", yaml.safe_dump({"data": {"dataset": "synthetic", "k_core": 5}}))
    rng = np.random.default_rng(0)
    stores = []
    for j in range(1, iterations + 1):
        roots = rng.integers(0, split.num_users, size=25)
        seqs = [rng.choice(np.arange(1, split.num_items + 1), size=rng.integers(2, 9), replace=False) for _ in roots]
        store = SequenceStore.from_lists(seqs, root=roots, generation=np.full(len(roots), j))
        rundir.write_store(f"iter_{j}/synthetic.npz", store)
        stores.append(store)
    return rundir, stores


@pytest.mark.parametrize("fmt", ["sequences", "inter"])
def test_export_run_is_d0_plus_synthetic(tmp_path, synthetic_split, fmt):
    ds, split = synthetic_split
    _, (syn,) = fake_run(tmp_path / "run", split)
    out = export_run(tmp_path / "run", 1, fmt, tmp_path / f"d1.{fmt}")
    back = read_sequence_file(out) if fmt == "sequences" else read_recbole_inter(out, k_core=0)
    got = original(back)
    real_names = ds.user_ids[split.users]
    want = {str(real_names[j]): [str(ds.item_ids[i]) for i in part] for j, part in enumerate(split.train())}
    for k, (root, seq) in enumerate(zip(syn.root, syn, strict=True)):
        want[f"syn1_{k}_of_{real_names[root]}"] = [str(ds.item_ids[i]) for i in seq]
    assert got == want
    assert len(got) == split.num_users + len(syn)
    assert sum(len(v) for v in got.values()) == split.train().num_interactions + syn.num_interactions


def test_export_iteration_zero_is_the_real_training_data(tmp_path, synthetic_split):
    ds, split = synthetic_split
    fake_run(tmp_path / "run", split)
    got = original(read_sequence_file(export_run(tmp_path / "run", 0, "sequences", tmp_path / "d0.txt")))
    assert got == {
        str(ds.user_ids[u]): [str(ds.item_ids[i]) for i in split.full[j][:-2]] for j, u in enumerate(split.users)
    }
    assert not any(name.startswith("syn") for name in got)


def test_export_missing_iteration_names_the_file(tmp_path, synthetic_split):
    fake_run(tmp_path / "run", synthetic_split[1], iterations=1)
    with pytest.raises(FileNotFoundError) as info:
        export_run(tmp_path / "run", 2, "inter", tmp_path / "d2.inter")
    assert str(tmp_path / "run" / "iter_2" / "synthetic.npz") in str(info.value)
    assert not (tmp_path / "d2.inter").exists()


def test_export_rejects_tampered_or_unrecorded_files(tmp_path, synthetic_split):
    _, (syn,) = fake_run(tmp_path / "run", synthetic_split[1])
    path = tmp_path / "run" / "iter_1" / "synthetic.npz"
    bigger = SequenceStore.concat([syn, syn])
    path.write_bytes(bigger.to_bytes())
    with pytest.raises(RunDirError, match="iter_1/synthetic.npz.*do not match the manifest"):
        export_run(tmp_path / "run", 1, "sequences", tmp_path / "d.txt")
    # a synthetic file the loop never recorded is not silently used either
    other = tmp_path / "run" / "iter_2" / "synthetic.npz"
    other.parent.mkdir()
    other.write_bytes(syn.to_bytes())
    path.write_bytes(syn.to_bytes())
    with pytest.raises(RunDirError, match="iter_2/synthetic.npz.*not recorded"):
        export_run(tmp_path / "run", 2, "sequences", tmp_path / "d.txt")


def test_export_rejects_synthetic_data_of_another_dataset(tmp_path, synthetic_split):
    split = synthetic_split[1]
    rundir, _ = fake_run(tmp_path / "run", split)
    rundir.write_store("iter_1/synthetic.npz", SequenceStore.from_lists([[1, 99999]], root=[0], generation=[1]))
    with pytest.raises(ValueError, match=r"iter_1/synthetic\.npz: item ids outside"):
        export_run(tmp_path / "run", 1, "inter", tmp_path / "d.inter")
    orphan = SequenceStore.from_lists([[1, 2]], root=[split.num_users], generation=[1])
    rundir.write_store("iter_1/synthetic.npz", orphan)
    with pytest.raises(ValueError, match=r"iter_1/synthetic\.npz: root"):
        export_run(tmp_path / "run", 1, "inter", tmp_path / "d.inter")


def test_export_argument_errors(tmp_path, synthetic_split):
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        export_run(tmp_path / "nothing", 1, "inter", tmp_path / "x.inter")
    fake_run(tmp_path / "run", synthetic_split[1])
    with pytest.raises(ValueError, match="format 'csv'"):
        export_run(tmp_path / "run", 1, "csv", tmp_path / "x.csv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iteration must be >= 0"):
        export_run(tmp_path / "run", -1, "inter", tmp_path / "x.inter")


def test_cli_export(tmp_path, synthetic_split, capsys):
    from rsir_pl.cli import main

    fake_run(tmp_path / "run", synthetic_split[1])
    out = tmp_path / "cli.inter"
    args = ["data", "export", "--run_dir", str(tmp_path / "run"), "--iteration", "1", "--format", "inter"]
    assert main([*args, "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert main([*args[:5], "3", "--format", "inter", "--out", str(out)]) == 2
    assert "iter_2/synthetic.npz" in capsys.readouterr().err
