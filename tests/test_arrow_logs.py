"""The Arrow fast paths read exactly what the row-by-row reference reader reads, hand anything
unusual to it, and word Parquet errors with the row."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl.data import arrow_logs
from rsir_pl.data.dataset import DataFormatError
from rsir_pl.data.interactions import to_dataset
from rsir_pl.data.readers import _columns_from_rows, _csv_rows, _inter_rows, read_interaction_log, read_recbole_inter


def same(a, b):
    assert a.sequences.equals(b.sequences)
    assert a.item_ids.tolist() == b.item_ids.tolist() and a.user_ids.tolist() == b.user_ids.tolist()
    assert (a.times is None and b.times is None) or a.times.tolist() == b.times.tolist()


def reference_csv(path, k_core):
    return to_dataset(_columns_from_rows(_csv_rows(path, "user", "item", "timestamp"), True), path.stem, k_core, path)


def fast_csv(path):
    return arrow_logs.read_delimited(path, delimiter=",", quoting=True, num_columns=3, user=0, item=1, time=2)


row = st.tuples(
    st.sampled_from(["u1", " u1", "u2 ", "u\u00e9", "10", "9", "u 3"]),
    st.sampled_from(["a", "b ", "c", "007", "7", '"q,r"']),
    st.sampled_from(["1", "2", " 2", "1e3", "-5.5", "2.0"]),
)


@given(st.lists(row, min_size=1, max_size=40), st.integers(0, 3), st.booleans())
@settings(max_examples=40, deadline=None)
def test_csv_fast_path_equals_reference(tmp_path_factory, rows, k_core, blank_lines):
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    lines = [f"{u},{i},{t}" for u, i, t in rows]
    if blank_lines:
        lines = [x for line in lines for x in (line, "")]  # empty lines are skipped by both
    path.write_text("user,item,timestamp\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert fast_csv(path) is not None  # nothing unusual: the fast path read it
    try:
        want = reference_csv(path, k_core)
    except DataFormatError as exc:  # e.g. nothing survives the k-core
        with pytest.raises(DataFormatError, match=str(exc).split(":")[-1].strip()):
            read_interaction_log(path, k_core=k_core)
        return
    same(read_interaction_log(path, k_core=k_core), want)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("x,a,1\n,,\n  \nz,b,2\n", {"x": ["a"], "z": ["b"]}),  # blank rows with and without commas
        ("x,a,1_000\nx,b,2\n", {"x": ["b", "a"]}),  # Python's float() reads 1_000, Arrow does not
        ("x,a,2\nx,b,\u0661\n", {"x": ["b", "a"]}),  # an Arabic-Indic digit one, for Python
    ],
    ids=["blank-rows", "underscore-number", "unicode-digit"],
)
def test_unusual_valid_csv_goes_through_the_reference(tmp_path, body, expected):
    path = tmp_path / "odd.csv"
    path.write_text("user,item,timestamp\n" + body, encoding="utf-8")
    assert fast_csv(path) is None
    ds = read_interaction_log(path, k_core=0)
    assert {u: [ds.item_ids[i] for i in s] for u, s in zip(ds.user_ids, ds.sequences)} == expected


def test_quoted_newline(tmp_path):
    path = tmp_path / "nl.csv"
    path.write_text('user,item,timestamp\n"x\ny",a,1\nz,b,2\n', encoding="utf-8")
    ds = read_interaction_log(path, k_core=0)
    assert ds.user_ids.tolist() == ["x\ny", "z"] and ds.sequences.to_lists() == [[1], [2]]


def test_short_blank_row_is_skipped_by_the_fast_path(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("user,item,timestamp\nx,a,1\n , \nx,b,2\n", encoding="utf-8")
    assert fast_csv(path) is not None
    assert read_interaction_log(path, k_core=0).sequences.to_lists() == [[1, 2]]


def test_non_utf8_csv_keeps_the_reference_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"user,item,timestamp\nx,\xe9,1\n")
    with pytest.raises(UnicodeDecodeError):
        read_interaction_log(path, k_core=0)


@pytest.mark.parametrize("with_time", [True, False])
def test_inter_fast_path_equals_reference(tmp_path, with_time):
    header = "user_id:token\titem_id:token" + ("\ttimestamp:float" if with_time else "")
    body = [("u2", "b", 3), ("u1", "a", 1), ("u2", "a", 1), ("u1", " c", 1), ("u2", "c", 2)]
    text = header + "\n" + "".join(f"{u}\t{i}" + (f"\t{t}" if with_time else "") + "\n" for u, i, t in body)
    path = tmp_path / "x.inter"
    fields = ["user_id", "item_id"] + (["timestamp"] if with_time else [])
    path.write_text(text + "\t".join(" " * len(fields)) + "\n", encoding="utf-8")  # a row of blanks at the end
    t = 2 if with_time else None
    cols = arrow_logs.read_delimited(
        path, delimiter="\t", quoting=False, num_columns=len(fields), user=0, item=1, time=t
    )
    assert cols is None  # the blank row of the right width: the reference decides
    path.write_text(text, encoding="utf-8")
    cols = arrow_logs.read_delimited(
        path, delimiter="\t", quoting=False, num_columns=len(fields), user=0, item=1, time=t
    )
    assert cols is not None and cols.timed == with_time
    want = to_dataset(_columns_from_rows(_inter_rows(path, fields, 0, 1, t), with_time), "x", 0, path)
    same(read_recbole_inter(path, k_core=0), want)
    order = {"u1": ["a", "c"], "u2": ["a", "c", "b"]} if with_time else {"u1": ["a", "c"], "u2": ["b", "a", "c"]}
    ds = read_recbole_inter(path, k_core=0)
    assert {u: [ds.item_ids[i] for i in s] for u, s in zip(ds.user_ids, ds.sequences)} == order


# ------------------------------------------------------------------------- Parquet
def write_parquet(path, columns, row_group_size=None):
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


@pytest.mark.parametrize(
    "columns, row, words",
    [
        ({"user": ["a", "b", "c"], "item": ["x", "y", "z"], "timestamp": [1.0, float("nan"), 2.0]}, 2, "nan"),
        ({"user": ["a", None, "c"], "item": ["x", "y", "z"], "timestamp": [1.0, 2.0, 3.0]}, 2, "missing user"),
        ({"user": ["a", "b", "c"], "item": ["x", "y", "  "], "timestamp": [1, 2, 3]}, 3, "missing item"),
        ({"user": ["a", "b"], "item": ["x", "y"], "timestamp": ["1", "2"]}, 1, "'1'"),
        ({"user": ["a", None], "item": ["x", "y"], "timestamp": [1.0, None]}, 2, "None"),  # time before ids
        ({"user": [None, None], "item": ["x", "y"], "timestamp": [1, 2]}, 1, "missing user"),
    ],
    ids=["nan-time", "null-user", "blank-item", "string-time", "both-bad", "all-null-users"],
)
def test_parquet_errors_name_the_row(tmp_path, columns, row, words):
    path = write_parquet(tmp_path / "bad.parquet", columns)
    with pytest.raises(DataFormatError) as info:
        read_interaction_log(path, k_core=0)
    assert f"bad.parquet:row {row}:" in str(info.value) and words in str(info.value)


def test_parquet_ids_are_worded_as_python_does_and_chunks_share_one_dictionary(tmp_path):
    n = 40
    users = pa.array([f"u{i % 7}" for i in range(n)]).dictionary_encode()
    path = write_parquet(
        tmp_path / "ids.parquet",
        {"user": users, "item": [1.5 if i % 2 else 2 + i % 3 for i in range(n)], "timestamp": np.arange(n)[::-1]},
        row_group_size=9,  # several row groups: several chunks, each with its own dictionary
    )
    ds = read_interaction_log(path, k_core=0)
    assert ds.user_ids.tolist() == [f"u{i}" for i in range(7)]
    assert ds.item_ids.tolist() == ["", "1.5", "2.0", "3.0", "4.0"]  # str(float), as the row reader wrote
    first = [ds.item_ids[i] for i in ds.sequences[0]]
    want = [("1.5" if i % 2 else f"{2 + i % 3}.0") for i in range(n) if i % 7 == 0][::-1]
    assert first == want


def test_parquet_datetimes_and_booleans(tmp_path):
    day = dt.datetime(2021, 5, 1)
    path = write_parquet(
        tmp_path / "t.parquet",
        {
            "user": ["a", "a", "b", "b"],
            "item": ["x", "y", "x", "y"],
            "timestamp": [day, day - dt.timedelta(1), day, day],
        },
    )
    ds = read_interaction_log(path, k_core=0)
    assert [[ds.item_ids[i] for i in s] for s in ds.sequences] == [["y", "x"], ["x", "y"]]
    flags = write_parquet(tmp_path / "b.parquet", {"user": ["a", "a"], "item": ["x", "y"], "timestamp": [True, False]})
    assert read_interaction_log(flags, k_core=0).times.tolist() == [0.0, 1.0]
