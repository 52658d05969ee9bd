"""Finalising D'_{k+1} at a million seeds: the hash-first dedup against a byte-key set over every row.

Stand-in data shaped like the scale benchmark's largest size: D_k of --seeds sequences (3-8 items),
--m raw rows per seed (3-11 items) of which --accepted-share have an accepted step, items drawn
from seeds/9 ids. Two ways of finalising, each in a fresh process, timed, with its peak traced
memory (tracemalloc: Python and numpy allocations made during the call):

* ``set``: the previous implementation: per-row lengths and a byte key for every raw row, one
  Python set seeded with D_k's keys (kept here as the plain reference);
* ``hash``: ``rsir_pl.generation.result.finalize`` (keys only for rows with an accepted step,
  compared by a vectorised 64-bit hash first; exact byte comparison only where hashes meet).

Both must keep exactly the same rows (checked: the script fails otherwise).

    python benchmarks/finalize_memory.py
    python benchmarks/finalize_memory.py --seeds 100000 --results /tmp/x.md   # quick check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

import _common as C

RESULT_TAG = "FINALIZE-RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=1_000_000, help="sequences of D_k (%(default)s)")
    p.add_argument("--m", type=int, default=10, help="raw rows per seed (%(default)s)")
    p.add_argument("--accepted-share", type=float, default=0.133, help="rows with an accepted step (%(default)s)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    C.add_common_args(p, threads_default=1)
    return p.parse_args(argv)


def stand_in(seeds: int, m: int, share: float):  # noqa: ANN201
    from rsir_pl.data.store import SequenceStore
    from rsir_pl.generation.result import Candidates

    rng = np.random.default_rng(0)
    n = seeds * m
    n_items = max(seeds // 9, 10)
    lengths = rng.integers(3, 12, size=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rows = SequenceStore(rng.integers(1, n_items, size=int(offsets[-1])).astype(np.int32), offsets)
    dk_len = rng.integers(3, 9, size=seeds)
    dk_off = np.concatenate([[0], np.cumsum(dk_len)]).astype(np.int64)
    dk = SequenceStore(rng.integers(1, n_items, size=int(dk_off[-1])).astype(np.int32), dk_off)
    # a few exact repeats of D_k and of each other, so that the duplicate paths run
    repeat = rng.choice(n, size=min(n, 2000), replace=False)
    for j, r in enumerate(repeat.tolist()):
        src = dk if j % 2 == 0 else rows
        s = int(rng.integers(0, len(src)))
        seq = src.items[src.offsets[s] : src.offsets[s + 1]]
        width = int(offsets[r + 1] - offsets[r])
        if len(seq) == width:
            rows.items[offsets[r] : offsets[r + 1]] = seq
    accepted = np.where(rng.random(n) < share, rng.integers(1, 4, size=n), 0)
    cands = Candidates(np.repeat(np.arange(seeds), m), np.tile(np.arange(m), seeds), np.full(n, 3), accepted, rows, {})
    return dk, cands


def _old_keys(store) -> list[bytes]:  # noqa: ANN001
    """SequenceStore.sequence_keys as it was: slices of one copy of the whole item buffer."""
    raw = store.items.tobytes()
    off = store.offsets * 4
    return [raw[off[i] : off[i + 1]] for i in range(len(store))]


def finalize_with_a_set(c, store, min_len: int):  # noqa: ANN001, ANN201
    """The previous finalising (no cap): a byte key for every raw row, one set seeded with D_k."""
    lengths = c.sequences.lengths
    long_enough = (c.accepted >= 1) & (lengths >= min_len)
    existing = set(_old_keys(store))
    keys = _old_keys(c.sequences)
    keep = np.zeros(len(c.seq), dtype=bool)
    duplicates = 0
    for i in np.flatnonzero(long_enough):
        if keys[i] in existing:
            duplicates += 1
            continue
        existing.add(keys[i])
        keep[i] = True
    return np.flatnonzero(keep), duplicates


def child(spec: dict[str, Any]) -> dict[str, Any]:
    from rsir_pl.config import GenerationConfig
    from rsir_pl.generation.result import finalize

    dk, cands = stand_in(spec["seeds"], spec["m"], spec["share"])
    cfg = GenerationConfig(max_synthetic_ratio=None)
    tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    if spec["how"] == "set":
        kept, dups = finalize_with_a_set(cands, dk, cfg.min_len)
        out = cands.sequences.select(kept)
    else:
        res = finalize(cands, dk, cfg, 0, 1, int(dk.num_interactions))
        out, dups = res.sequences, res.stats["duplicates_dropped"]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    d1_bytes = sum(a.nbytes for a in (dk.items, dk.offsets, out.items, out.offsets))
    digest = hashlib.sha256(out.items.tobytes() + out.offsets.tobytes()).hexdigest()[:16]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_bytes": peak,
        "d1_bytes": d1_bytes,
        "kept": int(len(out)),
        "duplicates": int(dups),
        "raw_rows": int(len(cands.seq)),
        "accepted_rows": int((cands.accepted >= 1).sum()),
        "digest": digest,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(RESULT_TAG + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    C.print_header("finalising D'_1: hash-first dedup against a byte-key set")
    res: dict[str, dict[str, Any]] = {}
    for how in ("set", "hash"):
        spec = {"how": how, "seeds": args.seeds, "m": args.m, "share": args.accepted_share}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, cwd=C.BENCH_DIR
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT_TAG)), None)
        if line is None:
            raise SystemExit(f"{how}: child failed (rc {proc.returncode}): {proc.stderr.strip()[-800:]}")
        res[how] = json.loads(line[len(RESULT_TAG) :])
        r = res[how]
        print(f"   {how}: {r['wall_s']:.1f} s, peak {r['peak_bytes'] / 2**20:.0f} MiB, kept {r['kept']:,}", flush=True)
    same = res["set"]["digest"] == res["hash"]["digest"] and res["set"]["duplicates"] == res["hash"]["duplicates"]
    if not same:
        raise SystemExit(f"the two ways kept different rows: {res}")
    rows = []
    labels = (
        ("set", "byte-key set over every raw row (the previous algorithm)"),
        ("hash", "hash-first, accepted rows only"),
    )
    for how, label in labels:
        r = res[how]
        rows.append(
            [
                label,
                r["wall_s"],
                r["cpu_s"],
                r["peak_bytes"] / 2**20,
                r["peak_bytes"] / r["d1_bytes"],
                r["kept"],
                r["duplicates"],
            ]
        )
    table = C.markdown_table(
        ["finalising", "wall s", "CPU s", "peak traced MiB", "peak / D_1 bytes", "kept seqs", "duplicates dropped"],
        rows,
    )
    s, h = res["set"], res["hash"]
    setup = (
        f"Stand-in data: D_k of {args.seeds:,} sequences (3-8 items), {args.m} raw rows per seed "
        f"({s['raw_rows']:,} rows of 3-11 items, {s['accepted_rows']:,} with an accepted step), items from "
        f"{max(args.seeds // 9, 10):,} ids, some rows overwritten with exact copies of D_k or of other rows; no cap. "
        f"D_1's arrays (D_k plus the kept rows, items and offsets) take {s['d1_bytes'] / 2**20:.0f} MiB. Each way "
        "runs in a fresh process; peak = tracemalloc's peak during the call. Both keep the same rows (same "
        "digest of the kept items, same duplicate count)."
    )
    reading = (
        f"finalising keeps the same {h['kept']:,} sequences in {h['wall_s']:.2f} s instead of "
        f"{s['wall_s']:.2f} s, "
        f"with a peak of {h['peak_bytes'] / 2**20:.0f} MiB instead of {s['peak_bytes'] / 2**20:.0f} MiB "
        f"({h['peak_bytes'] / h['d1_bytes']:.2f}x D_1's bytes instead of {s['peak_bytes'] / s['d1_bytes']:.2f}x)."
    )
    print(table)
    print(f"\nReading: {reading}")
    C.append_results(
        args.results,
        C.section(
            f"Finalising D'_1 at {args.seeds:,} seeds: hash-first dedup against a byte-key set",
            [setup, table],
            reading,
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
