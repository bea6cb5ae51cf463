"""Transport ``local``: this machine, always available, measured by the probe in subprocesses."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from edgeops.hookspecs import hookimpl
from edgeops.plugin import PINNED_CPUS_LABEL, THREADS_LABEL, CommandResult, Device

LOCAL_DEVICE_ID = "local"

# Run before the command, in the child, then exec'd away: the command gets SIGKILL
# when this process dies, even by SIGKILL (prctl(2), PR_SET_PDEATHSIG = 1; kept
# across execve). Without it a killed `ship` left its probe measuring while the
# next run took the freed lease, so two runs shared the CPU. The new session
# stops a Ctrl-C from reaching the probe, so this is its only tie to us. The
# parent check closes the race where we died before prctl ran. A launcher, not
# preexec_fn: the device workers are threads, and preexec_fn is unsafe with threads.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(137)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


class LocalSession:
    """Runs commands on this machine; files are used where they lie, not copied."""

    def __init__(self, device: Device) -> None:
        self.device = device
        # -I: isolated mode, so the user's site and PYTHON* variables cannot
        # change what the probe imports or how much memory it takes.
        self.python: tuple[str, ...] | None = (sys.executable, "-I")

    def push(self, local_path: Path) -> str:
        return str(Path(local_path).resolve())

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        cpus = self.device.labels.get(PINNED_CPUS_LABEL)
        if cpus and self.python and argv[: len(self.python)] == list(self.python):
            argv = ["taskset", "-c", cpus, *argv]  # a pinned probe, as on a shared board host
        if sys.platform == "linux":
            argv = [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
        started = time.perf_counter()
        # A new session so a timeout can kill the probe and anything it started.
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise TimeoutError(f"{argv[0]} ran over {timeout_s:g} s") from exc
        except BaseException:
            # Ctrl-C reaches only us (new session): stop the probe before leaving.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return CommandResult(process.returncode, stdout, stderr, time.perf_counter() - started)

    def describe(self) -> dict[str, object]:
        """What `edgeops devices` shows: the system and the runtimes the probe can use."""
        from edgeops.plugin import detect_host_facts, load_profiles

        host = detect_host_facts(load_profiles()["host"])
        runtimes = {}
        for dist in ("onnxruntime", "ai-edge-litert", "tflite-runtime", "coremltools"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                runtimes[dist] = metadata.version(dist)
        return {
            "os": f"{platform.system()} {platform.release()}",
            "cpu": host.chip,
            "cores": host.cpu_cores,
            "ram_mb": host.ram_mb,
            "python": platform.python_version(),
            "runtimes": runtimes,
        }

    def close(self) -> None:
        pass


@hookimpl
def edgeops_discover_devices() -> list[Device]:
    return [
        Device(
            id=LOCAL_DEVICE_ID,
            name=f"this machine ({socket.gethostname()})",
            transport="local",
            profile_id="host",
            # One runtime thread: this machine also runs edgeops and whatever else
            # the user does, and a runtime's thread pool on shared cores measures
            # the sharing. At 2 threads on this 2-core host, ORT's p50 of the
            # example's fp32 moved between 1.24 and 2.59 ms across five identical
            # ships (so did the chosen primary); at 1 thread it stayed at 1.71 ms.
            # `--threads` overrides it.
            labels={THREADS_LABEL: "1"},
        )
    ]


@hookimpl
def edgeops_connect(device: Device) -> LocalSession | None:
    return LocalSession(device) if device.transport == "local" else None
