"""Top-k recommendations in original ids: for users of a dataset or for raw item sequences.

Queries are item sequences in the model's internal ids. They are batched exactly like the
full-ranking test batches (the newest ``max_len`` items, left-padded; every item of the query
masked unless history is kept) and ranked by the model's
:meth:`~rsir_pl.models.base.SequentialRecommender.predict_step` under ``Trainer.predict``, so a
recommendation runs on a GPU and under DDP like training does. A user's query is their whole
sequence; ``hold_out=1`` drops its last item, which reproduces what the test ranked.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from rsir_pl.atomic import atomic_write_bytes
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.samplers import IndexDataset, ShardSampler
from rsir_pl.data.store import SequenceStore, _ranges
from rsir_pl.models.checkpoint import Checkpoint

log = logging.getLogger(__name__)

#: output formats of :func:`write_recommendations`, by file suffix
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


class UnknownIdError(ValueError):
    """A user or item id that the model's catalogue or its dataset does not contain."""


@dataclass
class Queries:
    """What to rank for: one item sequence (internal ids) per query.

    ``labels`` name the queries in the output: original user ids (``kind="user"``) or the
    1-based number of each given sequence (``kind="query"``).
    """

    sequences: SequenceStore
    labels: np.ndarray
    kind: str

    def __len__(self) -> int:
        return len(self.sequences)


def user_queries(dataset: InteractionDataset, users: Sequence[str] | None = None, hold_out: int = 0) -> Queries:
    """Queries of ``users`` (original ids; None = every user) of a dataset in the model's ids.

    ``hold_out`` drops each user's last items first (1 = what the full-ranking test ranked);
    users left with no item are skipped with a warning.
    """
    if hold_out < 0:
        raise ValueError(f"hold_out must be >= 0 (got {hold_out})")
    if users is None:
        index = np.arange(dataset.num_users)
    else:
        position = {str(u): i for i, u in enumerate(dataset.user_ids)}
        unknown = [str(u) for u in users if str(u) not in position]
        if unknown:
            raise UnknownIdError(
                f"unknown user(s) {', '.join(repr(u) for u in unknown[:5])}: not in dataset {dataset.name!r} "
                f"({dataset.num_users} users, e.g. {', '.join(repr(str(u)) for u in dataset.user_ids[:3])})"
            )
        index = np.array([position[str(u)] for u in users], dtype=np.int64)
    store = dataset.sequences
    lengths = store.lengths[index] - hold_out
    keep = lengths > 0
    if not keep.all():
        log.warning("%d user(s) have no item left after holding out %d; skipped", int((~keep).sum()), hold_out)
        index, lengths = index[keep], lengths[keep]
    offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = store.items[_ranges(store.offsets[index], lengths)]
    labels = np.asarray([str(u) for u in dataset.user_ids[index]], dtype=object)
    return Queries(SequenceStore(items, offsets), labels, "user")


def item_queries(ckpt: Checkpoint, sequences: Sequence[Sequence[Any]], where: str = "items") -> Queries:
    """Queries of raw item sequences in original ids; ``where`` names their source in errors."""
    index = ckpt.item_index()
    internal = []
    for n, seq in enumerate(sequences, start=1):
        if len(seq) == 0:
            raise ValueError(f"{where}: sequence {n} is empty; give at least one item")
        unknown = [str(x) for x in seq if str(x) not in index]
        if unknown:
            raise UnknownIdError(
                f"{where}: sequence {n}: unknown item(s) {', '.join(repr(x) for x in unknown[:5])}; the model's "
                f"catalogue has {ckpt.num_items} items"
            )
        internal.append([index[str(x)] for x in seq])
    labels = np.arange(1, len(internal) + 1).astype(object)
    return Queries(SequenceStore.from_lists(internal), labels, "query")


def read_sequences(path: str | Path) -> list[list[str]]:
    """Item sequences of a text file: one sequence per line, original item ids separated by
    whitespace or commas; blank lines and lines starting with ``#`` are skipped."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            text = line.strip()
            if text and not text.startswith("#"):
                out.append(text.replace(",", " ").split())
    if not out:
        raise ValueError(f"{path}: no item sequence in the file")
    return out


def query_batch(
    store: SequenceStore, rows: np.ndarray, max_len: int, k: int, keep_history: bool | np.ndarray = False
) -> dict[str, Any]:
    """The model batch for ``rows`` of ``store``: the same layout as a test batch (newest
    ``max_len`` items left-padded, every query item masked unless ``keep_history``, one flag for
    all rows or one per row), plus ``row`` (the query indices) and ``k``."""
    rows = np.asarray(rows, dtype=np.int64)
    batch: dict[str, Any] = {
        "input": torch.from_numpy(store.padded(rows, max_len)),
        "row": torch.from_numpy(rows),
        "k": int(k),
    }
    masked = ~np.broadcast_to(np.asarray(keep_history, dtype=bool), rows.shape)
    if masked.any():
        lengths = store.lengths[rows] * masked
        batch["hist_rows"] = torch.from_numpy(np.repeat(np.arange(len(rows)), lengths))
        batch["hist_items"] = torch.from_numpy(store.items[_ranges(store.offsets[rows], lengths)].astype(np.int64))
    return batch


class QueryDataModule(L.LightningDataModule):
    """Predict batches of a :class:`Queries`, sharded over the DDP ranks without padding."""

    def __init__(self, queries: Queries, max_len: int, k: int, keep_history: bool, batch_size: int) -> None:
        super().__init__()
        self.queries, self.max_len, self.k = queries, max_len, k
        self.keep_history, self.batch_size = keep_history, batch_size

    def predict_dataloader(self) -> DataLoader:
        # rank and world are read here, after the launcher has started the processes
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        n = len(self.queries)
        store = self.queries.sequences
        return DataLoader(
            IndexDataset(n),
            batch_size=self.batch_size,
            sampler=ShardSampler(n, rank, world),
            collate_fn=lambda b: query_batch(store, np.asarray(b), self.max_len, self.k, self.keep_history),
            num_workers=0,
        )


@dataclass
class Recommendations:
    """Top-k per query: internal ``items [n, k]`` and ``scores [n, k]``, best first; a slot with
    no item left to recommend (every item excluded) holds item 0 and score -inf."""

    queries: Queries
    items: np.ndarray
    scores: np.ndarray


def inference_trainer(
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str = "32-true",
    progress: bool = True,
) -> L.Trainer:
    """A Trainer for ``predict`` and ``test`` runs (no logger, no checkpoints)."""
    return L.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        use_distributed_sampler=False,
    )


def recommend(
    ckpt: Checkpoint,
    queries: Queries,
    trainer: L.Trainer,
    k: int = 10,
    keep_history: bool = False,
    batch_size: int = 512,
) -> Recommendations:
    """Rank the whole catalogue for every query with ``trainer.predict``; under DDP each rank
    ranks a shard and every rank returns all of them."""
    if k < 1:
        raise ValueError(f"k must be >= 1 (got {k})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    dm = QueryDataModule(queries, ckpt.model.max_len, k, keep_history, batch_size)
    outputs = trainer.predict(ckpt.model, datamodule=dm, return_predictions=True) or []
    parts = [(o["row"].cpu(), o["items"].cpu(), o["scores"].float().cpu()) for o in outputs]  # type: ignore[index]
    if trainer.world_size > 1:
        gathered: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, parts)
        parts = [p for g in gathered for p in g]
    width = min(k, ckpt.num_items)
    items = np.zeros((len(queries), width), dtype=np.int64)
    scores = np.full((len(queries), width), -np.inf, dtype=np.float32)
    for rows, it, sc in parts:
        items[rows.numpy()] = it.numpy()
        scores[rows.numpy()] = sc.numpy()
    items[~np.isfinite(scores)] = 0
    return Recommendations(queries, items, scores)


def recommendation_rows(recs: Recommendations, item_ids: np.ndarray) -> dict[str, list[Any]]:
    """Long-format columns: the query label (``user`` or ``query``), ``rank`` (1 = best), the
    original ``item`` id and its ``score``; empty slots are left out."""
    n, width = recs.items.shape
    valid = np.isfinite(recs.scores)
    q, r = np.nonzero(valid)
    return {
        recs.queries.kind: [recs.queries.labels[i] for i in q],
        "rank": (r + 1).tolist(),
        "item": [str(item_ids[i]) for i in recs.items[q, r]],
        "score": [float(s) for s in recs.scores[q, r]],
    }


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` or the format named by ``path``'s suffix (.csv, .jsonl, .parquet)."""
    if fmt:
        if fmt not in FORMATS.values():
            raise ValueError(f"--format: unknown format {fmt!r}; choose one of {', '.join(FORMATS.values())}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{path}: cannot tell the output format from the suffix {suffix or '(none)'!r}; use "
            f"{', '.join(FORMATS)} or --format"
        )
    return FORMATS[suffix]


def encode_recommendations(recs: Recommendations, item_ids: np.ndarray, fmt: str) -> bytes:
    """The bytes of a CSV, JSONL (one object per row) or Parquet file of :func:`recommendation_rows`."""
    cols = recommendation_rows(recs, item_ids)
    names = list(cols)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*(cols[c] for c in names)))
        return buf.getvalue().encode()
    if fmt == "jsonl":
        lines = (json.dumps(dict(zip(names, row))) for row in zip(*(cols[c] for c in names)))
        return "".join(line + "\n" for line in lines).encode()
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - pyarrow is in the dev extra
            raise RuntimeError("Parquet output needs pyarrow: pip install 'rsir_pl[parquet]'") from exc
        label = cols[names[0]]
        table = pa.table(
            {
                names[0]: pa.array([str(x) for x in label]) if recs.queries.kind == "user" else pa.array(label),
                "rank": pa.array(cols["rank"], type=pa.int32()),
                "item": pa.array(cols["item"]),
                "score": pa.array(cols["score"], type=pa.float32()),
            }
        )
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    raise ValueError(f"unknown output format {fmt!r}")


def write_recommendations(
    recs: Recommendations, item_ids: np.ndarray, path: str | Path, fmt: str | None = None
) -> Path:
    """Write the recommendations atomically as CSV, JSONL or Parquet (from ``fmt`` or the suffix)."""
    data = encode_recommendations(recs, item_ids, output_format(path, fmt))
    atomic_write_bytes(path, data)
    return Path(path)
