"""Fast paths of the log readers: delimited text and Parquet parsed by Arrow into code columns.

Arrow parses the file in C++ (multi-threaded), ids are dictionary-encoded while parsing, so only
the distinct ids ever become Python strings (stripped with Python's own ``str.strip``, then sorted).
The fast paths do not know line numbers, so they never word an error about a row: for a
delimited file anything unusual (a row Arrow cannot parse, a blank id, a missing or non-finite
timestamp, text that is not UTF-8) returns ``None``, and the caller re-reads the file with the
row-by-row reference reader, which either names the file and the line or, when the file was
valid after all (e.g. a quoted newline), returns the rows itself. Parquet rows are numbered by
position, so its errors are worded here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rsir_pl.data.dataset import DataFormatError
from rsir_pl.data.interactions import InteractionColumns, sorted_codes

#: bytes of text Arrow parses per block
BLOCK_BYTES = 64 << 20


def read_delimited(
    path: Path,
    *,
    delimiter: str,
    quoting: bool,
    num_columns: int,
    user: int,
    item: int,
    time: int | None,
) -> InteractionColumns | None:
    """The interactions of a delimited file whose one header line was already validated.

    ``user``, ``item`` and ``time`` are column positions (``time=None``: order by file position,
    no timestamps kept). Returns ``None`` when the reference reader must decide (see the module).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [f"c{j}" for j in range(num_columns)]
    wanted = {user: pa.dictionary(pa.int32(), pa.string()), item: pa.dictionary(pa.int32(), pa.string())}
    if time is not None:
        wanted[time] = pa.float64()

    def skip_blank(row: pcsv.InvalidRow) -> str:
        # a row of blank cells is skipped by the reference reader whatever its column count
        text = row.text or ""
        cells = next(csv.reader([text], delimiter=delimiter), []) if quoting else text.split(delimiter)
        return "skip" if all(not c.strip() for c in cells) else "error"

    try:
        table = pcsv.read_csv(
            path,
            # big blocks: each block dictionary-encodes its ids on its own, and unifying hundreds of
            # 1 MiB blocks' dictionaries costs far more than parsing (75 s against 3 s at 10^7 rows)
            read_options=pcsv.ReadOptions(skip_rows=1, column_names=names, block_size=BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                double_quote=quoting,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=skip_blank,
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=[names[j] for j in wanted],
                column_types={names[j]: t for j, t in wanted.items()},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    table = table.unify_dictionaries()
    ukeys, ucodes = _id_codes(table.column(names[user]))
    ikeys, icodes = _id_codes(table.column(names[item]))
    if ucodes is None or icodes is None or "" in (ukeys[:1].tolist() + ikeys[:1].tolist()):
        return None  # a blank id: a blank row to skip or an error to place, the reference decides
    n = len(ucodes)
    if time is None:
        times, timed = np.arange(n, dtype=np.float64), False
    else:
        col = table.column(names[time])
        if col.null_count:
            return None
        times = col.to_numpy()
        if not np.isfinite(times).all():
            return None
        timed = True
    return InteractionColumns(ukeys, ucodes, ikeys, icodes, times, timed)


def read_parquet(path: Path, user_col: str, item_col: str, time_col: str) -> InteractionColumns:
    """The interactions of a Parquet file; errors name the file and the row (1-based position)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    missing = [c for c in (user_col, item_col, time_col) if c not in names]
    if missing:
        raise DataFormatError(path, f"lacks column(s) {', '.join(missing)}; found {', '.join(names)}")
    table = pq.read_table(path, columns=list(dict.fromkeys((user_col, item_col, time_col))))
    n = table.num_rows
    tcol = table.column(time_col)
    bad = np.zeros(n, dtype=bool)
    if pa.types.is_timestamp(tcol.type):
        tcol = tcol.cast(pa.int64())  # datetimes are not floats; their integer encoding keeps the order
    numeric = pa.types.is_integer(tcol.type) or pa.types.is_floating(tcol.type) or pa.types.is_boolean(tcol.type)
    if numeric:
        times = tcol.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad |= ~np.isfinite(times)  # nulls arrive as NaN
    else:
        bad[:] = True  # e.g. strings or dates: the reference reader rejected every such value
        times = np.zeros(n)
    ukeys, ucodes = _id_codes(table.column(user_col), allow_null=True)
    ikeys, icodes = _id_codes(table.column(item_col), allow_null=True)
    bad_u = _blank(ukeys, ucodes)
    bad_i = _blank(ikeys, icodes)
    if bad.any() or bad_u.any() or bad_i.any():
        r = int(np.flatnonzero(bad | bad_u | bad_i)[0])
        where = f"row {r + 1}"
        if bad[r]:
            value = table.column(time_col)[r].as_py()
            raise DataFormatError(path, f"missing or non-numeric timestamp {value!r}", where)  # type: ignore[arg-type]
        raise DataFormatError(path, f"missing {user_col if bad_u[r] else item_col}", where)  # type: ignore[arg-type]
    return InteractionColumns(ukeys, ucodes, ikeys, icodes, times, True)


def _id_codes(column, allow_null: bool = False) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: ANN001
    """Sorted distinct ids (``str(value).strip()``, as the reference reader words them) and the code
    of every row; a null id gets code -1 (or, without ``allow_null``, the codes are None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        # one array, one dictionary: encoding chunk by chunk and unifying the chunks' dictionaries
        # costs three times as much at 10^7 rows
        column = pa.chunked_array([pc.dictionary_encode(column.combine_chunks())])
    else:  # one dictionary for all chunks (Arrow encodes each parsed block on its own)
        column = pa.table({"c": column}).unify_dictionaries().column("c")
    if column.num_chunks == 0 or len(column) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int32)
    indices = pa.chunked_array([c.indices for c in column.chunks]).combine_chunks()
    if indices.null_count and not allow_null:
        return np.zeros(0, dtype=object), None
    keys, dict_codes = sorted_codes(
        ["" if v is None else str(v).strip() for v in column.chunk(0).dictionary.to_pylist()]
    )
    if not indices.null_count:
        return keys, dict_codes[indices.to_numpy()]
    idx = indices.fill_null(-1).to_numpy()
    if len(dict_codes) == 0:  # every id is null
        return keys, np.full(len(idx), -1, dtype=np.int32)
    return keys, np.where(idx >= 0, dict_codes[np.maximum(idx, 0)], -1)


def _blank(keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Rows whose id is null or blank (blank sorts first, so only code 0 can be blank)."""
    out = codes < 0
    if len(keys) and keys[0] == "":
        out |= codes == 0
    return out
