"""Making and scoring variants in worker processes across the cores.

Each worker is a spawned process with its own plugin manager and the run's
workspace: it makes one variant (``edgeops_optimize``, cached) and scores it on
this host (``edgeops_evaluate``, cached), then takes the next. The cache writes
atomically, so workers never see each other's half-written entries, and an
interrupted sweep goes on from what the cache holds.

A worker that crashes, runs past its memory budget or hangs is killed; its
variant is recorded as an error with that reason and a fresh worker takes over,
so the sweep goes on. The number of workers is bounded by the cores and by the
memory free at the start: one worker holds the SDKs it loads (torch, coremltools,
TensorFlow: about 1 GB each here) and a copy of the model.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from edgeops.models import Artifact, Recipe, Results, Variant

# What one worker is assumed to hold besides the model: the heaviest SDK a backend
# imports (TensorFlow with onnx2tf measured about 1.1 GB resident here).
WORKER_BASE_MB = 1200
# Copies of the model a worker holds at once (the source, the converted graph, the
# compressed one, and the runtime's own buffers).
MODEL_COPIES = 6
# Share of the memory free at the start the workers may use together.
MEMORY_SHARE = 0.8
POLL_S = 0.5


@dataclass(frozen=True)
class Task:
    index: int
    artifact: Artifact
    recipe: Recipe


def mem_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def worker_count(jobs: int | None, tasks: int, model_mb: float) -> tuple[int, float | None]:
    """How many workers to start, and each one's memory budget in MB (None: unbounded).

    ``jobs`` (``--jobs``, default all cores) caps it; so does the memory free now.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = max(1, min(jobs or cores or 1, tasks))
    free = mem_available_mb()
    if free is None:
        return wanted, None
    per_worker = WORKER_BASE_MB + MODEL_COPIES * model_mb
    fits = max(1, int(free * MEMORY_SHARE // per_worker))
    count = min(wanted, fits)
    return count, free * MEMORY_SHARE / count


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _serve(
    conn: Connection, workspace_root: str, context_json: str, gallery: tuple[int, int]
) -> None:
    """A worker's loop: make and score variants until told to stop (None)."""
    import signal

    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.protocol import make_and_score
    from edgeops.plugin_manager import make_plugin_manager

    _die_with_parent()
    # Ctrl-C reaches the whole process group; the parent alone handles it and
    # kills the workers, so a worker prints no traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipeline = Pipeline(make_plugin_manager(), Workspace(Path(workspace_root)))
    # The outputs it keeps for the report (edgeops.report) land in the cache, where
    # the parent reads them back.
    pipeline.keep_outputs, pipeline.worst_k = gallery
    context = Results.model_validate_json(context_json)
    assert context.samples is not None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            # The parent was stopped (Ctrl-C, SIGTERM): it reports that in one line.
            return
        if message is None:
            return
        index, artifact_json, recipe_json = message
        before = dict(pipeline.stats)
        variant = make_and_score(
            pipeline,
            Artifact.model_validate_json(artifact_json),
            Recipe.model_validate_json(recipe_json),
            context,
        )
        counted = {k: pipeline.stats[k] - before[k] for k in before}
        try:
            conn.send((index, variant.model_dump_json(), counted))
        except (BrokenPipeError, OSError):
            return  # the parent is gone; the variant is in the cache for the next run


def _die_with_parent() -> None:
    """SIGKILL this worker when its parent dies, even by SIGKILL (Linux prctl(2)).

    Without it a killed ``ship`` left its workers converting on, holding its
    stderr open, so whoever waited for the run's output waited for them too.
    """
    import sys

    if sys.platform != "linux":
        return
    import ctypes
    import os
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(0)  # the parent died before prctl took effect


@contextlib.contextmanager
def _script_not_reimported() -> Iterator[None]:
    """Start a spawned worker without running the user's script again in it.

    ``spawn`` re-imports a plain script (``python ship.py``) in every child as
    ``__mp_main__``; the README's API snippet has no ``if __name__ ==
    "__main__":`` guard (nor should a user need one), so each worker ran
    ``edgeops.ship`` again and died, and the run came back empty. A worker needs
    nothing from the script: tasks reach it as JSON and plugins from entry
    points. So while it starts, ``__main__`` is a bare module, which spawn
    does not re-import. A ``python -m`` main (``__spec__`` set) is left alone:
    it is imported by name, and its guard holds.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _Worker:
    def __init__(
        self, ctx: Any, workspace_root: str, context_json: str, gallery: tuple[int, int]
    ) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(child, workspace_root, context_json, gallery), daemon=True
        )
        with _script_not_reimported():
            self.process.start()
        child.close()
        self.task: Task | None = None
        self.started = 0.0

    def give(self, task: Task) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send((task.index, task.artifact.model_dump_json(), task.recipe.model_dump_json()))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)
        self.conn.close()


def run_in_workers(
    tasks: list[Task],
    results: Results,
    workspace_root: Path,
    workers: int,
    memory_budget_mb: float | None,
    task_timeout_s: float,
    failed: Callable[[Task, str], Variant],
    finished: Callable[[Task, Variant, dict[str, int]], None],
    gallery: tuple[int, int],
) -> None:
    """Every task made and scored in ``workers`` processes; ``finished`` is told of each.

    ``failed(task, reason)`` makes the error variant of a task whose worker died,
    ran out of its memory budget or timed out. ``gallery`` is (outputs kept,
    worst samples shown) for the report's kept outputs.
    """
    ctx = multiprocessing.get_context("spawn")
    context_json = results.model_copy(update={"variants": (), "measurements": ()}).model_dump_json()
    pending = list(reversed(tasks))
    pool: list[_Worker] = []
    try:
        while pending or any(w.task for w in pool):
            while len([w for w in pool if w.task is None]) == 0 and len(pool) < workers:
                pool.append(_Worker(ctx, str(workspace_root), context_json, gallery))
            for worker in pool:
                if worker.task is None and pending:
                    worker.give(pending.pop())
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], POLL_S)
            for worker in list(busy):
                task = worker.task
                assert task is not None
                if worker.conn in ready:
                    try:
                        index, variant_json, counted = worker.conn.recv()
                    except (EOFError, OSError):
                        pass  # died while answering: handled below as a dead worker
                    else:
                        worker.task = None
                        finished(task, Variant.model_validate_json(variant_json), counted)
                        continue
                reason = None
                if not worker.process.is_alive():
                    code = worker.process.exitcode
                    # SIGKILL (-9) without our doing is the kernel's OOM killer.
                    why = "killed, likely out of memory" if code == -9 else f"exit code {code}"
                    reason = f"worker process died making it ({why})"
                elif memory_budget_mb and _rss_mb(worker.process.pid) > memory_budget_mb:
                    reason = f"worker went over its memory budget of {memory_budget_mb:.0f} MB"
                elif time.monotonic() - worker.started > task_timeout_s:
                    reason = f"took longer than {task_timeout_s:g} s"
                if reason is not None:
                    worker.kill()
                    pool.remove(worker)
                    finished(task, failed(task, reason), {})
    finally:
        for worker in pool:
            if worker.task is None:
                worker.stop()
            else:
                worker.kill()
