"""Deep RL from preferences: the Christiano loop, with a policy learning while the reward is learned.

Christiano, Leike, Brown, Martic, Legg, Amodei, *Deep reinforcement learning from human preferences*
(NeurIPS 2017); off-policy relabelling from Lee, Smith, Abbeel, *PEBBLE* (ICML 2021); simulated teachers
and query strategies from Lee, Smith, Dragan, Abbeel, *B-Pref* (NeurIPS Datasets and Benchmarks 2021).

The loop, one labelling round at a time (:meth:`RLHF.fit` reads top to bottom)::

    round 0:  roll out the untrained policy                  (initial_fraction of the label budget)
    each round r:
        1. rollouts   the policy acts under the current learned reward for feedback_every env steps
        2. queries    cut a large batch of candidate segment pairs from recent episodes
                      (RandomFragmenter), pick the pairs to ask (the query strategy; round 0 uniform)
        3. labels     the teacher answers them (a B-Pref preset on the true rewards, a replayed dataset,
                      or a person through the labelling app)
        4. reward     the ensemble trains further on every label so far (PreferenceRewardTrainer:
                      incremental, bootstrap members, held-out labels, adaptive L2; plain
                      Bradley–Terry by default, the paper's 10% noise model one setting away)
        5. policy     PPO: the next rollouts are relabelled with the new reward at their end
                      (RelabelRollout); SAC: the whole replay buffer is relabelled now (PEBBLE)

**The label schedule** (:func:`label_schedule`). ``N = labels`` queries in all (skipped ones count, as
in B-Pref); ``n_0 = round(initial_fraction * N)`` of them in round 0 (the paper: 25% from the initial
policy); the rest at a decaying rate ``rate(t) ∝ 1 / (1 + k t / t_end)`` until ``t_end = label_until *
steps`` env steps, where ``1 + k = label_decay`` is the ratio of the first rate to the last (the paper's
rate also decays as training goes on). The cumulative count asked by step ``t`` is
``n(t) = n_0 + (N - n_0) log(1 + k t / t_end) / log(1 + k)`` (linear when ``label_decay = 1``).

**What the loop measures** each round (the callback's metrics, ``FitResult.history``): ``label_accuracy``,
the fraction of the round's new pairs with distinct true returns that the current reward orders like the
true return *before* it trains on them (a held-out accuracy against the truth, NaN in round 0);
``true_return``, the mean true return of the training episodes finished since the last round; the
trainer's ``train_accuracy`` / ``val_accuracy`` (against the teacher's labels); and ``eval_return`` when
an evaluation is due.

**People** (``teacher="human"``: a :class:`~rewardlab.prefs.teachers.HumanTeacher` such as the labelling
app's :class:`~rewardlab.labeling.teacher.LabelServerTeacher`). People answer later, or not at all, so
step 3 is *post, then collect*: a round posts its queries (``post``) and then collects every answer so
far to the queries still open, its own and earlier rounds' (``answers``), waiting up to ``human_wait``
seconds (round 0: ``human_first_wait``, and no answer by then is an error) before the reward and the
policy train on. Queries unanswered by then stay *pending*: later rounds collect them, and the
schedule counts them as asked (``n(t)`` counts labels asked, answered or not, so the budget ``N`` is
never exceeded). Answers join the dataset as they arrive, skipped ones included, and
``label_accuracy`` is measured on each round's newly answered pairs (from their true rewards, before
the reward trains on them). After the last round the loop collects once more without waiting, trains
the reward on what came, and warns how many queries stayed unanswered. The round metrics add ``asked``
and ``pending``; ``labels`` counts the answered ones. Pending queries (ids and segments) are part of
the checkpoint, so a resumed loop collects them from the same server.

**Resume.** With a :class:`~rewardlab.checkpoint.Checkpoint`, the state after each due round is saved:
labels, reward ensemble (nets, Adam moments, L2, bootstrap counts, held-out flags), the policy's weights
and optimisers (and SAC's replay buffer and entropy coefficient), the pool of recent finished episodes
that segments are cut from, the schedule position and the random state. A resumed fit continues from the
latest saved round with fresh env episodes (an env's internal state cannot be saved), so it is not
bit-identical to an uninterrupted fit, but no label is asked twice and the budget and schedule are kept.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state
from rewardlab.data.preferences import SKIPPED, Preference, PreferenceDataset, Segment
from rewardlab.data.trajectory import Trajectory
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.learner import Callback, FitResult, History
from rewardlab.prefs.fragments import RandomFragmenter, labelled_preferences
from rewardlab.prefs.queries import QUERY_STRATEGIES, QueryContext, pair_features, select_queries
from rewardlab.prefs.reward_trainer import PreferenceRewardTrainer, RewardTrainerConfig
from rewardlab.prefs.teachers import TEACHER_PRESETS, HumanAnswers, HumanTeacher, SimulatedTeacher, Teacher, bpref_return_scale

__all__ = ["RLHF", "RLHFConfig", "label_schedule", "planned_rounds", "relabel_replay_buffer", "round_steps"]

#: The reward trainer's per-round metrics that the loop reports (NaN in rounds that asked no labels).
_TRAINER_KEYS = ("new_labels", "train_labels", "val_labels", "train_loss", "val_loss", "train_accuracy", "val_accuracy")

#: ``RLHFConfig.teacher`` for people labelling through the labelling app (a HumanTeacher given to ``fit``).
HUMAN = "human"

#: Query strategies that need a reward linear in known features (a weight posterior), not an ensemble.
LINEAR_ONLY = ("information_gain", "volume_removal")


@dataclass(frozen=True)
class RLHFConfig:
    """Hyperparameters of :class:`RLHF` (module docstring for the loop and the schedule).

    Attributes:
        steps: env steps of the whole run (the round-0 rollouts of the untrained policy included).
        labels: ``N``, the label budget: queries asked in all, skipped answers included.
        initial_fraction: share of ``N`` asked in round 0, on the untrained policy's rollouts.
        label_until: fraction of ``steps`` by which the whole budget has been asked.
        label_decay: ratio of the first labelling rate to the last (1: constant rate).
        feedback_every: env steps between labelling rounds (PPO: rounded up to whole rollouts); also the
            env steps of round 0's rollouts.
        segment: ``T``, the steps of each compared segment (B-Pref: 50).
        large_batch: candidates per asked pair; the strategy picks from ``large_batch * k`` uniform pairs.
        pool_episodes: the most recent finished episodes that segments are cut from.
        query: a strategy of :data:`rewardlab.prefs.queries.QUERY_STRATEGIES` that works with an ensemble.
        teacher: a B-Pref preset (:data:`rewardlab.prefs.teachers.TEACHER_PRESETS`) used when ``fit`` is
            given no teacher, or ``"human"``: people label through the labelling app, and ``fit`` must be
            given a :class:`~rewardlab.prefs.teachers.HumanTeacher` (``rewardlab rlhf --teacher human`` and
            ``rewardlab run`` build a :class:`rewardlab.labeling.teacher.LabelServerTeacher` on ``label_server``).
        label_server: the labelling server's URL (``rewardlab label serve``), for ``teacher = "human"``
            only: what the command line and the run config connect the teacher to (``fit`` itself takes
            the teacher object and does not read it).
        human_wait: seconds a round (after round 0) waits for the answers to the queries still open before
            the reward and the policy train on; whatever is still pending stays asked and is collected by
            later rounds (0: never wait, take what has come).
        human_first_wait: seconds round 0 waits for the answers to its queries (the reward needs some
            before the policy can train on it); no usable answer by then is an error.
        algo: ``"ppo"`` (on-policy, rollouts relabelled at their end) or ``"sac"`` (off-policy, replay buffer
            relabelled after each reward update).
        hyperparams: the SB3 algorithm's settings over :data:`rewardlab.rl.sb3.PRESETS` (``n_envs`` too).
        reward: the reward ensemble's trainer. The loop's default differs from the trainer's in two settings:
            ``label_noise=0`` (plain Bradley–Terry, as B-Pref and PEBBLE train) and ``steps_per_round=50``
            (half the reward training of 100 steps a round, which scored alike on Pendulum: benchmarks/RESULTS.md).
            With the paper's 10% noise model the ensemble collapsed on Pendulum-v1 once the policy moved
            (training accuracy 0.93 in round 0, 0.44 by round 12 of a 100k-step run, 500 labels): the
            noise model's gradient vanishes on pairs it orders confidently wrong (``P -> epsilon / 2``), so
            segments of new behaviour that the net extrapolates to wrongly are never corrected. Set
            ``reward.label_noise = 0.1`` for the paper's model.
        eval_every: env steps between evaluations of the policy on the true reward (0: only at the end).
        eval_episodes: episodes of each evaluation.
        eval_seed: evaluation episode ``e`` resets with seed ``eval_seed + e`` (the same start states for
            every run, so that runs and other libraries can be compared on the same episodes).
        policy_reward: ``"learned"``: the policy optimises the learned reward (RLHF); ``"true"``: the
            control, the same loop (same steps, labels, reward training, evaluation) with the policy on
            the env's own reward: the return of RL on the true reward at the same env steps, and how
            well the reward learns from the behaviour of a policy that is not steered by it.
        device: torch device of the policy and the reward (``"cpu"`` or ``"cuda"``).
    """

    steps: int = 1_000_000
    labels: int = 700
    initial_fraction: float = 0.25
    label_until: float = 0.5
    label_decay: float = 5.0
    feedback_every: int = 4096
    segment: int = 50
    large_batch: int = 10
    pool_episodes: int = 50
    query: str = "disagreement"
    teacher: str = "oracle"
    label_server: str | None = None
    human_wait: float = 30.0
    human_first_wait: float = 1800.0
    algo: Literal["ppo", "sac"] = "ppo"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    reward: RewardTrainerConfig = field(default_factory=lambda: RewardTrainerConfig(label_noise=0.0, steps_per_round=50))
    eval_every: int = 0
    eval_episodes: int = 5
    eval_seed: int = 1_000_000
    policy_reward: Literal["learned", "true"] = "learned"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "labels", "feedback_every", "segment", "large_batch", "pool_episodes", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if self.eval_every < 0:
            raise ConfigError("eval_every", f"is {self.eval_every}", "give 0 (evaluate at the end only) or a positive number of steps")
        if not 0 < self.initial_fraction <= 1:
            raise ConfigError("initial_fraction", f"is {self.initial_fraction}", "ask a share in (0, 1] in round 0 (the paper: 0.25)")
        if not 0 < self.label_until <= 1:
            raise ConfigError("label_until", f"is {self.label_until}", "give the share of steps in (0, 1] by which all labels are asked")
        if not (self.label_decay >= 1 and math.isfinite(self.label_decay)):
            raise ConfigError("label_decay", f"is {self.label_decay}", "give the first-to-last rate ratio, a finite number >= 1")
        if self.query in LINEAR_ONLY:
            raise ConfigError(
                "query",
                f"is {self.query!r}, which needs a reward linear in known features",
                "use it with the active linear learner; here choose " + ", ".join(q for q in QUERY_STRATEGIES if q not in LINEAR_ONLY),
            )
        if self.query not in QUERY_STRATEGIES:
            raise ConfigError(
                "query", f"is {self.query!r}", "choose one of " + ", ".join(q for q in QUERY_STRATEGIES if q not in LINEAR_ONLY)
            )
        if self.teacher != HUMAN:
            if self.teacher not in TEACHER_PRESETS:
                from rewardlab._schema import did_you_mean

                raise ConfigError(
                    "teacher",
                    f"is {self.teacher!r}",
                    f"{did_you_mean(self.teacher, [*TEACHER_PRESETS, HUMAN])}choose a B-Pref teacher ({', '.join(TEACHER_PRESETS)}) "
                    "or 'human' (people, through the labelling app)",
                )
            if self.label_server is not None:
                raise ConfigError(
                    "label_server",
                    f"is {self.label_server!r} with the {self.teacher!r} teacher",
                    "use it with teacher='human', or leave it out",
                )
        for name in ("human_wait", "human_first_wait"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(name, f"is {value}", "give a finite number of seconds >= 0")
        if self.policy_reward not in ("learned", "true"):
            raise ConfigError("policy_reward", f"is {self.policy_reward!r}", "choose 'learned' or 'true' (the control)")
        if self.algo not in ("ppo", "sac"):
            raise ConfigError("algo", f"is {self.algo!r}", "choose 'ppo' or 'sac'")
        if self.reward.device != self.device:
            object.__setattr__(self, "reward", replace(self.reward, device=self.device))
        from rewardlab.rl.sb3 import check_hyperparams

        object.__setattr__(self, "hyperparams", check_hyperparams(self.algo, self.hyperparams))


def label_schedule(env_steps: int, *, budget: int, initial: int, until: int, decay: float) -> int:
    """``n(t)``: how many labels should have been asked after ``env_steps`` env steps (module docstring).

    Args:
        env_steps: ``t``, env steps so far (0 in round 0).
        budget: ``N``, all labels.
        initial: ``n_0``, the labels of round 0.
        until: ``t_end``, the step by which all ``N`` are asked.
        decay: ``1 + k``, the ratio of the first labelling rate to the last.

    Examples:
        >>> [label_schedule(t, budget=100, initial=25, until=1000, decay=1.0) for t in (0, 500, 1000, 5000)]
        [25, 62, 100, 100]
        >>> label_schedule(500, budget=100, initial=25, until=1000, decay=5.0)  # front-loaded: more than half by half-way
        76
    """
    if env_steps >= until:
        return budget
    x = max(env_steps, 0) / until
    k = decay - 1.0
    share = x if k == 0 else math.log1p(k * x) / math.log1p(k)
    return int(initial + math.floor((budget - initial) * share))


def round_steps(config: RLHFConfig, rollout: int) -> int:
    """Env steps of the policy between labelling rounds: ``feedback_every``, rounded up to whole PPO rollouts
    of ``rollout = n_steps * n_envs`` steps (SAC: as given).

    Examples:
        >>> round_steps(RLHFConfig(feedback_every=5000), 4096), round_steps(RLHFConfig(feedback_every=5000, algo="sac"), 1)
        (8192, 5000)
    """
    if config.algo != "ppo":
        return config.feedback_every
    return max(rollout, math.ceil(config.feedback_every / rollout) * rollout)


def planned_rounds(config: RLHFConfig, env_id: Any) -> int:
    """About how many labelling rounds a fit of ``config`` on ``env_id`` runs (round 0's whole episodes make
    it approximate): what a progress bar counts.

    Examples:
        >>> planned_rounds(RLHFConfig(steps=100_000), "Pendulum-v1")  # 4 envs x 1,024 steps a rollout
        25
    """
    from rewardlab.rl.sb3 import rollout_steps

    rollout = rollout_steps(config.algo, env_id, config.hyperparams)
    return 1 + math.ceil(max(config.steps - config.feedback_every, 0) / round_steps(config, rollout))


def relabel_replay_buffer(buffer: Any, reward: Any, policy: Any) -> int:
    """PEBBLE's relabelling: overwrite the rewards of every transition in an SB3 replay buffer with ``reward``'s.

    Args:
        buffer: an SB3 ``ReplayBuffer`` (observations ``(size, n_envs, *obs_shape)``, actions stored in the
            policy's squashed ``[-1, 1]`` scale).
        reward: a reward model ``reward(obs (B, ...), act (B, ...) | None) -> (B,)``.
        policy: the SB3 policy, whose ``unscale_action`` maps stored actions back to the env's bounds.

    Returns:
        The number of buffer rows relabelled (each holds ``n_envs`` transitions).
    """
    from rewardlab.rewards.wrappers import shaped_reward

    n = buffer.buffer_size if buffer.full else buffer.pos
    if n == 0:
        return 0
    obs = buffer.observations[:n].reshape(n * buffer.n_envs, *buffer.obs_shape)
    acts = buffer.actions[:n].reshape(n * buffer.n_envs, -1)
    if hasattr(policy, "unscale_action"):
        acts = policy.unscale_action(acts)
    r = shaped_reward(reward, obs, acts, transform="none", ctrl_cost=0.0, normalizer=None)
    buffer.rewards[:n] = r.reshape(n, buffer.n_envs).astype(buffer.rewards.dtype)
    return int(n)


class _Recorder:
    """SB3 callback (built lazily, so that importing this module does not import SB3) that records the
    training episodes (observation acted in, executed action, true reward) into a pool of recent
    finished :class:`~rewardlab.data.Trajectory` objects, and for off-policy learners writes the learned
    reward into the transition SB3 is about to store."""

    def __init__(self, n_envs: int, pool: int) -> None:
        self.pool: deque[Trajectory] = deque(maxlen=pool)
        self.returns: list[float] = []  # true returns of episodes finished since the last round
        self._steps: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(n_envs)]

    def add(self, obs: np.ndarray, acts: np.ndarray, true_rewards: np.ndarray, dones: np.ndarray, infos: Sequence[dict[str, Any]]) -> None:
        for i in range(len(self._steps)):
            self._steps[i].append((obs[i], acts[i], float(true_rewards[i])))
            if dones[i]:
                steps = self._steps[i]
                final = infos[i].get("terminal_observation", obs[i])
                self.pool.append(
                    Trajectory(
                        np.stack([s[0] for s in steps] + [np.asarray(final)]),
                        np.stack([s[1] for s in steps]),
                        rews=np.array([s[2] for s in steps]),
                    )
                )
                self.returns.append(float(sum(s[2] for s in steps)))
                self._steps[i] = []


def _recorder_callback(recorder: _Recorder, reward: Any) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    from rewardlab.rewards.wrappers import shaped_reward

    class RecordEpisodes(BaseCallback):
        def _on_step(self) -> bool:
            loc = self.locals
            acts = loc.get("clipped_actions", loc["actions"])
            obs = self.model._last_obs  # the observation the action was taken in (updated after this call)
            infos = loc["infos"]
            true = np.array([info.get("true_reward", r) for info, r in zip(infos, loc["rewards"], strict=True)])
            recorder.add(np.asarray(obs), np.asarray(acts), true, np.asarray(loc["dones"]), infos)
            if reward is not None:  # off-policy: SB3 stores `rewards` right after this call
                loc["rewards"][:] = shaped_reward(
                    reward, np.asarray(obs), np.asarray(acts), transform="none", ctrl_cost=0.0, normalizer=None
                )
            return True

    return RecordEpisodes(verbose=0)


def _episode_length(env: Any) -> int | None:
    spec = getattr(env, "spec", None)
    return getattr(spec, "max_episode_steps", None)


@dataclass
class RLHF:
    """RL from preferences (Christiano et al. 2017): a policy trains on a reward learned from a teacher's
    comparisons of its own behaviour, while it learns (module docstring).

    Examples:
        >>> cfg = RLHFConfig(steps=2048, labels=20, feedback_every=1024, segment=10, eval_episodes=1,
        ...                  hyperparams={"n_envs": 1, "n_steps": 512}, reward=RewardTrainerConfig(steps_per_round=20))
        >>> fit = RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(0))
        >>> fit.info["labels"], len(fit.info["dataset"]), fit.info["env_steps"] >= 2048
        (20, 20, True)
    """

    config: RLHFConfig = field(default_factory=RLHFConfig)

    def fit(
        self,
        env: str | Callable[[], Any],
        *,
        rng: np.random.Generator,
        teacher: Teacher | HumanTeacher | None = None,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Train a policy and its reward together on ``env``, asking ``teacher`` (default: the config's
        B-Pref preset on the env's true reward) up to ``config.labels`` comparisons.

        Args:
            env: a Gymnasium id or a function returning a new env.
            rng: every draw of the loop (candidates, queries, teacher, reward training) and the seeds of
                the policy and its envs.
            teacher: anything with ``label(rewards_a (B, T), rewards_b (B, T), *, rng, pairs) -> TeacherLabels``,
                or people: a :class:`~rewardlab.prefs.teachers.HumanTeacher` (``post`` and ``answers``, e.g.
                :class:`rewardlab.labeling.teacher.LabelServerTeacher`), asked as the module docstring's
                "People" says; required when ``config.teacher`` is ``"human"``.
            callback: ``callback(round, metrics) -> stop?`` after each labelling round.
            checkpoint: save the loop's state after due rounds and resume from the latest (module docstring).

        Returns:
            ``reward``: the normalised ensemble; ``policy``: the SB3 model; ``history``: the round metrics;
            ``info``: ``dataset`` (every label, true rewards in the segments), ``labels``, ``env_steps``,
            ``seconds`` (the loop's wall-clock, resumed parts included, the final evaluation not),
            ``eval_return_mean``/``eval_return_std`` (final evaluation on the true reward), ``curve`` (the round metrics as rows), ``warnings``;
            with a human teacher also ``asked`` (answered and unanswered), ``unanswered``, ``late_labels``
            (answers collected after the last round, trained on) and ``late_label_accuracy`` (the reward's
            on them before that, NaN without any).

        Raises:
            ConfigError: ``config.teacher`` is ``"human"`` and no teacher was given.
            ValidationError: the teacher answered nothing usable in round 0 (a human teacher: within
                ``config.human_first_wait``), or a human teacher's ``post``/``answers`` returned the wrong
                number of entries.
        """
        from stable_baselines3 import PPO, SAC

        from rewardlab.rl.relabel import RelabelRollout
        from rewardlab.rl.sb3 import evaluate, load_policy_state, make_vec_env, policy_state, preset_params

        cfg = self.config
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("rng", f"is a {type(rng).__name__}", "pass np.random.default_rng(seed)")
        if teacher is None and cfg.teacher == HUMAN:
            raise ConfigError(
                "teacher",
                "is 'human', but fit was given no teacher to ask",
                "pass teacher=LabelServerTeacher(url, token, env_id=...) (rewardlab.labeling.teacher) or another HumanTeacher, "
                "or choose a B-Pref teacher such as 'oracle'",
            )
        people = teacher if isinstance(teacher, HumanTeacher) else None
        env_id = env
        env_name = env_id if isinstance(env_id, str) else None
        probe = gym.make(env_id) if isinstance(env_id, str) else env_id()
        episode_length = _episode_length(probe)
        probe.close()
        simulated = teacher is None
        if teacher is None:
            teacher = SimulatedTeacher(TEACHER_PRESETS[cfg.teacher])
        params = preset_params(cfg.algo, env_id, cfg.hyperparams)
        n_envs = int(params.pop("n_envs", 1))
        seed = int(rng.integers(2**31))
        learned = cfg.policy_reward == "learned"
        envs = make_vec_env(env_id, n_envs=n_envs, seed=seed, zero_reward=learned)
        algo_cls = PPO if cfg.algo == "ppo" else SAC
        model: Any = algo_cls("MlpPolicy", envs, seed=seed, device=cfg.device, verbose=0, **params)
        trainer = PreferenceRewardTrainer(cfg.reward)
        fragmenter = RandomFragmenter(cfg.segment)
        recorder = _Recorder(n_envs, cfg.pool_episodes)
        callbacks: list[Any] = []  # built once the reward exists (after round 0's update)
        rollout = int(getattr(model, "n_steps", 1)) * n_envs
        chunk = round_steps(cfg, rollout)
        initial = max(1, round(cfg.initial_fraction * cfg.labels))
        until = max(1, round(cfg.label_until * cfg.steps))

        dataset = PreferenceDataset(env_id=env_name)
        pending = _Pending()  # a HumanTeacher's queries asked and not answered yet
        labelled_feats: list[np.ndarray] = []
        history = History()
        curve: list[dict[str, float]] = []
        warnings: list[str] = []
        round_, env_steps, offset, seconds0 = 0, 0, 0, 0.0  # offset: round 0's env steps (the policy's count excludes them)
        if checkpoint is not None:
            checkpoint = checkpoint.bind("rlhf", cfg, env_name or repr(env_id), rng_state(rng))
            saved = checkpoint.restore()
            if saved is not None:
                dataset = _dataset_from_state(saved["dataset"], env_name)
                trainer.load_state_dict(saved["trainer"], dataset)
                load_policy_state(model, saved["policy"])
                set_rng_state(rng, saved["rng"])
                saved_feats = np.asarray(saved["labelled_features"])
                labelled_feats = [saved_feats] if saved_feats.size else []
                if "pending" in saved:
                    pending = _Pending.from_state(saved["pending"], env_name)
                for episode in saved.get("pool", []):  # the finished episodes the next round cuts segments from
                    recorder.pool.append(
                        Trajectory(np.asarray(episode["obs"]), np.asarray(episode["acts"]), rews=np.asarray(episode["rews"]))
                    )
                curve = [dict(row) for row in saved["curve"]]
                for row in curve:
                    history.log(int(row["round"]), **{k: v for k, v in row.items() if k != "round"})
                round_, env_steps, seconds0 = int(saved["step"]) + 1, int(saved["env_steps"]), float(saved["seconds"])
                offset = int(saved["offset"])
                model.num_timesteps = env_steps - offset

        t0 = time.perf_counter() - seconds0
        while True:
            # -- 1. rollouts: round 0 on the untrained policy, then the policy trains under the learned reward
            recorder.returns = []
            if round_ == 0:
                while env_steps < cfg.feedback_every or len(recorder.pool) < 2:
                    for tr in _collect(env_id, model, n_envs, seed=seed + env_steps):
                        recorder.pool.append(tr)
                        recorder.returns.append(float(tr.rews.sum()))  # type: ignore[union-attr]
                        env_steps += len(tr)
                offset = env_steps
            else:
                todo = min(chunk, cfg.steps - env_steps)
                if todo <= 0:
                    break
                if not callbacks:
                    live = trainer.reward_model()  # the same object, trained further each round
                    callbacks.append(_recorder_callback(recorder, live if learned and cfg.algo == "sac" else None))
                    if learned and cfg.algo == "ppo":
                        callbacks.append(RelabelRollout(live, normalize="none"))
                model.learn(todo, reset_num_timesteps=False, callback=callbacks)
                env_steps = offset + int(model.num_timesteps)
            # every round reports every key (NaN where it did not measure it), so the history's columns line up by round
            metrics: dict[str, float] = {"env_steps": float(env_steps), **dict.fromkeys(_TRAINER_KEYS, math.nan), "eval_return": math.nan}
            metrics["true_return"] = float(np.mean(recorder.returns)) if recorder.returns else math.nan

            # -- 2. queries: candidates from recent episodes, the strategy picks what to ask
            target = label_schedule(env_steps if round_ else 0, budget=cfg.labels, initial=initial, until=until, decay=cfg.label_decay)
            k = target - len(dataset) - len(pending)  # the schedule counts labels asked: answered (skipped too) and pending
            new_acc = math.nan
            before = len(dataset)
            if k > 0 and len(recorder.pool):
                try:
                    candidates = fragmenter.fragment(list(recorder.pool), cfg.large_batch * k, rng=rng)
                except ValidationError as exc:
                    raise ConfigError("segment", f"is {cfg.segment}: {exc}", "use segments shorter than the env's episodes") from exc
                obs_a, obs_b = candidates.observations()
                feats = pair_features(obs_a, obs_b)
                context = QueryContext()
                if round_ > 0:
                    segs = (
                        (obs_a, np.stack([s.acts for s in candidates.segments_a])),
                        (obs_b, np.stack([s.acts for s in candidates.segments_b])),
                    )
                    context = QueryContext(
                        member_probs=trainer.member_probabilities(*segs),
                        features=feats,
                        labelled_features=np.concatenate(labelled_feats) if labelled_feats else None,
                    )
                chosen = select_queries(cfg.query, len(candidates), k, rng=rng, context=context, first_batch=round_ == 0)
                asked = candidates.take(chosen)
                labelled_feats.append(feats[chosen])

                # -- 3. labels: the teacher answers (B-Pref thresholds from the 10 latest episode returns)
                if people is not None:  # people answer later: post now, collect below with the queries still pending
                    pending.post(people, asked)
                else:
                    rews_a, rews_b = asked.rewards()
                    if simulated and isinstance(teacher, SimulatedTeacher) and teacher.config.needs_scale:
                        recent = [float(tr.rews.sum()) for tr in list(recorder.pool)[-10:]]  # type: ignore[union-attr]
                        length = episode_length or max(len(tr) for tr in recorder.pool)
                        teacher = teacher.with_return_scale(bpref_return_scale(recent, cfg.segment, max(length, cfg.segment)))
                    answers = teacher.label(rews_a, rews_b, rng=rng)  # type: ignore[union-attr]
                    if round_ > 0:
                        new_acc = _order_accuracy(trainer, asked.segments_a, asked.segments_b, rews_a, rews_b)
                    dataset.extend(labelled_preferences(asked, answers, env_id=env_name))
            if people is not None and len(pending):
                # every answer so far, to this round's queries and to earlier rounds' (round 0 waits longer)
                wait = cfg.human_first_wait if round_ == 0 else cfg.human_wait
                answered = pending.collect(people, timeout=wait)
                if round_ == 0 and not answered:
                    raise ValidationError(
                        "teacher",
                        f"answered none of the {len(pending)} queries of round 0 within human_first_wait = {cfg.human_first_wait:g} s",
                        "check that annotators are labelling on the server (rewardlab label serve, rewardlab label add-annotator NAME), "
                        "or wait longer (human_first_wait)",
                    )
                if round_ > 0 and answered:
                    new_acc = _answered_accuracy(trainer, answered)
                dataset.extend(answered)
            changed = len(dataset) > before if people is not None else k > 0  # the reward has new labels to train on

            # -- 4. reward: train the ensemble further on every label so far
            if len(dataset) and changed:
                if dataset.n_skipped < len(dataset):
                    update = _update(trainer, dataset, rng, first=round_ == 0 and people is not None)
                    metrics.update({key: float(update[key]) for key in _TRAINER_KEYS})
                elif round_ == 0:
                    warnings.append("the teacher skipped every query of round 0; the reward waits for answered labels")
            metrics["labels"] = float(len(dataset))
            metrics["label_accuracy"] = new_acc
            if people is not None:
                metrics["asked"], metrics["pending"] = float(len(dataset) + len(pending)), float(len(pending))

            # -- 5. policy: PPO relabels each rollout at its end; SAC's replay buffer is relabelled now (PEBBLE)
            if learned and cfg.algo == "sac" and trainer.model is not None and changed:
                relabel_replay_buffer(model.replay_buffer, trainer.reward_model(), model.policy)
            if cfg.eval_every and round_ > 0 and (env_steps // cfg.eval_every) > ((env_steps - chunk) // cfg.eval_every):
                metrics["eval_return"] = float(evaluate(model, env_id, episodes=cfg.eval_episodes, seed=cfg.eval_seed).returns().mean())
            metrics["seconds"] = time.perf_counter() - t0
            history.log(round_, **metrics)
            curve.append({"round": float(round_), **metrics})
            if round_ == 0 and trainer.model is None:
                raise ValidationError(
                    "teacher",
                    f"answered none of the {len(dataset)} queries of round 0"
                    if people is None
                    else f"skipped all {len(dataset)} queries answered in round 0 ({len(pending)} still pending)",
                    "use a teacher that answers (or a larger initial_fraction)"
                    if people is None
                    else "ask annotators to choose where they can, wait longer (human_first_wait) or ask more in round 0 (initial_fraction)",
                )
            # the round's metrics row first, then its checkpoint: a kill between them repeats the round on resume
            # (the run truncates rows after the last checkpoint); the other order would lose the row for good
            stop = callback is not None and callback(round_, metrics)
            if checkpoint is not None and (checkpoint.due(round_) or env_steps >= cfg.steps):
                checkpoint.save(
                    round_,
                    {
                        "env_steps": env_steps,
                        "offset": offset,
                        "seconds": metrics["seconds"],
                        "dataset": _dataset_state(dataset),
                        "trainer": trainer.state_dict(),
                        "policy": policy_state(model),
                        "rng": rng_state(rng),
                        "labelled_features": np.concatenate(labelled_feats) if labelled_feats else np.zeros((0, 0)),
                        "pool": [{"obs": tr.obs, "acts": tr.acts, "rews": tr.rews} for tr in recorder.pool],
                        "curve": curve,
                        **({"pending": pending.state()} if people is not None else {}),
                    },
                )
            if stop:
                break
            round_ += 1
            if env_steps >= cfg.steps:
                break

        late: list[Preference] = []
        late_accuracy = math.nan
        if people is not None and len(pending):  # the answers that came while the last round trained
            late = pending.collect(people, timeout=0.0)
            if late:
                late_accuracy = _answered_accuracy(trainer, late)
                dataset.extend(late)
                if dataset.n_skipped < len(dataset):
                    trainer.update(dataset, rng=rng)
            if len(pending):
                warnings.append(
                    f"{len(pending)} of the {len(dataset) + len(pending)} queries asked had no answer by the end of the loop: "
                    "they are not in the dataset"
                )
        seconds = time.perf_counter() - t0  # the loop's wall-clock, without the final evaluation
        evaluation = evaluate(model, env_id, episodes=cfg.eval_episodes, seed=cfg.eval_seed).returns()
        if dataset.n_skipped == len(dataset):
            warnings.append("every query was skipped: the reward never trained")
        info = {
            "dataset": dataset,
            "labels": len(dataset),
            "env_steps": env_steps,
            "seconds": seconds,
            "eval_return_mean": float(evaluation.mean()),
            "eval_return_std": float(evaluation.std()),
            "curve": curve,
            "warnings": warnings,
        }
        if people is not None:
            info.update(
                asked=len(dataset) + len(pending),
                unanswered=len(pending),
                late_labels=len(late),
                late_label_accuracy=late_accuracy,
            )
        return FitResult(reward=trainer.reward_model(), policy=model, history=history, info=info)


def _collect(env_id: Any, model: Any, n_envs: int, *, seed: int) -> list[Trajectory]:
    """``n_envs`` whole episodes of the (untrained) policy's stochastic actions, true rewards recorded."""
    from rewardlab.data.gym_rollouts import collect_rollouts

    return list(collect_rollouts(env_id, model, n_envs, seed=seed, n_envs=n_envs, deterministic=False))


def _order_accuracy(
    trainer: PreferenceRewardTrainer, segments_a: Sequence[Segment], segments_b: Sequence[Segment], rews_a: np.ndarray, rews_b: np.ndarray
) -> float:
    """Fraction of pairs with distinct true returns whose order the ensemble-mean reward gets right."""
    true = rews_a.sum(1) - rews_b.sum(1)
    strict = true != 0
    if not strict.any():
        return math.nan
    probs = trainer.member_probabilities(list(segments_a), list(segments_b)).mean(0)
    return float(((probs > 0.5) == (true > 0))[strict].mean())


def _answered_accuracy(trainer: PreferenceRewardTrainer, answered: Sequence[Preference]) -> float:
    """:func:`_order_accuracy` of people's newly answered pairs (skipped ones too, as the simulated
    teachers' asked pairs), from their segments' true rewards; NaN where a segment has none."""
    if any(p.a.rews is None or p.b.rews is None for p in answered):
        return math.nan
    segments_a, segments_b = [p.a for p in answered], [p.b for p in answered]
    rews_a, rews_b = np.stack([s.rews for s in segments_a]), np.stack([s.rews for s in segments_b])  # type: ignore[misc]
    return _order_accuracy(trainer, segments_a, segments_b, rews_a, rews_b)


def _update(trainer: PreferenceRewardTrainer, dataset: PreferenceDataset, rng: np.random.Generator, *, first: bool) -> dict[str, Any]:
    """``trainer.update``; on a human teacher's round 0 (``first``), answers that are all held out for
    validation are a teacher error saying what to do (a simulated round 0 asks enough labels not to)."""
    try:
        return trainer.update(dataset, rng=rng)
    except ValidationError as exc:
        if not first or exc.field != "dataset":
            raise
        raise ValidationError(
            "teacher",
            f"answered {len(dataset) - dataset.n_skipped} queries in round 0, all held out to validate the reward ({exc.problem})",
            "wait for more answers in round 0 (human_first_wait) or ask more there (initial_fraction)",
        ) from exc


class _Pending:
    """A :class:`~rewardlab.prefs.teachers.HumanTeacher`'s queries that were posted and not answered yet:
    their ids and segment pairs, oldest first (part of the loop's checkpoint)."""

    def __init__(self, ids: Sequence[str] = (), pairs: Sequence[tuple[Segment, Segment]] = ()) -> None:
        self.ids = list(ids)
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.ids)

    def post(self, teacher: HumanTeacher, asked: Any) -> None:
        """Post the pairs of ``asked`` (:class:`~rewardlab.prefs.fragments.FragmentPairs`) to ``teacher``."""
        queries = list(zip(asked.segments_a, asked.segments_b, strict=True))
        ids = teacher.post(queries)
        if not isinstance(ids, (list, tuple)) or len(ids) != len(queries):
            n = len(ids) if isinstance(ids, (list, tuple)) else type(ids).__name__
            raise ValidationError("teacher", f"returned {n} ids from post for {len(queries)} queries", "return one id per query, in order")
        self.ids.extend(str(i) for i in ids)
        self.pairs.extend(queries)

    def collect(self, teacher: HumanTeacher, *, timeout: float) -> list[Preference]:
        """Wait up to ``timeout`` s for answers; the answered queries (skipped ones too), oldest first, as
        preferences, removed from the pending ones."""
        got = teacher.answers(list(self.ids), timeout=timeout)
        if not isinstance(got, HumanAnswers) or len(got.pending) != len(self.ids):
            what = f"{len(got.pending)} answers" if isinstance(got, HumanAnswers) else f"a {type(got).__name__}"
            raise ValidationError(
                "teacher", f"returned {what} for {len(self.ids)} ids", "return HumanAnswers with one entry per id asked about"
            )
        answered: list[Preference] = []
        ids, pairs = [], []
        for k, (qid, (a, b)) in enumerate(zip(self.ids, self.pairs, strict=True)):
            if got.pending[k]:
                ids.append(qid)
                pairs.append((a, b))
            else:
                answered.append(Preference(a, b, SKIPPED if got.skipped[k] else float(got.labels[k])))
        self.ids, self.pairs = ids, pairs
        return answered

    def state(self) -> dict[str, Any]:
        """Plain values for a checkpoint."""
        return {"ids": list(self.ids), "pairs": _dataset_state(PreferenceDataset(Preference(a, b, SKIPPED) for a, b in self.pairs))}

    @classmethod
    def from_state(cls, state: dict[str, Any], env_id: str | None) -> _Pending:
        pairs = _dataset_from_state(state["pairs"], env_id)
        return cls([str(i) for i in state["ids"]], [(p.a, p.b) for p in pairs])


# -- checkpoint helpers: plain tensors and numbers only (Checkpoint loads with weights_only=True) -----------


def _dataset_state(dataset: PreferenceDataset) -> dict[str, Any]:
    if not len(dataset):
        return {"n": 0}
    batch = dataset.segments()
    arrays = {name: getattr(batch, name) for name in ("obs_a", "acts_a", "rews_a", "obs_b", "acts_b", "rews_b")}
    return {"n": len(dataset), "labels": dataset.labels(), **{k: v for k, v in arrays.items() if v is not None}}


def _dataset_from_state(state: dict[str, Any], env_id: str | None) -> PreferenceDataset:
    n = int(state["n"])
    if not n:
        return PreferenceDataset(env_id=env_id)
    arr = {k: np.asarray(v) for k, v in state.items() if k != "n"}
    prefs = []
    for i in range(n):
        label = arr["labels"][i]
        prefs.append(
            Preference(
                Segment(arr["obs_a"][i], arr["acts_a"][i], arr["rews_a"][i] if "rews_a" in arr else None),
                Segment(arr["obs_b"][i], arr["acts_b"][i], arr["rews_b"][i] if "rews_b" in arr else None),
                SKIPPED if np.isnan(label) else float(label),
            )
        )
    return PreferenceDataset(prefs, env_id=env_id)
