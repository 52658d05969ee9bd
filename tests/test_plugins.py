"""Plug-in registries: a fidelity backend and a backbone added from this file alone (no source
file edited) are accepted by the config and used by the generator and build_model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsir_pl import plugins
from rsir_pl.config import ConfigError, GenerationConfig, ModelConfig
from rsir_pl.data.split import LeaveOneOutSplit
from rsir_pl.data.synthetic import SyntheticSpec, synthetic_dataset
from rsir_pl.generation.generator import Generator
from rsir_pl.generation.index import exact_index
from rsir_pl.models import build_model
from rsir_pl.models.sasrec import SASRec


class FirstPlaceCheck:
    """A toy check: accept iff some target is the single best-scored item (strictly)."""

    name = "first-place"

    def __init__(self, tau: int) -> None:
        self.tau = 1

    @property
    def k_needed(self) -> int:
        return 2

    def accept(self, values: torch.Tensor, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        top = ids[:, :1]
        member = ((top.unsqueeze(2) == targets.unsqueeze(1)) & (targets.unsqueeze(1) > 0)).any(dim=2).any(dim=1)
        return member & (values[:, 0] > values[:, 1])


@pytest.fixture
def toy_backend():
    backend = plugins.register_fidelity_backend(
        plugins.FidelityBackend("first-place", index=exact_index, check=FirstPlaceCheck)
    )
    yield backend
    plugins.unregister_fidelity_backend("first-place")


def test_an_unregistered_backend_is_refused_with_the_registered_names():
    with pytest.raises(ConfigError, match=r"generation.fidelity: unknown value 'first-place'; choose one of exact"):
        GenerationConfig(fidelity="first-place")
    assert plugins.fidelity_backends()[:4] == ("exact", "faiss", "faiss-ivf", "none")


def test_a_backend_registered_in_a_test_drives_the_generator(toy_backend):
    torch.manual_seed(0)
    ds = synthetic_dataset(SyntheticSpec(num_users=40, num_items=60, num_groups=4))
    split = LeaveOneOutSplit.from_sequences(ds.sequences, ds.num_items)
    model = build_model(ModelConfig(hidden=16, heads=2, layers=1), ds.num_items, 20).double().eval()
    D, held = split.train(), split.held_out_items()

    def generate(fidelity, tau):
        cfg = GenerationConfig(fidelity=fidelity, tau=tau, m=2, max_len=12, progress=False)
        return Generator(cfg, seed=4).generate(model, D, held)

    toy = generate("first-place", 20)  # the toy check ignores tau: its rule is exact's at tau 1
    exact = generate("exact", 1)
    assert toy.sequences.equals(exact.sequences)
    assert np.array_equal(toy.accepted, exact.accepted) and toy.accepted.sum() > 0
    assert not toy.sequences.equals(generate("exact", 20).sequences)


def test_a_registered_name_cannot_be_taken_twice(toy_backend):
    with pytest.raises(ValueError, match="already registered"):
        plugins.register_fidelity_backend(plugins.FidelityBackend("first-place", index=exact_index, check="x:y"))


def test_a_backbone_registered_by_reference_is_built():
    plugins.register_backbone(plugins.Backbone("sasrec-alias", "rsir_pl.models.sasrec:SASRec"))
    try:
        model = build_model(ModelConfig(backbone="sasrec-alias", hidden=8, heads=1, layers=1), 10, 5)
        assert isinstance(model, SASRec)
    finally:
        plugins.unregister_backbone("sasrec-alias")
    with pytest.raises(ConfigError, match="model.backbone: unknown value 'sasrec-alias'"):
        ModelConfig(backbone="sasrec-alias")
