"""Import budget (ARCHITECTURE.md §4.1.12): `import polyrelay` must stay cheap and
side-effect free; the CLI entry module too."""

from __future__ import annotations

import subprocess
import sys
import time

BUDGET_SECONDS = {"polyrelay": 0.5, "polyrelay.cli": 1.0}


def import_seconds(module: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    failed = False
    for module, budget in BUDGET_SECONDS.items():
        seconds = import_seconds(module)
        status = "ok" if seconds <= budget else "OVER BUDGET"
        print(f"import {module}: {seconds * 1000:.0f} ms (budget {budget * 1000:.0f} ms) {status}")
        failed |= seconds > budget
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
