"""How plausible generated steps are under the *true* distribution of the embedded dataset.

The synthetic world (:mod:`rsir_pl.data.synthetic`) knows ``P(next item | user, prefix)``, so for
data generated from it we can measure what the paper's theory calls fidelity leakage: the share
of generated steps that the true process would hardly ever produce.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsir_pl.data.store import SequenceStore
from rsir_pl.data.synthetic import SyntheticWorld

#: bound on the [rows, steps, prefix items, successors] block evaluated at once
_CHUNK_ELEMENTS = 4_000_000


def _unnormalised(world: SyntheticWorld, users: np.ndarray, last: np.ndarray, item: np.ndarray) -> np.ndarray:
    """The world's next-item mixture before removing prefix items (it sums to 1 over items)."""
    spec = world.spec
    succ = world.succ[last]  # [..., n_succ]
    succ_part = ((succ == item[..., None]) * world.succ_w[last]).sum(axis=-1)
    popw = world.pop_matrix[world.group[item], item]
    same_group = world.group[item] == world.group[last]
    base = world.preference[users, world.group[item]] * popw
    group_part = spec.stick * popw * same_group + (1 - spec.stick) * base
    return spec.follow * succ_part + (1 - spec.follow) * group_part


def step_probabilities(
    world: SyntheticWorld, sequences: SequenceStore, start: np.ndarray, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """True probability of every step ``s[t]`` given ``s[:t]`` for ``t >= start[i]``.

    ``users[i]`` is the world's user of sequence ``i``. Returns (probabilities, sequence index of
    each step), steps in (sequence, t) order. Equals :meth:`SyntheticWorld.step_plausibility`
    (vectorised: the mixture sums to 1, so the renormalisation after removing the prefix items
    is ``1 - sum of their mixture weights``).
    """
    start = np.asarray(start, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    n = len(sequences)
    probs: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    lengths = sequences.lengths
    width = max(int(lengths.max()), 1)
    n_succ = world.succ.shape[1]
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // (width * width * n_succ))
    t = np.arange(width)
    for lo in range(0, n, rows_per_chunk):
        idx = np.arange(lo, min(n, lo + rows_per_chunk))
        S = sequences.padded(idx, width, align="right")
        u = users[idx][:, None]
        last = np.concatenate([np.zeros((len(idx), 1), dtype=S.dtype), S[:, :-1]], axis=1)  # s[t-1]
        num = _unnormalised(world, u, last, S)  # [R, T]
        before = t[None, :] < t[:, None]  # [T, J]: j < t
        first = _first_occurrence_mask(S)  # count each prefix item once
        prefix_w = _unnormalised(world, u[:, :, None], last[:, :, None], S[:, None, :])  # [R, T, J]
        in_prefix = before[None] & (S[:, None, :] == S[:, :, None])
        total = 1.0 - (prefix_w * (before[None] & first[:, None, :])).sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(total > 0, num / total, 0.0)
        p = np.where(in_prefix.any(axis=2), 0.0, p)
        # an empty prefix: the user's preference mixture itself
        p[:, 0] = world.preference[users[idx], world.group[S[:, 0]]] * world.pop_matrix[world.group[S[:, 0]], S[:, 0]]
        step = (t[None, :] >= start[idx][:, None]) & (t[None, :] < lengths[idx][:, None])
        probs.append(p[step])
        owner.append(np.broadcast_to(idx[:, None], step.shape)[step])
    return np.concatenate(probs), np.concatenate(owner)


def _first_occurrence_mask(S: np.ndarray) -> np.ndarray:
    """True where an entry's value does not occur earlier in its row."""
    earlier = (S[:, None, :] == S[:, :, None]) & (np.arange(S.shape[1])[None, :] < np.arange(S.shape[1])[:, None])
    return ~earlier.any(axis=2)


def implausible_share(
    world: SyntheticWorld, sequences: SequenceStore, prefix_len: np.ndarray, users: np.ndarray
) -> float:
    """Share of generated steps the true process finds implausible (fidelity leakage).

    A step is the item at position ``t >= prefix_len[i]`` of sequence ``i`` (the items after the
    prefix it shares with its source), judged given everything before it, for the world's user
    ``users[i]`` (for a sequence of D_k: ``split.users[root]``). It is *implausible* when its
    true probability is below ``1 / num_items``, the probability of an item drawn uniformly at
    random: the step is less likely than noise. Repeated items have probability 0 (the world
    never repeats). Returns NaN when there is no step.
    """
    return float(plausibility_summary(world, sequences, prefix_len, users)["implausible_share"])


def plausibility_summary(
    world: SyntheticWorld, sequences: SequenceStore, prefix_len: np.ndarray, users: np.ndarray
) -> dict[str, Any]:
    """Steps, implausible steps, their share (see :func:`implausible_share`) and mean log-probability."""
    p, _ = step_probabilities(world, sequences, prefix_len, users)
    threshold = 1.0 / world.spec.num_items
    bad = int((p < threshold).sum())
    return {
        "steps": int(len(p)),
        "implausible": bad,
        "implausible_share": bad / len(p) if len(p) else float("nan"),
        "mean_log_prob": float(np.log(np.maximum(p, 1e-300)).mean()) if len(p) else float("nan"),
    }
