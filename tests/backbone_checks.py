"""Generation checks every backbone must pass (shared by tests/test_<backbone>.py)."""

from __future__ import annotations

from collections.abc import Callable

from rsir_pl.config import GenerationConfig
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.synthetic import SyntheticSpec, synthetic_dataset
from rsir_pl.generation.generator import Generator
from rsir_pl.generation.reference import reference_generate
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
