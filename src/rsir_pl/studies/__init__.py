"""The paper's studies as one-command runs: ``rsir study NAME --config ... [--grid YAML]``.

Each study is a grid of :func:`rsir_pl.loop.runner.self_improve` runs in sub-run directories of
``<run_dir>/study-<name>/`` (each resumable, sharing nothing) and writes ``study.md`` (a
table), ``study.png`` (a plot) and ``study.json`` (the numbers) there.

=================  ==========================================================  ==================
study              what                                                        default grid
=================  ==========================================================  ==================
iterations         test metrics per iteration with / without the fidelity      [check, none]
                   check (the collapse curve), K = ``iterations``
tau, p             one iteration per value; choose by validation NDCG@10       paper's grids
noise              base vs RSIR on training parts with random items            [0, .2, .4, .6, .8]
weak-to-strong     generator x student matrix of relative improvements         h32, h64 -> h64
data               density and ApEn' per iteration, RSIR vs Insertion          (none)
weighting          loss weighting of synthetic data over K iterations          null, 0.8, golden,
                   (``synthetic_weight`` values or ``model.*`` mappings)       decay 0.5, adaptive
leakage            implausible share of generated steps (synthetic data only)  tau [5, 20, 100]
tune               RSIR settings chosen on validation NDCG@10 (one base, one   tau [10, 20] x
                   iteration per setting); the choice's test result once       p [0.5, 1.0]
asrep              base, ASReP, RSIR and ASReP+RSIR on one base, each with     [asrep, rsir,
                   its paired CI against the base and against each other       asrep+rsir]
encoder            the base's encoder choices on validation (one base per      fixed_slot, no
                   setting); the choice's test result against the config's     input scale,
                                                                               ffn_mult 1
=================  ==========================================================  ==================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig


def _registry() -> dict[str, Callable[[RunConfig, Any], Path]]:
    from rsir_pl.studies import asrep, data, encoder, iterations, leakage, noise, sweep, tune, weak_to_strong, weighting

    return {
        "iterations": iterations.run,
        "tau": lambda base, grid: sweep.run(base, "tau", grid),
        "p": lambda base, grid: sweep.run(base, "p", grid),
        "noise": noise.run,
        "weak-to-strong": weak_to_strong.run,
        "data": data.run,
        "weighting": weighting.run,
        "leakage": leakage.run,
        "tune": tune.run,
        "asrep": asrep.run,
        "encoder": encoder.run,
    }


#: every study name run_study accepts
STUDIES = (
    "iterations",
    "tau",
    "p",
    "noise",
    "weak-to-strong",
    "data",
    "weighting",
    "leakage",
    "tune",
    "asrep",
    "encoder",
)


def run_study(name: str, base_config: RunConfig, grid: Any = None) -> Path:
    """Run (or resume) study ``name`` on top of ``base_config``; returns the study directory.

    ``grid`` overrides the study's grid: a list of values (a dict with ``generators`` and
    ``students`` for weak-to-strong).
    """
    studies = _registry()
    if name not in studies:
        raise ConfigError(f"unknown study {name!r}; choose one of {', '.join(STUDIES)}")
    return studies[name](base_config, grid)


__all__ = ["run_study", "STUDIES"]
