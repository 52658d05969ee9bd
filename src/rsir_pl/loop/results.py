"""The per-iteration results table (CSV, JSON, Markdown), the verdict and the plot.

The verdict reads the paired per-user 95% bootstrap CI of RSIR's change against the base: a CI
entirely above 0 is a significant gain, entirely below 0 a significant loss, otherwise the change
is not significant. On the embedded world it also reports the oracle ceiling (ranking by the
true next-item distribution) and how much of the base's gap to it RSIR closed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

#: the paired comparison of an iteration with the base, per headline metric
VS_BASE_COLUMNS = tuple(f"{part}_{m}" for m in ("ndcg@10", "recall@10") for part in ("rel", "ci", "verdict"))

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
    *VS_BASE_COLUMNS,
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
                row[f"verdict_{m}"] = verdict_word(vs[m]["ci_low"], vs[m]["ci_high"])
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
    *VS_BASE_COLUMNS,
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


#: the verdict of a paired comparison, by where its 95% CI lies
GAIN, NOT_SIGNIFICANT, LOSS = "significant gain", "not significant", "significant loss"
#: metrics the verdict reports, with their display names
VERDICT_METRICS = (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"))


def verdict_word(ci_low: float, ci_high: float) -> str:
    """significant gain (CI above 0), significant loss (CI below 0) or not significant."""
    if ci_low > 0:
        return GAIN
    if ci_high < 0:
        return LOSS
    return NOT_SIGNIFICANT


def gap_closed(base: float, new: float, oracle: float) -> float | None:
    """Share of the base's distance to the oracle that ``new`` closed (negative: it widened it)."""
    gap = oracle - base
    return (new - base) / gap if gap > 0 else None


def verdict_text(records: Sequence[dict[str, Any]]) -> str:
    """What the run showed, for a newcomer: base vs the last RSIR iteration with the paired CI and
    its verdict per metric, and, when the true distribution is known, the oracle ceiling."""
    if not records:
        return "Verdict: nothing ran."
    base, last = records[0], records[-1]
    oracle = base.get("oracle")
    lines: list[str] = []
    if "vs_base" not in last:
        lines.append("Verdict: no RSIR iteration ran (iterations: 0); the base alone:")
        for m, label in VERDICT_METRICS:
            o = f"   oracle {oracle[m]:.4f}" if oracle else ""
            lines.append(f"  {label:<10} base {base['test'][m]:.4f}{o}")
    else:
        k = last["iteration"]
        lines.append(
            f"Verdict: RSIR (iteration {k}) against the base (iteration 0) on the same test users; "
            "change with its paired 95% bootstrap CI:"
        )
        for m, label in VERDICT_METRICS:
            c = last["vs_base"][m]
            o = f"   oracle {oracle[m]:.4f}" if oracle else ""
            lines.append(
                f"  {label:<10} base {c['base']:.4f}   RSIR {c['new']:.4f}{o}   change {c['relative']:+.1%} "
                f"(CI {c['ci_low']:+.4f} .. {c['ci_high']:+.4f})   {verdict_word(c['ci_low'], c['ci_high'])}"
            )
        if oracle:
            parts = []
            for m, label in VERDICT_METRICS:
                c = last["vs_base"][m]
                share = gap_closed(c["base"], c["new"], oracle[m])
                if share is not None:
                    word = "closed" if share >= 0 else "widened"
                    parts.append(f"{word} {abs(share):.1%} of the gap on {label}")
            if parts:
                lines.append(f"  Against the oracle ceiling, RSIR {' and '.join(parts)}.")
    if oracle:
        lines.append(
            "  oracle: ranking by the embedded world's true next-item distribution, the ceiling no model can beat."
        )
    return "\n".join(lines)


def plot_png(records: Sequence[dict[str, Any]], title: str = "RSIR") -> bytes:
    """PNG of RSIR's relative change against the base with its 95% CI as error bars (left), and
    the test metrics on an axis from 0 with the oracle ceiling when it is known (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    _plot_relative(left, records)
    _plot_absolute(right, records)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plot_relative(ax: Any, records: Sequence[dict[str, Any]]) -> None:
    from rsir_pl.significance import relative_interval  # imports torch: only when plotting

    metrics = (
        ("ndcg@10", "NDCG@10", "o"),
        ("recall@10", "Recall@10", "s"),
        ("ndcg@20", "NDCG@20", "^"),
        ("recall@20", "Recall@20", "v"),
    )
    compared = [r for r in records if r.get("vs_base")]
    ax.axhline(0.0, color="black", linewidth=0.8)
    if not compared:
        ax.text(0.5, 0.5, "no RSIR iteration:\nnothing to compare", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
    width = 0.6 / len(metrics)
    for j, (m, label, marker) in enumerate(metrics):
        xs, ys, lo, hi = [], [], [], []
        for r in compared:
            shares = relative_interval(r["vs_base"][m]) if m in r["vs_base"] else None
            if shares is None:
                continue
            rel, low, high = shares
            xs.append(r["iteration"] + (j - (len(metrics) - 1) / 2) * width)
            ys.append(100 * rel)
            lo.append(100 * (rel - low))
            hi.append(100 * (high - rel))
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, capsize=4, label=label)
    if compared:
        its = [r["iteration"] for r in compared]
        ax.set_xticks(its)
        ax.set_xlim(min(its) - 0.6, max(its) + 0.6)
        ax.legend(fontsize=8)
    ax.set_xlabel("RSIR iteration k")
    ax.set_ylabel("change against the base (%)")
    ax.set_title("relative change, 95% paired CI")
    ax.grid(alpha=0.3)


def _plot_absolute(ax: Any, records: Sequence[dict[str, Any]]) -> None:
    its = [r["iteration"] for r in records]
    oracle = records[0].get("oracle") if records else None
    top = max([r["test"][m] for r in records for m, _ in VERDICT_METRICS] + list((oracle or {}).values()) or [1.0])
    for j, (m, label) in enumerate(VERDICT_METRICS):
        vals = [r["test"][m] for r in records]
        bars = ax.bar([k + (j - 0.5) * 0.38 for k in its], vals, width=0.36, label=label)
        if oracle:
            ax.axhline(oracle[m], linestyle="--", color=bars.patches[0].get_facecolor(), label=f"oracle {label}")
    ax.set_ylim(0, 1.4 * top)  # room for the legend above the bars and the oracle lines
    ax.set_xticks(its)
    ax.set_xlabel("iteration k (0 = base model)")
    ax.set_title("test metrics (full ranking)" + (" and the oracle ceiling" if oracle else ""))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", ncol=2)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1 else f"{v:.5f}"
    return str(v)
