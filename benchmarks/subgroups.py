"""Who gains from RSIR: the headline comparisons split by user group, written to RESULTS.md.

    python benchmarks/subgroups.py --tune 'SASRec Toys=benchmarks/out/tune-toys' \\
        --tune 'SASRec Toys=benchmarks/out/tune-toys-s1' --plot benchmarks/figures/subgroups.png

Sources are read like ``benchmarks/seed_summary.py`` reads them (``--tune GROUP=DIR``: the
setting ``rsir tune`` selected; ``--runs GROUP=DIR``: a run directory's iteration 1 against its
iteration 0). Per GROUP, the per-user test ranks of all its seeds are pooled ((user, seed) pairs;
every seed uses the same split) and compared per user group (:mod:`rsir_pl.subgroups`): by the
user's history length at test time, and by how often the test item occurs in the real training
data. Each row is a paired comparison over its pairs (95% bootstrap CI of the mean per-pair
difference). ``--plot`` draws the relative changes with their CIs, a panel per grouping and metric.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_RESULTS, append_results, markdown_table, replace_results_section, section  # noqa: E402
from seed_summary import SeedRun, collect  # noqa: E402

METRICS = (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"))
WHAT = {"history": "history length at test time", "popularity": "test item's count in the training data"}


def pooled_seeds(runs: list[SeedRun]) -> tuple[Any, Any, Any]:
    """One GROUP's seeds pooled: base and RSIR ranks over all (user, seed) pairs, and the split
    every seed was tested on (loaded once; seeds tested on other data are refused)."""
    import numpy as np

    from rsir_pl.loop.compare import check_comparable, read_tested, tested_split

    if any(r.rank_files is None for r in runs):
        raise SystemExit(f"{runs[0].group}: every seed needs per-user test ranks (run directories, not sections)")
    base, new = [], []
    for r in runs:
        b_file, n_file = r.rank_files  # type: ignore[misc]
        b = read_tested(b_file.parent.parent, int(b_file.parent.name[5:]))
        n = read_tested(n_file.parent.parent, int(n_file.parent.name[5:]))
        check_comparable(b, n)
        if base:
            check_comparable(base[0], b)
        base.append(b)
        new.append(n)
    split = tested_split(base[0])
    return np.concatenate([b.ranks for b in base]), np.concatenate([n.ranks for n in new]), split


def group_rows(
    runs: list[SeedRun], by: str, edges: list[int] | None = None, pooled: Any = None
) -> list[dict[str, Any]]:
    """The per-user-group comparison of one GROUP's seeds, pooled over its (user, seed) pairs
    (``pooled``: what :func:`pooled_seeds` returned for them, to read the runs once)."""
    from rsir_pl.subgroups import compare_by_group, tile, user_groups

    b_all, n_all, split = pooled_seeds(runs) if pooled is None else pooled
    return compare_by_group(b_all, n_all, tile(user_groups(split, by, edges), len(runs)), seed=0)


def _cell(c: dict[str, float]) -> str:
    rel = f"{100 * c['relative']:+.1f}%" if c["base"] else "n/a"
    mark = ", CI > 0" if c["ci_low"] > 0 else ", CI < 0" if c["ci_high"] < 0 else ""
    return f"{c['base']:.4f} -> {c['new']:.4f} ({rel}{mark}) [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"


def table(results: dict[str, tuple[list[SeedRun], list[dict[str, Any]]]], by: str) -> str:
    """One markdown table for one grouping: a row per GROUP and user group."""
    head = ["backbone, dataset", "seeds", WHAT[by], "(user, seed) pairs"]
    head += [f"{name}: base -> RSIR (change) [95% CI of the difference]" for _, name in METRICS]
    rows = []
    for name, (runs, rs) in results.items():
        seeds = ", ".join(str(r.seed) for r in runs)
        for row in rs:
            rows.append([name, seeds, row["group"], row["users"], *(_cell(row[m]) for m, _ in METRICS)])
    return markdown_table(head, rows)


def plot(results: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> None:
    """Relative change with 95% CI per user group: a row of panels per grouping, one per metric."""
    import matplotlib

    from rsir_pl.significance import relative_interval

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bys = list(next(iter(results.values())))
    fig, axes = plt.subplots(len(bys), 2, figsize=(11, 3.4 * len(bys)), squeeze=False)
    names = list(results)
    width = 0.8 / max(1, len(names))
    for i, by in enumerate(bys):
        for j, (metric, label) in enumerate(METRICS):
            ax = axes[i][j]
            labels: list[str] = []
            for s, name in enumerate(names):
                rows = [r for r in results[name][by] if r["group"] != "all"]
                labels = [r["group"] for r in rows]
                xs, ys, lo, hi = [], [], [], []
                for x, r in enumerate(rows):
                    shares = relative_interval(r[metric])
                    if shares is None:
                        continue
                    rel, low, high = shares
                    xs.append(x - 0.4 + width * (s + 0.5))
                    ys.append(100 * rel)
                    lo.append(100 * (rel - low))
                    hi.append(100 * (high - rel))
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=name, color=f"C{s}")
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels)
            ax.set_xlabel(WHAT[by])
            ax.set_ylabel(f"RSIR vs base, {label} (%)")
            ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("RSIR against the same-seed base per user group (pooled over seeds, 95% CI)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, what in (("--runs", "GROUP=RUN_DIR"), ("--tune", "GROUP=TUNE_DIR")):
        ap.add_argument(option, action="append", type=lambda s, o=option: (o, s), dest="sources", metavar=what)
    ap.add_argument("--by", action="append", choices=sorted(WHAT), help="groupings (default: both)")
    ap.add_argument("--iteration", type=int, default=1, help="the RSIR iteration compared with the base")
    ap.add_argument("--title", default="Who gains: RSIR against the base per user group")
    ap.add_argument("--reading", default="", help="the honest reading of the numbers")
    ap.add_argument("--plot", help="also draw the changes per group to this PNG (linked from the section)")
    ap.add_argument("--results", default=str(DEFAULT_RESULTS), help="file the section goes to")
    ap.add_argument("--replace", action="store_true", help="replace the section with the same title in place")
    args = ap.parse_args()
    if not args.sources:
        ap.error("give at least one --runs or --tune")
    bys = args.by or ["history", "popularity"]
    groups = collect(args.sources, args.results, args.iteration)
    per_by: dict[str, dict[str, tuple[list[SeedRun], list[dict[str, Any]]]]] = {by: {} for by in bys}
    for name, runs in groups.items():
        pooled = pooled_seeds(runs)
        for by in bys:
            per_by[by][name] = (runs, group_rows(runs, by, pooled=pooled))
    blocks = [
        "Each row: the (user, seed) pairs of that user group, pooled over the group's seeds; RSIR is the "
        "setting `rsir tune` selected on validation (as in the headline table), compared per pair "
        "with the same-seed base. Groups are half-open ranges (`5-9`: 5 to 9)."
    ]
    for by in bys:
        blocks += [f"**By {WHAT[by]}**", table(per_by[by], by)]
    if args.plot:
        plot({name: {by: per_by[by][name][1] for by in bys} for name in groups}, Path(args.plot))
        try:
            rel = Path(args.plot).resolve().relative_to(Path(args.results).resolve().parent).as_posix()
            blocks.append(f"![RSIR against the base per user group, with 95% CIs]({rel})")
        except ValueError:
            blocks.append(f"plot: {args.plot}")
    text = section(args.title, blocks, args.reading or "see the tables")
    if args.replace:
        replace_results_section(args.results, args.title, text)
    else:
        append_results(args.results, text)
    print("\n\n".join(blocks))


if __name__ == "__main__":
    main()
