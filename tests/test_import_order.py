"""The package order, checked rather than hoped for (DESIGN.md, ARCHITECTURE.md):

    core < data, models < train < report < tasks, papers < exercises < cli (and the `dlf` face)

Every module under src/dlf is parsed, imports inside functions included, and any import of
a package at the same level (data <-> models) or a higher one fails the test. A lazy import
inside a function hides a cycle from Python but not from this test.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dlf"
LEVEL = {
    "core": 0,
    "data": 1,
    "models": 1,
    "train": 2,
    "report": 3,
    "tasks": 4,
    "papers": 4,
    "exercises": 5,  # grades members' code against train/models/tasks references
    "cli": 6,
}
FACE = 7  # `dlf/__init__.py`: the public face may gather names from any package below cli


def package_of(module: str) -> str | None:
    """'dlf.train.learner' -> 'train'; 'dlf' -> '' (the face); other libraries -> None."""
    parts = module.split(".")
    if parts[0] != "dlf":
        return None
    return parts[1] if len(parts) > 1 else ""


def level(pkg: str) -> int:
    return FACE if pkg in ("", "__init__", "__main__") else LEVEL[pkg]


def dlf_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "dlf":  # `from dlf import train` imports the package train
                found += [(node.lineno, f"dlf.{a.name}") for a in node.names if a.name in LEVEL]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "<relative import>"))
    return found


def violations(root: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        own = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem
        for line, module in dlf_imports(path):
            if module == "<relative import>":
                bad.append(f"{rel}:{line}: relative import (write the absolute dlf.* path)")
                continue
            pkg = package_of(module)
            if pkg is None or pkg == own:
                continue
            if own == "__init__" and pkg != "cli":  # the face gathers the public names
                continue
            if level(pkg) >= level(own):
                bad.append(f"{rel}:{line}: {own or 'dlf'} imports {module} (not below it)")
    return bad


def test_no_module_imports_its_own_level_or_above():
    assert violations() == []


@pytest.mark.parametrize(
    ("own", "source", "caught"),
    [
        ("data", "import dlf\n", True),  # the face from below: the bug this test was added for
        ("tasks", "def f():\n    from dlf.cli import main\n", True),  # hidden in a function
        ("data", "from dlf.models import create_model\n", True),  # peers stay independent
        ("train", "from dlf import tasks\n", True),
        ("train", "from dlf.models.weights import load_pretrained\n", False),
        ("tasks", "from dlf.report.html import write_run_report\n", False),
    ],
)
def test_the_checker_catches_what_it_should(tmp_path, own, source, caught):
    """The check itself can fail: planted upward imports are reported, downward ones are not."""
    root = tmp_path / "dlf"
    (root / own).mkdir(parents=True)
    (root / own / "planted.py").write_text(source)
    assert bool(violations(root)) is caught
