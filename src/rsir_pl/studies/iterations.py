"""Study ``iterations``: test metrics over K iterations with and without the fidelity check
(paper Table 2 / Fig. 2: the collapse curve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsir_pl.config import RunConfig
from rsir_pl.studies import common as C


def default_grid(base: RunConfig) -> list[str]:
    """The base config's fidelity backend (exact if it has none) and ``none``."""
    with_check = base.generation.fidelity if base.generation.fidelity != "none" else "exact"
    return [with_check, "none"]


def label(fidelity: str, tau: int) -> str:
    return f"fidelity={fidelity}" + (f",tau={tau}" if fidelity != "none" else "")


def run(base: RunConfig, grid: Any = None) -> Path:
    path = C.study_path(base, "iterations")
    grid = C.grid_list(grid, default_grid(base), "iterations")
    runs = []
    for fid in grid:
        lab = label(str(fid), base.generation.tau)
        cfg = C.derive(base, path / C.slug(lab), generation={"method": "rsir", "fidelity": fid})
        runs.append((lab, cfg, None))
    records = C.run_grid(runs)
    labels = list(records)
    K = base.iterations
    columns = ["iteration"]
    for lab in labels:
        columns += [f"{lab} NDCG@10", f"{lab} Recall@10", f"{lab} rel NDCG@10", f"{lab} NDCG@10 CI", f"{lab} generated"]
    rows = []
    for k in range(K + 1):
        row: dict[str, Any] = {"iteration": k}
        for lab in labels:
            rec = records[lab][k]
            row[f"{lab} NDCG@10"] = C.metric(rec, "ndcg@10")
            row[f"{lab} Recall@10"] = C.metric(rec, "recall@10")
            row[f"{lab} rel NDCG@10"] = C.relative(rec, "ndcg@10")
            row[f"{lab} NDCG@10 CI"] = C.ci(rec, "ndcg@10")
            row[f"{lab} generated"] = C.gen_stat(rec, "kept_sequences")
        rows.append(row)

    def plot() -> bytes:
        title = f"{base.model.backbone} on {base.data.dataset}: with and without the fidelity check"
        return C.curves_per_iteration(records, title)

    notes = [
        "`rel`: paired change against iteration 0; `CI`: 95% bootstrap CI of the mean per-user difference; "
        "`generated`: sequences added to D_k after iteration k (D'_{k+1}).",
    ]
    return C.write_study(
        path,
        "iterations",
        base,
        grid,
        C.md_table(
            columns,
            rows,
            percent=[f"{lab} rel NDCG@10" for lab in labels],
            verbatim=[f"{lab} NDCG@10 CI" for lab in labels],
        ),
        C.try_plot(plot),
        {"rows": rows},
        records,
        "test metrics per iteration, with and without the fidelity check",
        notes,
    )
