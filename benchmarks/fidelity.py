"""FAISS-clustered fidelity checks that scale: exact vs faiss flat vs faiss-ivf on large catalogues.

For each catalogue size, synthetic item embeddings (dim 64; clustered like a trained model's by
default: Gaussian centres plus noise, or i.i.d. Gaussian with --iid) and a set of queries from the
same distribution. Every query gets target sets whose accept/reject decision is non-trivial: a few
targets drawn from its exact top-200 neighbours plus a few random catalogue items. Each backend
runs the generator's search + check on the queries (batches of --query-batch rows, the generator's
search width k: --search-k, default 30; the generator asks max(tau + 1, top_k + context length + 1)):

* exact: ``ExactIndex`` (torch, catalogue scored in chunks of --chunk-items) + ``RankThresholdCheck``
* faiss: ``FaissFlatIndex`` + ``MembershipCheck``
* faiss-ivf: ``FaissIVFIndex`` for a grid of (nlist, nprobe) + ``MembershipCheck``
* on a CUDA machine also exact on the GPU, and faiss flat / IVF on the GPU when faiss can

It reports index build time, search + check time, queries per second, agreement of the decisions
with the exact rule (tau = 20), top-tau recall, and the peak resident memory of a fresh process per
backend (the script re-invokes itself with ``--child``; data are prepared once per size).

    python benchmarks/fidelity.py                       # sizes 1e4, 1e5, 1e6, clustered (noise 1.0)
    python benchmarks/fidelity.py --noise 0.5           # well-separated clusters (best case for IVF)
    python benchmarks/fidelity.py --iid                 # i.i.d. Gaussian (worst case for IVF)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

RESULT_TAG = "FIDELITY-RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="catalogue sizes")
    p.add_argument("--dim", type=int, default=64, help="embedding dimension (%(default)s)")
    p.add_argument("--queries", type=int, default=4096, help="queries per size (%(default)s)")
    p.add_argument("--query-batch", type=int, default=1024, help="queries searched together (%(default)s)")
    p.add_argument("--iid", action="store_true", help="i.i.d. Gaussian items and queries instead of clusters")
    p.add_argument("--centres", type=int, default=1000, help="Gaussian centres of the clustered data (%(default)s)")
    p.add_argument(
        "--noise",
        type=float,
        default=1.0,
        help="noise std around a centre; centres ~ N(0, I), so 1.0 = clusters explain half the variance, "
        "0.5 = well separated (default %(default)s)",
    )
    p.add_argument("--tau", type=int, default=20, help="fidelity rank threshold (%(default)s)")
    p.add_argument(
        "--search-k",
        type=int,
        default=30,
        help="results asked from the index (the generator asks max(tau+1, top_k + context length + 1))",
    )
    p.add_argument("--near-targets", type=int, default=5, help="targets per query from its exact top-200")
    p.add_argument("--random-targets", type=int, default=5, help="random catalogue targets per query")
    p.add_argument("--near-pool", type=int, default=200, help="the exact top-N the near targets come from")
    p.add_argument("--nlist", type=int, nargs="+", default=[256, 1024, 4096], help="IVF cells (kept <= size/39)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[4, 16, 64], help="IVF cells searched")
    p.add_argument("--chunk-items", type=int, default=65536, help="exact: catalogue items scored at once")
    p.add_argument("--min-agreement", type=float, default=0.99, help="agreement needed for 'best setting'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gpu", action="store_true", help="skip the CUDA / faiss-GPU backends")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    C.add_common_args(p)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- data (parent)
def make_data(n: int, dim: int, q: int, args: argparse.Namespace, rng: np.random.Generator):
    """Items with a zero padding row in front ``[n + 1, dim]`` and queries ``[q, dim]`` (float32)."""
    items = np.zeros((n + 1, dim), dtype=np.float32)
    if args.iid:
        for lo in range(0, n, 1 << 18):
            hi = min(n, lo + (1 << 18))
            items[1 + lo : 1 + hi] = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        queries = rng.standard_normal((q, dim), dtype=np.float32)
        return items, queries
    centres = rng.standard_normal((args.centres, dim), dtype=np.float32)
    for lo in range(0, n, 1 << 18):
        hi = min(n, lo + (1 << 18))
        a = rng.integers(0, args.centres, hi - lo)
        items[1 + lo : 1 + hi] = centres[a] + args.noise * rng.standard_normal((hi - lo, dim), dtype=np.float32)
    a = rng.integers(0, args.centres, q)
    queries = centres[a] + args.noise * rng.standard_normal((q, dim), dtype=np.float32)
    return items, queries


def prepare(n: int, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Data, targets and the exact decisions for one size, saved to ``path`` (npz)."""
    import torch

    from rsir_pl.generation.fidelity import RankThresholdCheck
    from rsir_pl.generation.index import ExactIndex

    rng = np.random.default_rng(args.seed + n)
    t0 = time.perf_counter()
    items, queries = make_data(n, args.dim, args.queries, args, rng)
    index = ExactIndex(torch.from_numpy(items), args.chunk_items)
    pool = min(args.near_pool, n)
    tau = args.tau
    top_v = np.zeros((args.queries, pool), dtype=np.float32)
    top_i = np.zeros((args.queries, pool), dtype=np.int64)
    with torch.inference_mode():
        for lo in range(0, args.queries, args.query_batch):
            v, i = index.search(torch.from_numpy(queries[lo : lo + args.query_batch]), pool)
            top_v[lo : lo + len(v)] = v.numpy()
            top_i[lo : lo + len(i)] = i.numpy()
    near = np.take_along_axis(top_i, rng.random((args.queries, pool)).argsort(axis=1)[:, : args.near_targets], axis=1)
    rand = rng.integers(1, n + 1, (args.queries, args.random_targets))
    targets = np.concatenate([near, rand], axis=1).astype(np.int64)
    exact = (
        RankThresholdCheck(tau)
        .accept(torch.from_numpy(top_v[:, : tau + 1]), torch.from_numpy(top_i[:, : tau + 1]), torch.from_numpy(targets))
        .numpy()
    )
    np.savez(path, items=items, queries=queries, targets=targets, exact=exact, exact_top=top_i[:, :tau])
    return {"prepare_s": time.perf_counter() - t0, "exact_accept_rate": float(exact.mean())}


# ---------------------------------------------------------------------------- one backend (child)
def run_child(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Build one index (one backend, one nlist) and time search + check for each nprobe."""
    import torch

    C.set_threads(spec.get("threads"))
    from rsir_pl.generation.fidelity import make_check
    from rsir_pl.generation.index import ExactIndex, FaissFlatIndex, FaissIVFIndex

    data = np.load(spec["data"])
    items, queries, targets = data["items"], data["queries"], data["targets"]
    exact_dec, exact_top = data["exact"], data["exact_top"]
    base_rss = C.peak_rss_gib()
    backend, tau, k, qb = spec["backend"], spec["tau"], spec["search_k"], spec["query_batch"]
    cuda = backend in ("exact-cuda",)
    dev = torch.device("cuda" if cuda else "cpu")
    emb = torch.from_numpy(items).to(dev)

    def sync() -> None:
        if torch.cuda.is_available() and (cuda or backend.endswith("gpu")):
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    if backend in ("exact", "exact-cuda"):
        index: Any = ExactIndex(emb, spec["chunk_items"])
        check = make_check("exact", tau)
    elif backend in ("faiss", "faiss-gpu"):
        index = FaissFlatIndex(emb, device="gpu" if backend.endswith("gpu") else "cpu")
        check = make_check("faiss", tau)
    elif backend in ("faiss-ivf", "faiss-ivf-gpu"):
        index = FaissIVFIndex(
            emb,
            nlist=spec["nlist"],
            nprobe=1,
            device="gpu" if backend.endswith("gpu") else "cpu",
            seed=spec["seed"],
        )
        check = make_check("faiss-ivf", tau)
    else:
        raise ValueError(backend)
    sync()
    build_s = time.perf_counter() - t0

    q_t = torch.from_numpy(queries).to(dev)
    tg_t = torch.from_numpy(targets).to(dev)
    out = []
    for nprobe in spec.get("nprobes") or [None]:
        if nprobe is not None:
            index.nprobe = min(nprobe, index.nlist)
            if hasattr(index.index, "nprobe"):
                index.index.nprobe = index.nprobe
        with torch.inference_mode():
            index.search(q_t[: min(64, len(q_t))], k)  # warm-up
            sync()
            dec = np.zeros(len(queries), dtype=bool)
            top = np.zeros((len(queries), tau), dtype=np.int64)
            t0 = time.perf_counter()
            for lo in range(0, len(queries), qb):
                v, i = index.search(q_t[lo : lo + qb], k)
                ok = check.accept(v, i, tg_t[lo : lo + qb])
                dec[lo : lo + qb] = ok.cpu().numpy()
                top[lo : lo + qb] = i[:, :tau].cpu().numpy()
            sync()
            search_s = time.perf_counter() - t0
        recall = float((top[:, :, None] == exact_top[:, None, :]).any(axis=2).mean())
        out.append(
            {
                "backend": backend,
                "nlist": getattr(index, "nlist", None),
                "nprobe": getattr(index, "nprobe", None),
                "build_s": build_s,
                "search_check_s": search_s,
                "qps": len(queries) / search_s,
                "agreement": float((dec == exact_dec).mean()),
                "false_rejects": int((exact_dec & ~dec).sum()),
                "false_accepts": int((~exact_dec & dec).sum()),
                "accept_rate": float(dec.mean()),
                "recall_at_tau": recall,
                "base_rss_gib": base_rss,
                "peak_rss_gib": C.peak_rss_gib(),
                "gpu_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
            }
        )
    return out


def launch(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one backend in a fresh process (so its peak memory is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = (proc.stderr or proc.stdout)[-2000:]
    print(f"   !! {spec['backend']} nlist={spec.get('nlist')} failed (rc {proc.returncode}):\n{tail}")
    return [{"backend": spec["backend"], "nlist": spec.get("nlist"), "error": tail.strip().splitlines()[-1:]}]


# ---------------------------------------------------------------------------- report
def backends(n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The (backend, nlist) children to run for a catalogue of ``n`` items."""
    specs: list[dict[str, Any]] = [{"backend": "exact"}, {"backend": "faiss"}]
    nlists = [nl for nl in args.nlist if nl <= n // 39]
    skipped = [nl for nl in args.nlist if nl > n // 39]
    if skipped:
        print(f"   nlist {skipped} skipped at {n:,} items (faiss wants >= 39 points per cell)")
    specs += [{"backend": "faiss-ivf", "nlist": nl, "nprobes": [p for p in args.nprobe if p <= nl]} for nl in nlists]
    if not args.no_gpu:
        try:
            import torch

            from rsir_pl.generation.index import faiss_has_gpu

            if torch.cuda.is_available():
                specs.append({"backend": "exact-cuda"})
                if faiss_has_gpu():
                    specs.append({"backend": "faiss-gpu"})
                    specs += [
                        {"backend": "faiss-ivf-gpu", "nlist": nl, "nprobes": [p for p in args.nprobe if p <= nl]}
                        for nl in nlists
                    ]
                else:
                    print("   faiss has no GPU support here: faiss GPU backends skipped")
        except ImportError:
            pass
    return specs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(RESULT_TAG + json.dumps(run_child(spec)))
        return 0
    C.set_threads(args.threads)
    C.print_header("fidelity backends: exact vs faiss flat vs faiss-ivf")
    kind = "i.i.d. N(0, I)" if args.iid else f"clustered: {args.centres} centres ~ N(0, I) + N(0, {args.noise}^2 I)"
    print(
        f"data: {kind}, dim {args.dim}, {args.queries} queries, targets {args.near_targets} of the exact "
        f"top-{args.near_pool} + {args.random_targets} random, tau {args.tau}, search k {args.search_k}"
    )
    rows: list[dict[str, Any]] = []
    prep: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rsir-fidelity-") as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"data_{n}.npz"
            print(f"\n-- {n:,} items: preparing data and exact decisions ...", flush=True)
            prep[n] = prepare(n, args, path)
            print(f"   {prep[n]['prepare_s']:.1f} s; exact accept rate {prep[n]['exact_accept_rate']:.3f}")
            for spec in backends(n, args):
                spec.update(
                    data=str(path),
                    tau=args.tau,
                    search_k=args.search_k,
                    query_batch=args.query_batch,
                    chunk_items=args.chunk_items,
                    threads=args.threads,
                    seed=args.seed,
                )
                for r in launch(spec):
                    r["size"] = n
                    rows.append(r)
                    if "error" not in r:
                        print(
                            f"   {r['backend']:<14} nlist={C.fmt(r['nlist']):>5} nprobe={C.fmt(r['nprobe']):>3}  "
                            f"build {r['build_s']:8.2f} s  search+check {r['search_check_s']:8.3f} s  "
                            f"{r['qps']:10.0f} q/s  agreement {r['agreement']:.4f}  recall@tau "
                            f"{r['recall_at_tau']:.3f}  peak RSS {r['peak_rss_gib']:.2f} GiB",
                            flush=True,
                        )
            path.unlink(missing_ok=True)

    # ---- tables
    ok_rows = [r for r in rows if "error" not in r]
    exact_time = {r["size"]: r["search_check_s"] for r in ok_rows if r["backend"] == "exact"}
    table_rows = []
    for r in ok_rows:
        speedup = exact_time.get(r["size"], float("nan")) / r["search_check_s"]
        table_rows.append(
            [
                r["size"],
                r["backend"],
                r["nlist"],
                r["nprobe"],
                r["build_s"],
                r["search_check_s"],
                r["qps"],
                speedup,
                r["agreement"],
                r["false_rejects"],
                r["false_accepts"],
                r["recall_at_tau"],
                r["base_rss_gib"],
                r["peak_rss_gib"],
            ]
        )
    headers = [
        "items",
        "backend",
        "nlist",
        "nprobe",
        "build s",
        "search+check s",
        "queries/s",
        "speed-up vs exact",
        "agreement",
        "false rejects",
        "false accepts",
        f"recall@{args.tau}",
        "RSS after data GiB",
        "peak RSS GiB",
    ]
    table = C.markdown_table(headers, table_rows)
    errors = [r for r in rows if "error" in r]
    prep_text = "Exact accept rate (share of queries whose target set passes the exact check): " + ", ".join(
        f"{n:,}: {p['exact_accept_rate']:.3f}" for n, p in prep.items()
    )

    # ---- best IVF setting at the largest size
    big = max(args.sizes)
    ivf = [r for r in ok_rows if r["size"] == big and r["backend"] == "faiss-ivf"]
    good = [r for r in ivf if r["agreement"] >= args.min_agreement]
    ex = exact_time.get(big)
    if good and ex:
        best = min(good, key=lambda r: r["search_check_s"])
        sp = ex / best["search_check_s"]
        verdict = (
            f"At {big:,} items the fastest faiss-ivf setting with agreement >= {args.min_agreement:.0%} is "
            f"nlist={best['nlist']}, nprobe={best['nprobe']}: agreement {best['agreement']:.4f}, "
            f"{best['search_check_s']:.3f} s vs exact {ex:.2f} s, a {sp:.1f}x speed-up"
            + ("" if sp >= 10 else " (below 10x)")
            + f" (index build {best['build_s']:.1f} s, paid once per iteration)."
        )
    elif ivf and ex:
        verdict = (
            f"At {big:,} items no faiss-ivf setting reaches agreement >= {args.min_agreement:.0%}; "
            "see the frontier below."
        )
    else:
        verdict = f"No faiss-ivf result at {big:,} items."
    frontier = []
    best_agree = -1.0
    for r in sorted(ivf, key=lambda r: r["search_check_s"]):  # fastest first; keep what no faster one beats
        if r["agreement"] > best_agree:
            frontier.append(r)
            best_agree = r["agreement"]
    front_table = C.markdown_table(
        ["nlist", "nprobe", "search+check s", "speed-up vs exact", "agreement", f"recall@{args.tau}"],
        [
            [
                r["nlist"],
                r["nprobe"],
                r["search_check_s"],
                (ex or float("nan")) / r["search_check_s"],
                r["agreement"],
                r["recall_at_tau"],
            ]
            for r in frontier
        ],
    )
    print()
    print(table)
    print()
    print(prep_text)
    print(verdict)
    print(f"\nfaiss-ivf speed/agreement frontier at {big:,} items:\n{front_table}")
    setup = (
        f"Synthetic item embeddings, dim {args.dim}, **{kind}**; {args.queries} queries from the same "
        f"distribution, searched in batches of {args.query_batch}; per query {args.near_targets} targets drawn from "
        f"its exact top-{args.near_pool} plus {args.random_targets} random items; tau {args.tau}; every index asked "
        f"for k={args.search_k} results (the generator asks max(tau+1, top_k + context length + 1): 30 stands "
        f"for a context of 19 items); exact scores {args.chunk_items} items per chunk. "
        "Each backend (each IVF nlist) runs in a fresh process: 'RSS after "
        "data' is that process's peak after loading the items and queries, 'peak RSS' its peak at the end. "
        "Agreement = share of queries whose accept/reject decision equals the exact rule's."
    )
    body = [setup, table, prep_text, verdict, f"faiss-ivf frontier at {big:,} items:\n\n{front_table}"]
    if errors:
        body.append("Failures: " + "; ".join(f"{e['backend']} nlist={e.get('nlist')}: {e['error']}" for e in errors))
    fl = [r for r in ok_rows if r["size"] == big and r["backend"] == "faiss"]
    flat_txt = (
        f"; faiss flat agrees {fl[0]['agreement']:.4f} at {ex / fl[0]['search_check_s']:.1f}x exact's speed"
        if fl and ex
        else ""
    )
    data_name = "i.i.d. data (worst case for IVF)" if args.iid else f"clustered data, noise {args.noise}"
    reading = f"{verdict}{flat_txt}; {data_name}."
    C.append_results(args.results, C.section(f"Fidelity backends at scale ({data_name})", body, reading))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
