"""The run directory's writer lock: one writing process, no stale locks after a kill."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rsir_pl.storage.rundir import RunDir
from rsir_pl.storage.writer_lock import RunDirBusyError, acquire_writer_lock, release_writer_lock, writer_holder

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX only")

HOLDER = textwrap.dedent(
    """
    import sys, time
    from rsir_pl.storage.rundir import RunDir
    RunDir(sys.argv[1]).write_text("a.txt", "from the first writer")
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _start_holder(path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_second_process_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "run"
    proc = _start_holder(path)
    try:
        with pytest.raises(RunDirBusyError, match=f"pid {proc.pid}"):
            RunDir(path)
        # a reader is never refused, and sees what the writer wrote
        assert RunDir(path, writer=False).read_bytes("a.txt") == b"from the first writer"
        assert writer_holder(path).startswith(f"pid {proc.pid} ")  # what rsir status shows
    finally:
        proc.kill()
        proc.wait()
    assert writer_holder(path) is None
    run = RunDir(path)  # the kernel dropped the dead holder's lock
    run.write_text("b.txt", "from the second writer")
    assert run.verify() == []
    release_writer_lock(path)


def test_one_process_may_open_its_directory_for_writing_twice(tmp_path):
    first = RunDir(tmp_path)
    second = RunDir(tmp_path)
    first.write_text("x.txt", "1")
    second.reload()
    assert second.read_bytes("x.txt") == b"1"
    release_writer_lock(tmp_path)


def test_a_released_lock_can_be_taken_by_another_process(tmp_path):
    acquire_writer_lock(tmp_path)
    release_writer_lock(tmp_path)
    proc = _start_holder(tmp_path)
    proc.kill()
    proc.wait()
