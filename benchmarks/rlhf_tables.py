"""RL from preferences against PPO on the true reward, against imitation 1.0.1, and across B-Pref's teachers (issue 19).

Parts, each resumable (finished pieces are kept):

* ``sweep``: ``rewardlab sweep SWEEP.toml`` into ``OUT/sweep`` (``--sweep``, default
  ``benchmarks/rlhf_pendulum.toml``: 5 seeds x {learned reward, control on the true reward}); see the sweep files
  for the loop's settings (``rlhf_halfcheetah.toml``: reproduction 3; ``rlhf_bpref.toml``: reproduction 4).
* ``imitation``: imitation's preference comparisons on the same labels and steps, one seed a process, in its
  own venv (``benchmarks/imitation_prefs.py``; evaluation on the same 20 episodes, seeds 1,000,000 + e),
  into ``OUT/imitation/seed<N>.json``.
* ``table``: a uniformly random policy on the same evaluation episodes (``R_random``), then per seed the
  normalised score ``(R - R_random) / (R_PPO - R_random)`` with ``R_PPO`` the control's return at the same env
  steps, for our loop and for imitation, the wall-clock of the two loops, ``OUT/table.md``, ``OUT/table.json``
  and ``OUT/curves.png`` (true return of training episodes against env steps; label accuracy against labels).
* ``robustness``: the B-Pref teacher x query strategy table of a ``rlhf_bpref.toml`` sweep, normalised by the
  mean control return of a ``table`` directory (``--controls``), as ``OUT/robustness.md`` / ``.json``.

Run (both loops on one core each, side by side, so that their wall-clocks are measured alike)::

    OMP_NUM_THREADS=1 python benchmarks/rlhf_tables.py sweep benchmarks/rlhf/pendulum &
    OMP_NUM_THREADS=1 python benchmarks/rlhf_tables.py imitation benchmarks/rlhf/pendulum
    wait; python benchmarks/rlhf_tables.py table benchmarks/rlhf/pendulum

    OMP_NUM_THREADS=1 python benchmarks/rlhf_tables.py sweep benchmarks/rlhf/halfcheetah --sweep benchmarks/rlhf_halfcheetah.toml --workers 2
    python benchmarks/rlhf_tables.py table benchmarks/rlhf/halfcheetah --env HalfCheetah-v5 --episodes 10

    OMP_NUM_THREADS=1 python benchmarks/rlhf_tables.py sweep benchmarks/rlhf/bpref --sweep benchmarks/rlhf_bpref.toml --workers 2
    python benchmarks/rlhf_tables.py robustness benchmarks/rlhf/bpref --controls benchmarks/rlhf/pendulum
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3, 4)
LABELS, STEPS, EPISODES, EVAL_SEED = 500, 100_000, 20, 1_000_000
IMITATION_PYTHON = ROOT / "benchmarks" / ".venv-imitation" / "bin" / "python"


def sweep(out: Path, workers: int, sweep_file: Path) -> None:
    cmd = [sys.executable, "-m", "rewardlab", "sweep", str(sweep_file), "--out", str(out / "sweep")]
    cmd += ["--workers", str(workers)] + (["--resume"] if (out / "sweep").exists() else [])
    subprocess.run(cmd, check=True)


def imitation(out: Path, seeds: tuple[int, ...]) -> None:
    if not IMITATION_PYTHON.is_file():
        sys.exit(f"no imitation venv at {IMITATION_PYTHON}: see the docstring of benchmarks/imitation_prefs.py")
    for seed in seeds:
        target = out / "imitation" / f"seed{seed}.json"
        if target.is_file():
            continue
        cmd = [str(IMITATION_PYTHON), str(ROOT / "benchmarks" / "imitation_prefs.py"), "--seed", str(seed), "--labels", str(LABELS)]
        cmd += ["--steps", str(STEPS), "--eval-episodes", str(EPISODES), "--eval-seed", str(EVAL_SEED), "--out", str(target)]
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def random_return(out: Path, env: str, episodes: int) -> float:
    """Mean true return of a uniformly random policy on the evaluation episodes (cached in ``OUT/random.json``)."""
    path = out / "random.json"
    if not path.is_file():
        import gymnasium as gym

        from rewardlab.data.gym_rollouts import collect_rollouts

        space = gym.make(env).action_space
        rng = np.random.default_rng(0)
        ds = collect_rollouts(
            env, lambda o: rng.uniform(space.low, space.high, (len(o), *space.shape)).astype(np.float32), episodes, seed=EVAL_SEED
        )
        returns = ds.returns()
        path.write_text(
            json.dumps({"env": env, "mean": float(returns.mean()), "std": float(returns.std()), "episodes": episodes, "seed": EVAL_SEED})
        )
    return float(json.loads(path.read_text())["mean"])


def _results(sweep_dir: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(overrides, result) of each finished trial."""
    from rewardlab.experiments.summarize import load_trials

    return [(trial["overrides"], trial["result"]) for trial in load_trials(sweep_dir)[1] if trial["result"] is not None]


def _trials(sweep_dir: Path) -> dict[tuple[int, str], dict[str, Any]]:
    return {(int(o.get("seed", 0)), o.get("learner.policy_reward", "learned")): r for o, r in _results(sweep_dir)}


def table(out: Path, env: str = "Pendulum-v1", episodes: int = EPISODES) -> dict[str, Any]:
    r_random = random_return(out, env, episodes)
    trials = _trials(out / "sweep")
    rows = []
    for seed in sorted({seed for seed, _ in trials}):
        ours, control = trials.get((seed, "learned")), trials.get((seed, "true"))
        peer_path = out / "imitation" / f"seed{seed}.json"
        peer = json.loads(peer_path.read_text()) if peer_path.is_file() else None
        if ours is None or control is None:
            continue
        r_ppo = control["metrics"]["eval_return_mean"]

        def norm(r: float, r_ppo: float = r_ppo) -> float:
            return (r - r_random) / (r_ppo - r_random)

        row = {
            "seed": seed,
            "ppo_true": r_ppo,
            "ours": ours["metrics"]["eval_return_mean"],
            "ours_std": ours["metrics"]["eval_return_std"],
            "ours_normalised": norm(ours["metrics"]["eval_return_mean"]),
            "ours_seconds": ours["metrics"]["seconds"],
            "ours_labels": ours["metrics"]["labels"],
            "ours_env_steps": ours["metrics"]["env_steps"],
            "ours_label_accuracy": ours["metrics"].get("label_accuracy"),
        }
        if peer is not None:
            row |= {
                "imitation": peer["eval_return_mean"],
                "imitation_std": peer["eval_return_std"],
                "imitation_normalised": norm(peer["eval_return_mean"]),
                "imitation_seconds": peer["train_seconds"],
                "imitation_labels": peer["labels_used"],
                "imitation_env_steps": peer["env_steps"],
                "speedup": peer["train_seconds"] / ours["metrics"]["seconds"],
            }
        rows.append(row)
    summary: dict[str, Any] = {"random_return": r_random, "rows": rows}
    if rows:
        summary["ours_seeds_at_0.9"] = sum(r["ours_normalised"] >= 0.9 for r in rows)
        summary["ours_normalised_mean"] = float(np.mean([r["ours_normalised"] for r in rows]))
        paired = [r for r in rows if "imitation" in r]
        if paired:
            summary["imitation_normalised_mean"] = float(np.mean([r["imitation_normalised"] for r in paired]))
            summary["imitation_seeds_at_0.9"] = sum(r["imitation_normalised"] >= 0.9 for r in paired)
            summary["ours_better_seeds"] = sum(r["ours"] > r["imitation"] for r in paired)
            summary["speedup_of_total_seconds"] = sum(r["imitation_seconds"] for r in paired) / sum(r["ours_seconds"] for r in paired)
    summary["env"] = env
    (out / "table.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "table.md").write_text(_markdown(summary))
    _curves(out, trials, env)
    print(_markdown(summary))
    return summary


def _markdown(s: dict[str, Any]) -> str:
    lines = [
        f"R_random = {s['random_return']:.1f} (uniformly random actions on the same evaluation episodes)",
        "",
        "| seed | PPO true reward | ours (RLHF) | normalised | seconds | imitation 1.0.1 | normalised | seconds | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["rows"]:
        peer = (
            f"{r['imitation']:.1f} ± {r['imitation_std']:.1f} | {r['imitation_normalised']:.2f} | {r['imitation_seconds']:.0f} | {r['speedup']:.2f}x"
            if "imitation" in r
            else "– | – | – | –"
        )
        lines.append(
            f"| {r['seed']} | {r['ppo_true']:.1f} | {r['ours']:.1f} ± {r['ours_std']:.1f} | {r['ours_normalised']:.2f} | {r['ours_seconds']:.0f} | {peer} |"
        )
    if s["rows"]:
        lines += [
            "",
            f"ours: normalised mean {s['ours_normalised_mean']:.2f}, >= 0.9 in {s['ours_seeds_at_0.9']} of {len(s['rows'])} seeds",
        ]
    if "imitation_normalised_mean" in s:
        lines.append(
            f"imitation: normalised mean {s['imitation_normalised_mean']:.2f}, >= 0.9 in {s['imitation_seeds_at_0.9']} seeds; "
            f"ours better in {s['ours_better_seeds']} seeds; imitation's total wall-clock / ours = {s['speedup_of_total_seconds']:.2f}x"
        )
    return "\n".join(lines) + "\n"


def _binned_accuracy(rows: list[dict[str, Any]], width: int) -> list[tuple[float, float]]:
    """(labels asked, accuracy) over consecutive bins of about ``width`` new labels: each round's accuracy on its
    new pairs, weighted by their number (a round of 2 labels says little on its own)."""
    out, acc, n = [], 0.0, 0.0
    for r in rows:
        a, k = r.get("label_accuracy"), r.get("new_labels")
        if a is None or k is None or not (np.isfinite(a) and np.isfinite(k) and k > 0):
            continue
        acc, n = acc + a * k, n + k
        if n >= width:
            out.append((float(r["labels"]), acc / n))
            acc, n = 0.0, 0.0
    return out


def _curves(out: Path, trials: dict[tuple[int, str], dict[str, Any]], env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for (seed, kind), result in sorted(trials.items()):
        rows = result.get("curve", [])
        x = [r["env_steps"] for r in rows if r.get("true_return") is not None]
        y = [r["true_return"] for r in rows if r.get("true_return") is not None]
        ax1.plot(
            x,
            y,
            color="C0" if kind == "learned" else "C1",
            alpha=0.7,
            label=("RLHF (ours)" if kind == "learned" else "PPO, true reward") if seed == 0 else None,
        )
        if kind == "learned":
            binned = _binned_accuracy(rows, int(result["metrics"]["labels"]) // 10 or 1)
            if binned:
                ax2.plot(*zip(*binned, strict=True), color="C0", alpha=0.7, marker=".", label="ours" if seed == 0 else None)
    for seed in SEEDS:
        path = out / "imitation" / f"seed{seed}.json"
        if path.is_file():
            curve = json.loads(path.read_text())["curve"]
            pts = [
                (r["agent_steps"], r["train_true_return"]) for r in curve if r.get("train_true_return") is not None and "agent_steps" in r
            ]
            if pts:
                ax1.plot(*zip(*pts, strict=True), color="C2", alpha=0.7, label="imitation 1.0.1" if seed == 0 else None)
    labels = int(next(iter(trials.values()))["metrics"]["labels"]) if trials else 0
    ax1.set(xlabel="env steps", ylabel="true return of training episodes", title=f"{env}, {labels} oracle labels")
    ax2.set(xlabel="labels asked", ylabel="accuracy on new pairs before training on them", ylim=(0, 1.05))
    ax2.set_title("per bin of a tenth of the labels", fontsize=9)
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)


def robustness(out: Path, controls: Path) -> dict[str, Any]:
    """Teacher x query table: mean normalised score (± SE over seeds), mean label accuracy, labels skipped."""
    table_json = json.loads((controls / "table.json").read_text())
    r_random = table_json["random_return"]
    r_ppo = float(np.mean([r["ppo_true"] for r in table_json["rows"]]))
    cells: dict[tuple[str, str], list[dict[str, float]]] = {}
    for overrides, result in _results(out / "sweep"):
        key = (overrides.get("learner.teacher", "oracle"), overrides.get("learner.query", "disagreement"))
        m = result["metrics"]
        cells.setdefault(key, []).append(
            {
                "seed": int(overrides.get("seed", 0)),
                "normalised": (m["eval_return_mean"] - r_random) / (r_ppo - r_random),
                "return": m["eval_return_mean"],
                "label_accuracy": m.get("label_accuracy_mean", float("nan")),
                "skipped": float(result.get("skipped", 0)),
            }
        )
    rows = []
    order = ("oracle", "mistake", "noisy", "skip", "myopic", "equal")  # B-Pref's
    for (teacher, query), runs in sorted(cells.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1])):
        scores = np.array([r["normalised"] for r in runs])
        rows.append(
            {
                "teacher": teacher,
                "query": query,
                "seeds": len(runs),
                "normalised_mean": float(scores.mean()),
                "normalised_se": float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else float("nan"),
                "return_mean": float(np.mean([r["return"] for r in runs])),
                "label_accuracy": float(np.nanmean([r["label_accuracy"] for r in runs])),
                "skipped": float(np.mean([r["skipped"] for r in runs])),
                "runs": runs,
            }
        )
    summary = {"random_return": r_random, "ppo_true_mean": r_ppo, "rows": rows}
    lines = [
        f"normalised by R_random = {r_random:.1f} and R_PPO = {r_ppo:.1f} (mean of the controls in {controls})",
        "",
        "| teacher | query | seeds | normalised score | return | label accuracy | labels skipped |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['teacher']} | {r['query']} | {r['seeds']} | {r['normalised_mean']:.2f} ± {r['normalised_se']:.2f} | "
            f"{r['return_mean']:.1f} | {r['label_accuracy']:.2f} | {r['skipped']:.0f} |"
        )
    (out / "robustness.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "robustness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=["sweep", "imitation", "table", "robustness"])
    p.add_argument("out", type=Path)
    p.add_argument("--sweep", type=Path, default=ROOT / "benchmarks" / "rlhf_pendulum.toml", help="the sweep file (part sweep)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS), help="imitation's seeds")
    p.add_argument("--env", default="Pendulum-v1", help="the env of the table's random baseline")
    p.add_argument("--episodes", type=int, default=EPISODES, help="the evaluation episodes of the runs")
    p.add_argument("--controls", type=Path, default=None, help="a table directory whose controls normalise the robustness table")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part == "sweep":
        sweep(args.out, args.workers, args.sweep)
    elif args.part == "imitation":
        imitation(args.out, tuple(args.seeds))
    elif args.part == "table":
        table(args.out, args.env, args.episodes)
    else:
        robustness(args.out, args.controls or ROOT / "benchmarks" / "rlhf" / "pendulum")


if __name__ == "__main__":
    main()
