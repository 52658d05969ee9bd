"""Next-item losses and the weighting of synthetic against real targets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rsir_pl.models import losses as L


def _data(seed=0, m=12, n=30, d=8):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(m, d, generator=g),
        torch.randint(1, n + 1, (m,), generator=g),
        torch.randn(n + 1, d, generator=g),
    )


def test_full_softmax_matches_explicit_formula():
    h, t, emb = _data()
    got = L.full_softmax_ce(h, t, emb)
    logits = h @ emb[1:].T
    ref = -(logits.gather(1, (t - 1).view(-1, 1)).squeeze(1) - torch.logsumexp(logits, dim=1))
    assert torch.allclose(got, ref, atol=1e-5)


def test_sampled_softmax_masks_accidental_hits():
    h, t, emb = _data()
    torch.manual_seed(0)
    n_items = emb.shape[0] - 1
    got = L.sampled_softmax(h, t, emb, num_negatives=5000, temperature=1.0)
    # with every item sampled many times, masking the target's copies gives the full softmax over
    # the other items with repeats; the loss stays finite and positive
    assert torch.isfinite(got).all() and (got > 0).all()
    one = L.sampled_softmax(h[:1], t[:1], emb, num_negatives=1, generator=torch.Generator().manual_seed(1))
    assert one.shape == (1,)
    assert n_items == 30


def test_bce_one_negative_shape_and_sign():
    h, t, emb = _data()
    out = L.bce_one_negative(h, t, emb, generator=torch.Generator().manual_seed(0))
    assert out.shape == t.shape and (out > 0).all()


def test_golden_weight():
    assert L.golden_real_weight(100, 100) == pytest.approx((math.sqrt(5) - 1) / 2)
    for k in (0.25, 1.0, 4.0):
        w = L.golden_real_weight(int(k * 1000), 1000)
        assert w * w + k * w - k == pytest.approx(0.0, abs=1e-9)  # root of w^2 + k w - k
        assert w > k / (1 + k)  # pooling under-weights real data
    assert L.golden_real_weight(10, 0) == 1.0


def test_weighted_mean_groups():
    losses = torch.tensor([1.0, 3.0, 10.0, 20.0])
    syn = torch.tensor([False, False, True, True])
    assert L.weighted_mean(losses, syn, None).item() == pytest.approx(8.5)
    assert L.weighted_mean(losses, syn, 0.75).item() == pytest.approx(0.75 * 2.0 + 0.25 * 15.0)
    # only one group in the batch: its mean
    assert L.weighted_mean(losses[:2], syn[:2], 0.75).item() == pytest.approx(2.0)
    w = torch.tensor([1.0, 1.0, 1.0, 0.0])
    assert L.weighted_mean(losses, syn, None, w).item() == pytest.approx(14.0 / 3)


def test_generation_decay_weights():
    g = torch.tensor([0, 1, 2, 3])
    assert L.generation_weights(g, None) is None
    assert L.generation_weights(g, 0.5).tolist() == [1.0, 1.0, 0.5, 0.25]


def test_adaptive_item_weights_keep_the_loss_scale_and_favour_sparse_buckets():
    counts = torch.tensor([0] + [1000] * 10 + [100] * 10 + [10] * 10 + [1] * 10, dtype=torch.float64)
    w = L.adaptive_item_weights(counts, buckets=4, alpha=1.0, w_max=10.0)
    assert w[0] == 0
    share = counts / counts.sum()
    assert float((share * w.double()).sum()) == pytest.approx(1.0, rel=1e-5)
    assert w[1] < w[11] <= w[21] <= w[31]  # sparser items weigh more
    assert float(w[31] / w[1]) <= 10.0 + 1e-5  # clipped
    smoothed = L.adaptive_item_weights(counts, 4, previous=torch.ones_like(w), momentum=0.9)
    assert torch.allclose(smoothed[1:], 0.9 + 0.1 * w[1:], atol=1e-5)


def test_training_step_uses_item_and_generation_weights():
    from rsir_pl.config import ModelConfig
    from rsir_pl.models import build_model

    torch.manual_seed(0)
    model = build_model(
        ModelConfig(hidden=8, heads=1, layers=1, dropout=0.0, attn_dropout=0.0, generation_decay=0.5), 20, 6
    )
    model.log = lambda *a, **k: None  # outside a Trainer
    batch = {
        "input": torch.tensor([[0, 1, 2], [3, 4, 5]]),
        "target": torch.tensor([[0, 2, 3], [4, 5, 6]]),
        "synthetic": torch.tensor([False, True]),
        "generation": torch.tensor([0, 3]),
    }
    base = model.training_step(batch, 0)
    model.item_weight = torch.zeros(21)
    model.item_weight[2] = 1.0  # only target item 2 counts
    only_two = model.training_step(batch, 0)
    h = model.encode(batch["input"])
    expected = F.cross_entropy(h[0, 1:2] @ model.item_emb.weight[1:].T, torch.tensor([1]))
    assert only_two.item() == pytest.approx(expected.item(), rel=1e-4)
    assert base.item() != pytest.approx(only_two.item())


def test_inverse_dual_loss_weights_the_smaller_loss_more():
    # p = 0.9: the positive loss is small, so the positive label is trained mostly
    lp = torch.tensor([-math.log(0.9), -math.log(0.01)], requires_grad=True)
    out = L.inverse_dual_loss(lp)
    ln = torch.tensor([-math.log(0.1), -math.log(0.99)])
    wp = ln / (lp.detach() + ln)
    assert torch.allclose(out, wp * lp.detach() + (1 - wp) * ln, atol=1e-6)
    assert wp[0] > 0.5 > wp[1]
    # the weights are not differentiated: d out / d lp = w+ + w- * d l- / d lp
    out.sum().backward()
    p = torch.exp(-lp.detach())
    dln_dlp = -p / (1 - p)
    assert torch.allclose(lp.grad, wp + (1 - wp) * dln_dlp, atol=1e-5)


def test_idl_applies_to_synthetic_targets_only_and_needs_a_softmax_loss():
    from rsir_pl.config import ConfigError, ModelConfig
    from rsir_pl.models import build_model

    with pytest.raises(ConfigError, match="model.synthetic_loss"):
        ModelConfig(loss="bce", synthetic_loss="idl")
    torch.manual_seed(0)
    kw = dict(hidden=8, heads=1, layers=1, dropout=0.0, attn_dropout=0.0)
    plain = build_model(ModelConfig(**kw), 20, 6)
    idl = build_model(ModelConfig(**kw, synthetic_loss="idl"), 20, 6)
    idl.load_state_dict(plain.state_dict())
    for m in (plain, idl):
        m.log = lambda *a, **k: None
    batch = {
        "input": torch.tensor([[0, 1, 2], [3, 4, 5]]),
        "target": torch.tensor([[0, 2, 3], [4, 5, 6]]),
        "synthetic": torch.tensor([False, False]),
    }
    assert idl.training_step(batch, 0).item() == pytest.approx(plain.training_step(batch, 0).item())
    batch["synthetic"] = torch.tensor([False, True])
    h = plain.encode(batch["input"])
    ce = F.cross_entropy(
        h.reshape(-1, 8) @ plain.item_emb.weight[1:].T,
        batch["target"].reshape(-1) - 1,
        reduction="none",
        ignore_index=-1,
    )
    real, syn = ce[1:3], ce[3:]
    expected = torch.cat([real, L.inverse_dual_loss(syn)]).mean()
    assert idl.training_step(batch, 0).item() == pytest.approx(expected.item(), rel=1e-5)
    assert idl.training_step(batch, 0).item() != pytest.approx(plain.training_step(batch, 0).item())


def _ig_model(**kw):
    from rsir_pl.config import ModelConfig
    from rsir_pl.models import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=8, heads=1, layers=1, dropout=0.0, attn_dropout=0.0, synthetic_loss="idl", **kw)
    m = build_model(cfg, 20, 6)
    m.log = lambda *a, **k: None
    return m


def _grads(m, loss):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(m.parameters()), allow_unused=False)])


def test_inverse_gradient_reverses_idl_where_it_opposes_the_held_out_loss_and_keeps_it_where_it_agrees():
    # one synthetic target, and the held-out probe is that very sequence: IDL's gradient is then a
    # multiple of the probe's plain-loss gradient, negative while the model finds the target unlikely
    # (IDL trains it as a negative) and positive once it finds it likely
    batch = {
        "input": torch.tensor([[0, 1, 2], [3, 4, 5]]),
        "target": torch.tensor([[0, 2, 3], [0, 0, 9]]),
        "synthetic": torch.tensor([False, True]),
    }
    probe = (torch.tensor([[3, 4, 5]]), torch.tensor([[0, 0, 9]]))
    m = _ig_model(inverse_gradient=True)
    ref = _ig_model()  # same weights, no inverse gradient: the pooled IDL loss
    m.ig_probe = probe
    loss = m.training_step(batch, 0)
    assert (m.ig_steps, m.ig_reversed) == (1, 1)
    # the pooled loss is (l1 + l2 + l3) / 3 with l3 synthetic; reversed, the step's loss is
    # (l1 + l2 - l3) / 3, whose gradient is the pooled one minus 2/3 of l3's
    only_syn = {**batch, "target": torch.tensor([[0, 0, 0], [0, 0, 9]])}
    g_syn = _grads(ref, ref.training_step(only_syn, 0))
    g_pooled = _grads(ref, ref.training_step(batch, 0))
    torch.testing.assert_close(_grads(m, loss), g_pooled - 2 / 3 * g_syn, atol=1e-5, rtol=1e-4)
    # teach the model the synthetic target until it is likely: now IDL trains it as a positive
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    m.ig_probe = None
    for _ in range(150):
        opt.zero_grad()
        m.training_step({**batch, "synthetic": torch.tensor([False, False])}, 0).backward()
        opt.step()
    m.ig_probe = probe
    m.training_step(batch, 0)
    assert (m.ig_steps, m.ig_reversed) == (2, 1)


def test_inverse_gradient_needs_idl_and_skips_batches_without_synthetic_targets():
    from rsir_pl.config import ConfigError, ModelConfig

    with pytest.raises(ConfigError, match="model.inverse_gradient"):
        ModelConfig(inverse_gradient=True)
    with pytest.raises(ConfigError, match="model.ig_holdout"):
        ModelConfig(synthetic_loss="idl", inverse_gradient=True, ig_holdout=0.0)
    m = _ig_model(inverse_gradient=True)
    m.ig_probe = (torch.tensor([[3, 4, 5]]), torch.tensor([[0, 0, 9]]))
    real_only = {
        "input": torch.tensor([[0, 1, 2]]),
        "target": torch.tensor([[0, 2, 3]]),
        "synthetic": torch.tensor([False]),
    }
    m.training_step(real_only, 0)
    assert m.ig_steps == 0
