"""Latency and throughput of ``rsir serve`` over real HTTP, at batch 1 and with LitServe's batching.

For each server setting (``--batch-sizes``: 1 = no batching; > 1 = LitServe groups concurrent
requests into one model call, waiting at most ``--batch-timeout`` seconds for a batch to fill) the
script starts ``python -m rsir_pl serve`` on a free local port in a fresh process, waits for
``GET /health``, warms up, and then sends ``POST /recommend {"user": ..., "k": 10}`` for random
users of the dataset, first from one client one request at a time (latency) and then from
``--clients`` concurrent clients (throughput). Each client is a thread with its own keep-alive
``httpx.Client``; client and server share the machine, so on a small CPU the client's own work is
part of what is measured.

Without ``--checkpoint`` the model is a SASRec of the default size (hidden 64, 2 layers) on the
embedded ``synthetic`` dataset (2,500 items) with RANDOM weights, saved once under
benchmarks/out/serve-latency/: the cost of a request does not depend on the weights.

    python benchmarks/serve_latency.py                          # batch 1 and 16, 1 and 16 clients
    python benchmarks/serve_latency.py --checkpoint runs/sasrec-toys --requests 1000
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

OUT = C.OUT_DIR / "serve-latency"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="model.pt or run directory (default: random SASRec)")
    p.add_argument("--dataset", default="synthetic", help="dataset of the random model (%(default)s)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16], help="server max_batch_size (%(default)s)")
    p.add_argument("--batch-timeout", type=float, default=0.005, help="seconds a batch waits to fill (%(default)s)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients of the throughput run (%(default)s)")
    p.add_argument("--requests", type=int, default=600, help="requests per measurement (%(default)s)")
    p.add_argument("--warmup", type=int, default=50, help="requests before measuring (%(default)s)")
    p.add_argument("--k", type=int, default=10, help="items per answer (%(default)s)")
    p.add_argument("--server-threads", type=int, default=1, help="OMP_NUM_THREADS of the server process (%(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reading", default=None, help="the section's reading (default: a generated one)")
    C.add_common_args(p)
    return p.parse_args(argv)


def random_model(dataset: str) -> Path:
    """A default-size SASRec with random weights on ``dataset``, saved with its id map."""
    import torch

    from rsir_pl.config import DataConfig, ModelConfig
    from rsir_pl.data.registry import load_dataset
    from rsir_pl.models import build_model, save_model

    path = OUT / f"random-sasrec-{dataset}.pt"
    if not path.exists():
        torch.manual_seed(0)
        data = load_dataset(dataset)
        OUT.mkdir(parents=True, exist_ok=True)
        save_model(build_model(ModelConfig(), data.num_items, 50), path, data, DataConfig(dataset=dataset))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``rsir serve`` in its own process group, stopped (with its workers) on exit."""

    def __init__(self, model: str, batch_size: int, batch_timeout: float, threads: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(C.REPO_ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, "-m", "rsir_pl", "--log_level", "WARNING", "serve", "--model", model]
        cmd += ["--port", str(self.port), "--accelerator", "cpu", "--max_batch_size", str(batch_size)]
        cmd += ["--batch_timeout", str(batch_timeout)]
        self.log = open(OUT / f"server-b{batch_size}.log", "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> Server:
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("server not healthy after 180 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def measure(url: str, users: list[str], clients: int, requests: int, k: int) -> dict[str, Any]:
    """Send ``requests`` requests from ``clients`` threads; latencies in ms and requests/s."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    share = [requests // clients + (i < requests % clients) for i in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        mine = []
        with httpx.Client(timeout=30) as http:
            start.wait()
            for j in range(share[i]):
                body = {"user": users[(i * 7919 + j) % len(users)], "k": k}
                t0 = time.perf_counter()
                r = http.post(f"{url}/recommend", json=body)
                mine.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 or len(r.json()["items"]) != k:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array(latencies)
    return {
        "clients": clients,
        "requests": len(lat),
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "mean": float(lat.mean()),
        "rps": len(lat) / wall,
        "errors": errors[0],
    }


def model_call_ms(ckpt: Any, data: Any, users: list[str], batch: int, reps: int, k: int) -> float:
    """Median milliseconds of one in-process model call (decode + predict) for ``batch`` queries:
    the part of a request that batching shares."""
    from rsir_pl.inference.server import RecommendAPI, RecommendRequest, ServeData

    api = RecommendAPI(ServeData.build(ckpt, data), max_batch_size=max(batch, 2))
    api.setup("cpu")
    times = []
    for r in range(reps):
        queries = [RecommendRequest(user=users[(r * batch + i) % len(users)], k=k) for i in range(batch)]
        t0 = time.perf_counter()
        api.predict([api.decode_request(q) for q in queries])
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.set_threads(args.threads)
    C.print_header("serve latency: rsir serve over HTTP")
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(C.REPO_ROOT / "src"))
    from rsir_pl.models.checkpoint import load_checkpoint, load_data

    model = args.checkpoint or str(random_model(args.dataset))
    ckpt = load_checkpoint(model)
    data = load_data(ckpt)
    rng = np.random.default_rng(args.seed)
    users = [str(u) for u in rng.permutation(np.asarray(data.user_ids, dtype=object))]
    what = (
        f"{ckpt.model.config.backbone} hidden {ckpt.model.config.hidden}, {ckpt.model.config.layers} layers, "
        f"max_len {ckpt.model.max_len}, {ckpt.num_items:,} items ({data.name}, {data.num_users:,} users)"
    )
    weights = "trained" if args.checkpoint else "RANDOM weights"
    print(f"model: {what}; {weights}; k={args.k}")
    calls = {b: model_call_ms(ckpt, data, users, b, 200, args.k) for b in sorted({1, *args.batch_sizes})}
    print("model call alone (in process): " + ", ".join(f"batch {b}: {ms:.2f} ms" for b, ms in calls.items()))
    rows = []
    for b in args.batch_sizes:
        timeout = args.batch_timeout if b > 1 else 0.0
        print(f"\n-- server max_batch_size {b}, batch_timeout {timeout} s ...", flush=True)
        with Server(model, b, timeout, args.server_threads) as server:
            measure(server.url, users, 1, args.warmup, args.k)
            for clients in (1, args.clients):
                r = measure(server.url, users, clients, args.requests, args.k)
                print(
                    f"   {clients:>3} client(s): p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {r['rps']:.0f} req/s, "
                    f"{r['errors']} errors",
                    flush=True,
                )
                rows.append(
                    [b, timeout, r["clients"], r["requests"], r["p50"], r["p99"], r["mean"], r["rps"], r["errors"]]
                )
    headers = [
        "max_batch_size",
        "batch_timeout s",
        "clients",
        "requests",
        "p50 ms",
        "p99 ms",
        "mean ms",
        "requests/s",
        "errors",
    ]
    table = C.markdown_table(headers, rows)
    call_table = C.markdown_table(
        ["queries per model call", "model call ms (median)", "ms per query"],
        [[b, ms, ms / b] for b, ms in calls.items()],
    )
    desc = (
        f"`rsir serve` (LitServe, one inference worker on the CPU, server OMP_NUM_THREADS={args.server_threads}) "
        f'of {what}, {weights}; `POST /recommend {{"user": ..., "k": {args.k}}}` for random users over '
        f"keep-alive HTTP from client threads on the same machine, {args.warmup} warm-up requests per server."
    )
    single = [r for r in rows if r[0] == 1]
    batched = [r for r in rows if r[0] > 1]
    reading = args.reading
    if reading is None and single and batched:
        best_single = max(r[7] for r in single)
        best_batched = max(r[7] for r in batched)
        one = next(r for r in single if r[2] == 1)
        reading = (
            f"one client at batch 1: p50 {one[4]:.1f} ms, p99 {one[5]:.1f} ms, of which the model call is "
            f"{calls[1]:.2f} ms; with {args.clients} clients batching gives {best_batched:.0f} req/s against "
            f"{best_single:.0f} at batch 1 ({best_batched / best_single:.2f}x)."
        )
    C.append_results(
        args.results,
        C.section(
            "Serving latency: rsir serve over HTTP (LitServe)", [desc, table, call_table], reading or "see the table"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
