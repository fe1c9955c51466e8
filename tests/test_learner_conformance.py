"""Every registered learner that runs on tabular worlds passes the same checks (rewardlab.checks, the
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
}

CASES = [(name, check) for name in learners_for(space="tabular") for check, _ in learner_checks(name, **FAST.get(name, {}))]


@pytest.mark.parametrize(("name", "check"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_learner_check(name: str, check: str) -> None:
    dict(learner_checks(name, **FAST.get(name, {})))[check]()


def test_every_tabular_learner_is_checked_including_the_ranking_learners() -> None:
    checked = {name for name, _ in CASES}
    assert checked == {n for n, s in LEARNERS.items() if "tabular" in s.spaces}
    assert {"trex", "brex", "lfl", "birl", "bc"} <= checked


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
