"""The end-of-generation log line: the counts the progress bar shows, and what each filter dropped."""

from __future__ import annotations

import torch

import rsir_pl.generation.generator as generator_module
from rsir_pl.config import DataConfig, GenerationConfig, ModelConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.loop.callback import generate_for_next_iteration, generation_summary
from rsir_pl.models import build_model


class _Bar:
    """Stands in for the tqdm bar and remembers its last postfix."""

    def __init__(self) -> None:
        self.postfix: dict[str, int] = {}

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **values: int) -> None:
        self.postfix = values

    def close(self) -> None:
        pass


def test_log_line_agrees_with_the_progress_bar_and_names_every_drop(monkeypatch):
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20))
    dm.setup()
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=16, layers=1, heads=1), dm.num_items, 20)
    bars: list[_Bar] = []
    monkeypatch.setattr(generator_module, "progress_bar", lambda *args: bars.append(_Bar()) or bars[-1])
    config = GenerationConfig(m=2, max_len=20, tau=50, max_synthetic_ratio=0.02, progress=True)
    s = generate_for_next_iteration(model, dm, config, seed=1, iteration=0).stats
    assert bars[-1].postfix == {"steps": s["accepted_steps"], "candidates": s["attempts_with_accepted_step"]}
    assert s["capped_dropped"] > 0
    assert s["attempts_with_accepted_step"] == (
        s["too_short_dropped"] + s["duplicates_dropped"] + s["capped_dropped"] + s["kept_sequences"]
    )
    line = generation_summary(s)
    for text in (
        f"{s['accepted_steps']:,} accepted steps",
        f"{s['attempts_with_accepted_step']:,} candidates",
        f"{s['too_short_dropped']:,} shorter than min_len",
        f"{s['duplicates_dropped']:,} duplicates",
        f"{s['capped_dropped']:,} over the max_synthetic_ratio cap",
        f"kept {s['kept_sequences']:,} sequences",
    ):
        assert text in line, (text, line)
