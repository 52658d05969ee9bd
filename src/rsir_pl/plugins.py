"""Plug-in registries: fidelity-check backends and backbones, each known by one registry entry.

A backend or a backbone is added by registering it, from its own module or from user code,
before a config names it::

    from rsir_pl.plugins import FidelityBackend, register_fidelity_backend

    register_fidelity_backend(FidelityBackend("top1", index=my_index, check=my_check))

The config validates ``generation.fidelity`` and ``model.backbone`` against these registries;
the generator asks the entry how to build its index and check and what kind of check it is;
:func:`rsir_pl.models.build_model` asks it for the backbone class. Built-ins are registered
below by ``"module:attribute"`` references, imported only when used, so this module stays at the
bottom of the package (it imports nothing of rsir_pl but the config's error type).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from rsir_pl.config.checks import ConfigError

#: a callable, or a "package.module:attribute" reference to one (imported when first used)
Ref = Union[str, Callable[..., Any]]


def resolve(ref: Ref) -> Callable[..., Any]:
    """The callable behind a reference."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class FidelityBackend:
    """How one ``generation.fidelity`` backend searches the catalogue and checks a step.

    Args:
        name: the config value.
        index: builds the catalogue index, ``(item_emb, config, device, seed) -> CatalogueIndex``
            (``config`` is the GenerationConfig; ``device`` is "cpu" or "gpu" for faiss indexes).
        check: builds the check from the threshold, ``(tau) -> FidelityCheck``.
        approximate: its decisions may differ from the exact rule (the generator then measures
            the agreement with exact on a sample of steps).
        tests_targets: the check reads the remaining true future; False for a backend that
            accepts every step (attempts then end at a length drawn from D_k's lengths).
        faiss: the index is a FAISS index, placed by ``generation.index_device``.
    """

    name: str
    index: Ref
    check: Ref
    approximate: bool = False
    tests_targets: bool = True
    faiss: bool = False

    def build_index(self, item_emb: Any, config: Any, device: str = "cpu", seed: int = 0) -> Any:
        return resolve(self.index)(item_emb, config, device, seed)

    def make_check(self, tau: int) -> Any:
        return resolve(self.check)(tau)


@dataclass(frozen=True)
class Backbone:
    """A ``model.backbone``: the LightningModule class built as ``cls(num_items, max_len, config)``."""

    name: str
    cls: Ref

    def model_class(self) -> type:
        return resolve(self.cls)  # type: ignore[return-value]


_FIDELITY: dict[str, FidelityBackend] = {}
_BACKBONES: dict[str, Backbone] = {}


def register_fidelity_backend(backend: FidelityBackend, *, replace: bool = False) -> FidelityBackend:
    """Make ``backend`` available as ``generation.fidelity: <name>``."""
    return _register(_FIDELITY, backend, replace, "fidelity backend")


def unregister_fidelity_backend(name: str) -> None:
    """Remove a registered backend (tests, interactive sessions)."""
    _FIDELITY.pop(name, None)


def fidelity_backend(name: str) -> FidelityBackend:
    """The backend registered as ``name``; a ConfigError naming the option otherwise."""
    return _lookup(_FIDELITY, name, "generation.fidelity")


def fidelity_backends() -> tuple[str, ...]:
    """Every registered backend name."""
    return tuple(_FIDELITY)


def register_backbone(backbone: Backbone, *, replace: bool = False) -> Backbone:
    """Make ``backbone`` available as ``model.backbone: <name>``."""
    return _register(_BACKBONES, backbone, replace, "backbone")


def unregister_backbone(name: str) -> None:
    """Remove a registered backbone (tests, interactive sessions)."""
    _BACKBONES.pop(name, None)


def backbone(name: str) -> Backbone:
    """The backbone registered as ``name``; a ConfigError naming the option otherwise."""
    return _lookup(_BACKBONES, name, "model.backbone")


def backbones() -> tuple[str, ...]:
    """Every registered backbone name."""
    return tuple(_BACKBONES)


def _register(table: dict[str, Any], entry: Any, replace: bool, what: str) -> Any:
    if entry.name in table and not replace and table[entry.name] != entry:
        raise ValueError(f"a {what} named {entry.name!r} is already registered (pass replace=True)")
    table[entry.name] = entry
    return entry


def _lookup(table: dict[str, Any], name: str, option: str) -> Any:
    if name not in table:
        raise ConfigError(f"{option}: unknown value {name!r}; choose one of {', '.join(table)}")
    return table[name]


# ---------------------------------------------------------------------------- built-ins
_INDEX = "rsir_pl.generation.index"
_CHECK = "rsir_pl.generation.fidelity"
register_fidelity_backend(FidelityBackend("exact", f"{_INDEX}:exact_index", f"{_CHECK}:RankThresholdCheck"))
register_fidelity_backend(
    FidelityBackend("faiss", f"{_INDEX}:faiss_flat_index", f"{_CHECK}:faiss_membership", faiss=True)
)
register_fidelity_backend(
    FidelityBackend("faiss-ivf", f"{_INDEX}:faiss_ivf_index", f"{_CHECK}:ivf_membership", approximate=True, faiss=True)
)
register_fidelity_backend(FidelityBackend("none", f"{_INDEX}:exact_index", f"{_CHECK}:AcceptAll", tests_targets=False))
register_backbone(Backbone("sasrec", "rsir_pl.models.sasrec:SASRec"))
register_backbone(Backbone("cl4srec", "rsir_pl.models.cl4srec:CL4SRec"))
register_backbone(Backbone("hstu", "rsir_pl.models.hstu:HSTU"))
