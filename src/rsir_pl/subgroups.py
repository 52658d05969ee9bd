"""Paired comparisons of two models per group of test users.

An average change can hide who gains: synthetic sequences may help users with short histories or
targets that are rare in training and cost the rest. Users are grouped by one of

* ``history``: the length of the test input (training part + validation item), the user's
  history when the test item is predicted;
* ``popularity``: how often the user's test item occurs in the real training data D_0 (0: the
  item never occurs there).

Groups are half-open ranges between ascending ``edges``: edges ``(5, 10)`` give ``< 5``,
``5-9`` and ``>= 10``. Every group gets the paired per-user comparison of
:func:`rsir_pl.significance.paired_comparison` (bootstrap CI and t-test) on its users only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.significance import paired_comparison, relative_interval

#: what users can be grouped by, with default edges chosen so that no group is tiny on the
#: 5-core Amazon datasets (Toys: 6,579 / 9,443 / 2,513 / 877 users by history)
GROUPINGS: dict[str, tuple[int, ...]] = {"history": (5, 10, 20), "popularity": (5, 20, 50)}


@dataclass
class UserGroups:
    """Each test user's group (``index[u]`` indexes ``labels``) and what the groups are of."""

    by: str
    edges: tuple[int, ...]
    labels: list[str]
    index: np.ndarray
    #: the grouped value per user (history length or training count of the test item)
    value: np.ndarray


def group_labels(edges: Sequence[int]) -> list[str]:
    """``(5, 10)`` -> ``['< 5', '5-9', '>= 10']``."""
    if not edges:
        return ["all"]
    labels = [f"< {edges[0]}"]
    labels += [f"{lo}-{hi - 1}" if hi - 1 > lo else str(lo) for lo, hi in zip(edges[:-1], edges[1:])]
    return labels + [f">= {edges[-1]}"]


def check_edges(edges: Sequence[int], option: str = "edges") -> tuple[int, ...]:
    """Edges as a tuple of ascending positive integers, or a ValueError naming ``option``."""
    out = tuple(int(e) for e in edges)
    if any(e != float(x) for e, x in zip(out, edges)):
        raise ValueError(f"{option}: edges must be whole numbers (got {list(edges)})")
    if any(e < 1 for e in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{option}: edges must be positive and strictly ascending (got {list(edges)})")
    return out


def user_groups(split: LeaveOneOutSplit, by: str = "history", edges: Sequence[int] | None = None) -> UserGroups:
    """Group the split's users (in user-index order, as test ranks are stored) by ``by``."""
    if by not in GROUPINGS:
        raise ValueError(f"by: unknown grouping {by!r} (choose from {', '.join(GROUPINGS)})")
    e = check_edges(GROUPINGS[by] if edges is None else edges)
    if by == "history":
        value = split.full.lengths.astype(np.int64) - 1
    else:
        counts = np.bincount(split.train().items, minlength=split.num_items + 1)
        value = counts[split.test_target].astype(np.int64)
    return UserGroups(by, e, group_labels(e), np.searchsorted(np.asarray(e), value, side="right"), value)


def compare_by_group(
    base_ranks: np.ndarray,
    new_ranks: np.ndarray,
    groups: UserGroups,
    metrics: tuple[str, ...] = ("ndcg@10", "recall@10"),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per group (then ``all``): its users and, per metric, the paired comparison of the
    new ranks against the base ranks over those users. Ranks are per user, in user-index order
    (several seeds: concatenate ranks and tile the groups, see :func:`tile`)."""
    base_ranks, new_ranks = np.asarray(base_ranks), np.asarray(new_ranks)
    if base_ranks.shape != new_ranks.shape or base_ranks.shape != groups.index.shape:
        raise ValueError(
            f"ranks and groups must cover the same users (base {base_ranks.shape}, new {new_ranks.shape}, "
            f"groups {groups.index.shape})"
        )
    rows = []
    for g, label in enumerate([*groups.labels, "all"]):
        users = groups.index == g if label != "all" else np.ones(len(groups.index), dtype=bool)
        cmp = paired_comparison(base_ranks[users], new_ranks[users], metrics=metrics, seed=seed)
        rows.append({"group": label, "users": int(users.sum()), **cmp})
    return rows


def tile(groups: UserGroups, times: int) -> UserGroups:
    """The groups repeated ``times`` times: for ranks of several seeds concatenated (same split)."""
    return UserGroups(
        groups.by, groups.edges, groups.labels, np.tile(groups.index, times), np.tile(groups.value, times)
    )


def format_rows(rows: list[dict[str, Any]], by: str, metrics: tuple[str, ...] = ("ndcg@10", "recall@10")) -> str:
    """The rows as a markdown table: users, then per metric base -> new, change and 95% CI."""
    what = {"history": "history length", "popularity": "test item's training count"}.get(by, by)
    head = [what, "users"]
    for m in metrics:
        name = m.replace("ndcg", "NDCG").replace("recall", "Recall")
        head += [f"{name} base -> new", f"{name} change", f"{name} 95% CI of the difference"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["group"], f"{r['users']:,}"]
        for m in metrics:
            c = r[m]
            rel = f"{100 * c['relative']:+.2f}%" if c["base"] else "n/a"
            mark = " (CI > 0)" if c["ci_low"] > 0 else " (CI < 0)" if c["ci_high"] < 0 else ""
            cells += [f"{c['base']:.4f} -> {c['new']:.4f}", rel + mark, f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_rows(rows: list[dict[str, Any]], by: str, path: str, title: str = "") -> None:
    """Relative change per group with its 95% CI (as a share of the group's base), a panel per
    metric; the overall change is the last point. Written as a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    what = {"history": "history length at test time", "popularity": "test item's count in the training data"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (metric, name) in zip(axes, (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"))):
        for x, r in enumerate(rows):
            shares = relative_interval(r[metric])
            if shares is None:
                continue
            rel, lo, hi = (100 * v for v in shares)
            color = "C2" if lo > 0 else "C3" if hi < 0 else "C0"
            ax.errorbar(x, rel, yerr=[[rel - lo], [hi - rel]], fmt="D" if r["group"] == "all" else "o", color=color)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{r['group']}\n({r['users']:,})" for r in rows], fontsize=8)
        ax.set_xlabel(what.get(by, by) + " (users)")
        ax.set_ylabel(f"change in {name} (%), 95% CI")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title or "new against base per user group (green: CI > 0, red: CI < 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
