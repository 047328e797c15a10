"""`make bench`: run every bench/bench_*.py in its own process and summarise the ratios.

Each benchmark prints its own table (measurement beside its named baseline, same run) and
writes bench/out/<name>.json. Pass names to run a subset: `make bench BENCH_ARGS="api"`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    failures = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        print(f"({script.stem}: {time.perf_counter() - start:.0f} s, exit {result.returncode})")
        failures += result.returncode != 0
    print("\n=== summary (bench/out/*.json) ===")
    for path in sorted(OUT.glob("*.json")):
        data = json.loads(path.read_text())
        for line in data.get("summary", []):
            print(f"{path.stem}: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
