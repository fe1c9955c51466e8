"""Every registered IRL learner passes the same checks (the scikit-learn ``check_estimator`` idea):
the estimator shape, determinism, a callback that can stop it, and recovery of a known expert."""

import dataclasses

import numpy as np
import pytest
import torch

from rewardlab.eval import policy_loss
from rewardlab.experiments.irl import METHODS, _agreement, expert_demonstrations, make_learner
from rewardlab.irl.bc import as_time_indexed
from rewardlab.learner import FitResult
from rewardlab.mdp import greedy_policy, value_iteration
from rewardlab.mdp.worlds import navigation_gridworld

FAST = {"mce": {"iterations": 100}, "maxent": {"iterations": 100}, "deep-maxent": {"iterations": 100}}


@pytest.fixture(scope="module")
def setting():
    world = navigation_gridworld("crossing")
    demos, expert = expert_demonstrations(world, 20, rng=np.random.default_rng(0))
    return world, demos, expert


@pytest.mark.parametrize("method", sorted(METHODS))
def test_learner_conformance(method, setting):
    world, demos, expert = setting
    learner = make_learner(method, **FAST.get(method, {}))
    assert dataclasses.is_dataclass(learner.config) and learner.config.__dataclass_params__.frozen
    result = learner.fit(demos, world.mdp, rng=np.random.default_rng(1))
    assert isinstance(result, FitResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.info = {}  # type: ignore[misc]
    again = make_learner(method, **FAST.get(method, {})).fit(demos, world.mdp, rng=np.random.default_rng(1))
    reward = getattr(result.reward, "values", None)
    if reward is not None:  # same seed, same reward; not a blank or constant one
        assert torch.equal(reward, again.reward.values)
        assert float(reward.max() - reward.min()) > 1e-6
        policy = value_iteration(world.mdp, reward).policy
    else:  # a policy learner (BC): judge its greedy policy (the smoothed one wanders off the route by design)
        assert torch.equal(result.policy, again.policy)
        policy = as_time_indexed(greedy_policy(result.policy), world.mdp.horizon)
    # the expert's route from the start is recovered: agreement on demonstrated states, no value lost
    assert _agreement(world, policy, expert, demos) >= 0.95
    assert policy_loss(world.mdp, world.reward, policy, initial="mdp") < 1e-6


@pytest.mark.parametrize("method", sorted(m for m in METHODS if m not in ("bc",)))
def test_callback_can_stop_iterative_learners(method, setting):
    world, demos, _ = setting
    steps = []
    make_learner(method, **FAST.get(method, {})).fit(
        demos, world.mdp, rng=np.random.default_rng(1), callback=lambda step, metrics: steps.append(step) or len(steps) >= 2
    )
    assert 1 <= len(steps) <= 2
