"""Readers for the interaction formats rsir_pl understands.

* whitespace sequence files (``user item item ...``, one user per line; S3-Rec / ICLRec format)
* RecBole atomic ``.inter`` files (tab separated, typed header such as ``user_id:token``)
* CSV or Parquet interaction logs with user, item and timestamp columns

Every reader returns an :class:`InteractionDataset` with items remapped to ``1..N`` (0 is
padding) and the original ids kept. Malformed input raises :class:`DataFormatError` naming the
file and line.

Logs (CSV, Parquet, ``.inter``) are parsed by Arrow into integer code columns
(:mod:`rsir_pl.data.arrow_logs`) and grouped with NumPy (:mod:`rsir_pl.data.interactions`); a
delimited file the fast path does not accept as it is goes through the row-by-row reader below,
which words the error with its line (or reads what Arrow could not, such as quoted newlines).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rsir_pl.data import arrow_logs
from rsir_pl.data.dataset import DataFormatError, InteractionDataset, remap_items
from rsir_pl.data.interactions import InteractionColumns, k_core_mask, sorted_codes, to_dataset


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
    columns = arrow_logs.read_delimited(
        path, delimiter="\t", quoting=False, num_columns=len(fields), user=iu, item=ii, time=it
    )
    if columns is None:
        columns = _columns_from_rows(_inter_rows(path, fields, iu, ii, it), timed=it is not None)
    if len(columns) == 0:
        raise DataFormatError(path, "file has a header but no interactions")
    return to_dataset(columns, name or path.stem, k_core, path)


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
        columns = arrow_logs.read_parquet(path, user_col, item_col, time_col)
    else:
        header = _csv_header(path, user_col, item_col, time_col)
        iu, ii, it = header.index(user_col), header.index(item_col), header.index(time_col)
        columns = arrow_logs.read_delimited(
            path, delimiter=",", quoting=True, num_columns=len(header), user=iu, item=ii, time=it
        )
        if columns is None:
            columns = _columns_from_rows(_csv_rows(path, user_col, item_col, time_col), timed=True)
    return to_dataset(columns, name or path.stem, k_core, path)


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
    if k <= 1:
        return np.ones(len(users), dtype=bool)
    _, ucodes = np.unique(np.asarray(users), return_inverse=True)
    _, icodes = np.unique(np.asarray(items), return_inverse=True)
    return k_core_mask(ucodes.reshape(-1), icodes.reshape(-1), k)


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


def _csv_header(path: Path, user_col: str, item_col: str, time_col: str) -> list[str]:
    """The stripped header of a CSV log; it must name the three columns (errors name line 1)."""
    with path.open("r", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), None)
    if header is None:
        raise DataFormatError(path, "file is empty (no header line)", 1)
    header = [h.strip() for h in header]
    missing = [c for c in (user_col, item_col, time_col) if c not in header]
    if missing:
        raise DataFormatError(path, f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}", 1)
    return header


# The row-by-row reference readers: used when the Arrow fast path meets anything unusual, they word
# every error with its line, and read the files the fast path cannot (e.g. quoted newlines).
def _csv_rows(path: Path, user_col: str, item_col: str, time_col: str) -> Iterator[tuple[str, str, float]]:
    header = _csv_header(path, user_col, item_col, time_col)
    iu, ii, it = header.index(user_col), header.index(item_col), header.index(time_col)
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for lineno, cols in enumerate(reader, start=2):
            if not cols or all(not c.strip() for c in cols):
                continue
            if len(cols) != len(header):
                raise DataFormatError(path, f"expected {len(header)} columns, found {len(cols)}", lineno)
            yield (
                _need_id(cols[iu], user_col, path, lineno),
                _need_id(cols[ii], item_col, path, lineno),
                _parse_ts(cols[it], path, lineno),
            )


def _inter_rows(path: Path, fields: list[str], iu: int, ii: int, it: int | None) -> Iterator[tuple[str, str, float]]:
    with path.open("r", encoding="utf-8") as fh:
        fh.readline()
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != len(fields):
                raise DataFormatError(path, f"expected {len(fields)} tab-separated columns, found {len(cols)}", lineno)
            ts = _parse_ts(cols[it], path, lineno) if it is not None else float(lineno)
            yield (_need_id(cols[iu], "user_id", path, lineno), _need_id(cols[ii], "item_id", path, lineno), ts)


def _columns_from_rows(rows: Iterable[tuple[str, str, float]], timed: bool) -> InteractionColumns:
    """Code columns from ``(user, item, time)`` tuples in file order."""
    users, items, times = [], [], []
    for u, i, t in rows:
        users.append(u)
        items.append(i)
        times.append(t)
    ukeys, ucodes = sorted_codes(users)
    ikeys, icodes = sorted_codes(items)
    return InteractionColumns(ukeys, ucodes, ikeys, icodes, np.asarray(times, dtype=np.float64), timed)
