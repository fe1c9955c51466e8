"""Demonstration sufficiency (Trinh et al. 2024) and active IRL (Lopes et al. 2009)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference as ref
from rewardlab.errors import ValidationError
from rewardlab.irl.active import active_learning, make_teacher, query_scores
from rewardlab.irl.bayesian import BayesianIRL, BayesianIRLConfig, boltzmann_log_likelihood, decision_counts, sample_posterior
from rewardlab.irl.experts import expert_demonstrations
from rewardlab.irl.sufficiency import normalized_evd, order_statistic_index, sufficiency, sufficiency_loop, upper_bound
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import feature_gridworld


def test_upper_bound_covers_the_quantile_with_probability_one_minus_delta():
    rng = np.random.default_rng(0)
    alpha, delta, n = 0.95, 0.05, 500
    covered = [upper_bound(rng.random(n), alpha, delta) >= alpha for _ in range(2000)]  # U(0, 1): quantile = alpha
    assert abs(np.mean(covered) - (1 - delta)) < 0.02


def test_order_statistic_matches_the_paper_formula_and_needs_enough_samples():
    assert order_statistic_index(100, 0.95, 0.05) == int(np.ceil(95 + 1.6448536 * np.sqrt(100 * 0.95 * 0.05) - 0.5))
    with pytest.raises(ValidationError, match="at least"):
        upper_bound(np.zeros(10), 0.95, 0.05)


def test_normalized_evd_is_zero_for_optimal_and_one_for_random():
    w = feature_gridworld(5, seed=1)
    post = ref.point_posterior(w, 100)
    optimal = value_iteration(w.mdp, w.reward).policy
    uniform = torch.full_like(optimal, 0.25)
    assert torch.allclose(normalized_evd(post, optimal), torch.zeros(100, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(normalized_evd(post, uniform), torch.ones(100, dtype=torch.float64))


def test_no_demonstrations_are_not_sufficient_and_a_certain_posterior_is():
    w = feature_gridworld(5, seed=1)
    certain = sufficiency(ref.point_posterior(w, 100))
    assert certain.sufficient is True and certain.bound == pytest.approx(0.0, abs=1e-9)
    prior = sample_posterior(
        w.mdp,
        torch.zeros(25, 4),
        BayesianIRLConfig(prior="sphere", chains=4, samples=2000, burn_in=500, thin=4),
        rng=np.random.default_rng(0),
    )
    verdict = sufficiency(prior)
    assert verdict.reason is None and verdict.rhat_max <= 1.01  # the prior's chains mixed: the verdict counts
    assert verdict.sufficient is False and verdict.bound > 0.5


def test_sufficiency_loop_stops_when_the_bound_says_enough_and_the_bound_holds():
    w = feature_gridworld(5, seed=2, discount=0.95)
    rng = np.random.default_rng(0)
    source = iter(expert_demonstrations(w, 30, rng=rng, length=1)[0])  # one decision each
    cfg = BayesianIRLConfig(prior="sphere", beta=10.0, chains=4, samples=2000, burn_in=500, thin=4, step_size=0.1)
    records = sufficiency_loop(w.mdp, lambda: next(source), cfg, rng=np.random.default_rng(1), max_demos=30, true_reward=w.reward)
    last = records[-1]
    # it stopped at the first round whose (mixed) chains said enough ...
    assert last["sufficient"] == 1.0 and last["bound"] < 0.1 and last["rhat_max"] <= 1.01 and len(records) < 30
    # ... every earlier round said not enough, or could not say (unmixed: NaN, never 1)
    assert all(r["sufficient"] == 0.0 or (np.isnan(r["sufficient"]) and r["rhat_max"] > 1.01) for r in records[:-1])
    # ... and the bound holds: the MAP policy's true nEVD is below it
    assert last["true_nevd"] <= last["bound"] + 1e-9
    assert records[0]["bound"] > last["bound"]


def test_query_scores_are_zero_where_the_posterior_is_certain():
    w = feature_gridworld(4, seed=0)
    post = ref.point_posterior(w, 100)
    assert torch.allclose(query_scores(post, "entropy"), torch.zeros(16, dtype=torch.float64))
    assert torch.allclose(query_scores(post, "var"), torch.zeros(16, dtype=torch.float64), atol=1e-9)


def test_active_learning_asks_the_teacher_and_improves():
    w = feature_gridworld(5, seed=3)
    teacher = make_teacher(w.mdp, w.reward, rng=np.random.default_rng(0))
    optimal = value_iteration(w.mdp, w.reward).policy
    cfg = BayesianIRLConfig(prior="sphere", beta=20.0, chains=2, samples=300, burn_in=100, thin=1, step_size=0.1)
    result = active_learning(w.mdp, teacher, cfg, rng=np.random.default_rng(1), n_queries=6, strategy="entropy", true_reward=w.reward)
    assert len(result.states) == 6 and len(result.evd) == 7
    for s, a in zip(result.states, result.actions, strict=True):
        assert optimal[s, a] > 0  # the teacher answers optimally
    assert result.evd[-1] < 0.1 * result.evd[0]  # measured 6.9 -> 0.014
    counts = torch.zeros(25, 4, dtype=torch.float64)
    for s, a in zip(result.states, result.actions, strict=True):
        counts[s, a] += 1
    assert result.posterior is not None  # the last posterior saw exactly the answers
    q = value_iteration(w.mdp, result.posterior.rewards()).q_values
    expected = boltzmann_log_likelihood(q, counts, 20.0)
    assert torch.allclose(result.posterior.log_likelihood.reshape(-1), expected, atol=1e-6)
    # 2 chains of 300 steps never reach a bulk ESS of 400: every round is reported, none silently
    assert len(result.warnings) == 7 and all(f"round {i}:" in m for i, m in enumerate(result.warnings))


def test_risk_aware_and_random_strategies_run_and_do_not_repeat_needlessly():
    w = feature_gridworld(4, seed=5)
    teacher = make_teacher(w.mdp, w.reward, rng=np.random.default_rng(0))
    cfg = BayesianIRLConfig(prior="sphere", beta=20.0, chains=2, samples=200, burn_in=100, thin=1, step_size=0.1)
    for strategy in ("var", "random"):
        result = active_learning(w.mdp, teacher, cfg, rng=np.random.default_rng(2), n_queries=3, strategy=strategy)
        assert len(result.states) == 3 and result.evd == []
        assert len(set(result.states)) == 3  # an answered state is not asked again (VaR drops there; random breaks ties)
    post = ref.point_posterior(w, 50)  # a certain posterior: every state scores 0 for VaR, all tie ...
    scores = query_scores(post, "var")
    assert torch.allclose(scores, torch.zeros_like(scores), atol=1e-9)
    # ... and the random strategy's tie-breaking spreads its queries instead of always asking state 0
    result = active_learning(w.mdp, teacher, cfg, rng=np.random.default_rng(3), n_queries=3, strategy="random")
    assert result.states != [0, 0, 0]
    with pytest.raises(ValidationError, match="horizon"):
        active_learning(w.mdp.replace(horizon=5), teacher, cfg, rng=np.random.default_rng(0), n_queries=1)


def test_decision_counts_feed_the_posterior_like_trajectories():
    w = feature_gridworld(4, seed=0)
    demos, _ = expert_demonstrations(w, 3, rng=np.random.default_rng(0), length=4)
    counts = decision_counts(demos, w.mdp)
    assert float(counts.sum()) == 12
    for tr in demos:  # each decision counted at its own (state, action)
        for s, a in zip(tr.obs[:-1], tr.acts, strict=True):
            assert counts[int(s), int(a)] >= 1
    cfg = BayesianIRLConfig(chains=2, samples=50, burn_in=20, thin=1)
    from_counts = sample_posterior(w.mdp, counts, cfg, rng=np.random.default_rng(4))
    from_demos = BayesianIRL(cfg).fit(demos, w.mdp, rng=np.random.default_rng(4)).posterior
    assert torch.equal(from_counts.samples, from_demos.samples)  # the same chain: counts are all the posterior sees


def test_ess_adjusted_bound_is_more_conservative_and_exact_for_independent_samples():
    from rewardlab.irl.sufficiency import upper_bound

    x = np.random.default_rng(0).random(2000)
    assert upper_bound(x, n_eff=2000) == upper_bound(x)  # as many effective as actual samples: the plain bound
    plain, adjusted = upper_bound(x), upper_bound(x, n_eff=200)
    assert adjusted > plain
    # 200 effective samples stand for k = ceil(190 + 1.645 * sqrt(9.5) - 0.5) = 195 of 200: the 97.5% level
    assert adjusted == np.sort(x)[int(np.ceil(195 / 200 * 2000)) - 1]
    assert upper_bound(x, n_eff=3) == x.max()  # too few effective samples for any order statistic
