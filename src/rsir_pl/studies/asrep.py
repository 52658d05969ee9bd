"""Study ``asrep``: RSIR against ASReP, the learned augmentation baseline, and the two combined.

One base model trains once in ``study-asrep/base`` (or is copied from ``base_from``); every arm
reuses it (``base_from``), so each arm's row is paired per user with the same-seed base:

* ``asrep``: ASReP's augmentation of D_0 and one forward model (``generation.method: asrep``);
* ``rsir``: K = ``iterations`` (at least 1) RSIR iterations;
* ``asrep+rsir``: ASReP's D_1, then K RSIR iterations on top (K + 1 iterations); when the
  ``asrep`` arm is in the grid it runs first and this arm copies its reverse model, D'_1 and f_1
  (equal settings make the same ones), so only the RSIR iterations train.

The table has one row per arm (the base first): the final iteration's test NDCG@10 and
Recall@10, their relative change and 95% bootstrap CI of the paired per-user difference against
the base (both read from the runs' ``test_ranks.npz``), and the final model's best validation
NDCG@10. Below it, the arms against each other (RSIR against ASReP, ASReP+RSIR against each of
them), paired per user the same way: whether self-improvement beats the learned augmentation on
these data. The grid is the list of arms (default all three, in the order above).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.significance import paired_comparison
from rsir_pl.storage.rundir import RunDir
from rsir_pl.studies import common as C

ARMS = ("asrep", "rsir", "asrep+rsir")
#: (new, reference) arm pairs compared directly when both ran
PAIRS = (("rsir", "asrep"), ("asrep+rsir", "asrep"), ("asrep+rsir", "rsir"))
LABELS = {"base": "base", "rsir": "RSIR", "asrep": "ASReP", "asrep+rsir": "ASReP+RSIR"}
METRICS = ("ndcg@10", "recall@10")


def arm_iterations(arm: str, k: int) -> int:
    """How many iterations an arm runs for K RSIR iterations."""
    return {"rsir": k, "asrep": 1, "asrep+rsir": k + 1}[arm]


def run(base: RunConfig, grid: Any = None) -> Path:
    """Train the base once, then each arm on top of it; write the table, plot and numbers."""
    arms = C.grid_list(grid, ARMS, "asrep")
    unknown = [a for a in arms if a not in ARMS]
    if unknown or len(set(arms)) != len(arms):
        raise ConfigError(f"study asrep: --grid must list distinct arms among {', '.join(ARMS)} (got {arms!r})")
    arms = sorted(arms, key=ARMS.index)  # asrep before asrep+rsir, which starts from its files
    path = C.study_path(base, "asrep")
    k = max(1, base.iterations)
    base_cfg = C.derive(base, path / "base", iterations=0, generation={"method": "rsir"})
    records = C.run_grid([("base", base_cfg, None)])
    runs = []
    for arm in arms:
        cfg = C.derive(base, path / C.slug(arm), iterations=arm_iterations(arm, k), generation={"method": arm})
        source = path / "asrep" if arm == "asrep+rsir" and "asrep" in arms else path / "base"
        runs.append((LABELS[arm], dataclasses.replace(cfg, base_from=str(source)), None))
    records.update(C.run_grid(runs))
    ranks = {"base": RunDir(path / "base", writer=False).read_arrays("iter_0/test_ranks.npz")["ranks"]}
    rows = [_row("base", 0, records["base"][0], None)]
    for (label, cfg, _), arm in zip(runs, arms):
        final = arm_iterations(arm, k)
        ranks[arm] = RunDir(cfg.run_dir, writer=False).read_arrays(f"iter_{final}/test_ranks.npz")["ranks"]
        cmp = paired_comparison(ranks["base"], ranks[arm], seed=base.seed)
        rows.append(_row(label, final, records[label][final], cmp))
    pairs = []
    for new, ref in PAIRS:
        if new in ranks and ref in ranks:
            cmp = paired_comparison(ranks[ref], ranks[new], seed=base.seed)
            pairs.append({"new": LABELS[new], "reference": LABELS[ref], **{m: cmp[m] for m in METRICS}})
    columns = ["arm", "iterations", "NDCG@10", "rel NDCG@10", "NDCG@10 CI", "Recall@10", "rel Recall@10"]
    columns += ["Recall@10 CI", "val NDCG@10", "p NDCG@10", "p Recall@10"]
    notes = [
        f"One base model (`{path / 'base'}`) shared by every arm; K = {k} RSIR iteration(s). `rel`: paired "
        "change of the final iteration against the base; `CI`: 95% bootstrap CI of the mean per-user "
        "difference; `p`: paired t-test; `val NDCG@10`: the final model's best validation NDCG@10.",
        "",
        *[pair_text(p) for p in pairs],
    ]
    return C.write_study(
        path,
        "asrep",
        base,
        arms,
        C.md_table(
            columns,
            rows,
            percent=["rel NDCG@10", "rel Recall@10"],
            verbatim=["arm", "iterations", "NDCG@10 CI", "Recall@10 CI"],
        ),
        C.try_plot(lambda: _plot(base, rows)),
        {"rows": rows, "pairs": pairs, "K": k},
        records,
        "base, ASReP, RSIR and ASReP+RSIR on one base",
        notes,
    )


def pair_text(pair: dict[str, Any]) -> str:
    """``RSIR against ASReP: NDCG@10 +1.20% [-0.0004, +0.0021] (p 0.31), Recall@10 ...``."""
    parts = []
    for m, name in zip(METRICS, ("NDCG@10", "Recall@10")):
        c = pair[m]
        parts.append(
            f"{name} {100 * c['relative']:+.2f}% [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] (p {c['p_value']:.3g})"
        )
    return f"- {pair['new']} against {pair['reference']}: " + ", ".join(parts)


def _row(label: str, iteration: int, rec: dict[str, Any], cmp: dict[str, dict[str, float]] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "arm": label,
        "iterations": iteration,
        "val NDCG@10": (rec.get("fit") or {}).get("best_val_ndcg@10"),
    }
    for m, name in zip(METRICS, ("NDCG@10", "Recall@10")):
        row[name] = C.metric(rec, m)
        if cmp is not None:
            c = cmp[m]
            row[f"rel {name}"] = c["relative"]
            row[f"{name} CI"] = f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"
            row[f"p {name}"] = c["p_value"]
            row[f"{name} diff"] = c["diff"]
            row[f"{name} ci_low"] = c["ci_low"]
            row[f"{name} ci_high"] = c["ci_high"]
        else:
            row[f"{name} CI"] = ""
    return row


def _plot(base: RunConfig, rows: list[dict[str, Any]]) -> bytes:
    """Per metric, the mean per-user difference against the base with its 95% CI, per arm."""
    fig, axes = C.figure(2)
    arms = [r for r in rows if r.get("NDCG@10 diff") is not None]
    xs = list(range(len(arms)))
    for ax, name in zip(axes, ("NDCG@10", "Recall@10")):
        d = [r[f"{name} diff"] for r in arms]
        err = [
            [r[f"{name} diff"] - r[f"{name} ci_low"] for r in arms],
            [r[f"{name} ci_high"] - r[f"{name} diff"] for r in arms],
        ]
        ax.bar(xs, d, yerr=err, capsize=4, color=[f"C{i}" for i in xs])
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xticks(xs)
        ax.set_xticklabels([r["arm"] for r in arms])
        ax.set_title(f"test {name}: change against the base (95% CI)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{base.model.backbone} on {base.data.dataset}: RSIR vs ASReP")
    return C.png(fig)
