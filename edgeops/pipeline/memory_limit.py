"""A bound on the memory a conversion may take in this process, like the workers' bound.

Conversions run converters (onnx2tf, coremltools, torch.export) in the edgeops
process itself. Converting a model at 4K held 21.6 GB until the kernel killed
the whole run with nothing printed. ``memory_limit`` watches this process's
resident memory from a thread while the conversion runs. Past the bound, the
conversion is interrupted with a StageError naming the figure and the flag
(``--worker-memory-mb``), so that format is recorded as failed and the run goes
on with the others, as a worker past its budget is (workers.py). A converter
stuck in native code never returns to Python, where the error is raised; if it
is still growing at twice the bound, the process ends at once with that same
line rather than let the kernel kill it silently.

Off the main thread, or where the signal does not exist, it bounds nothing.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from edgeops.errors import EXIT_FAILED, StageError
from edgeops.pipeline.workers import MEMORY_SHARE, _rss_mb, mem_available_mb

POLL_S = 0.2
# Past this multiple of the bound, a converter that never returned to Python is
# ended with the process: the kernel's OOM killer would print nothing at all.
HARD_FACTOR = 2.0


def default_bound_mb() -> float | None:
    """This process's memory now plus a share of what is free (None: unknown)."""
    free = mem_available_mb()
    if free is None:
        return None
    return _rss_mb(os.getpid()) + free * MEMORY_SHARE


@contextmanager
def memory_limit(bound_mb: float | None, what: str) -> Iterator[None]:
    usable = (
        bound_mb is not None
        and bound_mb > 0
        and hasattr(signal, "SIGUSR1")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert bound_mb is not None
    message = (
        f"{what} went over its memory bound of {bound_mb:.0f} MB; use a smaller input "
        "size, free memory, or raise the bound with --worker-memory-mb"
    )
    done = threading.Event()
    tripped = threading.Event()

    def over(signum: int, frame: FrameType | None) -> None:
        raise StageError(message)

    def watch() -> None:
        pid = os.getpid()
        while not done.wait(POLL_S):
            rss = _rss_mb(pid)
            if rss > bound_mb * HARD_FACTOR:
                sys.stderr.write(f"edgeops: {message} (resident {rss:.0f} MB)\n")
                sys.stderr.flush()
                os._exit(EXIT_FAILED)
            if rss > bound_mb and not tripped.is_set():
                tripped.set()
                _thread.interrupt_main(signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, over)
    watcher = threading.Thread(target=watch, name="edgeops-memory-limit", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGUSR1, previous)
