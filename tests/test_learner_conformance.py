"""Every registered learner, on each space it runs on (tabular worlds, Gymnasium), passes the same checks (rewardlab.checks, the
scikit-learn ``check_estimator`` idea): the estimator shape, untouched inputs, determinism, a callback
that can stop it, a reward that saves and loads, bad data refused, and recovery of a known reward."""

import pytest

from rewardlab.checks import learner_checks
from rewardlab.errors import LearnerCheckError
from rewardlab.registry import LEARNERS, learners_for

#: small budgets keep every check a fraction of a second
FAST = {
    "mce": {"iterations": 100},
    "maxent": {"iterations": 100},
    "deep-maxent": {"iterations": 100},
    "trex": {"snippet": None, "pairs": 300, "steps": 200, "lr": 0.05, "validation": 0.0},
    "brex": {"samples": 2000, "burn_in": 500, "thin": 1, "step_size": 0.05},
    "birl": {"samples": 1000, "burn_in": 500, "thin": 2},
    "active-linear": {"queries": 15, "trajectories": 40, "pairs": 200, "chains": 8, "samples": 40, "burn_in": 40},
}

#: the same on Gymnasium spaces
GYM_FAST = {
    "trex": {"hidden": (16,), "pairs": 200, "steps": 150, "snippet": (5, 10), "lr": 1e-2},
    "brex": {"samples": 1000, "burn_in": 200},
    "drex": {"bc_hidden": (8,), "bc_epochs": 20, "schedule": "custom", "epsilons": (0.0, 0.5, 1.0), "rollouts": 2, "max_steps": 20},
    "relent-gym": {"features": 16, "segment": 10, "episodes": 2, "max_steps": 20, "iterations": 20},
    "deep-lfl": {"hidden": (16,), "steps": 50, "policy_epochs": 5, "policy_hidden": (8,)},
    # two rounds of 2 x 32 steps (the callback can stop after the first)
    "gail": {
        "steps": 128,
        "hidden": (8,),
        "eval_episodes": 1,
        "hyperparams": {"n_envs": 2, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    },
    "airl": {
        "steps": 128,
        "hidden": (8,),
        "eval_episodes": 1,
        "hyperparams": {"n_envs": 2, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    },
    # two rounds of 2 x 32 steps, segments of 4 steps (the demonstrations last 20)
    "gcl": {
        "steps": 128,
        "segment": 4,
        "hidden": (8,),
        "eval_episodes": 1,
        "hyperparams": {"n_envs": 2, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    },
    # rounds of 256 steps per env, longer than an episode (200): a resumed round finds finished episodes to cut
    "rlhf": {
        "steps": 1536,
        "labels": 8,
        "segment": 10,
        "feedback_every": 512,
        "eval_episodes": 1,
        "hyperparams": {"n_steps": 128, "n_envs": 2},
    },
}


def _settings(name: str, space: str) -> dict:
    if space == "tabular":
        return FAST.get(name, {})
    settings = dict(GYM_FAST.get(name, {}))
    if name == "brex":
        from rewardlab.prefs.trex import TREXConfig

        settings["pretrain"] = TREXConfig(hidden=(16,), pairs=200, steps=100, snippet=(5, 10), lr=1e-2)
    if name == "drex":
        from rewardlab.prefs.trex import TREXConfig

        settings["trex"] = TREXConfig(hidden=(8,), pairs=50, steps=10, snippet=(2, 5))
    if name == "rlhf":
        from rewardlab.prefs.reward_trainer import RewardTrainerConfig

        settings["reward"] = RewardTrainerConfig(members=2, hidden=(16,), batch_size=8, steps_per_round=10)
    return settings


CASES = [
    (name, space, check)
    for space in ("tabular", "gym")
    for name in learners_for(space=space)
    for check, _ in learner_checks(name, space, **_settings(name, space))
]


@pytest.mark.parametrize(("name", "space", "check"), CASES, ids=[f"{n}-{s}-{c}" for n, s, c in CASES])
def test_learner_check(name: str, space: str, check: str) -> None:
    dict(learner_checks(name, space, **_settings(name, space)))[check]()


def test_every_learner_is_checked_on_every_space_including_the_ranking_learners() -> None:
    checked = {(name, space) for name, space, _ in CASES}
    assert checked == {(n, sp) for n, s in LEARNERS.items() for sp in s.spaces}
    assert {("trex", "tabular"), ("brex", "tabular"), ("trex", "gym"), ("drex", "gym"), ("deep-lfl", "gym"), ("rlhf", "gym")} <= checked


def test_a_learner_that_breaks_the_contract_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner whose result depends on the global RNG rather than its ``rng`` fails ``same_seed``."""
    import torch

    from rewardlab.irl.maxent import MaxEntIRL

    original = MaxEntIRL.fit

    def noisy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(self, *args, **kwargs)
        result.reward.values.add_(torch.rand(()))
        return result

    monkeypatch.setattr(MaxEntIRL, "fit", noisy)
    with pytest.raises(LearnerCheckError, match=r"maxent\.same_seed"):
        dict(learner_checks("maxent", iterations=20))["same_seed"]()
