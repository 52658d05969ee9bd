"""Readers for the interaction formats rsir_pl understands.

* whitespace sequence files (``user item item ...``, one user per line; S3-Rec / ICLRec format)
* RecBole atomic ``.inter`` files (tab separated, typed header such as ``user_id:token``)
* CSV or Parquet interaction logs with user, item and timestamp columns

Every reader returns an :class:`InteractionDataset` with items remapped to ``1..N`` (0 is
padding) and the original ids kept. Malformed input raises :class:`DataFormatError` naming the
file and line.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rsir_pl.data.dataset import DataFormatError, InteractionDataset, remap_items


def read_sequence_file(path: str | Path, name: str | None = None) -> InteractionDataset:
    """Read a whitespace sequence file: ``user item item ...`` per line, items chronological.

    Item ids must be non-negative integers; they are remapped to ``1..N`` in numeric order, so a
    file whose ids are already dense ``1..N`` keeps them unchanged. Blank lines are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    users: list[str] = []
    seqs: list[np.ndarray] = []
    seen: dict[str, int] = {}
    with path.open("r", encoding="utf-8", errors="strict") as fh:
        try:
            lines = list(fh)
        except UnicodeDecodeError as exc:
            raise DataFormatError(path, f"not a UTF-8 text file ({exc})") from exc
    for lineno, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        user, raw_items = parts[0], parts[1:]
        if not raw_items:
            raise DataFormatError(path, f"user {user!r} has no items", lineno)
        if user in seen:
            raise DataFormatError(path, f"duplicate user {user!r} (first seen on line {seen[user]})", lineno)
        seen[user] = lineno
        try:
            arr = np.array([int(tok) for tok in raw_items], dtype=np.int64)
        except ValueError:
            bad = next(t for t in raw_items if not _is_int(t))
            raise DataFormatError(path, f"item id {bad!r} is not an integer", lineno) from None
        if arr.min() < 0:
            bad = int(arr[arr < 0][0])
            raise DataFormatError(path, f"item id {bad} is negative", lineno)
        users.append(user)
        seqs.append(arr)
    if not seqs:
        raise DataFormatError(path, "file is empty (no user lines)")
    store, item_ids = remap_items(seqs)
    return InteractionDataset(
        name=name or path.stem,
        sequences=store,
        num_items=len(item_ids) - 1,
        item_ids=item_ids,
        user_ids=np.array(users, dtype=object),
    )


def read_recbole_inter(path: str | Path, name: str | None = None, k_core: int = 5) -> InteractionDataset:
    """Read a RecBole atomic ``.inter`` file (tab separated, header ``field:type``).

    Needs ``user_id`` and ``item_id`` columns; ``timestamp`` orders each user's items when present
    (file order breaks ties and is used when there is no timestamp).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("r", encoding="utf-8") as fh:
        header = fh.readline()
        if not header.strip():
            raise DataFormatError(path, "file is empty (no header line)", 1)
        # rstrip("\r\n"): files written on Windows would otherwise carry "\r" into the last column
        fields = [h.split(":")[0].strip() for h in header.rstrip("\r\n").split("\t")]
        missing = [c for c in ("user_id", "item_id") if c not in fields]
        if missing:
            raise DataFormatError(
                path,
                f"header lacks column(s) {', '.join(missing)}; found {', '.join(fields)} "
                "(a RecBole .inter header looks like 'user_id:token\\titem_id:token\\ttimestamp:float')",
                1,
            )
        iu, ii = fields.index("user_id"), fields.index("item_id")
        it = fields.index("timestamp") if "timestamp" in fields else None
        rows = []
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != len(fields):
                raise DataFormatError(path, f"expected {len(fields)} tab-separated columns, found {len(cols)}", lineno)
            ts = _parse_ts(cols[it], path, lineno) if it is not None else float(lineno)
            rows.append(
                (_need_id(cols[iu], "user_id", path, lineno), _need_id(cols[ii], "item_id", path, lineno), ts, lineno)
            )
    if not rows:
        raise DataFormatError(path, "file has a header but no interactions")
    return _from_rows(rows, name or path.stem, k_core, path, timed=it is not None)


def read_interaction_log(
    path: str | Path,
    name: str | None = None,
    k_core: int = 5,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str = "timestamp",
) -> InteractionDataset:
    """Read a CSV or Parquet interaction log (one row per interaction), order by timestamp.

    Every row needs a timestamp. Users and items with fewer than ``k_core`` interactions are
    removed repeatedly until none is left (``k_core <= 1`` disables the filter).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        rows = _parquet_rows(path, user_col, item_col, time_col)
    else:
        rows = _csv_rows(path, user_col, item_col, time_col)
    if not rows:
        raise DataFormatError(path, "file has no interactions")
    return _from_rows(rows, name or path.stem, k_core, path)


def read_any(path: str | Path, name: str | None = None, k_core: int = 5) -> InteractionDataset:
    """Pick the reader from the file suffix (``.inter``, ``.csv``, ``.parquet``, else sequences)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".inter":
        return read_recbole_inter(path, name, k_core)
    if suffix in (".csv", ".parquet", ".pq"):
        return read_interaction_log(path, name, k_core)
    return read_sequence_file(path, name)


def k_core_filter(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of interactions kept by iterative user/item ``k``-core filtering."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:
        return keep
    while True:
        _, uinv, ucnt = np.unique(users[keep], return_inverse=True, return_counts=True)
        _, iinv, icnt = np.unique(items[keep], return_inverse=True, return_counts=True)
        ok = (ucnt[uinv] >= k) & (icnt[iinv] >= k)
        if ok.all():
            return keep
        idx = np.flatnonzero(keep)
        keep[idx[~ok]] = False


# ---------------------------------------------------------------------------- helpers
def _is_int(tok: str) -> bool:
    try:
        int(tok)
        return True
    except ValueError:
        return False


def _parse_ts(value: str, path: Path, lineno: int) -> float:
    value = value.strip()
    if not value:
        raise DataFormatError(path, "missing timestamp", lineno)
    try:
        ts = float(value)
    except ValueError:
        raise DataFormatError(path, f"timestamp {value!r} is not a number", lineno) from None
    # float() accepts "nan" and "inf", which would silently scramble the chronological order
    if not math.isfinite(ts):
        raise DataFormatError(path, f"timestamp {value!r} is not a finite number", lineno)
    return ts


def _need_id(value: object, column: str, path: Path, lineno: object) -> str:
    """A non-empty user or item id as a string (an empty field would become a user/item named '')."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise DataFormatError(path, f"missing {column}", lineno)  # type: ignore[arg-type]
    return text


def _csv_rows(path: Path, user_col: str, item_col: str, time_col: str) -> list[tuple]:
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(path, "file is empty (no header line)", 1)
        header = [h.strip() for h in header]
        missing = [c for c in (user_col, item_col, time_col) if c not in header]
        if missing:
            raise DataFormatError(path, f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}", 1)
        iu, ii, it = header.index(user_col), header.index(item_col), header.index(time_col)
        rows = []
        for lineno, cols in enumerate(reader, start=2):
            if not cols or all(not c.strip() for c in cols):
                continue
            if len(cols) != len(header):
                raise DataFormatError(path, f"expected {len(header)} columns, found {len(cols)}", lineno)
            rows.append(
                (
                    _need_id(cols[iu], user_col, path, lineno),
                    _need_id(cols[ii], item_col, path, lineno),
                    _parse_ts(cols[it], path, lineno),
                    lineno,
                )
            )
    return rows


def _parquet_rows(path: Path, user_col: str, item_col: str, time_col: str) -> list[tuple]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{path}: reading Parquet needs pyarrow (pip install 'rsir_pl[parquet]')") from exc
    table = pq.read_table(path)
    missing = [c for c in (user_col, item_col, time_col) if c not in table.column_names]
    if missing:
        raise DataFormatError(path, f"lacks column(s) {', '.join(missing)}; found {', '.join(table.column_names)}")
    u = table.column(user_col).to_pylist()
    i = table.column(item_col).to_pylist()
    tcol = table.column(time_col)
    if pa.types.is_timestamp(tcol.type):
        # datetime objects are not floats; their integer encoding keeps the order
        tcol = tcol.cast(pa.int64())
    t = tcol.to_pylist()
    rows = []
    for r, (uu, ii, tt) in enumerate(zip(u, i, t, strict=True)):
        where = f"row {r + 1}"
        if tt is None or not isinstance(tt, (int, float)) or not math.isfinite(tt):
            raise DataFormatError(path, f"missing or non-numeric timestamp {tt!r}", where)  # type: ignore[arg-type]
        rows.append((_need_id(uu, user_col, path, where), _need_id(ii, item_col, path, where), float(tt), r + 1))
    return rows


def _from_rows(rows: Iterable[tuple], name: str, k_core: int, path: Path, timed: bool = True) -> InteractionDataset:
    """Chronological sequences from ``(user, item, time, row)`` tuples; ``timed`` keeps the times."""
    rows = list(rows)
    users = np.array([r[0] for r in rows], dtype=object)
    items = np.array([r[1] for r in rows], dtype=object)
    ts = np.array([r[2] for r in rows], dtype=np.float64)
    order_in_file = np.array([r[3] for r in rows], dtype=np.int64)
    keep = k_core_filter(users.astype(str), items.astype(str), k_core)
    if not keep.any():
        raise DataFormatError(path, f"no interaction survives {k_core}-core filtering")
    users, items, ts, order_in_file = users[keep], items[keep], ts[keep], order_in_file[keep]
    # chronological per user; the original row order is the stable tie-breaker
    order = np.lexsort((order_in_file, ts, users.astype(str)))
    users, items, ts = users[order], items[order], ts[order]
    by_user: dict[str, list] = defaultdict(list)
    times_by_user: dict[str, list] = defaultdict(list)
    for u, i, t in zip(users, items, ts):
        by_user[u].append(i)
        times_by_user[u].append(t)
    user_list = sorted(by_user)
    seqs = [np.array(by_user[u], dtype=object) for u in user_list]
    store, item_ids = remap_items(seqs, raw_item_ids=items)
    if timed:
        ts = np.concatenate([np.asarray(times_by_user[u], dtype=np.float64) for u in user_list])
    return InteractionDataset(
        name=name,
        sequences=store,
        num_items=len(item_ids) - 1,
        item_ids=item_ids,
        user_ids=np.array(user_list, dtype=object),
        times=ts if timed else None,
    )
