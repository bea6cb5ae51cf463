"""Transport ``mac-host``: a Mac reached over SSH, and the iPhones tethered to it.

A Mac (Apple silicon) in devices.toml::

    [[device]]
    name = "mini-m2"
    transport = "mac-host"
    address = "10.0.0.9"
    user = "ci"
    key = "~/.ssh/id_ed25519"
    profile = "mac-m2"
    python = "/Users/ci/venv/bin/python"    # a Python with coremltools

An iPhone tethered to that Mac is a device of its own with the same address and
the phone's devicectl identifier (``edgeops devices`` lists them)::

    [[device]]
    name = "iphone12-a"
    transport = "mac-host"
    address = "10.0.0.9"
    user = "ci"
    profile = "iphone12"
    python = "/Users/ci/venv/bin/python"
    labels = { iphone = "01020304-0506-4781-8901-ABCDEF012345", team = "ABCDE12345" }

Why a transport of its own rather than ``ssh`` with a label: the ssh plugin's
measure hook checks a board's runtimes for .onnx/.tflite and the probe it runs
is the board's; a Mac runs Core ML, and for a phone another program entirely
(iphone_benchmark.py). The connection is made by whichever plugin connects
``mac-host`` (the SSH backend); this module needs only the Session protocol.
"""

from __future__ import annotations

from pathlib import Path

from edgeops.plugin import Device, DeviceError, Session

from .devicectl import LIST_SCRIPT, TetheredIPhone, parse_list_output

TRANSPORT = "mac-host"
# Device labels (devices.toml `labels`): the tethered phone, its signing team, the
# xcrun to run (a test points it at a stand-in), and where modelrunner is built.
IPHONE_LABEL = "iphone"
TEAM_LABEL = "team"
XCRUN_LABEL = "xcrun"
# On a Mac's entry: "true" makes discovery list its tethered iPhones as devices.
LIST_IPHONES_LABEL = "list_iphones"
LIST_TIMEOUT_S = 60.0


def iphones(session: Session) -> list[TetheredIPhone]:
    """The iPhones ``xcrun devicectl list devices`` reports on the session's Mac."""
    if session.python is None:
        raise DeviceError(f"{session.device.name}: no python3 there to run devicectl with")
    xcrun = session.device.labels.get(XCRUN_LABEL, "xcrun")
    result = session.run([*session.python, "-c", LIST_SCRIPT, xcrun], LIST_TIMEOUT_S)
    if result.exit_code != 0:
        tail = " ".join(result.stderr.split())[-300:] or f"exit code {result.exit_code}"
        raise DeviceError(
            f"{session.device.name}: `xcrun devicectl list devices` failed ({tail}); "
            "install Xcode 15 or later on the Mac"
        )
    return parse_list_output(result.stdout)


def is_tethered_iphone(session: Session) -> bool:
    return session.device.transport == TRANSPORT and IPHONE_LABEL in session.device.labels


def benchmark_argv(
    session: Session, remote_model: str, compute_unit: str, iterations: int
) -> list[str]:
    """The command that benchmarks ``remote_model`` on the session's tethered iPhone."""
    from . import iphone_benchmark

    assert session.python is not None
    labels = session.device.labels
    argv = [
        *session.python,
        session.push(Path(iphone_benchmark.__file__)),
        "--model", remote_model,
        "--device", labels[IPHONE_LABEL],
        "--compute-unit", compute_unit,
        "--iterations", str(iterations),
    ]  # fmt: skip
    if labels.get(TEAM_LABEL):
        argv += ["--team", labels[TEAM_LABEL]]
    return argv


def tethered_devices(mac: Device, session: Session) -> list[Device]:
    """The Mac's connected iPhones as Devices of their own, with profiles from their identifiers.

    A phone edgeops has no profile for is listed with profile "unknown:<identifier>",
    so `edgeops devices` shows it and no plan is ever made from it.
    """
    found = []
    for phone in iphones(session):
        if not phone.connected:
            continue
        found.append(
            mac.model_copy(
                update={
                    "id": f"{mac.id}/{phone.udid or phone.identifier}",
                    "name": phone.name,
                    "profile_id": phone.profile_id or f"unknown:{phone.product_type}",
                    "labels": {
                        **{k: v for k, v in mac.labels.items() if k != LIST_IPHONES_LABEL},
                        IPHONE_LABEL: phone.identifier,
                    },
                }
            )
        )
    return found
