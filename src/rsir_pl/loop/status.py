"""``rsir status RUN_DIR``: where a run stands, read from its files without changing them.

For each iteration k: finished (tested), trained but not tested, training (with the epochs its
``fit.ckpt`` holds and the best validation NDCG@10 so far) or not started; the generated data
D'_{k+1} with its size and acceptance; whether a process is writing the directory now; and
whether every recorded file still matches the manifest. A long run on a shared machine can be
checked this way while it trains, and a stopped one before it is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsir_pl.fit_checkpoint import FitCheckpointError, read_fit_checkpoint
from rsir_pl.storage.rundir import RUN_INFO, RunDir, RunDirError
from rsir_pl.storage.writer_lock import writer_holder


@dataclass
class IterationStatus:
    """One iteration's state: ``finished``, ``trained``, ``training``, ``in progress`` (a live
    writer, no epoch of the fit finished yet), ``not started`` or ``damaged`` (a recorded file no
    longer matches the manifest)."""

    k: int
    state: str
    test: dict[str, float] | None = None
    fit: dict[str, Any] | None = None
    #: the in-progress fit: epochs finished, best validation NDCG@10 and its epoch
    in_progress: dict[str, Any] | None = None
    #: statistics of D'_{k+1}, when generated
    generated: dict[str, Any] | None = None


@dataclass
class RunStatus:
    """A run directory's state."""

    path: Path
    description: str
    iterations: int | None
    writer: str | None
    files: int
    problems: list[str] = field(default_factory=list)
    steps: list[IterationStatus] = field(default_factory=list)


def fit_progress(path: Path) -> dict[str, Any]:
    """Epochs finished and best validation NDCG@10 so far of an in-progress ``fit.ckpt``."""
    ckpt = read_fit_checkpoint(path)
    try:
        best = next(v for k, v in ckpt["callbacks"].items() if k.startswith("BestWeights"))
        return {"epochs": int(ckpt["epoch"]) + 1, "best_val_ndcg@10": best["best"], "best_epoch": best["best_epoch"]}
    except (KeyError, TypeError, StopIteration) as exc:
        raise FitCheckpointError(f"{path}: not an rsir_pl fit checkpoint ({exc!r})") from exc


def run_status(run_dir: str | Path) -> RunStatus:
    """Read the state of ``run_dir`` (nothing is written, no lock is taken)."""
    path = Path(run_dir)
    if not (path / RUN_INFO).is_file():
        raise RunDirError(f"{path}: not a run directory (no {RUN_INFO})")
    rd = RunDir(path, writer=False)
    try:
        config = rd.read_config()
    except RunDirError:
        config = {}  # status still reports the rest; verify() names the damaged file
    model, data = config.get("model", {}), config.get("data", {})
    description = (
        f"{model.get('backbone', '?')} on {data.get('dataset', '?')}, seed {config.get('seed', '?')}, "
        f"K = {config.get('iterations', '?')}"
    )
    iterations = config.get("iterations")
    status = RunStatus(path, description, iterations, writer_holder(path), len(rd.recorded()), rd.verify())
    last = max([int(p.name[5:]) for p in path.glob("iter_*") if p.name[5:].isdigit()] + [iterations or 0])
    for k in range(last + 1):
        status.steps.append(_iteration(rd, k))
    if status.writer:
        # a live writer is working on the first unfinished iteration even before its first epoch ends
        waiting = next((st for st in status.steps if st.state != "finished"), None)
        if waiting is not None and waiting.state == "not started":
            waiting.state = "in progress"
    return status


def _iteration(rd: RunDir, k: int) -> IterationStatus:
    try:
        return _read_iteration(rd, k)
    except RunDirError:
        return IterationStatus(k, "damaged")


def _read_iteration(rd: RunDir, k: int) -> IterationStatus:
    it = f"iter_{k}"
    ckpt = rd.path / it / "fit.ckpt"
    if rd.has(f"{it}/metrics.json"):
        rec = rd.read_json(f"{it}/metrics.json")
        st = IterationStatus(k, "finished", test=rec.get("test"), fit=rec.get("fit"))
    elif rd.has(f"{it}/model.pt"):
        st = IterationStatus(k, "trained", fit=rd.read_json(f"{it}/fit.json") if rd.has(f"{it}/fit.json") else None)
    elif ckpt.is_file():
        st = IterationStatus(k, "training", in_progress=fit_progress(ckpt))
    else:
        st = IterationStatus(k, "not started")
    if rd.has(f"iter_{k + 1}/generation.json"):
        st.generated = rd.read_json(f"iter_{k + 1}/generation.json")
    return st


def format_status(status: RunStatus) -> str:
    """The status as the lines ``rsir status`` prints."""
    lines = [f"{status.path} ({status.description})"]
    lines.append(f"  writer: {status.writer} is writing it" if status.writer else "  writer: none (a re-run resumes)")
    if status.problems:
        lines.append(f"  files: {status.files} recorded, {len(status.problems)} do not match the manifest:")
        lines += [f"    {p}" for p in status.problems]
    else:
        lines.append(f"  files: {status.files} recorded, all match the manifest")
    for st in status.steps:
        lines.append(f"  iteration {st.k}: {_describe(st)}")
        if st.generated is not None:
            g = st.generated
            lines.append(
                f"  D'_{st.k + 1}: {g.get('kept_sequences', 0):,} sequences generated "
                f"(acceptance {g.get('acceptance_rate', float('nan')):.3f})"
            )
    return "\n".join(lines)


def _describe(st: IterationStatus) -> str:
    fit = st.fit or {}
    best = fit.get("best_val_ndcg@10")
    trained = (
        f"best validation NDCG@10 {best:.5f} at epoch {fit.get('best_epoch')} of {fit.get('epochs')}"
        if best is not None
        else ""
    )
    if st.state == "finished" and st.test:
        return f"finished: test NDCG@10 {st.test['ndcg@10']:.5f}, Recall@10 {st.test['recall@10']:.5f}; {trained}"
    if st.state == "trained":
        return f"trained, not tested yet ({trained}); a re-run tests it"
    if st.state == "training" and st.in_progress:
        p = st.in_progress
        return (
            f"training: {p['epochs']} epochs finished, best validation NDCG@10 {p['best_val_ndcg@10']:.5f} "
            f"at epoch {p['best_epoch']}; a re-run resumes after epoch {p['epochs'] - 1} (fit.ckpt)"
        )
    if st.state == "in progress":
        return "in progress (the writer is generating, or no epoch of its fit has finished yet)"
    if st.state == "damaged":
        return "a file of it does not match the manifest (listed above); a re-run names what to delete"
    return st.state
