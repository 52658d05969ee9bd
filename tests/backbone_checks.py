"""Checks every backbone must pass: the encoder contract and generation (shared by tests/test_<backbone>.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from rsir_pl.config import GenerationConfig
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.synthetic import SyntheticSpec, synthetic_dataset
from rsir_pl.generation.generator import Generator
from rsir_pl.generation.reference import reference_generate
from rsir_pl.models import load_model, save_model
from rsir_pl.models.base import SequentialRecommender


def tiny_split() -> LeaveOneOutSplit:
    ds = synthetic_dataset(SyntheticSpec(num_users=40, num_items=60, num_groups=4))
    return LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items)


def check_generator_runs(make: Callable[[int, int], SequentialRecommender]) -> None:
    """The batched generator drives the backbone end to end."""
    split = tiny_split()
    model = make(split.num_items, 20)
    result = Generator(GenerationConfig(max_len=20, m=2, progress=False), seed=0, iteration=0).run(
        model, split.train(), split.held_out_items()
    )
    assert result.stats["attempts"] > 0
    assert len(result.sequences) == result.stats["kept_sequences"]


def check_generator_matches_reference(make: Callable[[int, int], SequentialRecommender]) -> None:
    """In double precision the batched generator equals the one-at-a-time reference."""
    split = tiny_split()
    model = make(split.num_items, 20).double().eval()
    D, held = split.train(), split.held_out_items()
    cfg = GenerationConfig(max_len=20, m=2, progress=False)
    batched = Generator(cfg, seed=3, iteration=1).generate(model, D, held)
    ref = reference_generate(model, D, held, cfg, seed=3, iteration=1)
    assert batched.sequences.equals(ref.sequences)
    assert (batched.accepted == ref.accepted).all()
    assert batched.accepted.sum() > 0


# ---------------------------------------------------------------------- encoder contract
def batch_seqs() -> torch.Tensor:
    """Left-padded rows of different lengths, one of them all padding (items 1..11)."""
    return torch.tensor(
        [
            [0, 0, 0, 0, 3, 7, 9, 2],
            [1, 4, 5, 6, 7, 8, 9, 10],
            [0, 0, 0, 0, 0, 0, 0, 11],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ]
    )


def check_round_trip(model: SequentialRecommender, path: Path) -> SequentialRecommender:
    """A saved model loads back as the same class with the same outputs; returns the loaded model."""
    save_model(model, path)
    loaded = load_model(path).eval()
    assert type(loaded) is type(model)
    seqs = batch_seqs()
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(seqs), model.encode(seqs))
    return loaded


def check_causal(model: SequentialRecommender) -> None:
    """Changing a later item never changes an earlier position's output (needs items up to 14)."""
    seqs = batch_seqs()[:2]
    changed = seqs.clone()
    changed[:, -1] = 13
    changed[1, -3] = 14
    with torch.no_grad():
        h, h2 = model.encode(seqs), model.encode(changed)
    torch.testing.assert_close(h[0, :-1], h2[0, :-1], atol=1e-6, rtol=0)
    torch.testing.assert_close(h[1, :-3], h2[1, :-3], atol=1e-6, rtol=0)
    assert not torch.allclose(h[1, -1], h2[1, -1])


def check_padding_invariance(model: SequentialRecommender) -> None:
    """Extra left padding leaves every real position's output unchanged."""
    seqs = batch_seqs()
    padded = torch.cat([torch.zeros(4, 3, dtype=torch.long), seqs], dim=1)
    with torch.no_grad():
        h, hp = model.encode(seqs), model.encode(padded)[:, 3:]
    real = seqs != 0
    torch.testing.assert_close(h[real], hp[real], atol=1e-5, rtol=0)


def check_cached_decoding(model: SequentialRecommender) -> None:
    """Incremental decoding equals re-encoding the grown sequence at every step (needs items up to 27)."""
    seqs = batch_seqs()
    new = torch.tensor([[12, 13, 14, 15], [16, 17, 18, 19], [20, 21, 22, 23], [24, 25, 26, 27]])
    with torch.no_grad():
        h, state = model.start_decoding(seqs)
        torch.testing.assert_close(h, model.last_hidden(seqs), atol=1e-5, rtol=0)
        full = seqs
        for step in range(new.shape[1]):
            h, state = model.extend_decoding(state, new[:, step])
            full = torch.cat([full, new[:, step : step + 1]], dim=1)
            torch.testing.assert_close(h, model.last_hidden(full), atol=1e-5, rtol=0)


def check_select_decoding(model: SequentialRecommender) -> None:
    """Selecting rows of a decoding state keeps exactly those rows' histories."""
    seqs = batch_seqs()
    rows = torch.tensor([2, 0])
    with torch.no_grad():
        _, state = model.start_decoding(seqs)
        _, state = model.extend_decoding(state, torch.tensor([12, 13, 14, 15]))
        state = model.select_decoding(state, rows)
        h, _ = model.extend_decoding(state, torch.tensor([20, 21]))
        full = torch.cat([seqs, torch.tensor([[12], [13], [14], [15]])], dim=1)[rows]
        full = torch.cat([full, torch.tensor([[20], [21]])], dim=1)
        torch.testing.assert_close(h, model.last_hidden(full), atol=1e-5, rtol=0)
