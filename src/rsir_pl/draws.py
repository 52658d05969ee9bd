"""Keyed random draws: every uniform number is a pure function of (seed, iteration, sequence,
attempt, step, purpose).

Generation results therefore do not depend on the batch size, on the order rows are processed,
on how sequences are sharded across DDP ranks, or on where an interrupted run resumed.
"""

from __future__ import annotations

import numpy as np
import torch

# what a draw is for (part of the key, so the streams never collide)
PREFIX = 1
POOL = 2
PICK = 3
STOP_LENGTH = 4
SUBSAMPLE = 5
# augmentation baselines (rsir_pl.baselines) and the noise study (rsir_pl.data.noise)
AUG_ORDER = 6  # which (sequence, copy) candidates come first when a count is requested
AUG_POS = 7  # the position a reorder block starts at / an item is inserted at
AUG_SHUFFLE = 8  # the permutation of a reorder block
NOISE_POS = 9  # which slots of a noisy training sequence hold noise items
NOISE_ITEM = 10  # the random catalogue item of a noise slot
ASREP_PICK = 11  # the pseudo-prior item ASReP's reverse model samples at a step
IG_HOLDOUT = 12  # which real training sequences the inverse gradient holds out (models/base.py)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (a bijection on uint64 with good avalanche)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic), e.g. for hashing."""
    with np.errstate(over="ignore"):
        return _mix(np.asarray(x, dtype=np.uint64))


def keyed_uniform(
    seed: int,
    iteration: int,
    sequence: np.ndarray | int,
    attempt: np.ndarray | int,
    step: np.ndarray | int,
    purpose: int,
) -> np.ndarray:
    """Uniform floats in [0, 1), one per broadcast element of the key arrays."""
    with np.errstate(over="ignore"):
        parts = (seed, iteration, sequence, attempt, step, purpose)
        h = np.full(np.broadcast(*[np.asarray(p) for p in parts]).shape, _GOLD, dtype=np.uint64)
        for p in parts:
            h = _mix(h + np.asarray(p).astype(np.int64).astype(np.uint64) * _GOLD + _GOLD)
    # top 53 bits -> double in [0, 1)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _to_signed(x: int) -> int:
    """The int64 with the bit pattern of the uint64 ``x``."""
    return x - (1 << 64) if x >= 1 << 63 else x


_TM1 = _to_signed(int(_M1))
_TM2 = _to_signed(int(_M2))
_TGOLD = _to_signed(int(_GOLD))


def _lsr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _mix_torch(x: torch.Tensor) -> torch.Tensor:
    """:func:`_mix` on int64 tensors holding uint64 bit patterns (products wrap modulo 2^64)."""
    x = x ^ _lsr(x, 30)
    x = x * _TM1
    x = x ^ _lsr(x, 27)
    x = x * _TM2
    return x ^ _lsr(x, 31)


def keyed_uniform_torch(
    seed: int,
    iteration: int,
    sequence: torch.Tensor,
    attempt: torch.Tensor,
    step: int,
    purpose: int,
) -> torch.Tensor:
    """:func:`keyed_uniform` computed on the tensors' device, bit for bit (float64 in [0, 1)).

    ``sequence`` and ``attempt`` are int64 tensors of one shape; the rest are Python ints. The
    generator draws with it inside its decode loop, so no row ids travel to the host per step.
    """
    seq = sequence.to(torch.int64)
    h = torch.full_like(seq, _TGOLD)
    for p in (seed, iteration, seq, attempt.to(torch.int64), step, purpose):
        h = _mix_torch(h + _times_gold(p) + _TGOLD)
    return _lsr(h, 11).to(torch.float64) * (1.0 / (1 << 53))


def _times_gold(p: int | torch.Tensor) -> int | torch.Tensor:
    """``p * GOLD`` modulo 2^64, as int64 bit patterns."""
    if isinstance(p, torch.Tensor):
        return p * _TGOLD
    return _to_signed(int(p) * int(_GOLD) % (1 << 64))


def pick(values: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sample one candidate per row by inverse CDF of ``softmax(values / temperature)``.

    ``values [B, K]`` are candidate scores with -inf for "no candidate"; ``u [B]`` uniforms.
    Computed in float64 so that the batched generator and the one-row reference make the same
    choice from the same scores. Rows without any candidate return -1.
    """
    v = values.to(torch.float64)
    valid = torch.isfinite(v)
    vmax = torch.where(valid, v, torch.full_like(v, -torch.inf)).max(dim=1, keepdim=True).values
    w = torch.where(valid, torch.exp((v - vmax.clamp(min=-1e300)) / temperature), torch.zeros_like(v))
    cum = w.cumsum(dim=1)
    total = cum[:, -1]
    thresh = (u.to(torch.float64).to(v.device) * total).unsqueeze(1)
    idx = (cum <= thresh).sum(dim=1).clamp(max=v.shape[1] - 1)
    return torch.where(total > 0, idx, torch.full_like(idx, -1))
