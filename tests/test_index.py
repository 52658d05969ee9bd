"""Catalogue indexes: device resolution and the FAISS wrappers."""

from __future__ import annotations

import pytest
import torch

from rsir_pl.generation.index import ExactIndex, build_index, faiss_has_gpu, resolve_index_device


def test_gpu_index_without_gpu_faiss_is_a_clear_error():
    if faiss_has_gpu():
        pytest.skip("this machine has faiss with GPU support")
    with pytest.raises(RuntimeError, match="no GPU support.*index_device: cpu"):
        resolve_index_device("gpu", torch.device("cpu"))


def test_auto_keeps_the_index_on_the_cpu_for_a_cpu_model():
    assert resolve_index_device("auto", torch.device("cpu")) == "cpu"
    assert resolve_index_device("cpu", torch.device("cuda")) == "cpu"


def test_results_are_padded_when_the_catalogue_is_small():
    emb = torch.randn(6, 4)  # 5 items
    vals, ids = ExactIndex(emb).search(torch.randn(3, 4), 8)
    assert ids.shape == (3, 8) and (ids[:, 5:] == -1).all() and torch.isinf(vals[:, 5:]).all()
    assert set(ids[0, :5].tolist()) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("kind", ["faiss", "faiss-ivf"])
def test_faiss_indexes_return_item_ids(kind):
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(501, 8, generator=g)
    index = build_index(kind, emb, nlist=4, nprobe=4)
    h = torch.randn(10, 8, generator=g)
    vals, ids = index.search(h, 5)
    assert ids.min() >= 1 and ids.max() <= 500
    # flat search, and IVF with every cell probed, are exact: the same items as the torch index
    _, exact = ExactIndex(emb).search(h, 5)
    assert [set(r) for r in ids.tolist()] == [set(r) for r in exact.tolist()]


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="generation.fidelity"):
        build_index("annoy", torch.randn(3, 2))


def test_faiss_extras_are_exclusive_and_make_install_picks_one():
    import re
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def faiss_of(reqs):
        return [r for r in reqs if r.lower().startswith("faiss")]

    assert faiss_of(project["dependencies"]) == []  # no extra chosen: no faiss to clash with
    assert faiss_of(extras["dev"]) == []  # dev combines with either extra
    assert [r.split(">")[0] for r in faiss_of(extras["cpu"])] == ["faiss-cpu"]
    assert [r.split(">")[0] for r in faiss_of(extras["gpu"])] == ["faiss-gpu"]
    for name, reqs in extras.items():
        if name not in ("cpu", "gpu"):
            assert faiss_of(reqs) == [], name
    makefile = (root / "Makefile").read_text()
    assert re.search(r"^FAISS \?= cpu$", makefile, re.M)
    assert '-e ".[dev,$(FAISS)]"' in makefile


def test_two_faiss_distributions_are_refused_by_name(monkeypatch):
    from rsir_pl.generation import index

    monkeypatch.setattr(index, "installed_faiss_distributions", lambda: ["faiss-cpu", "faiss-gpu"])
    with pytest.raises(ImportError, match="faiss-cpu and faiss-gpu are both installed.*pip uninstall"):
        index.import_faiss()
