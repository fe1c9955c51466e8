"""GAIL and AIRL against imitation 1.0.1 as a sweep (issue 21): every (seed, algorithm, library) of one env, run one
after the other with the two libraries alternating, into a directory that ``rewardlab summarize`` reads.

Each trial is one process: ``benchmarks/adversarial.py run`` in rewardlab's venv or
``benchmarks/imitation_adversarial.py`` in imitation's (``benchmarks/.venv-imitation``), on the demonstrations that
``adversarial.py prepare`` wrote to ``--dir``. Its JSON line becomes the trial's ``result.json`` (``metrics``:
``normalised``, ``return``, ``seconds``, ``env_steps`` and, with ``--transfer``, ``transfer_normalised``), so a
killed sweep reruns only the trials without one. The two libraries' runs of a seed and algorithm are adjacent and
alternate which goes first, so both see the same load and the wall-clock ratio is measured in one run
(``--shard I/N`` splits the pairs over N processes). At the end
``rewardlab.experiments.summarize`` writes ``summary.md`` (IQM with its stratified bootstrap CI, mean ± SEM,
probability of improvement) and this script prints each algorithm's seconds, both libraries' means and their ratio::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/adversarial_sweep.py --env Pendulum-v1 \\
        --steps 102400 --seeds 5 --dir /tmp/adv --out /tmp/adv_sweep_pendulum
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rewardlab._io import atomic_write, write_json

HERE = Path(__file__).resolve().parent
LIBRARIES = ("rewardlab", "imitation")


def command(library: str, algo: str, env: str, steps: int, seed: int, directory: Path, transfer: bool) -> list[str]:
    """The trial's command line (rewardlab's with ``--transfer`` for AIRL when asked)."""
    common = ["--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed), "--dir", str(directory)]
    if library == "rewardlab":
        extra = ["--transfer"] if transfer and algo == "airl" else []
        return [sys.executable, str(HERE / "adversarial.py"), "run", *common, *extra]
    return [str(HERE / ".venv-imitation" / "bin" / "python"), str(HERE / "imitation_adversarial.py"), *common]


def write_text(path: Path, text: str) -> None:
    """``text`` into ``path``, atomically."""
    atomic_write(path, lambda f: f.write(text.encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--algos", nargs="+", default=["gail", "airl"], choices=["gail", "airl"])
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--steps", type=int, required=True, help="generator env steps of every trial")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1")
    parser.add_argument("--transfer", action="store_true", help="rewardlab's AIRL also trains a fresh PPO on its g")
    parser.add_argument("--dir", type=Path, required=True, help="where `adversarial.py prepare` wrote the demonstrations")
    parser.add_argument("--out", type=Path, required=True, help="the sweep directory (rerun to finish a killed sweep)")
    parser.add_argument(
        "--shard", default="0/1", help="I/N: run only the (seed, algorithm) pairs whose index is I modulo N (N processes in parallel)"
    )
    args = parser.parse_args()

    shard, shards = (int(x) for x in args.shard.split("/"))
    trials = []
    for seed in range(args.seeds):
        for a, algo in enumerate(args.algos):
            order = args.libraries if (seed + a) % 2 == 0 else args.libraries[::-1]
            group = seed * len(args.algos) + a
            trials += [{"library": lib, "algo": algo, "seed": seed, "mine": group % shards == shard} for lib in order]
    for t in trials:
        t |= {"name": f"{t['library']}-{t['algo']}-s{t['seed']}", "method": f"{t['library']} {t['algo']}", "task": args.env}
        t["dir"] = f"trials/{t['name']}"
    args.out.mkdir(parents=True, exist_ok=True)
    listing = [{k: t[k] for k in ("name", "dir", "method", "task", "seed")} for t in trials]
    meta = {"metric": "normalised", "higher_is_better": True, "env": args.env, "steps": args.steps, "trials": listing}
    write_json(args.out / "trials.json", meta)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent / "src")}
    for t in trials:
        run_dir = args.out / t["dir"]
        if not t["mine"] or (run_dir / "result.json").is_file():
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = command(t["library"], t["algo"], args.env, args.steps, t["seed"], args.dir, args.transfer)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        write_text(run_dir / "log.txt", done.stdout + done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            write_json(run_dir / "error.json", {"error": (done.stderr or "no output").strip().splitlines()[-1]})
            print(f"{t['name']}: failed (see {run_dir / 'log.txt'})", flush=True)
            continue
        row = json.loads(lines[-1])
        keys = ("normalised", "return", "seconds", "env_steps", "transfer_normalised")
        # atomically: a sweep killed while writing leaves no half-written result.json for its resume to trust
        write_json(run_dir / "result.json", {"metrics": {k: row[k] for k in keys if k in row}, "row": row})
        print(json.dumps(row), flush=True)

    from rewardlab.experiments.summarize import load_trials, summarize

    summarize(args.out, "normalised", higher_is_better=True)
    print((args.out / "summary.md").read_text())
    _, done_trials = load_trials(args.out)
    for algo in args.algos:
        secs = {
            lib: [t["result"]["metrics"]["seconds"] for t in done_trials if t["result"] and t["method"] == f"{lib} {algo}"]
            for lib in args.libraries
        }
        means = {lib: float(np.mean(s)) if s else float("nan") for lib, s in secs.items()}
        ratio = means.get("imitation", float("nan")) / means.get("rewardlab", float("nan"))
        print(f"{algo}: mean seconds {means} -> imitation / rewardlab = {ratio:.2f}x")


if __name__ == "__main__":
    main()
