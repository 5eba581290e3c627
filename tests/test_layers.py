"""The run's lower floor stays below the rooms that use it: a walk of `slowvae train` from the CLI
to results.json only goes down (config, hardware, codes and rundir never import train, evaluate
or anything above them, not even inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import slowvae

SRC = Path(slowvae.__file__).resolve().parent
ABOVE = (
    "slowvae.train",
    "slowvae.evaluate",
    "slowvae.identifiability",
    "slowvae.study",
    "slowvae.cli",
    "slowvae.report",
)
#: what each module of the floor may import from the project (hardware is its bottom)
ALLOWED = {
    "hardware": {"slowvae.errors"},
    "codes": {"slowvae.hardware"},
    "config": {"slowvae.data", "slowvae.errors", "slowvae.hardware", "slowvae.models"},
    "rundir": {"slowvae", "slowvae.codes", "slowvae.config", "slowvae.data", "slowvae.errors", "slowvae.hardware"}
    | {"slowvae.models"},
}


def _project_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slowvae"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("slowvae"))
    return names


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_the_floor_imports_only_below_it(module):
    imported = _project_imports(SRC / f"{module}.py")
    assert not [m for m in imported if m.startswith(ABOVE)]
    assert {m if m == "slowvae" else ".".join(m.split(".")[:2]) for m in imported} <= ALLOWED[module]
