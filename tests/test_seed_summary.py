"""benchmarks/seed_summary.py: summaries over seeds from run directories or rsir.py's sections."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import _common  # noqa: E402
import check_results  # noqa: E402
import rsir as rsir_bench  # noqa: E402
import seed_summary as S  # noqa: E402
from results_md import parse_delta, split_sections  # noqa: E402
from rsir_pl.config import RunConfig  # noqa: E402


def _record(k: int, ndcg: float, recall: float, val: float | None, vs: dict | None = None) -> dict:
    metrics = {"ndcg@10": ndcg, "recall@10": recall, "ndcg@20": ndcg + 0.01, "recall@20": recall + 0.02}
    return {
        "iteration": k,
        "test": {**metrics, "mrr@10": ndcg - 0.01},
        "vs_base": vs or {},
        "fit": {"best_epoch": 3, "epochs": 5, "best_val_ndcg@10": val, "fit_seconds": 60.0},
        "train_data": {"sequences": 100 * (k + 1)},
    }


def _vs(rel_n: float, lo_n: float, hi_n: float, rel_r: float, lo_r: float, hi_r: float) -> dict:
    return {
        "ndcg@10": {"relative": rel_n, "ci_low": lo_n, "ci_high": hi_n, "p_value": 0.01},
        "recall@10": {"relative": rel_r, "ci_low": lo_r, "ci_high": hi_r, "p_value": 0.2},
    }


def make_run(path: Path, seed: int, base: tuple, rsir: tuple, vs: dict, cuda: str | None = None) -> Path:
    """A finished run directory as the loop leaves it (the files seed_summary and rsir.py read)."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(RunConfig(seed=seed).to_dict(), sort_keys=False))
    (path / "results.json").write_text(json.dumps([_record(0, *base), _record(1, *rsir, vs)]))
    prov = [{"started": "2026-01-01T00:00:00+00:00", "revision": "abc1234", "torch_threads": 1, "cuda": cuda}]
    (path / "provenance.json").write_text(json.dumps(prov))
    return path


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [
        make_run(
            tmp_path / "s0", 0, (0.05, 0.08, 0.061), (0.0525, 0.088, 0.064), _vs(0.05, 0.001, 0.004, 0.1, 0.002, 0.01)
        ),
        make_run(
            tmp_path / "s1",
            1,
            (0.06, 0.09, 0.063),
            (0.0591, 0.0918, 0.065),
            _vs(-0.016, -0.003, 0.001, 0.02, -0.001, 0.005),
            cuda="NVIDIA H200",
        ),
    ]


def test_from_run_dir_reads_the_records(runs: list[Path]) -> None:
    r = S.from_run_dir("g", runs[1])
    assert (r.seed, r.device, r.base_ndcg, r.rsir_recall, r.base_val, r.rsir_val) == (
        1,
        "NVIDIA H200",
        0.06,
        0.0918,
        0.063,
        0.065,
    )
    assert (r.d_ndcg.verdict, r.d_recall.verdict) == ("n.s.", "n.s.")
    with pytest.raises(ValueError, match="no iteration 2"):
        S.from_run_dir("g", runs[1], iteration=2)
    with pytest.raises(FileNotFoundError, match="results.json"):
        S.from_run_dir("g", runs[1].parent / "missing")


def test_a_section_rsir_wrote_reads_back_as_its_run_directory(runs: list[Path]) -> None:
    for run in runs:
        text = _common.section("one seed", [rsir_bench.report(run, "rsir self-improve ...")], "r")
        (sec,) = split_sections(text)
        a, b = S.from_section("g", sec), S.from_run_dir("g", run)
        assert (a.seed, a.device, a.base_val, a.rsir_val) == (b.seed, b.device, b.base_val, b.rsir_val)
        assert (a.base_ndcg, a.rsir_ndcg, a.rsir_recall) == (
            round(b.base_ndcg, 4),
            round(b.rsir_ndcg, 4),
            round(b.rsir_recall, 4),
        )
        assert a.d_ndcg.relative == pytest.approx(b.d_ndcg.relative, abs=5e-4)
        assert (a.d_ndcg.verdict, a.d_recall.verdict) == (b.d_ndcg.verdict, b.d_recall.verdict)


def test_summary_means_changes_and_counts(runs: list[Path], tmp_path: Path) -> None:
    groups = S.collect([("--runs", f"wide={runs[0]}"), ("--runs", f"wide={runs[1]}")], tmp_path / "none.md")
    text = "\n\n".join(S.summary_blocks(groups))
    # means 0.0550 / 0.0850 -> 0.0558 / 0.0899; change of the means +1.5% / +5.8%; per-seed means +1.7% / +6.0%
    means = "| 0.0550 | 0.0850 | 0.0558 (+1.5%) | 0.0899 (+5.8%) | +1.7% / +6.0% | 1 / 1 / 0; 1 / 1 / 0 |"
    assert f"| wide | 0, 1 | 0.0620 {means}" in text
    assert "| 0 | CPU | 0.0500 | 0.0800 | 0.0610 | 0.0525 (+5.0%, CI > 0) | 0.0880 (+10.0%, CI > 0) | 0.0640 |" in text
    assert (
        "| 1 | NVIDIA H200 | 0.0600 | 0.0900 | 0.0630 | 0.0591 (-1.6%, n.s.) | 0.0918 (+2.0%, n.s.) | 0.0650 |" in text
    )
    assert "not recorded" not in text


def test_from_results_groups_by_title_and_says_when_validation_is_missing(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    table = (
        "Run started (and resumed): 2026-01-01T00:00:00+00:00 at `abc` with 2 torch thread(s) on NVIDIA H200.\n\n"
        "Setting: hstu hidden 64, 2 layers; seed {seed}; generation preset paper.\n\n"
        "| iteration | NDCG@10 | Recall@10 | ΔNDCG@10 (95% CI, p) | ΔRecall@10 (95% CI, p) | fit time |\n"
        "|---|---|---|---|---|---|\n"
        "| 0 | 0.0530 | 0.0850 | base | base | 2 min |\n"
        "| 1 | {n} | {r} | {dn} | {dr} | 2 min |\n"
    )
    text = "# Benchmark results\n\n" + "".join(
        _common.section(f"HSTU Toys, seed {s}", [table.format(seed=s, n=n, r=r, dn=dn, dr=dr)], "r")
        for s, n, r, dn, dr in [
            (1, "0.0560", "0.0900", "+5.7% [+0.0010, +0.0040], p=0.001", "+5.9% [+0.0020, +0.0080], p=0.002"),
            (2, "0.0520", "0.0840", "-1.9% [-0.0030, -0.0001], p=0.04", "-1.1% [-0.0040, +0.0010], p=0.3"),
        ]
    )
    results.write_text(text)
    groups = S.collect([("--from-results", r"h64=^HSTU Toys, seed \d")], results)
    assert [r.seed for r in groups["h64"]] == [1, 2]
    blocks = S.summary_blocks(groups)
    body = "\n\n".join(blocks)
    assert "base best val" not in body  # no seed has one: no empty columns
    assert (
        "| h64 | 1, 2 | 0.0530 | 0.0850 | 0.0540 (+1.9%) | 0.0870 (+2.4%) | +1.9% / +2.4% | 1 / 0 / 1; 1 / 1 / 0 |"
        in body
    )
    assert "Best validation NDCG@10 is not recorded for 2 of the 2 seeds" in blocks[-1]
    assert "- h64, seed 2: section 'HSTU Toys, seed 2'" in body
    with pytest.raises(SystemExit, match="no section .* has a title matching"):
        S.collect([("--from-results", "x=^nothing like this")], results)
    with pytest.raises(SystemExit, match=r"seed\(s\) \[1\] come from more than one source"):
        S.collect([("--from-results", r"h64=seed 1"), ("--from-results", r"h64=seed 1$")], results)
    with pytest.raises(SystemExit, match="expected GROUP=WHERE"):
        S.collect([("--from-results", "no group")], results)


def test_parse_delta() -> None:
    d = parse_delta("+5.2% [+0.0009, +0.0044], p=0.00151")
    assert d.relative == pytest.approx(0.052)
    assert (d.ci_low, d.ci_high, d.p_value, d.verdict) == (0.0009, 0.0044, 0.00151, "CI > 0")
    assert parse_delta("base") is None
    assert parse_delta("-3.4% [-0.0035, -0.0003], p=2.5e-05").verdict == "CI < 0"
    with pytest.raises(ValueError, match="not a 'rel%"):
        parse_delta("+5.2%")


def test_replace_keeps_the_order_and_the_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## A\n\na\n\n## Old summary\n\ntyped\n\n\n## C\n\nc\n")
    _common.replace_results_section(path, "Old summary", "## New summary\n\n- command: `x`\n\nnew\n")
    assert (
        path.read_text() == "# Benchmark results\n\n## A\n\na\n\n## New summary\n\n- command: `x`\n\nnew\n\n## C\n\nc\n"
    )
    _common.replace_results_section(path, "C", "## D\n\nd\n")
    assert path.read_text().endswith("new\n\n## D\n\nd\n")
    with pytest.raises(ValueError, match="0 sections titled 'C'"):
        _common.replace_results_section(path, "C", "## E\n")


def test_main_writes_a_section_with_its_command(
    runs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.md"
    argv = [
        "seed_summary.py",
        "--runs",
        f"wide={runs[0]}",
        "--runs",
        f"wide={runs[1]}",
        "--results",
        str(out),
        "--title",
        "T",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    S.main()
    sections = split_sections(out.read_text())
    assert [s.title for s in sections] == ["T"]
    assert check_results.check_sections(sections) == []
    assert "seed_summary.py --runs" in sections[0].text


def test_main_replace_regenerates_the_section_in_place(
    runs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.md"
    out.write_text("# Benchmark results\n\n## A\n\na\n\n## T\n\ntyped by hand\n\n## B\n\nb\n")
    argv = ["seed_summary.py", "--runs", f"w={runs[0]}", "--results", str(out), "--title", "T", "--replace"]
    monkeypatch.setattr(sys, "argv", argv)
    S.main()
    sections = split_sections(out.read_text())
    assert [s.title for s in sections] == ["A", "T", "B"]
    assert "typed by hand" not in sections[1].text and "| w | 0 |" in sections[1].text


def test_pooled_test_joins_every_seed_users_and_matches_a_direct_comparison(runs: list[Path], tmp_path: Path) -> None:
    import numpy as np

    from rsir_pl.significance import paired_comparison

    ranks = {
        runs[0]: (np.array([1, 5, 30, 2]), np.array([1, 3, 40, 2])),
        runs[1]: (np.array([12, 1, 7]), np.array([2, 1, 9])),
    }
    for run, (base, new) in ranks.items():
        for k, r in ((0, base), (1, new)):
            (run / f"iter_{k}").mkdir()
            np.savez(run / f"iter_{k}" / "test_ranks.npz", ranks=r)
    groups = S.collect([("--runs", f"g={runs[0]}"), ("--runs", f"g={runs[1]}")], tmp_path / "none.md")
    table = S.pooled_table(groups)
    assert table is not None
    want = paired_comparison(
        np.concatenate([ranks[runs[0]][0], ranks[runs[1]][0]]),
        np.concatenate([ranks[runs[0]][1], ranks[runs[1]][1]]),
        metrics=("ndcg@10", "recall@10"),
    )
    row = next(line for line in table.splitlines() if line.startswith("| g |"))
    assert "| 0, 1 | 7 |" in row
    for metric in ("ndcg@10", "recall@10"):
        c = want[metric]
        assert f"{c['relative']:+.1%} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]" in row
    # the plot's rows: each seed's change and CI on the relative scale, then the pooled test's
    pooled = S.pooled_comparisons(groups)
    rows = S.forest_rows(groups, pooled)
    assert [label for label, _ in rows] == ["g, seed 0", "g, seed 1", "g, pooled"]
    seed0 = groups["g"][0]
    assert rows[0][1]["ndcg@10"] == (seed0.d_ndcg.relative, 0.001 / 0.05, 0.004 / 0.05)
    c = want["recall@10"]
    assert rows[2][1]["recall@10"] == pytest.approx((c["relative"], c["ci_low"] / c["base"], c["ci_high"] / c["base"]))
    S.forest_plot(rows, tmp_path / "fig" / "forest.png", 0.05)
    assert (tmp_path / "fig" / "forest.png").read_bytes()[:4] == b"\x89PNG"
    assert S.plot_link(tmp_path / "fig" / "forest.png", tmp_path / "R.md") == (
        "![RSIR against the base per seed, with 95% CIs](fig/forest.png)"
    )
    assert S.plot_link(Path("/elsewhere/x.png"), tmp_path / "R.md") == "plot: /elsewhere/x.png"
    # one seed's ranks missing: no pooled row for the group
    (runs[1] / "iter_1" / "test_ranks.npz").unlink()
    groups = S.collect([("--runs", f"g={runs[0]}"), ("--runs", f"g={runs[1]}")], tmp_path / "none.md")
    assert S.pooled_table(groups) is None


def _tune_study(path: Path, selected_run: Path, beats: bool) -> Path:
    study = path / "study-tune"
    study.mkdir(parents=True)
    numbers = {
        "study": "tune",
        "rows": [{"setting": "p=0.5"}, {"setting": "p=1.0"}],
        "selected": {"label": "p=1.0", "run_dir": str(selected_run), "beats base on validation": beats},
    }
    (study / "study.json").write_text(json.dumps(numbers))
    return path


def test_tune_source_reads_the_selected_setting_and_says_when_validation_keeps_the_base(
    runs: list[Path], tmp_path: Path
) -> None:
    kept = S.from_tune("g", _tune_study(tmp_path / "t0", runs[0], beats=False))
    direct = S.from_run_dir("g", runs[0])
    assert (kept.seed, kept.rsir_ndcg, kept.d_recall) == (direct.seed, direct.rsir_ndcg, direct.d_recall)
    assert "`p=1.0` selected among 2 setting(s); validation keeps the base" in kept.source
    beats = S.from_tune("g", _tune_study(tmp_path / "t1", runs[1], beats=True) / "study-tune")
    assert beats.seed == 1 and "keeps the base" not in beats.source
    groups = S.collect([("--tune", f"g={tmp_path / 't0'}"), ("--tune", f"g={tmp_path / 't1'}")], tmp_path / "none.md")
    assert [r.seed for r in groups["g"]] == [0, 1]
    with pytest.raises(FileNotFoundError, match="no study.json"):
        S.from_tune("g", tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "study.json").write_text(json.dumps({"study": "tau", "rows": []}))
    with pytest.raises(ValueError, match="not a rsir tune study"):
        S.from_tune("g", tmp_path / "other")
