"""rsir recommend: top-k in original ids for users or item sequences, the same ranking as the
loop's full-ranking test, history excluded by default, CSV/JSONL/Parquet, DDP = one process."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rsir_pl.cli import main
from rsir_pl.config import DataConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.inference.recommend import query_batch
from rsir_pl.models.checkpoint import load_checkpoint, load_data

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--log_level", "WARNING"]
CPU = ["--accelerator", "cpu", "--progress_bar", "false"]


def _recommend(tmp_path: Path, name: str, *args: str) -> list[dict[str, str]]:
    out = tmp_path / name
    assert main([*QUIET, "recommend", *args, *CPU, "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def _by_label(rows: list[dict[str, str]], label: str = "user") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: (r[label], int(r["rank"]))):
        out.setdefault(r[label], []).append(r["item"])
    return out


def test_recommend_ranks_as_the_loops_test(trained_run, tmp_path):
    """--hold_out 1 ranks what the test ranked: the same top-10 per user and the same metrics."""
    rows = _recommend(tmp_path, "recs.csv", "--model", str(trained_run), "--hold_out", "1", "--k", "20")
    top = _by_label(rows)
    ckpt = load_checkpoint(trained_run)
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20), dataset=load_data(ckpt))
    dm.setup()
    users = np.arange(dm.split.num_users)
    batch = dm.eval_batch(users, "test")
    with torch.no_grad():
        expected = torch.topk(ckpt.model.ranking_scores(batch), 10, dim=1).indices.numpy()
    user_ids = dm.dataset.user_ids[dm.split.users]
    item_ids = ckpt.item_ids
    for u, row in zip(user_ids, expected):
        assert top[str(u)][:10] == [item_ids[i] for i in row]
    # metrics from the recommended lists alone equal the loop's own test
    target = [item_ids[i] for i in dm.split.test_target]
    ranks = [top[str(u)].index(t) + 1 if t in top[str(u)] else 10**9 for u, t in zip(user_ids, target)]
    test = json.loads((trained_run / "iter_0" / "metrics.json").read_text())["test"]
    for k in (10, 20):
        recall = np.mean([r <= k for r in ranks])
        ndcg = np.mean([1 / math.log2(r + 1) if r <= k else 0.0 for r in ranks])
        assert recall == pytest.approx(test[f"recall@{k}"], abs=1e-6)
        assert ndcg == pytest.approx(test[f"ndcg@{k}"], abs=1e-6)


def test_history_is_excluded_unless_kept(trained_run, tmp_path):
    ckpt = load_checkpoint(trained_run)
    data = load_data(ckpt)
    users = ["u3", "u10", "u42"]
    default = _by_label(_recommend(tmp_path, "a.csv", "--model", str(trained_run), "--users", *users, "--k", "50"))
    kept = _by_label(
        _recommend(
            tmp_path, "b.csv", "--model", str(trained_run), "--users", *users, "--k", "50", "--keep_history", "true"
        )
    )
    position = {str(u): i for i, u in enumerate(data.user_ids)}
    for u in users:
        history = {str(ckpt.item_ids[i]) for i in data.sequences[position[u]]}
        assert not history & set(default[u])
        store = data.sequences.select([position[u]])
        batch = query_batch(store, np.arange(1), ckpt.model.max_len, 50, keep_history=True)
        with torch.no_grad():
            raw = torch.topk(ckpt.model.ranking_scores(batch), 50, dim=1).indices[0].tolist()
        assert kept[u] == [ckpt.item_ids[i] for i in raw]
    assert any(set(kept[u]) & {str(ckpt.item_ids[i]) for i in data.sequences[position[u]]} for u in users)


def test_item_sequences_from_options_and_from_a_file(trained_run, tmp_path):
    model_pt = str(trained_run / "iter_0" / "model.pt")
    one = _recommend(tmp_path, "one.csv", "--model", model_pt, "--items", "5", "17", "42", "--k", "5")
    (tmp_path / "seqs.txt").write_text("# two queries\n5 17 42\n\n8,9\n")
    both = _recommend(tmp_path, "both.csv", "--model", model_pt, "--sequences", str(tmp_path / "seqs.txt"), "--k", "5")
    assert _by_label(one, "query")["1"] == _by_label(both, "query")["1"]
    assert len(_by_label(both, "query")["2"]) == 5 and not {"5", "17", "42"} & set(_by_label(one, "query")["1"])
    scores = [float(r["score"]) for r in one]
    assert scores == sorted(scores, reverse=True)


def test_csv_jsonl_and_parquet_hold_the_same_rows(trained_run, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    args = ["--model", str(trained_run), "--users", "u1", "u2", "--k", "4", *CPU]
    for name in ("r.csv", "r.jsonl", "r.parquet"):
        assert main([*QUIET, "recommend", *args, "--out", str(tmp_path / name)]) == 0
    with open(tmp_path / "r.csv", newline="") as fh:
        from_csv = [(r["user"], int(r["rank"]), r["item"], float(r["score"])) for r in csv.DictReader(fh)]
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    from_jsonl = [(d["user"], d["rank"], d["item"], d["score"]) for d in map(json.loads, lines)]
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    from_parquet = [(d["user"], d["rank"], d["item"], d["score"]) for d in table]
    assert len(from_csv) == 8 and from_csv == from_jsonl
    assert [r[:3] for r in from_parquet] == [r[:3] for r in from_csv]
    assert np.allclose([r[3] for r in from_parquet], [r[3] for r in from_csv], rtol=1e-6)


def test_bad_requests_are_clear_errors(trained_run, tmp_path, capsys):
    base = [*QUIET, "recommend", "--model", str(trained_run), *CPU]
    assert main([*base, "--users", "u1", "nobody"]) == 2
    assert "unknown user(s) 'nobody'" in capsys.readouterr().err
    assert main([*base, "--items", "5", "9999"]) == 2
    assert "unknown item(s) '9999'" in capsys.readouterr().err
    assert main([*base, "--users", "u1", "--items", "5"]) == 2
    assert "give one of --users, --items and --sequences" in capsys.readouterr().err
    assert main([*base, "--users", "u1", "--k", "0"]) == 2
    assert "k must be >= 1" in capsys.readouterr().err
    assert main([*base, "--items", "5", "--hold_out", "1"]) == 2
    assert "--hold_out applies to users of the data, not to --items" in capsys.readouterr().err
    assert main([*base, "--users", "u1", "--out", str(tmp_path / "recs.txt")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err


@pytest.mark.slow
def test_two_ddp_processes_write_what_one_process_writes(trained_run, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "rsir_pl",
        *QUIET,
        "recommend",
        "--model",
        str(trained_run),
        *CPU,
        "--batch_size",
        "64",
    ]
    for name, extra in (("one.csv", []), ("two.csv", ["--devices", "2", "--strategy", "ddp"])):
        done = subprocess.run(
            [*cmd, *extra, "--out", str(tmp_path / name)], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert len((tmp_path / "one.csv").read_text().splitlines()) == 400 * 10 + 1
