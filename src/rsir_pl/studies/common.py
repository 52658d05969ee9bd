"""What every study shares: sub-run configs, running a grid, the table, the plot and the files.

A study is a grid of :func:`rsir_pl.loop.runner.self_improve` runs, each in its own run
directory ``<run_dir>/study-<name>/<label>/`` (resumable, sharing nothing), summarised in
``study.md`` (a markdown table), ``study.png`` (a plot) and ``study.json`` (the numbers),
written atomically through :class:`rsir_pl.storage.rundir.RunDir`.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rsir_pl.config import ConfigError, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.storage.rundir import RunDir
from rsir_pl.storage.writer_lock import release_writer_lock

log = logging.getLogger("rsir_pl.studies")

#: (label, config, datamodule factory or None)
Run = tuple[str, RunConfig, "Callable[[], SequenceDataModule] | None"]


def study_path(base: RunConfig, name: str) -> Path:
    """``<base.run_dir>/study-<name>``."""
    return Path(base.run_dir) / f"study-{name}"


def slug(label: str) -> str:
    """A directory name for a run label."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("_") or "run"


def derive(
    base: RunConfig,
    run_dir: Path,
    iterations: int | None = None,
    share_base: bool = True,
    **sections: dict[str, Any],
) -> RunConfig:
    """``base`` with another run directory, K and section fields (``generation={"tau": 5}``).

    The sub-run keeps ``base.base_from`` only while it would train the same base model (equal
    :meth:`~rsir_pl.config.RunConfig.base_settings`) and ``share_base`` holds; pass
    ``share_base=False`` when the sub-run trains on other data than the config says (noise).
    """
    changes: dict[str, Any] = {"run_dir": str(run_dir)}
    if iterations is not None:
        changes["iterations"] = iterations
    for section, values in sections.items():
        if values:
            try:
                changes[section] = dataclasses.replace(getattr(base, section), **values)
            except TypeError as exc:  # an unknown field name
                raise ConfigError(f"{section}: {exc}") from exc
    out = dataclasses.replace(base, **changes)
    if out.base_from and (not share_base or out.base_settings() != base.base_settings()):
        out = dataclasses.replace(out, base_from=None)
    return out


def run_grid(runs: Sequence[Run]) -> dict[str, list[dict[str, Any]]]:
    """Run (or resume) every run in order; returns the records of each label."""
    out: dict[str, list[dict[str, Any]]] = {}
    from rsir_pl.loop.runner import self_improve

    for i, (label, config, make_dm) in enumerate(runs, 1):
        log.info("study run %d/%d: %s (%s)", i, len(runs), label, config.run_dir)
        out[label] = self_improve(config, datamodule=make_dm() if make_dm else None)
        # the sub-run is finished: another process may now read it back or train another setting
        release_writer_lock(config.run_dir)
    return out


def metric(rec: dict[str, Any] | None, name: str) -> float | None:
    """A test metric of a record (None when missing)."""
    return None if rec is None else rec.get("test", {}).get(name)


def relative(rec: dict[str, Any] | None, name: str) -> float | None:
    """The paired relative change of a metric against iteration 0 (None for iteration 0)."""
    if rec is None or "vs_base" not in rec:
        return None
    return rec["vs_base"][name]["relative"]


LABELS = {"ndcg@10": "NDCG@10", "recall@10": "Recall@10"}


def change_columns(rec: dict[str, Any] | None, names: tuple[str, ...] = ("ndcg@10", "recall@10")) -> dict[str, Any]:
    """``rel X`` and ``X CI`` of each metric: the paired change of ``rec`` against iteration 0."""
    out: dict[str, Any] = {}
    for name in names:
        out[f"rel {LABELS[name]}"] = relative(rec, name)
        out[f"{LABELS[name]} CI"] = ci(rec, name)
    return out


def against_base_columns(
    base: dict[str, Any] | None, rec: dict[str, Any] | None, name: str, base_label: str, label: str
) -> dict[str, Any]:
    """Base and ``rec`` value of one metric, then the paired change and its CI (four columns)."""
    m = LABELS[name]
    return {
        f"{base_label} {m}": metric(base, name),
        f"{label} {m}".strip(): metric(rec, name),
        **change_columns(rec, (name,)),
    }


def gen_stat(rec: dict[str, Any] | None, key: str) -> Any:
    """A generation statistic of a record (its D'_{k+1}); None when it generated nothing."""
    if rec is None:
        return None
    return (rec.get("generation") or {}).get(key)


def ci(rec: dict[str, Any] | None, name: str) -> str:
    """``[-0.0018, +0.0010]``: the 95% bootstrap CI of the paired per-user difference of a metric
    against iteration 0 ("" for iteration 0)."""
    if rec is None or "vs_base" not in rec:
        return ""
    c = rec["vs_base"][name]
    return f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"


def paired_between(run_a: Path, run_b: Path, k: int, seed: int = 0) -> dict[str, dict[str, float]] | None:
    """Paired per-user comparison of iteration ``k`` of run ``b`` against iteration ``k`` of run
    ``a`` (their ``test_ranks.npz``); None when either is missing."""
    from rsir_pl.significance import paired_comparison

    a, b = RunDir(run_a, writer=False), RunDir(run_b, writer=False)
    rel = f"iter_{k}/test_ranks.npz"
    if not (a.has(rel) and b.has(rel)):
        return None
    return paired_comparison(a.read_arrays(rel)["ranks"], b.read_arrays(rel)["ranks"], seed=seed)


def ci_text(cmp: dict[str, dict[str, float]] | None, name: str) -> str:
    """``+1.23% [-0.0004, +0.0021]``: relative change and the CI of the mean difference."""
    if cmp is None:
        return ""
    c = cmp[name]
    return f"{100 * c['relative']:+.2f}% [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"


def fmt(v: Any) -> str:
    """Table cell text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v:  # NaN
            return "nan"
        return f"{v:.4f}" if abs(v) >= 1 else f"{v:.5f}"
    return str(v)


def pct(v: float | None) -> str:
    """A relative change as a signed percentage."""
    return "" if v is None else f"{100 * v:+.2f}%"


def md_table(
    columns: Sequence[str], rows: Sequence[dict[str, Any]], percent: Sequence[str] = (), verbatim: Sequence[str] = ()
) -> str:
    """A markdown table of ``rows`` (dicts); ``percent`` columns hold relative changes,
    ``verbatim`` ones settings shown as given."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            pct(row.get(c)) if c in percent else str(row.get(c)) if c in verbatim else fmt(row.get(c)) for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(ncols: int, width: float = 4.6, height: float = 3.6):  # noqa: ANN201
    """A matplotlib figure with ``ncols`` axes (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def png(fig: Any) -> bytes:
    """The figure as PNG bytes (and closed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def curves_per_iteration(records: dict[str, list[dict[str, Any]]], title: str) -> bytes:
    """Test NDCG@10 and Recall@10 against the iteration, one line per label, as PNG bytes."""
    fig, axes = figure(2)
    for ax, m, name in zip(axes, ("ndcg@10", "recall@10"), ("NDCG@10", "Recall@10")):
        for lab, recs in records.items():
            ax.plot(range(len(recs)), [metric(r, m) for r in recs], "o-", label=lab)
        ax.set_xlabel("iteration k")
        ax.set_xticks(range(max((len(r) for r in records.values()), default=1)))
        ax.set_title(f"test {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return png(fig)


def write_study(
    path: Path,
    name: str,
    base: RunConfig,
    grid: Any,
    table: str,
    plot: bytes | None,
    numbers: dict[str, Any],
    records: dict[str, list[dict[str, Any]]],
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Write study.md, study.png and study.json atomically into ``path``; returns ``path``."""
    rd = RunDir(path)
    head = [
        f"# Study `{name}`: {title}",
        "",
        f"dataset `{base.data.dataset}`, backbone `{base.model.backbone}` (hidden {base.model.hidden}, "
        f"{base.model.layers} layers), seed {base.seed}, runs under `{path}`",
        "",
    ]
    body = "\n".join(head) + "\n" + table + ("\n" + "\n".join(notes) + "\n" if notes else "")
    rd.write_text("study.md", body)
    if plot is not None:
        rd.write_bytes("study.png", plot)
    rd.write_json(
        "study.json",
        {
            "format": "rsir_pl.study/1",
            "study": name,
            "grid": grid,
            "config": base.to_dict(),
            **numbers,
            "runs": {label: recs for label, recs in records.items()},
        },
    )
    return path


def change_sentences(
    before: dict[str, float], after: dict[str, float], vs: dict[str, Any] | None, before_name: str
) -> list[str]:
    """``Test NDCG@10: base 0.06250 -> 0.06030 (-3.52%, 95% CI [...], p=...).`` and the same for
    Recall@10: the test change of a selected run against its reference, with the paired CI."""
    out = []
    for m, name in (("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10")):
        c = (vs or {}).get(m)
        ci = ""
        if c:
            ci = f" ({100 * c['relative']:+.2f}%, 95% CI [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], "
            ci += f"p={c['p_value']:.3g})"
        out.append(f"Test {name}: {before_name} {before[m]:.5f} -> {after[m]:.5f}{ci}.")
    return out


def validation_bars(rows: list[dict[str, Any]], label_key: str, ref: float | None, ref_label: str, title: str) -> bytes:
    """Bars of each row's best validation NDCG@10 (the ``selected`` row in orange) against a dotted
    reference line, zoomed to the scores' range, as PNG bytes."""
    fig, axes = figure(1, width=max(4.6, 1.1 * len(rows)))
    ax = axes[0]
    xs = list(range(len(rows)))
    ax.bar(xs, [r["val NDCG@10"] or 0.0 for r in rows], color=["C1" if r["selected"] else "C0" for r in rows])
    if ref is not None:
        ax.axhline(ref, color="k", ls=":", label=ref_label)
        ax.legend(fontsize=8)
    vals = [r["val NDCG@10"] for r in rows if r["val NDCG@10"] is not None] + ([ref] if ref else [])
    if vals:
        lo, hi = min(vals), max(vals)
        pad = max(hi - lo, 1e-4)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xticks(xs)
    ax.set_xticklabels([r[label_key] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("best validation NDCG@10")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return png(fig)


def try_plot(make: Callable[[], bytes]) -> bytes | None:
    """The plot's PNG, or None (with a warning) when matplotlib is missing."""
    try:
        return make()
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        log.warning("matplotlib is not installed: no study.png")
        return None


def grid_list(grid: Any, default: Sequence[Any], name: str) -> list[Any]:
    """The study's grid: ``grid`` (a non-empty list) or the default."""
    if grid is None:
        return list(default)
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or not grid:
        raise ConfigError(f"study {name}: --grid must be a non-empty list (got {grid!r})")
    return list(grid)
