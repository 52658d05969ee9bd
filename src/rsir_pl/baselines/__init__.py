"""Augmentation baselines that produce D'_{k+1} without a model (RSIR-SPEC §8, Table 1).

* :func:`reorder` (DA4Rec Reordering): shuffle a contiguous block of a sequence.
* :func:`insertion` (CoSeRec / DA4Rec Insertion): insert the ItemCF-IUF most similar item, with
  the similarity built from the real training parts only.

Both return a :class:`~rsir_pl.generation.generator.GenerationResult` exactly like the RSIR
generator (generation ``k + 1``, the source's root, ``source`` = index in D_k, ``prefix_len`` =
the leading items shared with the source), so the loop, the leakage guard and the statistics
treat them alike. Select one with ``generation.method``; ``generation.num_sequences`` sets how
many sequences are added per iteration (null: 2 copies per eligible sequence, as DA4Rec).
"""

from __future__ import annotations

from rsir_pl.baselines.insertion import ItemSimilarity, insertion
from rsir_pl.baselines.reorder import reorder
from rsir_pl.config import GenerationConfig
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.generator import GenerationResult


def augment(
    store: SequenceStore,
    d0: SequenceStore,
    num_items: int,
    config: GenerationConfig,
    seed: int,
    iteration: int,
) -> GenerationResult:
    """D'_{k+1} from D_k = ``store`` with the baseline named by ``config.method``."""
    if config.method == "reorder":
        return reorder(
            store,
            num_sequences=config.num_sequences,
            ratio=config.reorder_ratio,
            seed=seed,
            iteration=iteration,
            seed_from=config.seed_from,
        )
    if config.method == "insertion":
        return insertion(
            store,
            d0,
            num_items,
            num_sequences=config.num_sequences,
            seed=seed,
            iteration=iteration,
            seed_from=config.seed_from,
        )
    raise ValueError(f"generation.method {config.method!r} is not an augmentation baseline")


__all__ = ["augment", "reorder", "insertion", "ItemSimilarity"]
