"""Mutation testing of the code every reported number depends on (``make mutation``).

The functions of :data:`UNITS` (metrics, significance, the history masking of the models, the
fidelity checks, the target and prefix code of the generator and of the reference, the leakage
guard) are mutated by two tools, one mutant at a time, one process:

* **mutmut** (operator mutants: comparisons, arithmetic, constants, arguments, strings, ...),
  configured in ``[tool.mutmut]`` of pyproject.toml; it runs, per mutant, those of the units' fast
  tests that reach the mutated function;
* **statement deletion**, which mutmut does not do: every statement of the same functions is
  replaced by ``pass`` in turn (except the first binding of a local name, whose deletion is a
  NameError), and the unit's tests run in a forked child with a timeout. The generator's decode
  loop (``Generator._decode_batch``) is too large for mutmut's operators; its statements that touch
  the fidelity targets are deleted here.

A surviving mutant either has a reason in :data:`EQUIVALENT` (why no test can tell it from the
original) or is listed as unexplained. The score, the per-module counts and every survivor with its
diff and reason are appended to benchmarks/RESULTS.md.

    python benchmarks/mutation.py                 # both tools, fresh (about an hour on 2 busy cores)
    python benchmarks/mutation.py --reuse         # keep mutmut's cache in mutants/ (only changed code re-runs)
    python benchmarks/mutation.py --no-results    # print only
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as C

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

REPO = C.REPO_ROOT
TITLE = "Mutation testing (issue 27)"
PYTEST_ARGS = (
    *("-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", "-p", "no:warnings", "--no-header"),
    "--hypothesis-profile=mutation",  # tests/conftest.py: fixed examples, no shrinking
)


@dataclass(frozen=True)
class Unit:
    """Functions of one module under mutation, and the tests a deletion mutant of them runs."""

    path: str
    functions: tuple[str, ...]  # qualified names ("Class.method"); () = every function of the module
    tests: tuple[str, ...]
    mutmut: bool = True  # False: statement deletion only
    only_names: frozenset[str] = frozenset()  # deletion restricted to statements using one of these names

    @property
    def module(self) -> str:
        return self.path.removeprefix("src/").removesuffix(".py").replace("/", ".")

    def mutmut_patterns(self) -> list[str]:
        if not self.mutmut:
            return []
        if not self.functions:
            return [f"{self.module}.*"]
        return [f"{self.module}.{_mutmut_name(q)}__mutmut_*" for q in self.functions]


UNITS = (
    Unit("src/rsir_pl/metrics.py", (), ("tests/test_metrics.py", "tests/test_significance.py", "tests/test_base.py")),
    Unit("src/rsir_pl/significance.py", (), ("tests/test_significance.py",)),
    Unit(
        "src/rsir_pl/models/base.py",
        (
            "SequentialRecommender.score_all",
            "SequentialRecommender.ranking_scores",
            "SequentialRecommender.validation_step",
            "SequentialRecommender.test_step",
        ),
        ("tests/test_base.py",),
    ),
    Unit("src/rsir_pl/generation/fidelity.py", (), ("tests/test_fidelity.py", "tests/test_generator.py")),
    Unit(
        "src/rsir_pl/generation/targets.py",
        (),
        ("tests/test_targets.py", "tests/test_generator.py", "tests/test_leakage.py"),
    ),
    Unit(
        "src/rsir_pl/generation/generator.py",
        ("Generator._prefix_lengths",),
        ("tests/test_generator.py", "tests/test_leakage.py"),
    ),
    Unit(
        "src/rsir_pl/generation/generator.py",
        ("Generator._decode_batch",),
        ("tests/test_generator.py", "tests/test_leakage.py"),
        mutmut=False,
        only_names=frozenset({"tgt", "tgt_np", "check_tgt", "exhausted", "tested", "record", "decided", "hit"}),
    ),
    Unit("src/rsir_pl/generation/reference.py", ("_prefix_length", "_one_attempt"), ("tests/test_generator.py",)),
    Unit("src/rsir_pl/generation/leakage.py", (), ("tests/test_leakage.py",)),
    Unit(
        "src/rsir_pl/subgroups.py",
        ("group_labels", "check_edges", "user_groups", "compare_by_group", "tile"),
        ("tests/test_subgroups.py",),
    ),
)


@dataclass(frozen=True)
class Equivalent:
    """A surviving mutant no test can tell from the original: where, what changed, and why."""

    function: str  # fnmatch pattern over "module.qualname"
    removed: str  # a substring of the original line
    added: str  # a substring of the mutated line ("pass" for deletions)
    reason: str


_SUM_STATE = (
    "a float32 zero sum state becomes float64 at the first update (0-d float32 plus the 0-d float64 batch sum "
    "promotes to float64), so every mean is the same; only a DDP rank that saw no batch at all would sync a "
    "float32 zero"
)
EQUIVALENT: tuple[Equivalent, ...] = (
    Equivalent(
        "rsir_pl.generation.leakage.check_generated",
        "d_next.generation[len(d_k) :])",
        "new_root, ",
        "the generated part's view only feeds _check_replacements and check_fidelity_targets, which read its "
        "items, offsets and roots, never its generation column (a missing one defaults to zeros)",
    ),
    Equivalent(
        "rsir_pl.subgroups.user_groups",
        "minlength=split.num_items + 1",
        "minlength=split.num_items + 2",
        "a longer count array only adds a zero for an item id no test target can have (ids run 1..num_items)",
    ),
    Equivalent(
        "rsir_pl.generation.leakage.check_generated",
        "if replaces is None and not fidelity_checked:",
        "pass",
        "an early return that only skips building the generated part's view: with neither replacements nor a "
        "fidelity check nothing after it checks anything",
    ),
    Equivalent(
        "rsir_pl.generation.leakage.check_generated",
        "return",
        "pass",
        "the early return when neither replacements nor a fidelity check are to be verified: nothing after it "
        "checks anything then",
    ),
    Equivalent(
        "rsir_pl.generation.leakage.check_generated",
        "= np.asarray(",
        "np.asarray(",
        "np.asarray of an integer array or a list of Python ints is already an int64 array on this platform; "
        "indexing and comparisons give the same results for any integer dtype",
    ),
    Equivalent(
        "rsir_pl.generation.leakage.check_generated",
        "np.asarray(replaces, dtype=bool)",
        "np.asarray(replaces, ",
        "_check_replacements only takes len() and np.flatnonzero of it, which reads any nonzero value as True",
    ),
    Equivalent(
        "rsir_pl.generation.leakage.check_reverse_data",
        "np.zeros(len(root), dtype=np.int64)",
        "np.zeros(len(root), ",
        "_ranges converts its starts to int64 before using them",
    ),
    Equivalent(
        "rsir_pl.metrics.FullRankingMetrics.__init__",
        "torch.ones(1)",
        "torch.ones(2)",
        "the names are the keys of metrics_from_ranks' output, which do not depend on how many ranks it gets",
    ),
    Equivalent("rsir_pl.metrics.FullRankingMetrics.__init__", "dtype=torch.float64", "torch.tensor(0.0, ", _SUM_STATE),
    Equivalent(
        "rsir_pl.metrics.FullRankingMetrics.__init__",
        "dtype=torch.long",
        "torch.tensor(0, ",
        "torch.tensor(0) is already int64 (torch.long)",
    ),
    Equivalent(
        "rsir_pl.metrics.FullRankingMetrics.compute",
        ".to(torch.float64)",
        ".to(None)",
        "Tensor.to(None) returns the int64 count unchanged, and the float64 sum divided by it is the same float64 mean",
    ),
    Equivalent(
        "rsir_pl.metrics._state",
        '"sum_"',
        "",
        "_state only names the internal sum attributes, the same way at registration, update and compute: any "
        "one-to-one renaming is the same (torchmetrics states are not saved in checkpoints by default)",
    ),
    Equivalent(
        "rsir_pl.generation.leakage._prefixes",
        "dtype=np.int64",
        "",
        "both sides of the prefix comparison are built by _prefixes and compared by value; float64 holds every "
        "item id exactly",
    ),
    Equivalent(
        "rsir_pl.generation.targets.first_occurrences",
        'kind="stable"',
        'kind="STABLE"',
        "numpy reads the sort kind case-insensitively",
    ),
    Equivalent(
        "rsir_pl.generation.targets.first_occurrences",
        "np.argsort(S, axis=1, ",
        'np.argsort(S, kind="stable")',
        "argsort's default axis -1 is axis 1 of the 2-D seed matrix",
    ),
    Equivalent(
        "rsir_pl.generation.targets.first_occurrences",
        "np.take_along_axis(S, order, axis=1)",
        "np.take_along_axis(S, order, )",
        "take_along_axis's default axis -1 is axis 1 of the 2-D seed matrix",
    ),
    Equivalent(
        "rsir_pl.generation.targets.tested_items",
        ".max), axis=1)",
        ".max), )",
        "sort's default axis -1 is axis 1 of the 2-D [rows, positions] matrix",
    ),
    Equivalent(
        "rsir_pl.generation.reference._one_attempt",
        "< cfg.p",
        "<= cfg.p",
        "differs only when the keyed uniform draw equals p exactly (probability about 2^-53 per draw)",
    ),
    Equivalent(
        "rsir_pl.generation.reference._one_attempt",
        "set(range(1, n_items + 1))",
        "set(range(n_items + 1))",
        "item 0 (padding) scores -inf: it sorts last in the catalogue pool and pick() never samples a -inf candidate",
    ),
    Equivalent(
        "rsir_pl.generation.reference._stop_length",
        "len(all_lengths) - 1)",
        "len(all_lengths) + 1)",
        "int(u * len) <= len - 1 for every u < 1: the min() is a guard that never binds, any bound >= len - 1 is "
        "the same",
    ),
)


@dataclass
class Mutant:
    name: str
    unit: Unit
    tool: str  # "mutmut" or "deletion"
    status: str
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def detected(self) -> bool:
        return self.status in ("killed", "timeout")


# ---------------------------------------------------------------------------- mutmut
def _mutmut_name(qualname: str) -> str:
    """mutmut's mangled function name: ``x_f`` for a function, ``xǁClassǁmethod`` for a method."""
    if "." in qualname:
        cls, meth = qualname.split(".", 1)
        return f"xǁ{cls}ǁ{meth}"
    return f"x_{qualname}"


def _mutmut_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # mutmut puts mutants/src first; the tree's src must not shadow it
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", PYTHONHASHSEED="0")
    return env


def run_mutmut(reuse: bool, log: Path) -> list[Mutant]:
    """Run mutmut over the units' functions; return every mutant in scope with its status."""
    exe = str(Path(sys.executable).parent / "mutmut")
    if not reuse:
        shutil.rmtree(REPO / "mutants", ignore_errors=True)
    patterns = [p for u in UNITS for p in u.mutmut_patterns()]
    if tomllib is not None:
        with open(REPO / "pyproject.toml", "rb") as fh:
            mm = tomllib.load(fh)["tool"]["mutmut"]
        missing = {t for u in UNITS if u.mutmut for t in u.tests} - set(mm["pytest_add_cli_args_test_selection"])
        missing |= {u.path for u in UNITS if u.mutmut} - set(mm["only_mutate"])
        if missing:
            raise SystemExit(f"pyproject.toml [tool.mutmut] lacks {sorted(missing)} (test selection / only_mutate)")
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.run(
            [exe, "run", "--max-children", "1", *patterns], cwd=REPO, env=_mutmut_env(), stdout=fh, stderr=fh
        ).returncode
    print(f"mutmut run: exit {rc} in {time.perf_counter() - t0:.0f}s (log {log})")
    if rc != 0:
        raise SystemExit(f"mutmut failed (exit {rc}); see {log}")
    listing = subprocess.run(
        [exe, "results", "--all", "true"], cwd=REPO, env=_mutmut_env(), capture_output=True, text=True, check=True
    ).stdout
    mutants: list[Mutant] = []
    for line in listing.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep:
            continue
        unit = next((u for u in UNITS if any(fnmatch.fnmatchcase(name, p) for p in u.mutmut_patterns())), None)
        if unit is None:
            continue
        m = Mutant(name, unit, "mutmut", status)
        if not m.detected:
            shown = subprocess.run(
                [exe, "show", name], cwd=REPO, env=_mutmut_env(), capture_output=True, text=True, check=True
            ).stdout
            m.removed = [ln[1:].strip() for ln in shown.splitlines() if ln.startswith("-") and not ln.startswith("---")]
            m.added = [ln[1:].strip() for ln in shown.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
        mutants.append(m)
    return mutants


# ---------------------------------------------------------------------------- statement deletion
@dataclass(frozen=True)
class Deletion:
    unit: Unit
    qualname: str
    first: int  # 1-based line numbers of the deleted statement
    last: int
    text: str


def deletion_mutants(unit: Unit) -> list[Deletion]:
    """Every deletable statement of the unit's functions, in source order."""
    source = (REPO / unit.path).read_text(encoding="utf-8")
    lines = source.splitlines()
    out: list[Deletion] = []
    for qualname, fn in _functions(ast.parse(source)):
        if unit.functions and qualname not in unit.functions:
            continue
        bound = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
        for stmt in _statements(fn.body, lines):
            names = [e for t in _targets(stmt) for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            first_binding = isinstance(stmt, (ast.Assign, ast.AnnAssign)) and all(
                isinstance(e, ast.Name) and e.id not in bound for e in names
            )
            bound |= {n.id for t in _targets(stmt) for n in ast.walk(t) if isinstance(n, ast.Name)}
            if first_binding or _is_docstring(stmt):
                continue
            if unit.only_names and not unit.only_names & {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}:
                continue
            out.append(Deletion(unit, qualname, stmt.lineno, stmt.end_lineno or stmt.lineno, lines[stmt.lineno - 1]))
    return out


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef]]:
    found: list[tuple[str, ast.FunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found += [(f"{node.name}.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
    return found


def _statements(body: list[ast.stmt], lines: list[str]) -> list[ast.stmt]:
    """Statements of a body and of its nested blocks, in source order (nested functions excluded)."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        # an `elif` is an If inside orelse: deleting it as a statement would not parse as intended
        if not (isinstance(stmt, ast.If) and lines[stmt.lineno - 1].lstrip().startswith("elif")):
            out.append(stmt)
        for block in ("body", "orelse", "finalbody"):
            out += _statements(getattr(stmt, block, []) or [], lines)
        for handler in getattr(stmt, "handlers", []) or []:
            out += _statements(handler.body, lines)
    return out


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For)):
        return [stmt.target]
    return []


def _is_docstring(stmt: ast.stmt) -> bool:
    """A docstring or a bare ``...`` (a Protocol's body): deleting it changes nothing."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _apply(source: str, d: Deletion) -> str:
    lines = source.splitlines(keepends=True)
    indent = re.match(r"\s*", lines[d.first - 1]).group(0)  # type: ignore[union-attr]
    # keep the line count, so tracebacks and later mutants' line numbers stay valid
    lines[d.first - 1 : d.last] = [indent + "pass\n"] + ["\n"] * (d.last - d.first)
    return "".join(lines)


def _run_tests(src_root: Path, tests: tuple[str, ...], timeout: float) -> str:
    """Run ``tests`` in a forked child importing rsir_pl from ``src_root``; killed / survived / timeout."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.path.insert(0, str(src_root))
            import pytest

            code = pytest.main([*tests, *PYTEST_ARGS, "-o", "addopts="])
        except BaseException:  # noqa: BLE001 - any failure to even run the tests detects the mutant
            code = 3
        os._exit(int(code))
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        select.select([], [], [], 0.05)
    if code == 0:
        return "survived"
    if code == 5:
        return "no tests"
    return "killed"


def run_deletions(timeout_factor: float) -> list[Mutant]:
    """Delete each statement in turn in a scratch copy of src/ and run the unit's tests."""
    # the heavy third-party imports happen once, here; rsir_pl is imported by each child
    import lightning  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch  # noqa: F401

    os.environ.update(OMP_NUM_THREADS="1", WANDB_MODE="offline", PYTHONHASHSEED="0")
    os.chdir(REPO)
    scratch = Path(tempfile.mkdtemp(prefix="rsir-mutation-"))
    shutil.copytree(REPO / "src", scratch / "src")
    mutants: list[Mutant] = []
    try:
        for unit in UNITS:
            deletions = deletion_mutants(unit)
            target = scratch / unit.path
            original = target.read_text(encoding="utf-8")
            t0 = time.perf_counter()
            if _run_tests(scratch / "src", unit.tests, 1800) != "survived":
                raise SystemExit(f"the tests {unit.tests} fail on the unmutated code")
            timeout = max(60.0, timeout_factor * (time.perf_counter() - t0))
            for d in deletions:
                target.write_text(_apply(original, d), encoding="utf-8")
                status = _run_tests(scratch / "src", unit.tests, timeout)
                name = f"{unit.module}.{d.qualname}:L{d.first}"
                m = Mutant(name, unit, "deletion", status)
                if not m.detected:
                    m.removed, m.added = [d.text.strip()], ["pass"]
                mutants.append(m)
                print(f"  {status:9s} {name}  {d.text.strip()[:70]}", flush=True)
            target.write_text(original, encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return mutants


# ---------------------------------------------------------------------------- report
def explain(mutants: list[Mutant]) -> None:
    """Attach the recorded reason to every undetected mutant that matches an EQUIVALENT entry."""
    for m in mutants:
        if m.detected:
            continue
        where = m.name.split("__mutmut_")[0].split(":L")[0]
        where = where.replace("xǁ", "").replace("ǁ", ".")
        where = re.sub(r"\.x_", ".", where)
        for e in EQUIVALENT:
            if (
                fnmatch.fnmatchcase(where, e.function)
                and any(e.removed in r for r in m.removed or [""])
                and any(e.added in a for a in m.added or [""])
            ):
                m.reason = e.reason
                break


def report(mutants: list[Mutant], seconds: float) -> tuple[list[str], str]:
    rows = []
    for path in dict.fromkeys(u.path for u in UNITS):
        mine = [m for m in mutants if m.unit.path == path]
        row = [path.removeprefix("src/rsir_pl/")]
        for tool in ("mutmut", "deletion"):
            t = [m for m in mine if m.tool == tool]
            row.append(f"{sum(m.detected for m in t)}/{len(t)}" if t else "–")
        undetected = [m for m in mine if not m.detected]
        row += [sum(m.reason is not None for m in undetected), sum(m.reason is None for m in undetected)]
        rows.append(row)
    total = len(mutants)
    detected = sum(m.detected for m in mutants)
    equivalent = sum(m.reason is not None for m in mutants if not m.detected)
    unexplained = [m for m in mutants if not m.detected and m.reason is None]
    counts: dict[str, int] = {}
    for m in mutants:
        counts[m.status] = counts.get(m.status, 0) + 1
    score = detected / total if total else 0.0
    score_eq = detected / (total - equivalent) if total > equivalent else 0.0
    summary = (
        f"{total} mutants ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}) in {seconds / 60:.0f} min. "
        f"**Mutation score {detected}/{total} = {score:.1%}**; {equivalent} survivors are equivalent (reasons "
        f"below), so {detected}/{total - equivalent} = {score_eq:.1%} of the mutants that a test can tell apart "
        f"are killed; {len(unexplained)} survivor(s) without a recorded reason."
    )
    table = C.markdown_table(
        ["module", "mutmut killed", "deletion killed", "equivalent survivors", "unexplained survivors"], rows
    )
    listing = ["| mutant | change | reason |", "|---|---|---|"]
    for m in sorted((m for m in mutants if not m.detected), key=lambda m: (m.reason is not None, m.name)):
        change = "<br>".join([f"`- {r}`" for r in m.removed] + [f"`+ {a}`" for a in m.added]) or "(no diff)"
        reason = m.reason or f"**unexplained** ({m.status})"
        change = change.replace("|", "\\|")
        listing.append(f"| `{m.name}` | {change} | {reason} |")
    scope = "; ".join(
        f"`{u.path.removeprefix('src/rsir_pl/')}`: "
        + (", ".join(u.functions) if u.functions else "all")
        + ("" if u.mutmut else " (deletion only, statements using " + ", ".join(sorted(u.only_names)) + ")")
        for u in UNITS
    )
    body = [f"Scope: {scope}.", summary, table, "Surviving mutants:", "\n".join(listing)]
    return body, summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    C.add_common_args(p)
    p.add_argument("--reuse", action="store_true", help="keep mutmut's results in mutants/ (re-runs changed code)")
    p.add_argument("--skip-mutmut", action="store_true", help="statement deletion only")
    p.add_argument("--skip-deletion", action="store_true", help="mutmut only")
    p.add_argument("--timeout-factor", type=float, default=10.0, help="deletion timeout = factor x clean run")
    p.add_argument("--list", action="store_true", help="print the mutants in scope, run nothing")
    p.add_argument("--no-results", action="store_true", help="do not append to the results file")
    p.add_argument("--replace", action="store_true", help="replace the existing mutation section in place")
    p.add_argument("--only", nargs="+", metavar="PATH", help="only these source files (e.g. while adding tests)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: report the last run's mutants (benchmarks/out/mutation.json) with the current reasons",
    )
    args = p.parse_args(argv)
    if args.only:
        global UNITS
        UNITS = tuple(u for u in UNITS if u.path in args.only)
        if not UNITS:
            raise SystemExit(f"--only {args.only}: no unit has that path")
    if args.list:
        for u in UNITS:
            print(u.path, u.mutmut_patterns())
            for d in deletion_mutants(u):
                print(f"  {d.qualname}:L{d.first}  {d.text.strip()}")
        return
    C.print_header("mutation testing")
    out_dir = C.OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / "mutation.json"
    if args.report_only:
        data = json.loads(saved.read_text(encoding="utf-8"))
        mutants = [
            Mutant(
                m["name"],
                next(u for u in UNITS if [u.path, *u.functions] == m["unit"]),
                m["tool"],
                m["status"],
                m["removed"],
                m["added"],
            )
            for m in data["mutants"]
        ]
        seconds = data["seconds"]
    else:
        t0 = time.perf_counter()
        mutants = []
        if not args.skip_deletion:
            mutants += run_deletions(args.timeout_factor)
        if not args.skip_mutmut:
            mutants += run_mutmut(args.reuse, out_dir / "mutmut.log")
        seconds = time.perf_counter() - t0
        saved.write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "mutants": [
                        {
                            "name": m.name,
                            "unit": [m.unit.path, *m.unit.functions],
                            "tool": m.tool,
                            "status": m.status,
                            "removed": m.removed,
                            "added": m.added,
                        }
                        for m in mutants
                    ],
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    explain(mutants)
    body, summary = report(mutants, seconds)
    print("\n\n".join(body))
    if not args.no_results:
        reading = (
            summary
            + " A mutant is killed when a test fails (or the tests time out); every survivor is either equivalent "
            "for the reason given or a missing test."
        )
        text = C.section(TITLE, body, reading)
        if args.replace:
            C.replace_results_section(args.results, TITLE, text)
        else:
            C.append_results(args.results, text)


if __name__ == "__main__":
    main()
