"""Resumable fits (issue 18): a fit stopped part-way after a checkpoint and fitted again by a fresh learner
with the same checkpoint directory returns what an uninterrupted fit returns, bit for bit.

The stop is a callback that raises (what a kill does to the process, without a process); the real
SIGKILL of ``rewardlab run --resume`` is tested with the run command. Every resumable learner also passes
the ``resumes`` conformance check (tests/test_learner_conformance.py) on the tiny problems of
:mod:`rewardlab.checks`; here are the cases those do not reach (warm starts, ensembles, burn-in and
sampling phases, stages) and the refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rewardlab.checkpoint import Checkpoint
from rewardlab.errors import ConfigError
from rewardlab.learner import FitResult
from rewardlab.registry import LEARNERS


class Killed(Exception):
    """The simulated kill."""


def killed_at(step: int) -> Callable[[int, dict[str, float]], None]:
    """A callback that stops the fit (raises) when it reaches ``step``."""

    def callback(at: int, metrics: dict[str, float]) -> None:
        if at >= step:
            raise Killed

    return callback


def interrupted_then_resumed(fit: Callable[..., FitResult], directory: Path, every: int, kill_at: int) -> tuple[FitResult, int]:
    """Fit with a callback that kills at ``kill_at``, then again from the checkpoints; the resumed result
    and the step it resumed from."""
    with pytest.raises(Killed):
        fit(callback=killed_at(kill_at), checkpoint=Checkpoint(directory, every))
    resumed_from = Checkpoint(directory, every).latest_step
    assert resumed_from is not None and resumed_from < kill_at
    return fit(checkpoint=Checkpoint(directory, every)), resumed_from


def assert_same(a: FitResult, b: FitResult) -> None:
    values_a, values_b = getattr(a.reward, "values", None), getattr(b.reward, "values", None)
    if values_a is not None:
        assert torch.equal(values_a, values_b)
    if a.posterior is not None:
        assert torch.equal(a.posterior.samples, b.posterior.samples)
        assert torch.equal(a.posterior.log_likelihood, b.posterior.log_likelihood)
    assert a.history.to_dict() == b.history.to_dict()


def test_the_resumable_learners_are_the_iterative_deep_and_sampling_ones() -> None:
    resumable = {"maxent", "mce", "deep-maxent", "trex", "birl", "brex", "drex", "deep-lfl", "bc"}
    assert {n for n, s in LEARNERS.items() if s.resumable} >= resumable
    assert not {n for n, s in LEARNERS.items() if s.resumable} & {"projection", "max-margin", "mwal", "lfl"}


# ============================================================================ behavioural cloning (MLP)
def test_bc_mlp_resumes_its_network_adam_state_and_shuffling(tmp_path: Path, discounted_demos: tuple[Any, Any]) -> None:
    from rewardlab.irl.bc import BCConfig, BehaviouralCloning

    demos, mdp = discounted_demos
    cfg = BCConfig(model="mlp", hidden=(16,), epochs=30, batch_size=8, lr=0.01)  # minibatches: the shuffling's state matters

    def fit(**kw: Any) -> FitResult:
        return BehaviouralCloning(cfg).fit(demos, mdp, rng=np.random.default_rng(4), **kw)

    whole = fit()
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=4, kill_at=18)
    assert start == 15
    assert torch.equal(whole.policy, resumed.policy)
    assert whole.history.to_dict() == resumed.history.to_dict() and len(whole.history.steps) == 30
    assert _same_weights(whole.info["network"], resumed.info["network"])
    assert (whole.info["epochs"], whole.info["seed"]) == (resumed.info["epochs"], resumed.info["seed"]) == (30, whole.info["seed"])
    again = fit(checkpoint=Checkpoint(tmp_path, 4))  # from the checkpoint of the finished fit: nothing left to train
    assert torch.equal(whole.policy, again.policy) and again.info["epochs"] == 30


def test_bc_mlp_passes_the_resumes_check_and_tabular_bc_refits_the_same() -> None:
    from rewardlab.checks import learner_checks

    dict(learner_checks("bc", model="mlp", hidden=(8,), epochs=20, batch_size=16))["resumes"]()
    dict(learner_checks("bc"))["resumes"]()  # one closed-form step: fitted with a checkpoint, the same policy


# ============================================================================ deep learning from a learner
def _lfl_fit(stages: Any, space: Any, **kw: Any) -> FitResult:
    from rewardlab.irl.lfl_deep import DeepLearnerIRL, DeepLearnerIRLConfig

    cfg = DeepLearnerIRLConfig(hidden=(16,), steps=300, batch_size=64, policy_epochs=4, policy_hidden=(8,))
    return DeepLearnerIRL(cfg).fit(stages, space, rng=np.random.default_rng(8), **kw)


def _same_lfl(a: FitResult, b: FitResult) -> None:
    assert _same_weights(a.reward, b.reward) and _same_weights(a.info["potential"], b.info["potential"])
    for pa, pb in zip(a.info["policies"], b.info["policies"], strict=True):
        assert _same_weights(pa, pb)
    assert a.history.to_dict() == b.history.to_dict() and a.info["rmse"] == b.info["rmse"]


@pytest.fixture(scope="module")
def three_stages() -> tuple[Any, Any]:
    """Three stages of a one-step bandit learner (the checks' two, and a third further along)."""
    from rewardlab.checks import tiny_gym_problem
    from rewardlab.data import Trajectory, TrajectoryDataset

    problem = tiny_gym_problem("stages")
    rng = np.random.default_rng(1)
    s, s2 = rng.uniform(-1, 1, 64), rng.uniform(-1, 1, 64)
    a = 1.5 * s + 0.5 * rng.standard_normal(64)
    third = TrajectoryDataset([Trajectory(np.array([[s[i]], [s2[i]]], np.float32), np.array([[a[i]]], np.float32)) for i in range(64)])
    return [*problem.data, third], problem.mdp


def test_deep_lfl_resumes_its_reward_regression(tmp_path: Path, three_stages: tuple[Any, Any]) -> None:
    stages, space = three_stages
    whole = _lfl_fit(stages, space)
    resumed, start = interrupted_then_resumed(lambda **kw: _lfl_fit(stages, space, **kw), tmp_path, every=30, kill_at=200)
    assert start == 179
    _same_lfl(whole, resumed)


def test_deep_lfl_resumes_its_stage_policies_after_a_kill_between_stages(
    tmp_path: Path, three_stages: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed right after the first stage's policy was saved: the resumed fit fits the other two (each
    warm-started from the one before) from the saved random state, then the reward."""
    stages, space = three_stages
    whole = _lfl_fit(stages, space)
    save = Checkpoint.save

    def save_then_kill(self: Checkpoint, step: int, state: dict[str, Any]) -> Path:
        path = save(self, step, state)
        if self.directory.name == "policies" and step == 0:
            raise Killed
        return path

    monkeypatch.setattr(Checkpoint, "save", save_then_kill)
    with pytest.raises(Killed):
        _lfl_fit(stages, space, checkpoint=Checkpoint(tmp_path, 50))
    monkeypatch.undo()
    assert Checkpoint(tmp_path / "policies", 50).latest_step == 0 and Checkpoint(tmp_path, 50).latest_step is None
    resumed = _lfl_fit(stages, space, checkpoint=Checkpoint(tmp_path, 50))
    assert Checkpoint(tmp_path / "policies", 50).latest_step == 2 and Checkpoint(tmp_path, 50).latest_step == 299
    _same_lfl(whole, resumed)


def test_deep_lfl_refuses_a_checkpoint_of_other_stages_or_given_policies(tmp_path: Path, three_stages: tuple[Any, Any]) -> None:
    stages, space = three_stages
    first = _lfl_fit(stages, space, checkpoint=Checkpoint(tmp_path, 100))
    with pytest.raises(ConfigError, match="resume"):
        _lfl_fit(stages[:2], space, checkpoint=Checkpoint(tmp_path, 100))
    with pytest.raises(ConfigError, match="resume"):
        _lfl_fit(stages, space, checkpoint=Checkpoint(tmp_path, 100), policies=first.info["policies"])


# ============================================================================ Deep MaxEnt
@pytest.fixture(scope="module")
def discounted_demos() -> tuple[Any, Any]:
    """Demonstrations on a discounted world: Deep MaxEnt's stationary objective warm-starts each step."""
    from rewardlab.irl.experts import expert_demonstrations
    from rewardlab.mdp.worlds import objectworld

    world = objectworld(6, seed=0, discount=0.9)
    demos, _ = expert_demonstrations(world, 8, rng=np.random.default_rng(0), length=8)
    return demos, world.mdp


def test_deep_maxent_resumes_with_its_warm_start_dropout_and_adam_state(tmp_path: Path, discounted_demos: tuple[Any, Any]) -> None:
    from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL

    demos, mdp = discounted_demos
    cfg = DeepMaxEntConfig(iterations=30, hidden=(16, 16), dropout=0.5)

    def fit(**kw: Any) -> FitResult:
        return DeepMaxEntIRL(cfg).fit(demos, mdp, rng=np.random.default_rng(5), **kw)

    whole = fit()
    assert whole.info["model"] == "stationary"
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=4, kill_at=17)
    assert start == 15
    assert_same(whole, resumed)
    for a, b in zip(whole.info["network"].parameters(), resumed.info["network"].parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_other_settings_data_or_seed_is_refused(tmp_path: Path, discounted_demos: tuple[Any, Any]) -> None:
    from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL

    demos, mdp = discounted_demos
    cfg = DeepMaxEntConfig(iterations=6, hidden=(8,))
    DeepMaxEntIRL(cfg).fit(demos, mdp, rng=np.random.default_rng(0), checkpoint=Checkpoint(tmp_path, 2))
    others = [
        (DeepMaxEntConfig(iterations=6, hidden=(8,), lr=0.02), demos, 0),  # another setting
        (cfg, demos[:4], 0),  # other data
        (cfg, demos, 1),  # another seed
    ]
    for other_cfg, other_demos, seed in others:
        with pytest.raises(ConfigError, match="resume"):
            DeepMaxEntIRL(other_cfg).fit(other_demos, mdp, rng=np.random.default_rng(seed), checkpoint=Checkpoint(tmp_path, 2))


# ============================================================================ MaxEnt / MCE
@pytest.mark.parametrize(
    ("overrides", "kill_at", "every", "resumed_from"),
    [
        ({"optimizer": "gd", "lr": 0.05}, 23, 5, 19),
        ({"optimizer": "adam", "lr": 0.05, "l1": 0.01}, 23, 5, 19),
        ({"optimizer": "lbfgs"}, 9, 4, 7),  # replays the saved evaluations, then solves on
        ({"optimizer": "lbfgs", "tol": 1e-4, "l2": 1.0}, 9, 4, 7),  # resumed, then converges at evaluation 14
        ({"optimizer": "lbfgs", "tol": 1e-4, "l2": 1.0}, 10**6, 4, None),  # converged: refitted from the final checkpoint
    ],
    ids=["gd", "adam-l1", "lbfgs", "lbfgs-converges", "lbfgs-refit-after-convergence"],
)
def test_maxent_resumes_with_each_optimiser(
    tmp_path: Path, discounted_demos: tuple[Any, Any], overrides: dict[str, Any], kill_at: int, every: int, resumed_from: int | None
) -> None:
    from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL

    demos, mdp = discounted_demos
    cfg = MaxEntConfig(iterations=40, **overrides)

    def fit(**kw: Any) -> FitResult:
        return MaxEntIRL(cfg).fit(demos, mdp, rng=np.random.default_rng(0), **kw)

    whole = fit()
    assert whole.info["model"] == "stationary"
    if resumed_from is None:
        assert whole.info["converged"] and whole.info["iterations"] < 40
        fit(checkpoint=Checkpoint(tmp_path, every))
        resumed = fit(checkpoint=Checkpoint(tmp_path, every))
    else:
        resumed, start = interrupted_then_resumed(fit, tmp_path, every=every, kill_at=kill_at)
        assert start == resumed_from
    assert_same(whole, resumed)
    assert torch.equal(whole.reward.weights, resumed.reward.weights)
    assert torch.equal(whole.policy, resumed.policy)
    assert (whole.info["iterations"], whole.info["converged"]) == (resumed.info["iterations"], resumed.info["converged"])


# ============================================================================ T-REX
def _same_weights(a: Any, b: Any) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    ("kill_at", "every", "resumed_from"),
    [(55, 7, 49), (35, 30, 30)],  # in the second member's training; at the end of the first member (its accuracy not yet measured)
    ids=["mid-member", "member-boundary"],
)
def test_trex_ensemble_resumes_every_member_with_the_same_pairs_and_split(
    tmp_path: Path, kill_at: int, every: int, resumed_from: int
) -> None:
    from rewardlab.checks import tiny_problem
    from rewardlab.prefs.trex import TREX, TREXConfig

    problem = tiny_problem("rankings")
    cfg = TREXConfig(architecture="mlp", hidden=(8,), snippet=(2, 5), pairs=100, steps=30, lr=0.05, ensemble=3, report_every=5)

    def fit(**kw: Any) -> FitResult:
        return TREX(cfg).fit(problem.data, problem.mdp, rng=np.random.default_rng(3), **kw)

    whole = fit()
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=every, kill_at=kill_at)
    assert start == resumed_from
    assert_same(whole, resumed)
    assert _same_weights(whole.info["model"], resumed.info["model"])  # every member, and its normaliser
    assert (whole.info["train_accuracy"], whole.info["val_accuracy"]) == (resumed.info["train_accuracy"], resumed.info["val_accuracy"])


def test_trex_with_auxiliary_losses_resumes_their_heads_and_random_stream(tmp_path: Path) -> None:
    from rewardlab.checks import tiny_gym_problem
    from rewardlab.prefs.trex import TREX, TREXConfig

    problem = tiny_gym_problem("rankings")
    aux = ("inverse_dynamics", "forward_dynamics")
    cfg = TREXConfig(hidden=(8,), snippet=(2, 5), pairs=100, steps=30, lr=0.01, ensemble=2, report_every=5, aux=aux)

    def fit(**kw: Any) -> FitResult:
        return TREX(cfg).fit(problem.data, problem.mdp, rng=np.random.default_rng(3), **kw)

    whole = fit()
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=7, kill_at=45)
    assert start == 42
    assert _same_weights(whole.reward, resumed.reward)
    assert whole.history.to_dict() == resumed.history.to_dict()
    assert whole.info["aux_losses"] == resumed.info["aux_losses"]


# ============================================================================ the Metropolis-Hastings loop
class _Gauss:
    """A correlated 2-D Gaussian target without chain state."""

    precision = torch.tensor([[2.0, -1.5], [-1.5, 2.0]], dtype=torch.float64)

    def evaluate(self, theta: torch.Tensor, current: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
        return -0.5 * ((theta @ self.precision) * theta).sum(-1), torch.zeros(theta.shape[0], dtype=theta.dtype), None

    def select(self, accept: torch.Tensor, proposed: Any, current: Any) -> None:
        return None


@pytest.mark.parametrize(
    ("covariance", "kill_at", "every", "resumed_from"),
    [
        ("dense", 150, 9, 144),  # burn-in, inside an adaptation window, mid-chunk of draws
        ("dense", 270, 9, 261),  # the proposal re-shaped at step 189 (previous chunk), another window closes at 360 after the resume
        ("diagonal", 300, 256, 256),  # exactly at a chunk boundary
        ("dense", 560, 9, 558),  # sampling: half the kept samples are in the checkpoint
    ],
)
def test_metropolis_hastings_resumes_its_adaptation_draws_and_samples(
    tmp_path: Path, covariance: str, kill_at: int, every: int, resumed_from: int
) -> None:
    from rewardlab.mcmc import MHSettings, metropolis_hastings

    settings = MHSettings(samples=600, burn_in=400, thin=3, step_size=0.5, covariance=covariance, report_every=10)  # type: ignore[arg-type]

    def fit(**kw: Any) -> Any:
        gen = torch.Generator().manual_seed(4)
        initial = torch.randn(3, 2, generator=gen, dtype=torch.float64) * 3
        return metropolis_hastings(_Gauss(), initial, settings, generator=gen, **kw)

    whole = fit()
    with pytest.raises(Killed):
        fit(callback=killed_at(kill_at), checkpoint=Checkpoint(tmp_path, every))
    assert Checkpoint(tmp_path, every).latest_step == resumed_from
    resumed = fit(checkpoint=Checkpoint(tmp_path, every))
    for name in ("samples", "log_likelihood", "log_prior", "acceptance", "step_size", "scale_tril"):
        assert torch.equal(getattr(whole, name), getattr(resumed, name)), name
    assert not torch.equal(whole.scale_tril, torch.eye(2, dtype=torch.float64))  # the covariance did adapt


@pytest.mark.parametrize(
    "overrides",
    [
        {"solver": "policy"},  # each chain's warm-start policy and Q-features are part of the state
        {"solver": "value_iteration", "likelihood": "soft"},  # each chain's warm-start values
        {"sampler": "policywalk", "solver": "policy", "prior": "uniform", "step_size": 0.25},  # the lattice proposal
    ],
    ids=["policy", "soft-values", "policywalk"],
)
def test_bayesian_irl_resumes_its_chains_with_their_warm_starts(tmp_path: Path, overrides: dict[str, Any]) -> None:
    from rewardlab.irl.bayesian import BayesianIRL, BayesianIRLConfig
    from rewardlab.irl.experts import expert_demonstrations
    from rewardlab.mdp.worlds import feature_gridworld

    world = feature_gridworld(4, seed=0, discount=0.9)
    demos, _ = expert_demonstrations(world, 4, rng=np.random.default_rng(0), length=6)
    cfg = BayesianIRLConfig(samples=100, burn_in=100, thin=2, chains=2, report_every=10, **overrides)

    def fit(**kw: Any) -> FitResult:
        return BayesianIRL(cfg).fit(demos, world.mdp, rng=np.random.default_rng(2), **kw)

    whole = fit()
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=11, kill_at=150)
    assert start == 143
    assert_same(whole, resumed)


def test_brex_resumes_a_pretraining_killed_part_way_then_its_chain(tmp_path: Path) -> None:
    """A kill during B-REX's T-REX pretraining (simulated by that T-REX fit with B-REX's ``pretrain``
    checkpoint), then a B-REX fit that finishes the pretraining and samples, killed again and resumed."""
    from rewardlab.checks import tiny_gym_problem
    from rewardlab.data.ranking import ranking_scores
    from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig
    from rewardlab.prefs.trex import TREX, TREXConfig

    problem = tiny_gym_problem("rankings")
    pretrain = TREXConfig(hidden=(8,), pairs=100, steps=40, snippet=(3, 6), lr=1e-2, report_every=10)
    cfg = BayesianREXConfig(samples=300, burn_in=100, thin=1, step_size=0.05, adapt=True, report_every=50, pretrain=pretrain)

    def fit(**kw: Any) -> FitResult:
        return BayesianREX(cfg).fit(problem.data, problem.mdp, rng=np.random.default_rng(6), **kw)

    whole = fit()
    with pytest.raises(Killed):
        scores = ranking_scores(problem.data, None)
        TREX(pretrain).fit(
            problem.data,
            problem.mdp,
            rng=np.random.default_rng(6),
            scores=scores,
            callback=killed_at(20),
            checkpoint=Checkpoint(tmp_path, 8).child("pretrain"),
        )
    assert Checkpoint(tmp_path / "pretrain", 8).latest_step == 16
    resumed, start = interrupted_then_resumed(fit, tmp_path, every=8, kill_at=250)
    assert start == 248
    assert_same(whole, resumed)
    assert _same_weights(whole.reward, resumed.reward)
