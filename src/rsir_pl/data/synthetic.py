"""The embedded synthetic dataset: a small sparse world whose generating distribution is known.

Users have sparse preferences over item groups; items have skewed popularity inside their group;
and every item has favourite successors, which gives the data sequential structure a model can
learn. Because the world keeps its parameters, :meth:`SyntheticWorld.next_distribution` returns
the *true* probability of every next item given a user and a prefix: generated sequences can be
judged for plausibility, and ranking by the truth gives the ceiling no model can beat
(:mod:`rsir_pl.data.oracle`).

Why this shape. RSIR is meant for sparse implicit-feedback data like the Amazon sets of the paper
(Beauty, Toys): short histories, a catalogue not much smaller than the user base, long-tailed
popularity and weak, diffuse item-to-item structure. The defaults reproduce what can be measured on
those files without any model (Beauty / Toys, 5-core, against this world's sample):

* history length: at least 5, mean 8.9 / 8.6 (here 8.7), median 6 (6), 33% / 34% of users with
  exactly 5 items (33%), 5% / 4.5% above 20 (4.5%): a floor plus a Pareto (Lomax) tail;
* catalogue: 0.54x / 0.61x the users (2,400 items for 4,000 users: 0.6x);
* popularity: Gini 0.50 / 0.44 (0.46), the top 10% of items take 43% / 36% of the interactions (39%);
* sequential structure: only 11% / 10% of the validation steps (last training item -> validation
  item) occur anywhere in the training parts (9%), and an item's most frequent successor takes 15% /
  16% of its outgoing transitions (14%).

The earlier defaults (3 successors followed 55% of the time, a near-exponential length, steeper
popularity with 164 items never used) gave a world where most next steps had been seen in training
and SASRec reached 0.38 NDCG@10 against ~0.05 on the Amazon sets: an easy, dense problem.
The parameters were chosen on these statistics only (``benchmarks/world_shape.py`` prints them),
never on how a model or RSIR does on the world.

The sampling process, step by step (items already in the sequence are never repeated):

1. with probability ``follow``: an item from the successor list of the last item;
2. otherwise, with probability ``stick``: an item of the last item's group, by popularity;
3. otherwise: a group from the user's preference, then an item of it by popularity.

Sampling rejects repeated items, so the true next-item distribution is the mixture above with
the prefix's items removed and the rest renormalised.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.store import SequenceStore


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and shape of the synthetic world (defaults: 4,000 users, 2,400 items, mean length 8.7;
    shaped like the Amazon sets, see the module docstring).

    Lengths are ``min_length + floor(length_scale * Lomax(length_tail))``, at most ``max_length``
    and half the catalogue.
    """

    num_users: int = 4000
    num_items: int = 2400
    num_groups: int = 25
    successors: int = 20
    preference_concentration: float = 0.3
    popularity_exponent: float = 0.65
    follow: float = 0.1
    stick: float = 0.2
    min_length: int = 5
    length_scale: float = 4.5
    length_tail: float = 2.0
    max_length: int = 80
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_items < self.num_groups or self.num_groups < 1:
            raise ValueError("synthetic world needs num_items >= num_groups >= 1")
        if self.min_length < 3:
            raise ValueError("synthetic world min_length must be >= 3 (leave-one-out needs 3)")
        if self.max_length < self.min_length:
            raise ValueError("synthetic world max_length must be >= min_length")
        if self.length_scale <= 0 or self.length_tail <= 0:
            raise ValueError("synthetic world length_scale and length_tail must be > 0")
        for name in ("follow", "stick"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"synthetic world {name} must lie in [0, 1]")


class SyntheticWorld:
    """Parameters of the generating process, drawn deterministically from ``spec.seed``."""

    def __init__(self, spec: SyntheticSpec | None = None) -> None:
        self.spec = spec = spec or SyntheticSpec()
        rng = np.random.default_rng(np.random.PCG64(spec.seed))
        n, g = spec.num_items, spec.num_groups
        # item 0 is padding; items 1..n get a group and a within-group popularity weight
        self.group = np.zeros(n + 1, dtype=np.int64)
        self.group[1:] = rng.permutation(np.arange(n) % g)
        raw_pop = np.zeros(n + 1)
        raw_pop[1:] = rng.permutation((np.arange(n) + 1.0) ** -spec.popularity_exponent)
        self.group_items = [np.flatnonzero(self.group[1:] == k) + 1 for k in range(g)]
        self.group_pop = [raw_pop[it] / raw_pop[it].sum() for it in self.group_items]
        # within-group popularity as one dense matrix [groups, items + 1]
        self.pop_matrix = np.zeros((g, n + 1))
        for k in range(g):
            self.pop_matrix[k, self.group_items[k]] = self.group_pop[k]
        # successors: mostly popular items of the same group, sometimes of a random group
        self.succ = np.zeros((n + 1, spec.successors), dtype=np.int64)
        self.succ_w = np.zeros((n + 1, spec.successors))
        for i in range(1, n + 1):
            for s in range(spec.successors):
                k = self.group[i] if rng.random() < 0.8 else rng.integers(g)
                cand = self.group_items[k]
                pick = cand[rng.choice(len(cand), p=self.group_pop[k])]
                while pick == i:
                    pick = cand[rng.integers(len(cand))]
                self.succ[i, s] = pick
            self.succ_w[i] = rng.dirichlet(np.ones(spec.successors))
        self.preference = rng.dirichlet(np.full(g, spec.preference_concentration), size=spec.num_users)
        self._rng_state = rng.bit_generator.state

    # -------------------------------------------------------------------- sampling
    def sample_sequences(self) -> SequenceStore:
        """Draw one chronological sequence per user (deterministic for the spec's seed)."""
        spec = self.spec
        rng = np.random.default_rng(np.random.PCG64(spec.seed + 1))
        extra = np.floor(spec.length_scale * rng.pareto(spec.length_tail, size=spec.num_users))
        # half the catalogue at most: drawing without repeats must stay quick in tiny test worlds
        cap = max(spec.min_length, min(spec.max_length, spec.num_items // 2))
        lengths = np.minimum(spec.min_length + np.minimum(extra, spec.max_length).astype(np.int64), cap)
        seqs = []
        for u in range(spec.num_users):
            seq: list[int] = []
            used: set[int] = set()
            for _ in range(lengths[u]):
                item = self._draw_next(u, seq, used, rng)
                seq.append(item)
                used.add(item)
            seqs.append(seq)
        return SequenceStore.from_lists(seqs)

    def _draw_next(self, user: int, seq: list[int], used: set[int], rng: np.random.Generator) -> int:
        spec = self.spec
        while True:
            r = rng.random()
            if seq and r < spec.follow:
                last = seq[-1]
                item = int(self.succ[last, rng.choice(spec.successors, p=self.succ_w[last])])
            else:
                if seq and rng.random() < spec.stick:
                    k = int(self.group[seq[-1]])
                else:
                    k = int(rng.choice(spec.num_groups, p=self.preference[user]))
                cand = self.group_items[k]
                item = int(cand[rng.choice(len(cand), p=self.group_pop[k])])
            if item not in used:
                return item

    # -------------------------------------------------------------------- the truth
    def next_distribution(self, user: int, prefix: np.ndarray | list[int]) -> np.ndarray:
        """True ``P(next item | user, prefix)`` over ids ``0..num_items`` (index 0 is 0)."""
        spec = self.spec
        prefix = np.asarray(prefix, dtype=np.int64)
        base = self.preference[user] @ self.pop_matrix
        if len(prefix) == 0:
            p = base.copy()
        else:
            last = int(prefix[-1])
            succ = np.zeros(spec.num_items + 1)
            np.add.at(succ, self.succ[last], self.succ_w[last])
            group_part = spec.stick * self.pop_matrix[self.group[last]] + (1 - spec.stick) * base
            p = spec.follow * succ + (1 - spec.follow) * group_part
        p[0] = 0.0
        p[prefix] = 0.0
        total = p.sum()
        return p / total if total > 0 else p

    def step_plausibility(self, user: int, sequence: np.ndarray | list[int], start: int = 1) -> np.ndarray:
        """True probability of each item ``sequence[t]`` (t >= start) given the items before it."""
        seq = np.asarray(sequence, dtype=np.int64)
        return np.array([self.next_distribution(user, seq[:t])[seq[t]] for t in range(start, len(seq))])


@functools.lru_cache(maxsize=4)
def world_of_spec(spec: SyntheticSpec) -> SyntheticWorld:
    """The world of ``spec``, built once per process (the dataset, the oracle and the plausibility
    study read the same parameters; nothing mutates them)."""
    return SyntheticWorld(spec)


def synthetic_dataset(spec: SyntheticSpec | None = None) -> InteractionDataset:
    """The embedded default dataset (no file, no network): the world's sampled sequences."""
    world = world_of_spec(spec or SyntheticSpec())
    store = world.sample_sequences()
    n = world.spec.num_items
    item_ids = np.array([""] + [str(i) for i in range(1, n + 1)], dtype=object)
    users = np.array([f"u{u}" for u in range(len(store))], dtype=object)
    return InteractionDataset("synthetic", store, n, item_ids, users)
