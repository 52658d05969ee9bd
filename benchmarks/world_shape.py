"""Shape of the embedded world against the Amazon sets RSIR is meant for, measured without a model.

    python benchmarks/world_shape.py [--results benchmarks/RESULTS.md]

For Beauty and Toys (when their files are in $RSIR_DATA_DIR) and the embedded ``synthetic`` and
``synthetic-tiny`` worlds: users, items, items per user, history lengths (mean, median, share at the
floor of 5, share above 20), popularity (Gini, share of the top 10% of items), sequential structure
(the share of validation steps ``last training item -> validation item`` that occur anywhere in
the training parts; the mean share of an item's most frequent successor among its outgoing training
transitions, over items with at least 5), the NDCG@10 of ranking by training popularity (history
masked) and, for the worlds, the oracle (ranking by the true distribution). The world's defaults
(src/rsir_pl/data/synthetic.py) were chosen on these statistics, never on a model's results.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results, markdown_table, section  # noqa: E402
from rsir_pl.data.oracle import oracle_metrics  # noqa: E402
from rsir_pl.data.registry import known_world, load_dataset  # noqa: E402
from rsir_pl.data.split import LeaveOneOutSplit  # noqa: E402


def shape(name: str) -> dict[str, Any] | None:
    """The model-free statistics of one dataset (None when its file is missing)."""
    try:
        ds = load_dataset(name, download=False)
    except FileNotFoundError:
        return None
    store = ds.sequences
    lengths = store.lengths
    counts = np.bincount(store.items, minlength=ds.num_items + 1)[1:]
    counts = np.sort(counts[counts > 0] if name not in ("synthetic", "synthetic-tiny") else counts)
    n = len(counts)
    gini = 1 - 2 * np.sum(np.cumsum(counts) / counts.sum()) / n + 1 / n
    split = LeaveOneOutSplit.from_sequences(store, ds.num_items)
    train = split.train()
    transitions: Counter = Counter()
    for seq in train:
        transitions.update(zip(seq[:-1].tolist(), seq[1:].tolist()))
    full = split.full
    # the validation step (last training item -> validation item): the next item a model trained on
    # the training parts is asked for
    seen_valid = np.mean([transitions[(int(full[j][-3]), int(full[j][-2]))] > 0 for j in range(split.num_users)])
    outgoing: dict[int, list[int]] = {}
    for (a, _b), c in transitions.items():
        outgoing.setdefault(a, []).append(c)
    top = np.mean([max(v) / sum(v) for v in outgoing.values() if sum(v) >= 5])
    pop = np.bincount(train.items, minlength=ds.num_items + 1).astype(float)
    ranks = []
    for j in range(split.num_users):
        seq = full[j]
        s = pop.copy()
        s[0] = -1.0
        s[seq[:-1]] = -1.0
        ranks.append(int((s >= s[seq[-1]]).sum()))
    r = np.array(ranks, dtype=float)
    out: dict[str, Any] = {
        "dataset": name,
        "users": len(store),
        "items": ds.num_items,
        "items per user": ds.num_items / len(store),
        "mean length": float(lengths.mean()),
        "median length": float(np.median(lengths)),
        "share at 5": float((lengths == 5).mean()),
        "share > 20": float((lengths > 20).mean()),
        "Gini": float(gini),
        "top-10% share": float(counts[::-1][: n // 10].sum() / counts.sum()),
        "valid step seen in training": float(seen_valid),
        "top-successor share": float(top),
        "popularity NDCG@10": float(np.mean((r <= 10) / np.log2(r + 1))),
        "oracle NDCG@10": None,
        "oracle Recall@10": None,
    }
    world = known_world(name)
    if world is not None:
        m = oracle_metrics(world, split)
        out["oracle NDCG@10"], out["oracle Recall@10"] = m["ndcg@10"], m["recall@10"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    ap.add_argument("--datasets", nargs="+", default=["beauty", "toys", "synthetic", "synthetic-tiny"])
    args = ap.parse_args()
    rows = [s for s in (shape(name) for name in args.datasets) if s is not None]
    headers = list(rows[0])
    table = markdown_table(headers, [[r[h] for h in headers] for r in rows])
    print(table)
    notes = (
        "`valid step seen in training`: share of users whose validation step (last training item -> "
        "validation item) occurs as a transition somewhere in the training parts. `top-successor share`: "
        "for items with at least 5 outgoing training transitions, the share of the most frequent successor. "
        "`popularity NDCG@10`: ranking the test item by training popularity, history masked (it depends on "
        "the catalogue size). Amazon counts are after the 5-core filter of the files; the worlds count every "
        "item, unused ones included."
    )
    by = {r["dataset"]: r for r in rows}
    amazon = [by[n] for n in ("beauty", "toys") if n in by]
    world = by.get("synthetic")
    reading = "the Amazon files are missing: nothing to compare"
    if amazon and world:

        def span(key: str, fmt: str = "{:.2f}") -> str:
            vals = sorted(fmt.format(a[key]) for a in amazon)
            return f"{' to '.join(dict.fromkeys(vals))} on Amazon, {fmt.format(world[key])} here"

        reading = (
            f"mean history {span('mean length')}; share of histories at 5 items {span('share at 5')}; above 20 "
            f"{span('share > 20', '{:.3f}')}; items per user {span('items per user')}; popularity Gini "
            f"{span('Gini')}, top-10% share {span('top-10% share')}; validation steps seen among the training "
            f"transitions {span('valid step seen in training', '{:.3f}')}; top-successor share "
            f"{span('top-successor share', '{:.3f}')}. The world's oracle ceiling (NDCG@10 "
            f"{world['oracle NDCG@10']:.3f}, Recall@10 {world['oracle Recall@10']:.3f}) is what ranking by the "
            "truth achieves in data of this shape; popularity NDCG@10 is higher here mostly because the catalogue "
            "is 5x smaller. synthetic-tiny keeps the shape at a tenth of the size (denser, being small)"
        )
    append_results(
        args.results, section("Shape of the embedded world against the Amazon sets", [table, notes], reading)
    )


if __name__ == "__main__":
    main()
