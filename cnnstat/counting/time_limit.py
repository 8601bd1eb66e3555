"""A time limit for a trace: a model whose forward never ends is stopped with a clear error."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ..errors import TraceError


class TraceTimeout(TraceError):
    """A forward pass (or a model's build) that ran past its time limit."""


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`TraceTimeout` naming ``what`` if the block runs longer than ``seconds``; no limit for None.

    Uses the process's interval timer, so it works in the main thread of a Unix process (the command
    line); elsewhere a limit is refused rather than silently ignored.
    """
    if seconds is None:
        yield
        return
    if seconds <= 0:
        raise TraceError(f"--timeout must be positive, got {seconds}")
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        raise TraceError("--timeout needs the main thread of a Unix process")

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TraceTimeout(f"{what} did not finish within {seconds:g} s (--timeout); does its forward loop forever?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
