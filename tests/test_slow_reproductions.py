"""Slow reproductions (run with ``pytest -m slow``): small slices of the benchmarks in ``benchmarks/``."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.slow
@pytest.mark.parametrize(("world", "deep_at_most"), [("objectworld-continuous", 3.0), ("binaryworld", 1.5)])
def test_deep_maxent_beats_linear_maxent_on_objectworld_slice(world, deep_at_most):
    """One seed, N = 64 of benchmarks/objectworld.py: Deep MaxEnt well below the linear plateau."""
    import objectworld as bench
    from rewardlab.eval import expected_value_difference

    train = bench.WORLDS[world](0)
    demos = bench.demonstrations(train, 64, 0, bench.EPSILON)
    evd = {}
    for name, make in bench.LEARNERS.items():
        result = make().fit(demos, train.mdp, rng=np.random.default_rng(0))
        evd[name] = expected_value_difference(train.mdp, train.reward, bench.learned_reward_on(result, name, train))
    assert evd["deep-maxent"] <= deep_at_most
    assert evd["deep-maxent"] < 0.5 * evd["maxent"]
