"""The ``model`` section: the backbone, its size, its loss and how synthetic targets weigh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from rsir_pl.config.checks import check, choice

LOSSES = ("ce", "sampled_softmax", "bce")
OPTIMIZERS = ("adam", "adamw")
#: how a synthetic target enters the loss (models/losses.py)
SYNTHETIC_LOSSES = ("plain", "idl")
#: learning-rate schedules after the linear warm-up (model.lr_schedule; null = none)
LR_SCHEDULES = ("constant", "cosine")
#: how an item's position is counted (model.positions)
POSITION_SCHEMES = ("from_first", "fixed_slot")
#: what multiplies the input item embeddings (model.input_scale)
INPUT_SCALES = ("sqrt_d", "none")


@dataclass
class ModelConfig:
    """The backbone, its size and its loss.

    Args:
        backbone: sasrec, cl4srec or hstu.
        hidden: embedding and hidden size.
        layers: number of blocks.
        heads: attention heads.
        dropout: dropout on embeddings and block outputs.
        attn_dropout: dropout on attention weights.
        ffn_mult: feed-forward inner size as a multiple of hidden (SASRec, CL4SRec).
        positions: from_first (learned positions counted from each sequence's first item, so
            appending never moves earlier positions and cached decoding is exact) or fixed_slot
            (the slot in the max_len-wide left-padded window, so the newest item always has the
            last slot, as in the original SASRec code; every append moves every position, so
            decoding re-encodes the context each step). SASRec and CL4SRec.
        input_scale: sqrt_d (item embeddings times sqrt(hidden), as in SASRec) or none.
        loss: ce (full softmax), sampled_softmax (uniform negatives) or bce (one negative).
        num_negatives: negatives per batch for sampled_softmax.
        temperature: logit temperature for sampled_softmax.
        lr: learning rate.
        lr_schedule: null (constant lr), constant (linear warm-up, then constant) or cosine (linear
            warm-up, then cosine decay to lr * lr_min_ratio over the fit's planned optimizer steps,
            from trainer.max_epochs or trainer.max_steps; early stopping may end the fit before).
        lr_warmup_steps: optimizer steps of linear warm-up (with lr_schedule).
        lr_min_ratio: where cosine ends, as a fraction of lr.
        weight_decay: weight decay: an L2 term in the gradient for adam, decoupled for adamw.
        optimizer: adam (torch.optim.Adam) or adamw (torch.optim.AdamW, decoupled weight decay as
            in the HSTU authors' Lightning configs: lr 1e-3, betas 0.9/0.98, weight decay 1e-3).
        adam_beta2: the second-moment decay of Adam/AdamW (torch's default 0.999).
        synthetic_weight: how synthetic targets weigh against real ones in the loss. null pools
            every target with weight 1 (the paper's code); a number w in (0, 1] gives
            w * mean(real) + (1 - w) * mean(synthetic); "golden" picks w from the ratio of real to
            synthetic targets (see models/losses.py).
        generation_decay: synthetic targets of generation g weigh decay^(g-1) (older generations of
            synthetic data count more than newer ones when decay < 1); null = no decay.
        synthetic_loss: how a synthetic target is trained: plain (as a real positive) or idl
            (Inverse Dual Loss, "Inverse Learning with Extremely Sparse Feedback for
            Recommendation", arXiv 2311.08302: the target's positive loss -log p and negative
            loss -log(1 - p) weighted inversely to their magnitudes, so a synthetic target the
            model finds implausible is trained mostly as a negative); ce and sampled_softmax only.
        inverse_gradient: with ``synthetic_loss: idl``, the same paper's Inverse Gradient, to
            first order: in an iteration with synthetic data, ``ig_holdout`` of the real training
            sequences are held out of training; at every step with synthetic targets, the
            gradient of their loss is compared with the gradient of the plain loss on a batch of
            held-out real sequences, and the synthetic part's gradient is used as is when the two
            agree (a step on it would lower the held-out loss) and reversed when they disagree.
            One device only.
        ig_holdout: share of the real training sequences held out for the inverse gradient.
        ig_probe_batch: held-out sequences per step for the inverse gradient's comparison.
        item_weighting: null or "adaptive": a per-target weight from the sparsity of the target
            item's popularity bucket (inspired by "Adaptive Weighted Loss for Sequential
            Recommendations on Sparse Domains"; our parametrisation, see models/losses.py).
        item_weight_alpha: exponent of the inverse bucket frequency.
        item_weight_max: upper clip of a bucket weight (before renormalisation).
        item_weight_buckets: number of item-popularity buckets (the "domains").
        item_weight_momentum: weights move towards the new raw weights by 1 - momentum each iteration.
        cl_weight: CL4SRec contrastive loss weight (lambda).
        cl_temperature: CL4SRec InfoNCE temperature.
        crop_ratio: CL4SRec crop ratio (eta).
        mask_ratio: CL4SRec mask ratio (gamma).
        reorder_ratio: CL4SRec reorder ratio (beta).
        hstu_norm: HSTU attention normalisation: n_padded (published), true_len or softmax.
        hstu_l2norm: HSTU L2-normalises user and item embeddings.
        hstu_time_bias: HSTU adds the published relative time bias (129 log-spaced buckets of the
            gap, in the data's time unit, from the query's timestamp to each key's) where both
            timestamps exist; needs a dataset with timestamps. Synthetic sequences and generation
            carry none, so for them the bias is skipped (position bias only).
    """

    backbone: str = "sasrec"
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.5
    attn_dropout: float = 0.5
    ffn_mult: int = 4
    positions: str = "from_first"
    input_scale: str = "sqrt_d"
    loss: str = "ce"
    num_negatives: int = 256
    temperature: float = 1.0
    lr: float = 1e-3
    lr_schedule: Optional[str] = None
    lr_warmup_steps: int = 0
    lr_min_ratio: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "adam"
    adam_beta2: float = 0.999
    synthetic_weight: Optional[Union[float, str]] = None
    generation_decay: Optional[float] = None
    synthetic_loss: str = "plain"
    inverse_gradient: bool = False
    ig_holdout: float = 0.05
    ig_probe_batch: int = 256
    item_weighting: Optional[str] = None
    item_weight_alpha: float = 1.0
    item_weight_max: float = 10.0
    item_weight_buckets: int = 5
    item_weight_momentum: float = 0.9
    cl_weight: float = 0.1
    cl_temperature: float = 1.0
    crop_ratio: float = 0.6
    mask_ratio: float = 0.3
    reorder_ratio: float = 0.6
    hstu_norm: str = "n_padded"
    hstu_l2norm: bool = False
    hstu_time_bias: bool = False

    def __post_init__(self) -> None:
        from rsir_pl.plugins import backbone  # registries sit beside the config; imported late

        backbone(self.backbone)
        choice(self.loss, "model.loss", LOSSES)
        check(self.hidden >= 1, "model.hidden", "must be >= 1", self.hidden)
        check(self.layers >= 1, "model.layers", "must be >= 1", self.layers)
        check(
            self.heads >= 1 and self.hidden % self.heads == 0,
            "model.heads",
            f"must be >= 1 and divide model.hidden={self.hidden}",
            self.heads,
        )
        for name in ("dropout", "attn_dropout", "crop_ratio", "mask_ratio", "reorder_ratio"):
            v = getattr(self, name)
            check(
                0.0 <= v <= 1.0 if name.endswith("ratio") else 0.0 <= v < 1.0,
                f"model.{name}",
                "must lie in [0, 1)" if "dropout" in name else "must lie in [0, 1]",
                v,
            )
        check(self.ffn_mult >= 1, "model.ffn_mult", "must be >= 1", self.ffn_mult)
        choice(self.positions, "model.positions", POSITION_SCHEMES)
        check(
            self.positions == "from_first" or self.backbone in ("sasrec", "cl4srec"),
            "model.positions",
            f"fixed_slot is implemented for sasrec and cl4srec, not {self.backbone}",
            self.positions,
        )
        choice(self.input_scale, "model.input_scale", INPUT_SCALES)
        check(self.num_negatives >= 1, "model.num_negatives", "must be >= 1", self.num_negatives)
        check(self.temperature > 0, "model.temperature", "must be > 0", self.temperature)
        check(self.cl_temperature > 0, "model.cl_temperature", "must be > 0", self.cl_temperature)
        check(self.lr > 0, "model.lr", "must be > 0", self.lr)
        if self.lr_schedule is not None:
            choice(self.lr_schedule, "model.lr_schedule", LR_SCHEDULES)
        check(self.lr_warmup_steps >= 0, "model.lr_warmup_steps", "must be >= 0", self.lr_warmup_steps)
        check(
            self.lr_schedule is not None or self.lr_warmup_steps == 0,
            "model.lr_warmup_steps",
            "needs model.lr_schedule (constant or cosine)",
            self.lr_warmup_steps,
        )
        check(0.0 <= self.lr_min_ratio <= 1.0, "model.lr_min_ratio", "must lie in [0, 1]", self.lr_min_ratio)
        check(self.weight_decay >= 0, "model.weight_decay", "must be >= 0", self.weight_decay)
        choice(self.optimizer, "model.optimizer", OPTIMIZERS)
        check(0.0 <= self.adam_beta2 < 1.0, "model.adam_beta2", "must lie in [0, 1)", self.adam_beta2)
        check(self.cl_weight >= 0, "model.cl_weight", "must be >= 0", self.cl_weight)
        choice(self.hstu_norm, "model.hstu_norm", ("n_padded", "true_len", "softmax"))
        check(
            not self.hstu_time_bias or self.backbone == "hstu",
            "model.hstu_time_bias",
            f"applies to backbone hstu only (backbone is {self.backbone!r})",
            self.hstu_time_bias,
        )
        if self.generation_decay is not None:
            check(
                0.0 < self.generation_decay <= 1.0,
                "model.generation_decay",
                "must lie in (0, 1]",
                self.generation_decay,
            )
        choice(self.synthetic_loss, "model.synthetic_loss", SYNTHETIC_LOSSES)
        check(
            self.synthetic_loss != "idl" or self.loss in ("ce", "sampled_softmax"),
            "model.synthetic_loss",
            f"idl needs a softmax loss (model.loss ce or sampled_softmax; model.loss is {self.loss!r})",
            self.synthetic_loss,
        )
        check(
            not self.inverse_gradient or self.synthetic_loss == "idl",
            "model.inverse_gradient",
            f"needs model.synthetic_loss idl (it is {self.synthetic_loss!r})",
            self.inverse_gradient,
        )
        check(0.0 < self.ig_holdout <= 0.5, "model.ig_holdout", "must lie in (0, 0.5]", self.ig_holdout)
        check(self.ig_probe_batch >= 1, "model.ig_probe_batch", "must be >= 1", self.ig_probe_batch)
        if self.item_weighting is not None:
            choice(self.item_weighting, "model.item_weighting", ("adaptive",))
        check(self.item_weight_alpha >= 0, "model.item_weight_alpha", "must be >= 0", self.item_weight_alpha)
        check(self.item_weight_max >= 1, "model.item_weight_max", "must be >= 1", self.item_weight_max)
        check(self.item_weight_buckets >= 1, "model.item_weight_buckets", "must be >= 1", self.item_weight_buckets)
        check(
            0.0 <= self.item_weight_momentum < 1.0,
            "model.item_weight_momentum",
            "must lie in [0, 1)",
            self.item_weight_momentum,
        )
        w = self.synthetic_weight
        if isinstance(w, str):
            check(w == "golden", "model.synthetic_weight", "must be null, a number in (0, 1] or 'golden'", w)
        elif w is not None:
            check(0.0 < float(w) <= 1.0, "model.synthetic_weight", "must lie in (0, 1]", w)
