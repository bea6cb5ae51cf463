"""What ``edgeops_connect`` returns: an open line to one device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from edgeops.errors import DeviceError
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


def device_tool(session: Session, label: str, needed: str, timeout_s: float = 30.0) -> str:
    """The path on the device of the tool its inventory label ``label`` names, for a device
    measured by a tool of its own (a phone without Python runs a vendor's benchmark binary).

    The label is a file on this host, pushed (``session.push`` skips content the device
    already holds) and made executable there, since a downloaded binary often lacks the
    bit; or a path on the device, which must be executable. Otherwise ``DeviceError``
    naming the fix, with ``needed`` saying what the tool is and where it comes from, e.g.
    ``"TFLite's benchmark_model"``: the caller records it as the variant's error.
    """
    name = session.device.name
    value = session.device.labels.get(label)
    if not value:
        raise DeviceError(
            f"{name} is measured with {needed}: set its label {label} in devices.toml to the "
            "binary (a file here, pushed once, or a path on the device)"
        )
    local = Path(value).expanduser()
    if local.is_file():
        remote = session.push(local)
        made = session.run(["chmod", "755", remote], timeout_s=timeout_s)
        if made.exit_code != 0:
            raise DeviceError(
                f"{label} was pushed to {name} but cannot be made executable there "
                f"({made.stderr.strip() or made.exit_code}); check the device"
            )
        return remote
    if session.run(["test", "-x", value], timeout_s=timeout_s).exit_code != 0:
        raise DeviceError(
            f"{label} {value!r} is neither a file on this host nor an executable on {name}; "
            f"fix the device's {label} label in devices.toml"
        )
    return value
