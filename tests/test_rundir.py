"""Atomic writes and the integrity manifest of the run directory."""

from __future__ import annotations

import pytest

from rsir_pl.data.store import SequenceStore
from rsir_pl.storage.rundir import RunDir, RunDirError


def test_written_files_verify_and_read_back(tmp_path):
    run = RunDir(tmp_path)
    store = SequenceStore.from_lists([[1, 2], [3, 4, 5]], generation=[1, 1])
    run.write_store("iter_1/synthetic.npz", store)
    run.write_json("iter_1/stats.json", {"a": 1})
    assert run.verify() == []
    again = RunDir(tmp_path, writer=False)
    assert again.read_store("iter_1/synthetic.npz").equals(store)
    assert again.read_json("iter_1/stats.json") == {"a": 1}
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary file left behind


def test_truncated_or_changed_files_are_reported_by_name(tmp_path):
    run = RunDir(tmp_path)
    run.write_text("a.txt", "hello world")
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(RunDirError, match="a.txt: contents do not match"):
        run.read_bytes("a.txt")
    assert any("a.txt" in p for p in run.verify())
    (tmp_path / "a.txt").unlink()
    with pytest.raises(RunDirError, match="a.txt: recorded in the manifest but missing"):
        run.read_bytes("a.txt")


def test_unrecorded_file_is_not_trusted(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "stray.npz").write_bytes(b"x")
    assert not run.has("stray.npz")
    with pytest.raises(RunDirError, match="not recorded"):
        run.read_bytes("stray.npz")


def test_non_writer_never_writes(tmp_path):
    run = RunDir(tmp_path / "r", writer=False)
    run.write_text("a.txt", "x")
    assert not (tmp_path / "r" / "a.txt").exists()


def test_corrupt_manifest_is_reported(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunDirError, match="the manifest is corrupt"):
        RunDir(tmp_path)


def test_directory_of_an_unknown_run_is_refused(tmp_path):
    (tmp_path / "iter_0").mkdir()
    with pytest.raises(RunDirError, match="unknown run"):
        RunDir(tmp_path).claim({"seed": 0})


def test_read_config_checks_a_recorded_file_and_names_a_bad_one(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_config() == {}  # none yet
    run.write_text("config.yaml", "seed: 3\ndata: {dataset: toys}\n")
    assert run.read_config() == {"seed": 3, "data": {"dataset": "toys"}}
    (tmp_path / "config.yaml").write_text("seed: 4\ndata: {dataset: toys}\n")  # changed after it was recorded
    with pytest.raises(RunDirError, match=r"config\.yaml: contents do not match the manifest"):
        RunDir(tmp_path, writer=False).read_config()

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text("seed: 5\n")  # a copy the manifest does not know is read as is
    assert RunDir(bare, writer=False).read_config() == {"seed": 5}
    (bare / "config.yaml").write_text("seed: [5\n")
    with pytest.raises(RunDirError, match=r"bare/config\.yaml: not valid YAML"):
        RunDir(bare, writer=False).read_config()
    (bare / "config.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RunDirError, match=r"config\.yaml: must hold a mapping of settings, got list"):
        RunDir(bare, writer=False).read_config()
    (bare / "config.yaml").write_text("")
    assert RunDir(bare, writer=False).read_config() == {}
