"""Summary over seeds of base + RSIR quality runs, written to RESULTS.md by a script.

    python benchmarks/seed_summary.py --runs "hidden 64=benchmarks/out/h64-s1" --runs "hidden 64=benchmarks/out/h64-s2"
    python benchmarks/seed_summary.py --from-results "hidden 128=^HSTU .*hidden 128 \\(adopted\\)" --title "..."

Each source is ``GROUP=WHERE``; sources with the same GROUP form one group, one row per seed:

- ``--runs GROUP=DIR``: a finished run directory (``results.json``, ``config.yaml``,
  ``provenance.json``; best validation NDCG@10 from each record's ``fit`` or ``iter_k/fit.json``);
- ``--tune GROUP=DIR``: the setting ``rsir tune`` selected on validation in DIR (a tune study
  directory holding ``study.json``, or the run directory above its ``study-tune``), read like
  ``--runs`` from the selected setting's run directory; the source names the setting and says
  when validation kept the base (no setting beat it there);
- ``--from-results GROUP=REGEX``: every section of ``--source`` (default benchmarks/RESULTS.md) whose
  title matches REGEX (``re.search``), each a section written by ``benchmarks/rsir.py``: its seed from
  the ``Setting:`` line, its numbers from the per-iteration table. For runs whose directories are gone;
  the numbers are then the 4-decimal values printed there, and the best validation NDCG@10 only when
  the table has rsir.py's ``best val NDCG@10`` column (tables written before it have none).

For every group: per seed, the base (iteration 0) and RSIR (``--iteration``, default 1) test
NDCG@10 / Recall@10, RSIR's relative change with its paired 95% CI verdict (CI > 0, n.s., CI < 0),
the best validation NDCG@10 of both; then the means, the relative change of the means, the mean of
the per-seed changes, and how many seeds have CI > 0 / n.s. / CI < 0. A table compares the groups.
``--plot PNG`` also draws each seed's and each pooled test's relative change with its 95% CI, a
panel per metric, with the Recall@10 goal (``--goal``, default +5%) marked, and links it from the
section. ``--replace`` puts the section in place of the one with the same title (``--replace OLD_TITLE``: of
that one), keeping the file's order, instead of appending: for regenerating a section.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_RESULTS, append_results, markdown_table, replace_results_section, section  # noqa: E402
from results_md import (  # noqa: E402
    Delta,
    Section,
    iteration_table,
    parse_delta,
    read_sections,
    run_devices,
    setting_seed,
)

VAL_COLUMN = "best val NDCG@10"


@dataclass
class SeedRun:
    """Base and one RSIR iteration of one seed."""

    group: str
    seed: int
    device: str
    source: str
    base_ndcg: float
    base_recall: float
    rsir_ndcg: float
    rsir_recall: float
    d_ndcg: Delta
    d_recall: Delta
    base_val: float | None = None
    rsir_val: float | None = None
    #: the base's and RSIR's per-user test ranks (run directories only), for the pooled test
    rank_files: tuple[Path, Path] | None = None


# ---------------------------------------------------------------------------- reading
def _split_spec(spec: str, option: str) -> tuple[str, str]:
    group, sep, where = spec.partition("=")
    if not sep or not group.strip() or not where.strip():
        raise SystemExit(f"{option} {spec!r}: expected GROUP=WHERE")
    return group.strip(), where.strip()


def _delta(vs: dict[str, Any], metric: str, where: str) -> Delta:
    if metric not in vs:
        raise ValueError(f"{where}: no paired comparison with the base for {metric} (vs_base)")
    c = vs[metric]
    return Delta(c["relative"], c["ci_low"], c["ci_high"], c.get("p_value"))


def from_run_dir(group: str, run_dir: str | Path, iteration: int = 1) -> SeedRun:
    """A seed's row from a finished run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found (is {run_dir} a finished run directory?)")
    records = {r["iteration"]: r for r in json.loads(path.read_text(encoding="utf-8"))}
    for k in (0, iteration):
        if k not in records:
            raise ValueError(f"{path}: no iteration {k} (has {sorted(records)})")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    prov_path = run_dir / "provenance.json"
    starts = json.loads(prov_path.read_text(encoding="utf-8")) if prov_path.exists() else []
    device = ", ".join(dict.fromkeys(p.get("cuda") or "CPU" for p in starts)) or "unknown"

    def val(k: int) -> float | None:
        fit = records[k].get("fit") or {}
        if fit.get("best_val_ndcg@10") is None and (run_dir / f"iter_{k}" / "fit.json").exists():
            fit = json.loads((run_dir / f"iter_{k}" / "fit.json").read_text(encoding="utf-8"))
        return fit.get("best_val_ndcg@10")

    base, rsir = records[0]["test"], records[iteration]["test"]
    vs = records[iteration].get("vs_base", {})
    rank_files = (run_dir / "iter_0" / "test_ranks.npz", run_dir / f"iter_{iteration}" / "test_ranks.npz")
    return SeedRun(
        group=group,
        seed=int(cfg["seed"]),
        device=device,
        source=f"run directory `{run_dir}`",
        base_ndcg=base["ndcg@10"],
        base_recall=base["recall@10"],
        rsir_ndcg=rsir["ndcg@10"],
        rsir_recall=rsir["recall@10"],
        d_ndcg=_delta(vs, "ndcg@10", str(path)),
        d_recall=_delta(vs, "recall@10", str(path)),
        base_val=val(0),
        rsir_val=val(iteration),
        rank_files=rank_files if all(f.exists() for f in rank_files) else None,
    )


def from_tune(group: str, where: str | Path, iteration: int = 1) -> SeedRun:
    """A seed's row from the setting a ``rsir tune`` study selected on validation."""
    where = Path(where)
    study = where / "study.json" if (where / "study.json").exists() else where / "study-tune" / "study.json"
    if not study.exists():
        raise FileNotFoundError(f"{where}: no study.json here or in study-tune/ (is it a finished rsir tune?)")
    numbers = json.loads(study.read_text(encoding="utf-8"))
    if numbers.get("study") != "tune" or "selected" not in numbers:
        raise ValueError(f"{study}: not a rsir tune study (study={numbers.get('study')!r})")
    sel = numbers["selected"]
    run = from_run_dir(group, sel["run_dir"], iteration)
    n = len(numbers.get("rows", []))
    kept = "" if sel["beats base on validation"] else "; validation keeps the base"
    run.source = f"rsir tune `{study.parent}`: `{sel['label']}` selected among {n} setting(s){kept}; {run.source}"
    return run


def from_section(group: str, sec: Section, iteration: int = 1) -> SeedRun:
    """A seed's row from a section written by benchmarks/rsir.py."""
    rows = {r["iteration"]: r for r in iteration_table(sec)}
    for k in (0, iteration):
        if str(k) not in rows:
            raise ValueError(f"section {sec.title!r} (line {sec.line}): no iteration {k} row")
    base, rsir = rows["0"], rows[str(iteration)]
    d_ndcg, d_recall = parse_delta(rsir["ΔNDCG@10 (95% CI, p)"]), parse_delta(rsir["ΔRecall@10 (95% CI, p)"])
    if d_ndcg is None or d_recall is None:
        raise ValueError(f"section {sec.title!r} (line {sec.line}): iteration {iteration} has no CI against the base")

    def val(row: dict[str, str]) -> float | None:
        cell = row.get(VAL_COLUMN, "–")
        return None if cell in ("–", "None", "") else float(cell)

    return SeedRun(
        group=group,
        seed=setting_seed(sec),
        device=run_devices(sec),
        source=f"section '{sec.title}'",
        base_ndcg=float(base["NDCG@10"]),
        base_recall=float(base["Recall@10"]),
        rsir_ndcg=float(rsir["NDCG@10"]),
        rsir_recall=float(rsir["Recall@10"]),
        d_ndcg=d_ndcg,
        d_recall=d_recall,
        base_val=val(base),
        rsir_val=val(rsir),
    )


def collect(sources: list[tuple[str, str]], results_source: str | Path, iteration: int = 1) -> dict[str, list[SeedRun]]:
    """Rows per group, in the order groups first appear; ``sources`` are (option, GROUP=WHERE)."""
    sections = read_sections(results_source) if any(kind == "--from-results" for kind, _ in sources) else []
    groups: dict[str, list[SeedRun]] = {}
    for kind, spec in sources:
        group, where = _split_spec(spec, kind)
        if kind == "--runs":
            runs = [from_run_dir(group, where, iteration)]
        elif kind == "--tune":
            runs = [from_tune(group, where, iteration)]
        else:
            pattern = re.compile(where)
            hits = [s for s in sections if pattern.search(s.title)]
            if not hits:
                raise SystemExit(f"--from-results {spec!r}: no section of {results_source} has a title matching it")
            runs = [from_section(group, s, iteration) for s in hits]
        groups.setdefault(group, []).extend(runs)
    for group, runs in groups.items():
        seeds = [r.seed for r in runs]
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        if dup:
            where = "; ".join(r.source for r in runs if r.seed in dup)
            raise SystemExit(f"group {group!r}: seed(s) {dup} come from more than one source ({where})")
        runs.sort(key=lambda r: r.seed)
    return groups


# ---------------------------------------------------------------------------- writing
def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs)


def _val_mean(xs: list[float | None]) -> str:
    have = [x for x in xs if x is not None]
    if len(have) == len(xs):
        return f"{_mean(have):.4f}"
    return f"not recorded ({len(xs) - len(have)} of {len(xs)} seeds)"


def _val(x: float | None) -> str:
    return "not recorded" if x is None else f"{x:.4f}"


def _verdicts(deltas: list[Delta]) -> str:
    v = [d.verdict for d in deltas]
    return f"{v.count('CI > 0')} / {v.count('n.s.')} / {v.count('CI < 0')}"


def _table(headers: list[str], rows: list[list[Any]], show_val: bool) -> str:
    """A markdown table, without its validation columns when no seed has a validation score."""
    keep = [i for i, h in enumerate(headers) if show_val or "best val" not in h]
    return markdown_table([headers[i] for i in keep], [[row[i] for i in keep] for row in rows])


def group_table(runs: list[SeedRun], show_val: bool = True) -> str:
    """Per-seed rows and the mean row of one group."""
    rows: list[list[Any]] = []
    for r in runs:
        rows.append(
            [
                r.seed,
                r.device,
                f"{r.base_ndcg:.4f}",
                f"{r.base_recall:.4f}",
                _val(r.base_val),
                f"{r.rsir_ndcg:.4f} ({r.d_ndcg.relative:+.1%}, {r.d_ndcg.verdict})",
                f"{r.rsir_recall:.4f} ({r.d_recall.relative:+.1%}, {r.d_recall.verdict})",
                _val(r.rsir_val),
            ]
        )
    bn, br = _mean([r.base_ndcg for r in runs]), _mean([r.base_recall for r in runs])
    rn, rr = _mean([r.rsir_ndcg for r in runs]), _mean([r.rsir_recall for r in runs])
    rows.append(
        [
            "mean",
            "",
            f"{bn:.4f}",
            f"{br:.4f}",
            _val_mean([r.base_val for r in runs]),
            f"{rn:.4f} ({rn / bn - 1:+.1%})",
            f"{rr:.4f} ({rr / br - 1:+.1%})",
            _val_mean([r.rsir_val for r in runs]),
        ]
    )
    headers = [
        "seed",
        "trained on",
        "base NDCG@10",
        "base Recall@10",
        "base best val NDCG@10",
        "RSIR NDCG@10 (vs base)",
        "RSIR Recall@10 (vs base)",
        "RSIR best val NDCG@10",
    ]
    return _table(headers, rows, show_val)


def comparison_table(groups: dict[str, list[SeedRun]], show_val: bool = True) -> str:
    """One row per group: means, change of the means, mean per-seed change, CI verdict counts."""
    rows = []
    for name, runs in groups.items():
        bn, br = _mean([r.base_ndcg for r in runs]), _mean([r.base_recall for r in runs])
        rn, rr = _mean([r.rsir_ndcg for r in runs]), _mean([r.rsir_recall for r in runs])
        rows.append(
            [
                name,
                ", ".join(str(r.seed) for r in runs),
                _val_mean([r.base_val for r in runs]),
                f"{bn:.4f}",
                f"{br:.4f}",
                f"{rn:.4f} ({rn / bn - 1:+.1%})",
                f"{rr:.4f} ({rr / br - 1:+.1%})",
                f"{_mean([r.d_ndcg.relative for r in runs]):+.1%} / {_mean([r.d_recall.relative for r in runs]):+.1%}",
                f"{_verdicts([r.d_ndcg for r in runs])}; {_verdicts([r.d_recall for r in runs])}",
            ]
        )
    headers = [
        "group",
        "seeds",
        "base best val NDCG@10 (mean)",
        "base NDCG@10 (mean)",
        "base Recall@10 (mean)",
        "RSIR NDCG@10 (mean, change of the means)",
        "RSIR Recall@10 (mean, change of the means)",
        "mean of per-seed changes, NDCG@10 / Recall@10",
        "seeds with CI > 0 / n.s. / CI < 0, NDCG@10; Recall@10",
    ]
    return _table(headers, rows, show_val)


def pooled_comparisons(groups: dict[str, list[SeedRun]]) -> dict[str, dict[str, Any]]:
    """Per group of two or more seeds that all have per-user ranks: one paired comparison over every
    (user, seed) pair (the :func:`rsir_pl.significance.paired_comparison` dict, plus ``pairs``)."""
    import numpy as np

    from rsir_pl.significance import paired_comparison

    out: dict[str, dict[str, Any]] = {}
    for name, rs in groups.items():
        if len(rs) < 2 or any(r.rank_files is None for r in rs):
            continue
        base = np.concatenate([np.load(r.rank_files[0])["ranks"] for r in rs])  # type: ignore[index]
        new = np.concatenate([np.load(r.rank_files[1])["ranks"] for r in rs])  # type: ignore[index]
        out[name] = {**paired_comparison(base, new, metrics=("ndcg@10", "recall@10")), "pairs": len(base)}
    return out


def pooled_table(groups: dict[str, list[SeedRun]], pooled: dict[str, dict[str, Any]] | None = None) -> str | None:
    """Per group whose seeds all have per-user ranks: one paired test over every (user, seed) pair."""
    pooled = pooled_comparisons(groups) if pooled is None else pooled
    rows: list[list[Any]] = []
    for name, cmp in pooled.items():
        cells = []
        for metric in ("ndcg@10", "recall@10"):
            c = cmp[metric]
            d = Delta(c["relative"], c["ci_low"], c["ci_high"], c["p_value"])
            cells.append(f"{d.relative:+.1%} [{d.ci_low:+.4f}, {d.ci_high:+.4f}], p={d.p_value:.3g} ({d.verdict})")
        rows.append([name, ", ".join(str(r.seed) for r in groups[name]), f"{cmp['pairs']:,}", *cells])
    if not rows:
        return None
    return markdown_table(
        ["group", "seeds", "(user, seed) pairs", "pooled RSIR vs base NDCG@10", "pooled RSIR vs base Recall@10"], rows
    )


def forest_rows(
    groups: dict[str, list[SeedRun]], pooled: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, tuple[float, float, float]]]]:
    """The plot's rows, top to bottom: per group its seeds, then its pooled test; per metric the
    relative change and its 95% CI as a fraction of the base mean (the CI is of the mean per-user
    difference, so dividing by the base mean puts it on the relative change's scale)."""
    from rsir_pl.significance import relative_interval

    rows = []
    for name, rs in groups.items():
        for r in rs:
            cells = {}
            for metric, d, b in (("ndcg@10", r.d_ndcg, r.base_ndcg), ("recall@10", r.d_recall, r.base_recall)):
                cells[metric] = (d.relative, d.ci_low / b, d.ci_high / b)
            rows.append((f"{name}, seed {r.seed}", cells))
        if name in pooled:
            cmp = pooled[name]
            cells = {m: relative_interval(cmp[m]) or (0.0, 0.0, 0.0) for m in ("ndcg@10", "recall@10")}
            rows.append((f"{name}, pooled", cells))
    return rows


def forest_plot(rows: list[tuple[str, dict[str, tuple[float, float, float]]]], path: Path, goal: float) -> None:
    """RSIR's relative change against the base with 95% CIs, one line per seed and pooled test, a
    panel per metric, with 0 and the Recall@10 goal marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.42 * len(rows) + 1.4), sharey=True)
    ys = list(range(len(rows)))[::-1]
    for ax, (metric, name) in zip(axes, (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"))):
        for y, (label, cells) in zip(ys, rows):
            rel, lo, hi = (100 * v for v in cells[metric])
            pooled = label.endswith("pooled")
            color = "C2" if lo > 0 else "C3" if hi < 0 else "C0"
            ax.errorbar(rel, y, xerr=[[rel - lo], [hi - rel]], fmt="D" if pooled else "o", color=color, capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        if metric == "recall@10":
            ax.axvline(100 * goal, color="C1", ls="--", lw=1, label=f"goal +{goal:.0%}")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_xlabel(f"RSIR vs base, {name} (%), 95% CI")
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels([label for label, _ in rows], fontsize=8)
    fig.suptitle("RSIR against the same-seed base (green: CI > 0, red: CI < 0)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_link(path: Path, results: str | Path) -> str:
    """A markdown image link from the results file's folder to the plot (its path when outside it)."""
    try:
        rel = path.resolve().relative_to(Path(results).resolve().parent)
        return f"![RSIR against the base per seed, with 95% CIs]({rel.as_posix()})"
    except ValueError:
        return f"plot: {path}"


def summary_blocks(
    groups: dict[str, list[SeedRun]],
    iteration: int = 1,
    pooled: dict[str, dict[str, Any]] | None = None,
    plot: str | None = None,
) -> list[str]:
    """The markdown blocks of the section: method, comparison, plot link, per-group tables, sources, gaps."""
    pooled = pooled_comparisons(groups) if pooled is None else pooled
    runs = [r for rs in groups.values() for r in rs]
    from_sections = [r for r in runs if r.source.startswith("section")]
    show_val = any(r.base_val is not None or r.rsir_val is not None for r in runs)
    blocks = [
        f"Test metrics, full ranking: base = iteration 0, RSIR = iteration {iteration}, each against its "
        "same-seed base with the paired per-user 95% bootstrap CI of the source run (CI > 0: the whole CI above "
        "0; n.s.: it includes 0). 'change of the means' = mean RSIR / mean base - 1; 'mean of per-seed "
        "changes' = the mean of the seeds' relative changes."
        + (
            f" {len(from_sections)} of the {len(runs)} rows are read from the sections that benchmarks/rsir.py "
            "wrote for those runs, not from run directories: their means are of the 4-decimal values printed "
            "there, their changes the 1-decimal percentages."
            if from_sections
            else ""
        ),
        comparison_table(groups, show_val),
        *([plot] if plot else []),
    ]
    for name, rs in groups.items():
        blocks += [f"**{name}**:", group_table(rs, show_val)]
    pooled_md = pooled_table(groups, pooled)
    if pooled_md is not None:
        blocks += [
            "Pooled over seeds (groups whose run directories hold per-user test ranks): every seed's per-user "
            "differences together, one paired test (bootstrap 95% CI of the mean difference over the (user, "
            "seed) pairs, paired t-test). The same users recur once per seed, so this CI treats seeds of one user "
            "as independent and is narrower than a test over seeds as units.",
            pooled_md,
        ]
    lines = ["Sources:", ""]
    for name, rs in groups.items():
        for r in rs:
            lines.append(f"- {name}, seed {r.seed}: {r.source}")
    blocks.append("\n".join(lines))
    no_val = [r for r in runs if r.base_val is None or r.rsir_val is None]
    if no_val:
        blocks.append(
            f"Best validation NDCG@10 is not recorded for {len(no_val)} of the {len(runs)} seeds: "
            f"their source sections have no '{VAL_COLUMN}' column (benchmarks/rsir.py added it after they were "
            "written), so it is not recovered here."
        )
    return blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, meta, what in (
        ("--runs", "GROUP=RUN_DIR", "a finished run directory"),
        ("--tune", "GROUP=DIR", "the setting rsir tune selected on validation in DIR"),
        ("--from-results", "GROUP=TITLE_REGEX", "rsir.py sections of --source whose titles match"),
    ):
        ap.add_argument(
            option,
            action="append",
            default=[] if option == "--runs" else None,
            type=lambda s, o=option: (o, s),
            dest="sources",
            metavar=meta,
            help=what,
        )
    ap.add_argument("--source", default=str(DEFAULT_RESULTS), help="file --from-results reads (default: RESULTS.md)")
    ap.add_argument("--iteration", type=int, default=1, help="the RSIR iteration compared with the base (default 1)")
    ap.add_argument("--title", help="section title (default: 'Summary over seeds: GROUPS')")
    ap.add_argument("--reading", default="", help="the honest reading of the numbers")
    ap.add_argument("--plot", help="also draw RSIR's change per seed and pooled, with CIs, to this PNG (linked)")
    ap.add_argument("--goal", type=float, default=0.05, help="the Recall@10 goal the plot marks (default 0.05)")
    ap.add_argument("--results", default=str(DEFAULT_RESULTS), help="file the section goes to")
    ap.add_argument(
        "--replace",
        nargs="?",
        const="",
        metavar="OLD_TITLE",
        help="replace the section titled OLD_TITLE (alone: the one titled --title) in place instead of appending",
    )
    args = ap.parse_args()
    if not args.sources:
        ap.error("give at least one --runs, --tune or --from-results")
    groups = collect(args.sources, args.source, args.iteration)
    pooled = pooled_comparisons(groups)
    link = None
    if args.plot:
        forest_plot(forest_rows(groups, pooled), Path(args.plot), args.goal)
        link = plot_link(Path(args.plot), args.results)
    blocks = summary_blocks(groups, args.iteration, pooled, link)
    title = args.title or "Summary over seeds: " + ", ".join(groups)
    text = section(title, blocks, args.reading or "see the tables")
    if args.replace is not None:
        replace_results_section(args.results, args.replace or title, text)
    else:
        append_results(args.results, text)
    print("\n\n".join(blocks))


if __name__ == "__main__":
    main()
