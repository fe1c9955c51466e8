"""Bad data is refused at the boundary, by every learner, with the field named (issue 17: indices,
demonstrations longer than a finite horizon, NaN and inf in), and a fit whose loss turns non-finite
stops with an error instead of returning a NaN model.

Every case runs on a 4-state chain (or 3-D vector observations) with a few optimisation steps."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.errors import ConvergenceError, ProbabilityError, RewardLabError, ShapeError, ValidationError
from rewardlab.irl.bayesian import BayesianIRL, BayesianIRLConfig, decision_counts
from rewardlab.irl.bc import BCConfig, BehaviouralCloning, tabular_bc_policy
from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL
from rewardlab.irl.feature_matching import Apprenticeship, ApprenticeshipConfig
from rewardlab.irl.lfl import LearnerIRL
from rewardlab.irl.lfl_deep import DeepLearnerIRL, DeepLearnerIRLConfig
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL
from rewardlab.irl.mwal import MWAL, MWALConfig
from rewardlab.mdp.worlds import chain
from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, pair_log_likelihood, sample_brex
from rewardlab.prefs.drex import DREX, DREXConfig
from rewardlab.prefs.losses import bradley_terry_loss
from rewardlab.prefs.trex import TREX, TREXConfig

RNG = np.random.default_rng
S, A, H = 4, 2, 3  # chain(4): states 0..3, actions stay / right; finite worlds have horizon 3
TINY_TREX = {"pairs": 8, "steps": 2, "snippet": (1, 2), "validation": 0.0, "hidden": (8,)}
TINY_BREX = {"samples": 20, "burn_in": 0, "thin": 1, "step_size": 0.2}


# ============================================================================ tabular learners
def _ranked(tr: Trajectory, rank: int) -> Trajectory:
    return Trajectory(tr.obs, tr.acts, tr.rews, tr.terminal, {"rank": rank})


def _stages(good: Trajectory, bad: Trajectory) -> list[TrajectoryDataset]:
    return [TrajectoryDataset([good, good]), TrajectoryDataset([good, bad])]


# name -> (fit(data, mdp), the MDP's horizon or None, how the data are wrapped, where the bad trajectory sits)
Fit = Callable[[Any, Any], Any]
TABULAR: dict[str, tuple[Fit, int | None, str]] = {
    "maxent-stationary": (lambda d, m: MaxEntIRL(MaxEntConfig(iterations=2)).fit(d, m, rng=RNG(0)), None, "demos"),
    "maxent-finite": (lambda d, m: MaxEntIRL(MaxEntConfig(iterations=2)).fit(d, m, rng=RNG(0)), H, "demos"),
    "deep-maxent": (
        lambda d, m: DeepMaxEntIRL(DeepMaxEntConfig(iterations=2, hidden=(4,), dropout=0.0)).fit(d, m, rng=RNG(0)),
        None,
        "demos",
    ),
    "deep-maxent-finite": (
        lambda d, m: DeepMaxEntIRL(DeepMaxEntConfig(iterations=2, hidden=(4,), dropout=0.0)).fit(d, m, rng=RNG(0)),
        H,
        "demos",
    ),
    "bc": (lambda d, m: BehaviouralCloning().fit(d, m, rng=RNG(0)), H, "demos"),
    "bc-mlp": (lambda d, m: BehaviouralCloning(BCConfig(model="mlp", epochs=1, hidden=(4,))).fit(d, m, rng=RNG(0)), None, "demos"),
    "projection": (lambda d, m: Apprenticeship(ApprenticeshipConfig(max_iter=2)).fit(d, m, rng=RNG(0)), H, "demos"),
    "max-margin": (
        lambda d, m: Apprenticeship(ApprenticeshipConfig(method="max_margin", max_iter=2)).fit(d, m, rng=RNG(0)),
        None,
        "demos",
    ),
    "mwal": (lambda d, m: MWAL(MWALConfig(iterations=2)).fit(d, m, rng=RNG(0)), H, "demos"),
    "birl": (
        lambda d, m: BayesianIRL(BayesianIRLConfig(reward="state", samples=10, burn_in=0, chains=1)).fit(d, m, rng=RNG(0)),
        None,
        "demos",
    ),
    "birl-finite": (
        lambda d, m: BayesianIRL(BayesianIRLConfig(reward="state", samples=10, burn_in=0, chains=1)).fit(d, m, rng=RNG(0)),
        H,
        "demos",
    ),
    "trex": (lambda d, m: TREX(TREXConfig(**TINY_TREX)).fit(d, m, rng=RNG(0)), None, "ranked"),
    "brex": (lambda d, m: BayesianREX(BayesianREXConfig(**TINY_BREX)).fit(d, m, rng=RNG(0)), None, "ranked"),
    "lfl": (lambda d, m: LearnerIRL().fit(d, m, rng=RNG(0)), None, "stages"),
}

GOOD = Trajectory(np.array([0, 1, 2, 3]), np.array([1, 1, 1]))
# name -> (bad trajectory, the field named, a phrase of the problem)
BAD_INDICES: dict[str, tuple[Trajectory, str, str]] = {
    "state -1": (Trajectory(np.array([0, 1, -1, 3]), np.array([1, 1, 1])), "obs", "holds -1 at step 2"),
    "state S": (Trajectory(np.array([0, 1, S, 3]), np.array([1, 1, 1])), "obs", f"holds {S} at step 2"),
    "action -1": (Trajectory(np.array([0, 1, 2, 3]), np.array([1, -1, 1])), "acts", "holds -1 at step 1"),
    "action A": (Trajectory(np.array([0, 1, 2, 3]), np.array([1, A, 1])), "acts", f"holds {A} at step 1"),
    "float state 1.5": (Trajectory(np.array([0.0, 1.5, 2.0, 3.0]), np.array([1, 1, 1])), "obs", "1.5 at step 1"),
}


def _world(horizon: int | None):
    return chain(S, horizon=horizon) if horizon is not None else chain(S, discount=0.9)


def _data(kind: str, bad: Trajectory) -> tuple[Any, str]:
    """The learner's data holding ``bad`` second, and the prefix of the field that names it."""
    if kind == "ranked":
        return TrajectoryDataset([_ranked(GOOD, 1), _ranked(bad, 0)]), "data[1]"
    if kind == "stages":
        return _stages(GOOD, bad), "data[1][1]"
    return TrajectoryDataset([GOOD, bad]), "data[1]"


@pytest.mark.parametrize("case", sorted(BAD_INDICES))
@pytest.mark.parametrize("learner", sorted(TABULAR))
def test_every_tabular_learner_refuses_bad_indices_naming_trajectory_and_step(learner: str, case: str) -> None:
    fit, horizon, kind = TABULAR[learner]
    bad, field, phrase = BAD_INDICES[case]
    data, prefix = _data(kind, bad)
    with pytest.raises(ValidationError) as err:
        fit(data, _world(horizon))
    assert err.value.field == f"{prefix}.{field}"
    assert phrase in err.value.problem


@pytest.mark.parametrize("learner", sorted(name for name, (_, horizon, _) in TABULAR.items() if horizon is not None))
def test_demonstrations_longer_than_a_finite_horizon_are_refused(learner: str) -> None:
    fit, horizon, kind = TABULAR[learner]
    long = Trajectory(np.array([0, 1, 2, 3, 3]), np.array([1, 1, 1, 0]))  # 4 decisions, horizon 3
    data, prefix = _data(kind, long)
    with pytest.raises(ValidationError) as err:
        fit(data, _world(horizon))
    assert err.value.field == prefix
    assert "more than the MDP's horizon 3" in err.value.problem


def test_maxent_on_too_long_demonstrations_no_longer_diverges_silently() -> None:
    """The issue's case: MaxEnt on a finite-horizon MDP fed longer demonstrations drove the reward to ~1e11."""
    mdp = chain(S, horizon=2)
    demos = TrajectoryDataset([Trajectory(np.array([0, 1, 2, 3, 3, 3]), np.array([1, 1, 1, 0, 0]))] * 5)
    with pytest.raises(ValidationError, match=r"data\[0\]: has 5 decisions, more than the MDP's horizon 2"):
        MaxEntIRL(MaxEntConfig(reward="state", optimizer="gd", lr=1.0, iterations=50)).fit(demos, mdp, rng=RNG(0))


def test_whole_number_floats_are_refused_too_with_the_cast_in_the_fix() -> None:
    data = TrajectoryDataset([Trajectory(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1, 1, 1]))])
    with pytest.raises(ValidationError) as err:
        MaxEntIRL(MaxEntConfig(iterations=2)).fit(data, _world(None), rng=RNG(0))
    assert err.value.field == "data[0].obs" and "float64" in err.value.problem and ".astype(int)" in err.value.fix


def test_decision_counts_and_tabular_bc_policy_share_the_index_check() -> None:
    with pytest.raises(ValidationError) as err:
        decision_counts([GOOD, BAD_INDICES["state -1"][0]], _world(None))
    assert err.value.field == "demonstrations[1].obs" and "holds -1 at step 2" in err.value.problem
    with pytest.raises(ValidationError) as err:
        tabular_bc_policy([0, 1], [0, -1], S, A)
    assert err.value.field == "actions" and "holds -1 at index 1" in err.value.problem


# ============================================================================ Gymnasium learners
SPACES = (gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32))


def _vector_trajectory(t: int, seed: int, rank: int = 0) -> Trajectory:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(t + 1, 3)).astype(np.float32)
    return Trajectory(obs, rng.uniform(-1, 1, size=(t, 1)).astype(np.float32), infos={"rank": rank})


def _spoilt(field: str, value: float) -> Trajectory:
    tr = _vector_trajectory(6, 1)
    obs, acts = tr.obs.copy(), tr.acts.copy()
    (obs if field == "obs" else acts)[4, 0] = value
    return Trajectory(obs, acts, infos={"rank": 0})


GYM: dict[str, Fit] = {
    "trex": lambda d, e: TREX(TREXConfig(**TINY_TREX)).fit(d, e, rng=RNG(0)),
    "brex": lambda d, e: BayesianREX(BayesianREXConfig(**TINY_BREX, pretrain=TREXConfig(**TINY_TREX))).fit(d, e, rng=RNG(0)),
    "lfl-deep": lambda d, e: DeepLearnerIRL(DeepLearnerIRLConfig(steps=2, hidden=(8,), policy_hidden=(8,), policy_epochs=1)).fit(
        d, e, rng=RNG(0)
    ),
}
GYM_BAD = {
    "NaN obs": ("obs", float("nan"), "holds nan at step 4"),
    "inf obs": ("obs", float("inf"), "holds inf at step 4"),
    "NaN action": ("acts", float("nan"), "holds nan at step 4"),
}


def _gym_data(learner: str, bad: Trajectory) -> tuple[Any, str]:
    good = _vector_trajectory(6, 0, rank=1)
    if learner == "lfl-deep":
        return [TrajectoryDataset([good]), TrajectoryDataset([good, bad])], "stages[1][1]"
    return TrajectoryDataset([good, bad]), "data[1]"


@pytest.mark.parametrize("case", sorted(GYM_BAD))
@pytest.mark.parametrize("learner", sorted(GYM))
def test_gymnasium_learners_refuse_non_finite_data_naming_the_field(learner: str, case: str) -> None:
    field, value, phrase = GYM_BAD[case]
    data, prefix = _gym_data(learner, _spoilt(field, value))
    with pytest.raises(ValidationError) as err:
        GYM[learner](data, SPACES)
    assert err.value.field == f"{prefix}.{field}" and phrase in err.value.problem


@pytest.mark.parametrize("learner", sorted(GYM))
def test_gymnasium_learners_refuse_observations_of_another_shape(learner: str) -> None:
    tr = _vector_trajectory(6, 1)
    data, prefix = _gym_data(learner, Trajectory(np.zeros((7, 4), np.float32), tr.acts, infos={"rank": 0}))
    with pytest.raises(ShapeError) as err:
        GYM[learner](data, SPACES)
    assert err.value.field == f"{prefix}.obs" and "(4,)" in err.value.problem and "(3,)" in err.value.problem


def test_discrete_actions_out_of_range_are_refused() -> None:
    spaces = (SPACES[0], gym.spaces.Discrete(3))
    obs = np.zeros((4, 3), np.float32)
    data = [Trajectory(obs, np.array([0, 1, 2]), infos={"rank": 1}), Trajectory(obs, np.array([0, 3, 1]), infos={"rank": 0})]
    with pytest.raises(ValidationError) as err:
        TREX(TREXConfig(**TINY_TREX, use_action=True)).fit(data, spaces, rng=RNG(0))
    assert err.value.field == "data[1].acts" and "holds 3 at step 1" in err.value.problem


def test_drex_refuses_nan_demonstrations_before_cloning_them() -> None:
    cfg = DREXConfig(
        schedule="custom", epsilons=(0.0, 1.0), rollouts=1, max_steps=4, bc_epochs=1, bc_hidden=(4,), trex=TREXConfig(**TINY_TREX)
    )
    demos = [_vector_trajectory(6, 0), _spoilt("obs", float("nan"))]
    with pytest.raises(ValidationError) as err:
        DREX(cfg).fit(demos, "Pendulum-v1", rng=RNG(0))
    assert err.value.field == "data[1].obs" and "nan" in err.value.problem


# ============================================================================ samplers and labels
BAD_POLICIES = {
    "NaN row": (np.nan, "policy[s=2]", "NaN"),
    "negative row": (-0.5, "policy[s=2]", "negative"),
    "unnormalised row": (0.9, "policy[s=2]", "sums to 1.4"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_sample_tabular_refuses_policies_that_are_not_distributions(case: str) -> None:
    value, field, phrase = BAD_POLICIES[case]
    pi = np.full((S, A), 0.5)
    pi[2, 0] = value
    with pytest.raises(ProbabilityError) as err:
        sample_tabular(_world(None), pi, 3, rng=RNG(0), length=3)
    assert err.value.field == field and phrase in err.value.problem
    time_indexed = np.stack([np.full((S, A), 0.5), pi])
    with pytest.raises(ProbabilityError) as err:
        sample_tabular(_world(2), time_indexed, 3, rng=RNG(0))
    assert err.value.field == "policy[t=1, s=2]"


def test_sample_tabular_refuses_a_bad_initial_distribution_and_non_finite_rewards() -> None:
    with pytest.raises(ProbabilityError) as err:
        sample_tabular(_world(None), np.full((S, A), 0.5), 3, rng=RNG(0), length=3, initial=[np.nan, 1.0, 0.0, 0.0])
    assert err.value.field == "initial"
    with pytest.raises(ValidationError) as err:
        sample_tabular(_world(None), np.full((S, A), 0.5), 3, rng=RNG(0), length=3, reward=[0.0, np.inf, 0.0, 0.0])
    assert err.value.field == "reward"


def test_learner_irl_refuses_nan_stage_policies() -> None:
    pi = torch.full((S, A), 0.5, dtype=torch.float64)
    bad = pi.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ProbabilityError) as err:
        LearnerIRL().fit([pi, bad], _world(None), rng=RNG(0))
    assert err.value.field == "data[1][s=1]"


@pytest.mark.parametrize("label", [2.0, -1.0, 0.7, float("nan")])
def test_preference_labels_outside_0_half_1_are_refused(label: float) -> None:
    labels = np.array([1.0, label])
    delta = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValidationError) as err:
        sample_brex(delta, labels, BayesianREXConfig(**TINY_BREX), rng=RNG(0))
    assert err.value.field == "label[1]"
    with pytest.raises(ValidationError) as err:
        pair_log_likelihood(torch.ones(1, 2), torch.as_tensor(delta), torch.as_tensor(labels), beta=1.0)
    assert err.value.field == "label[1]"
    with pytest.raises(ValidationError) as err:
        bradley_terry_loss(torch.zeros(2), torch.zeros(2), torch.as_tensor(labels, dtype=torch.float32))
    assert err.value.field == "target[1]"


# ============================================================================ non-finite training
def _assert_stopped(err: pytest.ExceptionInfo[ConvergenceError], quantity: str) -> None:
    assert isinstance(err.value, ArithmeticError) and isinstance(err.value, RewardLabError)
    message = str(err.value)
    assert message.startswith(quantity) and re.search(r"is (nan|-?inf) at (step|epoch) \d+", message) and "lower" in message


def test_trex_whose_loss_diverges_raises_instead_of_returning_a_nan_reward() -> None:
    data = [_vector_trajectory(10, k, rank=k) for k in range(3)]
    cfg = TREXConfig(**{**TINY_TREX, "steps": 20, "lr": 1e30, "hidden": (16, 16)})
    with pytest.raises(ConvergenceError) as err:
        TREX(cfg).fit(data, SPACES, rng=RNG(0))
    _assert_stopped(err, "T-REX loss")


def test_deep_maxent_whose_reward_diverges_raises() -> None:
    demos = sample_tabular(_world(None), np.full((S, A), 0.5), 5, rng=RNG(0), length=3)
    cfg = DeepMaxEntConfig(iterations=20, lr=1e30, hidden=(8, 8), dropout=0.0, weight_decay=0.0)
    with pytest.raises(ConvergenceError) as err:
        DeepMaxEntIRL(cfg).fit(demos, _world(None), rng=RNG(0))
    _assert_stopped(err, "Deep MaxEnt")


def test_bc_mlp_whose_loss_diverges_raises() -> None:
    demos = sample_tabular(_world(None), np.full((S, A), 0.5), 5, rng=RNG(0), length=3)
    with pytest.raises(ConvergenceError) as err:
        BehaviouralCloning(BCConfig(model="mlp", epochs=20, lr=1e200, hidden=(8, 8))).fit(demos, _world(None), rng=RNG(0))
    _assert_stopped(err, "BC")


def test_deep_lfl_whose_loss_diverges_raises() -> None:
    stages = [TrajectoryDataset([_vector_trajectory(8, 2 * k), _vector_trajectory(8, 2 * k + 1)]) for k in range(2)]
    cfg = DeepLearnerIRLConfig(steps=20, lr=1e30, hidden=(16, 16), policy_hidden=(8,), policy_epochs=2)
    with pytest.raises(ConvergenceError) as err:
        DeepLearnerIRL(cfg).fit(stages, SPACES, rng=RNG(0))
    _assert_stopped(err, "LfL")
