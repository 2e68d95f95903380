"""A clock that waits for the device before it reads.

GPU work is asynchronous: reading `time.perf_counter()` right after launching a step measures
the launch, not the step. Every read here calls the adapter's `sync` first (for CUDA,
`torch.cuda.synchronize`; for JAX, blocking on the last result), so the interval covers the
work itself. On the CPU `sync` does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SyncClock:
    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self._sync = sync or (lambda: None)

    def now(self) -> float:
        self._sync()
        return time.perf_counter()

    def time(self, fn: Callable[[], object]) -> tuple[object, float]:
        """Run `fn` and return its result with the synchronised seconds it took."""
        start = self.now()
        result = fn()
        return result, self.now() - start
