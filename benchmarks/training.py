"""SASRec training throughput: rsir_pl against RecBole's SASRec on the same Beauty file.

Both sides train SASRec with the same settings (hidden 64, 2 layers, 2 heads, inner 256, dropout
0.5/0.5, max length 50, batch 256, Adam lr 1e-3, full-softmax cross-entropy) for a fixed number of
epochs on the same leave-one-out split of the same users, on the same number of CPU threads, and
validate once per epoch with full ranking. Reported: training wall time per epoch, what one epoch
trains on and the rates (see below), and validation NDCG@10.

What an epoch is differs, and the table says so:

* RecBole trains on prefix-augmented samples: a training part (i_1..i_n) becomes the n-1 samples
  (i_1..i_j) -> i_{j+1}, each one forward pass predicting ONE target;
* rsir_pl trains on each user's training part once, predicting every position's next item in one
  pass (up to max_len targets per sequence).

So "sequences per second" is samples/s for RecBole and users/s for rsir_pl; both also get
"targets/s" (next-item predictions per second, the comparable unit) and "users/s" (an epoch over
all training users divided by its time).

RecBole runs in its own virtualenv (benchmarks/out/recbole-venv, built on first use: RecBole 1.2.1,
torch 2.13.0 CPU, numpy<2), in a child process started by this script, so its imports never touch
rsir_pl's environment. If the venv cannot be built or RecBole fails, the error and what was tried
are written to the results.

    python benchmarks/training.py --epochs 3 --threads 2
    python benchmarks/training.py --epochs 1 --max-users 2000 --threads 1     # quick check
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as C

RESULT_TAG = "RECBOLE-RESULT "
RECBOLE_VERSION = "1.2.1"
TORCH_VERSION = "2.13.0"
#: what the venv build tries, in order (pins that RecBole 1.2.1 needs on Python 3.11 / numpy 2 era wheels)
RECBOLE_PINS = ["numpy<2"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="beauty", help="registered dataset (%(default)s)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs on both sides (%(default)s)")
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help="train each side until its validation NDCG@10 has not improved for this many epochs (at most "
        "--epochs), and report the training time each needs to reach RecBole's best validation NDCG@10",
    )
    p.add_argument("--max-users", type=int, default=None, help="random subsample of users (quick checks)")
    p.add_argument("--seed", type=int, default=2020, help="seed of both sides and of the subsample")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="training device (%(default)s)")
    p.add_argument("--skip-recbole", action="store_true", help="run the rsir_pl side only")
    p.add_argument("--skip-rsir", action="store_true", help="run the RecBole side only")
    p.add_argument(
        "--venv",
        default=str(C.OUT_DIR / "recbole-venv"),
        help="RecBole's virtualenv, built when missing (%(default)s)",
    )
    p.add_argument("--rebuild-venv", action="store_true", help="rebuild the RecBole venv even if it works")
    p.add_argument("--recbole-child", default=None, help=argparse.SUPPRESS)
    C.add_common_args(p, threads_default=2)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- shared settings
SETTINGS = {
    "hidden": 64,
    "layers": 2,
    "heads": 2,
    "inner": 256,
    "dropout": 0.5,
    "attn_dropout": 0.5,
    "max_len": 50,
    "batch_size": 256,
    "lr": 1e-3,
}


# ---------------------------------------------------------------------------- data
def load_users(args: argparse.Namespace):  # noqa: ANN201 - InteractionDataset
    """The dataset, optionally a random subsample of users with items renumbered densely."""
    import numpy as np

    from rsir_pl.data.dataset import InteractionDataset, remap_items
    from rsir_pl.data.registry import load_dataset

    ds = load_dataset(args.dataset)
    if args.max_users is None or args.max_users >= ds.num_users:
        return ds
    rng = np.random.default_rng(args.seed)
    keep = np.sort(rng.choice(ds.num_users, size=args.max_users, replace=False))
    raw = [ds.item_ids[ds.sequences[int(u)]] for u in keep]
    store, item_ids = remap_items(raw, ds.item_ids)
    return InteractionDataset(f"{ds.name}-u{args.max_users}", store, len(item_ids) - 1, item_ids, ds.user_ids[keep])


def write_inter(ds, name: str) -> Path:  # noqa: ANN001
    """RecBole atomic file ``recbole-data/<name>/<name>.inter`` (timestamp = position)."""
    from rsir_pl.storage.export import write_recbole_inter

    path = C.OUT_DIR / "recbole-data" / name / f"{name}.inter"
    names = [str(u) for u in ds.user_ids]
    write_recbole_inter(ds.sequences, path, ds.item_ids, names)
    return path


# ---------------------------------------------------------------------------- rsir_pl side
def run_rsir(args: argparse.Namespace, ds) -> dict[str, Any]:  # noqa: ANN001
    import lightning as L
    import numpy as np
    from lightning.pytorch.callbacks import Callback

    from rsir_pl.config import DataConfig, ModelConfig, TrainerConfig
    from rsir_pl.data.datamodule import SequenceDataModule
    from rsir_pl.models import build_model
    from rsir_pl.training import build_trainer, fit

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.train: list[float] = []
            self.val: list[float] = []
            self.ndcg: list[float] = []
            self._t = self._v = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self._t = time.perf_counter()
            self._val_this_epoch = 0.0

        def on_validation_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self._v = time.perf_counter()

        def on_validation_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            d = time.perf_counter() - self._v
            self._val_this_epoch += d
            self.val.append(d)
            self.ndcg.append(float(trainer.callback_metrics.get("val_ndcg10", float("nan"))))

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            # Lightning validates inside the epoch loop, before this hook: subtract it
            self.train.append(time.perf_counter() - self._t - self._val_this_epoch)

    s = SETTINGS
    L.seed_everything(args.seed, workers=True)
    # batching is left at rsir_pl's default (length buckets with target reweighting, issue 25)
    dcfg = DataConfig(dataset=ds.name, max_len=s["max_len"], batch_size=s["batch_size"], mask_history=False)
    dm = SequenceDataModule(dcfg, dataset=ds, seed=args.seed)
    dm.setup()
    mcfg = ModelConfig(
        backbone="sasrec",
        hidden=s["hidden"],
        layers=s["layers"],
        heads=s["heads"],
        dropout=s["dropout"],
        attn_dropout=s["attn_dropout"],
        ffn_mult=s["inner"] // s["hidden"],
        loss="ce",
        lr=s["lr"],
    )
    model = build_model(mcfg, dm.num_items, s["max_len"])
    timer = EpochTimer()
    tcfg = TrainerConfig(
        max_epochs=args.epochs,
        patience=args.patience or args.epochs,
        accelerator="gpu" if args.device == "cuda" else "cpu",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    res, _ = fit(model, dm, tcfg, callbacks=[timer])
    fit_s = time.perf_counter() - t0
    # the same weights under rsir_pl's default protocol (history items masked)
    dm_masked = SequenceDataModule(
        DataConfig(dataset=ds.name, max_len=s["max_len"], batch_size=s["batch_size"], mask_history=True),
        dataset=ds,
        seed=args.seed,
    )
    masked = build_trainer(tcfg).validate(res.model, datamodule=dm_masked, verbose=False)[0]
    assert dm.train_store is not None and dm.split is not None
    rows = np.flatnonzero(dm.train_store.lengths >= 2)
    real_targets, _ = dm.target_counts()
    return {
        "users": dm.split.num_users,
        "train_sequences": int(len(rows)),
        "train_targets": int(real_targets),
        "items": dm.num_items,
        "bucket_by_length": dcfg.bucket_by_length,
        "bucket_reweight": dcfg.bucket_reweight,
        "epoch_train_s": timer.train,
        "epoch_val_s": timer.val,
        "val_ndcg10": timer.ndcg,
        "best_val_ndcg10": res.best_val_ndcg10,
        "best_epoch": res.best_epoch,
        "best_val_ndcg10_masked": float(masked.get("val_ndcg10", float("nan"))),
        "fit_s": fit_s,
        "torch_threads": __import__("torch").get_num_threads(),
    }


# ---------------------------------------------------------------------------- RecBole venv
def _local_torch_wheel() -> str | None:
    """A CPU torch wheel of the pinned version in pip's find-links folders (this machine: /opt/wheels)."""
    dirs = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d] + ["/opt/wheels"]
    for d in dirs:
        d = d.removeprefix("file://")
        hits = sorted(glob.glob(os.path.join(d, f"torch-{TORCH_VERSION}+cpu-*.whl")))
        if hits:
            return hits[0]
    return None


def recbole_works(py: Path) -> tuple[bool, str]:
    """Can the venv import RecBole's training API? (ok, message)"""
    if not py.exists():
        return False, f"{py} does not exist"
    code = (
        "import numpy, torch, recbole; "
        "from recbole.config import Config; from recbole.data import create_dataset, data_preparation; "
        "from recbole.utils import get_model, get_trainer, init_seed, init_logger; "
        "print(recbole.__version__, torch.__version__, numpy.__version__)"
    )
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        return True, proc.stdout.strip()
    return False, (proc.stderr.strip().splitlines() or ["?"])[-1]


def ensure_venv(venv: Path, rebuild: bool, log: list[str]) -> tuple[bool, str]:
    """Build RecBole's venv when needed; every step (and its failure) goes into ``log``."""
    py = venv / "bin" / "python"
    if not rebuild:
        ok, msg = recbole_works(py)
        if ok:
            log.append(f"existing venv {venv}: recbole/torch/numpy {msg}")
            return True, msg
        log.append(f"venv {venv} not usable ({msg}); building it")
    wheel = _local_torch_wheel()
    torch_spec = wheel or f"torch=={TORCH_VERSION}+cpu"
    torch_extra = [] if wheel else ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(py), "-m", "pip", "install", "-q", torch_spec, *RECBOLE_PINS, *torch_extra],
        [str(py), "-m", "pip", "install", "-q", f"recbole=={RECBOLE_VERSION}", *RECBOLE_PINS],
    ]
    for cmd in steps:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        log.append(
            f"`{' '.join(cmd[1:] if cmd[0] == sys.executable else cmd)}` -> rc {proc.returncode} "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            log.append("error: " + " / ".join(err))
            return False, "venv build failed: " + (err[-1] if err else "?")
    ok, msg = recbole_works(py)
    log.append(f"import check: {'ok' if ok else 'FAILED'}: {msg}")
    return ok, msg


# ---------------------------------------------------------------------------- RecBole side (child, own venv)
def recbole_config(spec: dict[str, Any]) -> dict[str, Any]:
    s = spec["settings"]
    return {
        "data_path": spec["data_path"],
        "checkpoint_dir": spec["work_dir"] + "/saved",
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "MAX_ITEM_LIST_LENGTH": s["max_len"],
        "n_layers": s["layers"],
        "n_heads": s["heads"],
        "hidden_size": s["hidden"],
        "inner_size": s["inner"],
        "hidden_dropout_prob": s["dropout"],
        "attn_dropout_prob": s["attn_dropout"],
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "loss_type": "CE",
        "train_batch_size": s["batch_size"],
        "learning_rate": s["lr"],
        "epochs": spec["epochs"],
        "stopping_step": spec["epochs"] + 1,
        "eval_step": 1,
        "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Hit"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "metric_decimal_place": 6,
        "seed": spec["seed"],
        "reproducibility": True,
        "show_progress": False,
        "state": "WARNING",
        "gpu_id": "0" if spec["device"] == "cuda" else "",
        "worker": 0,
        "save_dataset": False,
        "save_dataloaders": False,
    }


def run_recbole_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside RecBole's venv: build data, model and trainer; time each training epoch and validation."""
    import numpy as np
    import torch

    torch.set_num_threads(int(spec["threads"]))
    os.makedirs(spec["work_dir"], exist_ok=True)
    os.chdir(spec["work_dir"])  # RecBole writes log/ and log_tensorboard/ into the working directory
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    t0 = time.perf_counter()
    config = Config(model="SASRec", dataset=spec["dataset"], config_dict=recbole_config(spec))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, _test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    setup_s = time.perf_counter() - t0
    tds = train_data._dataset
    uid = tds.inter_feat[tds.uid_field].numpy()
    item_len = tds.inter_feat[tds.item_list_length_field].numpy()
    out: dict[str, Any] = {
        "train_samples": int(len(tds)),
        "train_users": int(len(np.unique(uid))),
        "mean_input_len": float(item_len.mean()) if len(item_len) else 0.0,
        "users": int(dataset.user_num - 1),
        "items": int(dataset.item_num - 1),
        "interactions": int(dataset.inter_num),
        "setup_s": setup_s,
        "epoch_train_s": [],
        "epoch_val_s": [],
        "val_ndcg10": [],
        "loss": [],
        "torch_threads": torch.get_num_threads(),
        "versions": {"recbole": __import__("recbole").__version__, "torch": torch.__version__, "numpy": np.__version__},
    }
    best, since_best = float("-inf"), 0
    for epoch in range(spec["epochs"]):
        t0 = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        out["epoch_train_s"].append(time.perf_counter() - t0)
        out["loss"].append(float(loss) if not isinstance(loss, tuple) else float(sum(loss)))
        t0 = time.perf_counter()
        score, _result = trainer._valid_epoch(valid_data, show_progress=False)
        out["epoch_val_s"].append(time.perf_counter() - t0)
        out["val_ndcg10"].append(float(score))
        print(f"recbole epoch {epoch}: train {out['epoch_train_s'][-1]:.1f} s, val NDCG@10 {score:.5f}", flush=True)
        if float(score) > best:
            best, since_best = float(score), 0
        else:
            since_best += 1
        if spec.get("patience") and since_best >= spec["patience"]:
            break
    return out


def run_recbole(args: argparse.Namespace, inter: Path, name: str, log: list[str]) -> dict[str, Any]:
    venv = Path(args.venv)
    ok, msg = ensure_venv(venv, args.rebuild_venv, log)
    if not ok:
        return {"error": msg}
    spec = {
        "dataset": name,
        "data_path": str(inter.parent.parent),
        "work_dir": str(C.OUT_DIR / "recbole-work"),
        "epochs": args.epochs,
        "patience": args.patience,
        "seed": args.seed,
        "threads": args.threads or 1,
        "device": args.device,
        "settings": SETTINGS,
    }
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads or 1)
    env.pop("PYTHONPATH", None)
    cmd = [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--recbole-child", json.dumps(spec)]
    t0 = time.perf_counter()
    # stdout is streamed so a long run shows its epochs as they finish; stderr goes to a file so a
    # chatty child cannot fill a pipe nobody reads
    with tempfile.TemporaryFile(mode="w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, text=True, env=env, cwd=str(C.BENCH_DIR))
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("recbole epoch"):
                print("   " + line.rstrip(), flush=True)
        proc.wait()
        err_file.seek(0)
        stderr = err_file.read()
    wall = time.perf_counter() - t0
    for line in lines:
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG) :])
            res["process_s"] = wall
            return res
    err = (stderr or "\n".join(lines)).strip().splitlines()
    log.append(f"RecBole run failed (rc {proc.returncode}): " + " / ".join(err[-8:]))
    return {"error": err[-1] if err else f"rc {proc.returncode}"}


# ---------------------------------------------------------------------------- report
def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.recbole_child:
        res = run_recbole_child(json.loads(args.recbole_child))
        print(RESULT_TAG + json.dumps(res))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads or 1))
    C.set_threads(args.threads)
    C.print_header("training throughput: rsir_pl SASRec vs RecBole SASRec")
    ds = load_users(args)
    name = args.dataset if args.max_users is None else f"{args.dataset}-u{args.max_users}"
    inter = write_inter(ds, name)
    st = ds.stats()
    print(
        f"data: {name}: {st['users']:,} users, {st['items']:,} items, {st['interactions']:,} interactions; "
        f"RecBole file {inter}"
    )
    log: list[str] = []
    rs: dict[str, Any] = {}
    rb: dict[str, Any] = {}
    if not args.skip_rsir:
        print(f"\n-- rsir_pl: {args.epochs} epoch(s) ...", flush=True)
        rs = run_rsir(args, ds)
        print(f"   train s/epoch {[round(x, 1) for x in rs['epoch_train_s']]}, val NDCG@10 {rs['val_ndcg10']}")
    if not args.skip_recbole:
        print(f"\n-- RecBole {RECBOLE_VERSION}: {args.epochs} epoch(s) (own venv {args.venv}) ...", flush=True)
        rb = run_recbole(args, inter, name, log)
        for line in log:
            print("   " + line)
        if "error" in rb:
            print(f"   RecBole FAILED: {rb['error']}")
        else:
            print(f"   train s/epoch {[round(x, 1) for x in rb['epoch_train_s']]}, val NDCG@10 {rb['val_ndcg10']}")

    # ---- table
    rows = []
    r_ok = bool(rs)
    b_ok = bool(rb) and "error" not in rb
    r_ep = _mean(rs["epoch_train_s"]) if r_ok else None
    b_ep = _mean(rb["epoch_train_s"]) if b_ok else None

    def rate(n: float | None, t: float | None) -> float | None:
        return n / t if n is not None and t else None

    rows.append(["users in the split", rs.get("users"), rb.get("users")])
    rows.append(["items", rs.get("items"), rb.get("items")])
    rows.append(
        [
            "what one epoch trains on",
            f"{rs['train_sequences']:,} user sequences" if r_ok else None,
            f"{rb['train_samples']:,} prefix samples of {rb['train_users']:,} users" if b_ok else None,
        ]
    )
    rows.append(["next-item targets per epoch", rs.get("train_targets"), rb.get("train_samples") if b_ok else None])
    bs = SETTINGS["batch_size"]
    rows.append(
        [
            "optimizer steps per epoch (batches of 256)",
            -(-rs["train_sequences"] // bs) if r_ok else None,
            -(-rb["train_samples"] // bs) if b_ok else None,
        ]
    )
    rows.append(["training wall s / epoch (mean)", r_ep, b_ep])
    rows.append(
        ["training wall s per epoch (each)", _fmt_list(rs.get("epoch_train_s")), _fmt_list(rb.get("epoch_train_s"))]
    )
    rows.append(
        [
            "sequences / s (rsir_pl: users; RecBole: prefix samples)",
            rate(rs.get("train_sequences"), r_ep),
            rate(rb.get("train_samples"), b_ep) if b_ok else None,
        ]
    )
    rows.append(
        ["targets / s", rate(rs.get("train_targets"), r_ep), rate(rb.get("train_samples"), b_ep) if b_ok else None]
    )
    rows.append(
        [
            "users / s (training users / epoch time)",
            rate(rs.get("train_sequences"), r_ep),
            rate(rb.get("train_users"), b_ep) if b_ok else None,
        ]
    )
    rows.append(
        [
            "validation wall s / epoch (mean)",
            _mean(rs["epoch_val_s"]) if r_ok else None,
            _mean(rb["epoch_val_s"]) if b_ok else None,
        ]
    )
    rows.append(
        [
            "val NDCG@10 per epoch (history NOT masked)",
            _fmt_list(rs.get("val_ndcg10"), 4),
            _fmt_list(rb.get("val_ndcg10"), 4),
        ]
    )
    rows.append(
        ["best val NDCG@10 (history not masked)", rs.get("best_val_ndcg10"), max(rb["val_ndcg10"]) if b_ok else None]
    )
    rows.append(
        [
            "best-epoch weights, val NDCG@10 with history masked (rsir_pl default)",
            rs.get("best_val_ndcg10_masked"),
            None,
        ]
    )
    target = time_to_target(rs, rb) if (r_ok and b_ok and args.patience) else None
    if target is not None:
        rows.extend(target["rows"])
    rows.append(["torch threads", rs.get("torch_threads"), rb.get("torch_threads")])
    table = C.markdown_table(["", "rsir_pl SASRec", f"RecBole {RECBOLE_VERSION} SASRec"], rows)
    ratio_line = ""
    if r_ok and b_ok:
        ratio_line = (
            f"Epoch-time ratio RecBole / rsir_pl: {b_ep / r_ep:.2f}x; targets/s ratio rsir_pl / RecBole: "
            f"{(rs['train_targets'] / r_ep) / (rb['train_samples'] / b_ep):.2f}x."
        )
    print()
    print(table)
    print(ratio_line)
    setup = (
        f"Dataset `{name}` ({st['users']:,} users, {st['items']:,} items, {st['interactions']:,} interactions"
        + (f"; a random subsample of {args.max_users:,} users" if args.max_users else "")
        + f"), written as `{inter.relative_to(C.REPO_ROOT)}` (timestamp = position). SASRec on both sides: hidden "
        f"{SETTINGS['hidden']}, {SETTINGS['layers']} layers, {SETTINGS['heads']} heads, inner {SETTINGS['inner']}, "
        f"dropout {SETTINGS['dropout']}/{SETTINGS['attn_dropout']}, max len {SETTINGS['max_len']}, batch "
        f"{SETTINGS['batch_size']}, Adam lr {SETTINGS['lr']}, full-softmax CE (RecBole loss_type CE, "
        f"train_neg_sample_args None), "
        + (
            f"each side until {args.patience} epochs without a better validation NDCG@10 (at most {args.epochs}), "
            if args.patience
            else f"{args.epochs} epoch(s), "
        )
        + f"device {args.device}, {args.threads} thread(s) each. "
        + (
            f"rsir_pl batches at its default (length buckets {rs['bucket_by_length']}, target reweighting "
            f"{rs['bucket_reweight']}). "
            if r_ok
            else ""
        )
        + "Split: leave-one-out on both (RecBole LS valid_and_test, order TO; rsir_pl LeaveOneOutSplit). "
        "An rsir_pl epoch is one pass over every user's training part (all positions are targets, the last "
        f"{SETTINGS['max_len']} inputs kept); a RecBole epoch is one pass over the prefix-augmented samples (one "
        "target each), so RecBole also takes several times more optimizer steps per epoch, which matters "
        "when comparing NDCG after a fixed number of epochs. Validation: full ranking of the second-to-last item; "
        "RecBole does not mask the user's history "
        "for sequential models, so rsir_pl is run with mask_history=false for the per-epoch numbers (its default, "
        "masked, is reported separately for the best epoch); tie handling differs (rsir_pl counts ties against the "
        "target, RecBole's topk breaks them arbitrarily). Architectures differ in detail (rsir_pl: pre-LN blocks, "
        "positions counted from the first item; RecBole: post-LN, positions from the left-padded window). "
        "Training time excludes validation on both sides; RecBole's dataset build "
        + (f"took {rb['setup_s']:.1f} s and is not counted." if b_ok else "is not counted.")
    )
    body = [setup, table]
    if ratio_line:
        body.append(ratio_line)
    if log:
        body.append("RecBole environment:\n\n" + "\n".join(f"- {line}" for line in log))
    if b_ok:
        body.append(f"RecBole versions: {rb['versions']}.")
    if target is not None:
        reading = target["reading"]
    elif r_ok and b_ok:
        reading = (
            f"per epoch over the same users rsir_pl trains in {r_ep:.1f} s and RecBole in {b_ep:.1f} s "
            f"({b_ep / r_ep:.1f}x); per next-item target rsir_pl is "
            f"{(rs['train_targets'] / r_ep) / (rb['train_samples'] / b_ep):.1f}x faster, largely because RecBole "
            "re-encodes every prefix as its own sample; validation NDCG@10 after "
            f"{args.epochs} epoch(s): {rs['best_val_ndcg10']:.4f} vs {max(rb['val_ndcg10']):.4f} (unmasked)"
            + (" on a subsample: not a quality comparison" if args.max_users else "")
            + "."
        )
    elif r_ok:
        reading = f"rsir_pl trains an epoch in {r_ep:.1f} s; RecBole " + (
            "was skipped." if args.skip_recbole else f"could not be run: {rb.get('error')} (see the environment log)."
        )
    else:
        reading = "rsir_pl side skipped" + (f"; RecBole {b_ep:.1f} s per epoch." if b_ok else ".")
    print(f"\nReading: {reading}")
    C.append_results(args.results, C.section(f"Training throughput: rsir_pl vs RecBole SASRec ({name})", body, reading))
    return 0


def _first_reach(vals: list[float], times: list[float], target: float) -> tuple[int, float] | None:
    """(epoch, cumulative training seconds) of the first epoch whose validation reaches ``target``."""
    total = 0.0
    for epoch, (v, t) in enumerate(zip(vals, times)):
        total += t
        if v >= target:
            return epoch, total
    return None


def time_to_target(rs: dict[str, Any], rb: dict[str, Any]) -> dict[str, Any]:
    """Rows and reading for "training time to RecBole's best validation NDCG@10" (both sides unmasked)."""
    batching = "length buckets" if rs["bucket_by_length"] else "uniform batches"
    if rs["bucket_by_length"] and rs["bucket_reweight"]:
        batching += " with reweighting"
    best_rb = max(rb["val_ndcg10"])
    rb_epoch, rb_s = _first_reach(rb["val_ndcg10"], rb["epoch_train_s"], best_rb)  # type: ignore[misc]
    rb_val_s = sum(rb["epoch_val_s"][: rb_epoch + 1])
    hit = _first_reach(rs["val_ndcg10"], rs["epoch_train_s"], best_rb)
    rows: list[list[Any]] = [
        ["epochs trained (early stopping)", len(rs["epoch_train_s"]), len(rb["epoch_train_s"])],
        ["target: RecBole's best val NDCG@10 (history not masked)", best_rb, best_rb],
        ["epoch that first reaches the target", hit[0] if hit else "not reached", rb_epoch],
        ["training s to the target", hit[1] if hit else None, rb_s],
    ]
    if hit:
        rs_val_s = sum(rs["epoch_val_s"][: hit[0] + 1])
        rows.append(["training + validation s to the target", hit[1] + rs_val_s, rb_s + rb_val_s])
        reading = (
            f"rsir_pl ({batching}, its default) reaches RecBole's best validation NDCG@10 "
            f"({best_rb:.4f}, unmasked) after {hit[1]:.0f} s of training (epoch {hit[0]}) against RecBole's "
            f"{rb_s:.0f} s (epoch {rb_epoch}): {rb_s / hit[1]:.1f}x less training time; rsir_pl's own best is "
            f"{rs['best_val_ndcg10']:.4f}."
        )
    else:
        reading = (
            f"rsir_pl ({batching}) does not reach RecBole's best validation NDCG@10 "
            f"({best_rb:.4f}, unmasked; RecBole needed {rb_s:.0f} s of training): its best is "
            f"{rs['best_val_ndcg10']:.4f} after {sum(rs['epoch_train_s']):.0f} s."
        )
    return {"rows": rows, "reading": reading}


def _fmt_list(xs: list[float] | None, digits: int = 3) -> str | None:
    if not xs:
        return None
    return ", ".join(C.fmt(float(x), digits) for x in xs)


if __name__ == "__main__":
    os.environ.setdefault("RSIR_DATA_DIR", str(C.REPO_ROOT.parent / "shared" / "data"))
    raise SystemExit(main())
