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
    assert {n for n, s in LEARNERS.items() if s.resumable} >= {"maxent", "mce", "deep-maxent", "trex", "birl", "brex", "drex"}
    assert not {n for n, s in LEARNERS.items() if s.resumable} & {"projection", "max-margin", "mwal", "lfl"}


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
