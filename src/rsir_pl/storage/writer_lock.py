"""One writer per run directory.

Two processes writing the same run directory would each keep their own in-memory manifest and
overwrite the other's ``manifest.json``, so files one of them wrote would later fail the integrity
check. The writer therefore takes an exclusive ``flock`` on ``<run_dir>/.writer.lock`` and holds it
until the process ends. The kernel drops the lock when its process dies, however it dies
(SIGKILL included), so a crashed run never leaves a stale lock behind and resuming needs no
cleanup. Within one process a directory may be opened for writing any number of times.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

try:  # POSIX only; elsewhere runs are not protected against a second writer
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".writer.lock"

#: resolved run directory -> open file descriptor holding its lock (this process)
_held: dict[Path, int] = {}


class RunDirBusyError(RuntimeError):
    """Another live process is writing the run directory."""


def acquire_writer_lock(run_dir: str | Path) -> None:
    """Hold the run directory's writer lock for the rest of this process.

    Raises :class:`RunDirBusyError`, naming the other process, when one already holds it.
    """
    path = Path(run_dir).resolve()
    if path in _held or fcntl is None:
        return
    lock_path = path / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_holder(fd)
        os.close(fd)
        raise RunDirBusyError(
            f"{path}: another process ({holder}) is writing this run directory; wait for it to "
            "finish or stop it, or use another run_dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    _held[path] = fd


def release_writer_lock(run_dir: str | Path) -> None:
    """Give the lock back before the process ends (no-op when this process does not hold it)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def writer_holder(run_dir: str | Path) -> str | None:
    """Who is writing ``run_dir`` now ("pid N on host"), or None when no live process is."""
    path = Path(run_dir).resolve()
    if path in _held:
        return f"pid {os.getpid()} on {socket.gethostname()} (this process)"
    lock_path = path / LOCK_FILE
    if fcntl is None or not lock_path.is_file():
        return None
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        # a shared lock is refused while a writer holds the exclusive one; taken, it is dropped at once
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_holder(fd)
    finally:
        os.close(fd)
    return None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
