"""Bayesian IRL: the MCMC posterior against enumeration, the prior without data, PolicyWalk's
incremental solver against re-solving from scratch, recovery, and the posterior products."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

import reference as ref
from rewardlab.data import Trajectory
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.eval import policy_loss
from rewardlab.irl.bayesian import (
    BayesianIRL,
    BayesianIRLConfig,
    boltzmann_log_likelihood,
    decision_counts,
    log_prior,
    sample_posterior,
)
from rewardlab.irl.experts import expert_demonstrations
from rewardlab.irl.posterior import RewardPosterior
from rewardlab.mdp import policy_iteration, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import chain, feature_gridworld


def _tv_tolerance(p: np.ndarray, n_eff: float) -> float:
    """Twice the expected total-variation error of a histogram of ``n_eff`` independent draws:
    ``E|p_hat - p| <= sqrt(p (1 - p) / n)`` per bin, so ``E TV <= 0.5 sum_i sqrt(p_i (1 - p_i) / n)``."""
    return 2 * 0.5 * float(np.sum(np.sqrt(p * (1 - p) / n_eff)))


def _ess(post: RewardPosterior) -> float:
    return float(np.min(post.diagnostics()["ess"]))


def test_policywalk_matches_the_enumerated_lattice_posterior():
    mdp = chain(3, discount=0.9)
    demos = [Trajectory(np.array([0, 1, 2]), np.array([1, 1])), Trajectory(np.array([2, 2]), np.array([0]))]
    counts = decision_counts(demos, mdp)
    beta, delta, bound = 2.0, 0.5, 1.0
    grid = torch.tensor(list(itertools.product(np.arange(-bound, bound + 1e-9, delta), repeat=3)))  # 125 rewards
    q = value_iteration(mdp, grid).q_values
    log_post = boltzmann_log_likelihood(q, counts, beta)  # uniform prior on the box
    exact = torch.softmax(log_post, 0).numpy()

    cfg = BayesianIRLConfig(
        reward="state",
        prior="uniform",
        prior_scale=bound,
        sampler="policywalk",
        step_size=delta,
        beta=beta,
        chains=16,
        samples=3000,
        burn_in=200,
    )
    post = sample_posterior(mdp, counts, cfg, rng=np.random.default_rng(0))
    index = {tuple(np.round(g, 6)): i for i, g in enumerate(grid.numpy())}
    hits = np.zeros(len(grid))
    for theta in post.flat().numpy():
        hits[index[tuple(np.round(theta, 6))]] += 1  # every sample lies on the lattice, inside the box
    tv = 0.5 * np.abs(hits / hits.sum() - exact).sum()
    assert tv < _tv_tolerance(exact, _ess(post)), tv


def test_metropolis_hastings_matches_the_posterior_integrated_on_a_grid():
    base = chain(3, discount=0.9)
    mdp = base.replace(features=torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64))
    demos = [Trajectory(np.array([0, 1, 1]), np.array([1, 0]))]
    counts = decision_counts(demos, mdp)
    beta = 1.5
    axis = np.linspace(-5, 5, 201)
    w = torch.tensor(list(itertools.product(axis, axis)))
    q = value_iteration(mdp, w @ mdp.features.T).q_values
    log_post = boltzmann_log_likelihood(q, counts, beta) + log_prior(w, "gaussian", 1.0)
    dens = torch.softmax(log_post, 0).numpy()
    edges = np.linspace(-5, 5, 11)  # 10 x 10 coarse bins
    cell = np.clip(np.digitize(w.numpy(), edges) - 1, 0, 9)
    exact = np.zeros((10, 10))
    np.add.at(exact, (cell[:, 0], cell[:, 1]), dens)

    cfg = BayesianIRLConfig(
        reward="linear", prior="gaussian", prior_scale=1.0, beta=beta, chains=8, samples=4000, burn_in=500, step_size=0.5
    )
    post = sample_posterior(mdp, counts, cfg, rng=np.random.default_rng(1))
    x = post.flat().numpy()
    hist, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
    p_hat = hist / len(x)
    tv = 0.5 * np.abs(p_hat - exact).sum()
    assert tv < _tv_tolerance(exact.ravel(), _ess(post)), tv
    mean_exact = dens @ w.numpy()
    assert np.allclose(x.mean(0), mean_exact, atol=4 / np.sqrt(_ess(post)))


@pytest.mark.parametrize("prior", ["gaussian", "laplace", "uniform"])
def test_without_data_the_sampler_returns_the_prior(prior):
    mdp = chain(3, discount=0.9)
    cfg = BayesianIRLConfig(reward="state", prior=prior, prior_scale=2.0, chains=8, samples=3000, burn_in=300, thin=10, step_size=1.0)
    post = sample_posterior(mdp, torch.zeros(3, 2), cfg, rng=np.random.default_rng(2))
    x = post.flat()[:, 0].numpy()
    reference = {"gaussian": stats.norm(0, 2.0), "laplace": stats.laplace(0, 2.0), "uniform": stats.uniform(-2.0, 4.0)}[prior]
    assert stats.kstest(x, reference.cdf).pvalue > 1e-3
    assert post.log_likelihood.abs().max() == 0


def test_sphere_prior_without_data_is_uniform_on_the_sphere():
    mdp = feature_gridworld(3, n_features=3, seed=0).mdp
    cfg = BayesianIRLConfig(prior="sphere", chains=8, samples=2000, burn_in=200, thin=5, step_size=0.8)
    post = sample_posterior(mdp, torch.zeros(9, 4), cfg, rng=np.random.default_rng(3))
    x = post.flat().numpy()
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)
    # uniform on S^2: each coordinate is uniform on [-1, 1] (Archimedes)
    assert stats.kstest(x[:, 0], stats.uniform(-1, 2).cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    ("world", "reward"),
    [
        (dict(size=4), "linear"),
        (dict(size=4), "state"),
        (dict(size=3), "state_action"),
        (dict(size=24), "linear"),  # > 512 states, deterministic: successor features by pointer doubling
        (dict(size=24, slip=0.2), "linear"),  # > 512 states, stochastic: sparse LU
    ],
)
def test_policywalk_solver_gives_the_same_chain_as_value_iteration(world, reward):
    w = feature_gridworld(**world, seed=4)
    demos, _ = expert_demonstrations(w, 6, rng=np.random.default_rng(0), length=10)
    counts = decision_counts(demos, w.mdp)
    runs = []
    for solver in ("policy", "value_iteration"):
        cfg = BayesianIRLConfig(reward=reward, beta=20.0, chains=3, samples=60, burn_in=20, thin=1, solver=solver, step_size=0.2)
        runs.append(sample_posterior(w.mdp, counts, cfg, rng=np.random.default_rng(5)))
    assert torch.equal(runs[0].samples, runs[1].samples)
    assert torch.allclose(runs[0].log_likelihood, runs[1].log_likelihood, atol=1e-6)


def test_posterior_q_star_is_exact_at_discount_near_one():
    # Two posterior samples of a per-(state, action) reward on chain(2): the MAP prefers action 0 in the
    # absorbing state 1, the other sample prefers action 1 there by 1e-5 per step (worth 1 in value at
    # gamma 0.99999). Warm-started from the MAP's policy, the policy walk used to keep action 0 (its
    # one-step loss 1e-5 was below a fixed slack of 1e-9 (1 + |Q|) = 1e-4) and report its Q as Q*.
    mdp = chain(2, discount=0.99999)
    theta = torch.tensor([[[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0 + 1e-5]]], dtype=torch.float64)
    log_lik = torch.tensor([[0.0, -1.0]], dtype=torch.float64)  # the first sample is the MAP
    post = RewardPosterior(theta, log_lik, torch.zeros(1, 2, dtype=torch.float64), torch.ones(1), torch.ones(1), mdp, "state_action", 1.0)
    rewards = post.rewards()
    assert torch.allclose(post.q_values(), policy_iteration(mdp, rewards).q_values, rtol=1e-10, atol=0)
    assert torch.allclose(post.q_values(), value_iteration(mdp, rewards).q_values, rtol=1e-10, atol=0)
    assert torch.allclose(post.action_probabilities(), value_iteration(mdp, rewards).policy.mean(0))  # the same tie rule


@pytest.mark.parametrize("reward", ["linear", "state"])
def test_policy_solver_chain_is_exact_at_discount_near_one(reward):
    # every kept sample's log-likelihood is the Boltzmann likelihood of the exact Q* of value iteration
    w = feature_gridworld(4, seed=1, discount=0.99999)
    demos, _ = expert_demonstrations(w, 6, rng=np.random.default_rng(0), length=10)
    counts = decision_counts(demos, w.mdp)
    cfg = BayesianIRLConfig(reward=reward, beta=0.01, chains=2, samples=40, burn_in=10, thin=1, solver="policy")
    post = sample_posterior(w.mdp, counts, cfg, rng=np.random.default_rng(0))
    exact = boltzmann_log_likelihood(value_iteration(w.mdp, post.rewards()).q_values, counts, cfg.beta)
    assert torch.allclose(post.log_likelihood.reshape(-1), exact, rtol=1e-9, atol=1e-9)


def test_policywalk_and_mh_agree_on_the_posterior_mean():
    w = feature_gridworld(4, seed=6)
    demos, _ = expert_demonstrations(w, 3, rng=np.random.default_rng(0), length=4)
    counts = decision_counts(demos, w.mdp)
    common = dict(reward="linear", prior="uniform", prior_scale=1.0, beta=2.0, chains=8, samples=3000, burn_in=300)
    mh = sample_posterior(w.mdp, counts, BayesianIRLConfig(**common, step_size=0.3), rng=np.random.default_rng(7))
    # a fine lattice: its posterior approaches the continuous one (grid error ~ step / 2 per coordinate)
    pw = sample_posterior(w.mdp, counts, BayesianIRLConfig(**common, sampler="policywalk", step_size=0.05), rng=np.random.default_rng(8))
    se = 4 * np.sqrt(1 / _ess(mh) + 1 / _ess(pw))
    assert np.allclose(mh.flat().mean(0).numpy(), pw.flat().mean(0).numpy(), atol=se + 0.025)


def test_soft_likelihood_is_the_maxent_demonstrator():
    w = feature_gridworld(4, seed=1)
    demos, _ = expert_demonstrations(w, 4, rng=np.random.default_rng(0), length=6)
    counts = decision_counts(demos, w.mdp)
    beta = 3.0
    cfg = BayesianIRLConfig(likelihood="soft", beta=beta, chains=2, samples=20, burn_in=0, thin=1)
    post = sample_posterior(w.mdp, counts, cfg, rng=np.random.default_rng(0))
    rewards = post.rewards()
    pi = soft_value_iteration(w.mdp, rewards, temperature=1 / beta).policy
    expected = (counts * torch.log(pi)).sum((1, 2))
    assert torch.allclose(post.log_likelihood.reshape(-1), expected, atol=1e-6)


def test_finite_horizon_likelihood_uses_time_indexed_q():
    mdp = chain(3, horizon=3)
    demos = [Trajectory(np.array([0, 1, 2, 2]), np.array([1, 1, 0]))]
    counts = decision_counts(demos, mdp)
    assert counts.shape == (3, 3, 2)
    post = sample_posterior(
        mdp, counts, BayesianIRLConfig(reward="state", beta=2.0, chains=2, samples=30, burn_in=0, thin=1), rng=np.random.default_rng(0)
    )
    q = value_iteration(mdp, post.rewards()).q_values  # (M, H, S, A)
    assert torch.allclose(post.log_likelihood.reshape(-1), boltzmann_log_likelihood(q, counts, 2.0), atol=1e-9)


def test_bayesian_irl_recovers_the_optimal_policy_from_optimal_demos():
    w = feature_gridworld(6, seed=3)
    demos, expert = expert_demonstrations(w, 20, rng=np.random.default_rng(0), length=12)
    cfg = BayesianIRLConfig(prior="sphere", beta=50.0, chains=4, samples=1500, burn_in=500, step_size=0.05)
    fit = BayesianIRL(cfg).fit(demos, w.mdp, rng=np.random.default_rng(1))
    assert policy_loss(w.mdp, w.reward, fit.policy, initial="uniform") < 0.05
    states = np.concatenate([tr.obs[:-1] for tr in demos])
    best = fit.policy[states].argmax(-1)
    assert (expert[states, best] > 0).double().mean() >= 0.95
    assert fit.info["rhat_max"] < 1.1
    assert float(fit.reward.values.std()) > 0.1  # neither the zero nor a constant reward


def test_same_seed_same_chain():
    w = feature_gridworld(4, seed=0)
    demos, _ = expert_demonstrations(w, 3, rng=np.random.default_rng(0), length=5)
    cfg = BayesianIRLConfig(chains=2, samples=50, burn_in=10, thin=1)
    a = BayesianIRL(cfg).fit(demos, w.mdp, rng=np.random.default_rng(9))
    b = BayesianIRL(cfg).fit(demos, w.mdp, rng=np.random.default_rng(9))
    assert torch.equal(a.posterior.samples, b.posterior.samples)


def test_step_size_adapts_toward_the_target_acceptance():
    w = feature_gridworld(4, seed=0)
    demos, _ = expert_demonstrations(w, 10, rng=np.random.default_rng(0), length=8)
    cfg = BayesianIRLConfig(beta=20.0, chains=4, samples=2000, burn_in=2000, step_size=5.0, target_accept=0.3)
    post = sample_posterior(w.mdp, decision_counts(demos, w.mdp), cfg, rng=np.random.default_rng(0))
    assert float(post.step_size.max()) < 5.0
    assert 0.15 < float(post.acceptance.mean()) < 0.45


def test_callback_stops_sampling_and_history_is_logged():
    mdp = chain(3, discount=0.9)
    seen = []
    cfg = BayesianIRLConfig(reward="state", chains=2, samples=1000, burn_in=100, thin=1, report_every=50)
    fit = BayesianIRL(cfg).fit([], mdp, rng=np.random.default_rng(0), callback=lambda step, m: seen.append(step) or step >= 300)
    assert seen == [50, 100, 150, 200, 250, 300]
    assert fit.posterior.samples.shape[1] == 200
    assert fit.history.steps == seen and "acceptance" in fit.history


def test_posterior_products_of_a_point_mass_are_the_true_answers():
    w = feature_gridworld(5, seed=2)
    post = ref.point_posterior(w, 5)
    optimal = value_iteration(w.mdp, w.reward).policy
    assert post.evd_var(optimal, 0.95) == pytest.approx(0.0, abs=1e-9)
    lo, hi = post.value_interval(optimal)
    v = float(value_iteration(w.mdp, w.reward).values @ w.mdp.initial)
    assert lo == pytest.approx(v) and hi == pytest.approx(v)
    assert torch.allclose(post.action_probabilities(), optimal)
    q_true = value_iteration(w.mdp, w.reward).q_values
    assert post.q_values().shape == (5, *q_true.shape) and torch.allclose(post.q_values(), q_true.expand(5, -1, -1))
    assert torch.allclose(post.action_entropy(), torch.zeros(w.mdp.n_states, dtype=torch.float64))  # every sample agrees
    uniform = torch.full((w.mdp.n_states, w.mdp.n_actions), 1 / w.mdp.n_actions, dtype=torch.float64)
    assert post.evd_var(uniform, 0.5) == pytest.approx(policy_loss(w.mdp, w.reward, uniform))


def test_posterior_products_have_their_properties():
    w = feature_gridworld(5, seed=2)
    demos, _ = expert_demonstrations(w, 2, rng=np.random.default_rng(0), length=3)
    fit = BayesianIRL(BayesianIRLConfig(chains=2, samples=300, burn_in=100, thin=1, beta=5.0)).fit(
        demos, w.mdp, rng=np.random.default_rng(0)
    )
    post = fit.posterior
    probs = post.action_probabilities()
    assert torch.allclose(probs.sum(-1), torch.ones(w.mdp.n_states, dtype=torch.float64))
    ent = post.action_entropy(bins=10)
    assert bool((ent >= 0).all()) and bool((ent <= np.log(10) + 1e-9).all()) and float(ent.max()) > 0
    evd = post.evd(fit.policy)
    assert bool((evd >= 0).all())
    assert post.evd_var(fit.policy, 0.9) >= post.evd_var(fit.policy, 0.5)
    lo, hi = post.value_interval(fit.policy, 0.9)
    assert lo <= hi
    diag = post.diagnostics()
    assert diag["rhat"].shape == (w.mdp.n_features,) and diag["ess"].shape == (w.mdp.n_features,)
    fig = post.trace_plot()
    assert len(fig.axes) == w.mdp.n_features + 1


def test_arviz_diagnostics_on_independent_draws():
    mdp = feature_gridworld(3, seed=0).mdp
    x = torch.randn(4, 1000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    zeros = torch.zeros(4, 1000, dtype=torch.float64)
    diag = RewardPosterior(x, zeros, zeros, torch.ones(4), torch.ones(4), mdp, "linear", 1.0).diagnostics()
    assert np.all(np.abs(diag["rhat"] - 1) < 0.01)
    assert np.all(diag["ess"] > 2500)


def test_bad_input_is_named():
    mdp = chain(3, discount=0.9)
    with pytest.raises(ConfigError, match="prior"):
        BayesianIRLConfig(reward="state", prior="sphere")
    with pytest.raises(ConfigError, match="beta"):
        BayesianIRLConfig(beta=0.0)
    with pytest.raises(ConfigError, match="sampler"):
        BayesianIRLConfig(prior="sphere", sampler="policywalk")
    with pytest.raises(ShapeError, match="counts"):
        sample_posterior(mdp, torch.zeros(4, 2), BayesianIRLConfig(reward="state"), rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="counts"):
        sample_posterior(mdp, -torch.ones(3, 2), BayesianIRLConfig(reward="state"), rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="features"):
        sample_posterior(mdp.replace(features=None), torch.zeros(3, 2), BayesianIRLConfig(), rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="demonstrations"):
        decision_counts([Trajectory(np.array([7, 0]), np.array([0]))], mdp)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_chain_matches_cpu():
    w = feature_gridworld(6, seed=0)
    demos, _ = expert_demonstrations(w, 5, rng=np.random.default_rng(0), length=8)
    counts = decision_counts(demos, w.mdp)
    cpu = sample_posterior(w.mdp, counts, BayesianIRLConfig(chains=4, samples=200, burn_in=500, thin=1), rng=np.random.default_rng(0))
    gpu = sample_posterior(
        w.mdp, counts, BayesianIRLConfig(chains=4, samples=200, burn_in=500, thin=1, device="cuda"), rng=np.random.default_rng(0)
    )
    assert torch.allclose(cpu.samples, gpu.samples.cpu(), atol=1e-8)


def test_posterior_round_trips_through_safetensors(tmp_path):
    w = feature_gridworld(3, seed=0)
    post = sample_posterior(
        w.mdp, torch.zeros(9, 4), BayesianIRLConfig(chains=2, samples=30, burn_in=0, thin=1), rng=np.random.default_rng(0)
    )
    post.save(tmp_path / "post")
    back = RewardPosterior.load(tmp_path / "post", w.mdp)
    assert torch.equal(back.samples, post.samples) and torch.equal(back.log_prior, post.log_prior)
    assert back.kind == "linear" and back.beta == post.beta
    with pytest.raises(DataFileError, match="states"):
        RewardPosterior.load(tmp_path / "post", feature_gridworld(4, seed=0).mdp)
    (tmp_path / "post" / "posterior.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="unreadable"):
        RewardPosterior.load(tmp_path / "post", w.mdp)
