"""Run every benchmark module in bench/ in its own process and print a summary table.

Each benchmark prints one JSON object as its last line: name, measured, baseline, ratio, target, passed.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = {"common", "harness"}


def main() -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in HELPERS and not m.name.startswith("_")
    )
    if not names:
        print("No benchmarks in bench/ yet.")
        return 0
    results = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent, check=False)
        if proc.returncode != 0:
            results.append({"name": name, "passed": False, "error": f"exit {proc.returncode}"})
            continue
        results.extend(json.loads(line) for line in _result_lines(name))
    print("\nname                           measured      baseline      ratio   target   passed")
    for r in results:
        print(
            f"{r['name']:<30} {r.get('measured', '-')!s:<13} {r.get('baseline', '-')!s:<13} "
            f"{r.get('ratio', '-')!s:<7} {r.get('target', '-')!s:<8} {r['passed']}"
        )
    return 0 if all(r["passed"] for r in results) else 1


def _result_lines(name: str) -> list[str]:
    path = HERE.parent / "var" / "bench" / f"{name}.json"
    return path.read_text().splitlines() if path.exists() else []


if __name__ == "__main__":
    sys.exit(main())
