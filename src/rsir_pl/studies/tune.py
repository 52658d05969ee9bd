"""``rsir tune``: choose RSIR's settings on validation, then report the choice's test result once.

The base model (iteration 0) trains once, in ``<run_dir>/tune/base``. Every setting of the grid
runs one RSIR iteration on top of that base (``base_from``) in its own run directory. The setting
whose student has the highest best validation NDCG@10 is selected; only then is its test result
read, with the paired per-user CI against the same base. The report lists every setting's
validation score and the selected setting's test metrics, and says plainly when no setting beats
the base on validation (then the base is what a user should keep).

A grid is a mapping of dotted options to lists (their Cartesian product) or a list of mappings
(explicit settings)::

    {generation.tau: [10, 20], generation.p: [0.5, 1.0]}
    [{generation.p: 1.0}, {generation.p: 0.5, model.synthetic_weight: 0.8}, {finetune: true}]

``finetune: true`` (RSIR-FT) starts the student from the base's weights instead of a fresh model.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rsir_pl.config import SYNTHETIC_ONLY_MODEL_KEYS, ConfigError, RunConfig
from rsir_pl.studies import common as C

#: the default grid: the fidelity threshold and the exploitation probability, the two settings the
#: paper's sensitivity study varies (4 one-iteration fits)
DEFAULT_GRID: dict[str, list[Any]] = {"generation.tau": [10, 20], "generation.p": [0.5, 1.0]}

#: sections whose options a tuning grid may set (the base is shared, so only settings that act
#: after iteration 0: generation, and the model's weighting of synthetic targets)
TUNABLE_SECTIONS = ("generation", "model")
TUNABLE_MODEL_KEYS = SYNTHETIC_ONLY_MODEL_KEYS
#: top-level options a grid may set: whether the student starts from the base's weights
TUNABLE_TOP_LEVEL = ("finetune",)


def expand_grid(
    grid: Any, default: Any = None, check_key: Callable[[str], None] | None = None, study: str = "tune"
) -> list[dict[str, Any]]:
    """The list of settings (each a dict of dotted option -> value) a grid describes.

    ``default`` replaces a missing grid (tune's own by default); ``check_key`` refuses an option the
    study cannot vary (tune's rule by default); ``study`` names the study in errors.
    """
    if grid is None:
        grid = DEFAULT_GRID if default is None else default
    check_key = _check_key if check_key is None else check_key
    if isinstance(grid, Mapping):
        if not grid:
            raise ConfigError(f"{study}: --grid must not be empty")
        keys = list(grid)
        values = []
        for k in keys:
            v = grid[k]
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or not v:
                raise ConfigError(f"{study}: grid option {k} needs a non-empty list of values (got {v!r})")
            values.append(list(v))
        settings = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)) and grid:
        settings = []
        for i, s in enumerate(grid):
            if not isinstance(s, Mapping):
                raise ConfigError(f"{study}: grid entry {i} must be a mapping of options (got {s!r})")
            settings.append(dict(s))
    else:
        raise ConfigError(f"{study}: --grid must be a mapping of option lists or a list of settings (got {grid!r})")
    for s in settings:
        for key in s:
            check_key(key)
    return settings


def _check_key(key: str) -> None:
    if key in TUNABLE_TOP_LEVEL:
        return
    section, _, name = key.partition(".")
    if section not in TUNABLE_SECTIONS or not name:
        raise ConfigError(
            f"tune: grid option {key!r} must be generation.<name>, model.<name> or finetune "
            "(the base model is shared, so only settings that act after iteration 0 can be tuned)"
        )
    if section == "model" and name not in TUNABLE_MODEL_KEYS:
        raise ConfigError(
            f"tune: grid option {key!r}: of the model section only "
            f"{', '.join(TUNABLE_MODEL_KEYS)} act after iteration 0"
        )


def sections_of(setting: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"model.ffn_mult": 1}`` -> ``{"model": {"ffn_mult": 1}}`` (for :func:`common.derive`)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in setting.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    return sections


def label(setting: Mapping[str, Any]) -> str:
    """``tau=10,p=0.5``: a setting's short name (option names without their section)."""
    return ",".join(f"{k.partition('.')[2] or k}={v}" for k, v in setting.items()) or "config"


def run(base: RunConfig, grid: Any = None) -> Path:
    """Train the base once, one RSIR iteration per setting, select by validation; returns the
    directory holding ``study.md``, ``study.json`` and ``study.png``."""
    settings = expand_grid(grid)
    path = C.study_path(base, "tune")
    base_cfg = C.derive(base, path / "base", iterations=0)
    labels = [label(s) for s in settings]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"tune: the grid holds the same setting twice ({labels})")
    base_records = C.run_grid([("base", base_cfg, None)])["base"]
    runs = []
    for lab, s in zip(labels, settings):
        top = {k: v for k, v in s.items() if k in TUNABLE_TOP_LEVEL}
        sections = sections_of({k: v for k, v in s.items() if k not in top})
        cfg = C.derive(base, path / C.slug(lab), iterations=1, share_base=False, **sections)
        cfg = dataclasses.replace(cfg, base_from=str(path / "base"), **top)
        runs.append((lab, cfg, None))
    records = C.run_grid(runs)
    base_val = base_records[0].get("fit", {}).get("best_val_ndcg@10")
    rows = []
    for lab in labels:
        rec = records[lab][1]
        gen = records[lab][0].get("generation") or {}
        rows.append(
            {
                "setting": lab,
                "val NDCG@10": rec.get("fit", {}).get("best_val_ndcg@10"),
                "val vs base": _rel(rec.get("fit", {}).get("best_val_ndcg@10"), base_val),
                "generated": gen.get("kept_sequences"),
                "acceptance": gen.get("acceptance_rate"),
            }
        )
    best = max(range(len(rows)), key=lambda i: rows[i]["val NDCG@10"] or float("-inf"))
    for i, row in enumerate(rows):
        row["selected"] = "*" if i == best else ""
    chosen = records[labels[best]][1]
    beats_base = base_val is None or (rows[best]["val NDCG@10"] or 0.0) > base_val
    selected = {
        "setting": settings[best],
        "label": labels[best],
        "val NDCG@10": rows[best]["val NDCG@10"],
        "base val NDCG@10": base_val,
        "beats base on validation": beats_base,
        "test": chosen["test"],
        "base test": base_records[0]["test"],
        "vs_base": chosen.get("vs_base"),
        "run_dir": str(path / C.slug(labels[best])),
    }
    table = C.md_table(
        ["setting", "val NDCG@10", "val vs base", "generated", "acceptance", "selected"],
        [{"setting": "base (no RSIR)", "val NDCG@10": base_val}, *rows],
        percent=["val vs base"],
        verbatim=["setting"],
    )
    notes = [
        "Selection uses validation only: `val NDCG@10` is each student's best validation NDCG@10 "
        "(early stopping); `*` marks the setting with the highest one.",
        "",
        selected_text(selected),
    ]
    return C.write_study(
        path,
        "tune",
        base,
        settings,
        table,
        C.try_plot(lambda: _plot(base, rows, base_val)),
        {"rows": rows, "selected": selected},
        {"base": base_records, **records},
        "RSIR settings chosen on validation",
        notes,
    )


def selected_text(selected: Mapping[str, Any]) -> str:
    """The report's conclusion: the selected setting, its test result and CI against the base."""
    t, b, vs = selected["test"], selected["base test"], selected.get("vs_base")
    parts = [f"Selected on validation: `{selected['label']}`."]
    if not selected["beats base on validation"]:
        parts.append(
            f"No setting beats the base on validation ({selected['val NDCG@10']:.5f} <= "
            f"{selected['base val NDCG@10']:.5f}): keep the base model."
        )
    parts += C.change_sentences(b, t, vs, "base")
    return " ".join(parts)


def _rel(v: float | None, base: float | None) -> float | None:
    if v is None or not base:
        return None
    return v / base - 1.0


def _plot(base: RunConfig, rows: list[dict[str, Any]], base_val: float | None) -> bytes:
    title = f"{base.model.backbone} on {base.data.dataset}: RSIR settings (selected in orange)"
    return C.validation_bars(rows, "setting", base_val, "base", title)
