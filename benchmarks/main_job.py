"""The main job (`make run`) measured: wall and CPU time, how each fit stopped, base / RSIR / oracle
and the verdict, appended to benchmarks/RESULTS.md.

    python benchmarks/main_job.py [--config configs/sasrec/synthetic.yaml] [--run_dir benchmarks/out/main-job]
                                  [--note "what else ran on the machine"]

Runs ``python -m rsir_pl self-improve --config CONFIG --run_dir RUN_DIR`` with this tree's sources
(``PYTHONPATH=src``; ``make run`` runs the installed ``rsir`` entry point, the same code once
installed) in a fresh run directory, exactly as a user would (progress bars on, default threads),
and records the wall time, the CPU time (user + system) of the child, its peak memory, the load
average before and after (on a busy machine the wall time overstates what an idle one needs; the
CPU time does not), each fit's epochs against max_epochs and patience, and the output's last block:
the results table and the verdict a user reads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, append_results, loadavg, markdown_table, section  # noqa: E402
from rsir_pl.loop.results import verdict_text, verdict_word  # noqa: E402


def run_job(config: str, run_dir: Path, log_path: Path, threads: int | None = None) -> dict:
    """Run the job in a child process; its stdout is kept whole, stderr (progress bars) in ``log_path``."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads in the child
    cmd = [sys.executable, "-m", "rsir_pl", "self-improve", "--config", config, "--run_dir", str(run_dir)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = loadavg()
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as err:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise SystemExit(f"the job failed (exit {proc.returncode}); its log: {log_path}")
    return {
        "command": ("" if threads is None else f"OMP_NUM_THREADS={threads} ")
        + "PYTHONPATH=src "
        + " ".join(["python", *cmd[1:]]),
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "peak_rss_gib": after.ru_maxrss / 2**20,
        "load_before": load_before,
        "load_after": loadavg(),
        "stdout": proc.stdout,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/sasrec/synthetic.yaml")
    ap.add_argument("--run_dir", default="benchmarks/out/main-job")
    ap.add_argument("--note", default="", help="what else ran on the machine (it changes the wall time)")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the job (default: as a user's, unset)")
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    args = ap.parse_args()
    run_dir = (REPO_ROOT / args.run_dir).resolve()
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    job = run_job(args.config, run_dir, run_dir.parent / f"{run_dir.name}.stderr.log", args.threads)
    records = json.loads((run_dir / "results.json").read_text())
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    t = cfg["trainer"]
    threads = json.loads((run_dir / "provenance.json").read_text())[-1]["torch_threads"]

    timing = markdown_table(
        ["wall", "CPU (user + sys)", "user", "sys", "peak RSS", "torch threads", "load avg before", "load avg after"],
        [
            [
                f"{job['wall_s']:.0f} s ({job['wall_s'] / 60:.1f} min)",
                f"{job['cpu_s']:.0f} s ({job['cpu_s'] / 60:.1f} min)",
                f"{job['user_s']:.0f} s",
                f"{job['sys_s']:.0f} s",
                f"{job['peak_rss_gib']:.2f} GiB",
                threads,
                job["load_before"],
                job["load_after"],
            ]
        ],
    )
    fits = []
    for r in records:
        f = r["fit"]
        stopped = "early stopping" if f["epochs"] < t["max_epochs"] else "max_epochs"
        fits.append(
            [
                r["iteration"],
                r["train_data"]["sequences"],
                f["epochs"],
                f["best_epoch"],
                t["max_epochs"],
                t["patience"],
                stopped,
                f"{f['fit_seconds']:.0f} s",
            ]
        )
    fit_table = markdown_table(
        [
            "iteration",
            "train sequences",
            "epochs run",
            "best epoch",
            "max_epochs",
            "patience",
            "stopped by",
            "fit wall",
        ],
        fits,
    )
    last = records[-1]
    oracle = records[0].get("oracle") or {}
    rows = []
    for m, label in (
        ("ndcg@10", "NDCG@10"),
        ("recall@10", "Recall@10"),
        ("ndcg@20", "NDCG@20"),
        ("recall@20", "Recall@20"),
    ):
        c = last.get("vs_base", {}).get(m)
        if c is None:
            rows.append([label, records[0]["test"][m], None, oracle.get(m), None, None, None])
            continue
        rows.append(
            [
                label,
                c["base"],
                c["new"],
                oracle.get(m),
                f"{c['relative']:+.1%}",
                f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                verdict_word(c["ci_low"], c["ci_high"]),
            ]
        )
    quality = markdown_table(
        ["metric", "base", "RSIR", "oracle", "change", "95% CI of the difference", "verdict"], rows
    )
    printed = job["stdout"].strip().splitlines()
    tail = "\n".join(printed[-12:])
    blocks = [
        f"Job: `{job['command']}` (what `make run` runs), fresh run directory `{args.run_dir}`."
        + (f" Machine: {args.note}." if args.note else ""),
        timing,
        fit_table,
        quality,
        "What the job prints at the end:\n\n```text\n" + tail + "\n```",
    ]
    verdict = verdict_text(records)
    stopped_all = all(row[6] == "early stopping" for row in fits)
    parts = []
    for m, label in (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10")):
        c = last.get("vs_base", {}).get(m)
        if c is not None:
            o = f" / oracle {oracle[m]:.4f}" if m in oracle else ""
            parts.append(
                f"{label} base {c['base']:.4f} / RSIR {c['new']:.4f}{o} ({c['relative']:+.1%}, CI "
                f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]: {verdict_word(c['ci_low'], c['ci_high'])})"
            )
    closed = [line.strip() for line in verdict.splitlines() if "of the gap" in line]
    reading = (
        f"{job['wall_s'] / 60:.1f} min wall and {job['cpu_s'] / 60:.1f} CPU-min"
        + (f" ({args.note})" if args.note else "")
        + ("; both fits stopped by early stopping" if stopped_all else "; NOT every fit stopped by early stopping")
        + ". "
        + "; ".join(parts)
        + (". " + closed[0] if closed else ".")
    )
    append_results(
        args.results,
        section("Main job (`make run`): SASRec + one RSIR iteration on the embedded world", blocks, reading),
    )
    print(verdict)


if __name__ == "__main__":
    main()
