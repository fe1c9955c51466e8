"""Bayesian IRL benchmarks: the B-REX gridworld row, demonstration sufficiency, active vs random
queries, and MCMC speed.

Experiments (settings from ../shared/REFERENCES.md; what the papers leave open is stated here):

* ``table SWEEP_DIR`` — Brown et al. 2020 (B-REX), gridworld table, B-IRL row from optimal
  demonstrations: the sweep ``benchmarks/bayesian_irl.toml`` (its comments state the setting: 100 random
  6x6 feature grids, beta 50, sphere prior, the paper's sampler and adaptive MH, 10-step and
  single-decision demonstrations, 2/5/10/20/30 of them) as the paper lays it out, with the paper's row.
* ``sufficiency`` — Trinh et al. 2024: random 5x5 grids (4 features, gamma 0.95), beta 10, 500
  posterior samples per round (thinned chains); one optimal demonstration per round until the
  (0.95, 0.05) bound on the MAP policy's nEVD is below 0.1. Reports how often the bound was at least
  the true nEVD (target >= 95%) and how many demonstrations it asked for.
* ``sufficiency-exact`` — the same worlds and first demonstration, with the posterior computed without
  MCMC: ``--prior-samples`` draws from the uniform prior on the sphere weighted by the likelihood
  (importance sampling; 4 weights on a 3-sphere need no chain). Reports how often the exact posterior's
  0.95 and 0.966 quantiles of the MAP policy's nEVD (the latter is where the (0.95, 0.05) order
  statistic of 500 samples sits) are at least the true nEVD: the coverage the bound would have with a
  perfect sampler, for ``--beta`` and ``--demonstrator``.
* ``active`` — Lopes et al. 2009: query one state per round (entropy, risk-aware VaR, or random);
  the demonstrator answers optimally; EVD of the MAP policy against the number of queries.
* ``speed`` — MH steps per second on 6x6, 32x32 and 128x128 feature grids, one chain and 64 chains,
  with the successor-feature policy solver and with warm-started value iteration; CUDA when present.

Run (each worker single-threaded)::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/bayesian_irl.toml --out benchmarks/bayesian/sweep --workers 2
    python benchmarks/bayesian_irl.py table benchmarks/bayesian/sweep
    OMP_NUM_THREADS=1 python benchmarks/bayesian_irl.py speed|sufficiency|sufficiency-exact|active [--workers 2]

Only the B-IRL row is a grid of independent ``rewardlab run`` runs, so only it is a sweep file. The others
stay here, on their own process pool of one job per world: ``sufficiency`` is a sequential loop per world
(a demonstration per round, the posterior sampled again, until the bound says sufficient), ``active``
a sequential loop of queries per world and strategy, ``sufficiency-exact`` an importance-sampled
posterior rather than a learner's fit, and ``speed`` timings in one process; none of them is a run that
``rewardlab run`` has a kind for. They write ``benchmarks/bayesian/<experiment>.json`` (and a plot for
``active``) and print markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from rewardlab.data import TrajectoryDataset
from rewardlab.eval import policy_loss
from rewardlab.eval.stats import proportion_ci
from rewardlab.irl.active import active_learning, make_teacher
from rewardlab.irl.bayesian import BayesianIRLConfig, boltzmann_log_likelihood, decision_counts, sample_posterior
from rewardlab.irl.experts import expert_demonstrations
from rewardlab.irl.posterior import RewardPosterior
from rewardlab.irl.sufficiency import normalized_evd, sufficiency_loop
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import feature_gridworld

OUT = Path(__file__).parent / "bayesian"
BREX_PAPER = (0.044, 0.033, 0.020, 0.009, 0.006)


def _init() -> None:
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------- B-REX gridworld, B-IRL row
def run_table(args: argparse.Namespace) -> None:
    from sweep_tables import curve_table

    paper = {"B-IRL paper sampler": dict(zip((2, 5, 10, 20, 30), BREX_PAPER, strict=True))}
    print(curve_table(args.sweep, "policy_loss", "data.demos", rows=("data.length",), paper=paper))


# ---------------------------------------------------------------------------- sufficiency
def sufficiency_world(job: tuple[int, int, int, int, str, bool, float]) -> list[dict]:
    seed, length, chains, samples, demonstrator, ess, beta = job
    w = feature_gridworld(5, seed=seed, discount=0.95)
    # 50 demonstrations: optimal, or exactly the likelihood's model (Boltzmann over Q* with beta)
    demos, _ = expert_demonstrations(w, 50, rng=np.random.default_rng(20_000 + seed), length=length, expert=demonstrator, beta=beta)
    source = iter(demos)
    # 500 kept samples in all (the paper's N), thinned from `chains` chains of `samples` steps each
    thin = max(1, chains * samples // 500)
    cfg = BayesianIRLConfig(prior="sphere", beta=beta, chains=chains, samples=samples, burn_in=500, thin=thin, step_size=0.1)
    return sufficiency_loop(
        w.mdp, lambda: next(source), cfg, rng=np.random.default_rng(seed), max_demos=50, true_reward=w.reward, ess_adjusted=ess
    )


def exact_sufficiency_world(job: tuple[int, int, int, float, str]) -> dict:
    """First round of :func:`sufficiency_world` with an importance-sampled exact posterior."""
    seed, length, n_prior, beta, demonstrator = job
    w = feature_gridworld(5, seed=seed, discount=0.95)
    demo = expert_demonstrations(w, 50, rng=np.random.default_rng(20_000 + seed), length=length, expert=demonstrator, beta=beta)[0][0]
    counts = decision_counts(TrajectoryDataset([demo]), w.mdp)
    theta = torch.randn(n_prior, w.mdp.n_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True)  # uniform on the sphere: the prior itself
    zero = torch.zeros(1, n_prior, dtype=torch.float64)
    prior = RewardPosterior(theta[None], zero, zero, torch.ones(1), torch.ones(1), w.mdp, "linear", beta)
    log_lik = boltzmann_log_likelihood(prior.q_values(), counts, beta)
    weights = torch.softmax(log_lik, 0)
    policy = value_iteration(w.mdp, w.mdp.features @ theta[int(log_lik.argmax())]).policy  # the MAP policy
    nevd = normalized_evd(prior, policy)
    order = torch.argsort(nevd)
    cdf = torch.cumsum(weights[order], 0)
    quantile = {
        str(a): float(nevd[order][min(len(cdf) - 1, int(torch.searchsorted(cdf, torch.tensor(a, dtype=cdf.dtype))))]) for a in (0.95, 0.966)
    }
    uniform = torch.full((w.mdp.n_states, w.mdp.n_actions), 1.0 / w.mdp.n_actions, dtype=w.mdp.dtype)
    worst = policy_loss(w.mdp, w.reward, uniform)
    true = policy_loss(w.mdp, w.reward, policy) / worst if worst > 0 else 0.0
    return {"seed": seed, "true_nevd": true, "quantile": quantile, "ess": float(1 / (weights**2).sum())}


def run_sufficiency_exact(args: argparse.Namespace) -> dict:
    seeds = range(args.first_world, args.first_world + args.worlds)
    jobs = [(seed, args.length, args.prior_samples, args.beta, args.demonstrator) for seed in seeds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        runs = list(pool.map(exact_sufficiency_world, jobs, chunksize=4))
    coverage = {}
    for level in ("0.95", "0.966"):
        p = float(np.mean([r["quantile"][level] >= r["true_nevd"] - 1e-12 for r in runs]))
        coverage[level] = (p, proportion_ci(round(p * len(runs)), len(runs)))
    ess = np.array([r["ess"] for r in runs])
    print(
        f"beta {args.beta}, {args.demonstrator} demonstrator, {len(runs)} worlds: exact-posterior coverage "
        + ", ".join(f"q{lv} {p:.1%} ({ci[0]:.1%}-{ci[1]:.1%})" for lv, (p, ci) in coverage.items())
        + f"; importance-sampling ESS min {ess.min():.0f}, median {np.median(ess):.0f}; {time.perf_counter() - t0:.0f} s"
    )
    return {
        "settings": {k: getattr(args, k) for k in ("first_world", "worlds", "length", "prior_samples", "beta", "demonstrator")},
        "runs": runs,
        "coverage": coverage,
        "seconds": time.perf_counter() - t0,
    }


def run_sufficiency(args: argparse.Namespace) -> dict:
    seeds = range(args.first_world, args.first_world + args.worlds)
    jobs = [(seed, args.length, args.chains, args.samples, args.demonstrator, args.ess, args.beta) for seed in seeds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        runs = list(pool.map(sufficiency_world, jobs))
    seconds = time.perf_counter() - t0
    rounds = [r for run in runs for r in run]
    holds_all = np.mean([r["bound"] >= r["true_nevd"] - 1e-12 for r in rounds])
    final = [run[-1] for run in runs]
    holds_final = np.mean([r["bound"] >= r["true_nevd"] - 1e-12 for r in final])
    stopped = np.mean([r["sufficient"] == 1 for r in final])  # NaN = undetermined (chains not mixed): not stopped
    undetermined = int(sum(np.isnan(r["sufficient"]) for r in rounds))
    asked = np.array([r["n_demos"] for r in final])
    true_final = np.array([r["true_nevd"] for r in final])
    ci_all = proportion_ci(round(holds_all * len(rounds)), len(rounds))
    ci_final = proportion_ci(round(holds_final * len(final)), len(final))
    print(
        f"worlds {args.worlds}; bound >= true nEVD in {holds_all:.1%} of all {len(rounds)} rounds (95% CI {ci_all[0]:.1%}-{ci_all[1]:.1%}), "
        f"{holds_final:.1%} at stopping ({ci_final[0]:.1%}-{ci_final[1]:.1%})"
    )
    print(
        f"said 'sufficient' in {stopped:.0%} of worlds after {asked.mean():.1f} demos on average (median {np.median(asked):.0f}, max {asked.max():.0f})"
    )
    print(f"true nEVD of the MAP policy when it stopped: mean {true_final.mean():.4f}, max {true_final.max():.4f}; {seconds:.0f} s")
    print(f"verdict undetermined (chains not mixed) in {undetermined} of {len(rounds)} rounds")
    return {
        "settings": {
            "first_world": args.first_world,
            "worlds": args.worlds,
            "chains": args.chains,
            "samples": args.samples,
            "length": args.length,
            "demonstrator": args.demonstrator,
            "ess_adjusted": args.ess,
            "beta": args.beta,
        },
        "runs": runs,
        "coverage_all_rounds": holds_all,
        "coverage_all_rounds_ci95": ci_all,
        "coverage_at_stop": holds_final,
        "coverage_at_stop_ci95": ci_final,
        "stopped": stopped,
        "undetermined_rounds": undetermined,
        "demos_mean": asked.mean(),
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------- active learning
def active_world(job: tuple[int, str, int]) -> list[float]:
    seed, strategy, queries = job
    w = feature_gridworld(6, seed=seed, discount=0.9)
    teacher = make_teacher(w.mdp, w.reward, rng=np.random.default_rng(30_000 + seed))
    cfg = BayesianIRLConfig(prior="sphere", beta=50.0, chains=2, samples=600, burn_in=300, thin=1, step_size=0.05)
    result = active_learning(
        w.mdp, teacher, cfg, rng=np.random.default_rng(seed), n_queries=queries, strategy=strategy, true_reward=w.reward
    )
    return result.evd


def run_active(args: argparse.Namespace) -> dict:
    strategies = ("entropy", "var", "random")
    jobs = [(seed, s, args.queries) for s in strategies for seed in range(args.worlds)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        curves = list(pool.map(active_world, jobs))
    seconds = time.perf_counter() - t0
    out: dict = {"queries": args.queries, "worlds": args.worlds, "seconds": seconds, "evd": {}}
    for i, s in enumerate(strategies):
        block = np.array(curves[i * args.worlds : (i + 1) * args.worlds])
        out["evd"][s] = {
            "mean": block.mean(0).tolist(),
            "sem": (block.std(0, ddof=1) / np.sqrt(len(block))).tolist(),
            "all": block.tolist(),
        }
    marks = [q for q in (0, 1, 2, 5, 10, 15, 20, 30) if q <= args.queries]
    print("| strategy | " + " | ".join(f"{q} queries" for q in marks) + " |\n|---|" + "---|" * len(marks))
    for s in strategies:
        m, e = out["evd"][s]["mean"], out["evd"][s]["sem"]
        print(f"| {s} | " + " | ".join(f"{m[q]:.3f} ± {e[q]:.3f}" for q in marks) + " |")
    print(f"{seconds:.0f} s")
    plot_active(out)
    return out


def plot_active(out: dict) -> None:
    """EVD against queries per strategy (mean ± s.e.), log scale, into ``active.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    floor = 1e-4  # EVD 0 drawn at the floor of the log axis
    for s, curve in out["evd"].items():
        m, e = np.array(curve["mean"]), np.array(curve["sem"])
        ax.plot(range(len(m)), np.maximum(m, floor), label=s)
        ax.fill_between(range(len(m)), np.maximum(m - e, floor), np.maximum(m + e, floor), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("state queries")
    ax.set_ylabel("EVD of the MAP policy (true reward)")
    ax.set_title(f"active vs random queries, {out['worlds']} random 6x6 worlds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "active.png", dpi=100)


# ---------------------------------------------------------------------------- speed
def _speed_once(size: int, chains: int, solver: str, device: str, steps: int) -> float:
    w = feature_gridworld(size, seed=0, discount=0.9)
    demos, _ = expert_demonstrations(w, 10, rng=np.random.default_rng(0), length=2 * size)
    counts = decision_counts(demos, w.mdp)
    cfg = BayesianIRLConfig(
        prior="sphere", beta=50.0, chains=chains, samples=steps, burn_in=0, thin=1, step_size=0.05, solver=solver, device=device
    )
    sample_posterior(w.mdp, counts, cfg.__class__(**{**cfg.__dict__, "samples": 20}), rng=np.random.default_rng(0))  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    sample_posterior(w.mdp, counts, cfg, rng=np.random.default_rng(1))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_speed(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    rows = []
    print("| world | chains | solver | device | steps | seconds | steps/s (per chain) | chain-steps/s |\n|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for chains in (1, 64):
            for solver in ("policy", "value_iteration"):
                if solver == "value_iteration" and size > 32:
                    continue  # minutes per point: warm-started VI at 16k states
                for device in devices:
                    steps = {6: 5000, 32: 1000, 128: 200}.get(size, 200) // (1 if chains == 1 else 5)
                    if solver == "value_iteration":
                        steps = max(steps // 10, 20)
                    seconds = _speed_once(size, chains, solver, device, steps)
                    row = {"size": size, "chains": chains, "solver": solver, "device": device, "steps": steps, "seconds": seconds}
                    rows.append(row)
                    print(
                        f"| {size}x{size} | {chains} | {solver} | {device} | {steps} | {seconds:.2f} | {steps / seconds:.0f} | {steps * chains / seconds:.0f} |",
                        flush=True,
                    )
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["table", "speed", "sufficiency", "sufficiency-exact", "active"])
    parser.add_argument("sweep", type=Path, nargs="?", help="table: the sweep directory of benchmarks/bayesian_irl.toml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worlds", type=int, default=None, help="random worlds (sufficiency 50, active 20)")
    parser.add_argument("--first-world", type=int, default=0, help="sufficiency: seed of the first world (to extend a run)")
    parser.add_argument("--length", type=int, default=None, help="steps per demonstration (sufficiency 5)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--chains", type=int, default=2, help="sufficiency: chains per posterior")
    parser.add_argument("--samples", type=int, default=2500, help="sufficiency: steps per chain after burn-in")
    parser.add_argument("--demonstrator", choices=["optimal", "boltzmann"], default="optimal", help="sufficiency: who demonstrates")
    parser.add_argument("--beta", type=float, default=10.0, help="sufficiency: the likelihood's (and a Boltzmann demonstrator's) beta")
    parser.add_argument("--prior-samples", type=int, default=50_000, help="sufficiency-exact: importance samples from the prior")
    parser.add_argument("--ess", action="store_true", help="sufficiency: the order statistic for the effective sample size")
    parser.add_argument("--tag", default="", help="suffix of the output file name")
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 32, 128])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="speed: devices to time (cuda only when present)")
    args = parser.parse_args()
    if args.experiment == "table":
        if args.sweep is None:
            parser.error("table needs the sweep directory")
        run_table(args)
        return
    defaults = {"sufficiency": (50, 5), "sufficiency-exact": (300, 5), "active": (20, 0), "speed": (0, 0)}[args.experiment]
    args.worlds = args.worlds if args.worlds is not None else defaults[0]
    args.length = args.length if args.length is not None else defaults[1]
    OUT.mkdir(parents=True, exist_ok=True)
    runners = {
        "speed": run_speed,
        "sufficiency": run_sufficiency,
        "sufficiency-exact": run_sufficiency_exact,
        "active": run_active,
    }
    result = runners[args.experiment](args)
    result["command"] = "python benchmarks/bayesian_irl.py " + " ".join(__import__("sys").argv[1:])
    result["torch"] = torch.__version__
    (OUT / f"{args.experiment}{args.tag}.json").write_text(json.dumps(result, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
