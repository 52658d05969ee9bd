"""Study ``data``: density and ApEn' of D_k per iteration, RSIR against Insertion (paper sec. 5.5,
Fig. 5).

RSIR runs the loop for K = ``iterations``. The Insertion arm needs no model to grow its data, so
it is computed without training: starting from the same D_0, iteration k adds, through the same
:func:`rsir_pl.loop.callback.generate_for_next_iteration` the loop uses (``generation.method:
insertion``), exactly as many sequences as RSIR added at iteration k (``num_sequences``). Its
statistics are those the loop would record (``generation.data_next``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.generation.stats import dataset_stats
from rsir_pl.loop.callback import generate_for_next_iteration
from rsir_pl.studies import common as C

ARMS = ("RSIR", "Insertion")


def insertion_arm(base: RunConfig, added: list[int]) -> list[dict[str, Any]]:
    """Statistics of D_0, D_1, ... when iteration k inserts ``added[k]`` sequences."""
    dm = SequenceDataModule(base.data, seed=base.seed)
    dm.setup()
    assert dm.split is not None and dm.train_store is not None
    pop = np.bincount(dm.d0.items, minlength=dm.num_items + 1)[1:]
    out = [dataset_stats(dm.train_store, dm.num_items, dm.split.num_users, pop)]
    for k, n in enumerate(added):
        if n > 0:
            cfg = dataclasses.replace(base.generation, method="insertion", num_sequences=int(n))
            result = generate_for_next_iteration(None, dm, cfg, base.seed, k)  # type: ignore[arg-type]
            dm.expand(result.sequences)
        out.append(dataset_stats(dm.train_store, dm.num_items, dm.split.num_users, pop))
    return out


def run(base: RunConfig, grid: Any = None) -> Path:
    path = C.study_path(base, "data")
    if grid is not None:
        raise ConfigError("study data has no grid: set K with --iterations")
    cfg = C.derive(base, path / "rsir", generation={"method": "rsir"})
    records = C.run_grid([("rsir", cfg, None)])
    recs = records["rsir"]
    K = base.iterations
    dm = SequenceDataModule(base.data, seed=base.seed)
    dm.setup()
    assert dm.split is not None
    pop = np.bincount(dm.d0.items, minlength=dm.num_items + 1)[1:]
    d0 = dataset_stats(dm.d0, dm.num_items, dm.split.num_users, pop)
    rsir = [d0] + [recs[k]["generation"]["data_next"] for k in range(K)]
    added = [int(recs[k]["generation"]["kept_sequences"]) for k in range(K)]
    ins = insertion_arm(base, added)
    stats = {"RSIR": rsir, "Insertion": ins}
    rows = []
    for k in range(K + 1):
        row: dict[str, Any] = {"D_k": k, "added": added[k - 1] if k else 0}
        for arm in ARMS:
            s = stats[arm][k]
            row[f"{arm} sequences"] = s["sequences"]
            row[f"{arm} interactions"] = s["interactions"]
            row[f"{arm} density"] = s["density_per_user"]
            row[f"{arm} density change"] = s["density_per_user"] / d0["density_per_user"] - 1.0
            row[f"{arm} ApEn'"] = s.get("apen_inverse_mean")
        row["RSIR test NDCG@10 (f_k)"] = C.metric(recs[k], "ndcg@10")
        rows.append(row)
    columns = list(rows[0])

    def plot() -> bytes:
        fig, axes = C.figure(2)
        for ax, key, title in zip(axes, ("density", "ApEn'"), ("density (interactions / (users x items))", "ApEn'")):
            for arm, style in zip(ARMS, ("o-", "s--")):
                ax.plot(range(K + 1), [r[f"{arm} {key}"] for r in rows], style, label=arm)
            ax.set_xlabel("iteration k (D_k)")
            ax.set_xticks(range(K + 1))
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"generated data on {base.data.dataset}: RSIR against Insertion")
        return C.png(fig)

    notes = [
        "density = interactions / (real users x items); `density change` against D_0; ApEn' = mean 1/ApEn "
        "(m=2, r=0) over sequences (appendix G; for sequences without repeats it depends on length only, "
        "see RSIR-SPEC §7). Insertion adds, at iteration k, as many sequences as RSIR did; it is not trained.",
    ]
    return C.write_study(
        path,
        "data",
        base,
        grid,
        C.md_table(columns, rows, [f"{a} density change" for a in ARMS]),
        C.try_plot(plot),
        {"rows": rows, "stats": stats},
        records,
        "density and ApEn' of the training data per iteration",
        notes,
    )
