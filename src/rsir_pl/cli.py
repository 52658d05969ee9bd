"""The ``rsir`` command line (jsonargparse): it parses, validates and calls library functions.

    rsir fit --config configs/sasrec/toys.yaml                      one model, tested
    rsir self-improve --config configs/sasrec/toys.yaml --iterations 2
    rsir data stats beauty
    rsir data export --run_dir runs/x --iteration 1 --format inter --out toys_rsir.inter
    rsir study iterations --config configs/sasrec/synthetic.yaml

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

from jsonargparse import ActionConfigFile, ArgumentParser

from rsir_pl.config import GENERATION_PRESETS, ConfigError, RunConfig


def _run_parser(description: str, iterations_default: int | None) -> ArgumentParser:
    p = ArgumentParser(description=description)
    p.add_argument("--config", action=ActionConfigFile, help="YAML config file(s); later files override earlier ones")
    p.add_class_arguments(RunConfig, nested_key=None)
    # presets fill these only when they are left unset
    p.set_defaults({f"generation.{k}": None for k in GENERATION_PRESETS["paper"]})
    if iterations_default is not None:
        p.set_defaults({"iterations": iterations_default})
    return p


def build_parser() -> ArgumentParser:
    """The full ``rsir`` parser."""
    parser = ArgumentParser(prog="rsir", description="Recursive self-improving sequential recommendation")
    parser.add_argument("--log_level", default="INFO", help="logging level")
    sub = parser.add_subcommands(required=True, dest="command")
    sub.add_subcommand(
        "fit", _run_parser("Train and test one model (iteration 0 only).", 0), help="train and test one model"
    )
    sub.add_subcommand(
        "self-improve",
        _run_parser("Run or resume the RSIR loop for K iterations.", None),
        help="run or resume the RSIR loop",
    )

    data = ArgumentParser(description="Dataset utilities")
    sub.add_subcommand("data", data, help="dataset utilities")
    data_sub = data.add_subcommands(required=True, dest="data_command")
    stats = ArgumentParser(description="Users, items, interactions, mean length and sparsity of a dataset")
    stats.add_argument("name", help="registered name (synthetic, beauty, toys, sports, yelp) or a file path")
    stats.add_argument("--k_core", type=int, default=5)
    data_sub.add_subcommand("stats", stats, help="print dataset statistics")
    export = ArgumentParser(description="Write D_k of a run in a format other tools read")
    export.add_argument("--run_dir", required=True)
    export.add_argument("--iteration", type=int, required=True, help="k: export D_k (0 = real data only)")
    export.add_argument("--format", choices=["sequences", "inter"], default="sequences")
    export.add_argument("--out", required=True, help="output file")
    data_sub.add_subcommand("export", export, help="export an augmented dataset")

    study = _run_parser("Run a study (a grid of self-improvement runs) and write its table and plot.", None)
    study.add_argument("name", help="iterations | tau | p | noise | weak-to-strong | data | weighting | leakage")
    study.add_argument("--grid", type=Any, default=None, help="override the study's grid (a YAML list)")
    sub.add_subcommand("study", study, help="run one of the paper's studies")
    return parser


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
            from rsir_pl.data.export import export_run

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
    raise ConfigError(f"unknown command {cmd!r}")


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
