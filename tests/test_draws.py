"""Keyed random draws: a pure function of the key, uniform, and the same bits on the device as
with numpy (the generator draws in torch inside its decode loop; the reference in numpy)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rsir_pl import draws

keys = st.integers(0, 2**62)


@settings(max_examples=60, deadline=None)
@given(
    seed=keys,
    iteration=st.integers(0, 1000),
    step=st.integers(0, 10_000),
    purpose=st.integers(1, 10),
    seqs=st.lists(keys, min_size=1, max_size=40),
    attempts=st.integers(0, 2**31),
)
def test_torch_draws_equal_numpy_draws_bit_for_bit(seed, iteration, step, purpose, seqs, attempts):
    seq = np.asarray(seqs, dtype=np.int64)
    att = (np.arange(len(seq), dtype=np.int64) * 7919 + attempts) % (2**31)
    a = draws.keyed_uniform(seed, iteration, seq, att, step, purpose)
    b = draws.keyed_uniform_torch(seed, iteration, torch.from_numpy(seq), torch.from_numpy(att), step, purpose)
    assert b.dtype == torch.float64
    assert np.array_equal(a.view(np.uint64), b.numpy().view(np.uint64))


def test_draws_are_uniform_and_depend_on_every_key_part():
    seq = np.arange(200_000)
    u = draws.keyed_uniform(1, 2, seq, 0, 3, draws.PICK)
    assert 0.0 <= u.min() and u.max() < 1.0
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.abs(counts / len(u) - 0.1).max() < 0.005  # ~1.6% relative sd per bin at this size
    base = draws.keyed_uniform(1, 2, seq[:100], 0, 3, draws.PICK)
    for changed in (
        (9, 2, 0, 3, draws.PICK),
        (1, 9, 0, 3, draws.PICK),
        (1, 2, 9, 3, draws.PICK),
        (1, 2, 0, 9, draws.PICK),
        (1, 2, 0, 3, draws.POOL),
    ):
        s, it, att, step, purpose = changed
        other = draws.keyed_uniform(s, it, seq[:100], att, step, purpose)
        assert (other != base).mean() > 0.99
