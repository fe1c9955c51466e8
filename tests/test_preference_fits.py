"""T-REX, B-REX and D-REX given preference datasets and rankings directly (issue 19): learning from
labelled segment pairs, the equivalences with a ranking's pairs, and the inputs they refuse."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.checkpoint import Checkpoint
from rewardlab.data import Preference, PreferenceDataset, Ranking, Segment, Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.data.gym_rollouts import collect_rollouts
from rewardlab.errors import ShapeError, ValidationError
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import chain, feature_gridworld
from rewardlab.prefs import DREX, TREX, BayesianREX, BayesianREXConfig, DREXConfig, SimulatedTeacher, TREXConfig, teacher_preset
from rewardlab.prefs.brex import trajectory_features
from rewardlab.prefs.fragments import RandomFragmenter, labelled_preferences
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns


def _oracle_preferences(trajectories, n: int, seed: int, *, length: int, env_id: str | None = None) -> PreferenceDataset:
    """``n`` random pairs of ``length``-step segments of ``trajectories``, labelled by the B-Pref oracle."""
    rng = np.random.default_rng(seed)
    pairs = RandomFragmenter(length).fragment(trajectories, n, rng=rng)
    labels = SimulatedTeacher(teacher_preset("oracle")).label(*pairs.rewards(), rng=rng)
    return labelled_preferences(pairs, labels, env_id=env_id)


def _random_torques(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(-2, 2, size=(len(obs), 1)).astype(np.float32)


def _pendulum_preferences(n: int, seed: int) -> PreferenceDataset:
    """Oracle labels on 20-step segments of 12 Pendulum-v1 episodes of uniformly random torques."""
    rollouts = collect_rollouts("Pendulum-v1", _random_torques(seed), 12, seed=1000 * seed, max_steps=100)
    return _oracle_preferences(rollouts, n, seed, length=20, env_id="Pendulum-v1")


def _accuracy(returns: np.ndarray, labels: np.ndarray) -> float:
    """Share of the strict labels whose order the ``(N, 2)`` predicted returns agree with."""
    strict = labels != 0.5
    return float(((returns[:, 0] > returns[:, 1]) == (labels == 1.0))[strict].mean())


# ------------------------------------------------------------------------------------------ T-REX
def test_trex_on_oracle_preferences_orders_held_out_pendulum_pairs() -> None:
    train, test = _pendulum_preferences(300, seed=0), _pendulum_preferences(300, seed=1)
    cfg = TREXConfig(hidden=(32, 32), ensemble=2, steps=300, batch_size=32, lr=3e-3)
    fit = TREX(cfg).fit(train, "Pendulum-v1", rng=np.random.default_rng(0))
    assert fit.info["val_accuracy"] > 0.85 and fit.info["train_accuracy"] > 0.85
    assert (fit.info["pairs"], fit.info["segments"], fit.info["skipped"]) == (300, 600, 0)
    returns = predicted_returns(fit.reward, test, TrajectoryEncoder.for_reward("Pendulum-v1", fit.reward)).reshape(-1, 2)
    assert _accuracy(returns, test.labels()) > 0.85  # chance is 0.5; measured 0.96
    # normalised on the training segments' observations: every member has mean 0 there
    obs = torch.as_tensor(np.concatenate([train.segments().obs_a, train.segments().obs_b]).reshape(-1, 3))
    with torch.no_grad():
        assert abs(float(fit.reward(obs).mean())) < 1e-4


def _segment(state: int, length: int = 3) -> Segment:
    return Segment(np.full(length, state), np.zeros(length, np.int64), rews=np.full(length, float(state)))


def test_trex_trains_ties_as_half_and_drops_skipped_labels() -> None:
    """State 1 beats state 0 and ties with state 2: the learned returns put 1 and 2 level, above 0; the
    skipped comparisons change nothing (the fit equals the fit without them)."""
    mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
    s0, s1, s2, s3 = (_segment(s) for s in range(4))
    prefs = PreferenceDataset([Preference(s1, s0, 1.0), Preference(s0, s1, 0.0), Preference(s2, s1, 0.5), Preference(s1, s2, 0.5)])
    skipped = prefs + PreferenceDataset([Preference(s3, s0, "skipped"), Preference(s0, s2, "skipped")])
    cfg = TREXConfig(steps=400, lr=0.05, validation=0.0, normalize=False)
    fit = TREX(cfg).fit(skipped, mdp, rng=np.random.default_rng(0))
    r = fit.reward.values
    assert float(r[1] - r[0]) > 1.0 and abs(float(r[1] - r[2])) < 0.05 * float(r[1] - r[0])
    assert (fit.info["pairs"], fit.info["skipped"]) == (4, 2)
    assert torch.equal(TREX(cfg).fit(prefs, mdp, rng=np.random.default_rng(0)).reward.values, r)


def _ranked_feature_world() -> tuple:
    """Six 10-step demonstrations in a feature grid, each optimal for a random reward, ranked by true return."""
    world = feature_gridworld(6, seed=0, discount=0.9)
    rng = np.random.default_rng(0)
    demos = []
    for _ in range(6):
        w = torch.as_tensor(rng.standard_normal(4))
        pol = value_iteration(world.mdp, world.mdp.features @ (w / w.norm())).policy
        demos.append(sample_tabular(world.mdp, pol, 1, rng=rng, length=10, reward=world.reward)[0])
    return world, Ranking.from_dataset(demos, [tr.ret for tr in demos])


def _pairs_of(ranking: Ranking) -> PreferenceDataset:
    """Every strict pair the ranking implies, whole trajectories as segments (label ``P(first ≻ second)``)."""
    first, second, label = ranking.pairs(ties=False)
    return PreferenceDataset([Preference(ranking[i], ranking[j], y) for i, j, y in zip(first, second, label, strict=True)])


def test_trex_on_a_rankings_pairs_minimises_the_rankings_objective() -> None:
    """With whole trajectories (``snippet=None``), T-REX on a Ranking draws its pairs uniformly from every
    pair the ranking implies, so its expected loss is the mean Bradley–Terry loss over those pairs: the
    loss the fit on the PreferenceDataset of those pairs minimises. With L2 the minimiser is unique, and
    the two fits (different random streams) reach the same weights up to sampling noise."""
    world, ranking = _ranked_feature_world()
    cfg = TREXConfig(snippet=None, pairs=2000, steps=1500, lr=0.05, weight_decay=1e-2, validation=0.0)
    a = TREX(cfg).fit(ranking, world.mdp, rng=np.random.default_rng(0))
    b = TREX(cfg).fit(_pairs_of(ranking), world.mdp, rng=np.random.default_rng(0))
    wa, wb = (fit.info["model"].member(0).last_layer.weight.detach().reshape(-1) for fit in (a, b))
    assert float(wa @ wb / (wa.norm() * wb.norm())) > 0.99  # measured 0.9995
    assert float((wa - wb).norm() / wa.norm()) < 0.1
    assert a.info["train_accuracy"] == b.info["train_accuracy"] == 1.0


def test_trex_resumes_a_preference_fit_from_its_checkpoint(tmp_path) -> None:
    mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
    prefs = _oracle_preferences(
        [Trajectory(np.repeat(np.arange(4), 4), np.zeros(15, np.int64), rews=np.repeat(np.arange(4.0), 4)[:-1])], 30, 0, length=3
    )
    cfg = TREXConfig(architecture="mlp", hidden=(8,), ensemble=2, steps=30, lr=0.01, report_every=5)
    whole = TREX(cfg).fit(prefs, mdp, rng=np.random.default_rng(0))

    class Killed(Exception):
        pass

    def kill(step: int, metrics: dict[str, float]) -> None:
        if step > 40:  # in the second member, after a checkpoint of the first
            raise Killed

    with pytest.raises(Killed):
        TREX(cfg).fit(prefs, mdp, rng=np.random.default_rng(0), callback=kill, checkpoint=Checkpoint(tmp_path, 7))
    resumed = TREX(cfg).fit(prefs, mdp, rng=np.random.default_rng(0), checkpoint=Checkpoint(tmp_path, 7))
    assert torch.equal(whole.reward.values, resumed.reward.values)
    assert whole.info["val_accuracy"] == resumed.info["val_accuracy"]
    stopped: list[int] = []
    TREX(cfg).fit(prefs, mdp, rng=np.random.default_rng(0), callback=lambda step, m: stopped.append(step) or True)
    assert stopped == [5]


# ------------------------------------------------------------------------------------------ B-REX
def test_brex_on_a_rankings_pairs_is_the_brex_of_the_ranking() -> None:
    """B-REX on a ranking uses every strict pair of whole trajectories: the same differences and labels as
    the PreferenceDataset of those pairs, so the chains are identical."""
    world, ranking = _ranked_feature_world()
    cfg = BayesianREXConfig(samples=400, burn_in=100, thin=1, step_size=0.2)
    a = BayesianREX(cfg).fit(ranking, world.mdp, rng=np.random.default_rng(5))
    b = BayesianREX(cfg).fit(_pairs_of(ranking), world.mdp, rng=np.random.default_rng(5))
    assert torch.equal(a.posterior.samples, b.posterior.samples) and torch.equal(a.reward.values, b.reward.values)
    assert a.info["pairs"] == b.info["pairs"] == 15


def test_brex_posterior_mean_orders_held_out_oracle_pairs() -> None:
    world = feature_gridworld(6, seed=0, discount=0.9)
    mdp = world.mdp
    uniform = torch.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions, dtype=mdp.dtype)
    walks = sample_tabular(mdp, uniform, 40, rng=np.random.default_rng(0), length=20, reward=world.reward)
    train, test = _oracle_preferences(walks[:20], 60, 1, length=10), _oracle_preferences(walks[20:], 200, 2, length=10)
    cfg = BayesianREXConfig(samples=3000, burn_in=500, thin=1, step_size=0.05, adapt=True, estimate="mean")
    fit = BayesianREX(cfg).fit(train, mdp, rng=np.random.default_rng(0))
    w = fit.posterior.mean_weights()
    returns = (trajectory_features(test, mdp) @ w).reshape(-1, 2).numpy()
    assert _accuracy(returns, test.labels()) > 0.85  # chance is 0.5; measured 0.97
    assert fit.info["pairs"] == 60 and fit.info["feature_counts"].shape == (120, 4)
    assert fit.info["ranking_tau"] is None


def test_brex_on_preferences_pretrains_its_embedding_on_them() -> None:
    train = _pendulum_preferences(40, seed=0)
    pretrain = TREXConfig(hidden=(16,), steps=60, lr=1e-2)
    cfg = BayesianREXConfig(samples=500, burn_in=100, pretrain=pretrain)
    fit = BayesianREX(cfg).fit(train, "Pendulum-v1", rng=np.random.default_rng(0))
    assert fit.info["pretrain"]["pairs"] == 40 and fit.info["pairs"] == 40
    assert fit.info["feature_counts"].shape == (80, 16)


# ------------------------------------------------------------------------------------------ D-REX
_DREX = DREXConfig(
    bc_hidden=(8,),
    bc_epochs=20,
    schedule="custom",
    epsilons=(0.0, 0.5, 1.0),
    rollouts=2,
    max_steps=20,
    trex=TREXConfig(hidden=(8,), pairs=50, steps=10, snippet=(2, 5)),
)


def test_drex_clones_a_rankings_best_trajectories_and_refuses_preferences() -> None:
    demos = collect_rollouts("Pendulum-v1", _random_torques(0), 3, seed=0, max_steps=20)
    ranking = Ranking(demos, scores=[0.0, 1.0, 1.0])
    a = DREX(_DREX).fit(ranking, "Pendulum-v1", rng=np.random.default_rng(0))
    b = DREX(_DREX).fit(TrajectoryDataset([demos[1], demos[2]]), "Pendulum-v1", rng=np.random.default_rng(0))
    obs = torch.as_tensor(np.concatenate([tr.obs for tr in demos]))
    assert torch.equal(a.reward(obs), b.reward(obs)) and a.info["demonstrations"] == 2
    assert DREX(_DREX).fit(demos, "Pendulum-v1", rng=np.random.default_rng(0)).info["demonstrations"] == 3
    with pytest.raises(ValidationError, match=r"^data: is a PreferenceDataset\. Fix: D-REX learns from demonstrations"):
        DREX(_DREX).fit(_pendulum_preferences(4, seed=0), "Pendulum-v1", rng=np.random.default_rng(0))


# ------------------------------------------------------------------------------------------ bad inputs
def _cartpole_preferences() -> PreferenceDataset:
    seg = Segment(np.zeros((5, 4), np.float32), np.zeros(5, np.int64))
    return PreferenceDataset([Preference(seg, seg, 1.0)])


@pytest.mark.parametrize("learner", ["trex", "brex"])
def test_preferences_that_do_not_fit_are_refused_naming_data(learner: str) -> None:
    rng = np.random.default_rng(0)
    pretrain = TREXConfig(hidden=(8,), steps=5)
    fit = (
        TREX(TREXConfig(hidden=(8,), steps=5)).fit
        if learner == "trex"
        else BayesianREX(BayesianREXConfig(samples=10, burn_in=0, pretrain=pretrain)).fit
    )
    good = _pendulum_preferences(6, seed=0)
    with pytest.raises(ShapeError, match=r"^data\[0\]\.a\.obs: has per-step shape \(4,\), the observation space has \(3,\)"):
        fit(_cartpole_preferences(), "Pendulum-v1", rng=rng)
    spaces = (gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-2, 2, (2,), np.float32))
    with pytest.raises(ShapeError, match=r"^data\[0\]\.a\.acts: has per-step shape \(1,\), the action space has \(2,\)"):
        fit(good, spaces, rng=rng)
    with pytest.raises(ValidationError, match=r"^data\.env_id: is 'Pendulum-v1', but the env is 'MountainCarContinuous-v0'"):
        fit(good, "MountainCarContinuous-v0", rng=rng)
    all_skipped = PreferenceDataset([dataclasses.replace(p, label="skipped") for p in good], env_id="Pendulum-v1")
    with pytest.raises(ValidationError, match=r"^data: has no answered preference: all 6 are skipped"):
        fit(all_skipped, "Pendulum-v1", rng=rng)
    with pytest.raises(ValidationError, match=r"^data: holds no preferences"):
        fit(PreferenceDataset(), "Pendulum-v1", rng=rng)
    with pytest.raises(ValidationError, match=r"^scores: was given with a PreferenceDataset"):
        fit(good, "Pendulum-v1", rng=rng, scores=[1.0] * 6)
    mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
    outside = PreferenceDataset([Preference(_segment(1), _segment(2), 1.0), Preference(_segment(0), _segment(5), 0.0)])
    with pytest.raises(ValidationError, match=r"^data\[1\]\.b\.obs: holds 5 at step 0, outside the state indices \[0, 4\)"):
        fit(outside, mdp, rng=rng)


# ------------------------------------------------------------------------------------------ the run machinery
RUN = """
seed = 0
checkpoint_every = 10

[learner]
name = "trex"
hidden = [16]
steps = 100
lr = 0.003

[env]
id = "Pendulum-v1"

[data]
kind = "preferences"
path = "prefs"

[policy]
steps = 128
hyperparams = {n_steps = 64, n_envs = 1, n_epochs = 1}
eval_episodes = 1
"""


@pytest.fixture(scope="module")
def saved_preferences(tmp_path_factory):
    from rewardlab.data import save_preferences

    return save_preferences(_pendulum_preferences(40, seed=0), tmp_path_factory.mktemp("run") / "prefs")


def test_rewardlab_run_fits_trex_on_a_saved_preference_dataset(saved_preferences) -> None:
    import json

    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.data import load_preferences
    from rewardlab.eval import kendall_tau
    from rewardlab.rewards import NeuralReward

    config = saved_preferences.parent / "run.toml"
    config.write_text(RUN)
    out = saved_preferences.parent / "out"
    r = CliRunner().invoke(app, ["run", str(config), "--out", str(out)])
    assert r.exit_code == 0, r.output
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["data"] == {"kind": "preferences", "path": str(saved_preferences)}  # resolved against run.toml
    assert (result["pairs"], result["segments"], result["skipped"], result["env_id"]) == (40, 80, 0, "Pendulum-v1")
    # the recorded Kendall tau is the saved reward's predicted segment returns against the true ones
    prefs, model = load_preferences(saved_preferences), NeuralReward.load(out / "reward")
    predicted = predicted_returns(model, prefs, TrajectoryEncoder.for_reward("Pendulum-v1", model))
    true = np.array([[p.a.ret, p.b.ret] for p in prefs]).reshape(-1)
    assert result["metrics"]["kendall_tau"] == pytest.approx(kendall_tau(predicted, true))
    assert result["metrics"]["kendall_tau"] > 0.5 and result["metrics"]["val_accuracy"] > 0.6
    assert (out / "extrapolation.png").is_file() and (out / "policy" / "model.zip").is_file()
    assert result["policy"]["beats_best_demo"] is None and "preferences" in result["policy"]["beats_best_demo_reason"]
    assert len(list((out / "checkpoints").iterdir())) > 0  # T-REX's checkpoints: the run resumes


def test_rewardlab_prefs_brex_reads_preferences_and_bad_settings_are_refused(saved_preferences, tmp_path) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.errors import ConfigError, DataFileError
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.run import run_config
    from rewardlab.prefs import PreferencePosterior

    runner = CliRunner()
    brex = ["prefs", "brex", "--env", "Pendulum-v1", "--preferences", str(saved_preferences), "--out", str(tmp_path / "brex")]
    sets = ["--set", "samples=200", "--set", "burn_in=50", "--set", "pretrain.steps=20", "--set", "pretrain.hidden=8"]
    r = runner.invoke(app, brex + sets)
    assert r.exit_code == 0, r.output
    assert PreferencePosterior.load(tmp_path / "brex" / "posterior").samples.shape == (1, 10, 8)
    drex = runner.invoke(
        app, ["prefs", "drex", "--env", "Pendulum-v1", "--preferences", str(saved_preferences), "--out", str(tmp_path / "d")]
    )
    assert drex.exit_code != 0 and "--preferences: is 'preferences', but drex learns from demonstrations" in drex.output
    both = runner.invoke(app, [*brex[:-2], "--demos", str(tmp_path), "--out", str(tmp_path / "b")])
    assert both.exit_code != 0 and "--demos: or --preferences: both are given" in both.output

    table = {
        "learner": {"name": "trex"},
        "env": {"id": "MountainCarContinuous-v0"},
        "data": {"kind": "preferences", "path": str(saved_preferences)},
    }
    with pytest.raises(DataFileError, match=r"env_id is 'Pendulum-v1', but \[env\] id is 'MountainCarContinuous-v0'"):
        run_config(load_run_config(table), tmp_path / "other-env", progress=False)
    with pytest.raises(ConfigError, match=r"^data\.kind: is 'preferences', but drex"):
        load_run_config({**table, "learner": {"name": "drex"}})
    with pytest.raises(ConfigError, match=r"^eval\.hacking_check: is true for a run on preferences"):
        load_run_config({**table, "eval": {"hacking_check": True}, "policy": {"steps": 10}})
    with pytest.raises(ConfigError, match=r"^data\.path: "):
        load_run_config({**table, "data": {"kind": "preferences"}})
