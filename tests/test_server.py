"""rsir serve through real HTTP: a LitServe process on a free local port answers like rsir
recommend, turns bad requests into 4xx with a message and keeps serving; batched ranking equals
one-by-one ranking."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("litserve")

from rsir_pl.cli import main  # noqa: E402
from rsir_pl.inference.server import RecommendAPI, RecommendRequest, ServeData  # noqa: E402
from rsir_pl.models.checkpoint import load_checkpoint, load_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0  # seconds, every request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_run) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rsir_pl", "--log_level", "WARNING", "serve", "--model", str(trained_run)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--accelerator", "cpu"]
    # its own process group, so the LitServe workers it starts go down with it
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read().decode()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        proc.stdout.close()


def _post(url: str, body: object) -> httpx.Response:
    return httpx.post(f"{url}/recommend", json=body, timeout=TIMEOUT)


def _cli(trained_run: Path, tmp_path: Path, *args: str) -> dict[str, list[tuple[str, float]]]:
    out = tmp_path / "cli.csv"
    cpu = ["--accelerator", "cpu", "--progress_bar", "false"]
    assert (
        main(["--log_level", "WARNING", "recommend", "--model", str(trained_run), *args, *cpu, "--out", str(out)]) == 0
    )
    rows: dict[str, list[tuple[str, float]]] = {}
    with open(out, newline="") as fh:
        for r in csv.DictReader(fh):
            rows.setdefault(r.get("user") or r["query"], []).append((r["item"], float(r["score"])))
    return rows


def _same(answer: dict, expected: list[tuple[str, float]]) -> None:
    assert answer["items"] == [i for i, _ in expected]
    assert np.allclose(answer["scores"], [s for _, s in expected], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_server_answers_like_rsir_recommend(server, trained_run, tmp_path):
    health = httpx.get(f"{server}/health", timeout=TIMEOUT)
    assert health.status_code == 200
    users = ["u0", "u7", "u123"]
    expected = _cli(trained_run, tmp_path, "--users", *users, "--k", "7")
    for u in users:
        r = _post(server, {"user": u, "k": 7})
        assert r.status_code == 200, r.text
        assert r.json()["user"] == u
        _same(r.json(), expected[u])
    seq = ["5", "17", "42"]
    expected = _cli(trained_run, tmp_path, "--items", *seq, "--k", "5", "--keep_history", "true")
    r = _post(server, {"items": [5, 17, "42"], "k": 5, "keep_history": True})
    assert r.status_code == 200 and "user" not in r.json()
    _same(r.json(), expected["1"])


@pytest.mark.slow
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(server):
    good = {"user": "u1", "k": 3}
    first = _post(server, good).json()
    cases = [
        ({"user": "nobody"}, 404, "unknown user 'nobody'"),
        ({"items": ["5", "99999"]}, 404, "unknown item(s) '99999'"),
        ({"user": "u1", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ({"user": "u1", "k": -3}, 422, "greater than or equal to 1"),
        ({"user": "u1", "k": 10_000}, 422, "k must be <= 240"),
        ({"user": "u1", "items": ["5"]}, 422, "give exactly one of 'user'"),
        ({"items": []}, 422, "'items' is empty"),
        ({"user": "u1", "kk": 3}, 422, "kk: Extra inputs are not permitted"),
    ]
    for body, status, message in cases:
        r = _post(server, body)
        assert r.status_code == status and message in r.json()["error"], (body, r.status_code, r.text)
        assert _post(server, good).json() == first  # still serving, same answer
    headers = {"Content-Type": "application/json"}
    r = httpx.post(f"{server}/recommend", content=b'{"user": "u1", "k": ', headers=headers, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
    r = httpx.post(f"{server}/recommend", content=b"[1, 2]", headers=headers, timeout=TIMEOUT)
    assert r.status_code == 422 and "the body must be a JSON object" in r.json()["error"]
    r = httpx.post(f"{server}/recommend", content=b"user=u1", timeout=TIMEOUT)
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"]
    assert _post(server, good).json() == first


def test_batched_ranking_equals_one_by_one(trained_run):
    ckpt = load_checkpoint(trained_run)
    data = ServeData.build(ckpt, load_data(ckpt))
    requests = [
        RecommendRequest(user="u3", k=4),
        RecommendRequest(items=["5", "9"], k=6, keep_history=True),
        RecommendRequest(user="u8", k=2),
    ]
    single = RecommendAPI(data, max_batch_size=1)
    single.setup("cpu")
    batched = RecommendAPI(data, max_batch_size=8)
    batched.setup("cpu")
    one_by_one = [single.predict(single.decode_request(r)) for r in requests]
    together = batched.predict([batched.decode_request(r) for r in requests])
    assert [len(a["items"]) for a in together] == [4, 6, 2]
    for a, b in zip(one_by_one, together):
        assert a["items"] == b["items"] and np.allclose(a["scores"], b["scores"], rtol=1e-5, atol=1e-6)
    assert not set(together[0]["items"]) & {str(ckpt.item_ids[i]) for i in data.histories[data.users["u3"]]}
