"""Training settings compared on validation: one row per finished run directory.

For each run directory, iteration 0 (the base model): the setting that differs, best validation
NDCG@10 and its epoch, epochs trained, fit time and seconds per epoch, and the test metrics. The
section says which setting validation prefers; test metrics are shown for the record, never used
to choose.

    python benchmarks/compare_bases.py --title "SASRec Toys: batching" \\
        bucketed=benchmarks/out/sasrec-toys-b-s0 uniform=benchmarks/out/sasrec-toys-nb-s0
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import _common as C


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="LABEL=RUN_DIR of runs whose iteration 0 finished")
    p.add_argument("--title", required=True, help="section title")
    C.add_common_args(p)
    return p.parse_args(argv)


def base_row(label: str, run_dir: Path) -> list:
    """The table row of a run directory's iteration 0."""
    it = run_dir / "iter_0"
    if not (it / "metrics.json").exists():
        raise SystemExit(f"{run_dir}: iteration 0 has not finished (no iter_0/metrics.json)")
    rec = json.loads((it / "metrics.json").read_text())
    fit = rec["fit"]
    starts = json.loads((run_dir / "provenance.json").read_text()) if (run_dir / "provenance.json").exists() else []
    threads = ",".join(sorted({str(s.get("torch_threads")) for s in starts})) or "?"
    epochs = int(fit.get("epochs") or 0)
    seconds = fit.get("fit_seconds")
    return [
        label,
        fit.get("best_val_ndcg@10"),
        fit.get("best_epoch"),
        epochs,
        seconds,
        seconds / epochs if seconds and epochs else None,
        threads,
        rec["test"]["ndcg@10"],
        rec["test"]["recall@10"],
        str(run_dir),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    for spec in args.runs:
        label, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: expected LABEL=RUN_DIR")
        rows.append(base_row(label, Path(path)))
    headers = [
        "setting",
        "best val NDCG@10",
        "best epoch",
        "epochs",
        "fit s",
        "s / epoch",
        "torch threads",
        "test NDCG@10",
        "test Recall@10",
        "run directory",
    ]
    table = C.markdown_table(headers, rows)
    best = max(rows, key=lambda r: r[1] if r[1] is not None else float("-inf"))
    note = (
        "Fit times come from runs that shared the machine with other jobs (see each run's load in "
        "its provenance.json); compare seconds per epoch only between runs that ran side by side."
    )
    reading = (
        f"validation prefers `{best[0]}` (best validation NDCG@10 {best[1]:.5f} at epoch {best[2]}); "
        + "; ".join(f"`{r[0]}`: {r[1]:.5f}, {r[5]:.0f} s/epoch" for r in rows if r is not best and r[1] and r[5])
    )
    print(table)
    C.append_results(args.results, C.section(args.title, [table, note], reading + "."))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
