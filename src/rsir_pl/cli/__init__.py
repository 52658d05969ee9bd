"""The ``rsir`` command line (jsonargparse): it parses, validates and calls library functions.

    rsir fit --config configs/sasrec/toys.yaml                      one model, tested
    rsir self-improve --config configs/sasrec/toys.yaml --iterations 2
    rsir data stats beauty
    rsir data export --run_dir runs/x --iteration 1 --format inter --out toys_rsir.inter
    rsir study iterations --config configs/sasrec/synthetic.yaml
    rsir tune --config configs/sasrec/toys.yaml --grid '{generation.tau: [10, 20]}'
    rsir status runs/x                                              where a run stands
    rsir compare runs/x --iteration 1 --by history                  who gained, per user group
    rsir recommend --model runs/x --users u1 u2 --k 10 --out recs.csv
    rsir evaluate --model runs/x/iter_1/model.pt --data toys
    rsir serve --model runs/x --port 8000

Config files stack (``--config a.yaml --config b.yaml``, later wins) and any option can be set
on the command line with its dotted name (``--trainer.devices=2 --generation.tau=10``).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from rsir_pl.cli.inference import run_evaluate, run_recommend, run_serve
from rsir_pl.cli.parsers import build_parser
from rsir_pl.config import ConfigError, RunConfig


def _run_config(ns: Any) -> RunConfig:
    values = {k: v for k, v in vars(ns).items() if k in RunConfig.__dataclass_fields__}
    sections = {}
    for key, value in values.items():
        sections[key] = _ns_to_dict(value)
    from rsir_pl.config import from_dict

    return from_dict(RunConfig, sections)


def _ns_to_dict(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _ns_to_dict(x) for k, x in v.items() if not k.startswith("__")}
    if hasattr(v, "__dict__") and not isinstance(v, (str, int, float, bool)):
        return {k: _ns_to_dict(x) for k, x in vars(v).items() if not k.startswith("__")}
    return v


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rsir`` console script."""
    parser = build_parser()
    ns = parser.parse_args(list(argv) if argv is not None else None)
    _configure_logging(str(ns.log_level))
    try:
        return _dispatch(ns)
    except (ConfigError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"rsir: error: {exc}", file=sys.stderr)
        return 2


def _configure_logging(level_name: str) -> None:
    level = getattr(logging, level_name.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if level > logging.DEBUG:
        import lightning.pytorch  # noqa: F401  (configures its loggers on import; override after)

        # Lightning repeats device banners and tips for every iteration's Trainer; our own log
        # lines report each phase instead
        for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
            logging.getLogger(name).setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def _dispatch(ns: Any) -> int:
    cmd = ns.command
    if cmd in ("fit", "self-improve"):
        from rsir_pl.loop.runner import self_improve

        config = _run_config(getattr(ns, cmd))
        if cmd == "fit":
            config.iterations = 0  # a config file's iterations apply to self-improve only
        records = self_improve(config)
        _print_records(records, config)
        return 0
    if cmd == "data":
        sub = ns.data
        if sub.data_command == "stats":
            return _data_stats(sub.stats.name, sub.stats.k_core)
        if sub.data_command == "export":
            e = sub.export
            from rsir_pl.storage.export import export_run

            path = export_run(e.run_dir, e.iteration, e.format, e.out)
            print(f"wrote {path}")
            return 0
    if cmd == "study":
        from rsir_pl.studies import run_study

        st = ns.study
        config = _run_config(st)
        out = run_study(st.name, config, grid=st.grid)
        print(f"study {st.name}: table and plot in {out}")
        return 0
    if cmd == "tune":
        from rsir_pl.studies import run_study

        out = run_study("tune", _run_config(ns.tune), grid=ns.tune.grid)
        print((out / "study.md").read_text(encoding="utf-8"))
        return 0
    if cmd == "status":
        from rsir_pl.loop.status import format_status, run_status

        status = run_status(ns.status.run_dir)
        print(format_status(status))
        return 1 if status.problems else 0
    if cmd == "compare":
        return _compare(ns.compare)
    if cmd == "recommend":
        return run_recommend(ns.recommend)
    if cmd == "evaluate":
        return run_evaluate(ns.evaluate)
    if cmd == "serve":
        return run_serve(ns.serve)
    raise ConfigError(f"unknown command {cmd!r}")


def _compare(c: Any) -> int:
    import json

    from rsir_pl.loop.compare import compare_runs, format_comparison, read_tested

    new = read_tested(c.run_dir, c.iteration)
    base = read_tested(c.base or c.run_dir, c.base_iteration)
    rows, by = compare_runs(new, base, c.by, c.edges)
    print(json.dumps(rows, indent=1) if c.json else format_comparison(new, base, rows, by))
    if c.plot:
        from rsir_pl.subgroups import plot_rows

        plot_rows(rows, by, c.plot, f"{new.run_dir} iteration {new.iteration} against iteration {base.iteration}")
        print(f"plot: {c.plot}", file=sys.stderr)
    return 0


def _data_stats(name: str, k_core: int) -> int:
    from rsir_pl.data.registry import load_dataset

    ds = load_dataset(name, k_core=k_core)
    s = ds.stats()
    print(f"dataset       {ds.name}")
    print(f"users         {s['users']:,}")
    print(f"items         {s['items']:,}")
    print(f"interactions  {s['interactions']:,}")
    print(f"mean length   {s['mean_length']:.2f}")
    print(f"density       {s['density']:.6f}")
    print(f"sparsity      {s['sparsity']:.4%}")
    return 0


def _print_records(records: list[dict[str, Any]], config: RunConfig) -> None:
    from rsir_pl.loop.results import to_markdown, verdict_text

    print(to_markdown(records))
    print(f"results: {os.path.join(config.run_dir, 'results.csv')} and results.png\n")
    print(verdict_text(records))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
