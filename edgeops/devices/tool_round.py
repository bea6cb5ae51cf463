"""One round of a device's own measuring tool over a variant: what every phone backend does.

A device without Python (an Android phone) is measured by a binary of its own, TFLite's
``benchmark_model`` (the adb backend) or ExecuTorch's ``executor_runner``. A round is the
same steps whatever the tool: the tool found or pushed (``device_tool``), the variant
pushed, the tool's command run once under the round's time limit. Those steps are here,
once; what the tool printed is each backend's to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeops.devices.sessions import CommandResult, Session, device_tool
from edgeops.errors import DeviceError

if TYPE_CHECKING:
    from edgeops.models import Measurement, MeasureSettings, Variant


@dataclass(frozen=True)
class ToolRound:
    """A round that ran: the tool's path on the device, its command, and what it printed."""

    tool_path: str
    argv: list[str]
    result: CommandResult


def tool_round(
    session: Session,
    variant: Variant,
    compute_unit: str,
    settings: MeasureSettings,
    label: str,
    needed: str,
    command: Callable[[str, str], list[str]],
    check_timeout_s: float = 30.0,
) -> ToolRound | Measurement:
    """One run of the tool the device's inventory label ``label`` names over ``variant``.

    ``command(tool path, model path)`` is the argv, both paths on the device; ``needed``
    says what the tool is for the error when the device has none (as ``device_tool``'s).
    The round is a ``ToolRound`` to read, or the Measurement it ends as without one:
    ``error`` when the device lacks the tool, ``timeout`` when the run went over
    ``settings.timeout_s`` (named by the label, e.g. "benchmark_model ran over 30 s").
    ``check_timeout_s`` bounds the commands that find the tool and make it executable.
    """
    from edgeops.plugin import failed_measurement

    assert variant.path is not None
    try:
        tool_path = device_tool(session, label, needed, timeout_s=check_timeout_s)
    except DeviceError as exc:
        return failed_measurement(variant, session.device, compute_unit, "error", str(exc))
    argv = command(tool_path, session.push(variant.path))
    try:
        result = session.run(argv, timeout_s=settings.timeout_s)
    except TimeoutError:
        return failed_measurement(variant, session.device, compute_unit, "timeout",
                                  f"{label} ran over {settings.timeout_s:g} s")  # fmt: skip
    return ToolRound(tool_path, argv, result)
