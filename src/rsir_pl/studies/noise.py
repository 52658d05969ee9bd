"""Study ``noise``: base against one RSIR iteration when the training parts carry random items
(paper appendix F, Table 13). See :func:`rsir_pl.data.noise.add_noise` for the noise model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.noise import add_noise
from rsir_pl.data.registry import load_dataset
from rsir_pl.studies import common as C

DEFAULT = [0.0, 0.2, 0.4, 0.6, 0.8]
PERCENT = ("rel NDCG@10", "rel Recall@10")


def run(base: RunConfig, grid: Any = None) -> Path:
    path = C.study_path(base, "noise")
    rates = C.grid_list(grid, DEFAULT, "noise")
    for r in rates:
        if not isinstance(r, (int, float)) or r < 0:
            raise ConfigError(f"study noise: rates must be numbers >= 0 (got {r!r})")
    clean = load_dataset(base.data.dataset, k_core=base.data.k_core)
    runs = []
    for r in rates:
        lab = f"rate={r}"
        # a noisy run trains its own base: base_from holds a model of the clean data
        cfg = C.derive(base, path / C.slug(lab), iterations=1, share_base=r == 0, generation={"method": "rsir"})

        def make_dm(r: float = float(r), cfg: RunConfig = cfg) -> SequenceDataModule:
            return SequenceDataModule(cfg.data, dataset=add_noise(clean, r, seed=cfg.seed), seed=cfg.seed)

        runs.append((lab, cfg, make_dm))
    records = C.run_grid(runs)
    rows = []
    for r, (lab, _, _) in zip(rates, runs):
        b, k1 = records[lab][0], records[lab][1]
        rows.append(
            {
                "noise rate": r,
                "train interactions": b["train_data"]["interactions"],
                **C.against_base_columns(b, k1, "ndcg@10", "base", "RSIR"),
                **C.against_base_columns(b, k1, "recall@10", "base", "RSIR"),
                "generated": C.gen_stat(b, "kept_sequences"),
                "acceptance": C.gen_stat(b, "acceptance_rate"),
            }
        )
    columns = list(rows[0])

    def plot() -> bytes:
        fig, axes = C.figure(2)
        ax = axes[0]
        for key, style in (
            ("base NDCG@10", "o--"),
            ("RSIR NDCG@10", "o-"),
            ("base Recall@10", "s--"),
            ("RSIR Recall@10", "s-"),
        ):
            ax.plot(rates, [row[key] for row in rows], style, label=key)
        ax.set_title("test metrics")
        ax = axes[1]
        for key, style in (("rel NDCG@10", "o-"), ("rel Recall@10", "s-")):
            ax.plot(rates, [100 * (row[key] or 0.0) for row in rows], style, label=key)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_title("RSIR against base (%)")
        for ax in axes:
            ax.set_xlabel("noise rate")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{base.model.backbone} on {base.data.dataset}: robustness to noisy training data")
        return C.png(fig)

    notes = [
        "Rate r: round(r * len) random catalogue items inserted at random positions of every training part "
        "(validation and test items untouched); base = iteration 0 on the noisy data, RSIR = iteration 1.",
    ]
    return C.write_study(
        path,
        "noise",
        base,
        rates,
        C.md_table(columns, rows, PERCENT, verbatim=["noise rate"]),
        C.try_plot(plot),
        {"rows": rows},
        records,
        "base against RSIR on noisy training data",
        notes,
    )
