"""benchmarks/check_results.py: every RESULTS.md section has its command, README numbers are copied."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import check_results as C  # noqa: E402
from results_md import split_sections  # noqa: E402


def _section(title: str, body: str, command: bool = True) -> str:
    head = "- command: `python benchmarks/x.py`\n- revision: `abc1234`\n" if command else ""
    return f"## {title}\n\n{head}- date: 2026-01-01 00:00 UTC\n\n{body}\n\n**Reading:** r\n\n"


RESULTS = (
    "# Benchmark results\n\n"
    + _section(
        "SASRec authors-code",
        "| iteration | NDCG@10 | Recall@10 |\n|---|---|---|\n| 0 | 0.0532 | 0.0859 |\n"
        "| 1 | 0.0546 | 0.0890 | +2.8% [+0.0003, +0.0027] | +3.5% |",
    )
    + _section("HSTU seed 1", "| 0 | 0.0520 | 0.0836 |\n| 1 | 0.0547 | 0.0898 | +5.2% | +7.5% |")
)


def _readme(results_lines: str) -> str:
    intro = "# proj\n\n## Install\n\nuse 0.1234 here freely\n\n"
    return f"{intro}## Results so far\n\n{results_lines}\n\n## Benchmarks\n\n0.9999\n"


def _run(tmp_path: Path, results: str, readme: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp_path / "RESULTS.md").write_text(results)
    (tmp_path / "README.md").write_text(readme)
    rc = C.main(["--results", str(tmp_path / "RESULTS.md"), "--readme", str(tmp_path / "README.md")])
    return rc, capsys.readouterr().out


def test_the_repository_passes(capsys: pytest.CaptureFixture[str]) -> None:
    rc = C.main(["--results", str(REPO / "benchmarks" / "RESULTS.md"), "--readme", str(REPO / "README.md")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("ok: ")


def test_copied_numbers_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = _readme(
        "| model | NDCG@10 | Recall@10 |\n|---|---|---|\n"
        "| paper: base / RSIR | 0.0477 / 0.0508 | 0.0795 / 0.0872 |\n"
        "| authors-code: base / RSIR | 0.0532 / 0.0546 (+2.8%, CI > 0) | 0.0859 / 0.0890 (+3.5%, CI > 0) |\n\n"
        "Prose quotes 0.0547 and +5.2% and CI [+0.0003, +0.0027], and unchecked forms: 99.4%, 4.4-5.8%, 66x."
    )
    rc, out = _run(tmp_path, RESULTS, readme, capsys)
    assert rc == 0, out
    assert "ok: 2 sections" in out and "10 README numbers" in out


def test_a_section_without_command_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = RESULTS + _section("Summary typed by hand", "| mean | 0.0530 |", command=False)
    rc, out = _run(tmp_path, results, _readme("nothing checked"), capsys)
    assert rc == 1
    assert "RESULTS.md:" in out and "'Summary typed by hand' has no '- command:' and '- revision:' line" in out


def test_a_section_without_revision_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = RESULTS + "## Half a header\n\n- command: `python x.py`\n\ntext\n"
    rc, out = _run(tmp_path, results, _readme("nothing checked"), capsys)
    assert rc == 1
    assert "'Half a header' has no '- revision:' line" in out


def test_a_retyped_row_number_fails_even_if_it_appears_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the case this check was written for: 0.0547 is in RESULTS.md, but not in the section the row quotes
    row = "| authors-code: base / RSIR | 0.0532 / 0.0547 (+2.8%, CI > 0) | 0.0859 / 0.0890 (+3.5%, CI > 0) |"
    rc, out = _run(tmp_path, RESULTS, _readme("| m | a | b |\n|---|---|---|\n" + row), capsys)
    assert rc == 1
    assert "README.md:11:" in out  # the row's own line
    assert "'SASRec authors-code'" in out and "lacks 0.0547" in out
    assert row in out


def test_a_prose_number_absent_from_results_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, RESULTS, _readme("density +100% / +200%, base 0.0533, gain +2.8%"), capsys)
    assert rc == 1
    assert "+100%, +200%, 0.0533 not in RESULTS.md" in out


def test_a_rounded_number_does_not_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = RESULTS + _section("Study data", "| 2 | +199.99% |")
    rc, out = _run(tmp_path, results, _readme("density +200%"), capsys)
    assert rc == 1 and "+200% not in RESULTS.md" in out
    rc, out = _run(tmp_path, results, _readme("density +199.99%"), capsys)
    assert rc == 0, out


def test_a_readme_without_results_section_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "RESULTS.md").write_text(RESULTS)
    (tmp_path / "README.md").write_text("# proj\n\n## Install\n\n0.0547\n")
    rc = C.main(["--results", str(tmp_path / "RESULTS.md"), "--readme", str(tmp_path / "README.md")])
    assert rc == 1
    assert "no '## Results...' section" in capsys.readouterr().out


def test_checked_numbers_rule() -> None:
    text = "0.0547 / +0.0032 (+5.2%, -0.0%) 0.04843 4.4-5.8% 99.4% 66x 1.5 v0.0547x \u22123.4% 12.3456%"
    assert C.checked_numbers(text) == ["0.0547", "+0.0032", "+5.2%", "-0.0%", "-3.4%"]


def test_headings_in_code_fences_do_not_open_sections() -> None:
    sections = split_sections("# t\n\n## A\n\n```bash\n## not a heading\n```\n\n## B\n\ntext\n")
    assert [(s.title, s.line) for s in sections] == [("A", 3), ("B", 9)]
