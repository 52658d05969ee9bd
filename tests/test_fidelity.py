"""The fidelity checks' contract beyond the generator tests: padding, short result lists, the
factory and devices."""

from __future__ import annotations

import pytest
import torch

from rsir_pl.generation import fidelity as F

INF = float("inf")


@pytest.mark.parametrize("check", [F.RankThresholdCheck(2), F.MembershipCheck(2)])
def test_padding_targets_never_count(check):
    # an index may pad a short result list with id 0: a padding target must not match it
    values = torch.tensor([[5.0, 4.0, 3.0]])
    ids = torch.tensor([[0, 2, 3]])
    assert not bool(check.accept(values, ids, torch.tensor([[0, 0]]))[0])
    assert bool(check.accept(values, ids, torch.tensor([[0, 2]]))[0])
    # item 1 is the first real id, not padding: it counts like any other
    assert bool(check.accept(values, torch.tensor([[1, 2, 3]]), torch.tensor([[0, 1]]))[0])


def test_rank_rule_with_only_tau_results():
    # a catalogue of tau items returns tau results, no (tau+1)-th score to compare with
    check = F.RankThresholdCheck(tau=2)
    values = torch.tensor([[3.0, 2.0], [3.0, -INF]])
    ids = torch.tensor([[1, 2], [1, 2]])
    accepted = check.accept(values, ids, torch.tensor([[2], [2]]))
    assert accepted.tolist() == [True, False]  # a target at -inf (masked) never passes


@pytest.mark.parametrize(
    "kind, cls", [("exact", F.RankThresholdCheck), ("faiss", F.MembershipCheck), ("faiss-ivf", F.MembershipCheck)]
)
def test_make_check_builds_the_named_backend(kind, cls):
    check = F.make_check(kind, 7)
    assert isinstance(check, cls) and check.name == kind and check.tau == 7
    assert F.MembershipCheck(3).name == "faiss"


def test_make_check_none_accepts_everything_on_the_input_device():
    check = F.make_check("none", 7)
    assert isinstance(check, F.AcceptAll) and check.name == "none" and check.tau == 7 and check.k_needed == 1
    assert F.AcceptAll().tau == 1
    values = torch.empty(3, 2, device="meta")
    out = check.accept(values, values.long(), values.long())
    assert out.device == values.device and out.shape == (3,) and out.dtype == torch.bool
    zeros = torch.zeros(2, 1)
    assert check.accept(zeros, zeros.long(), zeros.long()).tolist() == [True, True]


def test_make_check_rejects_an_unknown_backend():
    message = "^generation.fidelity: unknown value 'hnsw'; choose one of exact, faiss, faiss-ivf, none$"
    with pytest.raises(ValueError, match=message):
        F.make_check("hnsw", 5)
