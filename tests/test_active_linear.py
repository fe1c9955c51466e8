"""Active preference learning of a linear reward (rewardlab.prefs.active_linear) and its `rewardlab run` path.

The strategies' picks on hand-made feature sets are tested in test_queries.py; here: the posterior, the
identified cosine, determinism, the learner's loop and the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.experiments.config import TeacherData, load_run_config
from rewardlab.experiments.run import run_config
from rewardlab.mcmc import MHSettings
from rewardlab.mdp.worlds import feature_gridworld
from rewardlab.prefs.active_linear import (
    ActivePreferenceConfig,
    ActivePreferenceLearner,
    difference_basis,
    identified_cosine,
    sample_weight_posterior,
)
from rewardlab.prefs.teachers import TeacherLabels

SMALL = {"queries": 12, "trajectories": 40, "pairs": 200, "chains": 8, "samples": 40, "burn_in": 40}


def _posterior_mean_cosine(n_labels: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    truth = np.array([0.6, -0.8, 0.0])
    delta = rng.normal(scale=3.0, size=(n_labels, 3))
    labels = (delta @ truth >= 0).astype(float)  # the oracle: the larger return wins
    gen = torch.Generator().manual_seed(seed)
    init = torch.nn.functional.normalize(torch.randn(16, 3, generator=gen, dtype=torch.float64), dim=1)
    settings = MHSettings(samples=200, burn_in=300, thin=2, step_size=0.3, sphere=True, covariance="identity")
    chains = sample_weight_posterior(torch.as_tensor(delta), torch.as_tensor(labels), 1.0, init, settings, generator=gen)
    samples = chains.samples.reshape(-1, 3)
    assert torch.allclose(samples.norm(dim=1), torch.ones(len(samples), dtype=torch.float64))  # on the sphere
    return identified_cosine(samples.mean(0).numpy(), truth)


def test_posterior_concentrates_toward_the_true_weights_with_many_oracle_labels() -> None:
    few, many = _posterior_mean_cosine(5), _posterior_mean_cosine(300)
    assert many > 0.99
    assert many > few


def test_with_no_labels_the_posterior_is_the_uniform_prior_on_the_sphere() -> None:
    gen = torch.Generator().manual_seed(1)
    init = torch.nn.functional.normalize(torch.randn(32, 3, generator=gen, dtype=torch.float64), dim=1)
    settings = MHSettings(samples=400, burn_in=100, thin=4, step_size=0.5, sphere=True, covariance="identity")
    empty = torch.zeros(0, 3, dtype=torch.float64)
    out = sample_weight_posterior(empty, torch.zeros(0, dtype=torch.float64), 1.0, init, settings, generator=gen)
    samples = out.samples.reshape(-1, 3)
    # uniform on the 2-sphere: mean 0, each coordinate's second moment 1/3
    assert samples.mean(0).abs().max() < 0.05
    np.testing.assert_allclose(samples.square().mean(0).numpy(), 1 / 3, atol=0.03)


def test_one_hot_counts_identify_weights_only_up_to_a_constant_per_step() -> None:
    world = feature_gridworld(5, seed=0)
    fit = ActivePreferenceLearner(ActivePreferenceConfig(**SMALL)).fit(world.weights, world.mdp, rng=np.random.default_rng(0))
    assert fit.info["identified_dims"] == 3  # 4 one-hot features, equal lengths: every difference sums to 0
    diffs = np.array([[2.0, -1.0, -1.0, 0.0], [0.0, 3.0, 0.0, -3.0], [1.0, 1.0, -1.0, -1.0]])
    basis = difference_basis(diffs)
    w = np.array([0.3, -0.2, 0.5, 0.1])
    assert identified_cosine(w + 7.0, w, basis) == pytest.approx(1.0)  # a constant reward per step changes no answer
    assert identified_cosine(w + 7.0, w) < 0.6  # the plain cosine would count it


def test_same_seed_same_fit_and_strategies_share_candidates_and_first_query() -> None:
    world = feature_gridworld(5, seed=2, n_features=5)
    fits = {
        strategy: ActivePreferenceLearner(ActivePreferenceConfig(strategy=strategy, **SMALL)).fit(
            world.weights, world.mdp, rng=np.random.default_rng(4)
        )
        for strategy in ("information_gain", "uniform")
    }
    again = ActivePreferenceLearner(ActivePreferenceConfig(strategy="information_gain", **SMALL)).fit(
        world.weights, world.mdp, rng=np.random.default_rng(4)
    )
    ig = fits["information_gain"]
    assert torch.equal(ig.reward.values, again.reward.values) and torch.equal(ig.posterior.samples, again.posterior.samples)
    assert ig.history.to_dict() == again.history.to_dict() and ig.info["pairs"] == again.info["pairs"]
    # a paired comparison: same candidate set, same (uniform) first query, then the strategies differ
    assert ig.info["candidate_pairs"] == fits["uniform"].info["candidate_pairs"]
    assert ig.info["pairs"][0] == fits["uniform"].info["pairs"][0]
    assert ig.info["pairs"] != fits["uniform"].info["pairs"]
    assert len(set(map(tuple, ig.info["pairs"]))) == SMALL["queries"]  # never the same query twice


def test_oracle_teacher_labels_agree_with_the_true_returns() -> None:
    world = feature_gridworld(5, seed=1)
    fit = ActivePreferenceLearner(ActivePreferenceConfig(teacher="oracle", **SMALL)).fit(
        world.weights, world.mdp, rng=np.random.default_rng(0)
    )
    assert set(fit.info["labels"]) <= {0.0, 1.0} and fit.history["answered"][-1] == SMALL["queries"]
    assert fit.history["cosine"][-1] > 0.9


class _SkipsEverything:
    """A teacher who declines every query (the Teacher protocol)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def label(self, rewards_a, rewards_b, *, rng, pairs=None):  # type: ignore[no-untyped-def]
        self.asked += [tuple(p) for p in np.asarray(pairs).tolist()]
        return TeacherLabels(np.full(len(rewards_a), np.nan), np.ones(len(rewards_a), dtype=bool))


def test_a_given_teacher_answers_and_skipped_queries_spend_labels_but_leave_the_prior() -> None:
    world = feature_gridworld(5, seed=0)
    teacher = _SkipsEverything()
    fit = ActivePreferenceLearner(ActivePreferenceConfig(**SMALL)).fit(
        world.weights, world.mdp, rng=np.random.default_rng(0), teacher=teacher
    )
    assert teacher.asked == [tuple(p) for p in fit.info["pairs"]] and len(teacher.asked) == SMALL["queries"]
    assert fit.history["answered"] == [0.0] * SMALL["queries"]
    assert fit.posterior.samples.reshape(-1, 4).mean(0).abs().max() < 0.2  # still the uniform prior on the sphere


def test_bad_data_and_settings_are_named() -> None:
    world = feature_gridworld(4, seed=0)
    learner = ActivePreferenceLearner(ActivePreferenceConfig(**SMALL))
    with pytest.raises(ShapeError, match=r"^data"):
        learner.fit(np.ones(3), world.mdp, rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match=r"^data"):
        learner.fit(None, world.mdp, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"^strategy"):
        ActivePreferenceConfig(strategy="disagreement")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'oracle'"):
        ActivePreferenceConfig(teacher="oracel")


def _table(**learner: object) -> dict:
    return {
        "seed": 3,
        "figures": False,
        "learner": {"name": "active-linear", **SMALL, **learner},
        "world": {"name": "featuregrid", "size": 5},
    }


def test_rewardlab_run_writes_queries_to_target_and_the_cosine_curve(tmp_path: Path) -> None:
    cfg = load_run_config(_table())
    assert isinstance(cfg.data, TeacherData) and cfg.kind == "tabular"
    result = run_config(cfg, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["metrics"] == result["metrics"]
    cosines = saved["curve"]["cosine"]
    assert saved["curve"]["queries"] == [float(n) for n in range(1, SMALL["queries"] + 1)]
    first = next((n for n, c in enumerate(cosines, 1) if c >= 0.9), SMALL["queries"] + 1)
    assert saved["metrics"]["queries_to_0.9"] == first and saved["metrics"]["reached_0.9"] == float(first <= SMALL["queries"])
    assert saved["metrics"]["final_cosine"] == cosines[-1]
    assert {"evd", "policy_loss", "mean_cosine"} <= set(saved["metrics"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["cosine"] for line in lines] == cosines
    assert (tmp_path / "run" / "reward").is_dir() and (tmp_path / "run" / "posterior").is_dir()


def test_a_run_that_never_reaches_the_target_counts_as_budget_plus_one(tmp_path: Path) -> None:
    result = run_config(load_run_config(_table(target=1.0)), tmp_path / "run", progress=False)
    assert result["metrics"]["queries_to_1"] == SMALL["queries"] + 1 and result["metrics"]["reached_1"] == 0.0


def test_a_world_without_linear_weights_and_a_demonstration_data_kind_are_refused(tmp_path: Path) -> None:
    table = _table()
    table["world"] = {"name": "objectworld", "size": 6}
    with pytest.raises(ConfigError, match=r"^world\.name"):
        run_config(load_run_config(table), tmp_path / "run", progress=False)
    table = _table()
    table["data"] = {"kind": "expert"}
    with pytest.raises(ConfigError, match=r"^data\.kind"):
        load_run_config(table)


def test_unmixed_chains_are_said_in_the_warnings() -> None:
    """The result says when the samples' spread cannot be trusted (split R-hat > 1.1), and only then."""
    world = feature_gridworld(5, seed=0)
    for chains in ({"chains": 4, "samples": 4, "burn_in": 2}, {"chains": 4, "samples": 400, "burn_in": 400}):
        cfg = ActivePreferenceConfig(**{**SMALL, **chains})
        fit = ActivePreferenceLearner(cfg).fit(world.weights, world.mdp, rng=np.random.default_rng(0))
        assert (not fit.info["rhat_max"] <= 1.1) == any("not mixed" in w for w in fit.info["warnings"])
    assert any(
        "not mixed" in w
        for w in ActivePreferenceLearner(ActivePreferenceConfig(**{**SMALL, "chains": 4, "samples": 4, "burn_in": 2}))
        .fit(world.weights, world.mdp, rng=np.random.default_rng(0))
        .info["warnings"]
    )
