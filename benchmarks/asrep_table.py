"""Base, ASReP, RSIR and ASReP+RSIR on one base model: the four-row table with paired CIs.

    python benchmarks/asrep_table.py --config configs/sasrec/toys.yaml --base_from benchmarks/out/sasrec-toys-t20 \\
        --run_dir benchmarks/out/asrep-toys --set trainer.progress_bar=false --set generation.progress=false

Runs (or resumes) the study ``asrep`` (:mod:`rsir_pl.studies.asrep`) in ``RUN_DIR/study-asrep/``:
the base model is copied from ``--base_from`` (a run directory whose iteration 0 was trained with
the same seed, data, model and trainer settings; without it the study trains the base), then the
arms ASReP (``generation.method: asrep`` with the published defaults), RSIR (K = ``iterations``
of the config) and ASReP+RSIR (ASReP's D_1, then K RSIR iterations), all on that base; the
ASReP+RSIR arm reuses the ASReP arm's reverse model. A finished study is collected, not retrained.
``--arms`` runs and reports only some arms (e.g. ``--arms asrep rsir`` when the ASReP+RSIR arm's
two extra fits do not fit the time at hand).

Appends one section to ``--results`` (default benchmarks/RESULTS.md): the rows (test
NDCG@10 and Recall@10 of each arm's final iteration; relative change, 95% bootstrap CI of the
paired per-user difference and paired t-test p against the same base), the arms against each
other, what ASReP did (short sequences augmented, pseudo-prior items, its reverse model), and a
reading generated from the numbers (``--reading`` replaces it). ``--publish STEM`` also copies
the study's table and plot to ``benchmarks/studies/STEM.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from rsir_pl.config import load_run_config  # noqa: E402
from rsir_pl.studies import run_study  # noqa: E402
from study import publish, repo_relative  # noqa: E402

METRICS = (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", default=[], help="config file(s), later wins")
    ap.add_argument("--base_from", help="run directory whose trained base model (iteration 0) every arm reuses")
    ap.add_argument("--run_dir", help="where the study's runs go (default: benchmarks/out/asrep-<dataset>)")
    ap.add_argument("--set", action="append", default=[], help="override, e.g. iterations=1 or trainer.max_epochs=5")
    ap.add_argument(
        "--arms",
        nargs="+",
        choices=("asrep", "rsir", "asrep+rsir"),
        help="the arms to run and report (default: all three)",
    )
    ap.add_argument("--title", default="", help="section title (default: names the dataset, backbone and seed)")
    ap.add_argument("--reading", default="", help="replace the generated one-line reading")
    ap.add_argument("--publish", metavar="STEM", help="copy study.md/png to benchmarks/studies/STEM.md/png")
    ap.add_argument("--log_level", default="INFO", help="progress messages of the runs (default: %(default)s)")
    C.add_common_args(ap)
    return ap.parse_args(argv)


def pct(c: dict[str, float]) -> str:
    return f"{100 * c['relative']:+.1f}%"


def ci(c: dict[str, float]) -> str:
    return f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"


def significant(c: dict[str, float]) -> bool:
    """The 95% CI of the paired difference excludes 0."""
    return c["ci_low"] > 0 or c["ci_high"] < 0


def vs_base(row: dict[str, Any], name: str) -> dict[str, float]:
    """A study row's paired comparison with the shared base for metric ``name`` (NDCG@10, Recall@10)."""
    return {
        "relative": row[f"rel {name}"],
        "ci_low": row[f"{name} ci_low"],
        "ci_high": row[f"{name} ci_high"],
        "p_value": row[f"p {name}"],
    }


def arm_table(study: dict[str, Any]) -> str:
    """The four rows: base, then each arm against it."""
    headers = ["arm", "iterations", "test NDCG@10", "vs base", "95% CI", "p", "test Recall@10", "vs base"]
    headers += ["95% CI", "p", "val NDCG@10"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    runs = study["runs"]
    for row in study["rows"]:
        label, k = row["arm"], row["iterations"]
        rec = runs[label][k]
        cells = [label, str(k)]
        for m, name in METRICS:
            cells.append(f"{rec['test'][m]:.4f}")
            if label == "base":
                cells += ["", "", ""]
            else:
                c = vs_base(row, name)
                cells += [pct(c), ci(c), f"{c['p_value']:.2g}"]
        val = (rec.get("fit") or {}).get("best_val_ndcg@10")
        cells.append(f"{val:.4f}" if val is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cross_check(study: dict[str, Any]) -> list[str]:
    """Notes where an arm's comparison with its own iteration 0 differs from the study's with the
    shared base (the same model, copied, so they agree unless its test ranks were not reproduced)."""
    notes = []
    for row in study["rows"][1:]:
        rec = study["runs"][row["arm"]][row["iterations"]]
        for m, name in METRICS:
            if abs(rec["vs_base"][m]["diff"] - vs_base_diff(row, name)) > 1e-9:
                notes.append(
                    f"Note: {row['arm']}'s {name} change against its own copy of the base "
                    f"({rec['vs_base'][m]['relative']:+.4%}) differs from the shared base's; the table uses the latter."
                )
    return notes


def vs_base_diff(row: dict[str, Any], name: str) -> float:
    return row[f"{name} diff"]


def pair_table(study: dict[str, Any]) -> str:
    headers = ["comparison", "NDCG@10", "95% CI", "p", "Recall@10", "95% CI", "p"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for p in study["pairs"]:
        cells = [f"{p['new']} vs {p['reference']}"]
        for m, _ in METRICS:
            cells += [pct(p[m]), ci(p[m]), f"{p[m]['p_value']:.2g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def asrep_facts(study: dict[str, Any]) -> str:
    """What ASReP did: its D'_1 statistics and its reverse model."""
    g = study["runs"]["ASReP"][0].get("generation") or {}
    r = g.get("reverse_model") or {}
    rt = r.get("test") or {}
    return (
        f"ASReP (threshold {g.get('threshold')}, filled to {g.get('length')}, at most {g.get('max_items')} items, "
        f"top_k {g.get('top_k')}): {C.fmt(g.get('kept_sequences'))} of the "
        f"{C.fmt(study['runs']['base'][0]['train_data']['sequences'])} training sequences replaced by augmented "
        f"ones with {C.fmt(g.get('pseudo_prior_items'))} pseudo-prior items "
        f"({C.fmt(g.get('mean_generated_length'))} per sequence; {C.fmt(g.get('held_out_in_prepended'))} of them "
        f"coincide with the user's validation or test item). Reverse model: trained on "
        f"{C.fmt(r.get('users'))} reversed training parts, best validation NDCG@10 "
        f"{C.fmt(r.get('best_val_ndcg@10'), 4)} at epoch {r.get('best_epoch')}, test NDCG@10 "
        f"{C.fmt(rt.get('ndcg@10'), 4)} (predicting each user's first training item)."
    )


def reading(study: dict[str, Any]) -> str:
    """One line from the numbers: each arm against the base, then RSIR against ASReP."""
    parts = []
    for row in study["rows"][1:]:
        bits = []
        for _, name in METRICS:
            c = vs_base(row, name)
            bits.append(f"{name} {pct(c)} ({'CI excludes 0' if significant(c) else 'CI includes 0'})")
        parts.append(f"{row['arm']}: " + ", ".join(bits))
    for p in study["pairs"]:
        c = p["ndcg@10"]
        verdict = "significant" if significant(c) else "not significant"
        parts.append(f"{p['new']} vs {p['reference']}: NDCG@10 {pct(c)} ({verdict})")
    return "against the same-seed base, " + "; ".join(parts) + ". One seed"


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    C.set_threads(args.threads)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.base_from:
        overrides["base_from"] = args.base_from
    config = load_run_config(*args.config, overrides=overrides)
    run_dir = args.run_dir or str(C.OUT_DIR / f"asrep-{Path(config.data.dataset).stem}")
    config = load_run_config(*args.config, overrides={**overrides, "run_dir": run_dir})
    out = run_study("asrep", config, args.arms)
    study = json.loads((out / "study.json").read_text(encoding="utf-8"))
    notes = cross_check(study)
    where = f"Study directory `{repo_relative(out)}` (study.md, study.png, study.json)"
    if config.base_from:
        where += f"; base model copied from `{config.base_from}`"
    if args.publish:
        where += ". Copied to " + ", ".join(publish(out, args.publish, Path(args.results)))
    k = study["K"]
    body = [
        where + ".",
        f"Arms on one base model (dataset `{config.data.dataset}`, backbone `{config.model.backbone}`, seed "
        f"{config.seed}); K = {k} RSIR iteration(s), ASReP+RSIR = ASReP then K RSIR iterations. Each row is the "
        "arm's final iteration; `vs base`: paired relative change, `95% CI`: bootstrap CI of the mean per-user "
        "difference, `p`: paired t-test, all against the same base; `val NDCG@10`: best validation NDCG@10.",
        arm_table(study),
        "The arms against each other (paired per user, final iterations):",
        pair_table(study),
        asrep_facts(study),
        *notes,
    ]
    title = args.title or (
        f"ASReP vs RSIR on {config.data.dataset} ({config.model.backbone}, seed {config.seed}): "
        "base, ASReP, RSIR, ASReP+RSIR"
    )
    C.append_results(args.results, C.section(title, body, args.reading or reading(study)))
    print(arm_table(study))
    print(pair_table(study))
    return out


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    main()
