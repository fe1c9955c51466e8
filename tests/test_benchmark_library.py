"""Library logic that used to live in the benchmark scripts: the ranked suboptimal demonstrations of the
B-REX gridworld table, the Boltzmann demonstrator of the sufficiency experiments, the B-REX
reward-hacking check and the constant-reward control, each with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.data import Trajectory, sample_tabular, validate_dataset
from rewardlab.data.ranking import ranking_scores
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.irl.experts import expert_demonstrations, ranked_suboptimal_demonstrations
from rewardlab.mdp import TabularMDP, boltzmann_policy, value_iteration
from rewardlab.mdp.worlds import feature_gridworld, navigation_gridworld
from rewardlab.prefs import BayesianREXConfig, HackingCheck, reward_hacking_check
from rewardlab.rewards import ConstantReward, NeuralReward, RewardNetSpec, TabularReward, load_reward
from rewardlab.rewards.wrappers import LearnedReward
from rewardlab.rl import train_policy

runner = CliRunner()


# ============================================================================ ranked suboptimal demonstrations
def _best_returns(world, steps: int) -> np.ndarray:
    """``(S,)`` the largest undiscounted ``steps``-decision return from each start of a deterministic world
    (backward induction; the reward is collected in the state each decision is taken in)."""
    mdp = world.mdp
    succ, prob, r = mdp.successors.numpy(), mdp.probabilities.numpy(), world.reward.numpy()
    assert np.all(prob.max(-1) == 1.0)  # deterministic: one successor per (s, a)
    nxt = succ[np.arange(mdp.n_states)[:, None], np.arange(mdp.n_actions)[None, :], prob.argmax(-1)]
    v = np.zeros(mdp.n_states)
    for _ in range(steps):
        v = r + v[nxt].max(1)
    return v


def test_ranked_suboptimal_demonstrations_are_ranked_by_true_return_valid_and_suboptimal() -> None:
    world = feature_gridworld(6, seed=3, discount=0.9)
    demos, returns = ranked_suboptimal_demonstrations(world, 30, rng=np.random.default_rng(7), length=10)
    assert len(demos) == 30 and returns.shape == (30,)
    # the ranks are the true returns: the world's reward summed over the states the decisions were taken in
    true = np.array([world.reward.numpy()[tr.obs[:-1]].sum() for tr in demos])
    np.testing.assert_allclose(returns, true)
    np.testing.assert_allclose(ranking_scores(demos), returns)
    np.testing.assert_allclose(demos.returns(), returns)
    # valid for the world: states and actions in range, every transition one the MDP can make
    validate_dataset(demos, world.mdp)
    succ, prob = world.mdp.successors.numpy(), world.mdp.probabilities.numpy()
    for tr in demos:
        assert len(tr) == 10
        for s, a, s2 in zip(tr.obs[:-1], tr.acts, tr.obs[1:], strict=True):
            assert s2 in succ[s, a][prob[s, a] > 0]
    # each follows the optimal policy of its own unit-norm random reward
    for tr in demos:
        w = torch.tensor(tr.infos["weights"], dtype=torch.float64)
        assert float(w.norm()) == pytest.approx(1.0)
        policy = value_iteration(world.mdp, world.mdp.features @ w).policy
        assert bool((policy[tr.obs[:-1], tr.acts] > 0).all())
    # suboptimal: no demonstration beats the best 10-step return from its start, and most fall short of it
    best = _best_returns(world, 10)[[tr.obs[0] for tr in demos]]
    assert np.all(returns <= best + 1e-9)
    assert np.sum(returns < best - 1e-9) >= 15
    # the ranking is informative: the returns are not all equal
    assert len(np.unique(np.round(returns, 9))) > 5


def test_ranked_suboptimal_demonstrations_are_deterministic_for_a_seed() -> None:
    world = feature_gridworld(5, seed=0, discount=0.9)
    a, ra = ranked_suboptimal_demonstrations(world, 8, rng=np.random.default_rng(1), length=6)
    b, rb = ranked_suboptimal_demonstrations(world, 8, rng=np.random.default_rng(1), length=6)
    c, _ = ranked_suboptimal_demonstrations(world, 8, rng=np.random.default_rng(2), length=6)
    assert np.array_equal(ra, rb)
    assert all(np.array_equal(x.obs, y.obs) and np.array_equal(x.acts, y.acts) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.obs, y.obs) for x, y in zip(a, c, strict=True))


def test_ranked_suboptimal_demonstrations_refuse_bad_requests() -> None:
    world = feature_gridworld(4, seed=0)
    with pytest.raises(ConfigError, match=r"^n: is 0"):
        ranked_suboptimal_demonstrations(world, 0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"^length: is 0"):
        ranked_suboptimal_demonstrations(world, 2, rng=np.random.default_rng(0), length=0)
    featureless = navigation_gridworld("crossing")
    featureless = type(featureless)(**{**featureless.__dict__, "mdp": featureless.mdp.replace(features=None)})
    with pytest.raises(ConfigError, match=r"^world: .* has no state features"):
        ranked_suboptimal_demonstrations(featureless, 2, rng=np.random.default_rng(0))


# ============================================================================ the Boltzmann demonstrator
def test_boltzmann_expert_is_the_softmax_of_beta_q_star() -> None:
    world = feature_gridworld(4, seed=2, discount=0.9)
    q = value_iteration(world.mdp, world.reward).q_values
    demos, policy = expert_demonstrations(world, 5, rng=np.random.default_rng(0), length=6, expert="boltzmann", beta=3.0)
    torch.testing.assert_close(policy, torch.softmax(3.0 * q, dim=-1))
    # the demonstrations are that policy's rollouts, drawn as sample_tabular draws them, with true rewards
    again = sample_tabular(world.mdp, boltzmann_policy(q, 1 / 3.0), 5, rng=np.random.default_rng(0), length=6, reward=world.reward)
    assert all(np.array_equal(x.obs, y.obs) and np.array_equal(x.acts, y.acts) for x, y in zip(demos, again, strict=True))
    np.testing.assert_allclose(demos.returns(), again.returns())
    # as beta grows it puts all its mass on the optimal actions
    _, sharp = expert_demonstrations(world, 1, rng=np.random.default_rng(0), length=2, expert="boltzmann", beta=1e4)
    greedy = value_iteration(world.mdp, world.reward).policy
    assert float((sharp * (greedy > 0)).sum(-1).min()) > 1 - 1e-9
    with pytest.raises(ConfigError, match=r"^beta: is 0.0"):
        expert_demonstrations(world, 1, rng=np.random.default_rng(0), expert="boltzmann", beta=0.0)
    with pytest.raises(ConfigError, match="'boltzmann'"):
        expert_demonstrations(world, 1, rng=np.random.default_rng(0), expert="greedy")


# ============================================================================ the reward-hacking check
# Three states; action a moves to state a. Features: state 0 (0, 0), state 1 (1, 0), state 2 (0.9, 1).
# The ranked trajectories only visit states 0 and 1, ranked by the time spent in state 1: they say the
# first feature is good and nothing about the second. A policy for the true reward (1, 0) stays in
# state 1; one for a reward of the second feature, (0, 1), stays in state 2, whose first feature is also
# high, so its posterior mean return beats the top-ranked trajectory's, but the sign of the second
# feature's weight is unknown, so its VaR falls below it.
_FEATURES = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.9, 1.0]], dtype=torch.float64)
_SAMPLER = BayesianREXConfig(samples=4000, burn_in=1000, thin=2, chains=2, step_size=0.5, adapt=True)


def _three_state_mdp() -> TabularMDP:
    succ = np.tile(np.arange(3)[None, :, None], (3, 1, 1))
    return TabularMDP(successors=succ, probabilities=np.ones((3, 3, 1)), initial=[1.0, 0.0, 0.0], discount=0.9, features=_FEATURES)


def _ranked() -> list[Trajectory]:
    return [Trajectory(np.array([0] * (5 - k) + [1] * k), np.array([0] * (4 - k) + [1] * k), infos={"rank": k}) for k in range(5)]


@pytest.mark.parametrize("seed", [0, 1])
def test_hacking_check_passes_the_true_rewards_policy_and_flags_one_for_another_reward(seed: int) -> None:
    mdp = _three_state_mdp()

    def rollouts(weights: list[float]):
        policy = value_iteration(mdp, _FEATURES @ torch.tensor(weights, dtype=torch.float64)).policy
        return sample_tabular(mdp, policy, 3, rng=np.random.default_rng(seed), length=8)

    honest = reward_hacking_check(_ranked(), rollouts([1.0, 0.0]), mdp, rng=np.random.default_rng(seed), config=_SAMPLER)
    hacker = reward_hacking_check(_ranked(), rollouts([0.0, 1.0]), mdp, rng=np.random.default_rng(seed), config=_SAMPLER)
    for check in (honest, hacker):
        assert isinstance(check, HackingCheck) and check.reason is None and check.alpha == 0.05
        assert check.policy_mean > check.top_mean  # both policies look better than the best demonstration
    assert honest.flagged is False and honest.policy_var > honest.top_var
    assert hacker.flagged is True and hacker.policy_var < hacker.top_var
    # the same reference for both (same ranking, same seed)
    assert honest.top_mean == hacker.top_mean and honest.top_var == hacker.top_var


def test_hacking_check_on_an_env_uses_the_reward_nets_features() -> None:
    """The Gymnasium path of the benchmarks: the posterior is over the last layer of the learned reward
    (here a linear net, whose features are the observations themselves, laid out like the states above)."""
    spaces = (gym.spaces.Box(-np.inf, np.inf, (2,), np.float32), gym.spaces.Discrete(3))
    embedding = NeuralReward(RewardNetSpec((2,), architecture="linear"))

    def as_obs(states: list[int]) -> np.ndarray:
        return _FEATURES.numpy()[states].astype(np.float32)

    ranked = [Trajectory(as_obs([0] * (5 - k) + [1] * k), np.zeros(4, np.int64), infos={"rank": k}) for k in range(5)]
    honest = [Trajectory(as_obs([0] + [1] * 8), np.ones(8, np.int64))]
    hacker = [Trajectory(as_obs([0] + [2] * 8), np.full(8, 2, np.int64))]
    checks = [
        reward_hacking_check(ranked, r, spaces, rng=np.random.default_rng(0), embedding=embedding, config=_SAMPLER)
        for r in (honest, hacker)
    ]
    assert [c.flagged for c in checks] == [False, True]


def test_hacking_check_reports_an_undetermined_verdict_and_refuses_bad_input() -> None:
    mdp = _three_state_mdp()
    stay = [Trajectory(np.array([0] + [2] * 8), np.full(8, 2))]
    short = BayesianREXConfig(samples=40, burn_in=0, thin=1)  # far too few samples to have mixed
    check = reward_hacking_check(_ranked(), stay, mdp, rng=np.random.default_rng(0), config=short)
    assert check.flagged is None and np.isnan(check.policy_var) and "not mixed" in (check.reason or "")
    assert any("B-REX" in w for w in check.warnings)
    with pytest.raises(ValidationError, match=r"^alpha: is 1.5"):
        reward_hacking_check(_ranked(), stay, mdp, rng=np.random.default_rng(0), config=short, alpha=1.5)
    with pytest.raises(ValidationError, match=r"^rollouts"):
        reward_hacking_check(_ranked(), [], mdp, rng=np.random.default_rng(0), config=short)
    with pytest.raises(ValidationError, match=r"^rollouts\[0\]"):
        reward_hacking_check(_ranked(), [Trajectory(np.array([0, 7]), np.array([1]))], mdp, rng=np.random.default_rng(0), config=short)


# ============================================================================ the constant-reward control
@pytest.mark.parametrize("obs", [torch.randn(5, 3), np.zeros((4, 4, 84, 84), np.uint8), np.arange(6)])
def test_constant_reward_gives_its_value_for_every_observation_and_action(obs) -> None:
    reward = ConstantReward(-2.5)
    out = reward(obs, act=torch.randn(len(obs), 2))
    assert out.shape == (len(obs),) and out.dtype == torch.get_default_dtype()
    assert out.tolist() == [-2.5] * len(obs)
    assert reward(obs).tolist() == out.tolist()  # the action changes nothing
    assert ConstantReward()(obs).tolist() == [1.0] * len(obs)  # default 1


def test_constant_reward_refuses_a_non_finite_value_and_a_scalar_observation() -> None:
    with pytest.raises(ConfigError, match=r"^value: is nan"):
        ConstantReward(float("nan"))
    with pytest.raises(ShapeError, match=r"^obs: is a scalar"):
        ConstantReward(1.0)(torch.tensor(3.0))


def test_every_reward_saves_and_loads_through_load_reward(tmp_path: Path) -> None:
    constant = load_reward(ConstantReward(0.1).save(tmp_path / "constant"))
    assert isinstance(constant, ConstantReward) and constant.value == 0.1  # exactly, not float32's 0.10000000149
    net = NeuralReward(RewardNetSpec((3,), hidden=(4,)))
    loaded = load_reward(net.save(tmp_path / "net"))
    obs = torch.randn(6, 3)
    assert isinstance(loaded, NeuralReward) and torch.equal(loaded(obs), net(obs))
    table = load_reward(TabularReward(torch.tensor([0.0, 1.0, 2.0])).save(tmp_path / "table"))
    assert isinstance(table, TabularReward) and table.values.tolist() == [0.0, 1.0, 2.0]
    # a reward directory of another kind, a missing one and a corrupt one are refused, naming the file
    meta = tmp_path / "constant" / "reward.json"
    meta.write_text(json.dumps({"format": "rewardlab.Mystery", "version": 1}))
    with pytest.raises(DataFileError, match=r"rewardlab\.Mystery.*rewardlab\.ConstantReward"):
        load_reward(tmp_path / "constant")
    with pytest.raises(DataFileError, match="missing"):
        load_reward(tmp_path / "nowhere")
    ConstantReward(1.0).save(tmp_path / "bad")
    (tmp_path / "bad" / "reward.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DataFileError, match="unreadable"):
        load_reward(tmp_path / "bad")


def test_constant_reward_in_the_env_wrapper_leaves_only_the_control_cost() -> None:
    env = LearnedReward(gym.make("Pendulum-v1"), ConstantReward(3.0), ctrl_cost=0.5)
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.array([2.0], np.float32))
    assert r == pytest.approx(3.0 - 0.5 * 4.0) and "true_reward" in info
    running = LearnedReward(gym.make("Pendulum-v1"), ConstantReward(3.0), normalize="running", ctrl_cost=0.5)
    running.reset(seed=0)
    assert running.step(np.array([2.0], np.float32))[1] == pytest.approx(-0.5 * 4.0)  # (c - mean) / std = 0


def test_train_policy_runs_the_constant_reward_control(tmp_path: Path) -> None:
    """`rewardlab train-policy --reward DIR` with a saved ConstantReward; under the running normalisation
    every constant is 0, so the policy is the one a different constant gives through the Python API."""
    ConstantReward(1.0).save(tmp_path / "control")
    settings = ["--set", "n_steps=128", "--set", "n_envs=1", "--set", "n_epochs=1"]
    args = ["train-policy", "--env", "Pendulum-v1", "--reward", str(tmp_path / "control"), "--out", str(tmp_path / "ppo"), "--steps", "256"]
    r = runner.invoke(app, [*args, "--ctrl-cost", "0.001", *settings])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "ppo" / "result.json").read_text())
    assert summary["reward"] == str(tmp_path / "control") and np.isfinite(summary["true_return_mean"])
    direct = train_policy(
        "Pendulum-v1",
        steps=256,
        seed=0,
        reward=ConstantReward(-7.0),
        normalize="running",
        ctrl_cost=0.001,
        hyperparams={"n_steps": 128, "n_envs": 1, "n_epochs": 1},
    )
    cli_params = PPO.load(tmp_path / "ppo" / "model.zip").policy.state_dict()
    api_params = direct.model.policy.state_dict()
    assert all(torch.equal(cli_params[k], api_params[k]) for k in cli_params)


# ----------------------------------------------------------------------------- the benchmark sweep files
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_benchmark_sweep_files_plan_the_tables_with_the_former_scripts_settings() -> None:
    """``benchmarks/*.toml`` (issue 18): every trial's config is valid, the grids have the tables' size, and
    each learner's config equals the one the former process-pool scripts built."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.sweep import load_sweep, plan_trials
    from rewardlab.irl.bayesian import BayesianIRLConfig
    from rewardlab.irl.deep_maxent import DeepMaxEntConfig
    from rewardlab.irl.maxent import MaxEntConfig
    from rewardlab.prefs import TREXConfig

    def planned(name: str) -> dict[str, list]:
        by_method: dict[str, list] = {}
        for trial in plan_trials(load_sweep(BENCHMARKS / name)):
            by_method.setdefault(trial.method, []).append(load_run_config(trial.config))
        return by_method

    objectworld = planned("objectworld.toml")
    assert {k: len(v) for k, v in objectworld.items()} == {"MaxEnt": 90, "Deep MaxEnt": 90}  # 3 worlds x 6 N x 5 seeds
    deep = DeepMaxEntConfig(hidden=(128, 128), iterations=300, weight_decay=1e-2, dropout=0.5, input_l1=1e-2, action_noise=0.3)
    assert all(c.learner.config == MaxEntConfig(l2=0.01, action_noise=0.3) for c in objectworld["MaxEnt"])  # causal: "mce"
    assert all(c.learner.config == deep for c in objectworld["Deep MaxEnt"])
    cfg = objectworld["Deep MaxEnt"][-1]
    assert (cfg.world.name, cfg.world.options["size"], cfg.world.options["seed"], cfg.seed) == ("binaryworld", 32, 4, 4)
    assert (cfg.data.demos, cfg.data.length, cfg.data.epsilon, cfg.eval.transfer_worlds, cfg.eval.transfer_seed_offset) == (
        128,
        8,
        0.3,
        1,
        1000,
    )
    assert not cfg.figures

    rankings = planned("rankings.toml")
    assert {k: len(v) for k, v in rankings.items()} == {"B-REX": 500, "B-IRL": 500, "T-REX": 500}  # 5 N x 100 worlds
    assert rankings["B-REX"][0].learner.config == BayesianREXConfig(samples=5000, burn_in=1000, thin=1, step_size=0.05, adapt=True)
    paper_sampler = BayesianIRLConfig(prior="sphere", beta=50.0, chains=1, samples=5000, burn_in=0, thin=1, step_size=0.01, adapt=False)
    assert rankings["B-IRL"][0].learner.config == paper_sampler
    assert rankings["T-REX"][0].learner.config == TREXConfig(snippet=None, pairs=500, steps=300, batch_size=16, lr=0.05, validation=0.0)
    assert {(c.world.name, c.world.options["size"], c.data.kind, c.data.length) for m in rankings.values() for c in m} == {
        ("featuregrid", 6, "ranked", 10)
    }

    bayesian = planned("bayesian_irl.toml")
    assert {k: len(v) for k, v in bayesian.items()} == {"B-IRL paper sampler": 1000, "B-IRL adaptive MH": 1000}
    assert bayesian["B-IRL paper sampler"][0].learner.config == paper_sampler
    adaptive = BayesianIRLConfig(prior="sphere", beta=50.0, chains=1, samples=4000, burn_in=1000, thin=1, step_size=0.05)
    assert bayesian["B-IRL adaptive MH"][0].learner.config == adaptive
    assert {(c.data.kind, c.data.expert, c.data.epsilon) for m in bayesian.values() for c in m} == {("expert", "optimal", 0.0)}
