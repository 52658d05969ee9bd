"""HSTU backbone: interface contract, cached decoding, training and generation (tiny, CPU)."""

from __future__ import annotations

import math

import pytest
import torch

from backbone_checks import (
    batch_seqs,
    check_cached_decoding,
    check_causal,
    check_generator_matches_reference,
    check_generator_runs,
    check_padding_invariance,
    check_round_trip,
    check_select_decoding,
)
from rsir_pl.config import ModelConfig
from rsir_pl.models import build_model
from rsir_pl.models.hstu import HSTU

N_ITEMS = 30
MAX_LEN = 12
VARIANTS = [("n_padded", False), ("true_len", False), ("softmax", False), ("n_padded", True)]


def make_model(
    norm: str = "n_padded",
    l2norm: bool = False,
    *,
    dropout: float = 0.0,
    num_items: int = N_ITEMS,
    max_len: int = MAX_LEN,
    seed: int = 0,
) -> HSTU:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        backbone="hstu",
        hidden=16,
        layers=2,
        heads=2,
        dropout=dropout,
        attn_dropout=0.0,
        hstu_norm=norm,
        hstu_l2norm=l2norm,
        temperature=0.1 if l2norm else 1.0,
    )
    return HSTU(num_items, max_len, cfg).eval()


def test_registry_builds_hstu() -> None:
    model = build_model(ModelConfig(backbone="hstu", hidden=8, layers=1, heads=2), N_ITEMS, MAX_LEN)
    assert isinstance(model, HSTU)


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_shapes_and_no_nan(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm)
    seqs = batch_seqs()
    h = model.encode(seqs)
    assert h.shape == (4, 8, 16)
    assert model.output_embeddings().shape == (N_ITEMS + 1, 16)
    assert model.last_hidden(seqs).shape == (4, 16)
    assert torch.isfinite(h).all()
    assert torch.isfinite(model.score_all(h[:, -1])[:, 1:]).all()


def test_l2norm_outputs_unit_length() -> None:
    model = make_model("n_padded", True)
    seqs = batch_seqs()[:3]
    with torch.no_grad():
        h = model.last_hidden(seqs)
        emb = model.output_embeddings()
    torch.testing.assert_close(h.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb[1:].norm(dim=-1), torch.ones(N_ITEMS))
    assert float(emb[0].abs().sum()) == 0.0


def test_l2norm_logit_scale_is_the_training_temperature() -> None:
    # cosine scores are trained divided by the temperature under every loss; the generator
    # samples from that distribution, not from softmax over raw cosines (nearly uniform)
    for loss in ("ce", "sampled_softmax"):
        cfg = ModelConfig(backbone="hstu", hidden=16, heads=2, loss=loss, temperature=0.05, hstu_l2norm=True)
        assert build_model(cfg, N_ITEMS, 8).logit_scale == pytest.approx(20.0)
    plain = ModelConfig(backbone="hstu", hidden=16, heads=2, loss="ce", temperature=0.05)
    assert build_model(plain, N_ITEMS, 8).logit_scale == 1.0


@pytest.mark.parametrize("norm,l2norm", [("n_padded", False), ("true_len", False), ("n_padded", True)])
def test_overfit_one_batch(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm).train()
    seqs = torch.tensor([[0, 0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 13, 14, 15]])
    batch = {"input": seqs[:, :-1], "target": seqs[:, 1:] * (seqs[:, :-1] != 0), "synthetic": torch.zeros(3)}
    batch["synthetic"] = batch["synthetic"].bool()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.log = lambda *a, **k: None  # no Trainer attached
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert math.isfinite(losses[-1])
    assert losses[-1] < 0.5 * losses[0]


def test_generator_runs() -> None:
    check_generator_runs(lambda n, length: make_model(num_items=n, max_len=length))


@pytest.mark.parametrize("norm,l2norm", [("n_padded", False), ("softmax", True)])
def test_generator_matches_reference(norm: str, l2norm: bool) -> None:
    check_generator_matches_reference(lambda n, length: make_model(norm, l2norm, num_items=n, max_len=length))


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_causal(norm: str, l2norm: bool) -> None:
    check_causal(make_model(norm, l2norm))


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_padding_invariance(norm: str, l2norm: bool) -> None:
    check_padding_invariance(make_model(norm, l2norm))


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_cached_decoding_matches_reencoding(norm: str, l2norm: bool) -> None:
    check_cached_decoding(make_model(norm, l2norm))


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_select_decoding_keeps_rows(norm: str, l2norm: bool) -> None:
    check_select_decoding(make_model(norm, l2norm))


def test_save_load_round_trip(tmp_path) -> None:
    check_round_trip(make_model("true_len", True), tmp_path / "m.pt")


# ---------------------------------------------------------------------------- time bias
def timed_model(**kw) -> HSTU:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="hstu", hidden=16, layers=2, heads=2, dropout=0.0, hstu_time_bias=True, **kw)
    model = HSTU(N_ITEMS, MAX_LEN, cfg).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.tab.normal_(std=1.0)  # large enough that a wrong bucket shows in the output
    return model


def timed_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    seqs = batch_seqs()
    g = torch.Generator().manual_seed(seed)
    gaps = torch.exp(torch.rand(seqs.shape, generator=g, dtype=torch.float64) * 15)
    times = gaps.cumsum(dim=1)
    key = times.masked_fill(seqs == 0, float("nan"))
    query = torch.cat([times[:, 1:], times[:, -1:] + 100.0], dim=1)
    return {"input": seqs, "time_key": key, "time_query": query}


def test_time_buckets_follow_the_published_bucketisation() -> None:
    from rsir_pl.models.hstu import time_buckets

    q = torch.tensor([[0.0, 1.0, 2.0, 100.0, 1e300, float("nan")]], dtype=torch.float64)
    k = torch.zeros(1, 1, dtype=torch.float64)
    got = time_buckets(q, k)[0, :, 0].tolist()
    assert got == [0, 0, math.floor(math.log(2) / 0.301), math.floor(math.log(100) / 0.301), 128, -1]
    assert time_buckets(q, k)[0, 2, 0] == time_buckets(k, q[:, 2:3])[0, 0, 0]  # |gap|


def test_time_bias_changes_outputs_and_is_skipped_without_times() -> None:
    model = timed_model()
    batch = timed_batch()
    plain = model.encode(batch["input"])
    timed = model.encode_batch(batch)
    real = batch["input"] != 0
    assert not torch.allclose(plain[real], timed[real])
    untimed = {**batch, "time_key": torch.full_like(batch["time_key"], float("nan"))}
    torch.testing.assert_close(model.encode_batch(untimed), plain)
    assert torch.isfinite(timed).all()


def test_time_bias_is_causal() -> None:
    """Position i sees item i+1's time (its query time) but nothing later."""
    model = timed_model()
    batch = timed_batch()
    base = model.encode_batch(batch)
    cut = batch["input"].shape[1] - 4
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input"][:, cut + 1 :] = (changed["input"][:, cut + 1 :] % N_ITEMS) + 1
    changed["time_key"][:, cut + 1 :] += 1e6
    changed["time_query"][:, cut:] += 1e6
    out = model.encode_batch(changed)
    torch.testing.assert_close(out[:, :cut], base[:, :cut])


def test_time_bias_trains() -> None:
    model = timed_model(loss="ce").train()
    batch = timed_batch()
    batch["target"] = torch.roll(batch["input"], -1, dims=1) * (batch["input"] != 0)
    batch["target"][:, -1] = 1
    batch["synthetic"] = torch.zeros(len(batch["input"]), dtype=torch.bool)
    loss = model.training_step(batch, 0)
    loss.backward()
    assert all(layer.tab.grad is not None and layer.tab.grad.abs().sum() > 0 for layer in model.layers)


def test_time_bias_is_for_hstu_only() -> None:
    from rsir_pl.config import ConfigError

    with pytest.raises(ConfigError, match="model.hstu_time_bias"):
        ModelConfig(backbone="sasrec", hstu_time_bias=True)
