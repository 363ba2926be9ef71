"""Helpers for the tests that look at the evaluator's processes."""

from __future__ import annotations

import time
from typing import Any


def settled_idle(ev: Any, limit: float = 10.0) -> set[int]:
    """The worker's pre-forked children once its pool is full again: until the next request it forks
    nothing more, so any other child of the worker is a left-over."""
    deadline = time.monotonic() + limit
    quiet = 0.07  # longer than the worker waits before it pre-forks (IDLE_BEFORE_PREFORK, 0.05 s) ...
    while True:
        info = ev.info()  # a request: the worker reaps every child of earlier requests first
        idle = set(info.get("idle") or [])
        if len(idle) >= int(info.get("prefork") or 0) or time.monotonic() > deadline:
            return idle
        time.sleep(quiet)
        quiet = min(quiet * 2, 0.5)  # ... and longer each time, for a worker slow to be scheduled on a busy host
