"""Check that RESULTS.md is all script-made and that the README quotes it exactly.

    python benchmarks/check_results.py [--results benchmarks/RESULTS.md] [--readme README.md]

Two rules; every breach is printed with its file and line, and the exit status is 1 when there is one.

1. **Every section has its provenance.** Each ``## `` heading of RESULTS.md (outside ``` fences)
   opens a section, and each section has a ``- command: `` line and a ``- revision: `` line, the
   header that ``benchmarks/_common.section`` writes. A section typed by hand has neither.

2. **README numbers are copied from RESULTS.md.** In the README's results section (the ``## ``
   section whose title starts with ``Results``) the checked numbers are

   - every decimal with exactly four digits after the point, with its sign if it has one
     (``0.0547``, ``+0.0032``): the form of every NDCG/Recall/MRR and CI bound the scripts print;
   - every signed percentage (``+5.2%``, ``-0.0%``, ``+199.99%``): the form of every relative change.

   Unsigned percentages (``99.4%``, ``4.4-5.8%``), ratios (``66x``) and counts are not checked. A
   number matches a number of RESULTS.md with the same text (sign and digits; ``−`` reads as ``-``), so
   a rounded or retyped value fails. In a **table row** (a line starting with ``|``) all checked numbers
   must appear together in one RESULTS.md section, since a row quotes one result (its base and RSIR
   values and their changes) or one summary; rows whose first cell starts with ``paper`` quote the
   paper's published numbers and are skipped. In **prose** each checked number must appear somewhere
   in RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_md import Section, split_sections, table_cells  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent

#: four-decimal numbers (optionally signed) and signed percentages, not inside a longer number or word
CHECKED_NUMBER = re.compile(r"(?<![\w.])(?:[+-]?\d+\.\d{4}(?![\d%])|[+-]\d+(?:\.\d+)?%)")


@dataclass
class Problem:
    """One breach: where, and what."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def checked_numbers(text: str) -> list[str]:
    """The checked numbers of a text, in order (``−`` normalised to ``-``)."""
    return CHECKED_NUMBER.findall(text.replace("\u2212", "-"))


def check_sections(sections: list[Section], name: str = "RESULTS.md") -> list[Problem]:
    """Rule 1: every section has ``- command: `` and ``- revision: `` lines."""
    problems = []
    for s in sections:
        missing = [key for key in ("- command: ", "- revision: ") if not any(ln.startswith(key) for ln in s.lines)]
        if missing:
            what = " and ".join(f"'{m.strip()}'" for m in missing)
            problems.append(Problem(name, s.line, f"section '{s.title}' has no {what} line (typed by hand?)"))
    return problems


def readme_results_lines(readme: str) -> list[tuple[int, str]]:
    """(line number, line) of the README's ``## Results...`` section; empty when it has none."""
    for s in split_sections(readme):
        if s.title.startswith("Results"):
            return [(s.line + i, ln) for i, ln in enumerate(s.lines)]
    return []


def check_readme(readme: str, sections: list[Section], name: str = "README.md") -> tuple[list[Problem], int]:
    """Rule 2; returns the problems and how many numbers were checked."""
    per_section = [set(checked_numbers(s.text)) for s in sections]
    everywhere = set().union(*per_section) if per_section else set()
    lines = readme_results_lines(readme)
    if not lines:
        return [Problem(name, 1, "no '## Results...' section, so no README number could be checked")], 0
    problems: list[Problem] = []
    checked = 0
    for n, line in lines:
        numbers = checked_numbers(line)
        if not numbers:
            continue
        if line.startswith("|"):
            if table_cells(line)[0].lower().startswith("paper"):
                continue
            checked += len(numbers)
            wanted = set(numbers)
            if any(wanted <= have for have in per_section):
                continue
            best = max(range(len(sections)), key=lambda i: len(wanted & per_section[i]), default=None)
            if best is None:
                problems.append(Problem(name, n, f"no RESULTS.md sections to find {', '.join(numbers)} in\n    {line}"))
                continue
            absent = [x for x in numbers if x not in per_section[best]]
            problems.append(
                Problem(
                    name,
                    n,
                    f"no RESULTS.md section holds all of {', '.join(numbers)}; the closest, "
                    f"'{sections[best].title}' (line {sections[best].line}), lacks {', '.join(absent)}\n    {line}",
                )
            )
        else:
            checked += len(numbers)
            absent = [x for x in numbers if x not in everywhere]
            if absent:
                problems.append(Problem(name, n, f"{', '.join(absent)} not in RESULTS.md\n    {line}"))
    return problems, checked


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(REPO_ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--readme", default=str(REPO_ROOT / "README.md"))
    args = ap.parse_args(argv)
    results_path, readme_path = Path(args.results), Path(args.readme)
    sections = split_sections(results_path.read_text(encoding="utf-8"))
    problems = check_sections(sections, _shown(results_path))
    readme_problems, checked = check_readme(readme_path.read_text(encoding="utf-8"), sections, _shown(readme_path))
    problems += readme_problems
    for p in problems:
        print(p)
    if problems:
        print(f"\n{len(problems)} problem(s)")
        return 1
    print(f"ok: {len(sections)} sections with command and revision; {checked} README numbers found in RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
