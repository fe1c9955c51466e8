"""Exceptions raised by rewardlab.

Every exception a user can trigger with bad input derives from :class:`RewardLabError` and names
the offending field and what to do about it, so the message alone is enough to fix the call.

Examples:
    >>> from rewardlab.errors import ValidationError
    >>> err = ValidationError("initial", "sums to 0.5", "pass a distribution that sums to 1")
    >>> print(err)
    initial: sums to 0.5. Fix: pass a distribution that sums to 1.
    >>> err.field
    'initial'
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DataFileError",
    "LearnerCheckError",
    "NonFiniteError",
    "ProbabilityError",
    "RewardLabError",
    "ShapeError",
    "ValidationError",
]


class RewardLabError(Exception):
    """Base class of every error rewardlab raises on purpose."""


class _Explained(RewardLabError):
    """An error told as three parts: what (``field``), what is wrong (``problem``) and what to do (``fix``).

    Args:
        field: the name of the offending argument or field (or quantity, or check), e.g. ``"probabilities"``.
        problem: what is wrong with it.
        fix: what the caller should do instead.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}.")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        """Pickle by the three fields, so the error crosses process boundaries (pools, Ray)."""
        return (type(self), (self.field, self.problem, self.fix))


class ValidationError(_Explained, ValueError):
    """An argument or a field of a data structure is invalid (``field``, ``problem``, ``fix``)."""


class ShapeError(ValidationError):
    """An array has the wrong number of dimensions or the wrong size along one."""


class ProbabilityError(ValidationError):
    """A probability vector is negative, not finite or does not sum to one."""


class ConvergenceError(RewardLabError, RuntimeError):
    """An iterative solver did not reach its tolerance within its iteration budget."""


class DataFileError(RewardLabError, OSError):
    """A file is missing, corrupt or was written for something else."""


class ConfigError(ValidationError):
    """A configuration value (command line, world spec, TOML) is invalid."""


class NonFiniteError(_Explained, ConvergenceError, ArithmeticError):
    """Training turned a quantity (a loss, an objective, the learned reward) NaN or infinite.

    The fit stops here rather than return or save a NaN model. ``field`` is the quantity, e.g.
    ``"T-REX loss"``; ``problem`` says how and at which step; ``fix`` what to change.

    Examples:
        >>> print(NonFiniteError("T-REX loss", "is nan at step 3", "lower lr"))
        T-REX loss: is nan at step 3. Fix: lower lr.
    """


class LearnerCheckError(_Explained, AssertionError):
    """A learner broke the estimator contract that :mod:`rewardlab.checks` verifies; ``field`` names the
    check as ``"learner.check"``, e.g. ``"maxent.same_seed"``."""
