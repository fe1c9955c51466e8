"""The Wulfmeier et al. (2015) table (figs. 5-6) from the sweep ``benchmarks/objectworld.toml``: EVD against
the number of demonstrations for linear MaxEnt and Deep MaxEnt on objectworld (continuous and discrete
features) and binaryworld, on the training world and on a transfer world, beside the paper's numbers.

The sweep file states the setting. Run::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/objectworld.toml --out benchmarks/objectworld/sweep --workers 2
    python benchmarks/objectworld.py benchmarks/objectworld/sweep [--out benchmarks/objectworld]

Writes ``objectworld.json`` (one row per finished trial: world, seed, demos, learner, fit_seconds,
evd_train, evd_transfer) and ``objectworld.png`` into ``--out`` and prints the markdown table: mean ±
standard error over the seeds (``rewardlab.eval.stats.mean_and_sem``, ddof 1; tables before the sweep
used ddof 0, 0.89x these for 5 seeds). ``rewardlab summarize`` of the sweep gives IQMs, bootstrap
intervals and the probability of improvement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rewardlab.eval.stats import mean_and_sem
from rewardlab.experiments.summarize import load_trials

# Read off Wulfmeier et al. 2015, figs. 5-6 (training worlds): MaxEnt / DeepMaxEnt.
PAPER = {
    "objectworld-continuous": {4: (24.8, 18.5), 8: (21.6, 3.8), 16: (18.8, 1.9), 32: (14.3, 0.0), 64: (14.7, 0.2)},
    "objectworld-discrete": {4: (18.0, 19.3), 8: (16.2, 8.4), 16: (15.7, 2.8), 32: (15.9, 1.8), 64: (14.4, 0.4), 128: (14.9, 0.1)},
    "binaryworld": {4: (42.7, 12.4), 8: (37.5, 3.1), 16: (37.9, 2.6), 32: (38.1, 0.4), 64: (37.1, 0.1), 128: (38.0, 0.0)},
}
LEARNERS = {"MaxEnt": "maxent", "Deep MaxEnt": "deep-maxent"}  # the sweep's labels -> the table's names


def world_name(world: dict) -> str:
    """The table's name of a trial's ``[world]``."""
    if world["name"] == "objectworld":
        return "objectworld-discrete" if world.get("discrete") else "objectworld-continuous"
    return str(world["name"])


def read_rows(sweep: Path) -> list[dict]:
    """One row per finished trial of the sweep directory."""
    rows = []
    for trial in load_trials(sweep)[1]:
        result = trial["result"]
        if result is None:
            continue
        rows.append(
            {
                "world": world_name(trial["overrides"]["world"]),
                "seed": trial["seed"],
                "demos": trial["overrides"]["data.demos"],
                "learner": LEARNERS[trial["method"]],
                "fit_seconds": result["fit_seconds"],
                "evd_train": result["metrics"]["evd"],
                "evd_transfer": result["metrics"]["evd_transfer"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep directory of benchmarks/objectworld.toml")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/objectworld"))
    args = parser.parse_args()
    rows = read_rows(args.sweep)
    worlds = [w for w in PAPER if any(r["world"] == w for r in rows)]
    demos = sorted({r["demos"] for r in rows})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "objectworld.json").write_text(json.dumps(rows, indent=1))
    status = json.loads((args.sweep / "status.json").read_text())
    print(f"{len(rows)} of {status['total']} trials finished; sweep wall time {status['wall_seconds']:.0f} s\n")
    print("| world | N | MaxEnt train | Deep MaxEnt train | MaxEnt transfer | Deep MaxEnt transfer | paper MaxEnt / Deep (train) |")
    print("|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str, int, str], tuple[float, float]] = {}
    for world in worlds:
        for n in demos:
            cells = []
            for split in ("train", "transfer"):
                for learner in LEARNERS.values():
                    values = [r[f"evd_{split}"] for r in rows if (r["world"], r["demos"], r["learner"]) == (world, n, learner)]
                    summary[(world, split, n, learner)] = mean_and_sem(values) if values else (float("nan"), float("nan"))
                    cells.append("{:.2f} ± {:.2f}".format(*summary[(world, split, n, learner)]))
            paper = PAPER[world].get(n)
            print(f"| {world} | {n} | {' | '.join(cells)} | {f'{paper[0]} / {paper[1]}' if paper else '–'} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(worlds), figsize=(5 * len(worlds), 4), squeeze=False)
    for ax, world in zip(axes[0], worlds, strict=True):
        for learner, colour in zip(LEARNERS.values(), ("tab:blue", "tab:red"), strict=True):
            for split, style in (("train", "-"), ("transfer", "--")):
                means, sems = zip(*(summary[(world, split, n, learner)] for n in demos), strict=True)
                ax.errorbar(demos, means, yerr=sems, fmt=style + "o", color=colour, ms=3, label=f"{learner} {split}")
            ns = sorted(PAPER[world])
            ax.plot(
                ns, [PAPER[world][n][0 if learner == "maxent" else 1] for n in ns], ":", color=colour, alpha=0.6, label=f"{learner} paper"
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("demonstrations N")
        ax.set_ylabel("EVD")
        ax.set_title(world)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "objectworld.png", dpi=100)


if __name__ == "__main__":
    main()
