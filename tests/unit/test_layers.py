"""The layers of docs/architecture.md hold: no module imports from a layer above its own.

Reads every import (top-level and function-local) of every module with ``ast``, so an upward
import (an asset importing from a sensor, the warehouse from the API) fails here, not in review.
The table is the "imports" column of the package table in docs/architecture.md; keep them equal.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "energy_orchestration"

ALLOWED: dict[str, set[str]] = {
    "settings": set(),
    "emission_factors": set(),
    "markdown": set(),
    "model": {"settings"},
    "sources": {"model", "settings"},
    "standin": {"model"},
    "warehouse": {"model", "settings", "emission_factors", "markdown"},
    "streaming": {"model", "settings", "sources", "warehouse"},
    "ingest": {"model", "settings", "sources", "streaming", "warehouse"},
    "backfill": {"model", "settings", "warehouse"},
    "resources": {"model", "settings", "sources", "streaming", "warehouse"},
    "maintenance": {"model", "settings", "warehouse", "resources"},
    "assets": {"model", "settings", "markdown", "sources", "streaming", "warehouse", "ingest", "resources"},
    "sensors": {"model", "settings", "markdown", "sources", "streaming", "warehouse", "ingest", "resources",
                "assets"},
    "definitions": {"settings", "resources", "assets", "sensors", "maintenance"},
    "serving": {"model", "settings", "markdown", "emission_factors", "sources", "streaming", "warehouse"},
    "dagster_loops": set(),
    "demo": {"model", "settings", "sources", "standin", "streaming", "warehouse"},
    "profiles": {"model", "settings", "streaming", "warehouse", "demo"},
    "cli": {"model", "settings", "markdown", "emission_factors", "sources", "standin", "streaming", "warehouse",
            "ingest", "backfill", "resources", "maintenance", "assets", "serving", "demo", "profiles"},
}
"""Layer (a top-level module or sub-package) -> the layers it may import from."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("settings", "energy_orchestration.sources"):
        "checks ENERGY_LIVE_DATASETS against the registry, imported lazily inside the check",
    ("warehouse.status", "energy_orchestration.streaming.health"):
        "landing health is plain file I/O (no Kafka import) that the status reads",
}
"""Single module-level imports against the table, each with the reason it is harmless."""


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def package_imports() -> list[tuple[str, str]]:
    """(importing module relative to the package, imported energy_orchestration module) pairs."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "energy_orchestration":
                targets = ([f"{node.module}.{alias.name}" for alias in node.names]
                           if node.module == "energy_orchestration" else [node.module])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "energy_orchestration"]
            else:
                continue
            found.extend((relative, target) for target in targets)
    return found


def test_every_layer_is_in_the_table():
    layers = {layer_of(f"energy_orchestration.{module}") for module, _ in package_imports()}
    tops = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert tops - {"__init__"} <= set(ALLOWED), f"layers missing from the table: {sorted(tops - set(ALLOWED))}"
    assert layers <= set(ALLOWED) | {"__init__"}


def test_no_import_runs_upward():
    wrong = []
    for module, target in package_imports():
        source, imported = module.split(".")[0], layer_of(target)
        if imported in (source, "__init__") or imported in ALLOWED.get(source, set()):
            continue
        if (module, target) in EXCEPTIONS:
            continue
        wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layer table of docs/architecture.md:\n" + "\n".join(wrong)


def test_exceptions_are_still_needed():
    pairs = set(package_imports())
    assert set(EXCEPTIONS) <= pairs, f"stale exceptions: {sorted(set(EXCEPTIONS) - pairs)}"


def documented_table() -> dict[str, set[str]]:
    """The package table of docs/architecture.md: layer -> the layers in its "imports" column
    (names in backticks outside parentheses; parentheses hold the named exceptions)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("| module | owns | imports |"):].split("\n\n")[0]
    found: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        module_cell, _, imports_cell = row.strip("|").split(" | ")
        imports = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", imports_cell)))
        for name in re.findall(r"`([a-z_]+)(?:\.py|/)`", module_cell):
            found[name] = imports
    return found


def test_the_table_is_the_documented_one():
    assert documented_table() == ALLOWED
