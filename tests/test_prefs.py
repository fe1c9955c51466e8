"""Learning from rankings: the losses by hand, snippet sampling's rule, tabular T-REX and B-REX
recovery, B-REX against its analytic posterior, neural T-REX on observation vectors, and the warnings
when a ranking's recorded true returns run against it (T-REX, B-REX, D-REX)."""

from __future__ import annotations

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from rewardlab.data import Trajectory, sample_tabular
from rewardlab.data.ranking import ranked_pairs, ranking_scores, sign_flip, snippet_pairs, with_mirror_images
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.eval import policy_loss, ranking_agreement
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import feature_gridworld
from rewardlab.prefs import DREX, TREX, BayesianREX, BayesianREXConfig, DREXConfig, PreferencePosterior, TREXConfig
from rewardlab.prefs.auxiliary import AUX_LOSSES
from rewardlab.prefs.brex import pair_log_likelihood, reward_hacking_flags, sample_brex
from rewardlab.prefs.losses import bradley_terry_log_likelihood, bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns

finite = st.floats(-50, 50, allow_nan=False)


# ---------------------------------------------------------------------------- losses
def test_bradley_terry_by_hand() -> None:
    ra, rb = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0.0, 2.0, 3.0])
    y = torch.tensor([1.0, 0.0, 0.5])
    expected = [math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(-2.0)), math.log(2.0)]
    got = bradley_terry_loss(ra, rb, y, reduction="none")
    assert np.allclose(got.numpy(), expected, atol=1e-6)
    assert math.isclose(float(bradley_terry_loss(ra, rb, y)), float(np.mean(expected)), rel_tol=1e-6)
    # label noise 0.1: P = 0.9 sigmoid(1) + 0.05
    p = 0.9 / (1 + math.exp(-1.0)) + 0.05
    assert math.isclose(float(bradley_terry_loss(ra[:1], rb[:1], y[:1], noise=0.1)), -math.log(p), rel_tol=1e-6)
    # margin 0.5: -log sigmoid(1 - 0.5)
    assert math.isclose(float(bradley_terry_loss(ra[:1], rb[:1], y[:1], margin=0.5)), math.log(1 + math.exp(-0.5)), rel_tol=1e-6)


@given(finite, finite)
def test_preference_is_antisymmetric(a: float, b: float) -> None:
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    assert torch.allclose(preference_probability(ta, tb), 1 - preference_probability(tb, ta))
    assert torch.allclose(preference_probability(ta, tb, noise=0.2), 1 - preference_probability(tb, ta, noise=0.2))
    # the loss of (a, b, y) equals the loss of (b, a, 1 - y)
    y = torch.tensor([1.0], dtype=torch.float64)
    assert torch.allclose(bradley_terry_loss(ta, tb, y), bradley_terry_loss(tb, ta, 1 - y))


def test_perfectly_ordered_pair_drives_the_loss_to_zero_and_stays_finite() -> None:
    gaps = torch.tensor([1.0, 10.0, 100.0, 1e4], dtype=torch.float64)
    loss = bradley_terry_loss(gaps, torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64), reduction="none")
    assert bool((loss[1:] < loss[:-1]).all()) and float(loss[-1]) == 0.0
    wrong = bradley_terry_loss(torch.zeros(1), torch.tensor([1e4]), torch.ones(1))
    assert math.isfinite(float(wrong)) and float(wrong) == pytest.approx(1e4)
    # with label noise the loss of a wrong answer is capped at -log(noise / 2)
    capped = bradley_terry_loss(torch.zeros(1), torch.tensor([1e4]), torch.ones(1), noise=0.1)
    assert float(capped) == pytest.approx(-math.log(0.05), rel=1e-5)


def test_brex_likelihood_is_the_bradley_terry_of_prefs_losses() -> None:
    """One Bradley–Terry: B-REX's pair log-likelihood is minus the summed T-REX loss of the same returns,
    and both equal the closed form ``y log sigmoid(x) + (1 - y) log sigmoid(-x)``."""
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(40, 5, generator=g, dtype=torch.float64) * 3
    label = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)[torch.randint(3, (40,), generator=g)]
    w = torch.randn(7, 5, generator=g, dtype=torch.float64)
    x = 2.0 * (w @ delta.T)  # (7, 40) scaled return differences
    closed_form = (label * torch.log(torch.sigmoid(x)) + (1 - label) * torch.log(torch.sigmoid(-x))).sum(-1)
    got = pair_log_likelihood(w, delta, label, beta=2.0)
    assert torch.allclose(got, closed_form, rtol=0, atol=1e-12)
    per_sample_loss = torch.stack([bradley_terry_loss(row, torch.zeros_like(row), label, reduction="sum") for row in x])
    assert torch.allclose(got, -per_sample_loss, rtol=0, atol=1e-12)
    assert torch.equal(bradley_terry_log_likelihood(x, label).sum(-1), got)


def test_a_tie_is_minimised_at_equal_returns() -> None:
    d = torch.linspace(-3, 3, 61, dtype=torch.float64)
    loss = bradley_terry_loss(d, torch.zeros_like(d), torch.full_like(d, 0.5), reduction="none")
    assert abs(float(d[loss.argmin()])) < 1e-12


def test_plackett_luce_by_enumeration() -> None:
    r = torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64)
    e = torch.exp(r[0])
    p = e[0] / e.sum() * e[1] / (e[1] + e[2])
    assert float(plackett_luce_loss(r)) == pytest.approx(-math.log(float(p)))
    # the six orderings' probabilities sum to one
    import itertools

    total = sum(math.exp(-float(plackett_luce_loss(r[:, list(o)]))) for o in itertools.permutations(range(3)))
    assert total == pytest.approx(1.0)
    # a shorter ranking in a padded batch equals its own unpadded loss
    mask = torch.tensor([[True, True, False]])
    assert float(plackett_luce_loss(r, mask)) == pytest.approx(float(plackett_luce_loss(r[:, :2])))


def test_losses_reject_bad_input() -> None:
    with pytest.raises(ShapeError, match="target"):
        bradley_terry_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValidationError, match="target"):
        bradley_terry_loss(torch.zeros(1), torch.zeros(1), torch.tensor([2.0]))
    with pytest.raises(ValidationError, match="noise"):
        bradley_terry_loss(torch.zeros(1), torch.zeros(1), torch.ones(1), noise=1.0)
    with pytest.raises(ValidationError, match="margin"):
        bradley_terry_loss(torch.zeros(1), torch.zeros(1), torch.ones(1), margin=-1.0)


# ---------------------------------------------------------------------------- rankings and snippets
def _flat(lengths: list[int], ranks: list[float]) -> list[Trajectory]:
    return [Trajectory(np.zeros(n + 1), np.zeros(n), infos={"rank": r}) for n, r in zip(lengths, ranks, strict=True)]


@given(st.lists(st.integers(1, 40), min_size=2, max_size=6), st.integers(1, 10), st.integers(0, 10), st.integers(0, 2**31))
def test_snippets_obey_the_trex_rule(lengths: list[int], lo: int, extra: int, seed: int) -> None:
    ranks = list(range(len(lengths)))
    ds = _flat(lengths, ranks)
    p = snippet_pairs(ds, ranks, 200, length=(lo, lo + extra), rng=np.random.default_rng(seed))
    lens = np.array(lengths)
    better_first = p.label == 1.0
    b_start = np.where(better_first, p.first_start, p.second_start)
    w_start = np.where(better_first, p.second_start, p.first_start)
    assert (b_start >= w_start).all()
    assert (p.first_length == p.second_length).all()
    assert (p.first_length <= np.minimum(lo + extra, np.minimum(lens[p.first], lens[p.second]))).all()
    assert (p.first_start + p.first_length <= lens[p.first]).all() and (p.second_start + p.second_length <= lens[p.second]).all()
    assert (p.first != p.second).all()
    truth = np.where(np.array(ranks)[p.first] > np.array(ranks)[p.second], 1.0, 0.0)
    assert (p.label == truth).all()
    assert 0.3 < better_first.mean() < 0.7  # the order within a pair is random


def test_ranked_pairs_and_missing_ranks() -> None:
    i, j, y = ranked_pairs([1.0, 1.0, 0.0], ties=True)
    assert list(zip(i.tolist(), j.tolist(), y.tolist(), strict=True)) == [(0, 1, 0.5), (0, 2, 1.0), (1, 2, 1.0)]
    with pytest.raises(ValidationError, match=r"infos.*rank"):
        ranking_scores([Trajectory(np.zeros(2), np.zeros(1))])
    with pytest.raises(ValidationError, match="scores"):
        snippet_pairs(_flat([3, 3], [0, 0]), [0, 0], 5, length=(1, 2), rng=np.random.default_rng(0))


def test_mirror_images_are_real_pendulum_trajectories_with_the_same_rank_and_return() -> None:
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    obs, rews, acts = [env.reset(seed=0)[0]], [], []
    for _ in range(30):
        acts.append(rng.uniform(-2, 2, size=1).astype(np.float32))
        o, r, *_ = env.step(acts[-1])
        obs.append(o), rews.append(r)
    tr = Trajectory(np.array(obs), np.array(acts), np.array(rews), infos={"rank": 3})
    flip_obs, flip_act = sign_flip([1, -1, -1]), sign_flip([-1])
    ds = with_mirror_images([tr], flip_obs, flip_act)
    image = ds[1]
    assert len(ds) == 2 and ds[0] is tr and image.infos == {"rank": 3, "mirror": True}
    # replay the image's actions from its first state: the env produces its observations and the same rewards
    env.reset(seed=1)
    env.unwrapped.state = np.array([np.arctan2(image.obs[0, 1], image.obs[0, 0]), image.obs[0, 2]])
    for t, a in enumerate(image.acts):
        o, r, *_ = env.step(a)
        assert np.allclose(o, image.obs[t + 1], atol=1e-5) and r == pytest.approx(tr.rews[t], abs=1e-5)
    assert np.array_equal(with_mirror_images([image], flip_obs, flip_act)[1].obs, tr.obs)  # a reflection twice is the identity
    with pytest.raises(ShapeError, match="obs_map"):
        with_mirror_images([tr], lambda o: o[:, :2])


# ---------------------------------------------------------------------------- tabular T-REX and B-REX
def _ranked_world(seed: int, n: int = 12, length: int = 10) -> tuple:
    world = feature_gridworld(6, seed=seed, discount=0.9)
    rng = np.random.default_rng(seed)
    demos = []
    for _ in range(n):
        w = rng.standard_normal(4)
        pol = value_iteration(world.mdp, world.mdp.features @ torch.as_tensor(w / np.linalg.norm(w))).policy
        demos.append(sample_tabular(world.mdp, pol, 1, rng=rng, length=length, reward=world.reward)[0])
    return world, demos, np.array([tr.ret for tr in demos])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tabular_trex_and_brex_recover_the_policy_from_ranked_suboptimal_demos(seed: int) -> None:
    world, demos, returns = _ranked_world(seed)
    trex = TREX(TREXConfig(snippet=None, pairs=500, steps=300, lr=0.05, validation=0.0)).fit(
        demos, world.mdp, rng=np.random.default_rng(0), scores=returns
    )
    brex = BayesianREX(BayesianREXConfig(samples=3000, burn_in=500, thin=1, step_size=0.05, adapt=True)).fit(
        demos, world.mdp, rng=np.random.default_rng(0), scores=returns
    )
    for fit in (trex, brex):
        assert policy_loss(world.mdp, world.reward, fit.policy, initial="uniform") < 0.05
        # one-hot features sum to the length of equal-length demos, so adding a constant to every weight
        # changes no ranking: compare the weights with their means removed
        a, b = fit.reward.weights - fit.reward.weights.mean(), world.weights - world.weights.mean()
        assert float(a @ b) / float(a.norm() * b.norm()) > 0.9
    assert trex.info["train_accuracy"] > 0.95


def test_trex_same_seed_same_result() -> None:
    world, demos, returns = _ranked_world(0, n=5)
    cfg = TREXConfig(snippet=(3, 6), pairs=100, steps=50, lr=0.01)
    a = TREX(cfg).fit(demos, world.mdp, rng=np.random.default_rng(3), scores=returns)
    b = TREX(cfg).fit(demos, world.mdp, rng=np.random.default_rng(3), scores=returns)
    assert torch.equal(a.reward.values, b.reward.values)


def test_brex_matches_the_analytic_posterior_mean_on_the_circle() -> None:
    """Two features, so ``w = (cos t, sin t)`` with a uniform prior on ``t``: the posterior mean is an
    integral over one angle, computed on a fine grid."""
    rng = np.random.default_rng(0)
    counts = rng.standard_normal((6, 2)) * 0.7
    i, j, y = ranked_pairs(np.array([0, 3, 1, 5, 2, 4.0]))
    delta = counts[i] - counts[j]
    t = np.linspace(-np.pi, np.pi, 20_001)[:-1]
    grid = torch.as_tensor(np.stack([np.cos(t), np.sin(t)], 1))
    ll = pair_log_likelihood(grid, torch.as_tensor(delta), torch.as_tensor(y), beta=1.0).numpy()
    p = np.exp(ll - ll.max())
    p /= p.sum()
    exact = (p[:, None] * grid.numpy()).sum(0)
    post = sample_brex(delta, y, BayesianREXConfig(samples=20_000, burn_in=1000, thin=1, chains=4, step_size=0.5), rng=rng)
    ess = float(np.min(post.diagnostics()["ess"]))
    mean = post.flat.mean(0).numpy()
    std = post.flat.std(0).numpy()
    assert ess > 1000
    assert np.all(np.abs(mean - exact) < 4 * std / np.sqrt(ess)), (mean, exact)
    # and the sampled angle's distribution matches the grid's by KS
    angles = np.arctan2(post.flat[:, 1].numpy(), post.flat[:, 0].numpy())
    cdf = np.cumsum(p)
    d = np.max(np.abs(np.searchsorted(np.sort(angles), t, side="right") / len(angles) - cdf))
    assert d < 1.63 / np.sqrt(ess)  # the 1% KS critical value at the effective sample size


def test_brex_evaluation_save_load_and_flags(tmp_path) -> None:
    samples = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]], dtype=torch.float64)
    post = PreferencePosterior(samples, torch.tensor([[-1.0, -3.0, -2.0]], dtype=torch.float64), torch.tensor([0.5]), 1.0)
    ev = post.evaluate([[10.0, 0.0], [5.0, 5.0]], alpha=0.05)
    assert np.allclose(ev["mean"], [(10 + 0 + 6) / 3, (5 + 5 + 7) / 3])
    assert ev["var"][0] == pytest.approx(np.quantile([10, 0, 6], 0.05))
    assert torch.equal(post.map_weights(), samples[0, 0])
    post.save(tmp_path / "p")
    back = PreferencePosterior.load(tmp_path / "p")
    assert torch.equal(back.samples, samples) and back.beta == 1.0
    (tmp_path / "p" / "posterior.json").write_text("{")
    with pytest.raises(DataFileError, match=r"posterior\.json"):
        PreferencePosterior.load(tmp_path / "p")
    assert reward_hacking_flags(ev["mean"], ev["var"], reference_mean=5.0, reference_var=1.0).tolist() == [True, False]


def test_brex_rejects_bad_config() -> None:
    with pytest.raises(ConfigError, match="step_size"):
        BayesianREXConfig(step_size=0.0)
    with pytest.raises(ShapeError, match="delta"):
        sample_brex(np.zeros((3, 2)), np.zeros(2), BayesianREXConfig(samples=10), rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------- rankings against recorded returns
def test_ranking_agreement_by_hand() -> None:
    rising = ranking_agreement([0, 1, 2, 3], [-10.0, -8.0, -9.0, -5.0])  # 5 of 6 pairs in order: tau = 2 * 5/6 - 1
    assert rising.tau == pytest.approx(2 / 3) and rising.levels == 4 and rising.agrees is True
    assert (rising.best_return, rising.worst_return) == (-5.0, -10.0)
    # equal scores form one level: its mean return counts; here the order is reversed
    falling = ranking_agreement([0, 0, 1, 1, 2, 2], [-5.0, -6.0, -8.0, -7.0, -9.0, -9.0])
    assert (falling.tau, falling.levels, falling.best_return, falling.worst_return, falling.agrees) == (-1.0, 3, -9.0, -5.5, False)
    # 12 levels, the middle ten in order: 45 pairs concordant, 21 discordant (tau 24/66 >= 0.3), but the
    # best-ranked level is below the worst-ranked: no agreement
    ends = ranking_agreement(np.arange(12), [100.0, *range(1, 11), 0.0])
    assert ends.tau == pytest.approx(24 / 66) and ends.agrees is False
    assert ranking_agreement([0, 1, 2, 3], [0.0, 2.0, 1.0, 3.0], min_tau=0.5).agrees is True  # tau 2/3
    assert ranking_agreement([0, 1, 2, 3, 4], [0.0, 3.0, 1.0, 4.0, 2.0]).tau == pytest.approx(0.4)
    assert ranking_agreement([0, 1, 2, 3, 4], [0.0, 3.0, 1.0, 4.0, 2.0], min_tau=0.5).agrees is False
    one = ranking_agreement([1.0, 1.0], [3.0, 4.0])
    assert one.levels == 1 and one.agrees is None and math.isnan(one.tau)
    with pytest.raises(ShapeError):
        ranking_agreement([0, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match="true_returns"):
        ranking_agreement([0, 1], [1.0, float("nan")])
    assert "Kendall tau -1.00 between noise rank and mean true return over 3 levels" in falling.describe("noise rank")


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_trex_and_brex_warn_when_true_returns_do_not_rise_with_rank(direction: float) -> None:
    world, demos, returns = _ranked_world(0, n=6)
    scores = direction * returns  # -1: the best trajectory ranked worst
    assert len(set(returns.tolist())) == 6
    trex = TREX(TREXConfig(snippet=None, pairs=100, steps=20, lr=0.05)).fit(demos, world.mdp, rng=np.random.default_rng(0), scores=scores)
    brex = BayesianREX(BayesianREXConfig(samples=500, burn_in=100, thin=1, step_size=0.05)).fit(
        demos, world.mdp, rng=np.random.default_rng(0), scores=scores
    )
    for name, fit in (("T-REX", trex), ("B-REX", brex)):
        assert fit.info["ranking_tau"] == pytest.approx(direction)
        ranking = [w for w in fit.info["warnings"] if "rise with rank" in w]  # B-REX's short chains also warn of mixing
        if direction > 0:
            assert ranking == []
        else:
            [warning] = ranking
            assert warning.startswith(f"{name}: the recorded true returns do not rise with rank (Kendall tau -1.00")
    # without recorded rewards there is nothing to check: no tau, no warning
    blind = [Trajectory(tr.obs, tr.acts) for tr in demos]
    fit = TREX(TREXConfig(snippet=None, pairs=100, steps=20, lr=0.05)).fit(blind, world.mdp, rng=np.random.default_rng(0), scores=scores)
    assert fit.info["ranking_tau"] is None and fit.info["warnings"] == []


class _ActionPays(gym.Env):
    """A 10-step episode whose reward is ``sign * a^2`` for the action ``a`` in [-1, 1]; the observation is constant."""

    def __init__(self, sign: float) -> None:
        self.sign, self.t = sign, 0
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action: np.ndarray) -> tuple:
        self.t += 1
        return np.zeros(2, np.float32), self.sign * float(np.square(action).sum()), False, self.t >= 10, {}


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_drex_warns_when_its_noisy_rollouts_do_better_than_its_clone(sign: float) -> None:
    """Demonstrations take action 0. With reward ``+a^2`` random actions pay, so the more noise the higher
    the true return: the clone loses to its noisiest rollouts and D-REX says so; with ``-a^2`` it does not."""
    demos = [Trajectory(np.zeros((11, 2), np.float32), np.zeros((10, 1), np.float32), np.zeros(10)) for _ in range(4)]
    trex = TREXConfig(hidden=(8,), pairs=50, steps=10, snippet=(2, 5))
    cfg = DREXConfig(schedule="custom", epsilons=(0.0, 0.5, 1.0), rollouts=4, bc_hidden=(8,), bc_epochs=20, trex=trex)
    fit = DREX(cfg).fit(demos, lambda: _ActionPays(sign), rng=np.random.default_rng(0))
    rollouts = fit.info["rollouts"]
    check = ranking_agreement(ranking_scores(rollouts), rollouts.returns())
    assert fit.info["ranking_tau"] == check.tau
    if sign > 0:
        assert check.tau == -1.0 and check.worst_return > check.best_return
        [warning] = fit.info["warnings"]  # D-REX's, not also T-REX's on the same ranking
        assert warning.startswith("D-REX: the clone does not beat its noisier rollouts") and "Kendall tau -1.00" in warning
    else:
        assert check.tau == 1.0 and fit.info["warnings"] == []


# ---------------------------------------------------------------------------- neural T-REX
def test_neural_trex_ranks_unseen_trajectories() -> None:
    """Observations are 3-d; the hidden return is the sum of ``x0 - x1^2``. T-REX from ranked
    trajectories must order new trajectories by that return (Kendall tau near 1)."""
    rng = np.random.default_rng(0)

    def make(k: int) -> Trajectory:
        level = rng.uniform(-1, 1)
        obs = rng.standard_normal((31, 3)).astype(np.float32) * 0.3 + np.float32(level) * np.array([1, 0.5, 0], np.float32)
        ret = float((obs[:-1, 0] - obs[:-1, 1] ** 2).sum())
        return Trajectory(obs, np.zeros((30, 1), np.float32), infos={"rank": ret})

    train = [make(k) for k in range(20)]
    test = [make(k) for k in range(20)]
    space = (gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-1, 1, (1,), np.float32))
    cfg = TREXConfig(hidden=(32, 32), ensemble=2, snippet=(10, 20), pairs=1000, steps=400, batch_size=16, lr=3e-3)
    fit = TREX(cfg).fit(train, space, rng=np.random.default_rng(1))
    enc = TrajectoryEncoder.for_env(space, hidden=(32, 32))
    pred = predicted_returns(fit.reward, test, enc)
    tau = stats.kendalltau(pred, [tr.infos["rank"] for tr in test]).statistic
    assert tau > 0.85
    assert fit.info["val_accuracy"] > 0.85
    assert fit.reward.n_members == 2


def _random_pendulum_episodes(n: int, length: int, seed: int) -> list[Trajectory]:
    """``n`` Pendulum-v1 episodes of uniformly random torques, ranked by index."""
    env, rng, out = gym.make("Pendulum-v1"), np.random.default_rng(seed), []
    for k in range(n):
        obs, acts = [env.reset(seed=seed + k)[0]], rng.uniform(-2, 2, size=(length, 1)).astype(np.float32)
        obs += [env.step(a)[0] for a in acts]
        out.append(Trajectory(np.array(obs), acts, infos={"rank": k}))
    return out


def test_auxiliary_losses_learn_the_dynamics_and_weight_zero_is_plain_trex() -> None:
    """B-REX's self-supervised losses on Pendulum transitions: the torque is a function of two successive
    states, the next state of a state and its torque, so the heads must beat predicting the mean; with
    ``aux_weight=0`` the reward is exactly plain T-REX's."""
    demos = _random_pendulum_episodes(8, 60, seed=0)
    env = gym.make("Pendulum-v1")
    base = TREXConfig(hidden=(64, 64), snippet=(5, 10), pairs=300, steps=600, lr=1e-3, aux_batch=128)
    cfg = dataclasses.replace(base, aux=AUX_LOSSES)
    fit = TREX(cfg).fit(demos, env, rng=np.random.default_rng(0))
    acts = np.concatenate([tr.acts for tr in demos])
    next_obs = np.concatenate([tr.obs[1:] for tr in demos])
    losses = fit.info["aux_losses"]
    assert set(losses) == set(AUX_LOSSES) and set(AUX_LOSSES) <= set(fit.history.keys())
    assert losses["inverse_dynamics"] < 0.2 * acts.var()  # mean predictor: the variance, 4/3
    assert losses["forward_dynamics"] < 0.2 * next_obs.var(0).mean()
    # the mean predictor scores Var(j - i) / T^2, about 1/6; random torques leave little trace of time
    assert losses["temporal_distance"] < 0.85 / 6
    plain = TREX(base).fit(demos, env, rng=np.random.default_rng(0))
    zero = TREX(dataclasses.replace(cfg, aux_weight=0.0)).fit(demos, env, rng=np.random.default_rng(0))
    obs = torch.as_tensor(np.concatenate([tr.obs for tr in demos]))
    assert torch.equal(plain.reward(obs), zero.reward(obs)) and not torch.equal(plain.reward(obs), fit.reward(obs))
    assert "aux_losses" not in plain.info
    with pytest.raises(ConfigError, match="aux"):
        TREXConfig(aux=("reconstruction",))
    with pytest.raises(ConfigError, match="aux"):
        TREXConfig(architecture="linear", aux=("inverse_dynamics",))
    with pytest.raises(ConfigError, match="aux"):
        TREXConfig(use_action=True, aux="temporal_distance")
    world, ranked, returns = _ranked_world(0, n=3)
    with pytest.raises(ConfigError, match="linear"):  # "auto" is linear on a tabular MDP
        TREX(TREXConfig(aux="temporal_distance")).fit(ranked, world.mdp, rng=np.random.default_rng(0), scores=returns)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_brex_and_trex_match_cpu() -> None:
    rng = np.random.default_rng(0)
    counts = rng.standard_normal((8, 16))
    i, j, y = ranked_pairs(np.arange(8.0))
    cfg = BayesianREXConfig(samples=3000, burn_in=0, thin=1, chains=2, step_size=0.05)
    cpu = sample_brex(counts[i] - counts[j], y, cfg, rng=np.random.default_rng(1))
    gpu = sample_brex(counts[i] - counts[j], y, BayesianREXConfig(**{**cfg.__dict__, "device": "cuda"}), rng=np.random.default_rng(1))
    # the same proposals and uniforms: the chains agree up to floating-point ties in the accept test
    assert float((cpu.samples - gpu.samples.cpu()).abs().max()) < 1e-6
    world, demos, returns = _ranked_world(0, n=6)
    tcfg = TREXConfig(snippet=None, pairs=200, steps=100, lr=0.05, validation=0.0)
    a = TREX(tcfg).fit(demos, world.mdp, rng=np.random.default_rng(0), scores=returns)
    b = TREX(TREXConfig(**{**tcfg.__dict__, "device": "cuda"})).fit(demos, world.mdp, rng=np.random.default_rng(0), scores=returns)
    assert torch.allclose(a.reward.values, b.reward.values.cpu(), atol=1e-4)


def test_high_confidence_evaluation_prefers_the_true_optimal_policy() -> None:
    """Posterior returns of rollouts: the policy optimal for the true reward scores above the best
    demonstration in mean and in 0.05-VaR, so it is not flagged; feature counts are sums of phi(s_t)."""
    from rewardlab.prefs.brex import trajectory_features

    world, demos, returns = _ranked_world(1, n=20)
    fit = BayesianREX(BayesianREXConfig(samples=4000, burn_in=500, thin=2, step_size=0.05, adapt=True)).fit(
        demos, world.mdp, rng=np.random.default_rng(0), scores=returns
    )
    phi = trajectory_features(demos, world.mdp)
    assert torch.allclose(phi[0], world.mdp.features[torch.as_tensor(demos[0].obs[:-1])].sum(0).double())
    best = int(np.argmax(returns))
    optimal = value_iteration(world.mdp, world.reward).policy
    rollouts = sample_tabular(
        world.mdp, optimal, 50, rng=np.random.default_rng(1), length=10, initial=torch.as_tensor(np.eye(36)[demos[best].obs[0]])
    )
    ev_best = fit.posterior.evaluate(phi[best : best + 1])
    ev_opt = fit.posterior.evaluate(trajectory_features(rollouts, world.mdp))
    assert ev_opt["mean"].mean() >= ev_best["mean"][0] - 1e-9
    assert not reward_hacking_flags([ev_opt["mean"].mean()], [ev_opt["var"].mean()], ev_best["mean"][0], ev_best["var"][0])[0]
