"""Study ``weighting``: how synthetic targets weigh against real ones in the loss, over K
iterations (RSIR-SPEC §7b; ``model.synthetic_weight``).

The options are whatever :class:`rsir_pl.config.ModelConfig` accepts as ``synthetic_weight``;
the default grid is pooled (null, the paper's code), 0.8 and golden. A grid value is validated by
building a ``ModelConfig`` with it, so options added there later work here unchanged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.studies import common as C

DEFAULT: list[Any] = [None, 0.8, "golden"]


def option_label(w: Any) -> str:
    return "pooled" if w is None else w if isinstance(w, str) else f"w={w}"


def valid_options(base: RunConfig, options: list[Any], strict: bool) -> list[Any]:
    """The options ModelConfig accepts (an invalid one raises when ``strict``, else is skipped)."""
    out = []
    for w in options:
        try:
            dataclasses.replace(base.model, synthetic_weight=w)
        except ConfigError:
            if strict:
                raise
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
                C.derive(base, path / C.slug(lab), generation={"method": "rsir"}, model={"synthetic_weight": w}),
                None,
            )
        )
    records = C.run_grid(runs)
    labels = list(records)
    K = base.iterations
    rows = []
    for k in range(K + 1):
        for lab in labels:
            rec = records[lab][k]
            rows.append(
                {
                    "iteration": k,
                    "weighting": lab,
                    "real weight used": rec.get("real_weight"),
                    "NDCG@10": C.metric(rec, "ndcg@10"),
                    "Recall@10": C.metric(rec, "recall@10"),
                    "rel NDCG@10": C.relative(rec, "ndcg@10"),
                    "rel Recall@10": C.relative(rec, "recall@10"),
                }
            )
    columns = list(rows[0])

    def plot() -> bytes:
        title = f"{base.model.backbone} on {base.data.dataset}: weighting synthetic data"
        return C.curves_per_iteration(records, title)

    notes = [
        "`real weight used`: w in w * mean(real) + (1 - w) * mean(synthetic) at that iteration "
        "(empty: pooled, every target weight 1).",
    ]
    return C.write_study(
        path,
        "weighting",
        base,
        options,
        C.md_table(columns, rows, ("rel NDCG@10", "rel Recall@10")),
        C.try_plot(plot),
        {"rows": rows},
        records,
        "loss weighting of synthetic data across iterations",
        notes,
    )
