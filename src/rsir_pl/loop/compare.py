"""``rsir compare``: two tested iterations of run directories, paired per user and per user group.

Reads each iteration's ``test_ranks.npz`` (one tie-pessimistic full-ranking rank per test user)
and the dataset the runs were tested on, and reports the paired change of the new iteration
against the base overall and per group of users (:mod:`rsir_pl.subgroups`): whether RSIR helped
everyone a little, or some users a lot. Nothing is trained or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsir_pl.config import DataConfig
from rsir_pl.data.registry import load_dataset
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.storage.rundir import RUN_INFO, RunDir, RunDirError
from rsir_pl.subgroups import compare_by_group, format_rows, user_groups

#: settings that change what a test rank means: two runs compared per user must agree on them
SAME_TEST = ("dataset", "k_core", "mask_history")


@dataclass
class TestedIteration:
    """One tested iteration of a run directory: its per-user ranks and data settings."""

    run_dir: Path
    iteration: int
    ranks: np.ndarray
    data: dict[str, Any]
    seed: int | None


def read_tested(run_dir: str | Path, iteration: int | None = None) -> TestedIteration:
    """The ranks of ``iteration`` (default: the last tested one) of ``run_dir``."""
    path = Path(run_dir)
    if not (path / RUN_INFO).is_file():
        raise RunDirError(f"{path}: not a run directory (no {RUN_INFO})")
    rd = RunDir(path, writer=False)
    tested = sorted(
        int(p.parent.name[5:])
        for p in path.glob("iter_*/test_ranks.npz")
        if p.parent.name[5:].isdigit() and rd.has(f"{p.parent.name}/test_ranks.npz")
    )
    if iteration is None:
        if not tested:
            raise RunDirError(f"{path}: no tested iteration yet (no iter_<k>/test_ranks.npz)")
        iteration = tested[-1]
    elif iteration not in tested:
        have = ", ".join(map(str, tested)) or "none"
        raise RunDirError(f"{path}: iteration {iteration} has not been tested (tested iterations: {have})")
    config = rd.read_config()
    ranks = rd.read_arrays(f"iter_{iteration}/test_ranks.npz")["ranks"]
    return TestedIteration(path, iteration, ranks, dict(config.get("data") or {}), config.get("seed"))


def check_comparable(base: TestedIteration, new: TestedIteration) -> None:
    """Refuse two iterations whose test ranks do not refer to the same users and targets, and an
    iteration compared with itself."""
    if base.run_dir.resolve() == new.run_dir.resolve() and base.iteration == new.iteration:
        raise ValueError(
            f"{new.run_dir}: iteration {new.iteration} compared with itself; give --iteration, or "
            "--base (another run) and --base_iteration"
        )
    for key in SAME_TEST:
        if base.data.get(key) != new.data.get(key):
            raise ValueError(
                f"data.{key} differs: {base.data.get(key)!r} in {base.run_dir} against {new.data.get(key)!r} "
                f"in {new.run_dir}; per-user comparisons need the same test"
            )
    if base.ranks.shape != new.ranks.shape:
        raise ValueError(f"{base.run_dir} and {new.run_dir} ranked different numbers of users")


def tested_split(tested: TestedIteration) -> LeaveOneOutSplit:
    """The leave-one-out split the iteration was tested on, re-made from its dataset; refused when
    the dataset no longer splits into the users it ranked."""
    ds = load_dataset(str(tested.data.get("dataset")), k_core=int(tested.data.get("k_core", DataConfig().k_core)))
    split = LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items, ds.times)
    if split.num_users != len(tested.ranks):
        raise ValueError(
            f"the dataset {tested.data.get('dataset')!r} now splits into {split.num_users:,} users, but "
            f"{tested.run_dir} ranked {len(tested.ranks):,}: the data changed since the runs were tested"
        )
    return split


def compare_runs(
    new: TestedIteration,
    base: TestedIteration,
    by: str = "history",
    edges: list[int] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Per-group paired comparison of ``new`` against ``base``; returns the rows and the grouping."""
    check_comparable(base, new)
    groups = user_groups(tested_split(base), by, edges)
    seed = int(new.seed) if new.seed is not None else 0
    return compare_by_group(base.ranks, new.ranks, groups, seed=seed), groups.by


def format_comparison(new: TestedIteration, base: TestedIteration, rows: list[dict[str, Any]], by: str) -> str:
    """What ``rsir compare`` prints."""
    head = (
        f"{new.run_dir} iteration {new.iteration} against {base.run_dir} iteration {base.iteration}\n"
        "(paired per user; CI: 95% bootstrap CI of the mean per-user difference)\n"
    )
    return head + format_rows(rows, by)
