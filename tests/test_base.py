"""SequentialRecommender's evaluation scores: padding and the user's history never rank."""

from __future__ import annotations

import math

import pytest
import torch

from markov import MarkovModel, table

NEG_INF = float("-inf")
N = 8


def model() -> MarkovModel:
    # after item 1: items 2 and 4 (both in user 0's history) beat the target 3, which beats 5
    return MarkovModel(table(N, {1: {2: 9.0, 4: 8.0, 3: 7.0, 5: 6.0}, 6: {2: 9.0, 3: 8.0}})).eval()


def batch(masked: bool) -> dict[str, torch.Tensor]:
    b = {
        "input": torch.tensor([[4, 2, 1], [0, 7, 6]]),
        "target": torch.tensor([3, 3]),
        "user": torch.tensor([0, 1]),
    }
    if masked:
        # user 0's history is {4, 2, 1}, user 1's {7, 6}
        b["hist_rows"] = torch.tensor([0, 0, 0, 1, 1])
        b["hist_items"] = torch.tensor([4, 2, 1, 7, 6])
    return b


def test_score_all_puts_padding_at_minus_infinity():
    m = model()
    h = m.last_hidden(torch.tensor([[0, 1], [1, 6]]))
    scores = m.score_all(h)
    assert scores.shape == (2, N + 1)
    assert (scores[:, 0] == NEG_INF).all()
    torch.testing.assert_close(scores[:, 1:], h @ m.output_embeddings()[1:].T)


def test_history_items_are_masked_exactly_per_user():
    m = model()
    with torch.no_grad():
        plain = m.ranking_scores(batch(False))
        masked = m.ranking_scores(batch(True))
    history = {0: {4, 2, 1}, 1: {7, 6}}
    for row, items in history.items():
        for item in range(1, N + 1):
            if item in items:
                assert masked[row, item] == NEG_INF, (row, item)
            else:
                assert masked[row, item] == plain[row, item], (row, item)
    # user 1's row keeps item 2, which only user 0 consumed
    assert masked[1, 2] == plain[1, 2] > NEG_INF


def test_masking_moves_the_target_up_in_the_test_ranks():
    m = model()
    with torch.no_grad():
        m.on_test_epoch_start()
        m.test_step(batch(False), 0)
        m.test_step(batch(True), 1)
    unmasked, masked = (ranks.tolist() for _, ranks in m.test_ranks)
    # user 0: items 2 and 4 beat the target unless masked; user 1: item 2 beats it either way
    assert unmasked == [3, 2]
    assert masked == [1, 2]
    # the same ranks feed the test metrics
    assert float(m.test_metrics.compute()["mrr"]) == pytest.approx((1 / 3 + 1 / 2 + 1 + 1 / 2) / 4)


def test_validation_ranks_with_the_history_masked():
    m = model()
    with torch.no_grad():
        m.validation_step(batch(True), 0)
    out = m.val_metrics.compute()
    # ranks 1 (user 0, history masked) and 2 (user 1)
    assert float(out["mrr"]) == pytest.approx(0.75)
    torch.testing.assert_close(out["ndcg@10"], torch.tensor((1.0 + 1.0 / math.log2(3.0)) / 2, dtype=torch.float64))
