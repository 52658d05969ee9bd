"""What batching costs per training epoch: uniform batches, length buckets, length buckets with
target reweighting (``data.bucket_by_length``, ``data.bucket_reweight``).

Trains the same fresh model for ``--epochs`` epochs under each setting, in turns (a round of all
settings, repeated ``--rounds`` times, so load on a shared machine hits them alike), without
validation, and reports wall and process-CPU seconds per epoch. CPU seconds are what a setting
costs; wall seconds depend on what else runs. Quality is chosen elsewhere, on validation
(``compare_bases.py``).

    python benchmarks/batching.py --dataset toys --epochs 2 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import lightning as L

import _common as C
from rsir_pl.config import DataConfig, ModelConfig, TrainerConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.models import build_model
from rsir_pl.training import build_trainer

SETTINGS = {
    "uniform": {"bucket_by_length": False},
    "buckets": {"bucket_by_length": True, "bucket_reweight": False},
    "buckets + reweight": {"bucket_by_length": True, "bucket_reweight": True},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="toys", help="registered dataset name or file (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per setting and round (%(default)s)")
    p.add_argument("--rounds", type=int, default=1, help="rounds over the settings (%(default)s)")
    C.add_common_args(p, threads_default=1)
    return p.parse_args(argv)


def time_epochs(dataset: str, setting: dict, epochs: int) -> tuple[float, float, int]:
    """(wall s, CPU s, batches) of ``epochs`` training epochs of a fresh SASRec (defaults)."""
    L.seed_everything(0, verbose=False)
    dm = SequenceDataModule(DataConfig(dataset=dataset, **setting), seed=0)
    dm.setup()
    model = build_model(ModelConfig(), dm.num_items, dm.config.max_len)
    trainer = build_trainer(TrainerConfig(max_epochs=epochs, progress_bar=False, accelerator="cpu"))
    trainer.limit_val_batches = 0
    w0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, train_dataloaders=dm.train_dataloader())
    return time.perf_counter() - w0, time.process_time() - c0, trainer.global_step


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.set_threads(args.threads)
    C.print_header("batching: seconds per training epoch")
    totals = {name: [0.0, 0.0, 0] for name in SETTINGS}
    for r in range(args.rounds):
        for name, setting in SETTINGS.items():
            wall, cpu, steps = time_epochs(args.dataset, setting, args.epochs)
            t = totals[name]
            t[0] += wall
            t[1] += cpu
            t[2] += steps
            print(f"round {r}: {name}: {wall / args.epochs:.1f} s wall, {cpu / args.epochs:.1f} s CPU per epoch")
    n = args.epochs * args.rounds
    rows = []
    ref = totals["uniform"][1] / n
    for name, (wall, cpu, steps) in totals.items():
        rows.append([name, wall / n, cpu / n, ref / (cpu / n), steps // n])
    headers = ["batching", "wall s / epoch", "CPU s / epoch", "CPU speed-up vs uniform", "steps / epoch"]
    table = C.markdown_table(headers, rows)
    setup = (
        f"Dataset `{args.dataset}`, SASRec defaults (hidden 64, 2 layers, full-softmax CE, batch 256, "
        f"max_len 50), {args.epochs} epoch(s) x {args.rounds} round(s) per setting, in turns, no validation, "
        f"{args.threads} torch thread(s)."
    )
    reading = "; ".join(f"{r[0]}: {r[2]:.1f} CPU s per epoch ({r[3]:.2f}x uniform)" for r in rows)
    print(table)
    title = f"Batching cost per training epoch ({args.dataset})"
    C.append_results(args.results, C.section(title, [setup, table], reading + "."))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
