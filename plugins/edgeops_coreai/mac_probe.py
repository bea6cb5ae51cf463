"""Core AI probe, pushed to a Mac and run there: compile, load cold and warm, time inference.

Standalone (the standard library and coreai-core only): edgeops pushes this file
over SSH and runs it with the Mac's Python. One run is one fresh process:

1. ahead-of-time compile with ``xcrun coreai-build compile`` (``--compile``), timed;
2. cold load: the asset copied to a new folder with a fresh ``model_description``
   (so a specialization cache keyed by the asset misses; if the cache is keyed by
   the program alone the "cold" load is a hit, and the two loads read alike), loaded
   with ``SpecializationOptions`` for the preferred compute unit;
3. warm load: the same copy loaded again, the specialization cache now populated;
4. the first inference, then warm-up and timed runs on zero inputs of the function's
   own shapes, raw samples kept;
5. peak memory as phys_footprint (task_info TASK_VM_INFO) over the baseline after import.

It prints one JSON line. Off macOS 27 it stops at the boundary: the specialization
options and the OS runtime exist only there (coreai/runtime/_specialization_options.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

FOOTPRINT_DEFINITION = (
    "phys_footprint of the probe process (task_info TASK_VM_INFO), the largest of readings "
    "after load, first inference and the timed runs; baseline after importing coreai"
)


def footprint_mb() -> float | None:
    import ctypes
    import ctypes.util

    class TaskVmInfo(ctypes.Structure):
        # task_vm_info_data_t up to phys_footprint (mach/task_info.h, TASK_VM_INFO_REV1).
        _fields_ = [
            ("virtual_size", ctypes.c_uint64),
            ("region_count", ctypes.c_int32),
            ("page_size", ctypes.c_int32),
        ] + [
            (name, ctypes.c_uint64)
            for name in (
                "resident_size", "resident_size_peak", "device", "device_peak", "internal",
                "internal_peak", "external", "external_peak", "reusable", "reusable_peak",
                "purgeable_volatile_pmap", "purgeable_volatile_resident",
                "purgeable_volatile_virtual", "compressed", "compressed_peak",
                "compressed_lifetime", "phys_footprint",
            )
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        task = ctypes.c_uint.in_dll(libc, "mach_task_self_")
        info = TaskVmInfo()
        count = ctypes.c_uint(ctypes.sizeof(info) // 4)
        if libc.task_info(task, 22, ctypes.byref(info), ctypes.byref(count)) != 0:
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return info.phys_footprint / (1024.0 * 1024.0)


def emit(**fields: object) -> int:
    print(json.dumps(fields))
    return 0


def specialization(rt: object, compute_unit: str) -> object:
    """The SpecializationOptions for one of the profile's compute unit names."""
    options = rt.SpecializationOptions  # type: ignore[attr-defined]
    kinds = rt.ComputeUnitKind  # type: ignore[attr-defined]
    if compute_unit == "cpu_only":
        return options.cpu_only()
    if compute_unit == "cpu_and_gpu":
        return options.from_preferred_compute_unit_kind(kinds.gpu())
    if compute_unit == "cpu_and_ne":
        return options.from_preferred_compute_unit_kind(kinds.neural_engine())
    return options.default()


def compile_ahead(asset: str, out_dir: str, xcrun: str) -> tuple[float | None, str | None, str]:
    """Seconds ``coreai-build compile`` took, the compiled model it wrote, and its message.

    The flags (``--output``, ``--platform``) follow Apple's "Compiling Core AI models ahead
    of time" as quoted in third-party notes; not yet run on a Mac by edgeops.
    """
    argv = [xcrun, "coreai-build", "compile", asset, "--output", out_dir, "--platform", "macOS"]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"{' '.join(argv)}: {exc}"
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return None, None, " ".join((done.stderr or done.stdout).split())[-300:]
    made = sorted(os.path.join(out_dir, n) for n in os.listdir(out_dir))
    return seconds, (made[0] if made else None), ""


async def measure(args: argparse.Namespace, rt: object, baseline_mb: float | None) -> int:
    import numpy as np

    peak = baseline_mb or 0.0

    def read_peak() -> None:
        nonlocal peak
        now = footprint_mb()
        if now is not None:
            peak = max(peak, now)

    environment: dict[str, object] = {
        "os": "macOS " + platform.mac_ver()[0],
        "runtime": "Core AI",
        "coreai_core": _version("coreai-core"),
        "use_os_coreai": bool(getattr(rt, "_use_os_coreai", False)),
    }
    work = tempfile.mkdtemp(prefix="edgeops-coreai-")
    try:
        if args.compile:
            seconds, compiled, message = compile_ahead(
                args.model, os.path.join(work, "aot"), args.xcrun
            )
            environment["aot_compile_s"] = seconds
            environment["aot_compiled"] = compiled
            if message:
                environment["aot_error"] = message
        copy = os.path.join(work, "cold.aimodel")
        shutil.copytree(args.model, copy)
        metadata_file = os.path.join(copy, "metadata.json")
        with open(metadata_file) as f:
            metadata = json.load(f)
        metadata["modelDescription"] = f"edgeops cold-load probe {uuid.uuid4()}"
        with open(metadata_file, "w") as f:
            json.dump(metadata, f)
        options = specialization(rt, args.compute_unit)
        started = time.perf_counter()
        model = await rt.AIModel.load(copy, options)  # type: ignore[attr-defined]
        cold_ms = (time.perf_counter() - started) * 1e3
        del model
        started = time.perf_counter()
        model = await rt.AIModel.load(copy, options)  # type: ignore[attr-defined]
        warm_ms = (time.perf_counter() - started) * 1e3
        read_peak()
        function = model.load_function("main")
        inputs = {
            name: rt.NDArray(np.zeros(shape, dtype=dtype))  # type: ignore[attr-defined]
            for name, shape, dtype in (_input(text) for text in args.input)
        }
        started = time.perf_counter()
        await function(inputs)
        first_ms = (time.perf_counter() - started) * 1e3
        read_peak()
        for _ in range(args.warmup):
            await function(inputs)
        samples: list[float] = []
        began = time.perf_counter()
        while len(samples) < args.max_runs and (
            len(samples) < args.min_runs or time.perf_counter() - began < args.min_duration_s
        ):
            t = time.perf_counter()
            await function(inputs)
            samples.append((time.perf_counter() - t) * 1e3)
        read_peak()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return emit(
        status="ok",
        load_ms=warm_ms,
        first_ms=first_ms,
        samples_ms=samples,
        peak_mb=peak,
        baseline_mb=baseline_mb,
        environment={**environment, "cold_load_ms": cold_ms, "warm_load_ms": warm_ms},
    )


def _input(text: str) -> tuple[str, tuple[int, ...], str]:
    """``image:1x3x128x128:float16`` → ("image", (1, 3, 128, 128), "float16")."""
    name, shape, dtype = text.rsplit(":", 2)
    return name, tuple(int(d) for d in shape.split("x")), dtype


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--compute-unit", default="all")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-runs", type=int, default=20)
    parser.add_argument("--max-runs", type=int, default=500)
    parser.add_argument("--min-duration-s", type=float, default=1.0)
    parser.add_argument("--input", action="append", default=[], help="name:1x3x8x8:float32")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--xcrun", default="xcrun")
    args = parser.parse_args()
    try:
        import coreai.runtime as rt
    except Exception as exc:
        return emit(
            status="error", error=f"cannot import coreai.runtime ({exc}); pip install coreai-core"
        )
    baseline = footprint_mb()
    if sys.platform != "darwin" or not rt.SpecializationOptions.is_supported():
        return emit(
            status="unsupported",
            error=(
                "Core AI specialization needs macOS 27 with the OS framework "
                f"(SpecializationOptions.is_supported() is False on {platform.system()} "
                f"{platform.release()}); the macOS boundary"
            ),
            environment={"runtime": "Core AI", "coreai_core": _version("coreai-core")},
        )
    try:
        return asyncio.run(measure(args, rt, baseline))
    except MemoryError as exc:
        return emit(status="oom", error=str(exc)[:300])
    except Exception as exc:
        return emit(
            status="load_failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        )


if __name__ == "__main__":
    sys.exit(main())
