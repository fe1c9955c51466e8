"""The run config: one typed, frozen :class:`RunConfig` for any learner, read from TOML (or a dict) and
``--set key=value`` overrides by the one config mechanism (:func:`rewardlab._schema.from_table`).

``rewardlab run CONFIG.toml --out DIR`` runs it (:func:`rewardlab.experiments.run.run_config`); the
resolved config (every field, defaults filled in) is saved as ``DIR/config.toml``, and
``rewardlab run DIR/config.toml`` reproduces the run. Every mistake fails here, before any work, as a
:class:`~rewardlab.errors.ConfigError` naming the dotted key (``learner.trex.steps``), what it is, the
expected type and the valid keys (with a "did you mean").

The kinds of experiment:

* **tabular**: a learner from demonstrations (``rewardlab.registry.learners_for(data="demonstrations",
  space="tabular")``: maxent, mce, deep-maxent, projection, max-margin, mwal, birl, bc) on a ``[world]``
  with a known reward, from expert demonstrations sampled in it (``[data]``), scored by EVD, policy
  loss, ... on that world and optionally on ``[eval] transfer_worlds`` fresh worlds of the same kind
  (what ``rewardlab irl`` does); or, with ``[data] kind = "ranked"``, from suboptimal demonstrations
  ranked by their true return (:func:`rewardlab.irl.experts.ranked_suboptimal_demonstrations`, the
  B-REX gridworld data): the ranking learners trex and brex learn from the ranking, the demonstration
  learners (e.g. birl, the table's B-IRL row) treat the same demonstrations as the expert's;
* **active preference learning** (``active-linear``, ``[data] kind = "teacher"``, its default): on a
  ``[world]`` whose reward is linear in its features, the learner asks a simulated teacher of the true
  weights one query at a time (:mod:`rewardlab.experiments.active`); scored by the cosine similarity of
  its weights with the true ones per query (``queries_to_0.9``) and by EVD and policy loss;
* **gym**: a ranking learner (trex, drex, brex) on a Gymnasium ``[env]`` from a dataset of ranked
  demonstrations (``[data] dataset``, written by ``rewardlab demos collect`` or ``save_dataset``) or
  from demonstrations the run collects itself (``[data.collect]``: PPO on the true reward, seeded by
  the run's seed, into ``DIR/demos``), with an optional ``[policy]`` stage that trains a policy on the
  learned reward (what ``rewardlab prefs`` and ``rewardlab train-policy`` do) or, with ``reward =
  "constant"``, the constant-reward control, and an optional ``[eval]`` (the reward-hacking check on
  that policy, D-REX's clone evaluated); or trex or brex from a saved preference dataset (``[data] kind =
  "preferences"``, ``path``: :class:`PreferenceData`), with the same optional ``[policy]`` stage;
* **learning from a learner** (Jacq et al. 2019; ``[data] kind = "stages"``, the only data of lfl and
  deep-lfl, so the default for them): ``lfl`` on a discounted ``[world]`` observes a learner running
  soft policy iteration on the world's reward (:class:`LearnerStages`) and is scored as the tabular
  learners are; ``deep-lfl`` on an ``[env]`` observes PPO training on the env's reward, rolled out at
  successive checkpoints (:class:`GymLearnerStages`), with the optional ``[policy]`` stage;
* **RL from preferences** (Christiano et al. 2017; :data:`TEACHER_LEARNERS`): ``rlhf`` on an ``[env]``
  trains a policy on a reward ensemble that learns from a teacher's labels of pairs of segments of the
  policy's own rollouts, all in one loop (:mod:`rewardlab.experiments.rlhf`). It has no ``[data]`` (the
  teacher is ``learner.teacher``, a B-Pref preset), no ``[policy]`` and no ``[eval]`` (the loop's own
  ``steps``, ``algo``, ``hyperparams``, ``eval_episodes`` are learner settings);
* **adversarial imitation and IRL** (:data:`ADVERSARIAL_LEARNERS`: ``gail``, ``airl``, ``gcl``): on an ``[env]``
  from a dataset of demonstrations (``[data] dataset``, or ``[data.collect]``), a PPO generator against a
  discriminator (GCL: against a cost whose MaxEnt ``Z`` is importance-sampled from the generator's rollouts)
  (:mod:`rewardlab.experiments.adversarial`, what ``rewardlab irl gail --env ENV --demos DIR`` runs), with the
  optional ``[policy]`` stage (a fresh policy on the learned reward: AIRL's ``g`` transferred); no ``[eval]`` (the
  generator's evaluation is ``learner.eval_episodes``).

A full example (tabular; every key shown with its default unless marked)::

    seed = 0                 # seeds the demonstrations, the learner and (by default) the world
    checkpoint_every = 0     # learner steps between checkpoints; 0: only what the learner saves itself
    tensorboard = false      # also log the metrics to DIR/tensorboard
    figures = true           # write figures.png (trace.png) of a tabular run; false saves ~0.5 s of plotting

    [learner]
    name = "deep-maxent"     # required: a name of rewardlab.registry.LEARNERS
    label = "deep-maxent"    # the display name in sweeps and tables (default: the name)
    iterations = 200         # ... then the learner's config fields (DeepMaxEntConfig here)
    hidden = [32, 32]
    lr = 0.01

    [world]                  # exactly one of [world] and [env]
    name = "objectworld"     # required: navigation, objectworld, binaryworld, featuregrid, random, ...
    size = 8                 # ... then the builder's options (rewardlab.mdp.worlds.objectworld here)
    seed = 0                 # default: the run's seed, so that seeds vary the world (Wulfmeier et al.)

    [data]                   # expert demonstrations sampled in the world
    kind = "expert"          # or "ranked": suboptimal demonstrations ranked by their true return
    demos = 16
    length = 8               # default: the world's horizon, or 8 when it is discounted (key left out)
    expert = "optimal"       # or "soft" (MaxEnt)
    epsilon = 0.0            # probability of a random action

    [eval]
    transfer_worlds = 0      # also score the learned reward on this many fresh worlds of the same kind,
    transfer_seed_offset = 1000  # with world seeds seed + offset + i (i = 0, 1, ...)

A gym ranking run::

    seed = 0

    [learner]
    name = "drex"
    [learner.trex]           # a nested config: a table (or --set learner.trex.steps=500)
    steps = 500

    [env]
    id = "Pendulum-v1"       # required: a registered Gymnasium id

    [data]
    dataset = "demos"        # a directory from `rewardlab demos collect` (or [data.collect]); relative to this file
    mirror_obs = [1, -1, -1] # optional sign flips of a reflection symmetry (trex, brex)
    mirror_act = [-1]

    [policy]                 # optional: train a policy on the learned reward (rewardlab train-policy)
    steps = 100000           # required within [policy]
    algo = "ppo"
    normalize = "running"
    hyperparams = {n_steps = 1024}
    reward = "learned"       # or "constant": the control (ConstantReward, same normalisation and cost);
                             # the learner still fits, the control's policy ignores what it learned

    [eval]                   # optional (gym ranking runs)
    hacking_check = false    # the B-REX reward-hacking check on the [policy] stage's rollouts
    hacking_alpha = 0.05
    bc_episodes = 0          # drex: evaluate the behavioural clone over this many episodes

Labelled pairs of segments instead of ranked demonstrations (trex and brex)::

    [data]
    kind = "preferences"
    path = "prefs"           # a directory of save_preferences (an RLHF run's preferences/); relative to this file

Demonstrations collected in the run instead of a dataset (``rewardlab demos collect``'s options)::

    [data.collect]           # instead of dataset: PPO on the true reward, into DIR/demos (reused on --resume)
    checkpoints = 12
    steps = 61440
    episodes = 5
    every = 1536             # default: steps // checkpoints
    ceiling = -800.0         # keep the checkpoints before the first whose mean return reaches this
    hyperparams = {n_steps = 384}

Learning from a learner::

    [learner]
    name = "lfl"             # or "deep-lfl" with an [env]
    alpha = 0.5              # the temperature the observer assumes
    [world]
    name = "objectworld"     # a discounted world
    [data]
    kind = "stages"          # the default for lfl and deep-lfl
    stages = 3               # the learner's policies pi_0 (uniform) .. pi_2
    trajectories = 0         # per stage; 0: the observer sees the exact policies

RL from preferences (what ``rewardlab rlhf`` writes)::

    seed = 0
    checkpoint_every = 1     # labelling rounds between checkpoints

    [learner]
    name = "rlhf"
    steps = 100000           # the policy's env steps
    labels = 500             # the label budget
    teacher = "oracle"       # a B-Pref teacher: oracle, mistake, noisy, skip, myopic, equal; or "human" (label_server = URL)
    query = "disagreement"   # a query strategy of rewardlab.prefs.queries
    segment = 50
    algo = "ppo"
    hyperparams = {n_steps = 1024}   # SB3's, over rewardlab.rl.PRESETS
    [learner.reward]         # the reward ensemble (RewardTrainerConfig)
    members = 3

    [env]
    id = "Pendulum-v1"

Overrides are dotted keys, each value read by the declared type of the field it sets, as on the
command line: ``{"learner.trex.steps": "500", "world.size": "16", "seed": "3"}``.

Examples:
    >>> cfg = load_run_config({"learner": {"name": "maxent", "iterations": 50}, "world": {"name": "navigation"}},
    ...                       {"seed": "3", "data.demos": "8"})
    >>> cfg.kind, cfg.seed, cfg.data.demos, cfg.learner.config.iterations, cfg.world.options["seed"]
    ('tabular', 3, 8, 50, 3)
    >>> load_run_config(run_config_table(cfg)) == cfg
    True
    >>> load_run_config({"learner": {"name": "maxent", "iteratons": 5}, "world": {"name": "navigation"}})
    Traceback (most recent call last):
    ...
    rewardlab.errors.ConfigError: learner.iteratons: is not a setting of maxent. Fix: did you mean 'iterations'? use one of ['action_noise', 'iterations', 'l1', 'l2', 'lr', 'model', 'optimizer', 'reward', 'start', 'temperature', 'tol'].
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardlab._schema import Mismatch, coerce, config_table, declared_fields, did_you_mean, from_table, is_config_group
from rewardlab.errors import ConfigError, DataFileError, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ACTIVE_LEARNERS",
    "ADVERSARIAL_LEARNERS",
    "GYM_LEARNERS",
    "PREFERENCE_LEARNERS",
    "RANKED_LEARNERS",
    "STAGE_LEARNERS",
    "TABULAR_LEARNERS",
    "TEACHER_LEARNERS",
    "TRANSFER_LEARNERS",
    "DemoCollection",
    "DemoData",
    "EnvSection",
    "GymEval",
    "GymLearnerStages",
    "LearnerSection",
    "LearnerStages",
    "PolicyStage",
    "PreferenceData",
    "RankingData",
    "RunConfig",
    "TabularEval",
    "TeacherData",
    "WorldSection",
    "load_run_config",
    "read_toml",
    "run_config_table",
    "set_dotted",
    "toml_text",
]

#: The learners ``rewardlab run`` fits on a tabular ``[world]``: those that learn from demonstrations
#: there, and learning from a learner (from the stages of a learner there).
TABULAR_LEARNERS = ("bc", "birl", "deep-maxent", "lfl", "max-margin", "maxent", "mce", "mwal", "perturb", "projection", "relent")
#: The tabular learners whose reward is a function of the raw state features (linear weights, or Deep
#: MaxEnt's network), so that ``[eval] transfer_worlds`` can apply it to other worlds (MWAL's weights act
#: on rescaled features; behavioural cloning learns no reward).
TRANSFER_LEARNERS = ("birl", "deep-maxent", "max-margin", "maxent", "mce", "perturb", "projection", "relent")
#: The learners ``rewardlab run`` fits on a Gymnasium ``[env]``: from a dataset of (ranked) demonstrations,
#: deep learning from a learner (from the stages of a learner there), and RL from a teacher's preferences.
GYM_LEARNERS = ("airl", "brex", "deep-lfl", "drex", "gail", "gcl", "relent-gym", "rlhf", "trex")
#: The adversarial learners (GAIL, AIRL): an SB3 PPO generator against a discriminator, from a dataset of demonstrations
#: (:mod:`rewardlab.experiments.adversarial`); their PPO settings and final evaluation are learner settings.
ADVERSARIAL_LEARNERS = ("airl", "gail", "gcl")
#: The ranking learners ``rewardlab run`` also fits on a tabular ``[world]``, from ``[data] kind = "ranked"``.
RANKED_LEARNERS = ("brex", "trex")
#: The learners ``rewardlab run`` fits on a Gymnasium ``[env]`` from a saved preference dataset (``[data] kind = "preferences"``).
PREFERENCE_LEARNERS = ("brex", "trex")
#: The learners whose ``[data]`` is ``kind = "stages"``: a learner's successive policies (Jacq et al. 2019).
STAGE_LEARNERS = ("deep-lfl", "lfl")
#: The learners ``rewardlab run`` fits on a tabular ``[world]`` by asking a simulated teacher of the world's
#: true linear reward (``[data] kind = "teacher"``, their only data, so the default).
ACTIVE_LEARNERS = ("active-linear",)
#: The learners that take no ``[data]``: they ask a teacher (their config's ``teacher``) for labels about
#: their own rollouts while they train (registry data kind ``"teacher"``).
TEACHER_LEARNERS = ("rlhf",)


@dataclass(frozen=True)
class LearnerSection:
    """``[learner]``: which learner, its display name and its config.

    Attributes:
        name: a key of :data:`rewardlab.registry.LEARNERS`.
        label: the name shown in sweeps and tables (default: ``name``).
        config: the learner's frozen config dataclass (its fields are the other keys of ``[learner]``).
    """

    name: str
    label: str
    config: Any


@dataclass(frozen=True)
class WorldSection:
    """``[world]``: a tabular world with a known reward, as :mod:`rewardlab.mdp.worlds` builds it.

    Attributes:
        name: the builder's name (``rewardlab.mdp.worlds.world_builder``).
        options: every keyword option of the builder, typed, defaults filled in (``seed`` defaults to
            the run's seed).
    """

    name: str
    options: dict[str, Any]

    def build(self, **changes: Any) -> Any:
        """The :class:`~rewardlab.mdp.worlds.World`, with ``changes`` to the options (e.g. another seed);
        the builder's own range checks are named ``world.<option>``."""
        from rewardlab.mdp.worlds import world_builder

        with prefixed("world."):
            return world_builder(self.name)(**{**self.options, **changes})


@dataclass(frozen=True)
class EnvSection:
    """``[env]``: a Gymnasium environment.

    Attributes:
        id: a registered Gymnasium id, e.g. ``"Pendulum-v1"``.
    """

    id: str


@dataclass(frozen=True)
class DemoData:
    """``[data]`` of a tabular run: demonstrations sampled in the world.

    Attributes:
        kind: ``"expert"``: the expert's demonstrations (:func:`rewardlab.irl.experts.expert_demonstrations`),
            as ``rewardlab irl`` samples them; ``"ranked"``: suboptimal demonstrations ranked by their true
            return (:func:`rewardlab.irl.experts.ranked_suboptimal_demonstrations`, Brown et al. 2020's
            gridworld data), what the ranking learners (trex, brex) need; a demonstration learner (birl)
            treats them as the expert's.
        demos: number of demonstrations.
        length: steps per demonstration (None: the world's horizon, or 8 when it is discounted).
        expert: ``"optimal"`` (value iteration) or ``"soft"`` (MaxEnt) demonstrator (``kind = "expert"``).
        epsilon: probability of a uniformly random action at each step (``kind = "expert"``).
    """

    demos: int = 16
    length: int | None = None
    expert: Literal["optimal", "soft"] = "optimal"
    epsilon: float = 0.0
    kind: Literal["expert", "ranked"] = "expert"

    def __post_init__(self) -> None:
        if self.demos < 1:
            raise ConfigError("demos", f"is {self.demos}", "ask for at least one demonstration")
        if self.kind == "ranked" and (self.expert != "optimal" or self.epsilon != 0.0):
            key, value = ("expert", repr(self.expert)) if self.expert != "optimal" else ("epsilon", self.epsilon)
            raise ConfigError(
                key,
                f"is {value} with kind = 'ranked'",
                "leave it out: each ranked demonstration follows its own random reward's optimal policy",
            )
        if self.length is not None and self.length < 1:
            raise ConfigError("length", f"is {self.length}", "give at least one step per demonstration (or leave it out)")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError("epsilon", f"is {self.epsilon}", "give a probability in [0, 1]")


@dataclass(frozen=True)
class DemoCollection:
    """``[data.collect]`` of a gym ranking run: collect the ranked demonstrations in the run, as
    ``rewardlab demos collect`` does (:func:`rewardlab.experiments.prefs.collect_demos`): PPO on the env's
    true reward, seeded by the run's seed, its checkpoints rolled out; rank = checkpoint index (training
    time). They go to ``DIR/demos`` (a dataset, with PPO's checkpoints and ``result.json``); ``--resume``
    reuses a finished collection.

    Attributes:
        checkpoints: checkpoints kept, evenly spaced in training time (all of them if fewer were saved).
        steps: PPO's training steps on the true reward.
        episodes: stochastic rollouts of each checkpoint (all share its rank).
        every: steps between saved checkpoints (None: ``steps // checkpoints``; PPO saves at rollout
            boundaries, so fewer when a rollout is longer).
        ceiling: keep only the checkpoints before the first whose mean true return reaches this
            (suboptimal demonstrations; training stops there); None: no ceiling.
        hyperparams: PPO's hyperparameters over its preset (``rewardlab.rl.PRESETS``), e.g. ``{n_steps = 384}``.
    """

    checkpoints: int = 12
    steps: int = 12_288
    episodes: int = 1
    every: int | None = None
    ceiling: float | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.checkpoints < 1:
            raise ConfigError("checkpoints", f"is {self.checkpoints}", "keep at least one checkpoint")
        if self.steps < 1:
            raise ConfigError("steps", f"is {self.steps}", "train PPO for at least one step")
        if self.episodes < 1:
            raise ConfigError("episodes", f"is {self.episodes}", "roll out each checkpoint at least once")
        if self.every is not None and not 0 < self.every <= self.steps:
            raise ConfigError("every", f"is {self.every}", f"save a checkpoint every 1..steps ({self.steps}) steps, or leave it out")


@dataclass(frozen=True)
class RankingData:
    """``[data]`` of a gym run: (ranked) demonstrations, read from a dataset or collected in the run.

    Attributes:
        dataset: a directory written by ``rewardlab demos collect`` or ``rewardlab.data.io.save_dataset``,
            or an ``.npz`` file of episodes (``obs_i``, ``acts_i``, ``rews_i``:
            :func:`rewardlab.data.io.load_npz_episodes`, e.g. the D-REX paper's demonstrations); a relative
            path is resolved against the config file's directory (the working directory for a dict), and
            the resolved config holds the absolute path. Exactly one of ``dataset`` and ``collect``.
        mirror_obs: signs (1 or -1 per coordinate) of a reflection symmetry of the observations: train
            on each demonstration's mirror image too (trex, brex; ``rewardlab prefs --mirror-obs``).
        mirror_act: the reflection's signs on the actions.
        collect: ``[data.collect]``: collect the demonstrations in the run (:class:`DemoCollection`).
    """

    dataset: str | None = None
    mirror_obs: tuple[float, ...] | None = None
    mirror_act: tuple[float, ...] | None = None
    collect: DemoCollection | None = None

    def __post_init__(self) -> None:
        if self.dataset is None and self.collect is None:
            raise ConfigError(
                "dataset",
                "is missing, and so is [data.collect]",
                "give dataset = PATH (from `rewardlab demos collect`), or a [data.collect] table to collect the demonstrations in the run",
            )
        if self.dataset is not None and self.collect is not None:
            raise ConfigError(
                "collect", "is given together with dataset", "give one: dataset = PATH reads demonstrations, [data.collect] collects them"
            )
        for name in ("mirror_obs", "mirror_act"):
            signs = getattr(self, name)
            if signs is not None and (not signs or any(s not in (1.0, -1.0) for s in signs)):
                raise ConfigError(name, f"is {list(signs)}", "give one sign, 1 or -1, per coordinate, e.g. [1, -1, -1]")
        if self.mirror_act is not None and self.mirror_obs is None:
            raise ConfigError("mirror_act", "is set without mirror_obs", "give the observation's signs too")


@dataclass(frozen=True)
class PreferenceData:
    """``[data]`` of a gym trex or brex run from labelled pairs of segments (``kind = "preferences"``):
    a :class:`~rewardlab.data.PreferenceDataset` saved by :func:`~rewardlab.data.save_preferences` (e.g. an
    RLHF run's ``preferences/``). The learner trains on its answered pairs (ties as 0.5, skipped labels
    dropped). The dataset is read before any work; an ``env_id`` other than ``[env] id`` is refused.

    Attributes:
        path: the directory; a relative path is resolved against the config file's directory (the
            working directory for a dict), and the resolved config holds the absolute path.
        kind: ``"preferences"``.
    """

    path: str
    kind: Literal["preferences"] = "preferences"


@dataclass(frozen=True)
class LearnerStages:
    """``[data]`` of an ``lfl`` run (``kind = "stages"``): the observed learner runs entropy-regularised
    (soft) policy iteration on the world's true reward from the uniform policy
    (:func:`rewardlab.irl.lfl.soft_policy_iteration`); the observer sees its successive policies, exactly
    or through trajectories sampled from each.

    Attributes:
        kind: ``"stages"``.
        stages: the policies observed, ``pi_0`` (uniform) to ``pi_{stages-1}`` (at least 2).
        alpha: the observed learner's temperature (None: the ``alpha`` the observer assumes,
            ``learner.alpha``; another value studies a misspecified observer).
        trajectories: trajectories sampled per stage, from a uniform start state; each stage's policy is
            then estimated from their counts (``learner.smoothing``). 0: the exact policies.
        length: steps per trajectory.
    """

    kind: Literal["stages"] = "stages"
    stages: int = 3
    alpha: float | None = None
    trajectories: int = 0
    length: int = 10

    def __post_init__(self) -> None:
        if self.stages < 2:
            raise ConfigError("stages", f"is {self.stages}", "observe at least two of the learner's policies")
        if self.alpha is not None and not self.alpha > 0:
            raise ConfigError("alpha", f"is {self.alpha}", "give a positive temperature (or leave it out: the learner's alpha)")
        if self.trajectories < 0:
            raise ConfigError("trajectories", f"is {self.trajectories}", "give 0 (the exact policies) or a positive count")
        if self.length < 1:
            raise ConfigError("length", f"is {self.length}", "give at least one step per trajectory")


@dataclass(frozen=True)
class TeacherData:
    """``[data]`` of an active-linear run (``kind = "teacher"``, the default for it): no dataset; the learner
    asks a simulated teacher of the world's true linear reward (``World.weights``) its queries during the
    fit. The queries, the teacher and the candidate trajectories are the learner's settings
    (:class:`rewardlab.prefs.active_linear.ActivePreferenceConfig`).

    Attributes:
        kind: ``"teacher"``.
    """

    kind: Literal["teacher"] = "teacher"


@dataclass(frozen=True)
class GymLearnerStages:
    """``[data]`` of a ``deep-lfl`` run (``kind = "stages"``): the observed learner is PPO trained on the
    env's true reward for ``steps`` steps; stage ``k`` is ``episodes`` stochastic rollouts of its ``k``-th
    of ``stages`` checkpoints, evenly spaced (:func:`rewardlab.rl.make_ranked_demos`, seeded by the run's seed).

    Attributes:
        kind: ``"stages"``.
        stages: checkpoints observed (at least 2); PPO saves one per rollout of ``n_steps x n_envs``
            steps at most, so ``steps`` must hold ``stages`` rollouts.
        steps: PPO's training steps.
        episodes: rollouts per stage.
        max_steps: cut each rollout after this many steps (None: the env's time limit).
        hyperparams: PPO's hyperparameters over its preset (``rewardlab.rl.PRESETS``), e.g. ``{n_steps = 256}``.
    """

    kind: Literal["stages"] = "stages"
    stages: int = 4
    steps: int = 20_000
    episodes: int = 8
    max_steps: int | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stages < 2:
            raise ConfigError("stages", f"is {self.stages}", "observe at least two of the learner's checkpoints")
        if self.steps < self.stages:
            raise ConfigError("steps", f"is {self.steps} for {self.stages} stages", "train the observed learner for more steps")
        if self.episodes < 1:
            raise ConfigError("episodes", f"is {self.episodes}", "roll out each stage at least once")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("max_steps", f"is {self.max_steps}", "give a positive number of steps (or leave it out)")

    def rollout_steps(self, env_id: str) -> int:
        """Steps of one PPO rollout, ``n_steps x n_envs`` (preset, then these hyperparameters, then SB3's defaults)."""
        from rewardlab.rl.sb3 import rollout_steps

        return rollout_steps("ppo", env_id, self.hyperparams)


@dataclass(frozen=True)
class TabularEval:
    """``[eval]`` of a tabular run.

    Attributes:
        transfer_worlds: score the learned reward also on this many fresh worlds of the same kind
            (EVD "transfer", Wulfmeier et al. 2015): linear weights times the new world's features, or
            the Deep MaxEnt network on them. 0: only the training world.
        transfer_seed_offset: transfer world ``i`` has world seed ``seed + transfer_seed_offset + i``.
    """

    transfer_worlds: int = 0
    transfer_seed_offset: int = 1000

    def __post_init__(self) -> None:
        if self.transfer_worlds < 0:
            raise ConfigError("transfer_worlds", f"is {self.transfer_worlds}", "give 0 (no transfer) or a positive count")
        if self.transfer_worlds > 0 and self.transfer_seed_offset == 0:
            raise ConfigError("transfer_seed_offset", "is 0, so the first transfer world is the training world", "use another offset")


@dataclass(frozen=True)
class GymEval:
    """``[eval]`` of a gym ranking run (trex, drex, brex).

    Attributes:
        hacking_check: run the reward-hacking check (:func:`rewardlab.prefs.reward_hacking_check`, Bayesian
            REX over the learned reward's last layer, no true reward needed) on the ``[policy]`` stage's
            evaluation rollouts against the ranked data the reward learned from (D-REX: its noise
            rollouts); needs ``[policy]``. Its verdict is ``hacking_check`` in ``result.json`` and the
            metric ``hacking_flagged`` (1, 0, or null when undetermined, with a warning and the reason).
            With ``[policy] reward = "constant"`` it judges the control's policy under the learned reward.
        hacking_alpha: the check's VaR level, in (0, 1).
        bc_episodes: evaluate D-REX's behavioural clone on the true reward over this many episodes
            (metric ``bc_return_mean``; drex only); 0: not evaluated.
    """

    hacking_check: bool = False
    hacking_alpha: float = 0.05
    bc_episodes: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.hacking_alpha < 1:
            raise ConfigError("hacking_alpha", f"is {self.hacking_alpha}", "give a quantile level in (0, 1), e.g. 0.05")
        if self.bc_episodes < 0:
            raise ConfigError("bc_episodes", f"is {self.bc_episodes}", "give 0 (no evaluation) or a positive number of episodes")


@dataclass(frozen=True)
class PolicyStage:
    """``[policy]`` of a gym run: train a policy on the learned reward and report its true return
    (:func:`rewardlab.rl.train_policy`, as ``rewardlab train-policy`` does).

    Attributes:
        steps: environment steps.
        algo: ``"ppo"`` or ``"sac"``.
        normalize: the learned reward's transform: ``"none"``, ``"sigmoid"`` or ``"running"``.
        ctrl_cost: weight of a ``-||a||^2`` control cost added to the learned reward.
        eval_episodes: episodes of the final evaluation on the true reward.
        checkpoint_every: steps between the policy's own checkpoints (None: a tenth of ``steps``).
        hyperparams: the algorithm's hyperparameters over its preset (e.g. ``{n_steps = 1024}``).
        init_from_clone: warm-start PPO's actor from D-REX's behavioural clone (drex only).
        init_log_std: initial log standard deviation of PPO's actions (None: SB3's 0).
        critic_warmup: train only PPO's critic for this many steps first (with ``init_from_clone``).
        critic_warmup_lr: the warm-up's learning rate (None: the algorithm's).
        reward: ``"learned"``: train on the learned reward; ``"constant"``: the constant-reward control,
            the same training on :class:`~rewardlab.rewards.ConstantReward` (same normalisation, control
            cost and warm start), which carries no information about the task. The learner still fits
            (the run stays one kind, and a sweep grid ``"policy.reward" = ["learned", "constant"]`` gives
            the control rows), but the control's policy ignores the learned reward.
    """

    steps: int
    algo: Literal["ppo", "sac"] = "ppo"
    normalize: Literal["none", "sigmoid", "running"] = "running"
    ctrl_cost: float = 0.0
    eval_episodes: int = 10
    checkpoint_every: int | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    init_from_clone: bool = False
    init_log_std: float | None = None
    critic_warmup: int = 0
    critic_warmup_lr: float | None = None
    reward: Literal["learned", "constant"] = "learned"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError("steps", f"is {self.steps}", "train for at least one step")
        if self.eval_episodes < 1:
            raise ConfigError("eval_episodes", f"is {self.eval_episodes}", "evaluate at least one episode")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ConfigError("checkpoint_every", f"is {self.checkpoint_every}", "give a positive number of steps (or leave it out)")
        if self.critic_warmup < 0:
            raise ConfigError("critic_warmup", f"is {self.critic_warmup}", "give 0 or a positive number of steps")
        if self.critic_warmup_lr is not None and not self.critic_warmup_lr > 0:
            raise ConfigError("critic_warmup_lr", f"is {self.critic_warmup_lr}", "give a positive learning rate (or leave it out)")


@dataclass(frozen=True)
class RunConfig:
    """One run: a learner, a world or env, its data, evaluation and run settings (see the module docstring).

    Attributes:
        learner: ``[learner]``.
        data: ``[data]``: :class:`DemoData` (tabular) or :class:`RankingData` (gym) or, for trex and brex,
            :class:`PreferenceData` (gym); for lfl and deep-lfl, :class:`LearnerStages` (tabular) or
            :class:`GymLearnerStages` (gym); for active-linear, :class:`TeacherData`; None for rlhf, whose
            teacher labels its own rollouts (:data:`TEACHER_LEARNERS`).
        world: ``[world]`` of a tabular run, else None.
        env: ``[env]`` of a gym run, else None.
        eval: ``[eval]`` of a tabular run; of a gym ranking run when given, else None.
        policy: ``[policy]`` of a gym run when a policy is trained, else None.
        seed: seeds the demonstrations, the learner and, by default, the world.
        checkpoint_every: learner steps between checkpoints (resumable learners); 0: only what the learner
            saves itself.
        tensorboard: also log the metrics to ``DIR/tensorboard``.
        figures: write the tabular run's plots (``figures.png``, and Bayesian IRL's ``trace.png``); false
            skips them (about 0.5 s of matplotlib per run, what a sweep of many small runs saves).
    """

    learner: LearnerSection
    data: DemoData | RankingData | PreferenceData | LearnerStages | GymLearnerStages | TeacherData | None
    world: WorldSection | None = None
    env: EnvSection | None = None
    eval: TabularEval | GymEval | None = None
    policy: PolicyStage | None = None
    seed: int = 0
    checkpoint_every: int = 0
    tensorboard: bool = False
    figures: bool = True

    @property
    def kind(self) -> Literal["tabular", "gym"]:
        """``"tabular"`` (a ``[world]``) or ``"gym"`` (an ``[env]``)."""
        return "tabular" if self.world is not None else "gym"


@dataclass(frozen=True)
class _Run:
    """The top-level keys of a run config (the sections are read separately)."""

    seed: int = 0
    checkpoint_every: int = 0
    tensorboard: bool = False
    figures: bool = True

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError("seed", f"is {self.seed}", "give a seed >= 0")
        if self.checkpoint_every < 0:
            raise ConfigError(
                "checkpoint_every", f"is {self.checkpoint_every}", "give 0 (only what the learner saves) or a positive number"
            )


_SECTIONS = ("learner", "world", "env", "data", "eval", "policy")


class _Text(str):
    """A ``--set`` value: command-line text, read by the declared type of the field it lands on."""


@contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Re-raise a :class:`ValidationError` with ``prefix`` before its field (``world.`` + ``size``)."""
    try:
        yield
    except ValidationError as exc:
        if exc.field.startswith(prefix):
            raise
        raise type(exc)(prefix + exc.field, exc.problem, exc.fix) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML file as a dict; an unreadable or malformed file raises :class:`DataFileError` naming it."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{path}: not valid TOML ({exc}). Fix: correct the file (see `rewardlab run --help`)") from exc
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc}). Fix: give an existing TOML file") from exc


def toml_text(table: Mapping[str, Any]) -> str:
    """``table`` as TOML text (scalars first, then the sections)."""
    import tomli_w

    return tomli_w.dumps(dict(table))


def set_dotted(table: dict[str, Any], key: str, value: Any) -> None:
    """Set ``table["a"]["b"] = value`` for ``key = "a.b"``, creating the tables on the way.

    Raises:
        ConfigError: a part of the path that holds a value rather than a table, naming the key.

    Examples:
        >>> t = {"world": {"name": "objectworld"}}
        >>> set_dotted(t, "world.size", 8); t
        {'world': {'name': 'objectworld', 'size': 8}}
        >>> set_dotted(t, "world.name.x", 1)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: world.name.x: world.name is 'objectworld', not a table of settings. Fix: set world.name itself, or a key of a table.
    """
    parts = key.split(".")
    node = table
    for i, part in enumerate(parts[:-1]):
        inner = node.setdefault(part, {})
        if not isinstance(inner, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(key, f"{where} is {inner!r}, not a table of settings", f"set {where} itself, or a key of a table")
        node = inner
    node[parts[-1]] = value


def _override(table: dict[str, Any], key: str, text: str) -> None:
    """Put the ``--set`` value ``text`` at the dotted ``key`` of ``table`` (creating tables on the way)."""
    parts = [p.strip() for p in key.split(".")]
    if not all(parts):
        raise ConfigError("--set", f"{key!r} is not a dotted key", "write e.g. --set learner.trex.steps=500")
    set_dotted(table, ".".join(parts), _Text(text))


def _read_text(target: Any, table: dict[str, Any]) -> dict[str, Any]:
    """``table`` with its ``--set`` texts read by the types ``target`` (a config dataclass or a function)
    declares for them, nested configs included; a text that does not fit is left for :func:`from_table`
    to refuse with the expected type."""
    annotations, _ = declared_fields(target)
    out = dict(table)
    for key, value in table.items():
        annotation = annotations.get(key)
        if annotation is None:
            continue
        if isinstance(value, _Text):
            try:
                out[key] = coerce(str(value), annotation, text=True)
            except Mismatch:
                out[key] = str(value)
        elif isinstance(value, dict) and is_config_group(annotation):
            out[key] = _read_text(annotation, value)
        elif isinstance(value, dict):
            out[key] = {k: (str(v) if isinstance(v, _Text) else v) for k, v in value.items()}
    return out


def _section(table: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any] | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(key, "is missing", f"give a [{key}] table")
        return None
    if not isinstance(value, dict):
        raise ConfigError(key, f"is {value!r}, not a table", f"write it as a [{key}] table")
    return dict(value)


def _read(cls: type, table: dict[str, Any], key: str, name: str | None = None) -> Any:
    """The section dataclass ``cls`` from ``table``, errors named ``key.<field>``."""
    return from_table(cls, _read_text(cls, table), name or f"[{key}]", prefix=f"{key}.")


@functools.cache
def _world_options_class(name: str) -> type:
    """A frozen dataclass of the world builder ``name``'s keyword options (their types and defaults), so
    that a ``[world]`` table is read and written by the one config mechanism."""
    from rewardlab.mdp.worlds import world_builder

    annotations, defaults = declared_fields(world_builder(name))
    fields = [(k, a, field(default=defaults[k])) if k in defaults else (k, a) for k, a in annotations.items()]
    fields.sort(key=lambda f: len(f) == 3)  # required options (none today) before those with defaults
    return dataclasses.make_dataclass(f"world {name!r}", fields, frozen=True)


def _world(table: dict[str, Any], seed: int) -> WorldSection:
    from rewardlab.mdp.worlds import world_builder

    table = dict(table)
    name = table.pop("name", None)
    if name is None:
        raise ConfigError("world.name", "is missing", 'name the world, e.g. name = "objectworld"')
    if not isinstance(name, str):
        raise ConfigError("world.name", f"is {name!r}, not a string", 'name the world, e.g. name = "objectworld"')
    with prefixed("world."):
        try:
            world_builder(name)
        except ConfigError as exc:
            raise ConfigError("world.name", exc.problem, exc.fix) from None
    cls = _world_options_class(name)
    if "seed" in {f.name for f in dataclasses.fields(cls)} and "seed" not in table:
        table["seed"] = seed  # seeds vary the world too, as in Wulfmeier et al.'s protocol
    options = _read(cls, table, "world", f"world {name!r}")
    return WorldSection(name, {f.name: getattr(options, f.name) for f in dataclasses.fields(options)})


def _learner(table: dict[str, Any]) -> LearnerSection:
    from rewardlab.registry import learner_spec

    table = dict(table)
    name, label = table.pop("name", None), table.pop("label", None)
    if name is None:
        raise ConfigError("learner.name", "is missing", 'name the learner, e.g. name = "maxent"')
    if not isinstance(name, str):
        raise ConfigError("learner.name", f"is {name!r}, not a string", 'name the learner, e.g. name = "maxent"')
    try:
        spec = learner_spec(name)
    except ConfigError as exc:
        raise ConfigError("learner.name", exc.problem, exc.fix) from None
    if label is None:
        label = name
    if not isinstance(label, str) or not label.strip():
        raise ConfigError("learner.label", f"is {label!r}", "give a non-empty display name (a string)")
    cls = spec.config_class()
    for key in table:
        if key in spec.fixed:  # maxent is MaxEntConfig(causal=False): not a setting of maxent, even with that value
            valid = sorted(k for k in declared_fields(cls)[0] if k not in spec.fixed)
            raise ConfigError(f"learner.{key}", f"is set by {name} itself", f"leave it out; the settings are {valid}")
    config = from_table(cls, _read_text(cls, table), name, fixed=spec.fixed, prefix="learner.")
    return LearnerSection(name, str(label), config)


def _check_pairing(learner: LearnerSection, world: dict[str, Any] | None, env: dict[str, Any] | None) -> Literal["tabular", "gym"]:
    """Which experiment the learner and ``[world]``/``[env]`` make; an unsupported pairing names what is."""
    supported = (
        f"tabular [world]: {', '.join(TABULAR_LEARNERS)} (and {', '.join(RANKED_LEARNERS)} with [data] kind = 'ranked', "
        f"{', '.join(ACTIVE_LEARNERS)} asking a teacher); "
        f"gym [env]: {', '.join(GYM_LEARNERS)}"
    )
    if world is not None and env is not None:
        raise ConfigError("world", "is given together with [env]", "give exactly one: [world] (a tabular world) or [env] (a Gymnasium env)")
    if world is None and env is None:
        raise ConfigError("world", "is missing, and so is [env]", "give a [world] (a tabular world) or an [env] (a Gymnasium env)")
    name = learner.name
    if world is not None:
        if name in TABULAR_LEARNERS or name in RANKED_LEARNERS or name in ACTIVE_LEARNERS:
            return "tabular"
        raise ConfigError("learner.name", f"{name!r} cannot run on a tabular [world]", f"the supported pairings are {supported}")
    if name in GYM_LEARNERS:
        return "gym"
    raise ConfigError("learner.name", f"{name!r} cannot run on a Gymnasium [env] here", f"the supported pairings are {supported}")


def load_run_config(source: str | os.PathLike[str] | Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> RunConfig:
    """The :class:`RunConfig` of a TOML file (or of a dict of TOML values) with ``overrides``
    (``{"learner.trex.steps": "500"}``, command-line text read by the declared type) on top.

    Raises:
        ConfigError: naming the dotted key: an unknown key (with a did-you-mean and the valid keys), a
            value of the wrong type (with the expected type), a missing required key, a value out of
            range, an unsupported learner x world/env pairing.
        DataFileError: an unreadable or malformed TOML file.
    """
    if isinstance(source, Mapping):
        table, base = copy.deepcopy(dict(source)), Path.cwd()
    else:
        table, base = read_toml(source), Path(source).absolute().parent
    for key, text in (overrides or {}).items():
        _override(table, key, text)
    top = {k: v for k, v in table.items() if k not in _SECTIONS}
    valid = sorted([f.name for f in dataclasses.fields(_Run)] + list(_SECTIONS))
    for key in top:
        if key in ("base", "methods", "grid", "summary"):
            raise ConfigError(key, "is a table of sweep files, not of a run config", "run this file with `rewardlab sweep FILE --out DIR`")
        if key not in valid:
            raise ConfigError(key, "is not a setting of the run config", f"{did_you_mean(key, valid)}use one of {valid}")
    run = from_table(_Run, _read_text(_Run, top), "the run config")
    learner_table = _section(table, "learner", required=True)
    world_table, env_table = _section(table, "world"), _section(table, "env")
    assert learner_table is not None
    if learner_table.get("name") in TEACHER_LEARNERS + ADVERSARIAL_LEARNERS:
        _loop_hyperparams(learner_table)
    learner = _learner(learner_table)
    kind = _check_pairing(learner, world_table, env_table)
    data_table = _section(table, "data") or {}
    eval_table, policy_table = _section(table, "eval"), _section(table, "policy")
    if kind == "tabular":
        if policy_table is not None:
            raise ConfigError("policy", "is a stage of gym runs", "leave [policy] out of a tabular run (its policy is solved exactly)")
        world = _world(world_table, run.seed)  # type: ignore[arg-type]
        data: DemoData | RankingData | LearnerStages | GymLearnerStages | TeacherData | None = _stage_data(learner, data_table, kind)
        if data is None and learner.name in ACTIVE_LEARNERS:
            data = _read(TeacherData, data_table, "data")
        elif data is None:
            data = _read(DemoData, data_table, "data")
            if learner.name in RANKED_LEARNERS and data.kind != "ranked":  # type: ignore[union-attr]
                raise ConfigError(
                    "data.kind",
                    f"is 'expert', but {learner.name} learns from ranked demonstrations",
                    "set kind = 'ranked' (suboptimal demonstrations ranked by their true return)",
                )
        evaluation = _read(TabularEval, eval_table or {}, "eval")
        _check_transfer(learner, world, evaluation)
        return RunConfig(learner, data, world=world, eval=evaluation, **_top(run))
    from rewardlab.data.gym_rollouts import check_env_id
    from rewardlab.data.io import MINARI_PREFIX, dataset_reference, minari_id

    if eval_table is not None and learner.name in STAGE_LEARNERS:
        raise ConfigError(
            "eval", f"has no settings for {learner.name} runs", "leave [eval] out; train a policy on the reward with a [policy] table"
        )
    env_table = dict(env_table)  # type: ignore[arg-type]
    env_id = env_table.pop("id", None)
    if env_table:
        key = next(iter(env_table))
        raise ConfigError(f"env.{key}", "is not a setting of [env]", f"{did_you_mean(key, ['id'])}use one of ['id']")
    if not isinstance(env_id, str):
        raise ConfigError(
            "env.id", "is missing" if env_id is None else f"is {env_id!r}, not a string", 'give a Gymnasium id, e.g. id = "Pendulum-v1"'
        )
    env = EnvSection(check_env_id(env_id, "env.id"))
    if learner.name in TEACHER_LEARNERS:
        _no_sections(learner, table)
        return RunConfig(learner, None, env=env, **_top(run))
    ranking: RankingData | PreferenceData | GymLearnerStages | LearnerStages | None = _stage_data(learner, data_table, kind, env.id)
    if ranking is None and data_table.get("kind") == "preferences":
        ranking = _preference_data(learner, data_table, base)
    elif ranking is None:
        if isinstance(data_table.get("dataset"), str):
            if data_table["dataset"].startswith(MINARI_PREFIX):  # checked now: a Minari id stored here
                minari_id(data_table["dataset"])
            data_table["dataset"] = dataset_reference(data_table["dataset"], base)
        collect = _collection(data_table.pop("collect", None))
        demos: RankingData = _read(RankingData, {**data_table, **({} if collect is None else {"collect": collect})}, "data")
        ranking = demos
        if learner.name == "drex" and demos.mirror_obs is not None:
            raise ConfigError("data.mirror_obs", "is set for D-REX", "use it with trex or brex (D-REX ranks its own rollouts)")
        if learner.name in ADVERSARIAL_LEARNERS and demos.mirror_obs is not None:
            raise ConfigError("data.mirror_obs", f"is set for {learner.name}", "leave it out: use it with trex or brex")
    if learner.name in ADVERSARIAL_LEARNERS and eval_table is not None:
        raise ConfigError(
            "eval",
            f"has no settings for {learner.name} runs",
            "leave [eval] out; the generator's evaluation is learner.eval_episodes and learner.eval_seed",
        )
    policy = None
    if policy_table is not None:
        policy = _read(PolicyStage, policy_table, "policy")
        from rewardlab.rl.sb3 import check_hyperparams

        with prefixed("policy.hyperparams."):
            hyperparams = check_hyperparams(policy.algo, policy.hyperparams)
        policy = dataclasses.replace(policy, hyperparams=hyperparams)
        if policy.init_from_clone and learner.name != "drex":
            raise ConfigError(
                "policy.init_from_clone", f"is set for {learner.name}", "use it with drex (it warm-starts from D-REX's clone)"
            )
    evaluation = None if eval_table is None else _read(GymEval, eval_table, "eval")
    if evaluation is not None and evaluation.hacking_check and policy is None:
        raise ConfigError(
            "eval.hacking_check",
            "is true, but the run has no [policy] stage",
            "add a [policy] table (the check judges its policy), or leave it out",
        )
    if evaluation is not None and evaluation.hacking_check and isinstance(ranking, PreferenceData):
        raise ConfigError(
            "eval.hacking_check",
            "is true for a run on preferences",
            "leave it out: the check compares the policy with the top-ranked trajectories, and preferences rank none",
        )
    if evaluation is not None and evaluation.bc_episodes and learner.name != "drex":
        raise ConfigError("eval.bc_episodes", f"is {evaluation.bc_episodes} for {learner.name}", "leave it out: only drex learns a clone")
    return RunConfig(learner, ranking, env=env, eval=evaluation, policy=policy, **_top(run))


def _preference_data(learner: LearnerSection, table: dict[str, Any], base: Path) -> PreferenceData:
    """``[data] kind = "preferences"`` of a gym run (trex, brex), its relative ``path`` resolved against ``base``."""
    if learner.name not in PREFERENCE_LEARNERS:
        raise ConfigError(
            "data.kind",
            f"is 'preferences', but {learner.name} learns from demonstrations (it clones them and ranks its own noisy rollouts)",
            f"use one of {list(PREFERENCE_LEARNERS)} on preferences, or give {learner.name} demonstrations (data.dataset)",
        )
    table = dict(table)
    if isinstance(table.get("path"), str):
        table["path"] = str((base / Path(table["path"]).expanduser()).resolve())
    data: PreferenceData = _read(PreferenceData, table, "data")
    return data


def _loop_hyperparams(table: dict[str, Any]) -> None:
    """Check the SB3 ``hyperparams`` of an rlhf ``[learner]`` table before its config is built, so that a
    mistake is named ``learner.hyperparams.<key>`` (the config checks them again, by their bare keys)."""
    from rewardlab.rl.sb3 import check_hyperparams

    hyperparams, algo = table.get("hyperparams"), table.get("algo", "ppo")
    if isinstance(hyperparams, dict) and algo in ("ppo", "sac"):
        with prefixed("learner.hyperparams."):
            check_hyperparams(str(algo), dict(hyperparams))


def _no_sections(learner: LearnerSection, table: dict[str, Any]) -> None:
    """An rlhf run has no ``[data]`` (its teacher is ``learner.teacher``), no ``[policy]`` (the loop trains
    the policy: ``learner.steps``, ``algo``, ``hyperparams``) and no ``[eval]`` (``learner.eval_episodes``,
    ``eval_every``): a given one is refused, naming where its settings are."""
    fixes = {
        "data": "leave [data] out: the teacher labels the learner's own rollouts (choose it with learner.teacher, e.g. 'oracle')",
        "policy": "leave [policy] out: the loop trains the policy (set learner.steps, learner.algo, learner.hyperparams)",
        "eval": "leave [eval] out: the loop evaluates its policy (set learner.eval_episodes, learner.eval_every)",
    }
    for key, fix in fixes.items():
        if table.get(key) is not None:
            raise ConfigError(key, f"is given for {learner.name}, which learns from a teacher in the loop", fix)


def _collection(table: Any) -> DemoCollection | None:
    """``[data.collect]`` (None when absent), its PPO hyperparameters checked."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("data.collect", f"is {table!r}, not a table", "write it as a [data.collect] table")
    from rewardlab.rl.sb3 import check_hyperparams

    collect: DemoCollection = _read(DemoCollection, table, "data.collect")
    with prefixed("data.collect.hyperparams."):
        return dataclasses.replace(collect, hyperparams=check_hyperparams("ppo", collect.hyperparams))


def _stage_data(
    learner: LearnerSection, table: dict[str, Any], kind: Literal["tabular", "gym"], env_id: str | None = None
) -> LearnerStages | GymLearnerStages | None:
    """The ``[data]`` of a learning-from-a-learner run (``kind = "stages"``, their default), None for the
    other learners (whose ``[data]`` may not say ``kind = "stages"``)."""
    if learner.name not in STAGE_LEARNERS:
        if table.get("kind") == "stages":
            raise ConfigError(
                "data.kind",
                f"is 'stages', but {learner.name} does not learn from a learner's stages",
                f"leave it out, or use one of {list(STAGE_LEARNERS)}",
            )
        return None
    if kind == "tabular":
        data: LearnerStages | GymLearnerStages = _read(LearnerStages, table, "data")
        return data
    assert env_id is not None
    from rewardlab.rl.sb3 import check_hyperparams

    stages: GymLearnerStages = _read(GymLearnerStages, table, "data")
    with prefixed("data.hyperparams."):
        stages = dataclasses.replace(stages, hyperparams=check_hyperparams("ppo", stages.hyperparams))
    rollout = stages.rollout_steps(env_id)
    if stages.steps // rollout < stages.stages:
        raise ConfigError(
            "data.steps",
            f"is {stages.steps}: PPO saves at most one checkpoint per rollout of {rollout} steps (n_steps x n_envs), fewer than {stages.stages} stages",
            f"give at least {stages.stages * rollout} steps, or a smaller data.hyperparams.n_steps",
        )
    return stages


def _top(run: _Run) -> dict[str, Any]:
    return {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}


def _check_transfer(learner: LearnerSection, world: WorldSection, evaluation: TabularEval) -> None:
    """Transfer needs a reward that is a function of the state features and a world with a seed."""
    if evaluation.transfer_worlds == 0:
        return
    if "seed" not in world.options:
        raise ConfigError("eval.transfer_worlds", f"is {evaluation.transfer_worlds}, but world {world.name!r} has no seed", "set it to 0")
    if learner.name not in TRANSFER_LEARNERS or getattr(learner.config, "reward", "linear") != "linear":
        raise ConfigError(
            "eval.transfer_worlds",
            f"is {evaluation.transfer_worlds}, but {learner.name} learns no reward of the raw state features here",
            f'set it to 0, or use one of {", ".join(TRANSFER_LEARNERS)} (with reward = "linear" where it has that setting)',
        )


def run_config_table(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config as a TOML-ready table: every field, defaults filled in; :func:`load_run_config`
    of it equals ``cfg``."""
    from rewardlab.registry import LEARNERS

    fixed = LEARNERS[cfg.learner.name].fixed
    learner = {k: v for k, v in config_table(cfg.learner.config).items() if k not in fixed}
    table: dict[str, Any] = {
        "seed": cfg.seed,
        "checkpoint_every": cfg.checkpoint_every,
        "tensorboard": cfg.tensorboard,
        "figures": cfg.figures,
        "learner": {"name": cfg.learner.name, "label": cfg.learner.label, **learner},
    }
    if cfg.world is not None:
        table["world"] = {"name": cfg.world.name, **config_table(_world_options_class(cfg.world.name)(**cfg.world.options))}
    if cfg.env is not None:
        table["env"] = {"id": cfg.env.id}
    if cfg.data is not None:
        table["data"] = config_table(cfg.data)
    if cfg.eval is not None:
        table["eval"] = config_table(cfg.eval)
    if cfg.policy is not None:
        table["policy"] = config_table(cfg.policy)
    return table
