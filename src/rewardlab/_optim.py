"""Small first-order optimisers, so that no learner needs ``torch.optim``.

The first ``torch.optim`` optimiser a process builds imports ``torch._dynamo`` (seconds of start-up on
these machines), more than a whole tabular fit costs. Adam is a few lines; L-BFGS comes from scipy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from rewardlab.errors import ConfigError

__all__ = ["Adam", "adam_ascent_step"]


def adam_ascent_step(
    theta: Tensor,
    grad: Tensor,
    moments: tuple[Tensor, Tensor],
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One Adam step *up* the gradient (Kingma & Ba 2015), as a pure function.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``theta <- theta + lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.

    Examples:
        >>> t, (m, v) = adam_ascent_step(torch.zeros(2), torch.tensor([1.0, -2.0]), (torch.zeros(2), torch.zeros(2)), 1, 0.1)
        >>> t  # the first step moves every coordinate by lr in the gradient's sign
        tensor([ 0.1000, -0.1000])
    """
    b1, b2 = betas
    m = b1 * moments[0] + (1 - b1) * grad
    v = b2 * moments[1] + (1 - b2) * grad * grad
    update = (m / (1 - b1**step)) / ((v / (1 - b2**step)).sqrt() + eps)
    return theta + lr * update, (m, v)


class Adam:
    """``torch.optim.Adam``'s update (L2 ``weight_decay`` added to the gradient) minimising through ``.grad``.

    Examples:
        >>> p = torch.tensor([1.0, -1.0], requires_grad=True)
        >>> opt = Adam([p], lr=0.1)
        >>> (p * p).sum().backward()
        >>> opt.step()
        >>> p.detach()  # each coordinate moved by lr toward 0
        tensor([ 0.9000, -0.9000])
    """

    def __init__(self, params: Iterable[Tensor], lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas = lr, weight_decay, betas
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """The step count and both moments of every parameter (for a checkpoint)."""
        return {"t": self.t, "m": [m for m, _ in self.moments], "v": [v for _, v in self.moments]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`), moments moved to each parameter's device.

        Examples:
            >>> p = torch.tensor([1.0], requires_grad=True)
            >>> a = Adam([p], lr=0.1)
            >>> (p * p).sum().backward(); a.step()
            >>> b = Adam([p], lr=0.1); b.load_state_dict(a.state_dict())
            >>> b.t, b.moments[0][0].tolist()
            (1, [-0.20000000298023224])
        """
        if len(state["m"]) != len(self.params):
            raise ConfigError(
                "resume",
                f"the optimiser state holds {len(state['m'])} parameters, this optimiser {len(self.params)}",
                "resume with the settings of that run",
            )
        self.t = int(state["t"])
        self.moments = [(m.to(p), v.to(p)) for p, m, v in zip(self.params, state["m"], state["v"], strict=True)]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            new, self.moments[i] = adam_ascent_step(p, -g, self.moments[i], self.t, self.lr, self.betas)
            p.copy_(new)
