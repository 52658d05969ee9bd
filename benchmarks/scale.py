"""The whole loop at 10^4, 10^5 and 10^6 users: time and peak memory of every phase, growth exponents.

    python benchmarks/scale.py                                   # 1e4 1e5 1e6 users (CPU, 1 thread)
    python benchmarks/scale.py --users 2000 8000 --results /tmp/x.md   # quick check

For each size the embedded synthetic world (``SyntheticSpec``: ``--users`` users, users/``--users-per-item``
items, the default length distribution: 5 + floor(4.5 x Lomax(2)) items, so |D_0| grows with the users) is drawn
once and written as a CSV log (benchmarks/out/scale/, reused), then a fresh process runs one
iteration of the loop, phase by phase, each timed and with its own peak RSS (VmHWM reset before the
phase; the increment over the RSS at its start is the phase's working memory):

1. read + split: the Arrow CSV reader (5-core), the leave-one-out split, D_0;
2. one training epoch of SASRec (hidden 64, 2 layers, sampled softmax with 256 negatives, so the
   loss does not score the catalogue) on D_0, no validation;
3. generation of D'_1, as two phases: decoding (paper preset: m=10, tau=20, p=0.5, the exact
   fidelity check scoring the catalogue in chunks) and finalising (min length, duplicates);
4. the leakage guard on D_1 = D_0 + D'_1;
5. expanding the DataModule to D_1;
6. evaluation: full-ranking test over the catalogue (chunked by evaluation batch).

Where a phase would take too long on a small CPU it runs on a documented subsample and is
extrapolated linearly in what it iterates over: decoding runs on at most --max-gen-seeds seed
sequences (a fixed random subset; time x seeds/subset), evaluation ranks at most --max-eval-users
users (time x users/subset), training runs at most --max-train-batches batches (time x
batches/subset); the memory of a subsampled phase is that of the subsample. Finalising, the guard and
the expansion always run at full size: after a subsampled decoding they get full-size stand-in rows,
one per (seed, attempt) of every seed as an undivided run has, each copying a random decoded row's
prefix length, generated length and accepted count, and holding its seed's own prefix followed by
random items (so D'_1 has the expected size and every check of the guard applies).

Growth exponents are least-squares slopes of log(seconds) on log(|D|) over the sizes: |D_0|
interactions for the phases before the expansion, |D_1| for the guard and the expansion. The
scoring phases (decoding, evaluation) also get the slope on log(|D| x N), their scoring work.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

RESULT_TAG = "SCALE-RESULT "
PHASES = ("read_split", "train_epoch", "decode", "finalize", "guard", "expand", "evaluate")
LABELS = {
    "read_split": "read + split",
    "train_epoch": "training epoch",
    "decode": "generation of D'_1: decoding",
    "finalize": "generation of D'_1: finalising",
    "guard": "leakage guard",
    "expand": "expand to D_1",
    "evaluate": "evaluation",
}
SCORING = ("decode", "evaluate")


def world_defaults() -> str:
    """The synthetic world's shape as the code defines it (so the results text cannot go stale)."""
    from rsir_pl.data.synthetic import SyntheticSpec

    d = SyntheticSpec()
    return (
        f"{d.num_groups} groups, {d.successors} successors followed {d.follow:g} of the time, lengths "
        f"{d.min_length} + floor({d.length_scale:g} x Lomax({d.length_tail:g})) capped at {d.max_length}, "
        f"popularity exponent {d.popularity_exponent:g}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--users-per-item", type=float, default=8.0, help="catalogue = users / this (%(default)s)")
    p.add_argument("--max-gen-seeds", type=int, default=10_000, help="seeds decoded at most (%(default)s)")
    p.add_argument("--max-eval-users", type=int, default=50_000, help="users ranked at most (%(default)s)")
    p.add_argument("--max-train-batches", type=int, default=1_000, help="training batches at most (%(default)s)")
    p.add_argument("--m", type=int, default=10, help="generation attempts per seed (%(default)s)")
    p.add_argument("--k-core", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=str(C.BENCH_DIR / "figures" / "scale.png"), help="log-log plot (%(default)s)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    C.add_common_args(p, threads_default=1)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- the world as a log
def world_log(users: int, items: int, seed: int) -> tuple[Path, float]:
    """The synthetic world's sequences as ``user,item,timestamp`` (timestamp = position); cached."""
    path = C.OUT_DIR / "scale" / f"world-{users}-{items}-s{seed}.csv"
    if path.exists():
        return path, 0.0
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from rsir_pl.data.synthetic import SyntheticSpec, SyntheticWorld

    t0 = time.perf_counter()
    store = SyntheticWorld(SyntheticSpec(num_users=users, num_items=items, seed=seed)).sample_sequences()
    lengths = store.lengths
    user = np.repeat(np.arange(len(store)), lengths)
    pos = np.arange(store.num_interactions) - np.repeat(store.offsets[:-1], lengths)
    table = pa.table(
        {
            "user": pc.binary_join_element_wise("u", pa.array(user).cast(pa.string()), ""),
            "item": pa.array(store.items).cast(pa.string()),
            "timestamp": pa.array(pos),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    pcsv.write_csv(table, tmp, write_options=pcsv.WriteOptions(quoting_style="none"))
    tmp.rename(path)
    return path, time.perf_counter() - t0


def store_bytes(store: Any) -> int:
    """Bytes of a SequenceStore's arrays (items, offsets, root, generation)."""
    return int(sum(a.nbytes for a in (store.items, store.offsets, store.root, store.generation)))


def _trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc ``malloc_trim``; no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


class Phase:
    """``with Phase(out, name):`` records seconds, RSS at the start, peak RSS and the increment."""

    def __init__(self, out: dict[str, dict[str, float]], name: str) -> None:
        self.out, self.name = out, name

    def __enter__(self) -> Phase:
        gc.collect()
        _trim_heap()  # freed memory the allocator kept would hide the phase's own growth
        C.reset_peak_rss()
        self.rss0 = C.current_rss_gib()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        peak = C.hwm_rss_gib()
        self.out[self.name] = {
            "measured_s": seconds,
            "measured_cpu_s": cpu,
            "rss_start_gib": self.rss0,
            "peak_gib": peak,
            "increment_gib": max(peak - self.rss0, 0.0),
            "fraction": self.out.get(self.name, {}).get("fraction", 1.0),
        }
        print(
            f"   {self.name}: {seconds:.1f}s (CPU {cpu:.1f}s), peak {peak:.2f} GiB (+{peak - self.rss0:.2f})",
            flush=True,
        )


# ---------------------------------------------------------------------------- one size, one process
def child(args: argparse.Namespace) -> None:
    users = args.child
    items = max(int(users / args.users_per_item), 30)
    path, world_s = world_log(users, items, args.seed)
    import lightning as L
    from torch.utils.data import DataLoader

    from rsir_pl.config import DataConfig, GenerationConfig, ModelConfig
    from rsir_pl.data.datamodule import SequenceDataModule
    from rsir_pl.data.readers import read_interaction_log
    from rsir_pl.data.store import SequenceStore
    from rsir_pl.generation.generator import Generator, seed_indices
    from rsir_pl.generation.leakage import check_generated
    from rsir_pl.models import build_model

    C.set_threads(args.threads)
    L.seed_everything(args.seed, verbose=False)
    phases: dict[str, dict[str, float]] = {}
    info: dict[str, Any] = {"users_requested": users, "items_requested": items, "world_s": world_s}

    # ---- 1. read + split
    with Phase(phases, "read_split"):
        ds = read_interaction_log(path, k_core=args.k_core)
        ds.times = None  # positions, not a clock: keep the batches those of a time-less dataset
        dm = SequenceDataModule(DataConfig(max_len=50, batch_size=256, eval_batch_size=512), dataset=ds)
        dm.setup()
    assert dm.split is not None and dm.train_store is not None
    d0 = dm.train_store
    info.update(users=dm.split.num_users, items=dm.num_items, d0_interactions=d0.num_interactions)
    info["d0_bytes"] = store_bytes(d0)

    # ---- 2. one training epoch
    model = build_model(
        ModelConfig(hidden=64, layers=2, heads=2, loss="sampled_softmax", num_negatives=256), dm.num_items, 50
    )
    total_batches = -(-int((d0.lengths >= 2).sum()) // 256)
    run_batches = min(total_batches, args.max_train_batches)
    phases["train_epoch"] = {"fraction": run_batches / total_batches}
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=run_batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    with Phase(phases, "train_epoch"):
        trainer.fit(model, datamodule=dm)
    info["train_batches"] = [run_batches, total_batches]

    # ---- 3. generation of D'_1 (decode a subset of the seeds when there are many)
    gen_cfg = GenerationConfig(preset="paper", m=args.m, tau=20, p=0.5, max_len=50, progress=False)
    generator = Generator(gen_cfg, seed=args.seed, iteration=0)
    seeds = seed_indices(d0, gen_cfg)
    rng = np.random.default_rng(args.seed)
    sub = np.sort(rng.choice(seeds, args.max_gen_seeds, replace=False)) if len(seeds) > args.max_gen_seeds else seeds
    fraction = len(sub) / len(seeds)
    phases["decode"] = {"fraction": fraction}
    held = dm.split.held_out_items()
    real = int(d0.num_interactions)
    model.eval()
    with Phase(phases, "decode"):
        cand = generator.generate(model, d0.select(sub) if fraction < 1 else d0, held)
    cand.seq = sub[cand.seq]  # rows name seeds of D_0, as an undivided run would
    decoded = {
        "seeds": int(len(seeds)),
        "decoded_seeds": int(len(sub)),
        "rows": int(len(cand.seq)),
        "proposed_steps": int(cand.counters.get("proposed_steps", 0)),
        "accepted_steps": int(cand.counters.get("accepted_steps", 0)),
        "rows_with_accepted_step": int((cand.accepted >= 1).sum()),
    }
    if fraction < 1:
        # what finalising keeps of the decoded rows themselves, to compare with the stand-in's share
        sub_result = generator.finalize(cand, d0, real)
        decoded["kept_share_decoded"] = sub_result.stats["kept_share"]
        kept = np.isin(cand.seq * args.m + cand.attempt, sub_result.source * args.m + sub_result.attempt)
        cand = stand_in_candidates(d0, seeds, cand, kept, args.m, dm.num_items, rng)
    with Phase(phases, "finalize"):
        result = generator.finalize(cand, d0, real)
    del cand
    decoded["kept_sequences"] = int(result.stats["kept_sequences"])
    decoded["kept_share"] = float(result.stats["kept_share"])
    decoded.setdefault("kept_share_decoded", decoded["kept_share"])
    decoded["duplicates_dropped"] = int(result.stats["duplicates_dropped"])
    info["generation"] = decoded
    generated, source, prefix_len = result.sequences, result.source, result.prefix_len
    info["d_prime_interactions"] = generated.num_interactions

    # ---- 4. the leakage guard, 5. the expansion
    with Phase(phases, "guard"):
        d_next = SequenceStore.concat([d0, generated])
        check_generated(d0, d_next, dm.split, source, prefix_len)
    del d_next
    with Phase(phases, "expand"):
        d1 = dm.expand(generated)
    info["d1_interactions"] = d1.num_interactions
    info["d1_bytes"] = store_bytes(d1)

    # ---- 6. evaluation (full ranking) of a subset of the users when there are many
    n_users = dm.split.num_users
    eval_users = np.arange(n_users)
    if n_users > args.max_eval_users:
        eval_users = np.sort(rng.choice(n_users, args.max_eval_users, replace=False))
    phases["evaluate"] = {"fraction": len(eval_users) / n_users}
    loader = DataLoader(
        eval_users.tolist(), batch_size=512, collate_fn=lambda b: dm.eval_batch(np.asarray(b), "test"), num_workers=0
    )
    tester = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with Phase(phases, "evaluate"):
        out = tester.test(model, dataloaders=loader, verbose=False)
    info["test_ndcg10"] = float(out[0].get("test/ndcg@10", float("nan")))
    for p in phases.values():
        p.setdefault("seconds", p["measured_s"] / p["fraction"])
        p.setdefault("cpu_s", p["measured_cpu_s"] / p["fraction"])
    print(RESULT_TAG + json.dumps({"info": info, "phases": phases}), flush=True)


def stand_in_candidates(d0, seeds, cand, kept, m, num_items, rng):  # noqa: ANN001, ANN201
    """Full-size raw rows for finalising (and so a full-size D'_1) from a decoded subset's rows.

    One row per (seed, attempt) of every seed, as an undivided run decodes; each copies a random
    decoded row's prefix length (capped to its seed), generated length and accepted count, and
    holds its seed's own prefix followed by random items, so the guard's checks all apply. Random
    items almost never repeat a sequence, so a row copying a decoded row that finalising dropped
    (``kept`` False: too short or a duplicate) gets no accepted step and is dropped too: the
    stand-in keeps the decoded share.
    """
    from rsir_pl.data.store import SequenceStore, _ranges
    from rsir_pl.generation.generator import Candidates

    seq = np.repeat(seeds, m)
    att = np.tile(np.arange(m), len(seeds))
    n = len(seq)
    pick = rng.integers(0, len(cand.seq), n)
    prefix = np.minimum(cand.prefix_len[pick], d0.lengths[seq] - 1)
    grown = cand.sequences.lengths[pick] - cand.prefix_len[pick]
    total = np.minimum(prefix + grown, 50)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(total, out=offsets[1:])
    items = rng.integers(1, num_items + 1, int(offsets[-1])).astype(np.int32)
    items[_ranges(offsets[:-1], prefix)] = d0.items[_ranges(d0.offsets[seq], prefix)]
    store = SequenceStore(items, offsets, d0.root[seq], np.ones(n, dtype=np.int64))
    scale = n / len(cand.seq)
    counters = {k: v * scale for k, v in cand.counters.items()}
    accepted = np.where(kept[pick], cand.accepted[pick], 0)
    return Candidates(seq, att, prefix, accepted, store, counters)


# ---------------------------------------------------------------------------- all sizes
def run_size(args: argparse.Namespace, users: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(users), "--users-per-item", str(args.users_per_item)]
    cmd += ["--max-gen-seeds", str(args.max_gen_seeds), "--max-eval-users", str(args.max_eval_users)]
    cmd += ["--max-train-batches", str(args.max_train_batches), "--m", str(args.m), "--k-core", str(args.k_core)]
    cmd += ["--seed", str(args.seed), "--threads", str(args.threads or 1)]
    print(f"-- {users:,} users", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
        elif line.startswith("   ") or "Error" in line or "Traceback" in line:
            print(line, end="", flush=True)
    proc.wait()
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"size {users} failed (exit {proc.returncode})")
    result["info"]["wall_s"] = time.perf_counter() - t0
    return result


def slope(x: list[float], y: list[float]) -> float | None:
    """Least-squares slope of log y on log x (None with fewer than two points)."""
    if len(x) < 2:
        return None
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(lx, ly, 1)[0])


def size_of(res: dict[str, Any], phase: str) -> float:
    info = res["info"]
    return info["d1_interactions"] if phase in ("guard", "expand") else info["d0_interactions"]


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for phase in PHASES:
        xs = [size_of(r, phase) for r in results]
        ys = [r["phases"][phase]["cpu_s"] for r in results]
        (line,) = ax.plot(xs, ys, marker="o", label=LABELS[phase])
        for x, y, r in zip(xs, ys, results, strict=True):
            if r["phases"][phase]["fraction"] < 1:
                ax.plot([x], [y], marker="o", markerfacecolor="white", color=line.get_color())
    x0 = size_of(results[0], "read_split")
    ref = [x0, size_of(results[-1], "read_split")]
    ax.plot(ref, [1.0, ref[1] / ref[0]], "k:", label="slope 1 (from 1 s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("|D| interactions (|D_0|; |D_1| for guard and expand)")
    ax.set_ylabel("CPU seconds (open marker: extrapolated from a subsample)")
    ax.set_title("rsir_pl phases against data size (1 CPU thread)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        child(args)
        return
    C.print_header("the loop at scale")
    results = [run_size(args, u) for u in args.users]
    rows = []
    for r in results:
        i = r["info"]
        for phase in PHASES:
            p = r["phases"][phase]
            rows.append(
                [
                    f"{i['users']:,}",
                    f"{i['items']:,}",
                    LABELS[phase],
                    f"{size_of(r, phase):,.0f}",
                    p["seconds"],
                    p["cpu_s"],
                    "measured" if p["fraction"] >= 1 else f"x{1 / p['fraction']:.3g} from {p['fraction']:.3%}",
                    p["peak_gib"],
                    p["increment_gib"],
                    p["increment_gib"] * 2**30 / i["d1_bytes"],
                ]
            )
    table = C.markdown_table(
        [
            "users",
            "items",
            "phase",
            "\\|D\\|",
            "wall s",
            "CPU s",
            "measured or extrapolated",
            "peak RSS GiB",
            "increment GiB",
            "increment / D_1 bytes",
        ],
        rows,
    )
    exps = []
    for phase in PHASES:
        xs = [size_of(r, phase) for r in results]
        ys = [r["phases"][phase]["seconds"] for r in results]
        work = [x * r["info"]["items"] for x, r in zip(xs, results, strict=True)]
        cpu = [r["phases"][phase]["cpu_s"] for r in results]
        s, c = slope(xs, ys), slope(xs, cpu)
        w = slope(work, cpu) if phase in SCORING else None
        mem = slope(xs, [max(r["phases"][phase]["increment_gib"], 1e-3) for r in results])
        exps.append([LABELS[phase], s, c, w, mem, "yes" if c is not None and c <= 1.1 else "no"])
    exp_table = C.markdown_table(
        [
            "phase",
            "exponent vs \\|D\\| (wall)",
            "exponent vs \\|D\\| (CPU)",
            "CPU exponent vs \\|D\\| x N (scoring work)",
            "memory increment exponent",
            "CPU exponent <= 1.1",
        ],
        exps,
    )
    sizes = C.markdown_table(
        [
            "users",
            "items",
            "\\|D_0\\|",
            "D_0 MiB",
            "\\|D'_1\\|",
            "\\|D_1\\|",
            "D_1 MiB",
            "train batches run / epoch",
            "seeds decoded / all",
            "rows decoded",
            "steps proposed (decoded)",
            "acceptance (decoded)",
            "rows with an accepted step (decoded)",
            "kept sequences (finalised)",
            "kept share: decoded rows / finalised rows",
            "duplicates dropped",
            "world drawn s",
            "process wall s",
        ],
        [
            [
                r["info"]["users"],
                r["info"]["items"],
                r["info"]["d0_interactions"],
                r["info"]["d0_bytes"] / 2**20,
                r["info"]["d_prime_interactions"],
                r["info"]["d1_interactions"],
                r["info"]["d1_bytes"] / 2**20,
                "{} / {}".format(*r["info"]["train_batches"]),
                f"{g['decoded_seeds']:,} / {g['seeds']:,}",
                g["rows"],
                g["proposed_steps"],
                g["accepted_steps"] / max(g["proposed_steps"], 1),
                g["rows_with_accepted_step"],
                g["kept_sequences"],
                f"{g['kept_share_decoded']:.3f} / {g['kept_share']:.3f}",
                g["duplicates_dropped"],
                r["info"]["world_s"],
                r["info"]["wall_s"],
            ]
            for r in results
            for g in [r["info"]["generation"]]
        ],
    )
    plot_path = Path(args.plot)
    plot(results, plot_path)
    try:
        rel = plot_path.resolve().relative_to(C.BENCH_DIR)
        link = f"![phases against data size]({rel.as_posix()})"
    except ValueError:
        link = f"plot: {plot_path}"
    setup = (
        f"The embedded synthetic world at {', '.join(f'{u:,}' for u in args.users)} users with users/"
        f"{args.users_per_item:g} items (SyntheticSpec defaults otherwise: {world_defaults()}), "
        f"written as a CSV log and read back ({args.k_core}-core). One process per size, {args.threads or 1} torch "
        f"thread(s). SASRec hidden 64, 2 layers, sampled softmax (256 negatives), batch 256, max_len 50; "
        f"generation paper preset (m={args.m}, tau=20, p=0.5, exact check in chunks of 65,536 items); evaluation "
        f"batches of 512 users against the whole catalogue. Subsamples: at most {args.max_train_batches:,} "
        f"training batches, {args.max_gen_seeds:,} decoded seeds, {args.max_eval_users:,} ranked users; a "
        "subsampled phase's seconds are extrapolated linearly (column 'measured or extrapolated'), its memory is "
        "that of the subsample; after a subsampled decoding, finalising, the guard and the expansion run at full "
        "size on stand-in rows (one per seed and attempt, each with its seed's own prefix plus random items and a "
        "decoded row's prefix length, generated length and accepted count). "
        "Increment = peak RSS during the phase minus RSS at its start (VmHWM reset per phase, after garbage "
        "collection and malloc_trim, so that memory freed by earlier phases does not hide a phase's growth)."
    )
    reading = scale_reading(results, exps)
    C.append_results(
        args.results,
        C.section(
            f"The loop at scale: {args.users[0]:,} to {args.users[-1]:,} users, every phase timed",
            [setup, sizes, table, exp_table, link],
            reading,
        ),
    )


def scale_reading(results: list[dict[str, Any]], exps: list[list[Any]]) -> str:
    over = [e[0] for e in exps if e[2] is not None and e[2] > 1.1]
    big = results[-1]
    worst = max(PHASES, key=lambda p: big["phases"][p]["increment_gib"] * 2**30 / big["info"]["d1_bytes"])
    ratio = big["phases"][worst]["increment_gib"] * 2**30 / big["info"]["d1_bytes"]
    slopes = ", ".join(f"{e[0]} {e[2]:.2f}" for e in exps if e[2] is not None)
    text = f"CPU-time exponents vs |D|: {slopes}. "
    text += ("Above 1.1: " + ", ".join(over) + ". ") if over else "Every phase is within 1.1. "
    text += (
        f"At {big['info']['users']:,} users the largest working memory is {LABELS[worst]}'s, "
        f"{ratio:.2f}x the bytes of D_1's arrays"
    )
    return text + (" (goal <= 3x)." if not math.isnan(ratio) else ".")


if __name__ == "__main__":
    main()
