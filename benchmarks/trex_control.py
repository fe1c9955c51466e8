"""T-REX and D-REX on continuous control against a constant-reward control: tables, extrapolation plots and
learning curves of the sweeps that run them.

The runs are sweep files (each trial one ``rewardlab run``: demonstrations, reward learning, PPO on the
learned reward or, with ``"policy.reward" = "constant"``, the control, the reward-hacking check):

* ``benchmarks/trex_control.toml``: Pendulum-v1 T-REX, the third protocol of benchmarks/RESULTS.md
  (demonstrations held below a return ceiling, a linear reward, the task's mirror images), 12 seeds;
* ``benchmarks/trex_halfcheetah.toml``: HalfCheetah-v5 T-REX, 2 seeds;
* ``benchmarks/drex_halfcheetah.toml``: HalfCheetah-v5 D-REX from the D-REX paper's demonstration, PPO
  warm-started from D-REX's clone, 4 seeds.

What a sweep does not do stays here: ``table`` puts each seed's learned-reward trial and its control side
by side in RESULTS.md's columns (``rewardlab summarize`` lists them as two tasks); ``plot`` draws a trial's
extrapolation plot (predicted against true return of its demonstrations and of its policy's evaluation
rollouts, from the trial's ``reward/``, demonstrations and ``policy/rollouts``); ``curve`` evaluates the
true return of the policy checkpoints a trial saved (``[policy] checkpoint_every``), the old ``--curve``.

Run::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/trex_control.toml --out benchmarks/trex/pendulum --workers 2
    rewardlab summarize benchmarks/trex/pendulum
    python benchmarks/trex_control.py table benchmarks/trex/pendulum
    python benchmarks/trex_control.py plot benchmarks/trex/pendulum --seed 0
    python benchmarks/trex_control.py curve benchmarks/trex/drex_halfcheetah --episodes 5

The variants RESULTS.md reports from the earlier script (the first and second Pendulum protocols, Pendulum
D-REX, ``--risk``, ``--clip``, ``--ctrl-cost-on raw``) are reproducible with that script:
``git show 026a55c:benchmarks/trex_control.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def trials(sweep: Path) -> list[dict[str, Any]]:
    """The sweep's trials with their ``result`` (None when unfinished) and their ``path``."""
    out = []
    for trial in json.loads((sweep / "trials.json").read_text())["trials"]:
        path = sweep / trial["dir"]
        result = json.loads((path / "result.json").read_text()) if (path / "result.json").is_file() else None
        out.append({**trial, "path": path, "result": result, "reward": trial["overrides"].get("policy.reward", "learned")})
    return out


def _kept(result: dict[str, Any]) -> tuple[str, str]:
    """Checkpoints kept and the best checkpoint's mean true return, from a collection (else dashes)."""
    collection = result.get("collection")
    if collection is None:
        return "–", "–"
    ranks, returns = np.array(collection["ranks"]), np.array(collection["true_returns"])
    means = [returns[ranks == r].mean() for r in np.unique(ranks)]
    return str(len(means)), f"{max(means):.1f}"


def _number(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(sweep: Path) -> str:
    """One row per method and seed: the learned-reward trial and its seed's control, in RESULTS.md's columns."""
    rows = [t for t in trials(sweep) if t["result"] is not None]
    control = {(t["method"], t["seed"]): t["result"]["metrics"] for t in rows if t["reward"] == "constant"}
    head = ["method", "seed", "checkpoints kept", "best demo", "best checkpoint (mean)", "policy", "BC", "control"]
    head += ["distance (policy / control)", "Kendall tau", "B-REX flag"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    wins = []
    for t in rows:
        if t["reward"] != "learned":
            continue
        r, m = t["result"], t["result"]["metrics"]
        c = control.get((t["method"], t["seed"]), {})
        flag = r["hacking_check"]["flagged"] if "hacking_check" in r else "–"
        distance = f"{_number(m.get('distance_mean'))} / {_number(c.get('distance_mean'))}" if "distance_mean" in m else "–"
        kept, best_checkpoint = _kept(r)
        cells = [t["method"], t["seed"], kept, _number(m.get("best_demo_return")), best_checkpoint]
        cells += [
            f"{m['true_return_mean']:.1f} ± {m['true_return_std']:.1f}",
            _number(m.get("bc_return_mean")),
            _number(c.get("true_return_mean")),
        ]
        cells += [distance, _number(m.get("kendall_tau"), 2), "undetermined" if flag is None else flag]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
        if m.get("beats_best_demo") is not None:
            wins.append(bool(m["beats_best_demo"]))
    lines.append(f"\nthe policy beats the best demonstration in {sum(wins)} of {len(wins)} seeds")
    return "\n".join(lines)


def _trial(sweep: Path, seed: int, method: str | None) -> dict[str, Any]:
    """The finished learned-reward trial of ``seed`` (and ``method``, when the sweep has several)."""
    found = [t for t in trials(sweep) if t["seed"] == seed and t["reward"] == "learned" and t["result"] is not None]
    found = [t for t in found if method is None or t["method"] == method]
    if len(found) != 1:
        raise SystemExit(f"{len(found)} finished learned-reward trials of seed {seed} in {sweep}: give --method")
    return found[0]


def plot(sweep: Path, seed: int, method: str | None) -> Path:
    """The extrapolation plot of one trial: predicted (learned reward) against true return of the
    demonstrations and of the policy's evaluation rollouts (T-REX paper, Figure 3); written beside the sweep."""
    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.data.io import load_dataset
    from rewardlab.eval import extrapolation_plot, kendall_tau
    from rewardlab.experiments.prefs import read_demos
    from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
    from rewardlab.rewards import load_reward

    trial = _trial(sweep, seed, method)
    result, env_id = trial["result"], trial["result"]["env"]
    reward = load_reward(trial["path"] / "reward")
    demos = read_demos(str(trial["path"] / result["demos"]), env_id)  # collected ones are relative to the trial
    rollouts = load_dataset(trial["path"] / "policy" / "rollouts", env=env_id)
    encoder = TrajectoryEncoder.for_reward(env_spaces(env_id), reward)
    predicted = np.concatenate([predicted_returns(reward, d, encoder) for d in (demos, rollouts)])
    true = np.concatenate([demos.returns(), rollouts.returns()])
    demo = np.arange(len(true)) < len(demos)
    title = f"{env_id} {trial['method']}, seed {seed}: tau = {kendall_tau(predicted, true):.2f}"
    out = sweep / f"extrapolation_{trial['name']}.png"
    extrapolation_plot(predicted, true, demo=demo, title=title).savefig(out, dpi=110)
    return out


def curve(sweep: Path, episodes: int) -> str:
    """The true return (mean over ``episodes``, seeded 50,000 + seed) of every policy checkpoint each
    finished trial saved, one row per trial."""
    from stable_baselines3 import PPO, SAC

    from rewardlab.rl import evaluate

    steps_seen: set[int] = set()
    rows = []
    for t in trials(sweep):
        if t["result"] is None:
            continue
        algo = {"ppo": PPO, "sac": SAC}[t["result"]["policy"]["algo"]]
        saved = sorted(t["path"].glob("policy/checkpoint_*.zip"), key=lambda p: int(p.stem.split("_")[1]))
        returns = {
            int(p.stem.split("_")[1]): float(
                evaluate(algo.load(p, device="cpu"), t["result"]["env"], episodes=episodes, seed=50_000 + t["seed"]).returns().mean()
            )
            for p in saved
        }
        steps_seen |= set(returns)
        rows.append((t, returns))
    steps = sorted(steps_seen)
    lines = ["| trial | " + " | ".join(f"{s:,}" for s in steps) + " |", "|---" * (len(steps) + 1) + "|"]
    for t, returns in rows:
        lines.append(f"| {t['name']} | " + " | ".join(_number(returns.get(s), 0) for s in steps) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("table", help="seeds x (policy, control, ...) in RESULTS.md's columns").add_argument("sweep", type=Path)
    p = sub.add_parser("plot", help="a trial's extrapolation plot")
    p.add_argument("sweep", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default=None, help="the method's label, when the sweep has several")
    c = sub.add_parser("curve", help="the true return of each saved policy checkpoint")
    c.add_argument("sweep", type=Path)
    c.add_argument("--episodes", type=int, default=5)
    args = parser.parse_args()
    if args.command == "table":
        print(table(args.sweep))
    elif args.command == "plot":
        print(f"wrote {plot(args.sweep, args.seed, args.method)}")
    else:
        print(curve(args.sweep, args.episodes))


if __name__ == "__main__":
    main()
