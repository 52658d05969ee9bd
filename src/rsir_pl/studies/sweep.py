"""Studies ``tau`` and ``p``: one RSIR iteration per value of a generation setting (paper Fig. 3).

Every setting's run trains its own base model with the same seed (identical by determinism), so
the sub-runs share nothing. Per setting: iteration-1 test metrics, their paired relative change
against the base, and iteration 1's best validation NDCG@10, so a setting can be *chosen by
validation* (the row marked in the table) rather than by test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsir_pl.config import RunConfig
from rsir_pl.studies import common as C

DEFAULTS: dict[str, list[Any]] = {
    "tau": [1, 3, 5, 10, 20, 50, 100],
    "p": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0],
}
PERCENT = ("rel NDCG@10", "rel Recall@10")


def run(base: RunConfig, name: str, grid: Any = None) -> Path:
    """Sweep ``generation.<name>`` over the grid."""
    path = C.study_path(base, name)
    values = C.grid_list(grid, DEFAULTS[name], name)
    gen: dict[str, Any] = {"method": "rsir"}
    if name == "tau" and base.generation.fidelity == "none":
        gen["fidelity"] = "exact"  # tau means nothing without a check
    runs = []
    for v in values:
        lab = f"{name}={v}"
        cfg = C.derive(base, path / C.slug(lab), iterations=1, generation={**gen, name: v})
        runs.append((lab, cfg, None))
    records = C.run_grid(runs)
    rows = [sweep_row(name, v, records[lab]) for v, (lab, _, _) in zip(values, runs)]
    best = max(range(len(rows)), key=lambda i: rows[i]["val NDCG@10"] or float("-inf"))
    for i, row in enumerate(rows):
        row["chosen by val"] = "*" if i == best else ""
    columns = [
        name,
        "base NDCG@10",
        "NDCG@10",
        "rel NDCG@10",
        "NDCG@10 CI",
        "base Recall@10",
        "Recall@10",
        "rel Recall@10",
        "Recall@10 CI",
        "val NDCG@10",
        "chosen by val",
        "generated",
        "acceptance",
    ]

    def plot() -> bytes:
        return sweep_plot(base, name, rows, f"{base.model.backbone} on {base.data.dataset}: one iteration per {name}")

    notes = [
        f"One RSIR iteration per {name}; `rel`: paired relative change of iteration 1 against its base "
        "(iteration 0), `CI`: 95% bootstrap CI of the mean per-user difference; `val NDCG@10`: "
        "iteration 1's best validation NDCG@10; `*`: the setting validation would choose; "
        "`generated`: sequences in D'_1.",
    ]
    return C.write_study(
        path,
        name,
        base,
        values,
        C.md_table(columns, rows, PERCENT, verbatim=[name, "NDCG@10 CI", "Recall@10 CI"]),
        C.try_plot(plot),
        {"rows": rows, "chosen_by_validation": values[best]},
        records,
        f"sensitivity to generation.{name}",
        notes,
    )


def sweep_row(name: str, value: Any, recs: list[dict[str, Any]], base_label: str = "base") -> dict[str, Any]:
    """The table row of one setting: base (iteration 0) against iteration 1."""
    b, r = recs[0], recs[1] if len(recs) > 1 else None
    return {
        name: value,
        **C.against_base_columns(b, r, "ndcg@10", base_label, ""),
        **C.against_base_columns(b, r, "recall@10", base_label, ""),
        "base val NDCG@10": b.get("fit", {}).get("best_val_ndcg@10"),
        "val NDCG@10": (r or {}).get("fit", {}).get("best_val_ndcg@10"),
        "generated": C.gen_stat(b, "kept_sequences"),
        "acceptance": C.gen_stat(b, "acceptance_rate"),
    }


def sweep_plot(base: RunConfig, name: str, rows: list[dict[str, Any]], title: str) -> bytes:
    """Relative test change and validation NDCG@10 against the setting (categorical x axis)."""
    fig, axes = C.figure(2)
    xs = list(range(len(rows)))
    ticks = [str(r[name]) for r in rows]
    ax = axes[0]
    for key, style in (("rel NDCG@10", "o-"), ("rel Recall@10", "s--")):
        ax.plot(xs, [100 * (r[key] or 0.0) for r in rows], style, label=f"test {key.split()[1]}")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylabel("change vs base (%)")
    ax.set_title("iteration 1 against its base")
    ax = axes[1]
    ax.plot(xs, [r["val NDCG@10"] for r in rows], "o-", label="iteration 1")
    ax.plot(xs, [r["base val NDCG@10"] for r in rows], "k:", label="base")
    ax.set_title("validation NDCG@10")
    for ax in axes:
        ax.set_xticks(xs)
        ax.set_xticklabels(ticks)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return C.png(fig)
