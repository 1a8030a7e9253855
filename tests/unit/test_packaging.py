"""Test and demo stand-ins live in nplpipeline.devtools, imported only where meant."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "nplpipeline"
# The only production modules allowed to import the stand-ins, each on purpose: the demo
# and the benchmark start them; the lender twin (itself the project's test world) reads
# what the stand-in CRM received, as a real CRM's performed work would come back.
EXPLICIT_USERS = {"orchestration/demo.py", "model/bench.py", "simulate/twin/decisions.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_stand_ins_are_out_of_the_production_modules() -> None:
    assert importlib.util.find_spec("nplpipeline.devtools.crm_server") is not None
    assert importlib.util.find_spec("nplpipeline.devtools.synthetic") is not None
    assert not (PACKAGE / "act" / "delivery" / "crm_server.py").exists()
    assert not (PACKAGE / "model" / "synthetic.py").exists()


def test_only_the_demo_and_the_benchmark_import_devtools() -> None:
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "devtools" not in path.parts
        and any(name.startswith("nplpipeline.devtools") for name in _imports(path))
    }
    assert users == EXPLICIT_USERS
