"""T-REX and D-REX on continuous control: learn a reward from ranked PPO-checkpoint demonstrations
(T-REX) or from one unranked demonstration (D-REX), train PPO on it, and compare with the best
demonstration, with behavioural cloning (D-REX) and with a constant-reward control.

Protocol (Brown et al. 2019, MuJoCo section; settings from ../shared/REFERENCES.md, choices stated):

1. Demonstrations: PPO on the true reward, ``--checkpoints`` evenly spaced early checkpoints, one
   stochastic rollout each; the rank is the checkpoint index (training time), never the return.
2. T-REX: an ensemble of MLPs (2 x 256, observation only), Bradley–Terry on snippet pairs whose better
   snippet starts no earlier than the worse one's.
3. PPO (the RL Zoo preset for Pendulum, SB3 defaults for HalfCheetah) for ``--policy-steps`` on the
   learned reward with running normalisation minus a control cost, the reward computed once per
   rollout (``reward_batch="rollout"``). The control run gets a constant reward
   (:class:`rewardlab.rewards.ConstantReward`, same normalisation and cost), which carries no information
   about the task; it runs for the first seed only
   (``--control-seeds`` for others, or none).
4. Evaluation on the true reward, 10 episodes each (distance travelled too for HalfCheetah), and the
   extrapolation plot: predicted against true return for the demos and for rollouts of the final policy.
5. A reward-hacking check that needs no true reward (:func:`rewardlab.prefs.reward_hacking_check`):
   Bayesian REX over the learned net's last layer (20,000 samples), flagging the policy when its
   posterior mean return beats the top-ranked trajectories' while its 0.05-VaR falls below theirs.

D-REX (``--method drex``) replaces steps 1–2: one demonstration (HalfCheetah: the D-REX paper's own,
from ``../shared/data/drex-mujoco-demos``; Pendulum: one rollout of the last checkpoint of a short PPO
run), behavioural cloning, the MuJoCo noise schedule (epsilon 0, 0.05, ..., 0.95, 5 rollouts each,
pairs at least 0.3 apart), then T-REX on those rankings. The BC policy is evaluated too. With
``--warm-start LOG_STD`` PPO (and the control) start from that clone instead of from scratch, and
``--critic-warmup N`` trains PPO's critic alone for the first N steps, after which ``--finetune-lr LR`` sets
PPO's learning rate (a warm start with a small standard deviation needs a small one: 3e-5).

Pendulum options (T-REX): ``--ceiling R`` takes the demonstrations from the checkpoints, one per PPO update,
before the first whose mean true return reaches R (``make_ranked_demos(every=, ceiling=)``);
``--architecture linear --trex-lr 1e-2`` learns a linear reward in the observation; ``--mirror`` adds each
demonstration's reflection theta -> -theta with the same rank. Together (``--ceiling -800``) they beat the
best demonstration in 10 of 12 seeds (benchmarks/RESULTS.md).

The jobs (reward learning per seed, PPO per seed, the control) run on ``--workers`` single-threaded
processes; each seed's PPO starts as soon as its reward is learned. This is not a sweep file
(``rewardlab sweep``) because a trial here is more than a ``rewardlab run``: each seed first collects
its own demonstrations by training PPO on the true reward (a run config reads a dataset that exists),
and the constant-reward control, the reward-hacking check and the clone's evaluation are stages a run
config does not have. ``rewardlab run`` with a ``[policy]`` stage covers one seed's reward and PPO from
a dataset collected beforehand (``rewardlab demos collect``).

Run::

    OMP_NUM_THREADS=1 python benchmarks/trex_control.py pendulum --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py pendulum --seeds 0 1 2 3 --episodes 5 --ceiling -800 --architecture linear --trex-lr 1e-2 --mirror
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py pendulum --method drex --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py halfcheetah --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py halfcheetah --method drex --seeds 0 1 --control-seeds
    OMP_NUM_THREADS=1 python benchmarks/trex_control.py halfcheetah --method drex --seeds 0 1 --warm-start -1.5 --critic-warmup 100000 --curve 100000

Writes ``benchmarks/trex/<method>_<env>.json`` and ``..._extrapolation.png``; prints markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from rewardlab.data.gym_rollouts import env_spaces
from rewardlab.data.io import load_dataset, load_npz_episodes, save_dataset
from rewardlab.data.ranking import ranking_scores, sign_flip, with_mirror_images
from rewardlab.eval import extrapolation_plot, kendall_tau
from rewardlab.irl.bc import GymBCPolicy
from rewardlab.prefs import DREX, TREX, DREXConfig, TREXConfig, reward_hacking_check
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
from rewardlab.rewards import ClippedInputReward, ConstantReward, NeuralReward, PessimisticReward
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
        # --ceiling: checkpoints after every PPO update (4 envs x 384 steps) for up to 40 updates
        "ceiling_every": 1536,
        "ceiling_steps": 40 * 1536,
        # --mirror: the reflection theta -> -theta of (cos, sin, velocity) and of the torque
        "mirror": ((1, -1, -1), (-1,)),
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


def drex_demo(name: str, seed: int):
    """The one demonstration D-REX starts from."""
    s = SETTINGS[name]
    if name == "halfcheetah":
        return load_npz_episodes(SHARED / "halfcheetah.npz", rank=0)
    ranked = make_ranked_demos(s["env"], checkpoints=1, steps=s["drex_demo_steps"], seed=seed, hyperparams=s["demo_hyperparams"])
    return ranked


def learn_reward_job(
    name: str,
    seed: int,
    method: str,
    work: Path,
    episodes: int = 1,
    trex: dict | None = None,
    ceiling: float | None = None,
    mirror: bool = False,
) -> dict:
    """Steps 1-2 (T-REX) or the D-REX equivalent: writes the reward and the ranked data the hacking check
    uses (the demos for T-REX, the noise rollouts for D-REX) under ``work``; returns their numbers.
    ``trex`` overrides fields of the env's :class:`TREXConfig`; ``ceiling`` takes the T-REX demonstrations from the
    checkpoints (one per PPO update) before the first whose mean return reaches it; ``mirror`` adds each
    demonstration's mirror image (same rank) to T-REX's training data."""
    torch.set_num_threads(1)
    s = dict(SETTINGS[name])
    s["trex"] = dataclasses.replace(s["trex"], **(trex or {}))
    env_id = s["env"]
    t0 = time.perf_counter()
    part: dict = {}
    if method == "trex":
        span = {} if ceiling is None else {"steps": s["ceiling_steps"], "every": s["ceiling_every"], "ceiling": ceiling}
        demos = make_ranked_demos(
            env_id,
            checkpoints=s["checkpoints"],
            episodes=episodes,
            seed=seed,
            hyperparams=s["demo_hyperparams"],
            **{"steps": s["demo_steps"], **span},
        )
        t_demos = time.perf_counter() - t0
        train = with_mirror_images(demos, *map(sign_flip, s["mirror"])) if mirror else demos
        fit = TREX(s["trex"]).fit(train, env_spaces(env_id), rng=np.random.default_rng(seed))
        ranked = demos
    else:
        demos = drex_demo(name, seed)
        t_demos = time.perf_counter() - t0
        fit = DREX(DREXConfig(schedule="mujoco", trex=s["trex"])).fit(demos, env_id, rng=np.random.default_rng(seed))
        part["bc_return"] = float(evaluate(fit.info["bc_policy"], env_id, episodes=10, seed=50_000 + seed).returns().mean())
        ranked = fit.info["rollouts"]
        part["noise_returns"] = {
            str(e): float(np.mean([tr.ret for tr in ranked if tr.infos["epsilon"] == e])) for e in fit.info["epsilons"]
        }
        part["kendall_tau_rollouts"] = kendall_tau(
            predicted_returns(fit.reward, ranked, TrajectoryEncoder.for_reward(env_spaces(env_id), fit.reward)), ranked.returns()
        )
        work.mkdir(parents=True, exist_ok=True)
        fit.info["bc_policy"].save(work / "bc_policy")  # for --warm-start
    returns = demos.returns()
    pred_demo = predicted_returns(fit.reward, demos, TrajectoryEncoder.for_reward(env_spaces(env_id), fit.reward))
    fit.reward.save(work / "reward")
    save_dataset(ranked, work / "ranked", env_id=env_id)
    save_dataset(demos, work / "demos", env_id=env_id)
    part.update(
        {
            "seed": seed,
            "demo_returns": returns.tolist(),
            "demo_ranks": ranking_scores(demos).tolist(),
            "best_demo": float(returns.max()),
            "kendall_tau_demos": kendall_tau(pred_demo, returns),
            "val_accuracy": fit.info["val_accuracy"],
            "predicted_demos": pred_demo.tolist(),
            "seconds": {"demos": t_demos, "reward_learning": time.perf_counter() - t0 - t_demos},
        }
    )
    if "x_distance" in demos[0].infos:
        part["best_demo_distance"] = float(max(tr.infos["x_distance"] for tr in demos))
    return part


def policy_job(
    name: str,
    seed: int,
    steps: int,
    work: Path | None,
    risk: float = 0.0,
    clip: float | None = None,
    warm_start: tuple[Path, float] | None = None,
    curve: int | None = None,
    scratch: Path | None = None,
    critic_warmup: int = 0,
    ctrl_cost_on: str = "executed",
    finetune_lr: float | None = None,
) -> dict:
    """Step 3-5: PPO on the reward in ``work`` (None: the constant-reward control), its evaluation, and
    (learned rewards) the predicted returns of its rollouts and the B-REX hacking check. ``risk`` > 0
    trains on :class:`PessimisticReward`; ``clip`` (a margin) clips the reward's inputs to the ranked
    data's observation range (:class:`ClippedInputReward`). ``warm_start = (clone_dir, log_std)`` starts
    PPO's actor from the D-REX clone with that log standard deviation, after ``critic_warmup`` steps that
    train the critic alone (at SB3's learning rate, 3e-4), then both at ``finetune_lr`` (default: SB3's);
    ``curve`` evaluates the true return (5 episodes) every that many steps,
    saving checkpoints under ``scratch``."""
    torch.set_num_threads(1)
    s = SETTINGS[name]
    env_id = s["env"]
    extra: dict = {}
    if warm_start is not None:
        extra["init_policy"] = GymBCPolicy.load(warm_start[0])
        extra["hyperparams"] = {"policy_kwargs": {"log_std_init": warm_start[1]}}
        extra["critic_warmup"] = critic_warmup
        if finetune_lr is not None:
            extra["hyperparams"]["learning_rate"] = finetune_lr
            extra["critic_warmup_lr"] = 3e-4 if critic_warmup else None
        extra["ctrl_cost_on"] = ctrl_cost_on
    if curve is not None:
        extra.update(checkpoint_every=curve, eval_episodes=5, out=scratch)
    reward = ConstantReward() if work is None else NeuralReward.load(work / "reward")
    ranked = None if work is None else load_dataset(work / "ranked", env=env_id)
    trained_on: torch.nn.Module = PessimisticReward(reward, risk) if risk else reward
    if clip is not None and ranked is not None:
        trained_on = ClippedInputReward.from_data(trained_on, np.concatenate([np.asarray(tr.obs) for tr in ranked]), clip)
    trained = train_policy(
        env_id,
        steps=steps,
        seed=seed,
        reward=trained_on,
        normalize="running",
        ctrl_cost=s["ctrl_cost"],
        **extra,
    )
    ev = evaluate(trained.model, env_id, episodes=10, seed=50_000 + seed)
    out: dict = {"returns": ev.returns().tolist(), "seconds": trained.seconds, "curve": trained.curve}
    if "x_distance" in ev[0].infos:
        out["distance"] = float(np.mean([tr.infos["x_distance"] for tr in ev]))
    if work is not None:
        out["predicted_policy"] = predicted_returns(reward, ev, TrajectoryEncoder.for_reward(env_spaces(env_id), reward)).tolist()
        check = reward_hacking_check(ranked, ev, env_spaces(env_id), rng=np.random.default_rng(seed), embedding=reward)
        out["hacking_check"] = dataclasses.asdict(check)
    return out


def run(
    name: str,
    method: str,
    seeds: list[int],
    control_seeds: list[int],
    steps: int,
    workers: int,
    work: Path,
    episodes: int = 1,
    risk: float = 0.0,
    clip: float | None = None,
    trex: dict | None = None,
    warm_start: float | None = None,
    curve: int | None = None,
    critic_warmup: int = 0,
    ctrl_cost_on: str = "executed",
    finetune_lr: float | None = None,
    ceiling: float | None = None,
    mirror: bool = False,
) -> list[dict]:
    """All jobs on a pool of ``workers`` processes: the controls and the reward learning start at once,
    each seed's PPO as soon as its reward is learned. With ``warm_start`` (a log standard deviation, D-REX
    only) PPO starts from the seed's clone, and so does the control, which then waits for that clone."""

    def warm(seed: int) -> tuple[Path, float] | None:
        return None if warm_start is None else (work / f"seed{seed}" / "bc_policy", warm_start)

    def submit_control(seed: int):
        return pool.submit(
            policy_job,
            name,
            seed,
            steps,
            None,
            0.0,
            None,
            warm(seed),
            curve,
            work / f"control{seed}",
            critic_warmup,
            ctrl_cost_on,
            finetune_lr,
        )

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        controls = {} if warm_start is not None else {seed: submit_control(seed) for seed in control_seeds}
        rewards = {
            pool.submit(learn_reward_job, name, seed, method, work / f"seed{seed}", episodes, trex, ceiling, mirror): seed for seed in seeds
        }
        parts, policies = {}, {}
        for future in as_completed(rewards):
            seed = rewards[future]
            parts[seed] = future.result()
            print(f"seed {seed}: reward learned ({parts[seed]['seconds']})", flush=True)
            policies[seed] = pool.submit(
                policy_job,
                name,
                seed,
                steps,
                work / f"seed{seed}",
                risk,
                clip,
                warm(seed),
                curve,
                work / f"seed{seed}" / "ppo",
                critic_warmup,
                ctrl_cost_on,
                finetune_lr,
            )
            if warm_start is not None and seed in control_seeds:
                controls[seed] = submit_control(seed)
        done = {seed: f.result() for seed, f in policies.items()}
        control = {seed: f.result() for seed, f in controls.items()}
    rows = []
    for seed in seeds:
        part, pol = parts[seed], done[seed]
        ctrl_seed = seed if seed in control else (control_seeds[0] if control_seeds else None)
        ctrl = control[ctrl_seed] if ctrl_seed is not None else {"returns": [np.nan], "seconds": 0.0, "distance": np.nan}
        row = {
            **{k: v for k, v in part.items() if k != "predicted_demos"},
            "trex_return": float(np.mean(pol["returns"])),
            "trex_return_std": float(np.std(pol["returns"])),
            "policy_returns": pol["returns"],
            "predicted": {"demos": part["predicted_demos"], "policy": pol["predicted_policy"]},
            "control_seed": ctrl_seed,
            "control_return": float(np.mean(ctrl["returns"])),
            "hacking_check": pol["hacking_check"],
            "curve": pol["curve"],
            "control_curve": ctrl.get("curve", []),
        }
        row["seconds"] = {**part["seconds"], "ppo_learned": pol["seconds"], "ppo_control": ctrl["seconds"]}
        if "distance" in pol:
            row["trex_distance"], row["control_distance"] = pol["distance"], ctrl["distance"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", choices=sorted(SETTINGS))
    parser.add_argument("--method", choices=("trex", "drex"), default="trex")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--policy-steps", type=int, default=None, help="override the PPO steps on the learned reward")
    parser.add_argument(
        "--control-seeds",
        type=int,
        nargs="*",
        default=None,
        help="seeds of the constant-reward control (default: the first seed only; none given: no control, e.g. when another run of the env has it)",
    )
    parser.add_argument("--episodes", type=int, default=1, help="T-REX: stochastic rollouts of each checkpoint (all share its rank)")
    parser.add_argument(
        "--ceiling",
        type=float,
        default=None,
        metavar="RETURN",
        help="T-REX on Pendulum: demos from the checkpoints (one per PPO update) before the first whose mean return reaches RETURN",
    )
    parser.add_argument(
        "--risk", type=float, default=0.0, help="PPO on the ensemble mean minus this many member standard deviations (PessimisticReward)"
    )
    parser.add_argument(
        "--clip",
        type=float,
        default=None,
        metavar="MARGIN",
        help="clip the reward's inputs to the ranked data's observation range widened by MARGIN x range (ClippedInputReward)",
    )
    parser.add_argument(
        "--snippet", type=int, nargs=2, default=None, metavar=("LO", "HI"), help="T-REX snippet lengths (default: the env's)"
    )
    parser.add_argument(
        "--warm-start",
        type=float,
        default=None,
        metavar="LOG_STD",
        help="D-REX: start PPO's actor (and the control's) from the BC policy, with this initial log standard deviation",
    )
    parser.add_argument(
        "--critic-warmup", type=int, default=0, metavar="STEPS", help="with --warm-start: train only PPO's critic for the first STEPS"
    )
    parser.add_argument(
        "--ctrl-cost-on",
        choices=("executed", "raw"),
        default="executed",
        help="with --warm-start: charge the control cost on these actions",
    )
    parser.add_argument(
        "--finetune-lr",
        type=float,
        default=None,
        metavar="LR",
        help="with --warm-start: PPO's learning rate after the critic warm-up (default: SB3's 3e-4)",
    )
    parser.add_argument("--architecture", choices=("mlp", "linear"), default=None, help="T-REX reward net (default: the env's, an MLP)")
    parser.add_argument(
        "--mirror", action="store_true", help="T-REX on Pendulum: train on the demos and their mirror images (theta -> -theta)"
    )
    parser.add_argument("--trex-lr", type=float, default=None, help="T-REX's Adam step size (default: the env's, 1e-4)")
    parser.add_argument("--curve", type=int, default=None, metavar="STEPS", help="evaluate the true return (5 episodes) every STEPS")
    parser.add_argument("--workers", type=int, default=2, help="processes, each single-threaded")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    args = parser.parse_args()
    if args.warm_start is not None and args.method != "drex":
        parser.error("--warm-start needs --method drex (the clone comes from D-REX)")
    if (args.ceiling is not None or args.mirror) and (args.method != "trex" or args.env != "pendulum"):
        parser.error("--ceiling and --mirror are for T-REX on pendulum")
    t0 = time.perf_counter()
    steps = args.policy_steps or SETTINGS[args.env]["policy_steps"]
    with tempfile.TemporaryDirectory(prefix="rewardlab-trex-") as work:
        rows = run(
            args.env,
            args.method,
            args.seeds,
            args.seeds[:1] if args.control_seeds is None else args.control_seeds,
            steps,
            args.workers,
            Path(work),
            episodes=args.episodes,
            risk=args.risk,
            clip=args.clip,
            trex={
                **({} if args.snippet is None else {"snippet": tuple(args.snippet)}),
                **({} if args.architecture is None else {"architecture": args.architecture}),
                **({} if args.trex_lr is None else {"lr": args.trex_lr}),
            },
            warm_start=args.warm_start,
            curve=args.curve,
            critic_warmup=args.critic_warmup,
            ctrl_cost_on=args.ctrl_cost_on,
            finetune_lr=args.finetune_lr,
            ceiling=args.ceiling,
            mirror=args.mirror,
        )
    result = {
        "env": SETTINGS[args.env]["env"],
        "method": args.method,
        "risk": args.risk,
        "clip": args.clip,
        "snippet": args.snippet,
        "architecture": args.architecture,
        "trex_lr": args.trex_lr,
        "warm_start": args.warm_start,
        "critic_warmup": args.critic_warmup,
        "ctrl_cost_on": args.ctrl_cost_on,
        "finetune_lr": args.finetune_lr,
        "episodes": args.episodes,
        "ceiling": args.ceiling,
        "mirror": args.mirror,
        "rows": rows,
        "seconds": time.perf_counter() - t0,
    }
    label = "T-REX" if args.method == "trex" else "D-REX"
    print(
        f"| seed | best demo | {label} policy | BC | constant-reward control | Kendall tau (demos) | B-REX flag |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        bc = f"{r['bc_return']:.1f}" if "bc_return" in r else "–"
        print(
            f"| {r['seed']} | {r['best_demo']:.1f} | {r['trex_return']:.1f} ± {r['trex_return_std']:.1f} | {bc} | {r['control_return']:.1f} | {r['kendall_tau_demos']:.2f} | {'undetermined' if r['hacking_check']['flagged'] is None else r['hacking_check']['flagged']} |"
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
