"""Size gate (ARCHITECTURE.md §4.4): module and function length caps, with exemptions."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPS = {"src": 800, "schemas": 1000, "tests": 1500}
FUNCTION_CAP = 80


def module_cap(path: Path) -> int:
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith("tests/"):
        return CAPS["tests"]
    if "/schemas/" in rel:
        return CAPS["schemas"]
    return CAPS["src"]


def exemptions() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    table: dict[str, str] = config.get("tool", {}).get("polyrelay", {}).get("sizes", {})
    return table


def problems_in(path: Path) -> list[str]:
    text = path.read_text()
    lines = text.count("\n") + 1
    found = []
    cap = module_cap(path)
    if lines > cap:
        found.append(f"{path.relative_to(ROOT)}: {lines} lines (cap {cap})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_CAP:
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} is {length} lines"
                    f" (cap {FUNCTION_CAP})"
                )
    return found


def main() -> int:
    exempt = exemptions()
    problems = []
    for folder in ("src", "tests", "scripts", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if any(part.startswith(".") for part in parts):
                continue  # throwaway virtual environments (bench/.peer-venv-*, …) and caches
            if path.relative_to(ROOT).as_posix() in exempt:
                continue
            problems.extend(problems_in(path))
    for problem in problems:
        print(problem)
    print(f"sizes: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
