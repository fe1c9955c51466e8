"""Losses for learning rewards from preferences and rankings, as pure functions of predicted returns.

* **Bradley–Terry** (Bradley & Terry 1952; Christiano et al. 2017; T-REX, Brown et al. 2019):
  ``P(a ≻ b) = exp R_a / (exp R_a + exp R_b) = sigmoid(R_a - R_b)`` where ``R`` is a segment's predicted
  return. The label ``y = P(a ≻ b)`` is 1 (a preferred), 0 (b preferred) or 0.5 (equally good: a tie).
  Two additions used in practice:

  - *label noise* ``epsilon``: the labeller answers at random with probability ``epsilon``, so
    ``P = (1 - epsilon) sigmoid(R_a - R_b) + epsilon / 2`` (Christiano et al. use ``epsilon = 0.1``);
  - a *margin* ``m >= 0``: the preferred return must beat the other by ``m``,
    ``-log sigmoid(R_chosen - R_rejected - m)`` (the TRL reward-model loss).

* **Plackett–Luce** (Plackett 1975; Luce 1959): a full ranking ``tau_1 ≻ tau_2 ≻ ... ≻ tau_K`` has
  probability ``prod_k exp R_k / sum_{j >= k} exp R_j``; with ``K = 2`` it is Bradley–Terry.

Everything works in log space (``logsigmoid``, ``logsumexp``), so returns of ±10^4 do not overflow.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from rewardlab.data.validate import validate_labels
from rewardlab.errors import ShapeError, ValidationError

__all__ = ["bradley_terry_log_likelihood", "bradley_terry_loss", "plackett_luce_loss", "preference_probability"]

Reduction = Literal["mean", "sum", "none"]


def preference_probability(return_a: Tensor, return_b: Tensor, *, noise: float = 0.0) -> Tensor:
    """``P(a ≻ b) = (1 - noise) sigmoid(R_a - R_b) + noise / 2``, elementwise.

    Examples:
        >>> preference_probability(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
        tensor([0.7311, 0.5000])
        >>> preference_probability(torch.tensor([50.0]), torch.tensor([0.0]), noise=0.1)
        tensor([0.9500])
    """
    _check_noise(noise)
    return (1 - noise) * torch.sigmoid(return_a - return_b) + noise / 2


def _check_noise(noise: float) -> None:
    if not 0 <= noise < 1:
        raise ValidationError("noise", f"is {noise}", "use a probability of a random answer in [0, 1)")


def _log_p(logit: Tensor, noise: float) -> Tensor:
    """``log((1 - noise) sigmoid(logit) + noise / 2)``, stable for any logit."""
    if noise == 0:
        return F.logsigmoid(logit)
    return torch.logaddexp(math.log1p(-noise) + F.logsigmoid(logit), torch.full_like(logit, math.log(noise / 2)))


def _reduce(loss: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValidationError("reduction", f"is {reduction!r}", "choose 'mean', 'sum' or 'none'")


def bradley_terry_log_likelihood(logit: Tensor, target: Tensor, *, noise: float = 0.0, margin: float = 0.0) -> Tensor:
    """Log-likelihood of Bradley–Terry labels given the return differences, elementwise.

    ``y log P(x - m) + (1 - y) log(1 - P(x + m))`` with ``x = R_a - R_b`` (``logit``),
    ``P(z) = (1 - epsilon) sigmoid(z) + epsilon / 2`` and ``1 - P(z) = P(-z)``; in log space, so any ``x``
    is stable. :func:`bradley_terry_loss` is its negative; B-REX sums it over ranked pairs.

    The labels are not checked here (this runs inside samplers' loops): callers check them once with
    :func:`~rewardlab.data.validate.validate_labels`.

    Args:
        logit: ``x = R_a - R_b``, any shape (e.g. ``(B,)``, or ``(C, P)`` for ``C`` reward samples).
        target: ``P(a ≻ b)`` labels in {0, 0.5, 1}, broadcastable to ``logit``.
        noise: ``epsilon``, the probability that a label is a random answer, in ``[0, 1)``.
        margin: ``m``, by how much the preferred return must win.

    Returns:
        the log-likelihood of each label, shape of ``logit`` (broadcast with ``target``).

    Examples:
        >>> x = torch.tensor([2.0, 2.0, 2.0])
        >>> bradley_terry_log_likelihood(x, torch.tensor([1.0, 0.0, 0.5]))  # log sigmoid(2), log sigmoid(-2), their mean
        tensor([-0.1269, -2.1269, -1.1269])
    """
    _check_noise(noise)
    if margin:
        return target * _log_p(logit - margin, noise) + (1 - target) * _log_p(-logit - margin, noise)
    return target * _log_p(logit, noise) + (1 - target) * _log_p(-logit, noise)


def bradley_terry_loss(
    return_a: Tensor,
    return_b: Tensor,
    target: Tensor,
    *,
    noise: float = 0.0,
    margin: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Cross-entropy of the Bradley–Terry preference model.

    ``loss = -[y log P(R_a - R_b - m) + (1 - y) log(1 - P(R_a - R_b + m))]`` with
    ``P(x) = (1 - epsilon) sigmoid(x) + epsilon / 2``. A tie (``y = 0.5``) is minimised at ``R_a = R_b``.

    Args:
        return_a: ``(B,)`` predicted returns of the first segments.
        return_b: ``(B,)`` predicted returns of the second segments.
        target: ``(B,)`` ``P(a ≻ b)`` labels: 1, 0, or 0.5 for a tie (anything else raises ValidationError).
        noise: ``epsilon``, the probability that a label is a random answer.
        margin: ``m >= 0``, by how much the preferred return must win.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B,)``).

    Examples:
        >>> ra, rb = torch.tensor([2.0]), torch.tensor([0.0])
        >>> bradley_terry_loss(ra, rb, torch.tensor([1.0]))  # -log sigmoid(2)
        tensor(0.1269)
        >>> bradley_terry_loss(ra, rb, torch.tensor([0.5]))  # a tie: half of each direction
        tensor(1.1269)
    """
    if return_a.shape != return_b.shape or target.shape != return_a.shape or return_a.ndim != 1:
        raise ShapeError(
            "target",
            f"shapes are return_a {tuple(return_a.shape)}, return_b {tuple(return_b.shape)}, target {tuple(target.shape)}",
            "pass three (B,) tensors",
        )
    validate_labels(target, "target")
    if margin < 0:
        raise ValidationError("margin", f"is {margin}", "use a margin >= 0")
    _check_noise(noise)
    loss = -bradley_terry_log_likelihood(return_a - return_b, target.to(return_a.dtype), noise=noise, margin=margin)
    return _reduce(loss, reduction)


def plackett_luce_loss(returns: Tensor, mask: Tensor | None = None, *, reduction: Reduction = "mean") -> Tensor:
    """Negative log-likelihood of full rankings under Plackett–Luce.

    ``-log P(1 ≻ 2 ≻ ... ≻ K) = -sum_k [R_k - log sum_{j >= k} exp R_j]``.

    Args:
        returns: ``(B, K)`` predicted returns, each row ordered best first.
        mask: optional ``(B, K)`` booleans for rankings shorter than ``K`` (True = present; the present
            entries of a row come first).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B,)``).

    Examples:
        >>> r = torch.tensor([[1.0, 0.0]])
        >>> torch.allclose(plackett_luce_loss(r), bradley_terry_loss(r[:, 0], r[:, 1], torch.ones(1)))
        True
    """
    if returns.ndim != 2:
        raise ShapeError("returns", f"has shape {tuple(returns.shape)}", "pass (B, K) returns, best first")
    if mask is None:
        mask = torch.ones_like(returns, dtype=torch.bool)
    if mask.shape != returns.shape:
        raise ShapeError("mask", f"has shape {tuple(mask.shape)}", f"pass {tuple(returns.shape)}")
    masked = returns.masked_fill(~mask, -math.inf)
    # log sum_{j >= k} exp R_j: a reversed cumulative logsumexp
    tail = torch.logcumsumexp(masked.flip(-1), dim=-1).flip(-1)
    terms = torch.where(mask, returns - tail, torch.zeros_like(returns))
    return _reduce(-terms.sum(-1), reduction)
