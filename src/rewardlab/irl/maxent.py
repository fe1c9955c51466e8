"""Maximum Entropy IRL (Ziebart et al. 2008) and maximum causal entropy IRL (Ziebart et al. 2010).

The lecture's loop, for a reward ``r_theta`` (linear in state features, or a table per state or per
state-action):

1. soft value iteration under ``r_theta`` gives the soft-optimal policy ``pi_theta``;
2. the forward pass gives its expected visitation ``mu_pi`` (from the demonstrations' start states);
3. ``theta <- theta + alpha * d/dtheta (mu_D - mu_pi)``: for a linear reward ``Phi^T (mu_D - mu_pi)``,
   the gap between the demonstrations' and the model's feature counts.

This is gradient ascent on the (causal) log-likelihood of the demonstrations,
:func:`rewardlab.mdp.maxent_objective`, whose gradient is exact. ``causal=False`` uses the original
MaxEnt backward pass of 2008 (identical for deterministic dynamics). Optional priors: Gaussian (L2)
and Laplace (L1, applied as a proximal step). Optimisers: plain gradient ascent, Adam, or L-BFGS.

On a discounted MDP the demonstrator is modelled by the stationary soft-optimal policy and every
demonstrated decision is scored (:func:`rewardlab.mdp.stationary_objective`), so short snippets
from random starts need no truncated model; ``model="finite"`` instead gives the MDP the
demonstrations' length as horizon (see :class:`DemoObjective`). Both gradients are exact.

References:
    Ziebart, Maas, Bagnell, Dey, "Maximum Entropy Inverse Reinforcement Learning", AAAI 2008.
    Ziebart, Bagnell, Dey, "Modeling Interaction via the Principle of Maximum Causal Entropy", ICML 2010.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rewardlab._optim import adam_ascent_step
from rewardlab.checkpoint import Checkpoint, rng_state
from rewardlab.data import TrajectoryDataset, empirical_visitation, start_distribution, validate_dataset
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP, Workspace, maxent_objective
from rewardlab.mdp.maxent import stationary_objective
from rewardlab.rewards import TabularReward

__all__ = ["DemoObjective", "MaxEntConfig", "MaxEntIRL", "adam_ascent_step", "demo_statistics", "model_mdp"]


@dataclass(frozen=True)
class MaxEntConfig:
    """Hyperparameters of MaxEnt / MCE IRL.

    Attributes:
        reward: ``"linear"`` in state features ``(F,)``, ``"state"`` ``(S,)`` or ``"state_action"`` ``(S, A)``.
        causal: maximum causal entropy (True) or the original 2008 backward pass (False).
        optimizer: ``"auto"`` (L-BFGS, or Adam when ``l1 > 0``), ``"gd"`` (plain ascent), ``"adam"`` or
            ``"lbfgs"`` (scipy's L-BFGS-B with its own line search: the objective is concave in a linear
            reward, and L-BFGS reaches the optimum in tens of evaluations where Adam takes hundreds).
        lr: step size of ``"gd"`` and ``"adam"`` (L-BFGS ignores it).
        iterations: maximum number of gradient evaluations.
        l2: Gaussian prior weight: adds ``-l2/2 ||theta||^2`` to the objective.
        l1: Laplace prior weight: adds ``-l1 ||theta||_1`` (proximal step; not with L-BFGS).
        temperature: ``T`` of the soft-optimal demonstrator model.
        tol: stop when the largest gradient entry falls below ``tol``.
        start: ``"demos"``: expected visitation from the demonstrations' start states (exact
            likelihood); ``"mdp"``: from ``mdp.initial``. Finite model only.
        model: how the demonstrations are scored (see :class:`DemoObjective`): ``"auto"`` (stationary
            for a discounted MDP, finite for a finite-horizon one), ``"finite"`` (a discounted MDP is
            given the demonstrations' length as horizon) or ``"stationary"``.
        action_noise: known probability that the demonstrator acts uniformly at random (stationary
            model only): the demonstrator is ``(1 - eps) pi_soft + eps / A``.
    """

    reward: Literal["linear", "state", "state_action"] = "linear"
    causal: bool = True
    optimizer: Literal["auto", "gd", "adam", "lbfgs"] = "auto"
    lr: float = 0.1
    iterations: int = 200
    l2: float = 0.0
    l1: float = 0.0
    temperature: float = 1.0
    tol: float = 1e-6
    start: Literal["demos", "mdp"] = "demos"
    model: Literal["auto", "finite", "stationary"] = "auto"
    action_noise: float = 0.0

    def __post_init__(self) -> None:
        choices = {
            "reward": ("linear", "state", "state_action"),
            "optimizer": ("auto", "gd", "adam", "lbfgs"),
            "start": ("demos", "mdp"),
            "model": ("auto", "finite", "stationary"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(name, f"is {getattr(self, name)!r}", f"choose one of {allowed}")
        for name in ("lr", "temperature"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(name, f"is {getattr(self, name)}", "use a positive finite number")
        for name in ("l1", "l2", "tol"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(name, f"is {getattr(self, name)}", "use a non-negative finite number")
        if self.iterations < 1:
            raise ConfigError("iterations", f"is {self.iterations}", "use at least 1")
        if not 0 <= self.action_noise < 1:
            raise ConfigError("action_noise", f"is {self.action_noise}", "use a probability in [0, 1)")
        if self.l1 > 0 and self.optimizer == "lbfgs":
            raise ConfigError(
                "l1", "is set with optimizer='lbfgs', which needs a smooth objective", "use optimizer 'gd' or 'adam' for an L1 prior"
            )

    @property
    def resolved_optimizer(self) -> str:
        """The optimiser ``"auto"`` stands for: L-BFGS for a smooth objective, Adam with an L1 prior."""
        if self.optimizer != "auto":
            return self.optimizer
        return "adam" if self.l1 > 0 else "lbfgs"


class _Stop(Exception):
    """Raised inside the L-BFGS objective when the callback (or convergence) says stop."""


def model_mdp(mdp: TabularMDP, demos: TrajectoryDataset) -> TabularMDP:
    """The finite-horizon MDP the demonstrations are scored in: ``mdp`` itself, or, when it is
    discounted, the same MDP with the demonstrations' (longest) length as horizon."""
    if mdp.horizon is not None:
        return mdp
    length = max(len(tr) for tr in demos)
    if length < 1:
        raise ValidationError("data", "holds only empty trajectories", "pass demonstrations with at least one action")
    return mdp.replace(horizon=length)


def demo_statistics(mdp: TabularMDP, demos: TrajectoryDataset, *, state_action: bool, start: str = "demos") -> tuple[Tensor, Tensor]:
    """Empirical (discounted) visitation per demonstration ``(S,)`` or ``(S, A)`` and the start distribution ``(S,)``."""
    if len(demos) == 0:
        raise ValidationError("data", "is empty", "pass at least one demonstration")
    visits = empirical_visitation(demos, mdp.n_states, n_actions=mdp.n_actions if state_action else None, discount=mdp.discount)
    rho = start_distribution(demos, mdp.n_states) if start == "demos" else mdp.initial.cpu().numpy()
    return torch.as_tensor(visits, dtype=mdp.dtype, device=mdp.device), torch.as_tensor(rho, dtype=mdp.dtype, device=mdp.device)


class DemoObjective:
    """The demonstrations' (causal) log-likelihood as a function of the reward table, with its gradient.

    Two models of the same soft-optimal demonstrator:

    * **finite** — :func:`rewardlab.mdp.maxent_objective` on a finite-horizon MDP (a discounted MDP gets
      the demonstrations' length as horizon): time-indexed policy, visitation from the start states.
    * **stationary** — :func:`rewardlab.mdp.stationary_objective` on a discounted MDP: the
      infinite-horizon stationary soft policy scores every demonstrated decision, so short snippets
      from random starts (objectworld's 8-step demonstrations) are modelled without truncation.
      Soft values and occupancy are warm-started from the previous call and solved to ``tol``
      (1e-6: gradients good to about that, at a fraction of the sweeps of full precision).

    Calling it with a reward ``(S,)`` or ``(S, A)`` returns ``(value, gradient)`` per demonstration.
    """

    def __init__(
        self,
        mdp: TabularMDP,
        demos: TrajectoryDataset,
        *,
        model: str = "auto",
        state_action: bool = False,
        start: str = "demos",
        temperature: float = 1.0,
        causal: bool = True,
        tol: float = 1e-6,
        action_noise: float = 0.0,
    ) -> None:
        if len(demos) == 0:
            raise ValidationError("data", "is empty", "pass at least one demonstration")
        self.stationary = model == "stationary" or (model == "auto" and mdp.horizon is None)
        if self.stationary and mdp.horizon is not None:
            raise ConfigError("model", "is 'stationary' for a finite-horizon MDP", "use model='finite' or 'auto'")
        self.mdp = mdp if self.stationary else model_mdp(mdp, demos)
        self.temperature, self.causal, self.n = temperature, causal, len(demos)
        self.tol, self.action_noise = tol, action_noise
        if action_noise > 0 and not self.stationary:
            raise ConfigError(
                "action_noise", "is set with the finite model", "use model='stationary' (a discounted MDP) to model noisy demonstrators"
            )
        self.workspace = Workspace()
        self.policy: Tensor | None = None
        if self.stationary:
            states, actions, _ = demos.decisions()
            self.states = torch.as_tensor(states, device=mdp.device)
            self.actions = torch.as_tensor(actions, device=mdp.device)
            self._values: Tensor | None = None
            self._occupancy: Tensor | None = None
        else:
            self.mu_d, self.rho = demo_statistics(self.mdp, demos, state_action=state_action, start=start)

    def state_dict(self) -> dict[str, Any]:
        """The warm start of the next call (stationary model: the last soft values and occupancy; the
        finite model has none), for a checkpoint: a resumed fit solves from the same start."""
        if not self.stationary:
            return {}
        return {"values": self._values, "occupancy": self._occupancy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`)."""
        if self.stationary:
            device = self.mdp.device
            self._values = None if state.get("values") is None else state["values"].to(device)
            self._occupancy = None if state.get("occupancy") is None else state["occupancy"].to(device)

    def __call__(self, reward: Tensor) -> tuple[float, Tensor]:
        if self.stationary:
            obj = stationary_objective(
                self.mdp,
                reward,
                self.states,
                self.actions,
                n_trajectories=self.n,
                temperature=self.temperature,
                causal=self.causal,
                init_values=self._values,
                init_occupancy=self._occupancy,
                tol=self.tol,
                action_noise=self.action_noise,
            )
            self._values, self._occupancy, self.policy = obj.values, obj.occupancy, obj.policy
            return float(obj.value), obj.gradient
        fin = maxent_objective(
            self.mdp, reward, self.mu_d, demo_initial=self.rho, temperature=self.temperature, causal=self.causal, workspace=self.workspace
        )
        self.policy = fin.policy  # a view into this objective's workspace, valid until the next call
        return float(fin.value), fin.gradient


#: a weight this large makes the soft-optimal policy deterministic: a fit that gets there is following an
#: objective that rises without bound, not converging to a maximum
UNBOUNDED_WEIGHT = 1e6


def fit_warnings(
    theta: Tensor, history: History, *, converged: bool, optimizer: str, iterations: int, tol: float, stopped: bool = False
) -> list[str]:
    """What makes a MaxEnt fit's reward untrustworthy, as messages (empty when nothing does).

    * **No maximum.** The objective ``theta . mu_D - log Z(theta)`` is concave, but it has a finite maximum only
      when the demonstrations' feature counts ``mu_D`` lie strictly inside the set of counts some policy achieves
      in expectation. A few demonstrations in a stochastic world can be luckier than any policy (they never
      slipped into water), and a deterministic demonstrator is explained ever better by a reward scaled up
      without end. The fit then walks ``theta`` off to infinity with the gradient stuck at a constant; the
      reward's scale, and the weight of features the demonstrations never tell apart, are arbitrary. An L2 prior
      (``l2``) restores a maximum.
    * **No convergence.** L-BFGS used its whole evaluation budget without reaching the gradient tolerance. (Adam
      and plain gradient ascent run ``iterations`` steps by design, and a fit its callback stopped was stopped on
      purpose: neither is flagged.)

    Args:
        theta: the returned parameters, ``(F,)``, ``(S,)`` or ``(S, A)``.
        history: the fit's ``objective`` and ``grad_max`` per evaluation.
        converged: whether the gradient tolerance was reached.
        optimizer: the optimizer that ran.
        iterations: the evaluation budget.
        tol: the gradient tolerance.
        stopped: the fit's callback stopped it.

    Examples:
        >>> h = History()
        >>> h.log(0, objective=-3.0, grad_max=0.5)
        >>> fit_warnings(torch.tensor([2e7, -1.0]), h, converged=False, optimizer="adam", iterations=200, tol=1e-6)[0][:60]
        'MaxEnt: the objective kept rising as the reward grew (max |t'
        >>> fit_warnings(torch.tensor([0.5, -1.0]), h, converged=True, optimizer="lbfgs", iterations=200, tol=1e-6)
        []
        >>> fit_warnings(torch.tensor([0.5, -1.0]), h, converged=False, optimizer="lbfgs", iterations=200, tol=1e-6)[0][:36]
        'MaxEnt: L-BFGS did not converge in 2'
        >>> fit_warnings(torch.tensor([0.5, -1.0]), h, converged=False, optimizer="lbfgs", iterations=200, tol=1e-6, stopped=True)
        []
    """
    grads = history["grad_max"]
    last = float(grads[-1]) if len(grads) else float("nan")
    largest = float(theta.abs().max()) if theta.numel() else 0.0
    if not converged and largest >= UNBOUNDED_WEIGHT:
        return [
            f"MaxEnt: the objective kept rising as the reward grew (max |theta| = {largest:.3g}, max |gradient| still "
            f"{last:.3g}): the demonstrations' feature counts are outside what any policy achieves in expectation, so "
            "the objective has no maximum and the reward's scale and unidentified weights are arbitrary; add an L2 prior "
            "(--set l2=0.01) or more demonstrations"
        ]
    if not converged and optimizer == "lbfgs" and not stopped:
        return [
            f"MaxEnt: L-BFGS did not converge in {iterations} evaluations (max |gradient| {last:.3g} > tol {tol:g}): "
            "raise iterations, or add an L2 prior (l2) if the objective is flat"
        ]
    return []


class MaxEntIRL:
    """MaxEnt / maximum causal entropy IRL on a tabular MDP.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.data import sample_tabular
        >>> from rewardlab.mdp import soft_value_iteration
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")
        >>> demos = sample_tabular(world.mdp, soft_value_iteration(world.mdp, world.reward).policy, 50,
        ...                        rng=np.random.default_rng(0))
        >>> result = MaxEntIRL(MaxEntConfig(iterations=100)).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> int(result.reward.weights.argmax()) == world.feature_names.index("goal")
        True
    """

    def __init__(self, config: MaxEntConfig | None = None) -> None:
        self.config = config or MaxEntConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: TabularMDP,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Learn a reward from tabular demonstrations ``data`` on ``env_or_mdp``.

        With ``checkpoint``, a fit run again with the same settings, data and seed continues from the
        latest checkpoint (saved after evaluation ``k`` when ``checkpoint.due(k)`` and at the end) and
        returns what an uninterrupted fit returns. ``"gd"`` / ``"adam"`` save ``theta``, Adam's moments,
        the objective's warm start and the history. ``"lbfgs"`` (scipy's L-BFGS-B, whose internal state
        cannot be saved) saves every objective value and gradient so far instead: the resumed fit runs
        L-BFGS-B again from the start, answering those evaluations from the checkpoint without solving
        the MDP (L-BFGS-B is deterministic, so it takes the same path), then solves from there on.

        Returns:
            FitResult with ``reward`` a :class:`TabularReward` (``weights`` set when linear), ``policy``
            the soft-optimal policy of the model MDP, and ``history`` of objective and gradient norm.
        """
        cfg = self.config
        mdp = env_or_mdp
        data = validate_dataset(data, mdp)
        objective = DemoObjective(
            mdp,
            data,
            model=cfg.model,
            state_action=cfg.reward == "state_action",
            start=cfg.start,
            temperature=cfg.temperature,
            causal=cfg.causal,
            action_noise=cfg.action_noise,
        )
        features = mdp.features
        if cfg.reward == "linear":
            if features is None:
                raise ValidationError(
                    "mdp.features", "is None but reward='linear'", "build the MDP with state features or use reward='state'"
                )
            theta = torch.zeros(mdp.n_features, dtype=mdp.dtype, device=mdp.device)
        elif cfg.reward == "state":
            theta = torch.zeros(mdp.n_states, dtype=mdp.dtype, device=mdp.device)
        else:
            theta = torch.zeros(mdp.n_states, mdp.n_actions, dtype=mdp.dtype, device=mdp.device)

        def reward_of(t: Tensor) -> Tensor:
            return features @ t if cfg.reward == "linear" else t  # type: ignore[operator]

        history = History()
        state = {"step": 0}
        optimizer = cfg.resolved_optimizer
        if checkpoint is not None:
            states, actions, times = data.decisions()
            checkpoint = checkpoint.bind("maxent", cfg, mdp, states, actions, times, rng_state(rng))
        saved = checkpoint.restore() if checkpoint is not None else None
        if saved is not None:
            history.load_state_dict(saved["history"])
            objective.load_state_dict(saved["objective"])
            state["step"] = saved["step"] + 1
        diverged = f"lower lr (now {cfg.lr:g}), add an l2 prior or use optimizer='lbfgs'"

        def evaluate(t: Tensor) -> tuple[float, Tensor]:
            """Penalised objective and its gradient in theta (ascent direction)."""
            reward = reward_of(t)
            ensure_finite(reward, "MaxEnt reward", step=state["step"], fix=diverged)
            value, grad_r = objective(reward)
            ensure_finite(value, "MaxEnt objective", step=state["step"], fix=diverged)
            grad = features.T @ grad_r if cfg.reward == "linear" else grad_r  # type: ignore[union-attr]
            value = value - 0.5 * cfg.l2 * float((t * t).sum()) - cfg.l1 * float(t.abs().sum())
            return value, grad - cfg.l2 * t

        stopped = {"callback": False}

        def log(value: float, grad: Tensor) -> bool:
            norm = float(grad.abs().max())
            history.log(state["step"], objective=value, grad_max=norm)
            stopped["callback"] = run_callback(callback, state["step"], {"objective": value, "grad_max": norm})
            state["step"] += 1
            return stopped["callback"] or norm < cfg.tol

        def save(step: int, extra: dict[str, Any], *, last: bool = False) -> None:
            if checkpoint is not None and not stopped["callback"] and (last or checkpoint.due(step)):
                checkpoint.save(step, {**extra, "history": history.state_dict(), "objective": objective.state_dict()})

        converged = False
        if optimizer == "lbfgs":
            from scipy.optimize import minimize

            shape = theta.shape
            best: dict[str, Any] = {"x": theta.clone(), "value": -math.inf}  # the line search may end on a worse trial point
            # every evaluation's (value, gradient), for a checkpoint; a resumed fit replays the saved ones
            done: list[tuple[float, Tensor]] = (
                [] if saved is None else [(float(v), g) for v, g in zip(saved["values"], saved["grads"], strict=True)]
            )
            calls = {"n": 0}

            def negative(x: np.ndarray) -> tuple[float, np.ndarray]:  # L-BFGS minimises
                t = torch.as_tensor(x, dtype=mdp.dtype, device=mdp.device).reshape(shape)
                k = calls["n"]
                calls["n"] += 1
                if k < len(done):  # replayed from the checkpoint: L-BFGS-B takes the same path
                    value, grad = done[k][0], done[k][1].to(t)
                    if value > best["value"]:
                        best["x"], best["value"] = t, value
                    if float(grad.abs().max()) < cfg.tol:  # where the fit converged
                        raise _Stop
                    return -value, -grad.reshape(-1).cpu().numpy()
                value, grad = evaluate(t)
                if value > best["value"]:
                    best["x"], best["value"] = t, value
                stop = log(value, grad)
                if checkpoint is not None:
                    done.append((value, grad))
                    save(k, {"values": [v for v, _ in done], "grads": [g for _, g in done]})
                if stop:
                    raise _Stop
                return -value, -grad.reshape(-1).cpu().numpy()

            # L-BFGS-B may stop short of the gradient tolerance when a line search ends on a worse point or the
            # objective stops falling at round-off (scipy 1.17 does at discount 0.99999, |grad| 1.6e-6 > 1e-6):
            # it restarts from the best point with a fresh memory, up to 3 times, within the evaluation budget
            with contextlib.suppress(_Stop):
                for _ in range(4):
                    remaining = cfg.iterations - calls["n"]
                    if remaining <= 0:
                        break
                    minimize(
                        negative,
                        best["x"].reshape(-1).cpu().numpy(),
                        jac=True,
                        method="L-BFGS-B",
                        options={"maxfun": remaining, "maxiter": remaining, "gtol": cfg.tol, "ftol": 1e-15, "maxcor": 20},
                    )
            theta = best["x"]
            converged = bool(history["grad_max"][-1] < cfg.tol)
            if done and checkpoint is not None and checkpoint.latest_step != len(done) - 1:
                save(len(done) - 1, {"values": [v for v, _ in done], "grads": [g for _, g in done]}, last=True)
        else:
            moments = (torch.zeros_like(theta), torch.zeros_like(theta))
            first = 1
            if saved is not None:
                theta = saved["theta"].to(theta)
                moments = (saved["moments"][0].to(theta), saved["moments"][1].to(theta))
                converged = bool(saved["converged"])
                first = cfg.iterations + 1 if converged else saved["step"] + 2
            for step in range(first, cfg.iterations + 1):
                value, grad = evaluate(theta)
                if log(value, grad):
                    converged = bool(history["grad_max"][-1] < cfg.tol)
                    save(step - 1, {"theta": theta, "moments": list(moments), "converged": converged}, last=True)
                    break
                if optimizer == "adam":
                    theta, moments = adam_ascent_step(theta, grad, moments, step, cfg.lr)
                else:
                    theta = theta + cfg.lr * grad
                if cfg.l1 > 0:  # proximal step of the Laplace prior: soft-thresholding
                    theta = torch.sign(theta) * torch.clamp(theta.abs() - cfg.lr * cfg.l1, min=0.0)
                save(step - 1, {"theta": theta, "moments": list(moments), "converged": False}, last=step == cfg.iterations)

        final = reward_of(theta).detach().clone()
        ensure_finite(final, "MaxEnt reward", step="the end", fix=diverged)
        warnings = fit_warnings(
            theta, history, converged=converged, optimizer=optimizer, iterations=cfg.iterations, tol=cfg.tol, stopped=stopped["callback"]
        )
        objective(final)  # the model's policy for the returned reward
        reward = TabularReward(final, theta.clone() if cfg.reward == "linear" else None)
        return FitResult(
            reward=reward,
            policy=objective.policy,
            history=history,
            info={
                "iterations": state["step"],
                "converged": converged,
                "model": "stationary" if objective.stationary else "finite",
                "model_horizon": objective.mdp.horizon,
                "config": cfg,
                "warnings": warnings,
            },
        )
