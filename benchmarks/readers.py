"""Log readers at scale: a 10^7-row CSV (and Parquet) log read by the row-by-row reader of an earlier
revision and by the current Arrow reader, in the same run, each in its own process.

    python benchmarks/readers.py                                # 10^7 rows, CSV and Parquet
    python benchmarks/readers.py --rows 1000000 --formats csv   # quick check

The log is synthetic but shaped like a public one: --users users with Poisson(--rows/--users)
interactions each (so a few fall to the 5-core filter), items drawn with Zipf-like popularity
(rank^-0.8) from --items items, Amazon-style ids (14- and 10-character strings) and integer Unix
timestamps. It is written once to benchmarks/out/readers/ and reused.

The baseline is ``src/rsir_pl/data/readers.py`` as it was at --baseline-rev (the last revision
with the row-by-row reader), extracted with ``git show`` and imported from a scratch folder; both
readers build the same InteractionDataset, and the script checks that their results are identical
(sequences, item and user ids, timestamps). Each reader runs in a fresh process (the script re-runs
itself with --child), so its peak resident memory (VmHWM, which starts afresh at exec, unlike
ru_maxrss) is its own; the RSS after imports is reported beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

RESULT_TAG = "READERS-RESULT "
#: the last revision whose readers parsed logs row by row in Python
BASELINE_REV = "4dd5757"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="interactions in the log (%(default)s)")
    p.add_argument("--users", type=int, default=None, help="users (default rows / 10)")
    p.add_argument("--items", type=int, default=None, help="items (default rows / 100)")
    p.add_argument("--k-core", type=int, default=5, help="k-core filter of both readers (%(default)s)")
    p.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    p.add_argument("--readers", nargs="+", default=["baseline", "arrow"], choices=["baseline", "arrow"])
    p.add_argument("--baseline-rev", default=BASELINE_REV, help="revision of the row-by-row reader (%(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    C.add_common_args(p, threads_default=1)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- the log
def make_log(args: argparse.Namespace, out: Path) -> dict[str, Path]:
    """Write the synthetic log as CSV and Parquet (once; reused when the files exist)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    users = args.users or args.rows // 10
    items = args.items or max(args.rows // 100, 10)
    stem = f"log-{args.rows}-{users}-{items}-s{args.seed}"
    paths = {"csv": out / f"{stem}.csv", "parquet": out / f"{stem}.parquet"}
    if all(paths[f].exists() for f in args.formats):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    counts = rng.poisson(args.rows / users, users)
    user = np.repeat(np.arange(users), counts)[: args.rows]
    if len(user) < args.rows:
        user = np.concatenate([user, rng.integers(0, users, args.rows - len(user))])
    rng.shuffle(user)
    pop = np.arange(1, items + 1, dtype=np.float64) ** -0.8
    item = np.searchsorted(np.cumsum(pop / pop.sum()), rng.random(args.rows)).clip(max=items - 1)
    ts = rng.integers(1_300_000_000, 1_700_000_000, args.rows)
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

    def ids(n: int, first: str, width: int) -> pa.Array:
        chars = alphabet[rng.integers(0, 36, (n, width - 1))]
        return pa.array([first + "".join(r) for r in chars])

    table = pa.table(
        {
            "user": pa.DictionaryArray.from_arrays(pa.array(user.astype(np.int32)), ids(users, "A", 14)).cast(
                pa.string()
            ),
            "item": pa.DictionaryArray.from_arrays(pa.array(item.astype(np.int32)), ids(items, "B", 10)).cast(
                pa.string()
            ),
            "timestamp": pa.array(ts),
        }
    )
    if "csv" in args.formats:
        pcsv.write_csv(table, paths["csv"], write_options=pcsv.WriteOptions(quoting_style="none"))
    if "parquet" in args.formats:
        pq.write_table(table, paths["parquet"])
    return paths


def baseline_module(rev: str, out: Path) -> Path:
    """Folder holding ``baseline_readers.py``: readers.py at ``rev``."""
    src = subprocess.run(
        ["git", "show", f"{rev}:src/rsir_pl/data/readers.py"],
        cwd=C.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = out / f"baseline-{rev}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baseline_readers.py").write_text(src, encoding="utf-8")
    return folder


def digest(ds: Any) -> str:
    """SHA-256 over sequences, item ids, user ids and timestamps: equal datasets, equal digests."""
    h = hashlib.sha256(ds.sequences.digest().encode())
    for ids in (ds.item_ids, ds.user_ids):
        h.update("\x00".join(map(str, ids)).encode())
    if ds.times is not None:
        h.update(np.ascontiguousarray(ds.times).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- one reader, one process
def child(args: argparse.Namespace) -> None:
    reader, path = args.child
    import pyarrow as pa

    pa.set_cpu_count(args.threads or 1)
    pa.set_io_thread_count(args.threads or 1)
    if reader == "baseline":
        sys.path.insert(0, str(Path(path).parent / f"baseline-{args.baseline_rev}"))
        from baseline_readers import read_interaction_log  # type: ignore[import-not-found]
    else:
        from rsir_pl.data.readers import read_interaction_log
    rss_imports = C.current_rss_gib()
    t0, c0 = time.perf_counter(), time.process_time()
    ds = read_interaction_log(path, k_core=args.k_core)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = C.hwm_rss_gib()
    stats = ds.stats()
    print(
        RESULT_TAG
        + json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_gib": peak,
                "rss_imports_gib": rss_imports,
                "users": stats["users"],
                "items": stats["items"],
                "interactions": stats["interactions"],
                "digest": digest(ds),
            }
        ),
        flush=True,
    )


def run_child(args: argparse.Namespace, reader: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", reader, str(path), "--baseline-rev", args.baseline_rev]
    cmd += ["--k-core", str(args.k_core), "--threads", str(args.threads or 1)]
    print(f"-- {reader} on {path.name}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG) :])
            print(f"   {res}", flush=True)
            return res
    raise RuntimeError(f"{reader} on {path} failed:\n{done.stderr[-3000:]}")


def span(values: list[float]) -> str:
    """``"12"`` or ``"12-14"``: the range of speed-ups, rounded."""
    lo, hi = f"{min(values):.0f}", f"{max(values):.0f}"
    return lo if lo == hi else f"{lo}-{hi}"


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    C.print_header("log readers at scale")
    out = C.OUT_DIR / "readers"
    t0 = time.perf_counter()
    paths = make_log(args, out)
    print(f"log written in {time.perf_counter() - t0:.0f}s: {[str(paths[f]) for f in args.formats]}", flush=True)
    if "baseline" in args.readers:
        baseline_module(args.baseline_rev, out)
    rows: list[list[Any]] = []
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for fmt in args.formats:
        for reader in args.readers:
            results[fmt, reader] = res = run_child(args, reader, paths[fmt])
            base = results.get((fmt, "baseline"))
            rows.append(
                [
                    fmt,
                    "row-by-row (" + args.baseline_rev + ")" if reader == "baseline" else "Arrow + NumPy (this)",
                    res["seconds"],
                    res["cpu_seconds"],
                    None if base is None or reader == "baseline" else base["seconds"] / res["seconds"],
                    None if base is None or reader == "baseline" else base["cpu_seconds"] / res["cpu_seconds"],
                    res["peak_gib"],
                    res["rss_imports_gib"],
                    res["users"],
                    res["items"],
                    res["interactions"],
                    "–" if base is None or reader == "baseline" else res["digest"] == base["digest"],
                ]
            )
    size = {f: paths[f].stat().st_size / 2**20 for f in args.formats}
    users = args.users or args.rows // 10
    items = args.items or max(args.rows // 100, 10)
    table = C.markdown_table(
        [
            "format",
            "reader",
            "wall s",
            "CPU s",
            "speed-up (wall)",
            "speed-up (CPU)",
            "peak RSS GiB",
            "RSS after imports GiB",
            "users kept",
            "items kept",
            "interactions kept",
            "identical result",
        ],
        rows,
    )
    setup = (
        f"A synthetic log of {args.rows:,} interactions ({users:,} users with Poisson({args.rows / users:g}) "
        f"interactions each, {items:,} items with rank^-0.8 popularity, 14/10-character string ids, integer "
        f"timestamps): CSV {size.get('csv', 0):.0f} MiB, Parquet {size.get('parquet', 0):.0f} MiB. Both readers "
        f"apply the {args.k_core}-core filter and build the same InteractionDataset (users sorted, items by time "
        f"then file order); each runs in a fresh process (peak = VmHWM of that process), Arrow limited to "
        f"{args.threads or 1} thread(s). Wall and CPU seconds of the read call alone (imports excluded); on a "
        "shared machine CPU time is the steadier measure of work. Baseline: src/rsir_pl/data/readers.py at "
        f"{args.baseline_rev}."
    )
    speedups = [r[4] for r in rows if r[4] is not None]
    cpu_speedups = [r[5] for r in rows if r[5] is not None]
    arrow_peaks = [r[6] for r in rows if r[1].startswith("Arrow")]
    same = all(r[11] is True for r in rows if r[11] != "–")
    reading = (
        (
            f"the Arrow reader is {span(speedups)}x faster in wall time ({span(cpu_speedups)}x in CPU time) "
            if speedups
            else ""
        )
        + (f"with a peak of at most {max(arrow_peaks):.2f} GiB" if arrow_peaks else "")
        + ("; both readers give identical datasets." if same else "; THE READERS DISAGREE (digests differ).")
    )
    C.append_results(args.results, C.section(f"Log readers at {args.rows:,} rows", [setup, table], reading))


if __name__ == "__main__":
    main()
