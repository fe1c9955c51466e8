"""Milliseconds per MaxEnt IRL gradient (soft value iteration + expected visitation).

The gradient is :func:`rewardlab.mdp.maxent_objective` with a reused :class:`~rewardlab.mdp.Workspace`,
exactly as a training loop calls it. Worlds are deterministic grids with 5 actions (stay + 4 moves)
and horizon 100, the setting of ../shared/REFERENCES.md, at 32^2, 128^2, 512^2 and 1024^2 states,
float64 and float32, on the CPU with one thread and on CUDA when present.

The peer comparison runs HumanCompatibleAI/imitation's MCE IRL step (``imitation_mce.py`` beside this
file, in its own virtual environment) and rewardlab's gradient on the same MDP: 4 actions, horizon 20,
1,000 and 10,000 states. Create that environment once with::

    python3 -m venv benchmarks/.venv-imitation
    benchmarks/.venv-imitation/bin/pip install -c constraints.txt torch==2.13.0 imitation

Run (about 5 minutes on 2 cores)::

    OMP_NUM_THREADS=1 python benchmarks/tabular_speed.py [--sizes 32 128 512 1024] [--skip-imitation] [--devices cpu cuda]

On a GPU machine, the CUDA rows up to 2048^2 (``benchmarks/gpu_check.sh`` runs this)::

    python benchmarks/tabular_speed.py --devices cuda --sizes 32 128 512 1024 2048 --skip-imitation --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.mdp import TabularMDP, Workspace, maxent_objective
from rewardlab.mdp.worlds import grid_dynamics

HERE = Path(__file__).resolve().parent


def grid_mdp(n_states: int, *, n_actions: int, horizon: int, device: str, dtype: torch.dtype) -> TabularMDP:
    """Deterministic near-square grid with exactly ``n_states`` cells (the last row may be partial)."""
    side = math.isqrt(n_states - 1) + 1
    succ, _ = grid_dynamics(side, side)
    succ = succ[:n_states, :, 0]
    succ = np.where(succ < n_states, succ, np.arange(n_states)[:, None])  # off the partial last row: stay
    if n_actions == 4:
        succ = succ[:, 1:]
    return TabularMDP(
        torch.as_tensor(succ[:, :, None], device=device),
        torch.ones(n_states, n_actions, 1, dtype=dtype, device=device),
        torch.full((n_states,), 1.0 / n_states, dtype=dtype, device=device),
        horizon=horizon,
    )


def time_gradient(
    n_states: int, *, n_actions: int = 5, horizon: int = 100, device: str = "cpu", dtype: torch.dtype = torch.float64, repeats: int = 5
) -> float:
    """Best-of-``repeats`` seconds per gradient after one warm-up call."""
    mdp = grid_mdp(n_states, n_actions=n_actions, horizon=horizon, device=device, dtype=dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    reward = torch.randn(n_states, generator=gen, dtype=dtype).to(device)
    demo = torch.full((n_states,), horizon / n_states, dtype=dtype, device=device)
    ws = Workspace()
    best, spent, i = math.inf, 0.0, 0
    # The shared cores are noisy: take the best of at least `repeats` calls and at least 1 s of calls.
    while i <= repeats or spent < 1.0:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        obj = maxent_objective(mdp, reward, demo, workspace=ws)
        float(obj.value)  # forces completion on CUDA
        elapsed = time.perf_counter() - t0
        if i:
            best, spent = min(best, elapsed), spent + elapsed
        i += 1
    return best


def imitation_peer(states: list[int]) -> list[dict]:
    python = HERE / ".venv-imitation" / "bin" / "python"
    if not python.exists():
        print(f"(no {python}: skipping the imitation comparison; see this file's docstring)")
        return []
    proc = subprocess.run(
        [str(python), str(HERE / "imitation_mce.py"), "--states", *map(str, states)], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512, 1024], help="grid sides")
    parser.add_argument("--skip-imitation", action="store_true")
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], help="default: cpu, and cuda when present")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}" + (f", GPU {torch.cuda.get_device_name()}" if "cuda" in devices else "")
    )
    time_gradient(32 * 32, repeats=50)  # warm-up: the first second of a process measures slower here
    print("\n| states | device | float64 ms | float32 ms |\n|---|---|---|---|")
    for side in args.sizes:
        for device in devices:
            repeats = 20 if side <= 32 else 10 if side <= 128 else 5 if side <= 512 else 2
            t64 = time_gradient(side * side, device=device, dtype=torch.float64, repeats=repeats)
            t32 = time_gradient(side * side, device=device, dtype=torch.float32, repeats=repeats)
            rows.append({"states": side * side, "side": side, "device": device, "float64_ms": t64 * 1e3, "float32_ms": t32 * 1e3})
            print(f"| {side}^2 = {side * side:,} | {device} | {t64 * 1e3:.1f} | {t32 * 1e3:.1f} |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"\npeak RSS of this process: {peak:.2f} GB")
    peer_rows = []
    if not args.skip_imitation:
        peers = imitation_peer([1000, 10000])
        if peers:
            print("\n| states (A=4, H=20) | imitation s/step | rewardlab ms/step | ratio |\n|---|---|---|---|")
        for peer in peers:
            ours = time_gradient(peer["states"], n_actions=4, horizon=20, repeats=10)
            ratio = peer["seconds_per_step"] / ours
            peer_rows.append({**peer, "rewardlab_seconds": ours, "ratio": ratio})
            print(
                f"| {peer['states']:,} | {peer['seconds_per_step']:.3f} ({peer['peak_rss_gb']:.2f} GB) | {ours * 1e3:.2f} | {ratio:,.0f}x |"
            )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "peer": peer_rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
