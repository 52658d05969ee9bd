"""Leave-one-out split: training part, validation target and test target per user."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rsir_pl.data.store import SequenceStore, _ranges

log = logging.getLogger(__name__)

#: a user needs a training item, a validation item and a test item
MIN_SPLIT_LENGTH = 3


@dataclass
class LeaveOneOutSplit:
    """Chronological leave-one-out split of the real users (RSIR-SPEC §2).

    For a user sequence ``(i_1 .. i_T)``: test target ``i_T``, validation target ``i_{T-1}``,
    training part ``(i_1 .. i_{T-2})``. ``full`` keeps the kept users' whole sequences so that
    evaluation inputs are views of it: validation sees the training part, test sees the training
    part plus the validation item. ``users[j]`` is the index of kept user ``j`` in the dataset.
    """

    full: SequenceStore
    users: np.ndarray
    num_items: int
    skipped: int = 0
    #: timestamps parallel to ``full.items`` when the dataset has them
    full_times: np.ndarray | None = None

    @classmethod
    def from_sequences(
        cls, sequences: SequenceStore, num_items: int, times: np.ndarray | None = None
    ) -> LeaveOneOutSplit:
        """Split every sequence of ``sequences``; too-short ones are skipped and counted.

        ``times`` (parallel to ``sequences.items``) is kept for the kept users' interactions.
        """
        keep = np.flatnonzero(sequences.lengths >= MIN_SPLIT_LENGTH)
        skipped = len(sequences) - len(keep)
        if skipped:
            log.warning(
                "%d of %d users have fewer than %d interactions and cannot be split "
                "(train/validation/test); they are skipped",
                skipped,
                len(sequences),
                MIN_SPLIT_LENGTH,
            )
        if len(keep) == 0:
            raise ValueError(f"no user has at least {MIN_SPLIT_LENGTH} interactions: nothing to train or evaluate")
        full = sequences.select(keep)
        full.root = np.arange(len(keep), dtype=np.int64)
        full.generation = np.zeros(len(keep), dtype=np.int64)
        full_times = None
        if times is not None:
            full_times = np.asarray(times, dtype=np.float64)[_ranges(sequences.offsets[keep], sequences.lengths[keep])]
        return cls(full=full, users=keep, num_items=num_items, skipped=skipped, full_times=full_times)

    @property
    def num_users(self) -> int:
        """Number of users kept by the split."""
        return len(self.full)

    @property
    def valid_target(self) -> np.ndarray:
        """Validation item per user (the second-to-last item)."""
        return self.full.items[self.full.offsets[1:] - 2].astype(np.int64)

    @property
    def test_target(self) -> np.ndarray:
        """Test item per user (the last item)."""
        return self.full.items[self.full.offsets[1:] - 1].astype(np.int64)

    def train(self) -> SequenceStore:
        """D_0: the training part of every user, ``root`` = user index, generation 0."""
        lengths = self.full.lengths - 2
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = self.full.items[_ranges(self.full.offsets[:-1], lengths)]
        return SequenceStore(items, offsets, np.arange(len(lengths)), np.zeros(len(lengths)))

    def train_times(self) -> np.ndarray | None:
        """Timestamps parallel to :meth:`train`'s items (None without timestamps)."""
        if self.full_times is None:
            return None
        return self.full_times[_ranges(self.full.offsets[:-1], self.full.lengths - 2)]

    def held_out_items(self) -> np.ndarray:
        """``[num_users, 2]``: the validation and test item of each user (never a fidelity target)."""
        return np.stack([self.valid_target, self.test_target], axis=1)

    def eval_drop(self, stage: str) -> int:
        """How many trailing items of ``full`` an evaluation stage hides (target included)."""
        if stage == "valid":
            return 2
        if stage == "test":
            return 1
        raise ValueError(f"unknown evaluation stage {stage!r} (expected 'valid' or 'test')")

    def eval_target(self, stage: str) -> np.ndarray:
        """Target item per user for ``stage``."""
        return self.valid_target if stage == "valid" else self.test_target
