"""Counting failed logins in a sliding window, per key (source address or user)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimiter:
    """Blocks a key after ``max_failures`` failures within ``window`` seconds.

    The block lasts until enough failures have aged out of the window, so a
    client that keeps failing stays blocked. ``clock`` is injectable for tests.
    """

    def __init__(
        self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ):
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def record(self, key: str) -> None:
        """Count one failure for ``key``."""
        if len(self._failures) >= self._max_keys and key not in self._failures:
            # Bounded memory under a flood of distinct keys: forget the oldest.
            self._failures.pop(next(iter(self._failures)))
        times = self._failures[key]
        times.append(self._clock())
        # Keep only what can still matter for the decision.
        while len(times) > self.max_failures:
            times.popleft()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it is not blocked."""
        if self.max_failures <= 0:
            return 0.0
        times = self._prune(key)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[-self.max_failures] + self.window - self._clock())

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        self._failures.pop(key, None)
