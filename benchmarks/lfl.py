"""Learning from a learner (Jacq et al. 2019) from the sweep ``benchmarks/lfl.toml`` (the file states the setting)::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/lfl.toml --out benchmarks/lfl/sweep --workers 2
    python benchmarks/lfl.py benchmarks/lfl/sweep [--out benchmarks/lfl]

Writes ``lfl.json`` (one row per finished trial) and ``lfl.png`` into ``--out`` and prints the markdown table: for
each number of observed stages and trajectories per stage, the mean ± standard error over the seeds of the
recovered reward's policy loss and shaping-blind distance to the true reward, beside the loss of the observed
learner's own last policy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rewardlab.eval.stats import mean_and_sem
from rewardlab.experiments.summarize import load_trials

METRICS = ("policy_loss", "reward_distance", "observed_policy_loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep directory of benchmarks/lfl.toml")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/lfl"))
    args = parser.parse_args()
    rows = [
        {"seed": t["seed"], "stages": t["overrides"]["data.stages"], "trajectories": t["overrides"]["data.trajectories"]}
        | {m: t["result"]["metrics"][m] for m in METRICS}
        for t in load_trials(args.sweep)[1]
        if t["result"] is not None
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lfl.json").write_text(json.dumps(rows, indent=1))
    stages, counts = sorted({r["stages"] for r in rows}), sorted({r["trajectories"] for r in rows})
    cell = {
        (s, n, m): mean_and_sem([r[m] for r in rows if (r["stages"], r["trajectories"]) == (s, n)])
        for s in stages
        for n in counts
        for m in METRICS
    }
    seeds = len({r["seed"] for r in rows})
    print(f"| stages | trajectories per stage | policy loss ({seeds} seeds) | reward distance | the learner's own policy loss |")
    print("|---|---|---|---|---|")
    for s in stages:
        for n in counts:
            shown = ["{:.3f} ± {:.3f}".format(*cell[(s, n, m)]) for m in METRICS]
            print(f"| {s} | {n if n else 'exact policies'} | {' | '.join(shown)} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sampled = [n for n in counts if n]
    for s, colour in zip(stages, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False):
        means, sems = zip(*(cell[(s, n, "policy_loss")] for n in sampled), strict=True)
        ax.errorbar(sampled, means, yerr=sems, fmt="-o", ms=3, capsize=2, color=colour, label=f"LfL, {s} stages")
        ax.axhline(cell[(s, counts[0], "observed_policy_loss")][0], ls="--", color=colour, alpha=0.6, label=f"the learner after {s} stages")
    ax.set_xscale("log")
    ax.set_xlabel("trajectories observed per stage")
    ax.set_ylabel("policy loss")
    ax.set_title("learning from a learner, 6x6 feature grids")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "lfl.png", dpi=100)


if __name__ == "__main__":
    main()
