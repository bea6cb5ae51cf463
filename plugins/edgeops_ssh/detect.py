"""Detecting a board through its Session, and naming the runtime it lacks for a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeops.plugin import DeviceError, Session

from . import board_facts

DETECT_TIMEOUT_S = 30.0
BOARD_FACTS_SOURCE = Path(board_facts.__file__).read_text()

# Per model file suffix: the modules the probe can load it with, and the pip package
# to install when none is there (probe.RUNNERS: OnnxRuntimeRunner, TfliteRunner).
PROBE_RUNTIMES: dict[str, tuple[tuple[str, ...], str]] = {
    ".onnx": (("onnxruntime",), "onnxruntime"),
    ".tflite": (("ai_edge_litert", "tflite_runtime"), "ai-edge-litert"),
}


def detect(session: Session, timeout_s: float = DETECT_TIMEOUT_S) -> dict[str, Any]:
    """OS, CPU, cores, RAM, Python and runtimes of the session's device.

    Keys as the local device's ``describe()``: os, cpu, cores, ram_mb, python,
    runtimes (distribution → version); and distribution, machine, board,
    python_path, modules (the runtime modules its Python can import).
    """
    if session.python is None:
        uname = session.run(["uname", "-srm"], timeout_s)
        return {"os": uname.stdout.strip() or None, "python": None, "runtimes": {}, "modules": []}
    result = session.run([*session.python, "-c", BOARD_FACTS_SOURCE], timeout_s)
    lines = result.stdout.strip().splitlines()
    try:
        found: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " ".join(result.stderr.split())[-300:] or f"exit code {result.exit_code}"
        raise DeviceError(
            f"device {session.device.name!r}: reading its facts with {session.python[0]} failed "
            f"({tail})"
        ) from None
    return found


def missing_runtime(facts: dict[str, Any], model_suffix: str) -> str | None:
    """Why the probe cannot run a ``model_suffix`` model there, naming what to install; or None."""
    if facts.get("python") is None:
        return (
            "the device has no python3 for the probe: install it there "
            "(e.g. `sudo apt install python3 python3-pip`), or set its `python` in devices.toml"
        )
    if model_suffix not in PROBE_RUNTIMES:
        return None
    modules, package = PROBE_RUNTIMES[model_suffix]
    if any(m in facts.get("modules", ()) for m in modules):
        return None
    python = facts.get("python_path") or "python3"
    return (
        f"{package} is not installed for {python} on the device: install it there with "
        f"`{python} -m pip install {package}` (in a venv where pip refuses, then set the "
        f"device's `python` to the venv's python)"
    )
