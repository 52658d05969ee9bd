"""``rsir study encoder``: the base model's encoder choices compared on validation.

Every setting trains its own base model (iteration 0 only, no RSIR) in its own run directory; the
first row is always the config as given, the reference (it reuses ``base_from`` when the config
names one). The setting with the highest best validation NDCG@10 is selected, and only its test
metrics are read, with the paired per-user CI against the reference. Each row also records what
the setting costs: epochs to the best validation score and seconds per epoch.

The default grid is the three choices where a plain textbook SASRec differs from this project's
(position scheme, input scaling, feed-forward width)::

    [{model.positions: fixed_slot}, {model.input_scale: none}, {model.ffn_mult: 1}]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.studies import common as C
from rsir_pl.studies.tune import expand_grid, label, sections_of

DEFAULT_GRID: list[dict[str, Any]] = [
    {"model.positions": "fixed_slot"},
    {"model.input_scale": "none"},
    {"model.ffn_mult": 1},
]
#: options an encoder grid may set: what the base model is built and trained from
ENCODER_SECTIONS = ("model", "data")
REFERENCE = "config"


def check_encoder_key(key: str) -> None:
    section, _, name = key.partition(".")
    if section not in ENCODER_SECTIONS or not name:
        raise ConfigError(f"encoder: grid option {key!r} must be model.<name> or data.<name>")


def run(base: RunConfig, grid: Any = None) -> Path:
    """Train one base per setting (plus the config's own), select by validation; returns the
    directory holding ``study.md``, ``study.json`` and ``study.png``."""
    settings = [s for s in expand_grid(grid, DEFAULT_GRID, check_encoder_key, "encoder") if s]
    labels = [REFERENCE, *(label(s) for s in settings)]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"encoder: the grid holds the same setting twice ({labels[1:]})")
    path = C.study_path(base, "encoder")
    runs = [(REFERENCE, C.derive(base, path / REFERENCE, iterations=0), None)]
    for lab, s in zip(labels[1:], settings):
        runs.append((lab, C.derive(base, path / C.slug(lab), iterations=0, **sections_of(s)), None))
    records = C.run_grid(runs)
    rows = encoder_rows(labels, {lab: recs[0] for lab, recs in records.items()})
    best = next(i for i, r in enumerate(rows) if r["selected"])
    chosen = records[labels[best]][0]
    reference = records[REFERENCE][0]
    selected = {
        "setting": {} if best == 0 else settings[best - 1],
        "label": labels[best],
        "val NDCG@10": rows[best]["val NDCG@10"],
        "reference val NDCG@10": rows[0]["val NDCG@10"],
        "test": chosen["test"],
        "reference test": reference["test"],
        "vs_reference": None if best == 0 else C.paired_between(path / REFERENCE, path / C.slug(labels[best]), 0),
        "run_dir": str(path / C.slug(labels[best])),
    }
    table = C.md_table(
        ["setting", "val NDCG@10", "val vs config", "best epoch", "epochs", "s/epoch", "selected"],
        rows,
        percent=["val vs config"],
        verbatim=["setting", "s/epoch"],
    )
    notes = [
        "Selection uses validation only: `val NDCG@10` is each base's best validation NDCG@10 (early "
        "stopping); `*` marks the highest. `s/epoch` is the fit's wall time over its epochs (validation "
        "included), on whatever else the machine was running.",
        "",
        selected_text(selected),
    ]
    return C.write_study(
        path,
        "encoder",
        base,
        settings,
        table,
        C.try_plot(lambda: _plot(base, rows)),
        {"rows": rows, "selected": selected},
        records,
        "encoder choices of the base, chosen on validation",
        notes,
    )


def encoder_rows(labels: list[str], records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting (the reference first) with its validation score, cost and the selection mark."""
    rows = []
    for lab in labels:
        fit = records[lab].get("fit") or {}
        epochs, seconds = fit.get("epochs"), fit.get("fit_seconds")
        rows.append(
            {
                "setting": lab,
                "val NDCG@10": fit.get("best_val_ndcg@10"),
                "best epoch": fit.get("best_epoch"),
                "epochs": epochs,
                "s/epoch": round(seconds / epochs, 1) if seconds and epochs else None,
            }
        )
    ref = rows[0]["val NDCG@10"]
    for r in rows:
        v = r["val NDCG@10"]
        r["val vs config"] = None if v is None or not ref else v / ref - 1.0
    # ties go to the earlier row, so the reference wins a tie
    best = max(range(len(rows)), key=lambda i: (rows[i]["val NDCG@10"] or float("-inf"), -i))
    for i, r in enumerate(rows):
        r["selected"] = "*" if i == best else ""
    return rows


def selected_text(selected: Mapping[str, Any]) -> str:
    """The report's conclusion: the selected setting and its test result against the reference."""
    t, ref = selected["test"], selected["reference test"]
    if selected["label"] == REFERENCE:
        return (
            "Selected on validation: the config's own encoder (no setting beats it: "
            f"best validation NDCG@10 {selected['val NDCG@10']:.5f}). Its test NDCG@10 {t['ndcg@10']:.5f}, "
            f"Recall@10 {t['recall@10']:.5f}."
        )
    parts = [
        f"Selected on validation: `{selected['label']}` ({selected['val NDCG@10']:.5f} against the config's "
        f"{selected['reference val NDCG@10']:.5f})."
    ]
    parts += C.change_sentences(ref, t, selected.get("vs_reference"), "config")
    return " ".join(parts)


def _plot(base: RunConfig, rows: list[dict[str, Any]]) -> bytes:
    title = f"{base.model.backbone} on {base.data.dataset}: encoder choices (selected in orange)"
    return C.validation_bars(rows, "setting", rows[0]["val NDCG@10"], "config", title)
