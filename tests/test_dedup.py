"""Hash-first duplicate detection equals the plain byte-key set, collisions included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl.data import dedup
from rsir_pl.data.dedup import first_new_rows, sequence_hashes
from rsir_pl.data.store import SequenceStore

seqs = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=4), min_size=0, max_size=25)


def reference(existing: SequenceStore, candidates: SequenceStore, rows: np.ndarray) -> tuple[list[int], int]:
    seen = {tuple(s) for s in existing.to_lists()}
    kept, dup = [], 0
    for r in rows.tolist():
        key = tuple(candidates.to_lists()[r])
        if key in seen:
            dup += 1
        else:
            seen.add(key)
            kept.append(r)
    return kept, dup


@settings(max_examples=150, deadline=None)
@given(old=seqs, new=seqs, data=st.data())
def test_first_new_rows_matches_a_plain_set(old, new, data):
    existing, candidates = SequenceStore.from_lists(old), SequenceStore.from_lists(new)
    rows = np.array(data.draw(st.lists(st.integers(0, max(len(new) - 1, 0)), max_size=len(new))) if new else [])
    rows = rows.astype(np.int64)
    kept, dup = first_new_rows(existing, candidates, rows)
    assert (kept.tolist(), dup) == reference(existing, candidates, rows)
    kept_h, dup_h = first_new_rows(existing, candidates, rows, sequence_hashes(existing))
    assert (kept_h.tolist(), dup_h) == (kept.tolist(), dup)


@pytest.mark.parametrize("bad_hash", ["constant", "length"])
def test_colliding_hashes_still_give_the_exact_answer(monkeypatch, bad_hash):
    """Every row collides (or collides with all rows of its length): the byte check decides."""

    def fake(store, rows=None):
        idx = np.arange(len(store)) if rows is None else np.asarray(rows)
        ln = store.offsets[idx + 1] - store.offsets[idx]
        return np.zeros(len(idx), np.uint64) if bad_hash == "constant" else ln.astype(np.uint64)

    monkeypatch.setattr(dedup, "sequence_hashes", fake)
    existing = SequenceStore.from_lists([[1, 2], [3, 4, 5], []])
    candidates = SequenceStore.from_lists([[2, 1], [1, 2], [2, 1], [3, 4, 6], [], [3, 4, 6]])
    rows = np.arange(6)
    kept, dup = first_new_rows(existing, candidates, rows)
    assert kept.tolist() == [0, 3] and dup == 4


def test_hashes_are_order_sensitive_and_equal_for_equal_sequences():
    s = SequenceStore.from_lists([[1, 2, 3], [3, 2, 1], [1, 2, 3], [1, 2], [], []])
    h = sequence_hashes(s)
    assert h[0] == h[2] and h[0] != h[1] and h[0] != h[3] and h[4] == h[5]
    assert sequence_hashes(s, np.array([2, 1])).tolist() == [h[2], h[1]]


def test_hashes_do_not_depend_on_the_block_size(monkeypatch):
    rng = np.random.default_rng(0)
    s = SequenceStore.from_lists([rng.integers(1, 50, size=rng.integers(0, 9)).tolist() for _ in range(500)])
    whole = sequence_hashes(s)
    monkeypatch.setattr(dedup, "HASH_BLOCK_ROWS", 7)
    assert np.array_equal(sequence_hashes(s), whole)
    rows = rng.permutation(500)[:300]
    assert np.array_equal(sequence_hashes(s, rows), whole[rows])


def test_no_rows_keeps_nothing():
    kept, dup = first_new_rows(SequenceStore.from_lists([[1]]), SequenceStore.from_lists([[1]]), np.zeros(0, np.int64))
    assert kept.tolist() == [] and dup == 0


def test_given_hashes_must_cover_the_existing_store():
    existing = SequenceStore.from_lists([[1], [2]])
    with pytest.raises(ValueError, match="existing_hashes has 1 entries for 2 sequences"):
        first_new_rows(existing, SequenceStore.from_lists([[3]]), np.zeros(1, np.int64), np.zeros(1, np.uint64))


def test_augmentation_hashes_the_source_store_once(monkeypatch):
    """Rounds add the hashes of what they kept; D_k is not hashed again each round."""
    from rsir_pl.baselines import common

    store = SequenceStore.from_lists([[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]])
    calls: list[int] = []
    real = common.sequence_hashes

    def counting(s, rows=None):
        calls.append(len(s) if rows is None else -len(rows))
        return real(s, rows)

    monkeypatch.setattr(common, "sequence_hashes", counting)

    def make_rows(rows_seq, rows_att):
        lists = [store.to_lists()[r][::-1] + [int(a) % 2 + 7] for r, a in zip(rows_seq, rows_att)]
        new = SequenceStore.from_lists(lists)
        return new, np.zeros(len(lists), np.int64), np.ones(len(lists), bool)

    res = common.run_augmentation(store, np.arange(3), make_rows, method="t", num_sequences=6, seed=0, iteration=1)
    assert len(res.sequences) == 6
    assert res.stats["rounds"] >= 2
    assert calls.count(len(store)) == 1
