"""Reading ``benchmarks/RESULTS.md`` back: its ``## `` sections, and the per-iteration table that
``benchmarks/rsir.py`` writes into a quality section.

Used by ``check_results.py`` (every section has its command) and ``seed_summary.py`` (summaries over
seeds made from the per-seed sections when their run directories are gone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    """One ``## `` section: its title, the 1-based line number of its heading, and its lines."""

    title: str
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def split_sections(text: str) -> list[Section]:
    """The ``## `` sections of a markdown text (headings inside ``` fences do not count)."""
    sections: list[Section] = []
    fenced = False
    for n, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append(Section(line[3:].strip(), n, [line]))
        elif sections:
            sections[-1].lines.append(line)
    return sections


def read_sections(path: str | Path) -> list[Section]:
    """:func:`split_sections` of a file."""
    return split_sections(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- rsir.py's tables
@dataclass
class Delta:
    """A relative change against the base and its paired 95% CI, as rsir.py prints them."""

    relative: float
    ci_low: float
    ci_high: float
    p_value: float | None = None

    @property
    def verdict(self) -> str:
        """``CI > 0``, ``CI < 0`` or ``n.s.`` (the CI includes 0)."""
        if self.ci_low > 0:
            return "CI > 0"
        if self.ci_high < 0:
            return "CI < 0"
        return "n.s."


_DELTA = re.compile(
    r"^(?P<rel>[+-]?\d+(?:\.\d+)?)%\s*\[(?P<lo>[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?),\s*"
    r"(?P<hi>[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\](?:,\s*p=(?P<p>[\d.e+-]+))?$"
)


def parse_delta(cell: str) -> Delta | None:
    """``+5.2% [+0.0009, +0.0044], p=0.00151`` -> Delta; ``base`` -> None."""
    cell = cell.strip()
    if cell == "base":
        return None
    m = _DELTA.match(cell)
    if not m:
        raise ValueError(f"not a 'rel% [low, high], p=...' cell: {cell!r}")
    p = m.group("p")
    return Delta(float(m.group("rel")) / 100, float(m.group("lo")), float(m.group("hi")), float(p) if p else None)


def table_cells(line: str) -> list[str]:
    """The cells of a markdown table row (escaped ``\\|`` kept inside a cell)."""
    inner = line.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def iteration_table(section: Section) -> list[dict[str, str]]:
    """The rows of rsir.py's per-iteration table (header ``| iteration | NDCG@10 | ...``), as
    ``{header: cell}``; an error naming the section when it has none."""
    for i, line in enumerate(section.lines):
        if line.startswith("| iteration |"):
            headers = table_cells(line)
            rows = []
            for row in section.lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                cells = table_cells(row)
                if len(cells) != len(headers):
                    raise ValueError(
                        f"section {section.title!r} (line {section.line}): a table row has {len(cells)} cells, "
                        f"its header {len(headers)}"
                    )
                rows.append(dict(zip(headers, cells, strict=True)))
            return rows
    raise ValueError(f"section {section.title!r} (line {section.line}): no '| iteration | NDCG@10 | ...' table")


def setting_seed(section: Section) -> int:
    """The seed named on rsir.py's ``Setting: ...; seed N; ...`` line."""
    for line in section.lines:
        if line.startswith("Setting:"):
            m = re.search(r"\bseed (\d+)\b", line)
            if m:
                return int(m.group(1))
    raise ValueError(f"section {section.title!r} (line {section.line}): no 'Setting: ... seed N' line")


def run_devices(section: Section) -> str:
    """Where the run trained, from rsir.py's ``Run started (and resumed): ...`` line: the CUDA
    device names, ``CPU`` when none, ``unknown`` when the section has no such line."""
    for line in section.lines:
        if line.startswith("Run started"):
            starts = line.split(":", 1)[1].strip().rstrip(".").split("; ")
            devices = []
            for start in starts:
                m = re.search(r"torch thread\(s\) on (.+)$", start)
                devices.append(m.group(1).strip() if m else "CPU")
            return ", ".join(dict.fromkeys(devices))
    return "unknown"
