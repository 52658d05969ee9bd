"""The package's layers: every module imports rsir_pl only from its own layer or the ones before it."""

from __future__ import annotations

import ast
from pathlib import Path

import rsir_pl

#: the layers in order (README, "Layout"); a module's layer is that of its top-level name
LAYERS = (
    ("config", "plugins", "draws", "faults", "progress", "atomic"),
    ("data", "metrics", "significance", "subgroups"),
    ("storage",),
    ("models",),
    ("generation",),
    ("baselines", "training", "fit_checkpoint", "loggers"),
    ("loop",),
    ("studies", "inference"),
    ("cli", "__main__", "__init__"),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
ROOT = Path(rsir_pl.__file__).resolve().parent


def upward_imports() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        top = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rsir_pl"):
                parts = node.module.split(".")
                names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("rsir_pl.")]
            for target in names:
                if LEVEL.get(target, 0) > LEVEL[top]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports rsir_pl.{target}")
    return found


def test_every_top_level_module_has_a_layer():
    tops = {p.name.removesuffix(".py") for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert tops <= set(LEVEL), sorted(tops - set(LEVEL))


def test_no_module_imports_from_a_later_layer():
    assert upward_imports() == []
