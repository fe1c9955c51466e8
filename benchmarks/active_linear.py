"""Issue 19, reproduction 1, from the sweep ``benchmarks/active_linear.toml``: the cosine similarity between the
posterior-mean weights and the true weights against the number of queries, per query strategy (mean ± standard
error over the seeds), and the queries each needs to reach 0.9.

The sweep file states the setting. Run::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/active_linear.toml --out benchmarks/active_linear/sweep --workers 1
    rewardlab summarize benchmarks/active_linear/sweep        # IQM, bootstrap CIs, P(improvement) of queries_to_0.9
    python benchmarks/active_linear.py benchmarks/active_linear/sweep [--out benchmarks/active_linear]

Writes ``active_linear.json`` (per trial: teacher, strategy, seed, queries_to_0.9, reached, the cosine curve
and fit_seconds) and ``active_linear.png`` (one panel per teacher) into ``--out`` and prints the Markdown
table: per teacher and strategy, the seeds, the median and mean ± SEM of ``queries_to_0.9`` (a run that never
reaches 0.9 counts as budget + 1, so both are lower bounds when the "reached" column is below 100%), and the
mean cosine after 10, 20, 40 and 60 queries.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rewardlab.eval.stats import mean_and_sem
from rewardlab.experiments.summarize import load_trials

ORDER = ("information gain", "volume removal", "uniform")
COLOURS = {"information gain": "tab:blue", "volume removal": "tab:orange", "uniform": "tab:grey"}


def read_rows(sweep: Path) -> list[dict]:
    """One row per finished trial of the sweep directory."""
    rows = []
    for trial in load_trials(sweep)[1]:
        result = trial["result"]
        if result is None:
            continue
        rows.append(
            {
                "teacher": result["teacher"],
                "strategy": trial["method"],
                "seed": trial["seed"],
                "queries_to_0.9": result["metrics"]["queries_to_0.9"],
                "reached_0.9": result["metrics"]["reached_0.9"],
                "cosine": result["curve"]["cosine"],
                "fit_seconds": result["fit_seconds"],
            }
        )
    return rows


def table(rows: list[dict], at: tuple[int, ...] = (10, 20, 40, 60)) -> str:
    """The Markdown table of the rows."""
    lines = [
        "| teacher | strategy | seeds | median queries to 0.9 | mean ± SEM | reached | " + " | ".join(f"cosine @ {n}" for n in at) + " |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(at),
    ]
    for teacher in sorted({r["teacher"] for r in rows}):
        for strategy in ORDER:
            group = [r for r in rows if r["teacher"] == teacher and r["strategy"] == strategy]
            if not group:
                continue
            q = np.array([r["queries_to_0.9"] for r in group])
            mean, sem = mean_and_sem(q)
            curves = np.array([r["cosine"] for r in group])
            cells = [f"{curves[:, n - 1].mean():.3f}" if curves.shape[1] >= n else "–" for n in at]
            reached = np.mean([r["reached_0.9"] for r in group])
            lines.append(
                f"| {teacher} | {strategy} | {len(group)} | {np.median(q):g} | {mean:.1f} ± {sem:.1f} | {reached:.0%} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Mean cosine ± SEM against queries, one panel per teacher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teachers = sorted({r["teacher"] for r in rows})
    fig, axes = plt.subplots(1, len(teachers), figsize=(5.2 * len(teachers), 3.8), squeeze=False, sharey=True)
    for ax, teacher in zip(axes[0], teachers, strict=True):
        for strategy in ORDER:
            curves = np.array([r["cosine"] for r in rows if r["teacher"] == teacher and r["strategy"] == strategy])
            if not len(curves):
                continue
            n = np.arange(1, curves.shape[1] + 1)
            mean = curves.mean(0)
            sem = curves.std(0, ddof=1) / np.sqrt(len(curves))
            ax.plot(n, mean, color=COLOURS[strategy], label=f"{strategy} ({len(curves)} seeds)")
            ax.fill_between(n, mean - sem, mean + sem, color=COLOURS[strategy], alpha=0.25, lw=0)
        ax.axhline(0.9, color="black", lw=0.7, ls="--")
        ax.set_xlabel("queries")
        ax.set_title(f"teacher: {teacher}")
        ax.set_ylim(0, 1.0)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("cosine(posterior mean w, true w)")
    axes[0, -1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep directory of benchmarks/active_linear.toml")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "active_linear")
    args = parser.parse_args()
    rows = read_rows(args.sweep)
    args.out.mkdir(parents=True, exist_ok=True)
    compact = [{**r, "cosine": [round(c, 4) for c in r["cosine"]], "fit_seconds": round(r["fit_seconds"], 2)} for r in rows]
    (args.out / "active_linear.json").write_text(json.dumps(compact, indent=None) + "\n")
    plot(rows, args.out / "active_linear.png")
    print(table(rows))
    print(
        f"\n{len(rows)} trials, fit seconds: median {np.median([r['fit_seconds'] for r in rows]):.2f}, total {sum(r['fit_seconds'] for r in rows):.0f}"
    )


if __name__ == "__main__":
    main()
