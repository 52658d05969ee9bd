"""HSTU backbone: interface contract, cached decoding, training and generation (tiny, CPU)."""

from __future__ import annotations

import math

import pytest
import torch

from backbone_checks import check_generator_matches_reference, check_generator_runs
from rsir_pl.config import ModelConfig
from rsir_pl.models import build_model, load_model, save_model
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


def batch_seqs() -> torch.Tensor:
    """Left-padded rows of different lengths, one of them all padding."""
    return torch.tensor(
        [
            [0, 0, 0, 0, 3, 7, 9, 2],
            [1, 4, 5, 6, 7, 8, 9, 10],
            [0, 0, 0, 0, 0, 0, 0, 11],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ]
    )


def test_registry_builds_hstu() -> None:
    model = build_model(ModelConfig(backbone="hstu", hidden=8, layers=1, heads=2), N_ITEMS, MAX_LEN)
    assert isinstance(model, HSTU)


def test_save_load_round_trip(tmp_path) -> None:
    model = make_model("true_len", True)
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt").eval()
    assert isinstance(loaded, HSTU)
    seqs = batch_seqs()
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(seqs), model.encode(seqs))


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


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_causal(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm)
    seqs = batch_seqs()[:2]
    changed = seqs.clone()
    changed[:, -1] = 13
    changed[1, -3] = 14
    with torch.no_grad():
        h, h2 = model.encode(seqs), model.encode(changed)
    torch.testing.assert_close(h[0, :-1], h2[0, :-1], atol=1e-6, rtol=0)
    torch.testing.assert_close(h[1, :-3], h2[1, :-3], atol=1e-6, rtol=0)
    assert not torch.allclose(h[1, -1], h2[1, -1])


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_padding_invariance(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm)
    seqs = batch_seqs()
    padded = torch.cat([torch.zeros(4, 3, dtype=torch.long), seqs], dim=1)
    with torch.no_grad():
        h, hp = model.encode(seqs), model.encode(padded)[:, 3:]
    real = seqs != 0
    torch.testing.assert_close(h[real], hp[real], atol=1e-5, rtol=0)


def test_l2norm_outputs_unit_length() -> None:
    model = make_model("n_padded", True)
    seqs = batch_seqs()[:3]
    with torch.no_grad():
        h = model.last_hidden(seqs)
        emb = model.output_embeddings()
    torch.testing.assert_close(h.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb[1:].norm(dim=-1), torch.ones(N_ITEMS))
    assert float(emb[0].abs().sum()) == 0.0


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


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_cached_decoding_matches_reencoding(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm)
    seqs = batch_seqs()
    new = torch.tensor([[12, 13, 14, 15], [16, 17, 18, 19], [20, 21, 22, 23], [24, 25, 26, 27]])
    with torch.no_grad():
        h, state = model.start_decoding(seqs)
        torch.testing.assert_close(h, model.last_hidden(seqs), atol=1e-5, rtol=0)
        full = seqs
        for step in range(new.shape[1]):
            h, state = model.extend_decoding(state, new[:, step])
            full = torch.cat([full, new[:, step : step + 1]], dim=1)
            torch.testing.assert_close(h, model.last_hidden(full), atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm,l2norm", VARIANTS)
def test_select_decoding_keeps_rows(norm: str, l2norm: bool) -> None:
    model = make_model(norm, l2norm)
    seqs = batch_seqs()
    rows = torch.tensor([2, 0])
    with torch.no_grad():
        _, state = model.start_decoding(seqs)
        _, state = model.extend_decoding(state, torch.tensor([12, 13, 14, 15]))
        state = model.select_decoding(state, rows)
        h, _ = model.extend_decoding(state, torch.tensor([20, 21]))
        full = torch.cat([seqs, torch.tensor([[12], [13], [14], [15]])], dim=1)[rows]
        full = torch.cat([full, torch.tensor([[20], [21]])], dim=1)
        torch.testing.assert_close(h, model.last_hidden(full), atol=1e-5, rtol=0)


def test_generator_runs() -> None:
    check_generator_runs(lambda n, length: make_model(num_items=n, max_len=length))


@pytest.mark.parametrize("norm,l2norm", [("n_padded", False), ("softmax", True)])
def test_generator_matches_reference(norm: str, l2norm: bool) -> None:
    check_generator_matches_reference(lambda n, length: make_model(norm, l2norm, num_items=n, max_len=length))
