"""The ``rsir`` argument parsers: subcommands, typo suggestions, help that lists what a command uses."""

from __future__ import annotations

import argparse
from typing import Any, Optional

from jsonargparse import ActionConfigFile, ArgumentParser

from rsir_pl.cli.base import CommandParser
from rsir_pl.cli.inference import evaluate_parser, recommend_parser, serve_parser
from rsir_pl.config import GENERATION_PRESETS, RunConfig


def _run_parser(description: str, iterations_default: int | None) -> ArgumentParser:
    p = CommandParser(description=description)
    p.add_argument("--config", action=ActionConfigFile, help="YAML config file(s); later files override earlier ones")
    p.add_class_arguments(RunConfig, nested_key=None)
    # presets fill these only when they are left unset
    p.set_defaults({f"generation.{k}": None for k in GENERATION_PRESETS["paper"]})
    if iterations_default is not None:
        p.set_defaults({"iterations": iterations_default})
    return p


#: options ``rsir fit`` accepts (a config file shared with self-improve may set them) but never uses
FIT_UNUSED = ("--iterations", "--finetune", "--generation")


def _hide_from_help(parser: ArgumentParser, prefixes: tuple[str, ...]) -> None:
    """Leave options starting with ``prefixes`` out of ``--help`` (they still parse), and the
    groups that are left empty."""
    for action in parser._actions:
        if any(o.startswith(prefixes) for o in action.option_strings):
            action.help = argparse.SUPPRESS
    parser._action_groups = [
        g
        for g in parser._action_groups
        if not g._group_actions or any(a.help is not argparse.SUPPRESS for a in g._group_actions)
    ]


def build_parser() -> ArgumentParser:
    """The full ``rsir`` parser."""
    parser = CommandParser(prog="rsir", description="Recursive self-improving sequential recommendation")
    parser.add_argument("--log_level", default="INFO", help="logging level")
    sub = parser.add_subcommands(required=True, dest="command")
    fit = _run_parser("Train and test one model (iteration 0 only).", 0)
    _hide_from_help(fit, FIT_UNUSED)
    sub.add_subcommand("fit", fit, help="train and test one model")
    sub.add_subcommand(
        "self-improve",
        _run_parser("Run or resume the RSIR loop for K iterations.", None),
        help="run or resume the RSIR loop",
    )

    data = CommandParser(description="Dataset utilities")
    sub.add_subcommand("data", data, help="dataset utilities")
    data_sub = data.add_subcommands(required=True, dest="data_command")
    stats = CommandParser(description="Users, items, interactions, mean length and sparsity of a dataset")
    stats.add_argument("name", help="registered name (synthetic, beauty, toys, sports, yelp) or a file path")
    stats.add_argument("--k_core", type=int, default=5)
    data_sub.add_subcommand("stats", stats, help="print dataset statistics")
    export = CommandParser(description="Write D_k of a run in a format other tools read")
    export.add_argument("--run_dir", required=True)
    export.add_argument("--iteration", type=int, required=True, help="k: export D_k (0 = real data only)")
    export.add_argument("--format", choices=["sequences", "inter"], default="sequences")
    export.add_argument("--out", required=True, help="output file")
    data_sub.add_subcommand("export", export, help="export an augmented dataset")

    study = _run_parser("Run a study (a grid of self-improvement runs) and write its table and plot.", None)
    study.add_argument(
        "name", help="iterations | tau | p | noise | weak-to-strong | data | weighting | leakage | asrep"
    )
    study.add_argument("--grid", type=Any, default=None, help="override the study's grid (a YAML list)")
    sub.add_subcommand("study", study, help="run one of the paper's studies")
    tune = _run_parser("Train the base once, run one RSIR iteration per setting, select on validation NDCG@10.", 1)
    tune.add_argument(
        "--grid",
        type=Any,
        default=None,
        help="settings to try: {option: [values]} (their product) or [{option: value}, ...]; "
        "default {generation.tau: [10, 20], generation.p: [0.5, 1.0]}",
    )
    sub.add_subcommand("tune", tune, help="choose RSIR settings on validation")
    status = CommandParser(description="Where a run stands: each iteration's state, the fit in progress, the files")
    status.add_argument("run_dir", help="a run directory (rsir fit / self-improve / a study's sub-run)")
    sub.add_subcommand("status", status, help="where a run stands (read only)")
    compare = CommandParser(
        description="Paired per-user test comparison of two tested iterations, overall and per group of users"
    )
    compare.add_argument("run_dir", help="the run directory of the new model")
    compare.add_argument("--iteration", type=Optional[int], default=None, help="its iteration (default: last tested)")
    compare.add_argument("--base", default=None, help="the base's run directory (default: the same run)")
    compare.add_argument("--base_iteration", type=int, default=0, help="the base's iteration (default 0)")
    compare.add_argument("--by", choices=["history", "popularity"], default="history", help="how users are grouped")
    compare.add_argument(
        "--edges",
        nargs="+",
        type=int,
        default=None,
        help="group boundaries, ascending (default: history 5 10 20, popularity 5 20 50)",
    )
    compare.add_argument("--json", type=bool, default=False, help="print the rows as JSON instead of a table")
    compare.add_argument("--plot", type=Optional[str], default=None, help="also draw the changes per group to this PNG")
    sub.add_subcommand("compare", compare, help="who gained: paired comparison per user group")
    sub.add_subcommand("recommend", recommend_parser(), help="top-k items in original ids")
    sub.add_subcommand("evaluate", evaluate_parser(), help="full-ranking test of a saved model")
    sub.add_subcommand("serve", serve_parser(), help="HTTP recommendation server")
    return parser
