"""Top-k inner-product search over the item catalogue: exact (chunked torch), FAISS flat, FAISS IVF.

Every index is built once per iteration from the generating model's item table (items 1..N; the
padding row is never a result) and answers ``search(h, k) -> (scores, ids)`` sorted by
decreasing score, with ``-inf`` / id 0 where fewer than ``k`` results exist.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import torch

log = logging.getLogger(__name__)

NEG_INF = float("-inf")


class CatalogueIndex(Protocol):
    """What the generator needs from an item index."""

    num_items: int

    def search(self, h: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` items by inner product with each row of ``h [B, d]``."""
        ...


class ExactIndex:
    """Exact top-k by scoring the catalogue in chunks of ``chunk_items`` (bounded memory)."""

    def __init__(self, item_emb: torch.Tensor, chunk_items: int = 65536) -> None:
        self.emb = item_emb[1:].detach()
        self.num_items = self.emb.shape[0]
        self.chunk = max(1, int(chunk_items))

    def search(self, h: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        k_eff = min(k, self.num_items)
        best_v: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for lo in range(0, self.num_items, self.chunk):
            scores = h @ self.emb[lo : lo + self.chunk].T
            kk = min(k_eff, scores.shape[1])
            v, i = torch.topk(scores, kk, dim=1)
            i = i + (lo + 1)
            if best_v is None:
                best_v, best_i = v, i
            else:
                v = torch.cat([best_v, v], dim=1)
                i = torch.cat([best_i, i], dim=1)
                best_v, pos = torch.topk(v, min(k_eff, v.shape[1]), dim=1)
                best_i = i.gather(1, pos)
        assert best_v is not None and best_i is not None
        return _pad(best_v, best_i, k)


class FaissFlatIndex:
    """Exact inner-product search with ``faiss.IndexFlatIP`` (CPU, or GPU when asked and able)."""

    def __init__(self, item_emb: torch.Tensor, device: str = "cpu") -> None:
        faiss = import_faiss()
        xb = _as_float32(item_emb[1:])
        self.num_items = xb.shape[0]
        index = faiss.IndexFlatIP(xb.shape[1])
        self.index = _maybe_gpu(faiss, index, device)
        self.index.add(xb)

    def search(self, h: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _faiss_search(self.index, h, k, self.num_items)


class FaissIVFIndex:
    """Clustered search (paper appendix D.5): ``nlist`` k-means cells, ``nprobe`` searched.

    Sub-linear in the catalogue size; results can miss true top items, so decisions may differ
    from the exact check (measure the agreement, see :func:`agreement`).
    """

    def __init__(
        self, item_emb: torch.Tensor, nlist: int = 256, nprobe: int = 16, device: str = "cpu", seed: int = 0
    ) -> None:
        faiss = import_faiss()
        xb = _as_float32(item_emb[1:])
        self.num_items = xb.shape[0]
        nlist = max(1, min(nlist, self.num_items // 39 or 1))  # faiss wants ~39 points per cell
        self.nlist, self.nprobe = nlist, min(nprobe, nlist)
        quantizer = faiss.IndexFlatIP(xb.shape[1])
        index = faiss.IndexIVFFlat(quantizer, xb.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(xb)
        index.add(xb)
        index.nprobe = self.nprobe
        self._quantizer = quantizer  # the IVF index does not own it
        self.index = _maybe_gpu(faiss, index, device)
        if hasattr(self.index, "nprobe"):
            self.index.nprobe = self.nprobe

    def search(self, h: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _faiss_search(self.index, h, k, self.num_items)


#: the PyPI distributions that install the ``faiss`` package (each its own build of the same files)
FAISS_DISTRIBUTIONS = ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11")


def installed_faiss_distributions() -> list[str]:
    """The FAISS distributions pip installed here (more than one means they overwrote each other)."""
    from importlib import metadata

    found = []
    for name in FAISS_DISTRIBUTIONS:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def import_faiss():  # noqa: ANN201 - the faiss module
    """Import faiss with a clear message when it is missing or installed twice."""
    dists = installed_faiss_distributions()
    if len(dists) > 1:
        raise ImportError(
            f"{' and '.join(dists)} are both installed; they share the faiss/ package, so one has overwritten "
            f"the other: pip uninstall {' '.join(dists)}, then install one ('rsir_pl[cpu]' or 'rsir_pl[gpu]')"
        )
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "generation.fidelity=faiss/faiss-ivf needs FAISS: pip install 'rsir_pl[cpu]' (faiss-cpu), or "
            "'rsir_pl[gpu]' (faiss-gpu) on CUDA machines; the default fidelity=exact needs neither"
        ) from exc
    return faiss


def faiss_has_gpu() -> bool:
    """True when the installed faiss was built with GPU support and sees a GPU."""
    try:
        faiss = import_faiss()
    except ImportError:
        return False
    return hasattr(faiss, "StandardGpuResources") and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


def resolve_index_device(requested: str, model_device: torch.device) -> str:
    """Where a faiss index should live: ``auto`` = GPU when the model is on CUDA and faiss can."""
    if requested == "cpu":
        return "cpu"
    if requested == "gpu":
        if not faiss_has_gpu():
            raise RuntimeError(
                "generation.index_device=gpu but the installed faiss has no GPU support (or sees no "
                "GPU); install faiss-gpu (pip install 'rsir_pl[gpu]') or set index_device: cpu"
            )
        return "gpu"
    if model_device.type == "cuda" and faiss_has_gpu():
        return "gpu"
    if model_device.type == "cuda":
        log.info("faiss has no GPU support here: the index stays on the CPU")
    return "cpu"


def _maybe_gpu(faiss, index, device: str):  # noqa: ANN001, ANN202
    if device != "gpu":
        return index
    res = faiss.StandardGpuResources()
    gpu = faiss.index_cpu_to_gpu(res, torch.cuda.current_device() if torch.cuda.is_available() else 0, index)
    gpu._rsir_resources = res  # keep the resources alive as long as the index
    return gpu


def _as_float32(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


def _faiss_search(index, h: torch.Tensor, k: int, num_items: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    k_eff = min(k, num_items)
    dist, found = index.search(_as_float32(h), k_eff)
    v = torch.from_numpy(dist).to(h.device, h.dtype)
    i = torch.from_numpy(found).to(h.device)
    missing = i < 0
    v = v.masked_fill(missing, NEG_INF)
    i = torch.where(missing, torch.full_like(i, -1), i + 1)  # faiss ids are 0-based rows of items 1..N
    return _pad(v, i, k)


def _pad(v: torch.Tensor, i: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if v.shape[1] >= k:
        return v[:, :k], i[:, :k]
    extra = k - v.shape[1]
    v = torch.cat([v, v.new_full((v.shape[0], extra), NEG_INF)], dim=1)
    i = torch.cat([i, i.new_full((i.shape[0], extra), -1)], dim=1)
    return v, i


def exact_index(item_emb: torch.Tensor, config: Any, device: str = "cpu", seed: int = 0) -> CatalogueIndex:
    """The chunked exact torch index (backends ``exact`` and ``none``); lives where the table does."""
    return ExactIndex(item_emb, getattr(config, "chunk_items", 65536))


def faiss_flat_index(item_emb: torch.Tensor, config: Any, device: str = "cpu", seed: int = 0) -> CatalogueIndex:
    """``faiss.IndexFlatIP`` (backend ``faiss``)."""
    return FaissFlatIndex(item_emb, device)


def faiss_ivf_index(item_emb: torch.Tensor, config: Any, device: str = "cpu", seed: int = 0) -> CatalogueIndex:
    """Clustered ``faiss.IndexIVFFlat`` (backend ``faiss-ivf``) with ``config.nlist`` / ``nprobe``."""
    return FaissIVFIndex(item_emb, config.nlist, config.nprobe, device, seed)


def build_index(
    kind: str,
    item_emb: torch.Tensor,
    *,
    chunk_items: int = 65536,
    nlist: int = 256,
    nprobe: int = 16,
    device: str = "cpu",
    seed: int = 0,
) -> CatalogueIndex:
    """The index of the fidelity backend registered as ``kind`` (see :mod:`rsir_pl.plugins`)."""
    from types import SimpleNamespace

    from rsir_pl.plugins import fidelity_backend

    settings = SimpleNamespace(chunk_items=chunk_items, nlist=nlist, nprobe=nprobe)
    return fidelity_backend(kind).build_index(item_emb, settings, device, seed)
