"""Refuse a size whose memory would be absurd before allocating it, with the estimate in the message.

Examples:
    >>> try:
    ...     check_memory("demos", 10**15, "10**12 demonstrations", "ask for fewer demonstrations")
    ... except ValidationError as err:
    ...     print(err.problem.split(",")[0])
    10**12 demonstrations would need about 909 TiB
"""

from __future__ import annotations

import os

from rewardlab.errors import ValidationError

__all__ = ["check_memory", "format_bytes", "memory_limit", "training_nbytes"]


def memory_limit() -> int:
    """The largest allocation rewardlab attempts: the machine's physical memory in bytes
    (``REWARDLAB_MAX_BYTES`` overrides it; 64 GiB where the system does not say)."""
    override = os.environ.get("REWARDLAB_MAX_BYTES")
    if override:
        return int(override)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    Examples:
        >>> format_bytes(3 * 2**30)
        '3 GiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(field: str, nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`ValidationError` on ``field`` when ``what`` would need ``nbytes`` (an estimate)
    beyond :func:`memory_limit`."""
    limit = memory_limit()
    if nbytes > limit:
        raise ValidationError(
            field, f"{what} would need about {format_bytes(nbytes)}, more than the {format_bytes(limit)} of memory here", fix
        )


def training_nbytes(parameters: int, activations: int = 0, *, stored: int = 0) -> int:
    """Bytes to train a float32 net of ``parameters`` with Adam: weights, gradients and Adam's two
    moments (16 bytes a parameter), ``activations`` values kept for the backward pass with their
    gradients (8 bytes each), and ``stored`` further float32 parameters that are only held (the other
    members of an ensemble, 4 bytes each).

    Examples:
        >>> training_nbytes(1000, 10, stored=2000)
        24080
    """
    return 16 * parameters + 8 * activations + 4 * stored
