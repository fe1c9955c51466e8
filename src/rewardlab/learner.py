"""The one estimator shape every learner follows (docs/architecture.md, "One shape for every learner").

A learner is a class whose constructor takes only its hyperparameters (a dataclass config) and whose
``fit(data, env_or_mdp, *, rng, callback=None)`` returns a frozen :class:`FitResult`.
``callback(step, metrics)`` is called once per optimisation step; returning True stops training.

**Resumable fits.** A learner whose registry entry says ``resumable=True``
(:attr:`rewardlab.registry.LearnerSpec.resumable`) also takes ``fit(..., checkpoint=None)``, a
:class:`rewardlab.checkpoint.Checkpoint`. It binds the checkpoint to this fit
(:meth:`~rewardlab.checkpoint.Checkpoint.bind`: its config, the data it trains on and the ``rng``'s
state at the start, so a checkpoint of other settings, data or seed is refused with a ConfigError),
builds everything as a fresh fit does (consuming ``rng`` the same way), then overwrites it with the
latest saved state: parameters, optimiser state, rng states (numpy and, where dropout or sampling
draws from it, torch's), history, warm starts, adaptation state. It saves after every step where
``checkpoint.due(step)`` and after its last step, so a fit run again after it finished only redoes
what follows its loop. The checkpoint's step is the callback's step numbering; the callback is called
only for the steps after the checkpoint it resumed from (``FitResult.history`` holds them all). The
result equals an uninterrupted fit's: the same reward parameters and posterior samples, bit for bit,
and the same history. ``checkpoint=None`` fits exactly as before. A learner with stages (D-REX's clone
and rollouts, B-REX's pretraining) gives each its own :meth:`~rewardlab.checkpoint.Checkpoint.child`.

Learners with ``resumable=False`` are simply fitted again from the start: the exact tabular ones that
take seconds and have no mid-fit state worth saving (projection, max-margin, MWAL, learning from a
learner). Behavioural cloning resumes its ``model="mlp"`` epochs; its tabular model is one closed-form
step that saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from rewardlab.errors import NonFiniteError

__all__ = ["Callback", "FitResult", "History", "Learner", "ensure_finite"]

#: ``callback(step, metrics) -> stop?``
Callback = Callable[[int, dict[str, float]], "bool | None"]


class History:
    """Per-step metrics, appended as training runs: ``history["objective"]`` is a list of floats.

    Examples:
        >>> h = History()
        >>> h.log(0, objective=1.5, grad_norm=0.1)
        >>> h.log(1, objective=1.2)
        >>> h["objective"], h.steps
        ([1.5, 1.2], [0, 1])
    """

    def __init__(self) -> None:
        self.steps: list[int] = []
        self._metrics: dict[str, list[float]] = {}

    def log(self, step: int, **metrics: float) -> None:
        self.steps.append(step)
        for key, value in metrics.items():
            self._metrics.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self._metrics[key]

    def __contains__(self, key: object) -> bool:
        return key in self._metrics

    def keys(self) -> list[str]:
        return list(self._metrics)

    def to_dict(self) -> dict[str, list[float]]:
        return {"step": [float(s) for s in self.steps], **self._metrics}

    def state_dict(self) -> dict[str, Any]:
        """Everything logged so far, as plain lists (for a checkpoint; floats round-trip exactly)."""
        return {"steps": list(self.steps), "metrics": {k: list(v) for k, v in self._metrics.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace what is logged by ``state`` (from :meth:`state_dict`).

        Examples:
            >>> h = History()
            >>> h.log(3, loss=0.5)
            >>> back = History()
            >>> back.load_state_dict(h.state_dict())
            >>> back.to_dict() == h.to_dict()
            True
        """
        self.steps = [int(s) for s in state["steps"]]
        self._metrics = {k: [float(x) for x in v] for k, v in state["metrics"].items()}


def run_callback(callback: Callback | None, step: int, metrics: dict[str, float]) -> bool:
    """Call ``callback`` if given; True means stop."""
    return bool(callback(step, metrics)) if callback is not None else False


def ensure_finite(value: float | torch.Tensor | torch.nn.Module, quantity: str, *, step: int | str, fix: str) -> None:
    """Stop a fit whose ``value`` (a number, a tensor, or a module's parameters and buffers: a loss, an
    objective, a reward, a reward net) is NaN or infinite.

    The one guard every learner calls in its training loop and on what it returns, so that a diverged
    fit raises instead of returning (or saving) a NaN model. A tensor costs one device sync.

    Args:
        value: the quantity to check.
        quantity: its name, e.g. ``"T-REX loss (member 0)"``.
        step: where in training, e.g. the step number or ``"the end"``.
        fix: what to change, e.g. ``"lower lr (now 1e+30)"``.

    Raises:
        NonFiniteError: naming the quantity, the step and the fix.

    Examples:
        >>> ensure_finite(torch.tensor([1.0, 2.0]), "loss", step=0, fix="lower lr")
        >>> ensure_finite(float("nan"), "loss", step=7, fix="lower lr")
        Traceback (most recent call last):
        ...
        rewardlab.errors.NonFiniteError: loss: is nan at step 7. Fix: lower lr.
    """
    if isinstance(value, torch.nn.Module):
        value = torch.cat([t.detach().reshape(-1).float() for t in (*value.parameters(), *value.buffers())])
    if isinstance(value, torch.Tensor):
        with torch.no_grad():
            finite = bool(torch.isfinite(value).all())
        if finite:
            return
        bad = value.detach().reshape(-1)[~torch.isfinite(value.detach().reshape(-1))][0]
        shown = float(bad)
    else:
        shown = float(value)
        if np.isfinite(shown):
            return
    where = step if isinstance(step, str) else f"step {step}"
    raise NonFiniteError(quantity, f"is {shown} at {where}", fix)


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` returns.

    Attributes:
        reward: the learned reward model.
        policy: a policy optimal (or soft-optimal) for it, when the learner computes one: an ``(S, A)``
            tensor on a tabular world, the Stable-Baselines3 model of a learner that trains one (RLHF).
        posterior: posterior samples (Bayesian learners), else None.
        history: per-step metrics.
        info: anything else worth keeping (iterations, convergence, mixtures, settings).
    """

    reward: Any
    policy: torch.Tensor | Any = None
    posterior: Any = None
    history: History = field(default_factory=History)
    info: dict[str, Any] = field(default_factory=dict)


class Learner(Protocol):
    """The shape of every learner: hyperparameters in, ``fit`` out."""

    def fit(self, data: Any, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult: ...
