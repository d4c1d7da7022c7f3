"""Run every benchmark in this folder, one after the other.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py startup    # those whose name contains 'startup'

Each ``bench_*.py`` prints figures measured side by side in one run (plugin
vs bare pytest, batched vs naive logging, parallel vs serial, ...).
``gpu_sweep.py`` needs NVIDIA GPUs and torch, and is run by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    scripts = sorted(here.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    failed = []
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
