"""Run by tests/test_ddp.py: 2 CPU processes (gloo) evaluate and generate from saved weights.

usage: python tests/ddp_worker.py MODEL_PT OUT_DIR [NUM_NODES DEVICES]
Lightning's DDP launcher re-runs this script once per extra device (the default: 1 node, 2
devices). Under torchrun (``--nnodes 2 --nproc_per_node 1``, arguments ``2 1``) every process is
started by torchrun and Lightning joins the group torchrun describes in the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch

from rsir_pl.config import DataConfig, GenerationConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.loop.callback import generate_for_next_iteration
from rsir_pl.models import load_model
from rsir_pl.training import evaluate


def main(model_path: str, out_dir: str, num_nodes: int = 1, devices: int = 2) -> None:
    torch.set_num_threads(1)
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20, eval_batch_size=96))
    dm.setup()
    model = load_model(model_path, num_items=dm.num_items)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    metrics, ranks = evaluate(model, dm, trainer)
    model.eval()
    result = generate_for_next_iteration(
        model,
        dm,
        GenerationConfig(m=3, max_len=20, progress=False),
        seed=3,
        iteration=0,
        rank=trainer.global_rank,
        world=trainer.world_size,
    )
    dm.expand(result.sequences)
    out = Path(out_dir)
    rank = trainer.global_rank
    (out / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "world": trainer.world_size,
                "node_rank": trainer.node_rank,
                "metrics": metrics,
                "ranks": ranks.tolist(),
                "digest": dm.train_store.digest(),
                "kept": result.stats["kept_sequences"],
            }
        )
    )
    result.sequences.save(out / f"synthetic_rank{rank}.npz")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:5]))
