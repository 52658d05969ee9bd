"""CL4SRec backbone: augmentations, contrastive loss, interface contract and generation (tiny, CPU)."""

from __future__ import annotations

import math

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
from rsir_pl.models.cl4srec import CL4SRec

N_ITEMS = 30
MAX_LEN = 12


def make_model(
    *, dropout: float = 0.0, num_items: int = N_ITEMS, max_len: int = MAX_LEN, seed: int = 0, **kw: float
) -> CL4SRec:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        backbone="cl4srec", hidden=16, layers=2, heads=2, dropout=dropout, attn_dropout=dropout, ffn_mult=2, **kw
    )
    return CL4SRec(num_items, max_len, cfg).eval()


def real_items(row: torch.Tensor) -> list[int]:
    return [int(x) for x in row if x != 0]


# ---------------------------------------------------------------------- model contract
def test_registry_builds_cl4srec() -> None:
    model = build_model(ModelConfig(backbone="cl4srec", hidden=8, layers=1, heads=2), N_ITEMS, MAX_LEN)
    assert isinstance(model, CL4SRec)


def test_shapes_and_no_nan() -> None:
    model = make_model()
    seqs = batch_seqs()
    h = model.encode(seqs)
    assert h.shape == (4, 8, 16)
    assert model.last_hidden(seqs).shape == (4, 16)
    assert torch.isfinite(h).all()


def test_mask_token_is_never_a_candidate() -> None:
    model = make_model()
    assert model.mask_token != 0
    assert model.mask_token > N_ITEMS
    assert model.output_embeddings().shape == (N_ITEMS + 1, 16)
    assert model.score_all(torch.randn(2, 16)).shape == (2, N_ITEMS + 1)
    # the mask token has its own embedding, different from padding and from every item
    with torch.no_grad():
        e = model.embed(torch.tensor([[model.mask_token, 1]]), torch.tensor([[0, 0]]))
        assert not torch.allclose(e[0, 0], e[0, 1])
        assert e[0, 0].abs().sum() > 0


# ---------------------------------------------------------------------- augmentations
LONG = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])


def test_crop_keeps_a_contiguous_share() -> None:
    model = make_model(crop_ratio=0.6)
    torch.manual_seed(1)
    for _ in range(20):
        out = real_items(model._crop(LONG)[0])
        assert len(out) == 6
        assert out == list(range(out[0], out[0] + 6))


def test_mask_replaces_a_share_by_the_mask_token() -> None:
    model = make_model(mask_ratio=0.3)
    torch.manual_seed(2)
    out = model._mask(LONG)[0]
    assert int((out == model.mask_token).sum()) == 3
    assert bool((out[:10] == 0).all())  # padding stays padding
    kept = out[10:] != model.mask_token
    assert torch.equal(out[10:][kept], LONG[0, 10:][kept])


def test_reorder_permutes_one_span_only() -> None:
    model = make_model(reorder_ratio=0.6)
    torch.manual_seed(3)
    changed = 0
    for _ in range(20):
        out = real_items(model._reorder(LONG)[0])
        assert sorted(out) == list(range(1, 11))
        moved = [i for i, x in enumerate(out) if x != i + 1]
        if moved:
            changed += 1
            assert moved[-1] - moved[0] < 6  # every moved item lies within one span of 6
    assert changed > 0


def test_views_differ_from_input_and_are_seeded() -> None:
    model = make_model()
    seqs = LONG.repeat(8, 1)
    torch.manual_seed(4)
    v1, v2 = model.augment(seqs)
    torch.manual_seed(4)
    w1, w2 = model.augment(seqs)
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    assert not torch.equal(v1, seqs) and not torch.equal(v2, seqs)
    # the two views of a row come from different operators, so they never coincide here
    assert all(not torch.equal(a, b) for a, b in zip(v1, v2, strict=True))


def test_short_rows_get_identity_views() -> None:
    model = make_model()
    seqs = torch.tensor([[0, 0, 0, 5], [0, 0, 0, 0]])
    v1, v2 = model.augment(seqs)
    assert torch.equal(v1, seqs) and torch.equal(v2, seqs)


# ---------------------------------------------------------------------- losses
def test_info_nce_prefers_matching_views() -> None:
    model = make_model()
    z = torch.randn(6, 16)
    aligned = model.info_nce(z * 3, z * 3)
    shuffled = model.info_nce(z * 3, (z * 3).roll(1, dims=0))
    assert aligned < shuffled
    # 2N - 2 negatives: identical unrelated views give log(2N - 1)
    zeros = torch.zeros(5, 16)
    torch.testing.assert_close(model.info_nce(zeros, zeros), torch.tensor(math.log(9)))


def train_batch() -> dict[str, torch.Tensor]:
    seqs = torch.tensor(
        [[0, 0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 13, 14, 15], [0, 16, 17, 18, 19, 20, 21]]
    )
    return {
        "input": seqs[:, :-1],
        "target": seqs[:, 1:] * (seqs[:, :-1] != 0),
        "synthetic": torch.tensor([False, False, True, False]),
    }


def test_extra_loss_is_weighted_and_optional() -> None:
    batch = train_batch()
    model = make_model(cl_weight=0.0).train()
    assert model.extra_loss(batch, model.encode(batch["input"])) is None
    model = make_model(cl_weight=0.5).train()
    extra = model.extra_loss(batch, model.encode(batch["input"]))
    assert extra is not None and extra.ndim == 0 and math.isfinite(float(extra)) and float(extra) > 0


def test_overfit_one_batch() -> None:
    model = make_model(cl_weight=0.1).train()
    batch = train_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.log = lambda *a, **k: None  # no Trainer attached
    torch.manual_seed(5)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert math.isfinite(losses[-1])
    assert losses[-1] < 0.5 * losses[0]
    assert model.mask_emb.weight.grad is not None  # masked views reach the mask embedding


# ---------------------------------------------------------------------- generation
def test_generator_runs() -> None:
    check_generator_runs(lambda n, length: make_model(num_items=n, max_len=length))


def test_generator_matches_reference() -> None:
    check_generator_matches_reference(lambda n, length: make_model(num_items=n, max_len=length))


def test_causal() -> None:
    check_causal(make_model())


def test_padding_invariance() -> None:
    check_padding_invariance(make_model())


def test_cached_decoding_matches_reencoding() -> None:
    check_cached_decoding(make_model())


def test_select_decoding_keeps_rows() -> None:
    check_select_decoding(make_model())


def test_save_load_round_trip(tmp_path) -> None:
    check_round_trip(make_model(), tmp_path / "m.pt")


def test_fixed_slot_positions_keep_the_encoder_contract() -> None:
    # slots counted from the window's right edge: padding-invariant, causal, and decoding re-encodes
    fixed = make_model(positions="fixed_slot")
    check_causal(fixed)
    check_padding_invariance(fixed)
    check_cached_decoding(fixed)
    check_select_decoding(fixed)
    check_generator_matches_reference(lambda n, length: make_model(num_items=n, max_len=length, positions="fixed_slot"))
