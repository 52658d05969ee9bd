"""Generation near the hardware limit: the batched Generator against the one-sequence reference.

Runs the batched, fidelity-checked generator (RSIR-SPEC §3, exact check) over every seed sequence
of D_0 (the training parts of the leave-one-out split), and the plain one-sequence-at-a-time
``reference_generate`` on a random subset of seeds, with the same model in the same process.
Reports wall times, the reference time extrapolated to all seeds, the speed-up, steps per second,
acceptance, kept sequences and the batched profile (forward / catalogue search / sampling / check),
and checks on the subset that both implementations produce the same sequences.

    python benchmarks/generation.py --dataset toys --checkpoint benchmarks/out/sasrec-toys-t20/iter_0/model.pt
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import _common as C
from rsir_pl.config import DataConfig, GenerationConfig, ModelConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.generation.generator import Candidates, Generator, seed_indices
from rsir_pl.generation.reference import reference_generate
from rsir_pl.models import build_model, load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="toys", help="registered dataset name or file (default: %(default)s)")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="model.pt written by the loop (or a run directory: its iter_0/model.pt); "
        "default: a freshly initialised SASRec (hidden 64, 2 layers)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="generation rows decoded together (%(default)s)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="model device (%(default)s)")
    p.add_argument("--reference-seeds", type=int, default=200, help="seeds run by the reference (%(default)s)")
    p.add_argument(
        "--max-seeds",
        type=int,
        default=None,
        help="limit the batched run to this many random seed sequences (default: all of D_0)",
    )
    p.add_argument("--kv-cache", action=argparse.BooleanOptionalAction, default=True, help="key/value cache")
    p.add_argument("--m", type=int, default=10, help="attempts per seed (paper preset: 10)")
    p.add_argument("--tau", type=int, default=20, help="fidelity rank threshold (%(default)s)")
    p.add_argument("--p", type=float, default=0.5, help="exploitation probability (%(default)s)")
    p.add_argument("--seed", type=int, default=0, help="generation seed and subset draw (%(default)s)")
    C.add_common_args(p)
    return p.parse_args(argv)


def resolve_checkpoint(path: str) -> Path:
    """A model.pt file, or a run directory holding iter_0/model.pt."""
    p = Path(path)
    if p.is_dir():
        for cand in (p / "iter_0" / "model.pt", p / "model.pt"):
            if cand.is_file():
                return cand
        raise FileNotFoundError(f"{p}: no iter_0/model.pt or model.pt inside")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    return p


def rows_identical(a: Candidates, b: Candidates) -> np.ndarray:
    """Per row (seed, attempt): same generated sequence in both candidate sets (rows sorted alike)."""
    if len(a.seq) != len(b.seq) or not (np.array_equal(a.seq, b.seq) and np.array_equal(a.attempt, b.attempt)):
        raise AssertionError("the two runs produced different (seed, attempt) rows")
    sa, sb = a.sequences, b.sequences
    same = np.zeros(len(a.seq), dtype=bool)
    for i in range(len(a.seq)):
        same[i] = np.array_equal(sa[i], sb[i])
    return same


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.set_threads(args.threads)
    C.print_header("generation: batched Generator vs one-sequence reference")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)

    # ---- data: D_0 and the held-out items of the leave-one-out split
    t0 = time.perf_counter()
    dm = SequenceDataModule(DataConfig(dataset=args.dataset))
    dm.setup()
    assert dm.split is not None
    store = dm.d0
    held = dm.split.held_out_items()
    print(
        f"data: {args.dataset}: {len(store):,} sequences in D_0, {dm.num_items:,} items "
        f"({time.perf_counter() - t0:.1f} s to load)"
    )

    # ---- model
    if args.checkpoint:
        ckpt = resolve_checkpoint(args.checkpoint)
        model = load_model(ckpt, num_items=dm.num_items)
        model_desc = f"checkpoint {ckpt}"
    else:
        torch.manual_seed(args.seed)
        model = build_model(ModelConfig(backbone="sasrec", hidden=64, layers=2), dm.num_items, 50)
        model_desc = "freshly initialised SASRec (hidden 64, 2 layers; random weights, NOT trained: no --checkpoint)"
    model = model.to(device).eval()
    print(f"model: {model_desc}")
    print(
        f"       {type(model).__name__}, hidden {model.config.hidden}, layers {model.config.layers}, "
        f"max_len {model.max_len}"
    )

    cfg = GenerationConfig(
        preset="paper",
        m=args.m,
        tau=args.tau,
        p=args.p,
        fidelity="exact",
        batch_size=args.batch_size,
        kv_cache=args.kv_cache,
        progress=False,
    )
    rng = np.random.default_rng(args.seed)
    all_seeds = seed_indices(store, cfg)
    if args.max_seeds is not None and args.max_seeds < len(all_seeds):
        chosen = np.sort(rng.choice(all_seeds, size=args.max_seeds, replace=False))
        gen_store = store.select(chosen)
        print(f"--max-seeds {args.max_seeds}: the batched run uses a random subset of D_0's seeds")
    else:
        gen_store = store
    n_seeds = len(seed_indices(gen_store, cfg))
    real_interactions = int(gen_store.lengths.sum())
    print(
        f"config: m={cfg.m} tau={cfg.tau} p={cfg.p} top_k={cfg.top_k} prefix={cfg.prefix} "
        f"batch_size={cfg.batch_size} kv_cache={cfg.kv_cache}; {n_seeds:,} seeds -> {n_seeds * cfg.m:,} attempts"
    )

    # ---- warm-up (first calls pay one-off kernel / allocator set-up)
    warm = gen_store.select(np.arange(min(16, len(gen_store))))
    Generator(cfg, seed=args.seed + 1).generate(model, warm, held)
    reference_generate(model, warm.select(np.arange(min(2, len(warm)))), held, cfg, seed=args.seed + 1)

    # ---- batched over all seeds
    gen = Generator(cfg, seed=args.seed, iteration=0)
    t0 = time.perf_counter()
    cands = gen.generate(model, gen_store, held)
    t_generate = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = gen.finalize(cands, gen_store, real_interactions)
    t_finalize = time.perf_counter() - t1
    batched_wall = t_generate + t_finalize
    st = result.stats
    ctr = cands.counters
    print(f"batched: {batched_wall:.2f} s ({t_generate:.2f} generate incl. index build + {t_finalize:.2f} finalize)")

    # ---- reference on a random subset, and the batched generator on the same sub-store
    seeds_now = seed_indices(gen_store, cfg)
    n_ref = min(args.reference_seeds, len(seeds_now))
    idx = np.sort(rng.choice(seeds_now, size=n_ref, replace=False))
    sub = gen_store.select(idx)
    t0 = time.perf_counter()
    ref = reference_generate(model, sub, held, cfg, seed=args.seed, iteration=0)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = Generator(cfg, seed=args.seed, iteration=0).generate(model, sub, held)
    t_sub = time.perf_counter() - t0
    same = rows_identical(got, ref)
    identical_share = float(same.mean()) if len(same) else 1.0
    acc_equal = bool(np.array_equal(got.accepted, ref.accepted))
    prop_equal = got.counters["proposed_steps"] == ref.counters["proposed_steps"]
    print(
        f"reference: {t_ref:.2f} s on {n_ref} seeds; batched on the same seeds {t_sub:.2f} s; "
        f"identical sequences {same.sum()}/{len(same)}"
    )

    # ---- derived numbers
    ref_per_seed = t_ref / max(n_ref, 1)
    ref_extrap = ref_per_seed * n_seeds
    speedup = ref_extrap / batched_wall if batched_wall > 0 else float("nan")
    b_steps = st["proposed_steps"]
    r_steps = int(ref.counters["proposed_steps"])
    wall_s = ctr.get("wall_s", t_generate)
    prof = {k: ctr.get(k, 0.0) for k in ("forward_s", "search_s", "sampling_s", "check_s")}
    other = max(wall_s - sum(prof.values()), 0.0)

    rows = [
        ["seed sequences", n_seeds, n_ref],
        ["attempts", st["attempts"], int(ref.counters["attempts"])],
        ["proposed steps (forward + check)", b_steps, r_steps],
        ["accepted steps", st["accepted_steps"], int(ref.counters["accepted_steps"])],
        ["acceptance rate", st["acceptance_rate"], ref.counters["accepted_steps"] / max(r_steps, 1)],
        ["kept sequences (after dedup)", st["kept_sequences"], None],
        ["wall time, s", batched_wall, t_ref],
        ["steps / s", b_steps / batched_wall, r_steps / t_ref if t_ref else None],
        ["attempts / s", st["attempts"] / batched_wall, ref.counters["attempts"] / t_ref if t_ref else None],
        ["reference time for all seeds, s (EXTRAPOLATED: s/seed x seeds)", None, ref_extrap],
        ["speed-up batched vs reference (all seeds, extrapolated)", speedup, None],
        ["subset: batched wall s / speed-up on the same seeds", t_sub, t_ref / t_sub if t_sub else None],
    ]
    table = C.markdown_table(["quantity", "batched Generator (all seeds)", f"reference ({n_ref} random seeds)"], rows)
    prof_rows = [[k.removesuffix("_s"), v, v / wall_s if wall_s else None] for k, v in prof.items()]
    prof_rows.append(["other (compaction, bookkeeping, transfers)", other, other / wall_s if wall_s else None])
    prof_rows.append(["generate() loop total (counter wall_s)", wall_s, 1.0])
    prof_rows.append(["index build + set-up outside the loop", t_generate - wall_s, None])
    prof_rows.append(["finalize (filter, dedup)", t_finalize, None])
    prof_table = C.markdown_table(["batched profile", "seconds", "share of the loop"], prof_rows)
    eq_text = (
        f"Equality on the {n_ref} reference seeds ({len(same)} attempts): identical sequences "
        f"{same.sum()}/{len(same)} ({identical_share:.2%}); accepted counts equal: {C.fmt(acc_equal)}; "
        f"proposed steps equal: {C.fmt(bool(prop_equal))}."
        + (
            ""
            if identical_share == 1.0
            else " Differences can come from float32 ties between batched and single-row "
            "matmuls (different summation order)."
        )
    )
    setup = (
        f"Dataset `{args.dataset}` (D_0: {len(store):,} sequences, {dm.num_items:,} items); model: {model_desc}; "
        f"device {args.device}; GenerationConfig(preset=paper, m={cfg.m}, tau={cfg.tau}, p={cfg.p}, "
        f"top_k={cfg.top_k}, fidelity=exact, batch_size={cfg.batch_size}, kv_cache={cfg.kv_cache})."
        + (f" Batched run limited to {n_seeds:,} random seeds (--max-seeds)." if gen_store is not store else "")
    )
    print()
    print(table)
    print()
    print(prof_table)
    print()
    print(eq_text)
    fwd_share = prof["forward_s"] / wall_s if wall_s else 0.0
    search_share = prof["search_s"] / wall_s if wall_s else 0.0
    reading = (
        f"batched generation over {n_seeds:,} seeds took {batched_wall:.1f} s, about {speedup:.0f}x faster than the "
        f"one-sequence reference extrapolated from {n_ref} seeds ({ref_extrap:.0f} s); the loop is "
        f"{fwd_share:.0%} forward and {search_share:.0%} catalogue search; "
        f"{identical_share:.1%} of the subset's sequences are identical to the reference"
        + ("" if args.checkpoint else "; random (untrained) weights, so acceptance says nothing about a trained model")
        + "."
    )
    print(f"\nReading: {reading}")
    text = C.section(
        f"Generation: batched vs reference ({args.dataset}, {args.device})",
        [setup, table, prof_table, eq_text],
        reading,
    )
    C.append_results(args.results, text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
