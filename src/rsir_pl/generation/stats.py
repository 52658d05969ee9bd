"""Statistics of a training set D_k and of its generated part (RSIR-SPEC §7).

Approximate Entropy uses r = 0 on item ids (two windows match only when identical). For a
sequence without repeated items ApEn(m, 0) = ln((N-m+1)/(N-m)) depends on the length alone, so
the repeat rate, item coverage and the popularity of generated items are reported beside it
(collapse first shows as lost tail items).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from rsir_pl.data.store import SequenceStore


def approximate_entropy(seq: np.ndarray | list[int], m: int = 2) -> float:
    """ApEn(m, r=0) of one item sequence: Phi^m - Phi^{m+1} (0 when the sequence is too short)."""
    seq = [int(x) for x in seq]
    n = len(seq)

    def phi(mm: int) -> float:
        count = n - mm + 1
        if count <= 0:
            return 0.0
        windows = [tuple(seq[i : i + mm]) for i in range(count)]
        freq = Counter(windows)
        return sum(math.log(freq[w] / count) for w in windows) / count

    if n <= m:
        return 0.0
    return abs(phi(m) - phi(m + 1))


def dataset_stats(
    store: SequenceStore,
    num_items: int,
    num_real_users: int,
    reference_popularity: np.ndarray | None = None,
    apen_m: int = 2,
    apen_sample: int = 20000,
    seed: int = 0,
) -> dict[str, Any]:
    """Size, density, ApEn', repeat rate, coverage and tail share of a set of sequences.

    ``reference_popularity[i]`` (item counts in D_0) defines the tail: the items outside the most
    popular 20% of the catalogue.
    """
    n_seq = len(store)
    n_inter = store.num_interactions
    out: dict[str, Any] = {
        "sequences": n_seq,
        "interactions": n_inter,
        "density_per_sequence": n_inter / max(n_seq * num_items, 1),
        "density_per_user": n_inter / max(num_real_users * num_items, 1),
        "mean_length": n_inter / max(n_seq, 1),
    }
    if n_seq == 0:
        return out
    counts = np.bincount(store.items, minlength=num_items + 1)[1:]
    out["item_coverage"] = float((counts > 0).mean())
    out["gini"] = _gini(counts)
    # repeat rate: share of positions whose item already appeared earlier in the same sequence
    repeats = 0
    rng = np.random.default_rng(seed)
    sample = rng.choice(n_seq, size=min(n_seq, apen_sample), replace=False)
    apen = []
    for i in sample:
        s = store[int(i)]
        repeats += len(s) - len(np.unique(s))
        apen.append(approximate_entropy(s, apen_m))
    sampled_len = int(store.lengths[sample].sum())
    out["repeat_rate"] = repeats / max(sampled_len, 1)
    apen_arr = np.asarray(apen)
    pos = apen_arr[apen_arr > 0]
    out["apen_mean"] = float(apen_arr.mean())
    out["apen_inverse_mean"] = float((1.0 / pos).mean()) if len(pos) else 0.0
    if reference_popularity is not None:
        order = np.argsort(-reference_popularity, kind="stable")
        head = np.zeros(num_items, dtype=bool)
        head[order[: max(1, num_items // 5)]] = True
        out["tail_share"] = float(counts[~head].sum() / max(counts.sum(), 1))
    return out


def _gini(counts: np.ndarray) -> float:
    x = np.sort(counts.astype(np.float64))
    if x.sum() == 0:
        return 0.0
    n = len(x)
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum / cum[-1]).sum()) / n)
