"""T-REX and D-REX on continuous control: learn a reward from ranked PPO-checkpoint demonstrations
(T-REX) or from one unranked demonstration (D-REX), train PPO on it, and compare with the best
demonstration, with behavioural cloning (D-REX) and with a constant-reward control.

Protocol (Brown et al. 2019, MuJoCo section; settings from ../shared/REFERENCES.md, choices stated):

1. Demonstrations: PPO on the true reward, ``--checkpoints`` evenly spaced early checkpoints, one
   stochastic rollout each; the rank is the checkpoint index (training time), never the return.
2. T-REX: an ensemble of MLPs (2 x 256, observation only), Bradley–Terry on snippet pairs whose better
   snippet starts no earlier than the worse one's.
3. PPO (the RL Zoo preset for Pendulum, SB3 defaults for HalfCheetah) for ``--policy-steps`` on the learned reward with running normalisation
   minus a control cost; the control run gets a constant reward (same normalisation and cost), which
   carries no information about the task.
4. Evaluation on the true reward, 10 episodes each (distance travelled too for HalfCheetah), and the
   extrapolation plot: predicted against true return for the demos and for rollouts of the final policy.
5. A reward-hacking check that needs no true reward: Bayesian REX over the learned net's last layer
   (20,000 samples), flagging the policy when its posterior mean return beats the top-ranked
   trajectory's while its 0.05-VaR falls below it.

D-REX (``--method drex``) replaces steps 1–2: one demonstration (HalfCheetah: the D-REX paper's own,
from ``../shared/data/drex-mujoco-demos``; Pendulum: one rollout of the last checkpoint of a short PPO
run), behavioural cloning, the MuJoCo noise schedule (epsilon 0, 0.05, ..., 0.95, 5 rollouts each,
pairs at least 0.3 apart), then T-REX on those rankings. The BC policy is evaluated too.

Run::

    OMP_NUM_THREADS=1 python benchmarks/trex_control.py pendulum --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py pendulum --method drex --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py halfcheetah --seeds 0 1

Writes ``benchmarks/trex/<method>_<env>.json`` and ``..._extrapolation.png``; prints markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.data.io import load_npz_episodes
from rewardlab.data.ranking import ranking_scores
from rewardlab.eval import extrapolation_plot, kendall_tau
from rewardlab.prefs import DREX, TREX, BayesianREX, BayesianREXConfig, DREXConfig, TREXConfig
from rewardlab.prefs.brex import reward_hacking_flags, trajectory_features
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
from rewardlab.rl import evaluate, make_ranked_demos, train_policy

OUT = Path(__file__).parent / "trex"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "drex-mujoco-demos"

SETTINGS = {
    "pendulum": {
        "env": "Pendulum-v1",
        "checkpoints": 12,
        "demo_steps": 12 * 1536,
        "demo_hyperparams": {"n_steps": 384},  # 4 envs x 384 = one PPO update per checkpoint
        "policy_steps": 100_000,
        "ctrl_cost": 0.001,
        "trex": TREXConfig(hidden=(256, 256), ensemble=3, snippet=(10, 40), pairs=3000, steps=1500, batch_size=16, lr=1e-4),
        "drex_demo_steps": 16384,
    },
    "halfcheetah": {
        "env": "HalfCheetah-v5",
        "checkpoints": 12,
        "demo_steps": 12 * 10_240,
        "demo_hyperparams": {},
        "policy_steps": 1_000_000,
        "ctrl_cost": 0.1,
        "trex": TREXConfig(hidden=(256, 256), ensemble=3, snippet=(10, 40), pairs=10_000, steps=3000, batch_size=16, lr=1e-4),
    },
}


class ConstantReward(torch.nn.Module):
    """The control: the same reward for everything."""

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None) -> torch.Tensor:
        return torch.ones(len(obs))


def drex_demo(name: str, seed: int):
    """The one demonstration D-REX starts from."""
    s = SETTINGS[name]
    if name == "halfcheetah":
        return load_npz_episodes(SHARED / "halfcheetah.npz", rank=0)
    ranked = make_ranked_demos(s["env"], checkpoints=1, steps=s["drex_demo_steps"], seed=seed, hyperparams=s["demo_hyperparams"])
    return ranked


def run_seed(name: str, seed: int, policy_steps: int | None, method: str) -> dict:
    s = SETTINGS[name]
    env_id = s["env"]
    steps = policy_steps or s["policy_steps"]
    t0 = time.perf_counter()
    extra: dict = {}
    if method == "trex":
        demos = make_ranked_demos(env_id, checkpoints=s["checkpoints"], steps=s["demo_steps"], seed=seed, hyperparams=s["demo_hyperparams"])
        t_demos = time.perf_counter() - t0
        fit = TREX(s["trex"]).fit(demos, demos_space(env_id), rng=np.random.default_rng(seed))
    else:
        demos = drex_demo(name, seed)
        t_demos = time.perf_counter() - t0
        fit = DREX(DREXConfig(schedule="mujoco", trex=s["trex"])).fit(demos, env_id, rng=np.random.default_rng(seed))
        ev_bc = evaluate(fit.info["bc_policy"], env_id, episodes=10, seed=50_000 + seed)
        extra["bc_return"] = float(ev_bc.returns().mean())
        rollouts = fit.info["rollouts"]
        extra["noise_returns"] = {
            str(e): float(np.mean([tr.ret for tr in rollouts if tr.infos["epsilon"] == e])) for e in fit.info["epsilons"]
        }
    returns = demos.returns()
    t_trex = time.perf_counter() - t0 - t_demos
    learned = train_policy(env_id, steps=steps, seed=seed, reward=fit.reward, normalize="running", ctrl_cost=s["ctrl_cost"])
    control = train_policy(env_id, steps=steps, seed=seed, reward=ConstantReward(), normalize="running", ctrl_cost=s["ctrl_cost"])
    ev_learned = evaluate(learned.model, env_id, episodes=10, seed=50_000 + seed)
    ev_control = evaluate(control.model, env_id, episodes=10, seed=50_000 + seed)
    encoder = TrajectoryEncoder.for_env(demos_space(env_id), hidden=s["trex"].hidden)
    pred_demo = predicted_returns(fit.reward, demos, encoder)
    pred_policy = predicted_returns(fit.reward, ev_learned, encoder)
    if method == "drex":  # one demonstration: rank quality shows on the noise rollouts
        rollouts = fit.info["rollouts"]
        extra["kendall_tau_rollouts"] = kendall_tau(predicted_returns(fit.reward, rollouts, encoder), rollouts.returns())
    extra["hacking_check"] = hacking_check(fit, demos if method == "trex" else fit.info["rollouts"], ev_learned, env_id, seed)
    row = {
        "seed": seed,
        "demo_returns": returns.tolist(),
        "demo_ranks": ranking_scores(demos).tolist(),
        "best_demo": float(returns.max()),
        "trex_return": float(ev_learned.returns().mean()),
        "trex_return_std": float(ev_learned.returns().std()),
        "control_return": float(ev_control.returns().mean()),
        "kendall_tau_demos": kendall_tau(pred_demo, returns),
        "val_accuracy": fit.info["val_accuracy"],
        "predicted": {"demos": pred_demo.tolist(), "policy": pred_policy.tolist()},
        "policy_returns": ev_learned.returns().tolist(),
        "seconds": {"demos": t_demos, "reward_learning": t_trex, "ppo_learned": learned.seconds, "ppo_control": control.seconds},
        **extra,
    }
    if "x_distance" in ev_learned[0].infos:
        row["best_demo_distance"] = float(max(tr.infos["x_distance"] for tr in demos))
        row["trex_distance"] = float(np.mean([tr.infos["x_distance"] for tr in ev_learned]))
        row["control_distance"] = float(np.mean([tr.infos["x_distance"] for tr in ev_control]))
    return row


def hacking_check(fit, ranked, rollouts, env_id: str, seed: int) -> dict:
    """B-REX over the learned reward's last layer (its penultimate features as the embedding): the
    posterior mean and 0.05-VaR of the policy's return against the top-ranked trajectory's; the policy
    is flagged when its mean is higher but its VaR lower (high return the posterior is not sure of)."""
    space = demos_space(env_id)
    cfg = BayesianREXConfig(samples=20_000, burn_in=2_000, thin=10)
    brex = BayesianREX(cfg).fit(ranked, space, rng=np.random.default_rng(seed), embedding=fit.reward)
    ref = int(np.argmax(ranking_scores(ranked)))
    ev_ref = brex.posterior.evaluate(trajectory_features(ranked[ref : ref + 1], space, fit.reward))
    ev_pol = brex.posterior.evaluate(trajectory_features(rollouts, space, fit.reward))
    mean, var = float(ev_pol["mean"].mean()), float(ev_pol["var"].mean())
    flag = bool(reward_hacking_flags([mean], [var], float(ev_ref["mean"][0]), float(ev_ref["var"][0]))[0])
    return {
        "policy_mean": mean,
        "policy_var": var,
        "top_mean": float(ev_ref["mean"][0]),
        "top_var": float(ev_ref["var"][0]),
        "flagged": flag,
    }


def demos_space(env_id: str) -> tuple:
    import gymnasium as gym

    env = gym.make(env_id)
    return env.observation_space, env.action_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", choices=sorted(SETTINGS))
    parser.add_argument("--method", choices=("trex", "drex"), default="trex")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--policy-steps", type=int, default=None, help="override the PPO steps on the learned reward")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = [run_seed(args.env, seed, args.policy_steps, args.method) for seed in args.seeds]
    result = {"env": SETTINGS[args.env]["env"], "method": args.method, "rows": rows, "seconds": time.perf_counter() - t0}
    label = "T-REX" if args.method == "trex" else "D-REX"
    print(
        f"| seed | best demo | {label} policy | BC | constant-reward control | Kendall tau (demos) | B-REX flag |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        bc = f"{r['bc_return']:.1f}" if "bc_return" in r else "–"
        print(
            f"| {r['seed']} | {r['best_demo']:.1f} | {r['trex_return']:.1f} ± {r['trex_return_std']:.1f} | {bc} | {r['control_return']:.1f} | {r['kendall_tau_demos']:.2f} | {r['hacking_check']['flagged']} |"
        )
    print(f"{result['seconds']:.0f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"{args.method}_{args.env}{args.tag}"
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    last = rows[0]
    pred = np.array(last["predicted"]["demos"] + last["predicted"]["policy"])
    true = np.array(last["demo_returns"] + last["policy_returns"])
    demo = np.arange(len(pred)) < len(last["demo_returns"])
    fig = extrapolation_plot(
        pred, true, demo=demo, title=f"{result['env']} {label}, seed {last['seed']}: tau = {kendall_tau(pred, true):.2f}"
    )
    fig.savefig(OUT / f"{stem}_extrapolation.png", dpi=110)
    print(f"wrote {OUT / (stem + '.json')}")


if __name__ == "__main__":
    main()
