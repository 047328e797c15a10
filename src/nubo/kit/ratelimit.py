"""Fixed-window attempt counters (per process) for login throttling."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 100_000


@dataclass
class _Window:
    started: float
    count: int


class RateLimiter:
    def __init__(self, limit: int, window_s: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait if `key` is over its limit, else None (does not count)."""
        window = self._current(key)
        if window is None or window.count < self.limit:
            return None
        return int(window.started + self.window_s - time.monotonic()) + 1

    def hit(self, key: str) -> None:
        window = self._current(key)
        if window is None:
            window = _Window(time.monotonic(), 0)
            self._windows[key] = window
            if len(self._windows) > MAX_KEYS:  # bounded memory under a spray of keys
                self._windows.popitem(last=False)
        window.count += 1

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _current(self, key: str) -> _Window | None:
        window = self._windows.get(key)
        if window and time.monotonic() - window.started >= self.window_s:
            del self._windows[key]
            return None
        return window
