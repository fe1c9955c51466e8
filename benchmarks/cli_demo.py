"""Wall-clock time of ``rewardlab demo --demos 5`` against its 60 s target (moved here from tests/test_cli.py:
on shared cores speed belongs in a benchmark, not in a timed test).

Runs the command in a subprocess, reads the ``seconds`` the demo records in its ``summary.json`` and
the wall-clock time of the whole process, and prints both against the target.

Run::

    OMP_NUM_THREADS=1 python benchmarks/cli_demo.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    print("| run | demo seconds (summary.json) | process seconds | target | met |\n|---|---|---|---|---|")
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "demo"
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "rewardlab", "demo", "--out", str(out), "--demos", "5"], capture_output=True, text=True, env=env
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(f"rewardlab demo failed:\n{proc.stderr}")
            seconds = float(json.loads((out / "summary.json").read_text())["seconds"])
        print(f"| {i} | {seconds:.1f} | {wall:.1f} | < {TARGET_SECONDS:g} | {'yes' if seconds < TARGET_SECONDS else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
