"""The per-iteration results table (CSV, JSON, Markdown) and its plot."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

#: columns of the results table, in order (missing values are left empty)
COLUMNS = (
    "iteration",
    "ndcg@10",
    "recall@10",
    "ndcg@20",
    "recall@20",
    "mrr@10",
    "mrr",
    "precision@10",
    "f1@10",
    "rel_ndcg@10",
    "ci_ndcg@10",
    "rel_recall@10",
    "ci_recall@10",
    "train_sequences",
    "train_interactions",
    "best_epoch",
    "epochs",
    "fit_seconds",
    "generated_sequences",
    "generated_interactions",
    "acceptance_rate",
    "mean_generated_length",
    "generation_seconds",
)


def table_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten per-iteration records into table rows."""
    rows = []
    for rec in records:
        test = rec.get("test", {})
        vs = rec.get("vs_base", {})
        gen = rec.get("generation", {}) or {}
        row: dict[str, Any] = {"iteration": rec["iteration"]}
        for m in ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@10", "mrr", "precision@10", "f1@10"):
            row[m] = test.get(m)
        for m in ("ndcg@10", "recall@10"):
            if m in vs:
                row[f"rel_{m}"] = vs[m]["relative"]
                row[f"ci_{m}"] = f"[{vs[m]['ci_low']:+.5f}, {vs[m]['ci_high']:+.5f}]"
        data = rec.get("train_data", {})
        row["train_sequences"] = data.get("sequences")
        row["train_interactions"] = data.get("interactions")
        for key in ("best_epoch", "epochs", "fit_seconds"):
            row[key] = rec.get("fit", {}).get(key)
        row["generated_sequences"] = gen.get("kept_sequences")
        row["generated_interactions"] = gen.get("kept_interactions")
        row["acceptance_rate"] = gen.get("acceptance_rate")
        row["mean_generated_length"] = gen.get("mean_generated_length")
        row["generation_seconds"] = gen.get("generation_seconds")
        rows.append(row)
    return rows


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    """CSV text of the results table."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in table_rows(records):
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    return buf.getvalue()


#: the main columns: results.md and the table the CLI prints
SUMMARY_COLUMNS = (
    "iteration",
    "ndcg@10",
    "recall@10",
    "ndcg@20",
    "recall@20",
    "rel_ndcg@10",
    "ci_ndcg@10",
    "rel_recall@10",
    "ci_recall@10",
    "train_sequences",
    "generated_sequences",
    "acceptance_rate",
    "best_epoch",
)


def to_markdown(records: Sequence[dict[str, Any]], columns: Sequence[str] = SUMMARY_COLUMNS) -> str:
    """Markdown table of ``columns`` (default: the main ones)."""
    cols = list(columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table_rows(records):
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def plot_png(records: Sequence[dict[str, Any]], title: str = "RSIR") -> bytes:
    """PNG of NDCG and Recall at 10 and 20 against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table_rows(records)
    its = [r["iteration"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric, label in zip(axes, ("ndcg", "recall"), ("NDCG", "Recall")):
        for k, style in ((10, "o-"), (20, "s--")):
            vals = [r.get(f"{metric}@{k}") for r in rows]
            ax.plot(its, vals, style, label=f"{label}@{k}")
        ax.set_xlabel("iteration k (0 = base model)")
        ax.set_title(f"test {label} (full ranking)")
        ax.set_xticks(its)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1 else f"{v:.5f}"
    return str(v)
