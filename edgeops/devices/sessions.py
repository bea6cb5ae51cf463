"""What ``edgeops_connect`` returns: an open line to one device."""

from __future__ import annotations

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
