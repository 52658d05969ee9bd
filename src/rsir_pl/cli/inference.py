"""``rsir recommend``, ``rsir evaluate`` and ``rsir serve``: their parsers and what they run."""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional, Union

from jsonargparse import ArgumentParser

from rsir_pl.cli.base import CommandParser
from rsir_pl.config import ConfigError


def _model_source_args(p: ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model.pt, a Lightning .ckpt or a run directory")
    p.add_argument(
        "--iteration",
        type=Optional[int],
        default=None,
        help="with a run directory: its iteration k (default: the last)",
    )
    p.add_argument(
        "--data",
        type=Optional[str],
        default=None,
        help="dataset name or file (default: the one the model was trained on); its item ids must be in the "
        "model's catalogue",
    )


def _device_args(p: ArgumentParser) -> None:
    p.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (Lightning)")
    p.add_argument("--devices", type=Union[int, str], default=1, help="devices; several run under --strategy ddp")
    p.add_argument("--strategy", default="auto", help="auto or ddp")
    p.add_argument("--precision", default="32-true", help="Lightning precision string")
    p.add_argument("--progress_bar", type=bool, default=True, help="show a progress bar")


def recommend_parser() -> ArgumentParser:
    p = CommandParser(description="Top-k items, in original ids, for users of the data or for given item sequences.")
    _model_source_args(p)
    p.add_argument("--users", nargs="+", type=str, default=None, help="original user ids (default: every user)")
    p.add_argument("--items", nargs="+", type=str, default=None, help="one item sequence in original ids, oldest first")
    p.add_argument(
        "--sequences", type=Optional[str], default=None, help="a file of item sequences, one per line (original ids)"
    )
    p.add_argument("--k", type=int, default=10, help="items per query")
    p.add_argument("--keep_history", type=bool, default=False, help="allow items the query already holds")
    p.add_argument(
        "--hold_out",
        type=int,
        default=0,
        help="drop each user's last n items first (1 = what the full-ranking test ranked)",
    )
    p.add_argument("--out", default="-", help="output file: .csv, .jsonl or .parquet (default: CSV on stdout)")
    p.add_argument("--format", type=Optional[str], default=None, help="csv, jsonl or parquet (default: from --out)")
    p.add_argument("--batch_size", type=int, default=512, help="queries per model call")
    _device_args(p)
    return p


def evaluate_parser() -> ArgumentParser:
    p = CommandParser(description="The full-ranking leave-one-out test of a saved model on a dataset.")
    _model_source_args(p)
    p.add_argument(
        "--mask_history", type=Optional[bool], default=None, help="mask earlier items (default: as in training)"
    )
    p.add_argument("--eval_batch_size", type=int, default=512, help="users per evaluation batch")
    p.add_argument("--out", type=Optional[str], default=None, help="also write the metrics to this JSON file")
    _device_args(p)
    return p


def serve_parser() -> ArgumentParser:
    p = CommandParser(description="HTTP server (LitServe): POST /recommend {'user': ...} or {'items': [...], 'k': 10}.")
    _model_source_args(p)
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only), 0.0.0.0 or ::")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max_batch_size", type=int, default=1, help="requests ranked together (LitServe batching)")
    p.add_argument("--batch_timeout", type=float, default=0.005, help="seconds a batch waits to fill")
    p.add_argument("--workers", type=int, default=1, help="model copies on the device")
    p.add_argument("--accelerator", default="auto", help="cpu, cuda or auto")
    p.add_argument("--no_users", type=bool, default=False, help="serve item-sequence queries only (no dataset)")
    return p


def _trainer(a: Any) -> Any:
    from rsir_pl.inference.recommend import inference_trainer

    return inference_trainer(a.accelerator, a.devices, a.strategy, a.precision, a.progress_bar)


def run_recommend(a: Any) -> int:
    from rsir_pl.inference import recommend as R
    from rsir_pl.models.checkpoint import load_checkpoint, load_data

    items = a["items"]  # not a.items: a Namespace has an items() method
    given = [name for name in ("users", "items", "sequences") if a[name] is not None]
    if len(given) > 1:
        raise ConfigError(f"give one of --users, --items and --sequences (got {', '.join('--' + g for g in given)})")
    if a.hold_out and len(given) and given[0] != "users":
        raise ConfigError(f"--hold_out applies to users of the data, not to --{given[0]}")
    if a.out != "-":
        R.output_format(a.out, a.format)  # a bad file name fails before any work
    ckpt = load_checkpoint(a.model, a.iteration)
    if items is not None or a.sequences is not None:
        if ckpt.item_ids is None:
            load_data(ckpt, a.data)  # an id map from the training data (format-1 checkpoints)
        if items is not None:
            queries = R.item_queries(ckpt, [items], "--items")
        else:
            queries = R.item_queries(ckpt, R.read_sequences(a.sequences), a.sequences)
    else:
        queries = R.user_queries(load_data(ckpt, a.data), a.users, a.hold_out)
    trainer = _trainer(a)
    recs = R.recommend(ckpt, queries, trainer, a.k, a.keep_history, a.batch_size)
    if not trainer.is_global_zero:
        return 0
    assert ckpt.item_ids is not None
    if a.out == "-":
        sys.stdout.write(R.encode_recommendations(recs, ckpt.item_ids, a.format or "csv").decode())
    else:
        path = R.write_recommendations(recs, ckpt.item_ids, a.out, a.format)
        print(f"wrote top-{a.k} of {len(queries):,} {queries.kind}s to {path}", file=sys.stderr)
    return 0


def run_evaluate(a: Any) -> int:
    import json

    from rsir_pl.inference.evaluate import evaluate_checkpoint
    from rsir_pl.models.checkpoint import load_checkpoint, load_data

    ckpt = load_checkpoint(a.model, a.iteration)
    dataset = load_data(ckpt, a.data)
    trainer = _trainer(a)
    result = evaluate_checkpoint(ckpt, dataset, trainer, a.mask_history, a.eval_batch_size)
    if not trainer.is_global_zero:
        return 0
    same = {True: "the data it was trained on", False: "not the data it was trained on", None: "training data unknown"}
    print(f"model    {ckpt.source}")
    print(f"data     {result.dataset} ({same[result.same_as_training]}), {result.users:,} users tested")
    for key in sorted(result.metrics, key=_metric_order):
        print(f"{key:<13}{result.metrics[key]:.5f}")
    if a.out:
        from rsir_pl.atomic import atomic_write_bytes

        record = {
            "model": ckpt.source,
            "data": result.dataset,
            "same_as_training": result.same_as_training,
            "users": result.users,
            "test": result.metrics,
        }
        atomic_write_bytes(a.out, (json.dumps(record, indent=2) + "\n").encode())
    return 0


def _metric_order(name: str) -> tuple[str, int]:
    base, _, k = name.partition("@")
    return base, int(k) if k.isdigit() else 0


def run_serve(a: Any) -> int:
    from rsir_pl.inference.server import ServeData, serve
    from rsir_pl.models.checkpoint import load_checkpoint, load_data

    ckpt = load_checkpoint(a.model, a.iteration)
    dataset = None
    if not a.no_users:
        if a.data or (ckpt.data or {}).get("dataset"):
            dataset = load_data(ckpt, a.data)
        else:
            logging.getLogger("rsir_pl").warning("%s names no dataset: serving item queries only", ckpt.source)
    serve(
        ServeData.build(ckpt, dataset),
        host=a.host,
        port=a.port,
        max_batch_size=a.max_batch_size,
        batch_timeout=a.batch_timeout,
        accelerator=a.accelerator,
        workers=a.workers,
    )
    return 0
