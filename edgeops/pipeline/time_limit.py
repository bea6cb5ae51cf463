"""A bound on work done in this process: a factory that loops forever must not hang ``ship``.

Conversions and the reference run call user code (a PyTorch factory) and
converters in the edgeops process itself. ``time_limit`` arms a real-time timer
(``SIGALRM``) around such a call; when it fires, the call is interrupted with a
StageError naming what took too long and the flag that bounds it. Off the main
thread, or where SIGALRM does not exist, it bounds nothing (worker processes
have their own watchdog, workers.py).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from edgeops.errors import StageError


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
        # Another bound already armed (a caller's own) is left alone.
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def expired(signum: int, frame: FrameType | None) -> None:
        raise StageError(
            f"{what} took longer than {seconds:g} s; fix the model or factory, "
            "or raise the bound with --task-timeout-s"
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
