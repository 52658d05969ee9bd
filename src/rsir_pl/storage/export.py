"""Write a training set D_k in formats other tools read, with the original user and item ids.

* :func:`write_sequence_file`: whitespace ``user item item ...`` (S3-Rec / ICLRec format)
* :func:`write_recbole_inter`: RecBole atomic ``.inter`` file, the position in the sequence as timestamp
* :func:`export_run`: rebuild D_k of a finished run directory and write it in one of the two formats

Both writers are exact inverses of the readers in :mod:`rsir_pl.data.readers` (``read_sequence_file``
and ``read_recbole_inter(path, k_core=0)``) up to the internal id numbering, and write atomically so
that an interrupted export never leaves a truncated file behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from rsir_pl.atomic import atomic_open
from rsir_pl.data.store import SequenceStore

FORMATS = ("sequences", "inter")
INTER_HEADER = "user_id:token\titem_id:token\ttimestamp:float"


def default_user_names(store: SequenceStore, real_names: np.ndarray | list[str] | None = None) -> list[str]:
    """One name per sequence: the real user's name for generation 0, else ``syn{g}_{j}_of_{root}``.

    ``real_names[r]`` names real user ``r`` (default: ``str(r)``). ``j`` counts the sequences of
    generation ``g`` in store order, so in D_k it is the row of ``iter_<g>/synthetic.npz``.
    """

    def root_name(r: int) -> str:
        return str(r) if real_names is None else str(real_names[r])

    counters: dict[int, int] = {}
    names = []
    for root, gen in zip(store.root.tolist(), store.generation.tolist(), strict=True):
        if gen == 0:
            names.append(root_name(root))
        else:
            j = counters.get(gen, 0)
            counters[gen] = j + 1
            names.append(f"syn{gen}_{j}_of_{root_name(root)}")
    return names


def write_sequence_file(
    store: SequenceStore, path: str | Path, item_ids: np.ndarray, user_names: list[str] | None = None
) -> Path:
    """Write ``user item item ...`` per sequence with original item ids ``item_ids[internal_id]``.

    The format only holds integer item ids and whitespace-free user names; anything else raises
    ValueError (use :func:`write_recbole_inter` for string ids).
    """
    path = Path(path)
    names, tokens = _prepare(store, item_ids, user_names)
    bad = next((t for t in np.unique(tokens) if not _is_plain_int(t)), None) if len(tokens) else None
    if bad is not None:
        raise ValueError(
            f"{path}: item id {bad!r} is not a non-negative integer, which the sequence format requires; "
            "export with format 'inter' instead"
        )

    def lines() -> Iterator[str]:
        off = store.offsets
        for i, name in enumerate(names):
            yield name + " " + " ".join(tokens[off[i] : off[i + 1]]) + "\n"

    _atomic_write_lines(path, lines())
    return path


def write_recbole_inter(
    store: SequenceStore, path: str | Path, item_ids: np.ndarray, user_names: list[str] | None = None
) -> Path:
    """Write a RecBole ``.inter`` file; timestamp = position in the sequence, so order survives."""
    path = Path(path)
    names, tokens = _prepare(store, item_ids, user_names)

    def lines() -> Iterator[str]:
        yield INTER_HEADER + "\n"
        off = store.offsets
        for i, name in enumerate(names):
            for pos, tok in enumerate(tokens[off[i] : off[i + 1]]):
                yield f"{name}\t{tok}\t{pos}\n"

    _atomic_write_lines(path, lines())
    return path


def build_run_store(run_dir: str | Path, iteration: int) -> tuple[SequenceStore, np.ndarray, list[str]]:
    """D_k of a run, with ``item_ids`` and one user name per sequence (see :func:`export_run`).

    Real sequences that a later sequence replaces for training (ASReP's short sequences, recorded
    as ``replaces`` in ``iter_<j>/provenance.npz``) are left out: D_k is what the model trained on.
    """
    from rsir_pl.config import DataConfig
    from rsir_pl.data.registry import load_dataset
    from rsir_pl.data.split import LeaveOneOutSplit
    from rsir_pl.storage.rundir import RunDir

    run_dir = Path(run_dir)
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0 (0 exports the real training data D_0), got {iteration}")
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path}: missing; {run_dir} is not a run directory written by rsir")
    rundir = RunDir(run_dir, writer=False)
    config = rundir.read_config()
    data = config.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError(f"{cfg_path}: 'data' must be a mapping, got {type(data).__name__}")
    defaults = DataConfig()
    dataset = load_dataset(str(data.get("dataset", defaults.dataset)), k_core=int(data.get("k_core", defaults.k_core)))
    split = LeaveOneOutSplit.from_sequences(dataset.sequences, dataset.num_items)
    parts = [split.train()]
    replaced: list[np.ndarray] = []
    for j in range(1, iteration + 1):
        rel = f"iter_{j}/synthetic.npz"
        file = run_dir / rel
        if not file.exists():
            raise FileNotFoundError(
                f"{file}: missing; D_{iteration} needs the synthetic data of iterations 1..{iteration}, "
                f"and the run has none for iteration {j} (it stopped earlier, or the file was removed)"
            )
        synthetic = rundir.read_store(rel)
        _check_synthetic(synthetic, file, split.num_users, dataset.num_items)
        prov = f"iter_{j}/provenance.npz"
        if rundir.has(prov):
            arrays = rundir.read_arrays(prov)
            if "replaces" in arrays:
                replaced.append(arrays["source"][arrays["replaces"]])
        parts.append(synthetic)
    store = SequenceStore.concat(parts)
    names = default_user_names(store, dataset.user_ids[split.users])
    if replaced:
        keep = np.ones(len(store), dtype=bool)
        keep[np.concatenate(replaced).astype(np.int64)] = False
        store = store.select(np.flatnonzero(keep))
        names = [n for n, k in zip(names, keep) if k]
    return store, dataset.item_ids, names


def export_run(run_dir: str | Path, iteration: int, fmt: Literal["sequences", "inter"], out: str | Path) -> Path:
    """Rebuild D_k of ``run_dir`` (D_0 + ``iter_1..iter_k/synthetic.npz``) and write it to ``out``.

    Real users keep their original ids; synthetic sequences are named ``syn{g}_{j}_of_{user}``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    store, item_ids, names = build_run_store(run_dir, iteration)
    writer = write_sequence_file if fmt == "sequences" else write_recbole_inter
    return writer(store, out, item_ids, names)


# ---------------------------------------------------------------------------- helpers
def _check_synthetic(store: SequenceStore, file: Path, num_users: int, num_items: int) -> None:
    """The checks ``SequenceDataModule.expand`` makes, with the file named in the message."""
    if not len(store):
        return
    if store.generation.min() < 1:
        raise ValueError(f"{file}: holds generation-0 sequences; a synthetic file holds generated data only")
    if store.root.min() < 0 or store.root.max() >= num_users:
        raise ValueError(
            f"{file}: root {int(store.root.max())} names no real user (0..{num_users - 1}): "
            "the file belongs to another dataset"
        )
    if store.num_interactions and (store.items.min() < 1 or store.max_item > num_items):
        raise ValueError(f"{file}: item ids outside the catalogue 1..{num_items}: the file belongs to another dataset")


def _prepare(store: SequenceStore, item_ids: np.ndarray, user_names: list[str] | None) -> tuple[list[str], np.ndarray]:
    """Validated user names and the original id of every stored item (flat, in store order)."""
    item_ids = np.asarray(item_ids, dtype=object)
    names = default_user_names(store) if user_names is None else [str(n) for n in user_names]
    if len(names) != len(store):
        raise ValueError(f"{len(names)} user names for {len(store)} sequences")
    empty = np.flatnonzero(store.lengths == 0)
    if len(empty):
        raise ValueError(f"sequence {int(empty[0])} is empty; the readers reject a user without items")
    if store.num_interactions and (store.items.min() < 1 or store.max_item >= len(item_ids)):
        raise ValueError(f"item ids must lie in 1..{len(item_ids) - 1} (item_ids[0] is padding)")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        # names are single tokens in both formats: whitespace splits a sequence line, a tab breaks .inter
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"user name {name!r} of sequence {i} is empty or contains whitespace")
        if name in seen:
            raise ValueError(f"user name {name!r} is used by sequences {seen[name]} and {i}; names must be unique")
        seen[name] = i
    tokens = item_ids[store.items].astype(str)
    for tok in np.unique(tokens) if len(tokens) else []:
        if not tok or any(c.isspace() for c in tok):
            raise ValueError(f"item id {tok!r} is empty or contains whitespace and cannot be written")
    return names, tokens


def _is_plain_int(token: str) -> bool:
    # stricter than int(): "+3", "1_0" or non-ASCII digits would not read back as the same string
    return token.isascii() and token.isdigit()


def _atomic_write_lines(path: Path, lines: Iterator[str]) -> None:
    """Stream ``lines`` into ``path`` atomically, in blocks of 8,192 lines."""
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 8192:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
