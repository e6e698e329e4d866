"""How long to wait before trying a transient failure again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped; a provider's Retry-After wins.

    Attempt ``n`` (from 1) waits a random time in ``[0, min(cap, base * 2**(n-1))]``,
    or exactly ``retry_after`` (capped) when the provider said how long.
    """

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int = 5
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


class Interrupted(Exception):
    """The notifier is stopping: the message was not sent and will be tried on redelivery."""
