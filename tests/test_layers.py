"""The layer rules of DESIGN.md, checked on the source: bot/ imports no platform library,
torch, numpy or Pillow, adapters or workers (the CLI modules, the composition root, excepted);
adapters/ never import torch; worker/ never imports discord or slack."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = {
    "bot": {
        "discord",
        "slack_bolt",
        "slack_sdk",
        "torch",
        "transformers",
        "diffusers",
        "PIL",
        "numpy",
        "adapters",
        "worker",
    },
    "adapters": {"torch", "transformers", "diffusers", "worker"},
    "worker": {"discord", "slack_bolt", "slack_sdk", "adapters"},
}
COMPOSITION_ROOT = set((ROOT / "bot" / "cli").glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(RULES))
def test_layer_rules(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no sources"
    broken = []
    for path in files:
        banned = RULES[package] - ({"adapters", "worker"} if path in COMPOSITION_ROOT else set())
        bad = imported_roots(path) & banned
        if bad:
            broken.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not broken, "; ".join(broken)


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import torch.nn\nfrom discord import ui\nfrom . import local\n")
    assert imported_roots(sample) == {"torch", "discord"}
