"""What ``edgeops_connect`` returns: an open line to one device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from edgeops.models import Device


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float


@runtime_checkable
class Session(Protocol):
    """An open connection to a device.

    ``python`` is the argv prefix that runs a Python interpreter there, or None
    when the device has none (an Android phone): the probe needs it.
    """

    device: Device
    python: tuple[str, ...] | None

    def push(self, local_path: Path) -> str:
        """Make ``local_path`` available on the device; return its path there."""
        ...

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        """Run one command (argv, never a shell string) and wait for it."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TensorOutputs(Protocol):
    """What a session without Python may offer instead of the probe's ``--outputs``: one
    inference of a model already on the device, on raw inputs, giving its raw outputs.

    ``inputs`` are (shape, raw bytes) per input in the graph's order; the answer is every
    output's raw bytes in the graph's order, concatenated, exactly ``output_bytes`` long
    (DeviceError otherwise). The backend owns what the bytes mean. An adb phone offers it
    through LiteRT's benchmark_model (plugins/edgeops_adb/phone_outputs.py).
    """

    def tensor_outputs(
        self,
        remote_model: str,
        compute_unit: str,
        inputs: Sequence[tuple[tuple[int, ...], bytes]],
        output_bytes: int,
        timeout_s: float,
    ) -> bytes: ...
