"""SASRec: shapes, causality, padding invariance, no NaN, learning, cached decoding."""

from __future__ import annotations

import torch

from rsir_pl.config import OPTIMIZERS, ModelConfig
from rsir_pl.models import build_model, load_model, save_model
from rsir_pl.models.base import fixed_slots


def model(**kw):
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, heads=2, layers=2, **kw)
    return build_model(cfg, 40, 12).eval()


def test_shapes_and_scores():
    m = model()
    seqs = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    assert m.encode(seqs).shape == (2, 5, 16)
    scores = m.score_all(m.last_hidden(seqs))
    assert scores.shape == (2, 41) and torch.isinf(scores[:, 0]).all()


def test_causal_a_later_item_never_changes_an_earlier_output():
    m = model()
    a = torch.tensor([[1, 2, 3, 4, 5]])
    b = torch.tensor([[1, 2, 3, 9, 7]])
    ha, hb = m.encode(a), m.encode(b)
    assert torch.allclose(ha[:, :3], hb[:, :3], atol=1e-6)
    assert not torch.allclose(ha[:, 3], hb[:, 3])


def test_left_padding_does_not_change_real_positions():
    m = model()
    short = torch.tensor([[4, 8, 15]])
    padded = torch.tensor([[0, 0, 0, 4, 8, 15]])
    assert torch.allclose(m.encode(short)[0], m.encode(padded)[0, 3:], atol=1e-5)


def test_all_padding_row_is_finite():
    m = model()
    out = m.encode(torch.zeros(2, 5, dtype=torch.long))
    assert torch.isfinite(out).all()
    m.train()
    assert torch.isfinite(m.encode(torch.tensor([[0, 0, 0], [0, 1, 2]]))).all()


def test_each_loss_decreases_on_a_tiny_batch():
    batch = {
        "input": torch.tensor([[0, 1, 2, 3], [5, 6, 7, 8]]),
        "target": torch.tensor([[0, 2, 3, 4], [6, 7, 8, 9]]),
        "synthetic": torch.tensor([False, True]),
    }
    for loss in ("ce", "sampled_softmax", "bce"):
        torch.manual_seed(0)
        m = build_model(
            ModelConfig(hidden=16, heads=2, layers=1, loss=loss, num_negatives=16, dropout=0.0, attn_dropout=0.0),
            40,
            12,
        )
        m.log = lambda *a, **k: None
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        first = None
        for _ in range(40):
            opt.zero_grad()
            value = m.training_step(batch, 0)
            value.backward()
            opt.step()
            first = value.item() if first is None else first
        assert value.item() < 0.5 * first, loss


def test_cached_decoding_equals_reencoding():
    m = model()
    ctx = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    h, state = m.start_decoding(ctx)
    assert torch.allclose(h, m.last_hidden(ctx), atol=1e-5)
    full = ctx
    for item in ([7, 9], [11, 13], [2, 5]):
        items = torch.tensor(item)
        h, state = m.extend_decoding(state, items)
        full = torch.cat([full, items.view(-1, 1)], dim=1)
        assert torch.allclose(h, m.last_hidden(full), atol=1e-5)
    kept = m.select_decoding(state, torch.tensor([1]))
    h1, _ = m.extend_decoding(kept, torch.tensor([20]))
    assert torch.allclose(h1, m.last_hidden(torch.cat([full[1:], torch.tensor([[20]])], dim=1)), atol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    m = model()
    save_model(m, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    seqs = torch.tensor([[1, 2, 3]])
    assert torch.allclose(m.last_hidden(seqs), back.eval().last_hidden(seqs))


def test_optimizer_option_builds_adam_or_decoupled_adamw():
    adam = model(lr=2e-3, weight_decay=1e-4).configure_optimizers()
    assert type(adam) is torch.optim.Adam
    assert adam.defaults["betas"] == (0.9, 0.999) and adam.defaults["weight_decay"] == 1e-4
    adamw = model(optimizer="adamw", adam_beta2=0.98, weight_decay=1e-3).configure_optimizers()
    assert type(adamw) is torch.optim.AdamW
    assert adamw.defaults["betas"] == (0.9, 0.98) and adamw.defaults["lr"] == 1e-3
    # with a zero gradient, AdamW's decoupled decay scales each weight by exactly 1 - lr * wd; Adam
    # folds the decay into the gradient, which its normalisation turns into a step of about lr
    for opt_name, decoupled in (("adam", False), ("adamw", True)):
        m = model(optimizer=opt_name, lr=1e-2, weight_decay=0.1)
        opt = m.configure_optimizers()
        w = m.item_emb.weight
        before = w.detach().clone()
        for p in m.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        assert torch.allclose(w.detach(), before * (1 - 1e-2 * 0.1)) == decoupled, opt_name


def test_every_optimizer_name_the_config_accepts_builds():
    for name in OPTIMIZERS:
        assert isinstance(model(optimizer=name).configure_optimizers(), torch.optim.Optimizer), name


def test_fixed_slots_count_from_the_windows_right_edge():
    seqs = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    assert fixed_slots(seqs, 12).tolist() == [[8, 9, 10, 11], [8, 9, 10, 11]]
    assert fixed_slots(seqs[:, 2:], 12).tolist() == [[10, 11], [10, 11]]


def test_fixed_slot_positions_move_with_an_append_and_from_first_ones_do_not():
    ctx = torch.tensor([[4, 8, 15]])
    grown = torch.tensor([[4, 8, 15, 16]])
    first, fixed = model(), model(positions="fixed_slot")
    with torch.no_grad():
        assert torch.allclose(first.encode(ctx)[0], first.encode(grown)[0, :3], atol=1e-5)
        assert not torch.allclose(fixed.encode(ctx)[0], fixed.encode(grown)[0, :3], atol=1e-3)
        # the newest item has the last slot under fixed slots, whatever the length
        assert torch.allclose(fixed.positions_of(grown)[0, -1], torch.tensor(11))


def test_fixed_slot_decoding_equals_reencoding_through_appends_and_selection():
    m = model(positions="fixed_slot")
    ctx = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    with torch.no_grad():
        h, state = m.start_decoding(ctx)
        assert torch.allclose(h, m.last_hidden(ctx), atol=1e-5)
        full = ctx
        for item in ([7, 9], [11, 13]):
            h, state = m.extend_decoding(state, torch.tensor(item))
            full = torch.cat([full, torch.tensor(item).view(-1, 1)], dim=1)
            assert torch.allclose(h, m.last_hidden(full), atol=1e-5)
        kept = m.select_decoding(state, torch.tensor([1]))
        h1, _ = m.extend_decoding(kept, torch.tensor([20]))
        assert torch.allclose(h1, m.last_hidden(torch.cat([full[1:], torch.tensor([[20]])], dim=1)), atol=1e-5)


def test_input_scale_none_feeds_the_item_embeddings_unscaled():
    scaled, plain = model(), model(input_scale="none")
    assert scaled.emb_scale == 4.0 and plain.emb_scale == 1.0  # hidden 16
    plain.load_state_dict(scaled.state_dict())
    seqs = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert not torch.allclose(scaled.encode(seqs), plain.encode(seqs), atol=1e-3)
        pos = plain.positions_of(seqs)
        assert torch.allclose(plain.embed(seqs, pos), plain.item_emb(seqs) + plain.pos_emb(pos))
