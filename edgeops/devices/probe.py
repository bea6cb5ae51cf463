"""The measurement probe: one model, one compute unit, one fresh process.

This file is copied to devices with its sibling ``probe_runners.py`` (one zip
application, ``edgeops.devices.probe_push``) and run there as a script, so both
import only the standard library at module level; the runtime (and numpy, which
every runtime brings) is imported inside, after the memory baseline is read.

    python probe.py --model m.onnx --compute-unit cpu [--threads N] [--inputs s.npz]
                    [--runner runner.py] [--outputs K]

``--runner`` names a backend's own runner file, pushed beside the probe, for a
format the probe has no runner of its own for (``edgeops.plugin.ProbeRunner``
says what the file defines); the arguments and the JSON stay the probe's.

It prints one JSON document on stdout:
load time (with the model's file cache dropped first where the OS allows) and a
warm second load, first inference, raw warm samples, the process's CPU share
and unpaced throughput during them, paced runs at camera rates, and peak
resident memory raw and over the empty-runtime baseline, with the definition used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__:  # imported as edgeops.devices.probe (on this host, by edgeops itself)
    from edgeops.devices.probe_runners import RUNNERS, UnsupportedComputeUnit, load_runner
else:  # run as a script (on a device): its siblings were pushed with it (probe_files)
    # `python -I probe.py` leaves the script's own folder off sys.path (-I implies -P),
    # and the local transport runs the probe with -I: so the folder is put back here.
    # Inside the pushed .pyz the archive is sys.path[0] already; adding it again is harmless.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from probe_runners import (  # type: ignore[no-redef]
        RUNNERS,
        UnsupportedComputeUnit,
        load_runner,
    )

PROBE_VERSION = "4"  # 4: "placement" in the JSON, and the --outputs mode

_MEMORY_DEFINITIONS = {
    "VmHWM": (
        "VmHWM (peak resident set) of the probe process from /proc/self/status; baseline is "
        "VmHWM after importing the runtime and numpy, before loading the model"
    ),
    "phys_footprint": (
        "phys_footprint of the probe process (task_info TASK_VM_INFO, macOS), the largest of "
        "readings after load, first inference and the timed runs, not a kernel-tracked peak; "
        "baseline is the reading after importing the runtime, before loading the model"
    ),
    "ru_maxrss": (
        "ru_maxrss of the probe process (getrusage); baseline is ru_maxrss after importing the "
        "runtime, before loading the model"
    ),
}


def peak_resident_mb() -> tuple[float, str]:
    """Peak resident memory of this process so far, and how it was read.

    VmHWM first: ru_maxrss carries over across fork+exec on Linux, so a child
    started by a big parent reports the parent's peak (913 MB for an 89 MB
    probe, conversion-notes.md). On macOS, phys_footprint: the figure jetsam
    and Xcode's memory gauge use, which counts GPU/Neural Engine buffers that
    resident size misses.
    """
    if sys.platform == "darwin":
        footprint = _phys_footprint_peak_mb()
        if footprint is not None:
            return footprint, "phys_footprint"
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0, "VmHWM"
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes, Linux kilobytes.
    return (
        maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0
    ), "ru_maxrss"


_FOOTPRINT_PEAK_MB = 0.0


def _phys_footprint_peak_mb() -> float | None:
    """The largest ``phys_footprint`` read so far (task_info TASK_VM_INFO), or None.

    phys_footprint is the current footprint, not a peak; the probe reads it after
    the baseline, the load, the first inference and the timed runs, and keeps the
    largest, so a transient peak between readings is missed (the definition says so).
    """
    global _FOOTPRINT_PEAK_MB
    import ctypes
    import ctypes.util

    class TaskVmInfo(ctypes.Structure):
        # task_vm_info_data_t up to phys_footprint (mach/task_info.h, TASK_VM_INFO_REV1).
        _fields_ = [
            ("virtual_size", ctypes.c_uint64),
            ("region_count", ctypes.c_int32),
            ("page_size", ctypes.c_int32),
            *[
                (name, ctypes.c_uint64)
                for name in (
                    "resident_size", "resident_size_peak", "device", "device_peak",
                    "internal", "internal_peak", "external", "external_peak",
                    "reusable", "reusable_peak", "purgeable_volatile_pmap",
                    "purgeable_volatile_resident", "purgeable_volatile_virtual",
                    "compressed", "compressed_peak", "compressed_lifetime", "phys_footprint",
                )
            ],
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        task = ctypes.c_uint.in_dll(libc, "mach_task_self_")
        info = TaskVmInfo()
        count = ctypes.c_uint(ctypes.sizeof(info) // 4)  # in natural_t units
        task_vm_info = 22  # TASK_VM_INFO
        if libc.task_info(task, task_vm_info, ctypes.byref(info), ctypes.byref(count)) != 0:
            return None
    except (OSError, ValueError, AttributeError):
        return None
    _FOOTPRINT_PEAK_MB = max(_FOOTPRINT_PEAK_MB, info.phys_footprint / (1024.0 * 1024.0))
    return _FOOTPRINT_PEAK_MB


# --------------------------------------------------------------------------- CPU share


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask where the OS has one (a pinned probe)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads (the runtime's pool included).

    process_time reads CLOCK_PROCESS_CPUTIME_ID (ns resolution); os.times ticks
    at 1/100 s, too coarse for a one-second loop.
    """
    return time.process_time()


def cpu_share(cpu_s: float, wall_s: float) -> dict[str, object]:
    cores = usable_cores()
    one_core = 100.0 * cpu_s / wall_s if wall_s > 0 else 0.0
    return {
        "cpu_s": round(cpu_s, 5),
        "wall_s": round(wall_s, 5),
        "cores": cores,
        "percent_of_one_core": round(one_core, 2),
        "percent_of_all_cores": round(one_core / cores, 2),
        "definition": (
            "user+system CPU time of the probe process (time.process_time, every thread) over wall time "
            "of the loop; all cores = the cores the process may run on (sched_getaffinity)"
        ),
    }


# --------------------------------------------------------------------------- cold load


def drop_file_cache(model: str) -> str:
    """Ask the kernel to drop the model's pages from the file cache, so the first load is cold.

    posix_fadvise(POSIX_FADV_DONTNEED) needs no root and drops clean pages of the
    file (Linux, Android); macOS has no posix_fadvise, so there the first load
    is only the first in this process, and the result says so.
    """
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return "file cache not dropped: no posix_fadvise on this OS; first load in this process"
    root = Path(model)
    files = [root] if root.is_file() else [f for f in root.rglob("*") if f.is_file()]
    try:
        for file in files:
            fd = os.open(file, os.O_RDONLY)
            try:
                fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    except OSError as exc:
        return f"file cache not dropped ({exc.strerror}); first load in this process"
    return (
        f"file cache dropped (posix_fadvise DONTNEED, {len(files)} file(s)) before the first load"
    )


# --------------------------------------------------------------------------- measuring


def paced_run(
    run: Any, fps: float, duration_s: float, clock: Any = time.perf_counter
) -> dict[str, object]:
    """Feed an input every 1/fps s for ``duration_s`` s, as a camera does, and time each result.

    A frame that comes due while an inference runs is dropped (the camera keeps
    only the newest), and the next inference starts at the next frame's time,
    not at once: so achieved fps is what an app at this rate gets, and the
    latency is the one it sees from the start of an inference to its result.
    """
    period = 1.0 / fps
    samples: list[float] = []
    dropped = over = 0
    cpu_start, start = cpu_seconds(), clock()
    due, end = start, start + duration_s
    while due < end:
        wait = due - clock()
        if wait > 0:
            time.sleep(wait)
        t0 = clock()
        run()
        t1 = clock()
        samples.append((t1 - t0) * 1000.0)
        over += (t1 - t0) > period
        late = math.floor((t1 - due) / period)  # frames that came due while it ran
        dropped += max(late, 0)
        due += period * (max(late, 0) + 1)
    # The window is the one asked for, or longer when the last result came after it.
    wall_s = max(clock() - start, duration_s)
    return {
        "target_fps": fps,
        "duration_s": round(wall_s, 4),
        "frames": len(samples),
        "dropped_frames": dropped,
        "over_budget_frames": over,
        "achieved_fps": round(len(samples) / wall_s, 3) if wall_s > 0 else 0.0,
        "samples_ms": [round(x, 5) for x in samples],
        "cpu": cpu_share(cpu_seconds() - cpu_start, wall_s),
    }


def measure(args: argparse.Namespace) -> dict[str, object]:
    environment = {
        "probe_version": PROBE_VERSION, "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}", "machine": platform.machine(),
        "pid": os.getpid(), "threads": args.threads, "timed_only": args.timed_only,
    }  # fmt: skip
    runner = _start_runner(args, environment)
    if isinstance(runner, dict):
        return runner
    environment.update(runtime=runner.name, runtime_version=runner.version)
    baseline_mb, how = peak_resident_mb()

    def memory() -> dict[str, object]:
        raw_mb, _ = peak_resident_mb()
        return {
            "raw_mb": round(raw_mb, 2),
            "baseline_mb": round(baseline_mb, 2),
            "over_baseline_mb": round(raw_mb - baseline_mb, 2),
            "definition": _MEMORY_DEFINITIONS[how],
        }

    # --timed-only (rounds past the full ones): no cold load, memory, paced runs or warm load.
    cold_load = None if args.timed_only else drop_file_cache(args.model)
    started = time.perf_counter()
    try:
        runner.load(args.model, args.compute_unit)
    except (UnsupportedComputeUnit, NotImplementedError) as exc:
        return {"status": "unsupported", "error": str(exc), "environment": environment}
    except MemoryError:
        return {"status": "oom", "error": "out of memory while loading", "environment": environment}
    except Exception as exc:  # the runtime's own error types vary; all mean "did not load"
        return {"status": "load_failed", "error": _one_line(exc), "environment": environment}
    load_ms = (time.perf_counter() - started) * 1000.0
    if args.outputs:
        return device_outputs(runner, args, environment)
    peak_resident_mb()  # a reading for phys_footprint, which keeps no peak of its own
    try:
        timed = _timed(runner, args, environment, memory)
    except Exception as exc:  # MemoryError too: the run's own out of memory
        oom = isinstance(exc, MemoryError)
        return {
            "status": "oom" if oom else "error",
            "error": "out of memory while running" if oom else _one_line(exc),
            "environment": environment,
            "load_ms": load_ms,
            "peak_mem": memory(),
        }
    return {
        "status": "ok",
        "load_ms": None if args.timed_only else round(load_ms, 4),
        "cold_load": cold_load,
        "warm_load_ms": None if args.timed_only else _warm_load_ms(runner, args, environment),
        **timed,
        "environment": environment,
    }


def _start_runner(args: argparse.Namespace, environment: dict) -> Any:
    """The runner for the model's format, made; or the result saying why there is none."""
    suffix = Path(args.model).suffix
    try:
        runner_type = load_runner(args.runner) if args.runner else RUNNERS.get(suffix)
    except Exception as exc:  # a runner file that does not load: the backend's bug
        error = f"runner {args.runner} did not load: {_one_line(exc)}"
        return {"status": "error", "error": error, "environment": environment}
    if runner_type is None:
        error = f"no probe runtime for {suffix} files"
        return {"status": "unsupported", "error": error, "environment": environment}
    try:
        return runner_type(args.threads)
    except ImportError as exc:
        error = (
            f"runtime {runner_type.name} is not installed here ({exc}); install it on the device"
        )
        return {"status": "unsupported", "environment": environment, "error": error}


def _timed(runner: Any, args: argparse.Namespace, environment: dict, memory: Any) -> dict:
    """First inference, warm-up, the timed loop, the paced runs, peak memory, placement."""
    inputs = _read_inputs(args.inputs) if args.inputs else None
    feed = runner.make_feed(inputs)
    started = time.perf_counter()
    runner.run(feed)
    first_ms = (time.perf_counter() - started) * 1000.0
    peak_resident_mb()
    for _ in range(args.warmup):
        runner.run(feed)
    samples_ms: list[float] = []
    clock = time.perf_counter
    cpu_began, began = cpu_seconds(), clock()
    while len(samples_ms) < args.max_runs:
        t0 = clock()
        runner.run(feed)
        samples_ms.append((clock() - t0) * 1000.0)
        if len(samples_ms) >= args.min_runs and clock() - began >= args.min_duration_s:
            break
    loop_wall_s = clock() - began
    timed = {
        "first_ms": round(first_ms, 4),
        "samples_ms": [round(s, 5) for s in samples_ms],
        "cpu": cpu_share(cpu_seconds() - cpu_began, loop_wall_s),
        "throughput_fps": round(len(samples_ms) / loop_wall_s, 3) if loop_wall_s > 0 else None,
        "paced": [
            paced_run(lambda: runner.run(feed), fps, args.paced_duration_s)
            for fps in args.paced_fps
            if args.paced_duration_s > 0 and not args.timed_only
        ],
        # Read before the placement, which may load the model again to profile it.
        "peak_mem": None if args.timed_only else memory(),
    }
    return {**timed, "placement": _placement(runner, args, feed, environment)}


def _warm_load_ms(runner: Any, args: argparse.Namespace, environment: dict) -> float | None:
    """A second load, file cached and runtime warm (an app's second launch); None on failure."""
    try:
        runner.release()
        started = time.perf_counter()
        runner.load(args.model, args.compute_unit)
        return round((time.perf_counter() - started) * 1000.0, 4)
    except Exception as exc:
        environment["warm_load_error"] = _one_line(exc)
        return None


def _placement(
    runner: Any, args: argparse.Namespace, feed: dict[str, object], environment: dict
) -> dict | None:
    """Where the graph ran, after the timed loop and the memory reading it must not disturb;
    None for a runner that cannot tell. Its failure is noted, never the run's."""
    if args.timed_only or not hasattr(runner, "placement"):
        return None
    try:
        return runner.placement(args.model, args.compute_unit, feed)
    except Exception as exc:
        environment["placement_error"] = _one_line(exc)
        return None


def device_outputs(runner: Any, args: argparse.Namespace, environment: dict) -> dict[str, object]:
    """``--outputs K``: the outputs of the first K samples of ``--inputs``, as the device's
    runtime computed them, in one .npz (base64) keyed ``<name>/<sample>``; no timing."""
    import base64
    import io

    import numpy

    if not args.inputs or not hasattr(runner, "outputs"):
        return {
            "status": "unsupported",
            "error": "outputs need --inputs and a runner with outputs()",
            "environment": environment,
        }
    arrays: dict[str, Any] = {}
    names: list[str] = []
    with numpy.load(args.inputs) as data:
        count = min(args.outputs, _sample_count(data.files))
        for i in range(count):
            feed = runner.make_feed(
                {k.rsplit("/", 1)[0]: data[k] for k in data.files if k.endswith(f"/{i}")}
            )
            try:
                result = runner.outputs(feed)
            except Exception as exc:
                return {"status": "error", "error": _one_line(exc), "environment": environment}
            names = list(result)
            arrays.update({f"{name}/{i}": value for name, value in result.items()})
    buffer = io.BytesIO()
    numpy.savez(buffer, **arrays)
    return {
        "status": "ok",
        "outputs": {
            "names": names,
            "samples": count,
            "npz_b64": base64.b64encode(buffer.getvalue()).decode("ascii"),
        },
        "environment": environment,
    }


def _sample_count(keys: list[str]) -> int:
    indices = {k.rsplit("/", 1)[1] for k in keys if "/" in k}
    return len([i for i in indices if i.isdigit()])


def _read_inputs(path: str) -> dict[str, object]:
    import numpy

    with numpy.load(path) as data:
        # The samples file keys arrays '<input>/<index>'; the probe times sample 0.
        return {k.rsplit("/", 1)[0]: data[k] for k in data.files if k.endswith("/0")}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="edgeops measurement probe")
    parser.add_argument("--model", required=True)
    parser.add_argument("--compute-unit", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--inputs", default=None, help=".npz of samples; random inputs otherwise")
    parser.add_argument("--runner", default=None, help="a backend's runner file for this model")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-runs", type=int, default=20)
    parser.add_argument("--max-runs", type=int, default=500)
    parser.add_argument("--min-duration-s", type=float, default=1.0)
    parser.add_argument(
        "--paced-fps",
        type=lambda text: [float(x) for x in text.split(",") if x.strip()],
        default=[30.0, 60.0],
        help="comma-separated camera rates for the paced runs; empty for none",
    )
    parser.add_argument("--paced-duration-s", type=float, default=2.0)
    parser.add_argument("--timed-only", action="store_true", help="time the loop only")
    parser.add_argument(
        "--outputs", type=int, default=0, help="return the outputs of the first N --inputs samples"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    result = measure(parse_args(argv))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
