"""Study ``leakage``: fidelity leakage measured against the truth of the embedded dataset.

Only for ``synthetic`` and ``synthetic-tiny``, whose generating world is known. RSIR runs with
the fidelity check (one run per tau) and without it; for each iteration's generated data
D'_k the study reports the share of generated steps the true distribution finds implausible
(:func:`rsir_pl.generation.plausibility.implausible_share`), next to the same share for the real
training data (the reference line) and the test metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.registry import SYNTHETIC, SYNTHETIC_TINY, known_world
from rsir_pl.data.synthetic import SyntheticWorld
from rsir_pl.generation.plausibility import plausibility_summary
from rsir_pl.storage.rundir import RunDir
from rsir_pl.studies import common as C

DEFAULT = [5, 20, 100]


def world_of(dataset: str) -> SyntheticWorld:
    """The generating world of an embedded dataset (ConfigError for any other dataset)."""
    world = known_world(dataset)
    if world is not None:
        return world
    raise ConfigError(
        f"study leakage needs the embedded dataset ({SYNTHETIC} or {SYNTHETIC_TINY}), whose true "
        f"distribution is known; got {dataset!r}"
    )


def run(base: RunConfig, grid: Any = None) -> Path:
    world = world_of(base.data.dataset)
    path = C.study_path(base, "leakage")
    taus = C.grid_list(grid, DEFAULT, "leakage")
    check = base.generation.fidelity if base.generation.fidelity != "none" else "exact"
    runs = []
    for t in taus:
        lab = f"{check},tau={t}"
        runs.append(
            (lab, C.derive(base, path / C.slug(lab), generation={"method": "rsir", "fidelity": check, "tau": t}), None)
        )
    runs.append(
        ("no check", C.derive(base, path / "no-check", generation={"method": "rsir", "fidelity": "none"}), None)
    )
    records = C.run_grid(runs)
    dm = SequenceDataModule(base.data, seed=base.seed)
    dm.setup()
    assert dm.split is not None
    users = dm.split.users
    d0 = dm.d0
    real = plausibility_summary(world, d0, np.ones(len(d0), dtype=np.int64), users[d0.root])
    K = base.iterations
    rows = []
    for lab, cfg, _ in runs:
        rd = RunDir(cfg.run_dir, writer=False)
        for k in range(1, K + 1):
            syn = rd.read_store(f"iter_{k}/synthetic.npz")
            prov = rd.read_arrays(f"iter_{k}/provenance.npz")
            s = plausibility_summary(world, syn, prov["prefix_len"], users[syn.root])
            rec = records[lab][k]
            rows.append(
                {
                    "run": lab,
                    "D'_k": k,
                    "generated": len(syn),
                    "generated steps": s["steps"],
                    "implausible share": s["implausible_share"],
                    "mean log p": s["mean_log_prob"],
                    "test NDCG@10 (f_k)": C.metric(rec, "ndcg@10"),
                    "rel NDCG@10": C.relative(rec, "ndcg@10"),
                    "NDCG@10 CI": C.ci(rec, "ndcg@10"),
                }
            )
    rows.append(
        {
            "run": "real training data",
            "generated steps": real["steps"],
            "implausible share": real["implausible_share"],
            "mean log p": real["mean_log_prob"],
            "test NDCG@10 (f_k)": C.metric(records[runs[0][0]][0], "ndcg@10"),
        }
    )
    columns = list(rows[0])

    def plot() -> bytes:
        fig, axes = C.figure(2)
        ks = list(range(1, K + 1))
        for lab, _, _ in runs:
            mine = [r for r in rows if r["run"] == lab]
            axes[0].plot(ks, [r["implausible share"] for r in mine], "o-", label=lab)
            axes[1].plot(range(K + 1), [C.metric(r, "ndcg@10") for r in records[lab]], "o-", label=lab)
        axes[0].axhline(real["implausible_share"], color="k", ls=":", label="real training data")
        axes[0].set_title("implausible generated steps (share)")
        axes[0].set_xlabel("generated data D'_k")
        axes[0].set_xticks(ks)
        axes[1].set_title("test NDCG@10")
        axes[1].set_xlabel("iteration k")
        axes[1].set_xticks(range(K + 1))
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"fidelity leakage on {base.data.dataset} (true distribution known)")
        return C.png(fig)

    notes = [
        f"A generated step (an item after the prefix shared with the source) is implausible when its true "
        f"probability given the items before it is below 1/num_items = {1 / world.spec.num_items:.2e} (less "
        "likely than a uniformly random item). The last row: the real training parts (steps 2..T-2).",
    ]
    return C.write_study(
        path,
        "leakage",
        base,
        taus,
        C.md_table(columns, rows, ("rel NDCG@10",)),
        C.try_plot(plot),
        {"rows": rows, "real_training_data": real},
        records,
        "share of implausible generated steps under the true distribution",
        notes,
    )
