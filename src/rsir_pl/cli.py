"""The ``rsir`` command line (jsonargparse): it parses, validates and calls library functions.

    rsir fit --config configs/sasrec/toys.yaml                      one model, tested
    rsir self-improve --config configs/sasrec/toys.yaml --iterations 2
    rsir data stats beauty
    rsir data export --run_dir runs/x --iteration 1 --format inter --out toys_rsir.inter
    rsir study iterations --config configs/sasrec/synthetic.yaml
    rsir tune --config configs/sasrec/toys.yaml --grid '{generation.tau: [10, 20]}'
    rsir recommend --model runs/x --users u1 u2 --k 10 --out recs.csv
    rsir evaluate --model runs/x/iter_1/model.pt --data toys
    rsir serve --model runs/x --port 8000

Config files stack (``--config a.yaml --config b.yaml``, later wins) and any option can be set
on the command line with its dotted name (``--trainer.devices=2 --generation.tau=10``).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, Optional, Union

from jsonargparse import ActionConfigFile, ArgumentParser

from rsir_pl.config import GENERATION_PRESETS, ConfigError, RunConfig


class _Parser(ArgumentParser):
    """jsonargparse's parser with short errors: the problem, a suggestion for a mistyped option
    or command, and where the full help is, instead of the whole usage first."""

    def error(self, message: str, ex: Exception | None = None) -> Any:  # type: ignore[override]
        if not self.exit_on_error:
            return super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        lines = [f"{prog}: error: {message.strip()}"]
        hint = _suggestion(parser, message)
        if hint:
            lines.append(f"  {hint}")
        lines.append(f"  ({prog} --help lists the options)")
        sys.stderr.write("\n".join(lines) + "\n")
        self.exit(2)


def _suggestion(parser: ArgumentParser, message: str) -> str | None:
    """'did you mean ...?' for the first unknown option or invalid choice of ``message``."""
    unknown = re.search(r"unrecognized arguments: (\S+)", message)
    if unknown:
        given = unknown.group(1).split("=", 1)[0]
        known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
        return f"did you mean {close[0]}?" if close else None
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
        return f"did you mean {close[0]!r}?" if close else None
    return None


def _run_parser(description: str, iterations_default: int | None) -> ArgumentParser:
    p = _Parser(description=description)
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


def _model_source_args(p: ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model.pt, a Lightning .ckpt or a run directory")
    p.add_argument(
        "--iteration",
        type=Optional[int],
        default=None,
        help="with a run directory: its iteration k (default: the last)",
    )
    p.add_argument(
        "--data",
        type=Optional[str],
        default=None,
        help="dataset name or file (default: the one the model was trained on); its item ids must be in the "
        "model's catalogue",
    )


def _device_args(p: ArgumentParser) -> None:
    p.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (Lightning)")
    p.add_argument("--devices", type=Union[int, str], default=1, help="devices; several run under --strategy ddp")
    p.add_argument("--strategy", default="auto", help="auto or ddp")
    p.add_argument("--precision", default="32-true", help="Lightning precision string")
    p.add_argument("--progress_bar", type=bool, default=True, help="show a progress bar")


def _recommend_parser() -> ArgumentParser:
    p = _Parser(description="Top-k items, in original ids, for users of the data or for given item sequences.")
    _model_source_args(p)
    p.add_argument("--users", nargs="+", type=str, default=None, help="original user ids (default: every user)")
    p.add_argument("--items", nargs="+", type=str, default=None, help="one item sequence in original ids, oldest first")
    p.add_argument(
        "--sequences", type=Optional[str], default=None, help="a file of item sequences, one per line (original ids)"
    )
    p.add_argument("--k", type=int, default=10, help="items per query")
    p.add_argument("--keep_history", type=bool, default=False, help="allow items the query already holds")
    p.add_argument(
        "--hold_out",
        type=int,
        default=0,
        help="drop each user's last n items first (1 = what the full-ranking test ranked)",
    )
    p.add_argument("--out", default="-", help="output file: .csv, .jsonl or .parquet (default: CSV on stdout)")
    p.add_argument("--format", type=Optional[str], default=None, help="csv, jsonl or parquet (default: from --out)")
    p.add_argument("--batch_size", type=int, default=512, help="queries per model call")
    _device_args(p)
    return p


def _evaluate_parser() -> ArgumentParser:
    p = _Parser(description="The full-ranking leave-one-out test of a saved model on a dataset.")
    _model_source_args(p)
    p.add_argument(
        "--mask_history", type=Optional[bool], default=None, help="mask earlier items (default: as in training)"
    )
    p.add_argument("--eval_batch_size", type=int, default=512, help="users per evaluation batch")
    p.add_argument("--out", type=Optional[str], default=None, help="also write the metrics to this JSON file")
    _device_args(p)
    return p


def _serve_parser() -> ArgumentParser:
    p = _Parser(description="HTTP server (LitServe): POST /recommend {'user': ...} or {'items': [...], 'k': 10}.")
    _model_source_args(p)
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only), 0.0.0.0 or ::")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max_batch_size", type=int, default=1, help="requests ranked together (LitServe batching)")
    p.add_argument("--batch_timeout", type=float, default=0.005, help="seconds a batch waits to fill")
    p.add_argument("--workers", type=int, default=1, help="model copies on the device")
    p.add_argument("--accelerator", default="auto", help="cpu, cuda or auto")
    p.add_argument("--no_users", type=bool, default=False, help="serve item-sequence queries only (no dataset)")
    return p


def build_parser() -> ArgumentParser:
    """The full ``rsir`` parser."""
    parser = _Parser(prog="rsir", description="Recursive self-improving sequential recommendation")
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

    data = _Parser(description="Dataset utilities")
    sub.add_subcommand("data", data, help="dataset utilities")
    data_sub = data.add_subcommands(required=True, dest="data_command")
    stats = _Parser(description="Users, items, interactions, mean length and sparsity of a dataset")
    stats.add_argument("name", help="registered name (synthetic, beauty, toys, sports, yelp) or a file path")
    stats.add_argument("--k_core", type=int, default=5)
    data_sub.add_subcommand("stats", stats, help="print dataset statistics")
    export = _Parser(description="Write D_k of a run in a format other tools read")
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
    sub.add_subcommand("recommend", _recommend_parser(), help="top-k items in original ids")
    sub.add_subcommand("evaluate", _evaluate_parser(), help="full-ranking test of a saved model")
    sub.add_subcommand("serve", _serve_parser(), help="HTTP recommendation server")
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
    if cmd == "tune":
        from rsir_pl.studies import run_study

        out = run_study("tune", _run_config(ns.tune), grid=ns.tune.grid)
        print((out / "study.md").read_text(encoding="utf-8"))
        return 0
    if cmd == "recommend":
        return _recommend(ns.recommend)
    if cmd == "evaluate":
        return _evaluate(ns.evaluate)
    if cmd == "serve":
        return _serve(ns.serve)
    raise ConfigError(f"unknown command {cmd!r}")


def _trainer(a: Any) -> Any:
    from rsir_pl.inference.recommend import inference_trainer

    return inference_trainer(a.accelerator, a.devices, a.strategy, a.precision, a.progress_bar)


def _recommend(a: Any) -> int:
    from rsir_pl.inference import recommend as R
    from rsir_pl.inference.checkpoint import load_checkpoint, load_data

    items = a["items"]  # not a.items: a Namespace has an items() method
    given = [name for name in ("users", "items", "sequences") if a[name] is not None]
    if len(given) > 1:
        raise ConfigError(f"give one of --users, --items and --sequences (got {', '.join('--' + g for g in given)})")
    if a.hold_out and len(given) and given[0] != "users":
        raise ConfigError(f"--hold_out applies to users of the data, not to --{given[0]}")
    if a.out != "-":
        R.output_format(a.out, a.format)  # a bad file name fails before any work
    ckpt = load_checkpoint(a.model, a.iteration)
    if items is not None or a.sequences is not None:
        if ckpt.item_ids is None:
            load_data(ckpt, a.data)  # an id map from the training data (format-1 checkpoints)
        if items is not None:
            queries = R.item_queries(ckpt, [items], "--items")
        else:
            queries = R.item_queries(ckpt, R.read_sequences(a.sequences), a.sequences)
    else:
        queries = R.user_queries(load_data(ckpt, a.data), a.users, a.hold_out)
    trainer = _trainer(a)
    recs = R.recommend(ckpt, queries, trainer, a.k, a.keep_history, a.batch_size)
    if not trainer.is_global_zero:
        return 0
    assert ckpt.item_ids is not None
    if a.out == "-":
        sys.stdout.write(R.encode_recommendations(recs, ckpt.item_ids, a.format or "csv").decode())
    else:
        path = R.write_recommendations(recs, ckpt.item_ids, a.out, a.format)
        print(f"wrote top-{a.k} of {len(queries):,} {queries.kind}s to {path}", file=sys.stderr)
    return 0


def _evaluate(a: Any) -> int:
    import json

    from rsir_pl.data.registry import load_dataset
    from rsir_pl.inference.checkpoint import load_checkpoint
    from rsir_pl.inference.evaluate import evaluate_checkpoint

    ckpt = load_checkpoint(a.model, a.iteration)
    name = a.data or (ckpt.data or {}).get("dataset")
    if not name:
        raise ConfigError(f"{ckpt.source}: the checkpoint does not name its dataset; pass --data NAME_OR_FILE")
    dataset = load_dataset(name, k_core=int((ckpt.data or {}).get("k_core", 5)))
    trainer = _trainer(a)
    result = evaluate_checkpoint(ckpt, dataset, trainer, a.mask_history, a.eval_batch_size)
    if not trainer.is_global_zero:
        return 0
    same = {True: "the data it was trained on", False: "not the data it was trained on", None: "training data unknown"}
    print(f"model    {ckpt.source}")
    print(f"data     {result.dataset} ({same[result.same_as_training]}), {result.users:,} users tested")
    for key in sorted(result.metrics, key=_metric_order):
        print(f"{key:<13}{result.metrics[key]:.5f}")
    if a.out:
        from rsir_pl.atomic import atomic_write_bytes

        record = {
            "model": ckpt.source,
            "data": result.dataset,
            "same_as_training": result.same_as_training,
            "users": result.users,
            "test": result.metrics,
        }
        atomic_write_bytes(a.out, (json.dumps(record, indent=2) + "\n").encode())
    return 0


def _metric_order(name: str) -> tuple[str, int]:
    base, _, k = name.partition("@")
    return base, int(k) if k.isdigit() else 0


def _serve(a: Any) -> int:
    from rsir_pl.inference.checkpoint import load_checkpoint, load_data
    from rsir_pl.inference.server import ServeData, serve

    ckpt = load_checkpoint(a.model, a.iteration)
    dataset = None
    if not a.no_users:
        if a.data or (ckpt.data or {}).get("dataset"):
            dataset = load_data(ckpt, a.data)
        else:
            logging.getLogger("rsir_pl").warning("%s names no dataset: serving item queries only", ckpt.source)
    serve(
        ServeData.build(ckpt, dataset),
        host=a.host,
        port=a.port,
        max_batch_size=a.max_batch_size,
        batch_timeout=a.batch_timeout,
        accelerator=a.accelerator,
        workers=a.workers,
    )
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
