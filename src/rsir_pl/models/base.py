"""SequentialRecommender: the LightningModule every backbone implements.

The generator, the evaluator and the loop use a backbone only through this interface:

* :meth:`encode` maps a left-padded batch ``[B, L]`` to hidden states ``[B, L, d]``;
* :meth:`output_embeddings` is the item table scored against hidden states (row 0 = padding);
* :meth:`start_decoding` / :meth:`extend_decoding` / :meth:`select_decoding` give the last hidden
  state of growing sequences, one new item per step. The default re-encodes the whole context;
  transformer backbones override it with a key/value cache.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import lightning as L
import torch
from torch import nn

from rsir_pl.config import ModelConfig
from rsir_pl.metrics import FullRankingMetrics, target_rank
from rsir_pl.models import losses as L_
from rsir_pl.models.schedule import build_scheduler

#: the torch class of each name in ``config.OPTIMIZERS``
_OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

NEG_INF = float("-inf")


class SequentialRecommender(L.LightningModule):
    """Base class: item embeddings, next-item losses, full-ranking validation and test."""

    def __init__(self, num_items: int, max_len: int, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.num_items = int(num_items)
        self.max_len = int(max_len)
        self.save_hyperparameters(
            {"num_items": self.num_items, "max_len": self.max_len, "model": dataclasses.asdict(self.config)}
        )
        self.item_emb = nn.Embedding(self.num_items + 1, self.config.hidden, padding_idx=0)
        self.val_metrics = FullRankingMetrics()
        self.test_metrics = FullRankingMetrics()
        #: weight of real targets against synthetic ones (None = pooled); set by the loop
        self.real_weight: float | None = None
        #: per-item loss weights ``[N + 1]`` (model.item_weighting); set by the loop
        self.item_weight: torch.Tensor | None = None
        #: (user, rank) pairs of the last test run on this process, for paired statistics
        self.test_ranks: list[tuple[torch.Tensor, torch.Tensor]] = []
        #: the inverse gradient's held-out real sequences (inputs, targets), set by the loop for
        #: a fit with synthetic data; None = no inverse gradient
        self.ig_probe: tuple[torch.Tensor, torch.Tensor] | None = None
        #: steps that compared gradients, and how many of them reversed the synthetic gradient
        self.ig_steps = 0
        self.ig_reversed = 0

    # ------------------------------------------------------------------ interface
    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, L, d]`` of a left-padded batch ``seqs [B, L]`` (0 = padding)."""
        raise NotImplementedError

    def output_embeddings(self) -> torch.Tensor:
        """Item table ``[N + 1, d]`` that hidden states are scored against (row 0 = padding)."""
        return self.item_emb.weight

    def encode_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hidden states of a training or evaluation batch; the default reads ``batch["input"]``
        only (HSTU also reads the optional ``time_key``/``time_query`` timestamps)."""
        return self.encode(batch["input"])

    def last_hidden(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden state after the newest item of each left-padded sequence, ``[B, d]``."""
        return self.encode(seqs)[:, -1]

    @property
    def logit_scale(self) -> float:
        """Factor from :meth:`score_all` scores to the logits the model was trained on, so that
        ``softmax(scores * logit_scale)`` is its own next-item distribution (sampled softmax
        divides by ``model.temperature``; full CE and BCE use the raw scores)."""
        return 1.0 / self.config.temperature if self.config.loss == "sampled_softmax" else 1.0

    def score_all(self, h: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, N + 1]`` of every item for hidden states ``h [B, d]``; padding is -inf."""
        scores = h @ self.output_embeddings().T
        scores[:, 0] = NEG_INF
        return scores

    # ------------------------------------------------------------------ decoding
    def start_decoding(self, seqs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Begin decoding from left-padded contexts; returns (last hidden ``[B, d]``, state)."""
        seqs = _trim_left(seqs)
        return self.last_hidden(seqs), {"seqs": seqs}

    def extend_decoding(self, state: Any, items: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Append ``items [B]`` to every context; returns the new last hidden state and state."""
        seqs = torch.cat([state["seqs"], items.view(-1, 1)], dim=1)[:, -self.max_len :]
        seqs = _trim_left(seqs)
        return self.last_hidden(seqs), {"seqs": seqs}

    def select_decoding(self, state: Any, rows: torch.Tensor) -> Any:
        """Keep only ``rows`` of a decoding state (drops finished sequences)."""
        return {"seqs": _trim_left(state["seqs"][rows])}

    # ------------------------------------------------------------------ training
    def next_item_losses(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-target loss for hidden states ``h [M, d]`` and targets ``t [M]``."""
        emb = self.output_embeddings()
        cfg = self.config
        if cfg.loss == "ce":
            return L_.full_softmax_ce(h, t, emb)
        if cfg.loss == "sampled_softmax":
            return L_.sampled_softmax(h, t, emb, cfg.num_negatives, cfg.temperature)
        return L_.bce_one_negative(h, t, emb)

    def extra_loss(self, batch: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor | None:
        """Backbone-specific auxiliary loss (e.g. CL4SRec's contrastive term); None by default."""
        return None

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        h = self.encode_batch(batch)
        target = batch["target"]
        valid = target > 0
        targets = target[valid]
        per_target = self.next_item_losses(h[valid], targets)
        synthetic = batch["synthetic"].view(-1, 1).expand_as(target)[valid]
        if self.config.synthetic_loss == "idl" and bool(synthetic.any()):
            per_target = torch.where(synthetic, L_.inverse_dual_loss(per_target), per_target)
        sample_weight = None
        if self.config.generation_decay is not None and "generation" in batch:
            gen = batch["generation"].view(-1, 1).expand_as(target)[valid]
            sample_weight = L_.generation_weights(gen, self.config.generation_decay)
        if self.item_weight is not None:
            iw = self.item_weight.to(per_target.device)[targets]
            sample_weight = iw if sample_weight is None else sample_weight.to(iw.device) * iw
        if self.ig_probe is not None and bool(synthetic.any()) and torch.is_grad_enabled():
            # the reduction is linear in the per-target losses, so the real and synthetic parts
            # add up to the pooled loss and the synthetic part's gradient can be turned alone
            zero = torch.zeros_like(per_target)
            real_part = L_.weighted_mean(
                torch.where(synthetic, zero, per_target), synthetic, self.real_weight, sample_weight
            )
            syn_part = L_.weighted_mean(
                torch.where(synthetic, per_target, zero), synthetic, self.real_weight, sample_weight
            )
            loss = real_part + self.inverse_gradient_sign(syn_part) * syn_part
        else:
            loss = L_.weighted_mean(per_target, synthetic, self.real_weight, sample_weight)
        if "loss_scale" in batch:
            loss = loss * batch["loss_scale"].to(loss.dtype)
        extra = self.extra_loss(batch, h)
        if extra is not None:
            self.log("train/extra_loss", extra, on_step=False, on_epoch=True, batch_size=len(target))
            loss = loss + extra
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(target))
        return loss

    def inverse_gradient_sign(self, synthetic_loss: torch.Tensor) -> float:
        """+1 when a step down the gradient of ``synthetic_loss`` would also lower the plain loss
        of a random batch of the held-out real sequences (to first order: the two gradients'
        inner product is >= 0), else -1: the Inverse Gradient's choice of direction."""
        if self._trainer is not None and self._trainer.world_size > 1:
            raise RuntimeError("model.inverse_gradient runs on one device (its direction is chosen per process)")
        assert self.ig_probe is not None
        params = [p for p in self.parameters() if p.requires_grad]
        g_syn = torch.autograd.grad(synthetic_loss, params, retain_graph=True, allow_unused=True)
        inp, tgt = self.ig_probe
        rows = torch.randint(len(inp), (min(self.config.ig_probe_batch, len(inp)),))
        probe = {"input": inp[rows].to(self.device), "target": tgt[rows].to(self.device)}
        valid = probe["target"] > 0
        probe_loss = self.next_item_losses(self.encode_batch(probe)[valid], probe["target"][valid]).mean()
        g_probe = torch.autograd.grad(probe_loss, params, allow_unused=True)
        # one device-to-host read per step, not one per parameter tensor
        dot = torch.stack([(a * b).sum() for a, b in zip(g_syn, g_probe) if a is not None and b is not None]).sum()
        sign = 1.0 if float(dot) >= 0 else -1.0
        self.ig_steps += 1
        self.ig_reversed += sign < 0
        self.log("train/ig_reversed", float(sign < 0), on_step=False, on_epoch=True, batch_size=1)
        return sign

    def configure_optimizers(self) -> Any:
        optimizer = _OPTIMIZER_CLASSES[self.config.optimizer](
            self.parameters(),
            lr=self.config.lr,
            betas=(0.9, self.config.adam_beta2),
            weight_decay=self.config.weight_decay,
        )
        c = self.config
        if c.lr_schedule is None:
            return optimizer
        total = self.trainer.estimated_stepping_batches if c.lr_schedule == "cosine" else 0
        scheduler = build_scheduler(optimizer, c.lr_schedule, c.lr_warmup_steps, total, c.lr_min_ratio)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------------------------ evaluation
    def ranking_scores(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Full-catalogue scores of an evaluation batch, history items masked when present."""
        scores = self.score_all(self.encode_batch(batch)[:, -1])
        if "hist_rows" in batch:
            scores[batch["hist_rows"], batch["hist_items"]] = NEG_INF
        return scores

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_metrics.update(self.ranking_scores(batch), batch["target"])

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v.float() for k, v in values.items()}, prog_bar=False, sync_dist=False)
        self.log("val_ndcg10", values["ndcg@10"].float(), prog_bar=True)
        self.val_metrics.reset()

    def on_test_epoch_start(self) -> None:
        self.test_ranks = []

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        ranks = target_rank(self.ranking_scores(batch), batch["target"])
        self.test_metrics.update(ranks=ranks)
        self.test_ranks.append((batch["user"].cpu(), ranks.cpu()))

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.log_dict({f"test/{k}": v.float() for k, v in values.items()})
        self.test_metrics.reset()

    # ------------------------------------------------------------------ inference
    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0, dataloader_idx: int = 0) -> dict[str, Any]:
        """Top-``batch["k"]`` items of every row, best first: ``items`` (internal ids) and
        ``scores`` ``[B, min(k, N)]``, with ``row`` passed through. The batch has the layout of a
        test batch (see :func:`rsir_pl.inference.recommend.query_batch`): items given in
        ``hist_rows``/``hist_items`` are excluded; a slot left without an item scores -inf."""
        scores = self.ranking_scores(batch)
        top = torch.topk(scores, min(int(batch["k"]), self.num_items), dim=1)
        return {"row": batch["row"], "items": top.indices, "scores": top.values}

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: Any = None,
        **kwargs: Any,
    ) -> SequentialRecommender:
        """Rebuild a saved model with its exact architecture: from an rsir_pl ``model.pt``
        (formats 1 and 2), a Lightning checkpoint (``Trainer.save_checkpoint``) or a run
        directory (its last trained iteration). Called on a backbone class, the checkpoint must
        hold that backbone. ``map_location`` moves the model (a device or device string)."""
        from rsir_pl.models.checkpoint import load_checkpoint

        if hparams_file is not None or kwargs:
            raise TypeError(
                "load_from_checkpoint: the checkpoint holds every setting; hparams_file and overrides "
                f"are not supported (got {['hparams_file'] * (hparams_file is not None) + list(kwargs)})"
            )
        model = load_checkpoint(checkpoint_path).model
        if not isinstance(model, cls):
            raise TypeError(f"{checkpoint_path}: holds a {type(model).__name__} model, not a {cls.__name__}")
        if isinstance(map_location, (str, torch.device)):
            model = model.to(map_location)
        return model

    # ------------------------------------------------------------------ helpers
    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    @property
    def emb_scale(self) -> float:
        """What input item embeddings are multiplied by: sqrt(d) as in SASRec, or 1 (model.input_scale)."""
        return math.sqrt(self.config.hidden) if self.config.input_scale == "sqrt_d" else 1.0


class FastDropout(nn.Module):
    """Inverted dropout drawn with ``rand_like`` (same semantics as ``nn.Dropout``, ~2.5x faster
    on CPU, where ``bernoulli_`` dominated a SASRec training step)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


def _trim_left(seqs: torch.Tensor) -> torch.Tensor:
    """Drop leading columns that are padding in every row."""
    nonpad_cols = (seqs != 0).any(dim=0)
    if not bool(nonpad_cols.any()):
        return seqs[:, -1:]
    first = int(nonpad_cols.to(torch.int8).argmax())
    return seqs[:, first:]


def positions(seqs: torch.Tensor) -> torch.Tensor:
    """0-based position of each item within its own (left-padded) sequence; 0 at padding."""
    nonpad = (seqs != 0).long()
    return (nonpad.cumsum(dim=1) - 1).clamp(min=0)


def fixed_slots(seqs: torch.Tensor, max_len: int) -> torch.Tensor:
    """Each column's slot in the ``max_len``-wide left-padded window: the last column is slot
    ``max_len - 1`` whatever the width (a batch trimmed of its left padding keeps its slots)."""
    B, L = seqs.shape
    slots = torch.arange(max_len - L, max_len, device=seqs.device).clamp(min=0)
    return slots.expand(B, L)


def attention_mask(seqs: torch.Tensor) -> torch.Tensor:
    """Boolean ``[B, 1, L, L]`` mask: causal, real keys only, each position sees itself.

    Letting every query attend to itself keeps padded rows from being fully masked, so
    scaled-dot-product attention never returns NaN.
    """
    B, Lq = seqs.shape
    causal = torch.ones(Lq, Lq, dtype=torch.bool, device=seqs.device).tril()
    eye = torch.eye(Lq, dtype=torch.bool, device=seqs.device)
    key_ok = (seqs != 0)[:, None, :] | eye[None]
    return (causal[None] & key_ok)[:, None]
