"""The checks every learner passes, like scikit-learn's ``check_estimator``.

:func:`learner_checks` yields named checks for one registered learner (see :mod:`rewardlab.registry`)
on a tiny problem of the data kind it learns from, on a tabular world or a Gymnasium env
(``Pendulum-v1``); :func:`check_learner` runs them all. A check that
fails raises :class:`~rewardlab.errors.LearnerCheckError` (a rewardlab error, not a bare ``assert``,
which ``python -O`` strips) naming the learner, the check and what went wrong.

The checks (docs/architecture.md: the estimator shape and how to add a learner):

* ``constructor``: the constructor takes only a frozen dataclass config;
* ``frozen_result``: ``fit`` returns a frozen :class:`~rewardlab.learner.FitResult`;
* ``inputs_untouched``: ``fit`` leaves its config and its data as they were;
* ``same_seed``: the same ``rng`` seed gives the same reward;
* ``callback_stops``: a callback that returns True stops an iterative learner at once;
* ``reward_saves_and_loads``: the reward saved and loaded gives the same values;
* ``empty_data``, ``non_finite_data``: an empty dataset (unless it has a meaning, as Bayesian IRL's
  prior), or one with a NaN where a number goes, raises a :class:`~rewardlab.errors.ValidationError`
  before any training (not for RLHF on Gymnasium, which takes no dataset: its teacher labels its own
  rollouts);
* ``resumes`` (learners registered ``resumable``): a fit stopped part-way after a checkpoint (a callback
  that raises, as a kill would stop it) and fitted again by a fresh learner with the same checkpoint
  directory returns what an uninterrupted fit returns: the same reward (and posterior samples, or
  policy), bit for bit, and the same history (a configuration whose fit reports no steps, such as
  tabular behavioural cloning, is one closed-form step: fitted with the checkpoint, it must still
  return the same). RLHF's, GAIL's and AIRL's envs restart their episodes on resume (``resume_exact`` False in
  the registry), so their resumed fit must instead report the same steps (and ask the same number of labels)
  as an uninterrupted one, and a fit run again after it finished must return the resumed fit's reward, bit for bit;
* ``recovers``: on a tiny world, the learned reward's optimal policy loses little true value; on the
  Gymnasium problem of ranked trajectories, the learned reward orders them as their true returns do.

Examples:
    >>> names = [name for name, _ in learner_checks("maxent", iterations=50)]
    >>> names[:3]
    ['constructor', 'frozen_result', 'inputs_untouched']
    >>> check_learner("mce", iterations=50)
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.errors import LearnerCheckError, ValidationError
from rewardlab.learner import FitResult
from rewardlab.registry import LEARNERS, DataKind

__all__ = ["Problem", "check_learner", "learner_checks", "tiny_problem"]


@dataclass(frozen=True)
class Problem:
    """A tiny problem of one data kind with a known true reward.

    Attributes:
        data: what ``fit`` takes (demonstrations, ranked trajectories, a learner's stages, a teacher's
            true weights); None on Gymnasium for data kind ``"teacher"`` (RLHF): ``fit(env, *, rng, ...)``
            takes no data, its config's simulated teacher labels its own rollouts.
        mdp: the world's MDP, or what a Gymnasium learner's ``fit`` takes (an env id or the two spaces).
        reward: the true reward ``(S,)`` (tabular), else None.
        tolerance: the largest policy loss (uniform start, true reward) a tabular learner may leave, or the
            smallest Kendall tau between learned and true returns of the ranked Gymnasium trajectories;
            None where the problem is too small to judge recovery.
        probe: trajectories on which two rewards' outputs are compared when ``data`` has none (the
            ``"teacher"`` problem: the ranked Pendulum rollouts); None: ``data``'s.
    """

    data: Any
    mdp: Any
    reward: torch.Tensor | None
    tolerance: float | None
    probe: Any = None

    def trajectories(self) -> list[Trajectory]:
        """The trajectories a neural reward's outputs are compared on: ``probe`` when given, else every
        trajectory of ``data``."""
        source = self.probe if self.probe is not None else self.data
        return [tr for item in source for tr in (item if isinstance(item, TrajectoryDataset) else [item])]


@functools.cache
def tiny_gym_problem(kind: DataKind) -> Problem:
    """The Gymnasium problem the checks use for learners of ``kind`` (short ``Pendulum-v1`` rollouts):

    * ``"rankings"``: 8 rollouts of constant torques from -2 to 2, ranked by their true return;
    * ``"demonstrations"``: 4 rollouts of a zero torque (D-REX makes its own ranking from them);
    * ``"stages"``: two stages of a one-step bandit learner on ``Box`` spaces (learning from a learner);
    * ``"teacher"``: no data, the env id only (RLHF's simulated teacher labels its own rollouts); its
      rewards are compared on the ``"rankings"`` rollouts.
    """
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import collect_rollouts

    if kind == "rankings":
        trajectories: list[Trajectory] = []
        for i, torque in enumerate(np.linspace(-2.0, 2.0, 8)):
            act = np.float32(torque)
            trajectories += collect_rollouts("Pendulum-v1", lambda o, a=act: np.full((len(o), 1), a), 1, seed=i, max_steps=20, n_envs=1)
        ranked = [dataclasses.replace(tr, infos={**tr.infos, "rank": float(tr.ret)}) for tr in trajectories]
        return Problem(TrajectoryDataset(ranked), "Pendulum-v1", None, 0.6)
    if kind == "demonstrations":
        demos = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 4, seed=0, max_steps=20, n_envs=2)
        return Problem(demos, "Pendulum-v1", None, None)
    if kind == "stages":
        rng = np.random.default_rng(0)
        stages = []
        for slope, std in ((0.0, 1.0), (1.0, 0.7)):
            s, s2 = rng.uniform(-1, 1, 64), rng.uniform(-1, 1, 64)
            a = slope * s + std * rng.standard_normal(64)
            stages.append(
                TrajectoryDataset([Trajectory(np.array([[s[i]], [s2[i]]], np.float32), np.array([[a[i]]], np.float32)) for i in range(64)])
            )
        return Problem(stages, (gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(-4, 4, (1,))), None, None)
    if kind == "teacher":
        return Problem(None, "Pendulum-v1", None, None, probe=tiny_gym_problem("rankings").data)
    raise ValidationError("kind", f"is {kind!r}", "choose 'demonstrations', 'rankings', 'stages' or 'teacher'")


@functools.cache
def tiny_problem(kind: DataKind) -> Problem:
    """The problem the checks use for learners of ``kind`` (cached: it is the same for every learner).

    * ``"demonstrations"``: 20 optimal demonstrations on the lecture's "crossing" navigation grid;
    * ``"rankings"``: 12 demonstrations on a 6x6 feature grid, each optimal for a random reward, ranked
      by their true return (``infos["rank"]``);
    * ``"stages"``: three soft policy-iteration policies of a learner on a 5-state random MDP;
    * ``"teacher"``: a 5x5 feature grid; the data is its true weights ``(4,)``, which the learner's
      simulated teacher answers by.
    """
    from rewardlab.mdp import value_iteration
    from rewardlab.mdp.worlds import feature_gridworld, navigation_gridworld, random_mdp

    rng = np.random.default_rng(0)
    if kind == "demonstrations":
        from rewardlab.irl.experts import expert_demonstrations

        world = navigation_gridworld("crossing")
        demos, _ = expert_demonstrations(world, 20, rng=rng)
        return Problem(demos, world.mdp, world.reward, 1e-6)
    if kind == "rankings":
        grid = feature_gridworld(6, seed=0, discount=0.9)
        features = grid.mdp.features
        assert features is not None
        trajectories = []
        for _ in range(12):
            weights = rng.standard_normal(4)
            policy = value_iteration(grid.mdp, features @ torch.as_tensor(weights / np.linalg.norm(weights))).policy
            trajectories.append(sample_tabular(grid.mdp, policy, 1, rng=rng, length=10, reward=grid.reward)[0])
        ranked = [dataclasses.replace(tr, infos={**tr.infos, "rank": float(tr.ret)}) for tr in trajectories]
        return Problem(TrajectoryDataset(ranked), grid.mdp, grid.reward, 0.05)
    if kind == "stages":
        from rewardlab.irl.lfl import soft_policy_iteration

        learner = random_mdp(5, 2, 2, seed=0, discount=0.8)
        policies = soft_policy_iteration(learner.mdp, learner.reward, 0.5, 3)
        return Problem(policies, learner.mdp, learner.reward, 1e-6)
    if kind == "teacher":
        grid = feature_gridworld(5, seed=0, discount=0.9)
        assert grid.weights is not None
        return Problem(grid.weights.clone(), grid.mdp, grid.reward, 0.05)
    raise ValidationError("kind", f"is {kind!r}", "choose 'demonstrations', 'rankings', 'stages' or 'teacher'")


def _fail(name: str, check: str, problem: str) -> LearnerCheckError:
    return LearnerCheckError(f"{name}.{check}", problem, "make the learner follow the estimator shape (docs/architecture.md)")


def _outputs(result: FitResult, problem: Problem) -> torch.Tensor | None:
    """What the learned reward says: its values on every state (tabular), or a neural reward's output on
    every step of the problem's trajectories (Gymnasium); None for a policy learner (behavioural cloning)."""
    values = getattr(result.reward, "values", None)
    if values is not None:
        return torch.as_tensor(values)
    from rewardlab.prefs.trex import TrajectoryEncoder
    from rewardlab.rewards import NeuralReward

    if not isinstance(result.reward, NeuralReward):
        return None

    encoder = TrajectoryEncoder.for_reward(problem.mdp, result.reward)
    obs, acts, _ = encoder.observations(TrajectoryDataset(problem.trajectories()))
    with torch.no_grad():
        out: torch.Tensor = result.reward(obs, acts if result.reward.spec.uses_action else None)
    return out


def _snapshot(data: Any) -> list[Any]:
    """Copies of every array in ``data`` (trajectories or policies), to compare after ``fit``."""
    out: list[Any] = []
    for item in data if data is not None else []:
        if isinstance(item, Trajectory):
            out.append((item.obs.copy(), item.acts.copy(), copy.deepcopy(item.infos)))
        elif isinstance(item, TrajectoryDataset):
            out.append(tuple(_snapshot(item)))
        else:
            out.append(torch.as_tensor(item).clone())
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (np.ndarray, torch.Tensor)):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


def _non_finite(data: Any) -> Any:
    """``data`` with one NaN where a number goes: a NaN observation, a NaN policy entry, or a NaN weight
    (a teacher's true weights)."""
    if isinstance(data, torch.Tensor) and data.ndim == 1:
        weights = data.clone()
        weights[0] = float("nan")
        return weights
    out = list(data)
    first = out[0]
    if isinstance(first, TrajectoryDataset):  # a learner's stages of trajectories
        out[0] = TrajectoryDataset(_non_finite(first))
    elif isinstance(first, Trajectory):
        obs = first.obs.astype(np.float64)
        obs[1] = np.nan
        out[0] = dataclasses.replace(first, obs=obs)
    else:
        policy = torch.as_tensor(first).clone()
        policy[0, 0] = float("nan")
        out[0] = policy
    return out


class _Killed(Exception):
    """Raised by the ``resumes`` check's callback: the fit stops there, as a killed process would."""


def _same_result(a: FitResult, b: FitResult, problem: Problem) -> str | None:
    """What differs between two fits (reward outputs, posterior samples, policy, history), or None."""
    va, vb = _outputs(a, problem), _outputs(b, problem)
    if (va is None) != (vb is None) or (va is not None and vb is not None and not torch.equal(va, vb)):
        return "the reward differs"
    sa, sb = getattr(a.posterior, "samples", None), getattr(b.posterior, "samples", None)
    if sa is not None and (sb is None or not torch.equal(sa, sb)):
        return "the posterior samples differ"
    if va is None and (a.policy is None or b.policy is None or not torch.equal(a.policy, b.policy)):
        return "the policy differs"
    if a.history.to_dict() != b.history.to_dict():
        return "the history differs"
    return None


def learner_checks(name: str, space: str = "tabular", /, **overrides: Any) -> Iterator[tuple[str, Callable[[], None]]]:
    """The named checks of learner ``name`` on its ``space`` (``"tabular"`` or ``"gym"``), configured by
    ``overrides`` (small budgets keep them fast).

    Each check is a function of no arguments that returns None or raises :class:`LearnerCheckError`.
    """
    spec = LEARNERS[name]
    if space not in spec.spaces:
        return
    problem = tiny_problem(spec.data) if space == "tabular" else tiny_gym_problem(spec.data)
    in_the_loop = problem.data is None  # RLHF: fit(env, *, rng, ...), a teacher labels the learner's own rollouts

    def make() -> Any:
        return spec.make(**overrides)

    def fit(learner: Any, data: Any = None, seed: int = 1, **kw: Any) -> FitResult:
        rng = np.random.default_rng(seed)
        if in_the_loop:
            return learner.fit(problem.mdp, rng=rng, **kw)  # type: ignore[no-any-return]
        result: FitResult = learner.fit(problem.data if data is None else data, problem.mdp, rng=rng, **kw)
        return result

    def constructor() -> None:
        learner = make()
        params = list(inspect.signature(type(learner)).parameters)
        if params != ["config"]:
            raise _fail(name, "constructor", f"takes {params}, not only a config")
        config = learner.config
        if not (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):  # type: ignore[union-attr]
            raise _fail(name, "constructor", f"its config {type(config).__name__} is not a frozen dataclass")

    def frozen_result() -> None:
        result = fit(make())
        if not isinstance(result, FitResult):
            raise _fail(name, "frozen_result", f"fit returned a {type(result).__name__}")
        try:
            result.info = {}  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            return
        raise _fail(name, "frozen_result", "the FitResult can be changed")

    def inputs_untouched() -> None:
        learner = make()
        config = copy.deepcopy(learner.config)
        before = _snapshot(problem.data)
        fit(learner)
        if learner.config != config:
            raise _fail(name, "inputs_untouched", "fit changed the config")
        if not all(_same(a, b) for a, b in zip(before, _snapshot(problem.data), strict=True)):
            raise _fail(name, "inputs_untouched", "fit changed its data")

    def same_seed() -> None:
        a, b = fit(make(), seed=7), fit(make(), seed=7)
        va, vb = _outputs(a, problem), _outputs(b, problem)
        if va is None or vb is None:
            va, vb = a.policy, b.policy
        if va is None or vb is None or not torch.equal(va, vb):
            raise _fail(name, "same_seed", "two fits with the same seed gave different results")

    def callback_stops() -> None:
        steps: list[int] = []

        def stop_at_once(step: int, metrics: dict[str, float]) -> bool:
            steps.append(step)
            return True

        fit(make(), callback=stop_at_once)
        if len(steps) != 1:
            raise _fail(name, "callback_stops", f"the callback asked to stop at the first step and was called {len(steps)} times")

    def reward_saves_and_loads() -> None:
        result = fit(make())
        values = _outputs(result, problem)
        if values is None:
            return  # a policy learner (behavioural cloning) has no reward to save
        with tempfile.TemporaryDirectory() as tmp:
            result.reward.save(f"{tmp}/reward")
            back = type(result.reward).load(f"{tmp}/reward")
        loaded = _outputs(dataclasses.replace(result, reward=back), problem)
        if loaded is None or not torch.equal(loaded, values):
            raise _fail(name, "reward_saves_and_loads", "the loaded reward differs from the saved one")

    def resumes(every: int = 7) -> None:
        from rewardlab.checkpoint import Checkpoint

        whole = fit(make())
        with tempfile.TemporaryDirectory() as tmp:
            directory = f"{tmp}/checkpoints"
            reported: list[int] = []

            def kill(step: int, metrics: dict[str, float]) -> None:
                reported.append(step)
                if Checkpoint(directory, every).latest_step is not None:
                    raise _Killed

            try:
                fit(make(), callback=kill, checkpoint=Checkpoint(directory, every))
            except _Killed:
                pass
            else:
                if reported:  # a fit that reports no steps in this configuration (tabular BC) has no state to resume
                    raise _fail(name, "resumes", f"no checkpoint was written before the fit ended (every={every})")
            resumed = fit(make(), checkpoint=Checkpoint(directory, every))
            again = fit(make(), checkpoint=Checkpoint(directory, every))  # from the checkpoint of the finished fit
        if not spec.resume_exact:  # the envs restart their episodes on resume: the same schedule, not the same numbers
            if resumed.history.steps != whole.history.steps or resumed.info.get("labels") != whole.info.get("labels"):
                raise _fail(
                    name,
                    "resumes",
                    f"the resumed fit reported steps {resumed.history.steps} and asked {resumed.info.get('labels')} labels, "
                    f"an uninterrupted one {whole.history.steps} and {whole.info.get('labels')}",
                )
            va, vb = _outputs(resumed, problem), _outputs(again, problem)
            if va is None or vb is None or not torch.equal(va, vb):
                raise _fail(name, "resumes", "the reward differs between a resumed fit and one refitted after it finished")
            return
        for label, other in (("resumed", resumed), ("refitted after it finished", again)):
            problem_ = _same_result(whole, other, problem)
            if problem_ is not None:
                raise _fail(name, "resumes", f"{problem_} between an uninterrupted fit and one {label} from its checkpoint")

    def refused(check: str, data: Any) -> None:
        try:
            fit(make(), data=data)
        except ValidationError:
            return
        raise _fail(name, check, "fit accepted the data without an error naming it")

    def recovers() -> None:
        from rewardlab.eval import policy_loss
        from rewardlab.irl.bc import as_time_indexed
        from rewardlab.mdp import greedy_policy, value_iteration

        result = fit(make())
        tolerance = float(problem.tolerance or 0.0)
        if problem.reward is None:  # Gymnasium: the learned returns order the ranked trajectories as the true ones
            from rewardlab.eval.ranking import kendall_tau
            from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns

            predicted = predicted_returns(result.reward, problem.data, TrajectoryEncoder.for_reward(problem.mdp, result.reward))
            tau = kendall_tau(predicted, problem.data.returns())
            if not tau >= tolerance:
                raise _fail(
                    name, "recovers", f"its returns order the ranked trajectories with Kendall tau {tau:.2f} (needed {problem.tolerance})"
                )
            return
        values = _outputs(result, problem)
        if values is not None:
            policy = value_iteration(problem.mdp, values.to(problem.mdp.dtype)).policy
        else:
            assert result.policy is not None
            policy = greedy_policy(result.policy.to(problem.mdp.dtype))
            if problem.mdp.horizon is not None and policy.ndim == 2:
                policy = as_time_indexed(policy, problem.mdp.horizon)
        loss = policy_loss(problem.mdp, problem.reward, policy, initial="uniform" if problem.mdp.horizon is None else "mdp")
        if not loss <= tolerance:
            raise _fail(name, "recovers", f"its policy loses {loss:.3g} of true value (allowed {tolerance:g})")

    yield "constructor", constructor
    yield "frozen_result", frozen_result
    yield "inputs_untouched", inputs_untouched
    yield "same_seed", same_seed
    if spec.iterative:
        yield "callback_stops", callback_stops
    yield "reward_saves_and_loads", reward_saves_and_loads
    if spec.resumable:
        yield "resumes", (lambda: resumes(every=1)) if in_the_loop or not spec.resume_exact else resumes
    if not in_the_loop:  # a learner with a teacher in its loop takes no data to refuse
        if not spec.empty_ok:
            yield "empty_data", lambda: refused("empty_data", [])
        yield "non_finite_data", lambda: refused("non_finite_data", _non_finite(problem.data))
    if problem.tolerance is not None:
        yield "recovers", recovers


def check_learner(name: str, space: str = "tabular", /, **overrides: Any) -> None:
    """Run every check of :func:`learner_checks`; the first that fails raises :class:`LearnerCheckError`."""
    for _, check in learner_checks(name, space, **overrides):
        check()
