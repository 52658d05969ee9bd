"""The loaded dataset: chronological user sequences with internal ids and the id mapping."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from rsir_pl.data.store import SequenceStore


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and, where known, the line."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


@dataclass
class InteractionDataset:
    """Chronological item sequences of real users, ids remapped to ``1..num_items``.

    ``item_ids[i]`` is the original id (a string) of internal item ``i``; ``item_ids[0]`` is the
    padding placeholder ``""``. ``user_ids[u]`` is the original id of sequence ``u``.
    ``times`` (float64, parallel to ``sequences.items``) holds each interaction's timestamp when
    the source file has one (CSV/Parquet logs, ``.inter`` with a timestamp column), else None.
    """

    name: str
    sequences: SequenceStore
    num_items: int
    item_ids: np.ndarray
    user_ids: np.ndarray
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.sequences) != len(self.user_ids):
            raise ValueError("one user id per sequence is required")
        if len(self.item_ids) != self.num_items + 1:
            raise ValueError("item_ids needs num_items + 1 entries (index 0 is padding)")
        if self.sequences.num_interactions and (
            self.sequences.items.min() < 1 or self.sequences.max_item > self.num_items
        ):
            raise ValueError("internal item ids must lie in 1..num_items")
        if self.times is not None:
            self.times = np.ascontiguousarray(self.times, dtype=np.float64)
            if self.times.shape != self.sequences.items.shape:
                raise ValueError("times needs one timestamp per stored interaction")

    @property
    def num_users(self) -> int:
        """Number of user sequences."""
        return len(self.sequences)

    def fingerprint(self) -> str:
        """Short SHA-256 of the content in original ids (users, items, sequences in order): two
        loads of the same data agree, and any change of ids, order or interactions changes it."""
        h = hashlib.sha256()
        for ids in (self.item_ids, self.user_ids):
            h.update("\x1f".join(str(x) for x in ids).encode())
            h.update(b"\x1e")
        h.update(np.ascontiguousarray(self.sequences.offsets, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.sequences.items, dtype=np.int32).tobytes())
        return h.hexdigest()[:16]

    def stats(self) -> dict[str, float]:
        """Users, items, interactions, mean length and sparsity."""
        n_inter = self.sequences.num_interactions
        users, items = self.num_users, self.num_items
        return {
            "users": users,
            "items": items,
            "interactions": n_inter,
            "mean_length": n_inter / max(users, 1),
            "density": n_inter / max(users * items, 1),
            "sparsity": 1.0 - n_inter / max(users * items, 1),
        }


def remap_items(
    raw_sequences: list[np.ndarray], raw_item_ids: np.ndarray | None = None
) -> tuple[SequenceStore, np.ndarray]:
    """Map raw item keys (ints or strings) to dense ids ``1..N`` in sorted key order.

    Returns the store and ``item_ids`` (original key as a string per internal id, index 0 = "").
    """
    lengths = np.fromiter((len(s) for s in raw_sequences), dtype=np.int64, count=len(raw_sequences))
    flat = (
        np.concatenate(raw_sequences)
        if raw_sequences
        else np.zeros(0, dtype=np.int64 if raw_item_ids is None else object)
    )
    keys, inverse = np.unique(flat, return_inverse=True)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    store = SequenceStore((inverse + 1).astype(np.int32), offsets)
    item_ids = np.concatenate([np.array([""], dtype=object), keys.astype(str).astype(object)])
    return store, item_ids
