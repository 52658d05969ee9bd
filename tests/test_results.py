"""The results table's verdict columns, the verdict a newcomer reads, and the plot's error bars."""

from __future__ import annotations

import pytest

from rsir_pl.loop import results as R


def comparison(base: float, new: float, lo: float, hi: float) -> dict[str, float]:
    return {
        "base": base,
        "new": new,
        "diff": new - base,
        "relative": (new - base) / base,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": 0.01,
    }


def records(lo: float, hi: float, oracle: dict[str, float] | None = None) -> list[dict]:
    test0 = {"ndcg@10": 0.05, "recall@10": 0.08}
    test1 = {"ndcg@10": 0.055, "recall@10": 0.082}
    vs = {
        "ndcg@10": comparison(0.05, 0.055, lo, hi),
        "recall@10": comparison(0.08, 0.082, -0.003, 0.007),
        "ndcg@20": comparison(0.06, 0.063, 0.001, 0.005),
        "recall@20": comparison(0.12, 0.118, -0.006, 0.002),
    }
    recs = [{"iteration": 0, "test": test0}, {"iteration": 1, "test": test1, "vs_base": vs}]
    return [{**r, "oracle": oracle} for r in recs] if oracle else recs


@pytest.mark.parametrize(
    "lo, hi, word",
    [(0.001, 0.009, "significant gain"), (-0.002, 0.012, "not significant"), (-0.009, -0.001, "significant loss")],
)
def test_verdict_wording_at_the_three_outcomes(lo, hi, word):
    assert R.verdict_word(lo, hi) == word
    text = R.verdict_text(records(lo, hi))
    ndcg_line = next(line for line in text.splitlines() if "NDCG@10" in line)
    assert ndcg_line.rstrip().endswith(word)
    assert "base 0.0500" in ndcg_line and "RSIR 0.0550" in ndcg_line and "+10.0%" in ndcg_line
    assert f"CI {lo:+.4f} .. {hi:+.4f}" in ndcg_line
    recall_line = next(line for line in text.splitlines() if "Recall@10" in line)
    assert recall_line.rstrip().endswith("not significant")
    assert "oracle" not in text  # no known world: no ceiling claimed
    row = R.table_rows(records(lo, hi))[1]
    assert row["verdict_ndcg@10"] == word and row["verdict_recall@10"] == "not significant"
    assert "verdict_ndcg@10" in R.to_markdown(records(lo, hi)).splitlines()[0]


def test_a_ci_touching_zero_is_not_significant():
    assert R.verdict_word(0.0, 0.004) == "not significant"
    assert R.verdict_word(-0.004, 0.0) == "not significant"


def test_verdict_reports_the_oracle_and_the_gap_closed():
    text = R.verdict_text(records(0.001, 0.009, oracle={"ndcg@10": 0.10, "recall@10": 0.18}))
    ndcg_line = next(line for line in text.splitlines() if line.strip().startswith("NDCG@10"))
    assert "oracle 0.1000" in ndcg_line
    # NDCG: (0.055 - 0.05) / (0.10 - 0.05) = 10% of the gap; Recall: 0.002 / 0.10 = 2%
    assert "closed 10.0% of the gap on NDCG@10 and closed 2.0% of the gap on Recall@10" in text
    assert "true next-item distribution" in text
    assert R.gap_closed(0.05, 0.04, 0.10) == pytest.approx(-0.2)


def test_verdict_without_an_rsir_iteration():
    recs = records(0.001, 0.009, oracle={"ndcg@10": 0.10, "recall@10": 0.18})[:1]
    text = R.verdict_text(recs)
    assert "no RSIR iteration ran" in text and "base 0.0500" in text and "oracle 0.1000" in text


def test_plot_shows_relative_change_with_ci_error_bars():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    R._plot_relative(ax, records(0.001, 0.009))
    bars = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(bars) == 4  # NDCG/Recall at 10 and 20
    line, _caps, (segments,) = bars[0].lines[0], bars[0].lines[1], bars[0].lines[2]
    assert line.get_ydata()[0] == pytest.approx(10.0)  # +10% NDCG@10
    (x0, y0), (x1, y1) = segments.get_segments()[0]
    # the CI of the difference [+0.001, +0.009] on a base of 0.05 is [+2%, +18%]
    assert sorted([y0, y1]) == pytest.approx([2.0, 18.0])
    assert ax.get_ylabel() == "change against the base (%)"
    plt.close(fig)


def test_plot_png_with_and_without_iterations():
    oracle = {"ndcg@10": 0.10, "recall@10": 0.18}
    for recs in (records(0.001, 0.009, oracle), records(0.001, 0.009)[:1]):
        assert R.plot_png(recs).startswith(b"\x89PNG")


def test_absolute_panel_starts_at_zero_and_draws_the_oracle():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    R._plot_absolute(ax, records(0.001, 0.009, oracle={"ndcg@10": 0.10, "recall@10": 0.18}))
    assert ax.get_ylim()[0] == 0
    levels = sorted(line.get_ydata()[0] for line in ax.get_lines())
    assert levels == pytest.approx([0.10, 0.18])
    plt.close(fig)
