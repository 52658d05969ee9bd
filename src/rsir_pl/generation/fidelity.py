"""Fidelity checks (RSIR-SPEC §3 step 4, §4): is a generated step still consistent with the
sequence's true future?

A check receives the top-k search result for the new context ``ctx'`` and the remaining true
future items ``tgt`` of every row, and answers accept / reject:

* :class:`RankThresholdCheck` (``exact``): accept iff some target's tie-pessimistic rank
  ``1 + #{j != t : s_j >= s_t}`` is <= tau. From the top-(tau+1) list alone: a target in the first
  tau places whose score is strictly above the (tau+1)-th score.
* :class:`MembershipCheck` (``faiss``, ``faiss-ivf``): accept iff a target is among the tau ids the
  index returned (equal to the exact rule except for ties; approximate under IVF).
* :class:`AcceptAll` (``none``): the paper's ablation without a check.
"""

from __future__ import annotations

from typing import Protocol

import torch


class FidelityCheck(Protocol):
    """Accept/reject generated steps from a catalogue search."""

    name: str
    tau: int

    @property
    def k_needed(self) -> int:
        """How many top results the check reads."""
        ...

    def accept(self, values: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``values/ids [B, K]`` (sorted, K >= k_needed); ``targets [B, T]`` item ids, 0 = none."""
        ...


class RankThresholdCheck:
    """Exact, tie-pessimistic rank test: some target has rank <= tau."""

    name = "exact"

    def __init__(self, tau: int) -> None:
        self.tau = int(tau)

    @property
    def k_needed(self) -> int:
        return self.tau + 1

    def accept(self, values: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        tau = self.tau
        top_ids = ids[:, :tau]
        member = (top_ids.unsqueeze(2) == targets.unsqueeze(1)) & (targets.unsqueeze(1) > 0)
        in_top = member.any(dim=2)
        if values.shape[1] > tau:
            # a tie with the (tau+1)-th item puts the target at rank >= tau + 1
            strictly_above = values[:, :tau] > values[:, tau : tau + 1]
        else:
            strictly_above = torch.isfinite(values[:, :tau])
        return (in_top & strictly_above).any(dim=1)


class MembershipCheck:
    """Some target is among the top-tau ids returned by the (possibly approximate) index."""

    def __init__(self, tau: int, name: str = "faiss") -> None:
        self.tau = int(tau)
        self.name = name

    @property
    def k_needed(self) -> int:
        return self.tau

    def accept(self, values: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        top_ids = ids[:, : self.tau]
        member = (top_ids.unsqueeze(2) == targets.unsqueeze(1)) & (targets.unsqueeze(1) > 0)
        return member.any(dim=2).any(dim=1)


class AcceptAll:
    """No fidelity control: every step is accepted."""

    name = "none"

    def __init__(self, tau: int = 1) -> None:
        self.tau = int(tau)

    @property
    def k_needed(self) -> int:
        return 1

    def accept(self, values: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.ones(values.shape[0], dtype=torch.bool, device=values.device)


def faiss_membership(tau: int) -> MembershipCheck:
    """The check of backend ``faiss``: a target among the tau ids IndexFlatIP returned."""
    return MembershipCheck(tau)


def ivf_membership(tau: int) -> MembershipCheck:
    """The check of backend ``faiss-ivf``: a target among the tau ids the clustered search returned."""
    return MembershipCheck(tau, "faiss-ivf")


def make_check(kind: str, tau: int) -> FidelityCheck:
    """The check of the fidelity backend registered as ``kind`` (see :mod:`rsir_pl.plugins`)."""
    from rsir_pl.plugins import fidelity_backend

    return fidelity_backend(kind).make_check(tau)


def tie_pessimistic_rank(scores: torch.Tensor, item: int) -> int:
    """Reference rank of ``item`` in a full score vector (padding at -inf): #{j : s_j >= s_item}."""
    return int((scores >= scores[item]).sum())
