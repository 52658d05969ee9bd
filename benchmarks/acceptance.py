"""Fidelity-check acceptance under both target readings (RSIR-SPEC §3 step 4).

With a trained model, runs the batched generator over every seed of D_0 once per
(p, generation.check_targets) pair and reports acceptance (accepted / proposed steps), kept
sequences and generation time. ``remaining`` tests the user's remaining true future without the
appended item (the default); ``including_new`` lets the appended item count as its own target.

    python benchmarks/acceptance.py --dataset toys --checkpoint benchmarks/out/sasrec-toys-nb-s0
"""

from __future__ import annotations

import argparse
import os
import time

import _common as C
from generation import resolve_checkpoint
from rsir_pl.config import CHECK_TARGETS, DataConfig, GenerationConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.generation.generator import Generator
from rsir_pl.models import load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="toys", help="registered dataset name or file (default: %(default)s)")
    p.add_argument("--checkpoint", required=True, help="model.pt or a run directory (its iter_0/model.pt)")
    p.add_argument("--p", type=float, nargs="+", default=[0.5, 1.0], help="exploitation probabilities (%(default)s)")
    p.add_argument("--m", type=int, default=10, help="attempts per seed (%(default)s)")
    p.add_argument("--tau", type=int, default=20, help="fidelity rank threshold (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (%(default)s)")
    C.add_common_args(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.set_threads(args.threads)
    C.print_header("fidelity-check acceptance: remaining vs including_new targets")
    dm = SequenceDataModule(DataConfig(dataset=args.dataset))
    dm.setup()
    assert dm.split is not None
    ckpt = resolve_checkpoint(args.checkpoint)
    model = load_model(ckpt, num_items=dm.num_items).eval()
    store, held = dm.d0, dm.split.held_out_items()
    real = int(store.lengths.sum())
    rows = []
    for p in args.p:
        for targets in CHECK_TARGETS:
            cfg = GenerationConfig(m=args.m, tau=args.tau, p=p, check_targets=targets, progress=False)
            t0 = time.perf_counter()
            res = Generator(cfg, seed=args.seed, iteration=0).run(model, store, held, real)
            s = res.stats
            rows.append(
                [
                    p,
                    targets,
                    s["proposed_steps"],
                    s["accepted_steps"],
                    s["acceptance_rate"],
                    s["attempts_with_accepted_step"],
                    s["kept_sequences"],
                    s["kept_interactions"],
                    s["mean_generated_length"],
                    time.perf_counter() - t0,
                ]
            )
            print(f"p={p} {targets}: acceptance {s['acceptance_rate']:.3f}, kept {s['kept_sequences']:,}")
    headers = [
        "p",
        "check_targets",
        "proposed steps",
        "accepted steps",
        "acceptance",
        "attempts with an accepted step",
        "kept sequences",
        "kept interactions",
        "mean generated length",
        "seconds",
    ]
    table = C.markdown_table(headers, rows)
    setup = (
        f"Dataset `{args.dataset}` (D_0: {len(store):,} sequences, {dm.num_items:,} items); model `{ckpt}`; "
        f"GenerationConfig(preset=paper, m={args.m}, tau={args.tau}, exact check, no cap), seed {args.seed}."
    )
    by = {(r[0], r[1]): r[4] for r in rows}
    reading = "; ".join(
        f"p={p}: acceptance {by[(p, 'including_new')]:.3f} with the appended item as its own target, "
        f"{by[(p, 'remaining')]:.3f} with the remaining future only"
        for p in args.p
    )
    print(table)
    C.append_results(
        args.results,
        C.section(f"Fidelity-check acceptance by target reading ({args.dataset})", [setup, table], reading + "."),
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
