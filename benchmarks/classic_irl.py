"""The lecture's gridworld comparison from the sweep ``benchmarks/classic_irl.toml``: the policy loss of behavioural
cloning and of the IRL learners against the number of demonstrations (the sweep file states the setting). Run::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/classic_irl.toml --out benchmarks/classic_irl/sweep --workers 2
    python benchmarks/classic_irl.py benchmarks/classic_irl/sweep [--out benchmarks/classic_irl]

Writes ``classic_irl.json`` (one row per finished trial: learner, seed, demos, fit_seconds, policy_loss) and
``classic_irl.png`` into ``--out`` and prints the markdown table: mean ± standard error over the seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rewardlab.eval.stats import mean_and_sem
from rewardlab.experiments.summarize import load_trials


def read_rows(sweep: Path) -> list[dict]:
    """One row per finished trial of the sweep directory."""
    rows = []
    for trial in load_trials(sweep)[1]:
        result = trial["result"]
        if result is not None:
            rows.append(
                {
                    "learner": trial["method"],
                    "seed": trial["seed"],
                    "demos": trial["overrides"]["data.demos"],
                    "fit_seconds": result["fit_seconds"],
                    "policy_loss": result["metrics"]["policy_loss"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep directory of benchmarks/classic_irl.toml")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/classic_irl"))
    args = parser.parse_args()
    rows = read_rows(args.sweep)
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    demos = sorted({r["demos"] for r in rows})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "classic_irl.json").write_text(json.dumps(rows, indent=1))
    status = json.loads((args.sweep / "status.json").read_text())
    print(f"{len(rows)} of {status['total']} trials finished; sweep wall time {status['wall_seconds']:.0f} s\n")
    print(
        f"| policy loss ({len({r['seed'] for r in rows})} seeds, mean ± s.e.) | "
        + " | ".join(f"N = {n}" for n in demos)
        + " | median fit s |"
    )
    print("|---|" + "---|" * (len(demos) + 1))
    summary: dict[tuple[str, int], tuple[float, float]] = {}
    for learner in learners:
        cells = []
        for n in demos:
            values = [r["policy_loss"] for r in rows if (r["learner"], r["demos"]) == (learner, n)]
            summary[(learner, n)] = mean_and_sem(values)
            cells.append("{:.2f} ± {:.2f}".format(*summary[(learner, n)]))
        seconds = sorted(r["fit_seconds"] for r in rows if r["learner"] == learner)
        print(f"| {learner} | {' | '.join(cells)} | {seconds[len(seconds) // 2]:.2f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for learner in learners:
        means, sems = zip(*(summary[(learner, n)] for n in demos), strict=True)
        ax.errorbar(demos, [max(m, 1e-3) for m in means], yerr=sems, fmt="-o", ms=3, capsize=2, label=learner)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("demonstrations N")
    ax.set_ylabel("policy loss (log; 0 drawn at 1e-3)")
    ax.set_title("navigation gridworld, slip 0.2")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out / "classic_irl.png", dpi=100)


if __name__ == "__main__":
    main()
