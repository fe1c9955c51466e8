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
    assert {n for n, s in LEARNERS.items() if s.resumable} >= {"deep-maxent", "trex"}
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
