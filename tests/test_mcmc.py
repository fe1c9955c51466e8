"""The shared Metropolis–Hastings loop (adaptive proposal, unit-vector transform) and the verdicts that
must not come from chains that have not mixed: sufficiency, B-REX's VaR and flags, ``irl birl``'s result.json."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

from rewardlab.irl.posterior import RewardPosterior
from rewardlab.irl.sufficiency import min_effective_samples, order_statistic_index, sufficiency
from rewardlab.mcmc import MHSettings, chain_diagnostics, metropolis_hastings, mixing_problem
from rewardlab.mdp.worlds import feature_gridworld
from rewardlab.prefs.brex import PreferencePosterior, reward_hacking_flags

COV = torch.tensor([[1.0, 0.98], [0.98, 1.0]], dtype=torch.float64)  # correlation 0.98: sd 0.14 across, 1.4 along


class _Gaussian:
    """``N(mean, COV)`` as a stateless target."""

    def __init__(self, mean: torch.Tensor) -> None:
        self.mean, self.precision = mean, torch.linalg.inv(COV)

    def evaluate(self, theta: torch.Tensor, current: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
        z = theta - self.mean
        return -0.5 * ((z @ self.precision) * z).sum(-1), torch.zeros(theta.shape[0], dtype=theta.dtype), None

    def select(self, accept: torch.Tensor, proposed: Any, current: Any) -> None:
        return None


def _run(covariance: str) -> Any:
    gen = torch.Generator().manual_seed(0)
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    init = mean + 3 * torch.randn(4, 2, generator=gen, dtype=torch.float64)  # over-dispersed
    settings = MHSettings(samples=4000, burn_in=1000, step_size=0.5, covariance=covariance)  # type: ignore[arg-type]
    return metropolis_hastings(_Gaussian(mean), init, settings, generator=gen), mean


def test_adaptive_proposal_recovers_a_correlated_gaussian_and_beats_the_isotropic_one() -> None:
    adapted, mean = _run("dense")
    isotropic, _ = _run("identity")
    rhat, ess = chain_diagnostics(adapted.samples)
    assert rhat.max() <= 1.01
    x = adapted.samples.reshape(-1, 2)
    # mean within 4 Monte Carlo standard errors (sd / sqrt(ESS)), covariance within 10% of its scale
    assert torch.all((x.mean(0) - mean).abs() <= 4 * COV.diagonal().sqrt() / torch.as_tensor(ess).sqrt())
    assert torch.allclose(torch.cov(x.T), COV, atol=0.1)
    # the frozen proposal is 2.38^2 / d times a covariance close to the target's
    shape = adapted.scale_tril @ adapted.scale_tril.T / (2.38**2 / 2)
    assert torch.allclose(shape, COV, atol=0.15)
    ess_iso = chain_diagnostics(isotropic.samples)[1]
    assert ess.min() > 3 * ess_iso.min()


def test_unit_vector_chains_stay_on_the_sphere_and_sample_its_uniform_prior() -> None:
    class Flat:
        def evaluate(self, theta: torch.Tensor, current: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
            zero = torch.zeros(theta.shape[0], dtype=theta.dtype)
            return zero, zero, None

        def select(self, accept: torch.Tensor, proposed: Any, current: Any) -> None:
            return None

    gen = torch.Generator().manual_seed(1)
    init = torch.nn.functional.normalize(torch.randn(4, 3, generator=gen, dtype=torch.float64), dim=1)
    out = metropolis_hastings(Flat(), init, MHSettings(samples=4000, burn_in=1000, sphere=True), generator=gen)
    x = out.samples.reshape(-1, 3)
    assert torch.allclose(x.norm(dim=1), torch.ones(len(x), dtype=torch.float64))
    # uniform on the 2-sphere: each coordinate is uniform on [-1, 1] (Archimedes), mean 0, variance 1/3
    assert torch.allclose(x.mean(0), torch.zeros(3, dtype=torch.float64), atol=0.06)
    assert torch.allclose(x.var(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03)


def test_min_effective_samples_is_where_the_largest_sample_first_bounds_the_quantile() -> None:
    n = min_effective_samples(0.95, 0.05)
    assert 0.95**n <= 0.05 < 0.95 ** (n - 1)
    assert order_statistic_index(n, 0.95, 0.05) <= n  # the normal approximation has a bound there too


def _stuck_posterior(offset: float) -> RewardPosterior:
    """Two chains of independent draws around the true weights, the second shifted by ``offset``."""
    w = feature_gridworld(3, seed=0)
    noise = 0.05 * torch.randn(2, 400, w.weights.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta = w.weights.expand(2, 400, -1) + noise
    theta[1] += offset
    zero = torch.zeros(2, 400, dtype=torch.float64)
    return RewardPosterior(theta, zero, zero, torch.ones(2), torch.ones(2), w.mdp, "linear", 10.0)


def test_sufficiency_is_undetermined_for_chains_stuck_in_different_places() -> None:
    stuck = sufficiency(_stuck_posterior(offset=1.0))
    assert stuck.sufficient is None and stuck.reason is not None and "not mixed" in stuck.reason
    assert stuck.rhat_max > 1.01
    mixed = sufficiency(_stuck_posterior(offset=0.0))  # the same draws, both chains in one place: a verdict
    assert mixed.sufficient is True and mixed.reason is None and mixed.rhat_max <= 1.01


def test_mixing_problem_names_the_failed_check() -> None:
    assert mixing_problem([1.0, 1.02], [1000.0, 1000.0]) == "chains have not mixed (max R-hat 1.02 > 1.01)"
    assert "too few effective samples" in str(mixing_problem([1.0], [58.0], min_ess=59))
    assert mixing_problem([float("nan")], [float("nan")]) is None  # a constant parameter is no evidence against mixing


def test_brex_var_and_flags_are_undetermined_for_a_chain_that_has_not_mixed() -> None:
    gen = torch.Generator().manual_seed(0)
    iid = torch.nn.functional.normalize(torch.tensor([1.0, 0.2]) + 0.1 * torch.randn(4, 1000, 2, generator=gen), dim=-1).double()
    drift = torch.stack([torch.cos(t := torch.linspace(0, 1.5, 4000)), torch.sin(t)], -1).double()[None]  # one chain, never settles
    phi = [[10.0, 0.0], [5.0, 5.0]]
    for samples, mixed in ((iid, True), (drift, False)):
        post = PreferencePosterior(samples, torch.zeros(samples.shape[:2], dtype=torch.float64), torch.ones(samples.shape[0]), 1.0)
        ev = post.evaluate(phi, alpha=0.05)
        flags = reward_hacking_flags(ev["mean"], ev["var"], reference_mean=5.0, reference_var=1.0).tolist()
        if mixed:
            assert ev["reason"] is None and np.isfinite(ev["var"]).all() and all(isinstance(f, bool) for f in flags)
        else:
            assert "not mixed" in ev["reason"] and np.isnan(ev["var"]).all() and flags == [None, None]


def _birl(tmp_path: Any, **hyper: Any) -> dict:
    from rewardlab.experiments.irl import run_irl

    return run_irl("birl", "objectworld:size=8", 16, tmp_path, seed=0, hyperparameters=hyper)


def test_irl_birl_writes_no_verdict_from_chains_that_have_not_mixed(tmp_path) -> None:
    # the sampler `irl birl` used before adaptive Metropolis: isotropic proposal, 4 x (500 + 2,000) steps
    summary = _birl(tmp_path, covariance="identity", samples=2000, burn_in=500, thin=1)
    post = summary["posterior"]
    assert max(post["rhat"]) > 1.01  # measured 1.33 (ESS 10)
    assert post["sufficient"] is None and post["evd_var_0.95"] is None and post["sufficiency_bound"] is None
    assert "not mixed" in post["sufficient_reason"]
    assert any("sufficiency" in w for w in summary["warnings"]) and any("Bayesian IRL" in w for w in summary["warnings"])
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["posterior"]["sufficient"] is None and written["warnings"] == summary["warnings"]


@pytest.mark.slow
def test_irl_birl_defaults_mix_on_objectworld(tmp_path) -> None:
    summary = _birl(tmp_path)
    post = summary["posterior"]
    assert max(post["rhat"]) <= 1.01 and min(post["ess"]) >= 400  # measured 1.002 and 1,810
    assert isinstance(post["sufficient"], bool) and summary["warnings"] == [] and math.isfinite(post["evd_var_0.95"])
