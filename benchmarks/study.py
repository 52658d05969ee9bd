"""Run one of the paper's studies and record its table in RESULTS.md.

    python benchmarks/study.py NAME --config configs/sasrec/toys.yaml [--grid YAML] [--set key=value ...]
    python benchmarks/study.py tau --config configs/sasrec/synthetic.yaml --grid "[5, 20, 100]"

NAME is one of iterations, tau, p, noise, weak-to-strong, data, weighting, leakage, tune, asrep, encoder (see
``rsir_pl.studies``). Runs (or resumes) ``rsir_pl.studies.run_study`` in ``<run_dir>/study-NAME/``,
then appends the study's ``study.md`` to ``--results`` (default benchmarks/RESULTS.md) under a
heading with the command, ``git rev-parse --short HEAD``, the machine (nproc, GPU) and the date.
``--publish STEM`` also copies ``study.md`` and ``study.png`` to ``benchmarks/studies/STEM.md``
and ``.png`` (run directories outside the repository are git-ignored) and links them from the
section. A finished study is collected without training again, so this also records a study
whose sub-runs were trained by separate commands.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_RESULTS, append_results, section, set_threads  # noqa: E402
from rsir_pl.config import load_run_config  # noqa: E402
from rsir_pl.studies import STUDIES, run_study  # noqa: E402

STUDIES_DIR = Path(__file__).resolve().parent / "studies"


def repo_relative(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (as the table shows it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def publish(out: Path, stem: str, results: Path) -> list[str]:
    """Copy the study's table and plot to ``benchmarks/studies/STEM.*``; the markdown links."""
    STUDIES_DIR.mkdir(exist_ok=True)
    md = (out / "study.md").read_text(encoding="utf-8").replace(str(out.resolve()), repo_relative(out))
    (STUDIES_DIR / f"{stem}.md").write_text(md, encoding="utf-8")
    links = []
    for name, kind in ((f"{stem}.md", "table"), (f"{stem}.png", "plot")):
        if name.endswith(".png"):
            if not (out / "study.png").exists():
                continue
            shutil.copyfile(out / "study.png", STUDIES_DIR / name)
        rel = os.path.relpath(STUDIES_DIR / name, results.resolve().parent)
        links.append(f"{kind}: [{rel}]({rel})")
    return links


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=STUDIES, help="the study")
    ap.add_argument("--config", action="append", default=[], help="config file(s), later wins")
    ap.add_argument("--grid", help="the study's grid as YAML (a list; a mapping for weak-to-strong)")
    ap.add_argument("--set", action="append", default=[], help="override, e.g. iterations=3 or trainer.max_epochs=5")
    ap.add_argument("--results", default=str(DEFAULT_RESULTS), help="markdown file the section is appended to")
    ap.add_argument("--threads", type=int, default=None, help="torch / faiss threads (default: leave as is)")
    ap.add_argument("--reading", default="", help="the honest one-line reading of the numbers")
    ap.add_argument("--title", default="", help="section title (default: the study's own heading)")
    ap.add_argument("--publish", metavar="STEM", help="copy study.md/png to benchmarks/studies/STEM.md/png")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = load_run_config(*args.config, overrides=overrides)
    grid = yaml.safe_load(args.grid) if args.grid is not None else None
    out = run_study(args.name, config, grid=grid)
    table = (out / "study.md").read_text(encoding="utf-8")
    # the study's own "# Study ..." heading becomes the section title
    first, _, rest = table.partition("\n")
    title = args.title or first.lstrip("# ").strip() or f"Study {args.name}"
    where = f"Study directory `{repo_relative(out)}` (study.md, study.png, study.json)."
    if args.publish:
        where += " Copied to " + ", ".join(publish(out, args.publish, Path(args.results))) + "."
    body = [where, rest.strip().replace(str(out.resolve()), repo_relative(out))]
    append_results(args.results, section(title, body, args.reading or "see the table"))
    print(table)
    return out


if __name__ == "__main__":
    main()
