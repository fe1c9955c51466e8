"""The incremental preference reward trainer of the Christiano loop (rewardlab.prefs.reward_trainer)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state
from rewardlab.data import Preference, PreferenceDataset, Segment
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.prefs.losses import bradley_terry_log_likelihood, preference_probability
from rewardlab.prefs.reward_trainer import PreferenceRewardTrainer, RewardTrainerConfig, adapt_l2

D, T = 4, 5
W_TRUE = np.array([1.0, -0.5, 0.8, 0.0])


def _segment(rng: np.random.Generator) -> Segment:
    obs = rng.normal(size=(T, D))
    return Segment(obs, rng.normal(size=(T, 1)), rews=obs @ W_TRUE)


def _prefs(n: int, rng: np.random.Generator, *, skip_every: int = 0) -> list[Preference]:
    """``n`` preferences labelled by the linear true reward's returns (``a`` preferred when its return is higher)."""
    out = []
    for k in range(n):
        a, b = _segment(rng), _segment(rng)
        label: float | str = "skipped" if skip_every and k % skip_every == 0 else float(a.ret > b.ret)
        out.append(Preference(a, b, label))
    return out


def _config(**kw) -> RewardTrainerConfig:
    base = {"members": 2, "hidden": (16,), "lr": 0.01, "batch_size": 32, "steps_per_round": 100, "validation": 0.25}
    return RewardTrainerConfig(**(base | kw))


def _all_loss(trainer: PreferenceRewardTrainer, ds: PreferenceDataset) -> float:
    """Mean over members of the noise-model cross-entropy on every answered label (raw returns)."""
    batch = ds.segments()
    p = trainer.member_probabilities((batch.obs_a, batch.acts_a), (batch.obs_b, batch.acts_b))
    y = ds.labels()[None, :]
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def test_held_out_accuracy_above_chance_after_rounds():
    rng = np.random.default_rng(0)
    ds = PreferenceDataset()
    trainer = PreferenceRewardTrainer(_config())
    for _ in range(4):
        ds.extend(_prefs(50, rng))
        metrics = trainer.update(ds, rng=rng)
    assert metrics["round"] == 4 and metrics["train_labels"] + metrics["val_labels"] == 200
    assert metrics["val_labels"] > 20
    assert metrics["val_accuracy"] >= 0.85
    fresh = PreferenceDataset(_prefs(300, rng))  # labels it never saw
    batch = fresh.segments()
    p = trainer.member_probabilities((batch.obs_a, batch.acts_a), (batch.obs_b, batch.acts_b))
    assert p.shape == (2, 300)
    assert ((p.mean(0) > 0.5) == (fresh.labels() == 1.0)).mean() >= 0.85


def test_incremental_matches_refit_on_same_labels():
    """Trained round by round, the ensemble reaches the loss of one long fit from scratch on the same labels."""
    rng = np.random.default_rng(1)
    prefs = _prefs(120, rng)
    cfg = _config(hidden=(), lr=0.05, validation=0.0, l2_factor=1.0, l2=1e-4, steps_per_round=300)
    inc, ds = PreferenceRewardTrainer(cfg), PreferenceDataset()
    for k in range(4):
        ds.extend(prefs[30 * k : 30 * (k + 1)])
        inc.update(ds, rng=np.random.default_rng([1, k]))
    refit = PreferenceRewardTrainer(RewardTrainerConfig(**(cfg.__dict__ | {"steps_per_round": 1200})))
    refit.update(PreferenceDataset(prefs), rng=np.random.default_rng(2))
    full = PreferenceDataset(prefs)
    a, b = _all_loss(inc, full), _all_loss(refit, full)
    assert abs(a - b) < 0.03, (a, b)
    assert a < 0.35  # both well below chance (log 2 = 0.69)


def test_noise_model_probability():
    """P(a ≻ b) = (1 - 0.1) sigmoid(R_a - R_b) + 0.05, from the members' raw returns."""
    rng = np.random.default_rng(2)
    ds = PreferenceDataset(_prefs(40, rng))
    trainer = PreferenceRewardTrainer(_config(label_noise=0.1, steps_per_round=20))
    trainer.update(ds, rng=rng)
    a, b = [_segment(rng) for _ in range(3)], [_segment(rng) for _ in range(3)]
    p = trainer.member_probabilities(a, b)
    model = trainer.reward_model()
    with torch.no_grad():
        ra = torch.stack([model.raw_rewards(torch.tensor(s.obs, dtype=torch.float32)).sum(1) for s in a], 1)
        rb = torch.stack([model.raw_rewards(torch.tensor(s.obs, dtype=torch.float32)).sum(1) for s in b], 1)
    expected = 0.9 * torch.sigmoid(ra - rb) + 0.05
    assert np.allclose(p, expected.numpy(), atol=1e-6)
    assert np.allclose(p, preference_probability(ra, rb, noise=0.1).numpy(), atol=1e-6)
    # the training loss is the same model: -log P of the label
    x = ra - rb
    assert torch.allclose(-bradley_terry_log_likelihood(x, torch.ones_like(x), noise=0.1), -torch.log(expected), atol=1e-5)


def test_adapt_l2_rule():
    kw = {"factor": 2.0, "band": (1.1, 1.5), "bounds": (1e-6, 1.0)}
    assert adapt_l2(0.01, 1.6, **kw) == 0.02
    assert adapt_l2(0.01, 1.0, **kw) == 0.005
    assert adapt_l2(0.01, 1.1, **kw) == 0.01 and adapt_l2(0.01, 1.5, **kw) == 0.01
    assert adapt_l2(0.01, math.nan, **kw) == 0.01
    assert adapt_l2(0.8, 3.0, **kw) == 1.0 and adapt_l2(2e-6, 0.5, **kw) == 1e-6


def test_adaptive_l2_overfit_raises_underfit_lowers():
    rng = np.random.default_rng(3)
    # overfit: a wide net on few labels with noise-free targets and a tiny L2 -> validation loss >> training loss
    few = PreferenceDataset(_prefs(24, rng))
    over = PreferenceRewardTrainer(_config(hidden=(128, 128), lr=0.01, l2=1e-6, steps_per_round=400, validation=0.4, label_noise=0.0))
    m = over.update(few, rng=np.random.default_rng(0))
    assert all(r > 1.5 for r in m["loss_ratio"]), m["loss_ratio"]
    assert all(l2 == pytest.approx(1e-6 * 1.5) for l2 in m["l2"])
    # underfit: an L2 so large the weights stay near zero: both losses near log 2, ratio ~1 < 1.1
    many = PreferenceDataset(_prefs(200, rng))
    under = PreferenceRewardTrainer(_config(hidden=(), l2=5.0, steps_per_round=100, validation=0.3))
    m = under.update(many, rng=np.random.default_rng(0))
    assert all(r < 1.1 for r in m["loss_ratio"]), m["loss_ratio"]
    assert all(l2 == pytest.approx(5.0 / 1.5) for l2 in m["l2"])


def test_bootstrap_and_validation_assignment_stable_across_updates():
    rng = np.random.default_rng(4)
    ds = PreferenceDataset(_prefs(40, rng, skip_every=7))
    trainer = PreferenceRewardTrainer(_config(members=3, steps_per_round=5))
    trainer.update(ds, rng=rng)
    counts, val = trainer.bootstrap_counts, trainer.validation_mask
    assert counts.shape == (3, 40) and val.shape == (40,)
    assert (counts[:, val] == 0).all()  # held-out labels are never trained on
    assert len(set(map(tuple, counts.T[~val]))) > 1  # the members' resamples differ
    ds.extend(_prefs(30, rng))
    trainer.update(ds, rng=rng)
    trainer.update(ds, rng=rng)  # no new labels: trains further, draws nothing new
    assert trainer.bootstrap_counts.shape == (3, 70)
    assert (trainer.bootstrap_counts[:, :40] == counts).all()
    assert (trainer.validation_mask[:40] == val).all()


def test_deterministic_for_a_seed():
    def run() -> tuple[list[dict], dict]:
        rng = np.random.default_rng(5)
        data = _prefs(60, np.random.default_rng(6))
        ds, trainer, out = PreferenceDataset(), PreferenceRewardTrainer(_config(steps_per_round=30)), []
        for k in range(2):
            ds.extend(data[30 * k : 30 * (k + 1)])
            out.append(trainer.update(ds, rng=rng))
        return out, trainer.reward_model().state_dict()

    (m1, s1), (m2, s2) = run(), run()
    assert m1 == m2
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_skipped_labels_ignored():
    rng = np.random.default_rng(7)
    prefs = _prefs(40, rng)
    # the same answered labels, with skipped ones (whose segments would mislead if used) interleaved
    decoy = [Preference(p.b, p.a, "skipped") for p in prefs]
    mixed = [x for pair in zip(prefs, decoy, strict=True) for x in pair]
    cfg = _config(validation=0.0, steps_per_round=20)
    t1, t2 = PreferenceRewardTrainer(cfg), PreferenceRewardTrainer(cfg)
    m1 = t1.update(PreferenceDataset(prefs), rng=np.random.default_rng(0))
    m2 = t2.update(PreferenceDataset(mixed), rng=np.random.default_rng(0))
    assert m2["train_labels"] == 40 == m1["train_labels"]
    assert m2["val_labels"] == 0 and math.isfinite(m2["train_loss"])  # a NaN label used would make the loss NaN
    assert (t2.bootstrap_counts[:, 1::2] == 0).all() and not t2.validation_mask[1::2].any()


def test_normalised_reward_model():
    rng = np.random.default_rng(8)
    ds = PreferenceDataset(_prefs(60, rng))
    trainer = PreferenceRewardTrainer(_config(steps_per_round=30))
    trainer.update(ds, rng=rng)
    model = trainer.reward_model()
    batch = ds.segments()
    obs = torch.as_tensor(np.concatenate([batch.obs_a, batch.obs_b]).reshape(-1, D), dtype=torch.float32)
    r = model.member_rewards(obs)
    assert torch.allclose(r.mean(1), torch.zeros(2), atol=1e-4)
    assert torch.allclose(r.std(1), torch.ones(2), atol=1e-4)
    assert model(obs).shape == (len(obs),)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("members", 0),
        ("steps_per_round", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("validation", 1.0),
        ("l2", 0.0),
        ("l2_factor", 0.5),
        ("l2_band", (1.5, 1.1)),
        ("label_noise", 1.0),
        ("hidden", (0,)),
        ("device", "tpu"),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ConfigError, match=field):
        RewardTrainerConfig(**{field: value})


def test_bad_inputs():
    rng = np.random.default_rng(9)
    trainer = PreferenceRewardTrainer(_config(steps_per_round=5))
    with pytest.raises(ValidationError, match="has not been updated"):
        trainer.reward_model()
    with pytest.raises(ValidationError, match="no answered training label"):
        trainer.update(PreferenceDataset(_prefs(3, rng, skip_every=1)), rng=rng)
    trainer = PreferenceRewardTrainer(_config(steps_per_round=5))
    trainer.update(PreferenceDataset(_prefs(20, rng)), rng=rng)
    one = PreferenceRewardTrainer(_config(members=8, validation=0.0, steps_per_round=5))
    m = one.update(PreferenceDataset(_prefs(1, rng)), rng=np.random.default_rng(0))  # some members draw count 0
    assert (one.bootstrap_counts == 0).any() and math.isfinite(m["train_loss"])
    with pytest.raises(ValidationError, match="does not start with"):
        trainer.update(PreferenceDataset(_prefs(30, rng)), rng=rng)
    with pytest.raises(ValidationError, match="dataset"):
        trainer.update([], rng=rng)  # type: ignore[arg-type]


def test_updates_continue_the_same_ensemble():
    """Each update trains the same nets further: on fixed labels the loss keeps falling round after round
    (a refit from scratch each round would start over at the same loss)."""
    rng = np.random.default_rng(10)
    ds = PreferenceDataset(_prefs(80, rng))
    trainer = PreferenceRewardTrainer(_config(hidden=(), lr=0.005, validation=0.0, l2_factor=1.0, steps_per_round=15))
    losses = [trainer.update(ds, rng=rng)["train_loss"] for _ in range(4)]
    model = trainer.reward_model()
    trainer.update(ds, rng=rng)
    assert trainer.reward_model() is model
    assert all(b < a - 0.01 for a, b in itertools.pairwise(losses)), losses


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    """A trainer restored from a checkpoint (through torch.save/load) continues exactly as the original."""
    data = _prefs(60, np.random.default_rng(11))
    ds = PreferenceDataset(data[:40])
    trainer, rng = PreferenceRewardTrainer(_config(steps_per_round=20)), np.random.default_rng(12)
    trainer.update(ds, rng=rng)
    ckpt = Checkpoint(tmp_path, every=1, fingerprint="trainer")
    ckpt.save(1, {"trainer": trainer.state_dict(), "rng": rng_state(rng)})
    saved = Checkpoint(tmp_path, every=1, fingerprint="trainer").restore()
    assert saved is not None
    resumed, rng2 = PreferenceRewardTrainer(_config(steps_per_round=20)), np.random.default_rng(0)
    ds2 = PreferenceDataset(data[:40])  # e.g. the loop's dataset loaded again
    resumed.load_state_dict(saved["trainer"], ds2)
    set_rng_state(rng2, saved["rng"])
    ds.extend(data[40:])
    ds2.extend(data[40:])
    m1, m2 = trainer.update(ds, rng=rng), resumed.update(ds2, rng=rng2)
    assert m1 == m2 and m2["round"] == 2
    s1, s2 = trainer.reward_model().state_dict(), resumed.reward_model().state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert (trainer.bootstrap_counts == resumed.bootstrap_counts).all()
    with pytest.raises(ValidationError, match="state"):
        PreferenceRewardTrainer(_config(members=3)).load_state_dict(saved["trainer"], PreferenceDataset(data[:40]))


def test_use_action_vector_and_discrete():
    """With use_action the reward reads actions: a true reward on the action alone is learned (vector
    actions as they are, integer actions one-hot with n_actions), and integer actions need n_actions."""
    rng = np.random.default_rng(13)

    def prefs(discrete: bool) -> PreferenceDataset:
        out = []
        for _ in range(80):
            segs = []
            for _ in range(2):
                acts = rng.integers(0, 3, size=T) if discrete else rng.normal(size=(T, 2))
                r = (acts == 2).astype(float) if discrete else acts[:, 0]
                segs.append(Segment(rng.normal(size=(T, D)), acts, rews=r))
            out.append(Preference(segs[0], segs[1], 0.5 if segs[0].ret == segs[1].ret else float(segs[0].ret > segs[1].ret)))
        return PreferenceDataset(out)

    for discrete in (False, True):
        ds = prefs(discrete)
        cfg = _config(use_action=True, n_actions=3 if discrete else None, steps_per_round=150, validation=0.0)
        trainer = PreferenceRewardTrainer(cfg)
        m = trainer.update(ds, rng=rng)
        assert m["train_accuracy"] >= 0.9, (discrete, m)
        assert trainer.reward_model().spec.act_dim == (3 if discrete else 2)
    with pytest.raises(ConfigError, match="n_actions"):
        PreferenceRewardTrainer(_config(use_action=True)).update(prefs(True), rng=rng)
