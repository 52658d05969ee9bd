"""Readers: valid inputs give the right sequences; malformed inputs name the file and the line."""

import numpy as np
import pytest

from rsir_pl.data.dataset import DataFormatError
from rsir_pl.data.readers import (
    k_core_filter,
    read_any,
    read_interaction_log,
    read_recbole_inter,
    read_sequence_file,
)


def original(ds):
    """{user: [original item id, ...]}: comparable across readers whatever the internal ids."""
    return {str(u): [str(ds.item_ids[i]) for i in seq] for u, seq in zip(ds.user_ids, ds.sequences, strict=True)}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- sequence files
def test_valid_sequence_file(tmp_path):
    path = write(tmp_path, "toy.txt", "1 10 20 30\n\n2 20 5\n3 7 7 10\n")
    ds = read_sequence_file(path)
    assert ds.name == "toy"
    assert ds.num_users == 3 and ds.num_items == 5
    # ids are remapped in numeric order (not string order: "10" < "5" as strings)
    assert ds.item_ids.tolist() == ["", "5", "7", "10", "20", "30"]
    assert ds.sequences.to_lists() == [[3, 4, 5], [4, 1], [2, 2, 3]]
    assert ds.user_ids.tolist() == ["1", "2", "3"]
    assert original(ds) == {"1": ["10", "20", "30"], "2": ["20", "5"], "3": ["7", "7", "10"]}


def test_dense_ids_are_kept(tmp_path):
    ds = read_sequence_file(write(tmp_path, "dense.txt", "a 1 2 3\nb 3 4\n"))
    assert ds.sequences.to_lists() == [[1, 2, 3], [3, 4]]


def test_missing_sequence_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_sequence_file(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("1 2 3\n2 1 a 3\n", 2, ["'a'", "not an integer"]),
        ("1 2 3\n\n2 4 -5 6\n", 3, ["-5", "negative"]),
        ("1 2 3\n7\n", 2, ["'7'", "no items"]),
        ("1 2 3\n2 5\n1 4 5\n", 3, ["duplicate user '1'", "line 1"]),
    ],
    ids=["non-integer", "negative", "no-items", "duplicate-user"],
)
def test_malformed_sequence_file_names_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, "bad_seq.txt", text)
    with pytest.raises(DataFormatError) as info:
        read_sequence_file(path)
    msg = str(info.value)
    assert f"bad_seq.txt:{line}:" in msg
    assert info.value.line == line and info.value.path == str(path)
    for w in words:
        assert w in msg


@pytest.mark.parametrize("text", ["", "\n  \n\n"], ids=["empty", "blank-lines"])
def test_empty_sequence_file(tmp_path, text):
    path = write(tmp_path, "empty_seq.txt", text)
    with pytest.raises(DataFormatError, match=r"empty_seq\.txt.*empty"):
        read_sequence_file(path)


def test_non_utf8_sequence_file(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"1 2 3\n\xff\xfe 4\n")
    with pytest.raises(DataFormatError, match=r"latin\.txt.*UTF-8"):
        read_sequence_file(path)


# ------------------------------------------------------------------------- RecBole .inter
INTER = (
    "user_id:token\titem_id:token\ttimestamp:float\n"
    "u1\tB\t30\n"
    "u2\tA\t5\n"
    "u1\tA\t10\n"
    "u1\tC\t20\n"
    "u2\tC\t5\n"  # tie with the row above: file order decides
)


def test_valid_recbole_inter_orders_by_time_then_file_order(tmp_path):
    ds = read_recbole_inter(write(tmp_path, "toy.inter", INTER), k_core=0)
    assert original(ds) == {"u1": ["A", "C", "B"], "u2": ["A", "C"]}
    assert ds.item_ids.tolist() == ["", "A", "B", "C"]


def test_recbole_inter_without_timestamp_keeps_file_order_and_crlf(tmp_path):
    path = tmp_path / "crlf.inter"
    path.write_bytes(b"user_id:token\titem_id:token\r\nx\tb\r\nx\ta\r\ny\tb\r\n")
    ds = read_recbole_inter(path, k_core=0)
    assert original(ds) == {"x": ["b", "a"], "y": ["b"]}


def test_recbole_inter_without_item_column(tmp_path):
    path = write(tmp_path, "noitem.inter", "user_id:token\trating:float\ttimestamp:float\nu\t5\t1\n")
    with pytest.raises(DataFormatError) as info:
        read_recbole_inter(path, k_core=0)
    msg = str(info.value)
    assert "noitem.inter:1:" in msg and "item_id" in msg.split(";")[0]
    assert "user_id" not in msg.split(";")[0]  # only the missing column is named as missing


@pytest.mark.parametrize(
    "row, words",
    [
        ("u2\tB\t\n", ["missing timestamp"]),
        ("u2\tB\tlater\n", ["'later'"]),
        ("u2\tB\n", ["3 tab-separated", "2"]),
        ("u2\tB\tnan\n", ["'nan'", "finite"]),
        ("\tB\t4\n", ["missing user_id"]),
    ],
    ids=["no-timestamp", "bad-timestamp", "short-row", "nan-timestamp", "no-user"],
)
def test_malformed_inter_rows_name_the_line(tmp_path, row, words):
    path = write(tmp_path, "rows.inter", "user_id:token\titem_id:token\ttimestamp:float\nu1\tA\t1\n\n" + row)
    with pytest.raises(DataFormatError) as info:
        read_recbole_inter(path, k_core=0)
    assert "rows.inter:4:" in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_inter_with_header_only(tmp_path):
    with pytest.raises(DataFormatError, match=r"hdr\.inter.*no interactions"):
        read_recbole_inter(write(tmp_path, "hdr.inter", "user_id:token\titem_id:token\n"), k_core=0)


# ------------------------------------------------------------------------- CSV / Parquet logs
def grid_rows():
    """4 users x items; user u4 and item z are rare and must fall to a 3-core filter."""
    rows = []
    t = 0
    for u in ("u1", "u2", "u3"):
        for item in ("x", "y", "w"):
            t += 1
            rows.append((u, item, 100 - t))  # later rows are older: the reader must sort by time
    rows += [("u4", "x", 1), ("u4", "z", 2), ("u1", "z", 0)]
    return rows


def write_csv(tmp_path, name, rows, header="user,item,timestamp"):
    return write(tmp_path, name, header + "\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))


def test_csv_k_core_and_chronological_order(tmp_path):
    path = write_csv(tmp_path, "log.csv", grid_rows())
    ds = read_interaction_log(path, k_core=3)
    # u4 (2 interactions) goes; then z keeps only u1's interaction and goes too
    assert original(ds) == {"u1": ["w", "y", "x"], "u2": ["w", "y", "x"], "u3": ["w", "y", "x"]}
    everything = read_interaction_log(path, k_core=0)
    assert original(everything)["u1"] == ["z", "w", "y", "x"]
    assert original(everything)["u4"] == ["x", "z"]


def test_csv_ties_are_broken_by_file_order(tmp_path):
    rows = [("a", "3", 5), ("a", "1", 5), ("a", "2", 4), ("a", "9", 5)]
    ds = read_interaction_log(write_csv(tmp_path, "ties.csv", rows), k_core=0)
    assert original(ds) == {"a": ["2", "3", "1", "9"]}


def test_csv_missing_timestamp_names_the_line(tmp_path):
    path = write(tmp_path, "gaps.csv", "user,item,timestamp\na,1,1\nb,2,2\na,3,\n")
    with pytest.raises(DataFormatError) as info:
        read_interaction_log(path, k_core=0)
    assert "gaps.csv:4:" in str(info.value) and "missing timestamp" in str(info.value)
    assert info.value.line == 4


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("user,item\na,1\n", 1, ["timestamp"]),
        ("user,item,timestamp\na,1,1\na,2\n", 3, ["expected 3 columns"]),
        ("user,item,timestamp\na,1,1\na,,2\n", 3, ["missing item"]),
        ("user,item,timestamp\na,1,inf\n", 2, ["finite"]),
    ],
    ids=["no-time-column", "short-row", "no-item", "infinite-time"],
)
def test_malformed_csv(tmp_path, text, line, words):
    with pytest.raises(DataFormatError) as info:
        read_interaction_log(write(tmp_path, "bad.csv", text), k_core=0)
    assert f"bad.csv:{line}:" in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_custom_column_names(tmp_path):
    path = write(tmp_path, "named.csv", "ts,who,what\n2,a,p\n1,a,q\n")
    ds = read_interaction_log(path, k_core=0, user_col="who", item_col="what", time_col="ts")
    assert original(ds) == {"a": ["q", "p"]}


def test_k_core_filter_removes_nothing_when_disabled():
    users = np.array(["a", "b"])
    items = np.array(["x", "y"])
    assert k_core_filter(users, items, 0).all() and k_core_filter(users, items, 1).all()
    assert not k_core_filter(users, items, 2).any()


def test_k_core_nothing_survives(tmp_path):
    with pytest.raises(DataFormatError, match=r"sparse\.csv.*5-core"):
        read_interaction_log(write_csv(tmp_path, "sparse.csv", grid_rows()), k_core=5)


def parquet(tmp_path, name, table_dict):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / name
    pq.write_table(pa.table(table_dict), path)
    return path


def test_parquet_matches_csv(tmp_path):
    rows = grid_rows()
    path = parquet(
        tmp_path,
        "log.parquet",
        {
            "user": [r[0] for r in rows],
            "item": [r[1] for r in rows],
            "timestamp": [r[2] for r in rows],
        },
    )
    from_parquet = read_interaction_log(path, k_core=3)
    from_csv = read_interaction_log(write_csv(tmp_path, "log.csv", rows), k_core=3)
    assert original(from_parquet) == original(from_csv)
    assert original(read_interaction_log(path, k_core=0))["u1"] == ["z", "w", "y", "x"]


def test_parquet_datetime_timestamps_and_int_items(tmp_path):
    import datetime as dt

    day = dt.datetime(2020, 1, 1)
    path = parquet(
        tmp_path,
        "dt.parquet",
        {
            "user": ["a", "a", "a"],
            "item": [30, 10, 20],
            "timestamp": [day + dt.timedelta(days=2), day, day + dt.timedelta(days=1)],
        },
    )
    assert original(read_interaction_log(path, k_core=0)) == {"a": ["10", "20", "30"]}


def test_parquet_missing_timestamp_names_the_row(tmp_path):
    path = parquet(tmp_path, "holes.parquet", {"user": ["a", "b"], "item": ["x", "y"], "timestamp": [1.0, None]})
    with pytest.raises(DataFormatError, match=r"holes\.parquet:row 2:.*timestamp"):
        read_interaction_log(path, k_core=0)


def test_parquet_missing_column(tmp_path):
    path = parquet(tmp_path, "cols.parquet", {"user": ["a"], "item": ["x"]})
    with pytest.raises(DataFormatError, match=r"cols\.parquet.*timestamp"):
        read_interaction_log(path, k_core=0)


# ------------------------------------------------------------------------- dispatch
def test_read_any_dispatches_on_suffix(tmp_path):
    seq = read_any(write(tmp_path, "s.txt", "u 1 2\n"))
    assert original(seq) == {"u": ["1", "2"]}
    inter = read_any(write(tmp_path, "s.inter", INTER), k_core=0)
    assert original(inter) == {"u1": ["A", "C", "B"], "u2": ["A", "C"]}
    log = read_any(write(tmp_path, "s.CSV", "user,item,timestamp\nu,b,2\nu,a,1\n"), k_core=0)
    assert original(log) == {"u": ["a", "b"]}
    # the suffix decides: a log written as .txt is read (and rejected) as a sequence file
    with pytest.raises(DataFormatError, match=r"log\.txt:1:"):
        read_any(write(tmp_path, "log.txt", "user,item,timestamp\nu,b,2\n"))
    # k_core is passed through (u2 has 2 interactions, then every item falls below 3)
    with pytest.raises(DataFormatError, match="3-core"):
        read_any(write(tmp_path, "k.inter", INTER), k_core=3)


def test_read_any_parquet(tmp_path):
    path = parquet(tmp_path, "p.parquet", {"user": ["u", "u"], "item": ["b", "a"], "timestamp": [2, 1]})
    assert original(read_any(path, k_core=0)) == {"u": ["a", "b"]}


def test_csv_keeps_timestamps_parallel_to_items(tmp_path):
    rows = [("b", "x", 30), ("a", "y", 7), ("b", "y", 10), ("a", "x", 9), ("b", "z", 20)]
    ds = read_interaction_log(write_csv(tmp_path, "timed.csv", rows), k_core=0)
    assert original(ds) == {"a": ["y", "x"], "b": ["y", "z", "x"]}
    assert ds.times is not None and ds.times.tolist() == [7.0, 9.0, 10.0, 20.0, 30.0]


def test_inter_keeps_timestamps_only_when_the_file_has_them(tmp_path):
    timed = read_recbole_inter(write(tmp_path, "toy.inter", INTER), k_core=0)
    assert timed.times is not None and len(timed.times) == timed.sequences.num_interactions
    path = tmp_path / "untimed.inter"
    path.write_text("user_id:token\titem_id:token\nx\tb\nx\ta\n")
    assert read_recbole_inter(path, k_core=0).times is None
