"""Study ``weighting``: how synthetic targets weigh against real ones in the loss, over K
iterations (RSIR-SPEC §7b).

A grid entry is a ``model.synthetic_weight`` value (null pools every target, the paper's code; a
number w in (0, 1] gives w * mean(real) + (1 - w) * mean(synthetic); ``golden`` weighs real data
1/phi) or a mapping of other ``model.*`` weighting overrides, e.g. ``{generation_decay: 0.5}``
(synthetic targets of generation g weigh 0.5^(g-1)), ``{synthetic_loss: idl}`` (Inverse Dual Loss on
synthetic targets) or ``{item_weighting: adaptive}`` (a
sparsity-adaptive per-item weight). Entries are validated by building a ``ModelConfig``, so
options added there later work here unchanged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.studies import common as C

DEFAULT: list[Any] = [
    None,
    0.8,
    "golden",
    {"generation_decay": 0.5},
    {"item_weighting": "adaptive"},
    {"synthetic_loss": "idl"},
]


def option_label(w: Any) -> str:
    """``pooled``, ``w=0.8``, ``golden`` or ``key=value,...`` for a mapping."""
    if isinstance(w, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(w.items())) or "pooled"
    return "pooled" if w is None else w if isinstance(w, str) else f"w={w}"


def model_overrides(w: Any) -> dict[str, Any]:
    """The ``model.*`` fields of a grid entry."""
    return dict(w) if isinstance(w, dict) else {"synthetic_weight": w}


def valid_options(base: RunConfig, options: list[Any], strict: bool) -> list[Any]:
    """The options ModelConfig accepts (an invalid one raises when ``strict``, else is skipped)."""
    out = []
    for w in options:
        try:
            dataclasses.replace(base.model, **model_overrides(w))
        except (ConfigError, TypeError) as exc:
            if strict:
                raise ConfigError(f"study weighting: grid entry {w!r}: {exc}") from exc
            continue
        out.append(w)
    return out


def run(base: RunConfig, grid: Any = None) -> Path:
    path = C.study_path(base, "weighting")
    options = valid_options(base, C.grid_list(grid, DEFAULT, "weighting"), strict=grid is not None)
    runs = []
    for w in options:
        lab = option_label(w)
        runs.append(
            (
                lab,
                C.derive(base, path / C.slug(lab), generation={"method": "rsir"}, model=model_overrides(w)),
                None,
            )
        )
    records = C.run_grid(runs)
    labels = list(records)
    dirs = {lab: Path(cfg.run_dir) for lab, cfg, _ in runs}
    pooled = "pooled" if "pooled" in dirs else None
    K = base.iterations
    rows = []
    for k in range(K + 1):
        for lab in labels:
            rec = records[lab][k]
            vs = C.paired_between(dirs[pooled], dirs[lab], k, base.seed) if pooled and lab != pooled else None
            rows.append(
                {
                    "iteration": k,
                    "weighting": lab,
                    "real weight used": rec.get("real_weight"),
                    "NDCG@10": C.metric(rec, "ndcg@10"),
                    "Recall@10": C.metric(rec, "recall@10"),
                    **C.change_columns(rec),
                    "NDCG@10 vs pooled (95% CI)": C.ci_text(vs, "ndcg@10"),
                    "Recall@10 vs pooled (95% CI)": C.ci_text(vs, "recall@10"),
                }
            )
    columns = list(rows[0])

    def plot() -> bytes:
        title = f"{base.model.backbone} on {base.data.dataset}: weighting synthetic data"
        return C.curves_per_iteration(records, title)

    notes = [
        "`real weight used`: w in w * mean(real) + (1 - w) * mean(synthetic) at that iteration "
        "(empty: pooled, every target weight 1).",
        "`rel`: paired change against the same run's iteration 0; `vs pooled`: paired per-user change "
        "against the pooled (unweighted) run at the same iteration, with the 95% bootstrap CI of the "
        "mean difference (an option that changes iteration 0, such as item weighting, differs there too).",
    ]
    if any(isinstance(w, dict) and w.get("generation_decay") is not None for w in options):
        notes.append(
            "`generation_decay` weighs synthetic targets of generation g by decay^(g-1): at iteration 1 "
            "all synthetic data is generation 1, so that run equals the pooled one there (same model)."
        )
    return C.write_study(
        path,
        "weighting",
        base,
        options,
        C.md_table(columns, rows, ("rel NDCG@10", "rel Recall@10"), verbatim=[c for c in columns if "CI" in c]),
        C.try_plot(plot),
        {"rows": rows},
        records,
        "loss weighting of synthetic data across iterations",
        notes,
    )
