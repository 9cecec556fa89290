"""Capped exponential back-off with full jitter, as a pure function.

The delay before retry number ``attempt`` is uniform in ``[0, min(cap, base * 2**attempt)]``
("full jitter"): concurrent failures spread out instead of retrying in lock-step.

Example:
    >>> import random
    >>> backoff_ceiling(3, base=60, cap=3600)
    480.0
    >>> 0 <= retry_delay(3, base=60, cap=3600, rng=random.Random(1)) <= 480
    True
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol


class UniformSource(Protocol):
    """Anything with ``uniform(a, b)``, such as :class:`random.Random`."""

    def uniform(self, a: float, b: float) -> float:
        """A number between ``a`` and ``b``."""
        ...


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """``min(cap, base * 2**attempt)`` without overflowing for large attempts."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if attempt > 62:
        return float(cap)
    return float(min(cap, base * (2**attempt)))


def retry_delay(
    attempt: int, *, base: float, cap: float, rng: UniformSource | None = None
) -> float:
    """Seconds to wait before the next try after ``attempt`` tries (full jitter)."""
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    source = rng if rng is not None else random.SystemRandom()
    return min(ceiling, max(0.0, source.uniform(0.0, ceiling)))


def next_attempt_at(
    now: datetime,
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: UniformSource | None = None,
) -> datetime:
    """``now`` plus :func:`retry_delay`."""
    return now + timedelta(seconds=retry_delay(attempt, base=base, cap=cap, rng=rng))
