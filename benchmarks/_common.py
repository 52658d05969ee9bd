"""Shared helpers of the benchmark scripts: machine description, threads, timing, memory, and the
markdown section every script appends to ``benchmarks/RESULTS.md``.

Each script is run directly (``python benchmarks/<name>.py``), so this module is imported as a
sibling (the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
OUT_DIR = BENCH_DIR / "out"


# ---------------------------------------------------------------------------- arguments
def add_common_args(parser: argparse.ArgumentParser, threads_default: int | None = None) -> None:
    """``--results`` (where the markdown goes) and ``--threads`` (torch and faiss threads)."""
    parser.add_argument(
        "--results",
        default=str(DEFAULT_RESULTS),
        help="markdown file the results section is appended to (default: benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=threads_default,
        help="torch.set_num_threads and faiss.omp_set_num_threads (default: %(default)s = leave as is)",
    )


def set_threads(n: int | None) -> None:
    """Pin torch's intra-op threads (and faiss's OpenMP threads, when faiss is installed)."""
    if n is None:
        return
    import torch

    torch.set_num_threads(int(n))
    try:
        import faiss

        faiss.omp_set_num_threads(int(n))
    except ImportError:
        pass


def command_line() -> str:
    """The exact command line that ran this script (as typed, re-quoted)."""
    exe = Path(sys.executable)
    try:
        exe_s = str(exe.relative_to(REPO_ROOT))
    except ValueError:
        exe_s = str(exe)
    return " ".join(shlex.quote(a) for a in [exe_s, *sys.argv])


# ---------------------------------------------------------------------------- provenance
def git_revision() -> str:
    """``git rev-parse --short HEAD``, with ``+dirty`` when files under src/ differ from HEAD."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        status = ""
    return rev + ("+dirty" if status.strip() else "")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    """CPUs this process may use (what ``nproc`` prints)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    """Name of CUDA device 0 when torch sees one."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken CUDA set-up must not stop a CPU benchmark
        return None
    return None


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, torch threads, GPU, memory, versions."""
    info: dict[str, Any] = {"nproc": nproc(), "cpu": cpu_model()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch"] = torch.__version__
    except ImportError:
        info["torch_threads"] = None
    info["gpu"] = gpu_name() or "none"
    info["omp_num_threads_env"] = os.environ.get("OMP_NUM_THREADS", "unset")
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    info["python"] = platform.python_version()
    try:
        import faiss

        info["faiss"] = faiss.__version__
    except ImportError:
        pass
    return info


def loadavg() -> str:
    """1/5/15-minute load averages: a busy machine makes every timing slower."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"


# ---------------------------------------------------------------------------- measuring
@contextmanager
def timed(out: dict[str, float], key: str) -> Iterator[None]:
    """``with timed(d, "x"): ...`` stores the wall seconds in ``d["x"]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - t0


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (ru_maxrss is KiB on Linux)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # pragma: no cover - bytes there
        kb /= 1024
    return kb / 2**20


def current_rss_gib() -> float:
    """Resident memory of this process now, GiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0.0


def hwm_rss_gib() -> float:
    """Peak resident memory of this process image, GiB (``VmHWM``; 0 where /proc is missing).

    Unlike ``ru_maxrss`` it starts afresh at ``exec`` (a child started by a big parent does not
    inherit the parent's peak) and :func:`reset_peak_rss` can restart it, so it isolates a phase.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError):  # pragma: no cover - not Linux
        pass
    return 0.0


def reset_peak_rss() -> bool:
    """Restart :func:`hwm_rss_gib` from the current RSS (Linux ``clear_refs`` 5); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:  # pragma: no cover - not Linux, or not allowed
        return False


class RSSSampler:
    """Peak resident memory over a block, sampled by a thread every ``interval`` seconds.

    ``ru_maxrss`` is the peak over the whole process life; this isolates one phase (e.g. generation
    after a model whose construction had a higher transient peak). Short spikes between two samples
    can be missed, so it is a lower bound of the phase's true peak.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import threading

        self.interval = interval
        self.peak_gib = current_rss_gib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_gib = max(self.peak_gib, current_rss_gib())
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_gib = max(self.peak_gib, current_rss_gib())


def fmt(x: Any, digits: int = 3) -> str:
    """Compact cell text: floats to ``digits`` significant places, ints with thousands separators."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != x:  # NaN
            return "nan"
        if x == 0:
            return "0"
        if abs(x) >= 10**digits:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)


# ---------------------------------------------------------------------------- markdown
def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells go through :func:`fmt`."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def section(title: str, body: Sequence[str], reading: str, info: dict[str, Any] | None = None) -> str:
    """Heading, command, revision, date, machine, then ``body`` blocks and the reading."""
    info = info or machine_info()
    machine = (
        f"nproc {info['nproc']}, CPU {info['cpu']}, torch threads {info.get('torch_threads')}, "
        f"GPU {info.get('gpu', 'none')}, RAM {info.get('memory_gib', '?')} GiB, OMP_NUM_THREADS="
        f"{info.get('omp_num_threads_env')}, Python {info.get('python')}, torch {info.get('torch', '?')}"
        + (f", faiss {info['faiss']}" if "faiss" in info else "")
    )
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"## {title}",
        "",
        f"- command: `{command_line()}`",
        f"- revision: `{git_revision()}`",
        f"- date: {now}",
        f"- machine: {machine}",
        f"- load average at the end (1/5/15 min): {loadavg()}",
        "",
    ]
    for block in body:
        parts.extend([block, ""])
    parts.extend([f"**Reading:** {reading}", ""])
    return "\n".join(parts) + "\n"


def append_results(path: str | Path, text: str) -> Path:
    """Append a section to the results file (created with a title when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    # a hand-edited file may end without its blank line: a heading needs one before it
    sep = "" if new or path.read_text(encoding="utf-8").endswith("\n\n") else "\n"
    with open(path, "a", encoding="utf-8") as fh:
        if new:
            fh.write("# Benchmark results\n\nAppended by the scripts of `benchmarks/` (see benchmarks/README.md).\n\n")
        fh.write(sep + text)
    print(f"\nappended to {path}")
    return path


def replace_results_section(path: str | Path, title: str, text: str) -> Path:
    """Put ``text`` (a :func:`section`) in place of the section headed ``## {title}``, keeping the
    file's order: for regenerating a section by a script. The title must head exactly one section."""
    from results_md import split_sections

    path = Path(path)
    old = path.read_text(encoding="utf-8")
    sections = split_sections(old)
    hits = [i for i, s in enumerate(sections) if s.title == title.strip()]
    if len(hits) != 1:
        raise ValueError(f"{path}: {len(hits)} sections titled {title!r}; --replace needs exactly one")
    i = hits[0]
    lines = old.split("\n")
    start = sections[i].line - 1
    end = sections[i + 1].line - 1 if i + 1 < len(sections) else len(lines)
    tail = "\n".join(lines[end:])
    new = "\n".join(lines[:start]) + "\n" + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    path.write_text(new, encoding="utf-8")
    print(f"\nreplaced section {title!r} in {path}")
    return path


def print_header(title: str) -> None:
    """A short banner with the machine (stdout)."""
    info = machine_info()
    print(f"== {title}")
    print(
        f"   {command_line()}\n   revision {git_revision()}; nproc {info['nproc']}; {info['cpu']}; "
        f"torch threads {info.get('torch_threads')}; GPU {info.get('gpu')}"
    )
