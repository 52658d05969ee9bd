"""Quality benchmark: base model and RSIR iterations on a dataset, recorded in RESULTS.md.

    python benchmarks/rsir.py --config configs/sasrec/toys.yaml [--run_dir DIR] [--set generation.tau=10 ...]
    python benchmarks/rsir.py --report-only --run_dir benchmarks/out/sasrec-toys-t20 --command "..."

Runs (or resumes) ``rsir self-improve`` for the config, then appends to benchmarks/RESULTS.md: the
command, commit, machine, test metrics of every iteration with the paired per-user 95% bootstrap
CI and p-value against iteration 0 (the same-seed base), best validation NDCG@10, epochs and wall
times, and the statistics of the generated data. ``--report-only`` writes the section for a run
directory that already finished (e.g. one started from the CLI).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, section  # noqa: E402
from rsir_pl.config import load_run_config  # noqa: E402


def _delta(vs: dict, name: str) -> str:
    if name not in vs:
        return "base"
    c = vs[name]
    return f"{c['relative']:+.1%} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], p={c['p_value']:.3g}"


def _val(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def report(run_dir: Path, command: str) -> str:
    """Markdown section for a finished run directory."""
    records = json.loads((run_dir / "results.json").read_text())
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    d, m, g, t = cfg["data"], cfg["model"], cfg["generation"], cfg["trainer"]
    prov_path = run_dir / "provenance.json"
    starts = json.loads(prov_path.read_text()) if prov_path.exists() else []
    prov = "; ".join(
        f"{p['started']} at `{p['revision']}` with {p['torch_threads']} torch thread(s)"
        + (f" on {p['cuda']}" if p.get("cuda") else "")
        for p in starts
    )
    lines = [
        *([f"Run started (and resumed): {prov}.", ""] if prov else []),
        f"Setting: {m['backbone']} hidden {m['hidden']}, {m['layers']} layers, dropout {m['dropout']}, loss "
        f"{m['loss']}, max_len {d['max_len']}, batch {d['batch_size']}, history masked: {d['mask_history']}; "
        f"early stopping on validation NDCG@10, patience {t['patience']}; seed {cfg['seed']}; generation preset "
        f"{g['preset']}, m {g['m']}, tau {g['tau']}, p {g['p']}, top_k {g['top_k']}, fidelity {g['fidelity']}, "
        f"max_synthetic_ratio {g['max_synthetic_ratio']}, synthetic weight {m['synthetic_weight']}.",
        "",
        "| iteration | NDCG@10 | Recall@10 | NDCG@20 | Recall@20 | MRR@10 | ΔNDCG@10 (95% CI, p) | ΔRecall@10 "
        "(95% CI, p) | train seqs | best val NDCG@10 | best epoch / epochs | fit time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        te, vs, fit = r["test"], r.get("vs_base", {}), r.get("fit", {})
        lines.append(
            f"| {r['iteration']} | {te['ndcg@10']:.4f} | {te['recall@10']:.4f} | {te['ndcg@20']:.4f} | "
            f"{te['recall@20']:.4f} | {te['mrr@10']:.4f} | {_delta(vs, 'ndcg@10')} | {_delta(vs, 'recall@10')} | "
            f"{r['train_data']['sequences']:,} | {_val(fit.get('best_val_ndcg@10'))} | "
            f"{fit.get('best_epoch')} / {fit.get('epochs')} | "
            f"{fit.get('fit_seconds', 0) / 60:.1f} min |"
        )
    gens = [(r["iteration"], r["generation"]) for r in records if r.get("generation")]
    if gens:
        lines += [
            "",
            "Generated data (D'_{k+1} made by f_k):",
            "",
            "| by f_k | attempts | kept seqs | kept interactions | acceptance | mean generated length | duplicates "
            "| capped | generation time | ApEn' of D_{k+1} | tail share of generated |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k, s in gens:
            lines.append(
                f"| {k} | {s['attempts']:,} | {s['kept_sequences']:,} | {s['kept_interactions']:,} | "
                f"{s['acceptance_rate']:.3f} | {s['mean_generated_length']:.2f} | {s['duplicates_dropped']:,} | "
                f"{s.get('capped_dropped', 0):,} | {s['generation_seconds']:.0f} s | "
                f"{s.get('data_next', {}).get('apen_inverse_mean', float('nan')):.2f} | "
                f"{s.get('data_generated', {}).get('tail_share', float('nan')):.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", default=[], help="config file(s), later wins")
    ap.add_argument("--run_dir", help="run directory (default: the config's)")
    ap.add_argument("--set", action="append", default=[], help="override, e.g. generation.tau=10")
    ap.add_argument("--report-only", action="store_true", help="only write the RESULTS section of a finished run")
    ap.add_argument("--command", help="the command that produced the run (with --report-only)")
    ap.add_argument("--title", help="section title")
    ap.add_argument("--reading", default="", help="the honest one-line reading of the numbers")
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    args = ap.parse_args()
    if args.report_only:
        run_dir = Path(args.run_dir)
        command = args.command or "(not recorded)"
    else:
        overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
        if args.run_dir:
            overrides["run_dir"] = args.run_dir
        config = load_run_config(*args.config, overrides=overrides)
        from rsir_pl.loop.runner import self_improve

        self_improve(config)
        run_dir = Path(config.run_dir)
        command = "python benchmarks/rsir.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    title = args.title or f"RSIR quality: {cfg['model']['backbone']} on {cfg['data']['dataset']}"
    body = report(run_dir, command)
    blocks = [f"Run command: `{command}`; run directory `{run_dir}`.", body]
    append_results(args.results, section(title, blocks, args.reading or "see the table"))
    print(body)


if __name__ == "__main__":
    main()
