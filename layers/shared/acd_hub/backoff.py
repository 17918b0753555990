"""Waiting on a store that throttles: exponential backoff with jitter, within a budget.

AWS asks for exponential backoff on throttling and on unprocessed keys. "Equal jitter": each
pause is at least half of ``base * 2**attempt`` (capped), so successive pauses really grow, and a
random half on top, so concurrent writers spread out. A stream batch has one :class:`Patience`
for all its changes, so a throttled table cannot hold one invocation past its timeout: once the
budget is spent, what is left fails at once and Lambda retries those records later.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

sleep = time.sleep  # tests replace it to count the pauses instead of waiting them


def after_conflict(attempt: int) -> None:
    """A short jittered pause after a conflict: concurrent writers of one agent, call or
    hotline day are rare, and this lets one of them win."""
    sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not security


def delay(attempt: int, base: float, cap: float) -> float:
    ceiling = min(cap, base * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


@dataclass
class Patience:
    """How long one batch may still wait on a throttled store, all its changes together."""

    budget_s: float = 20.0  # of the aggregators' 60 s timeout
    base_s: float = 0.05
    cap_s: float = 2.0
    waited_s: float = 0.0
    throttled: int = 0  # how often the store throttled this batch (logged, and a metric)

    def wait(self, attempt: int) -> bool:
        """Pause before the next attempt; False when the budget does not allow it."""
        self.throttled += 1
        pause = delay(attempt, self.base_s, self.cap_s)
        if self.waited_s + pause > self.budget_s:
            return False
        sleep(pause)
        self.waited_s += pause
        return True
