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
is the board's; a Mac needs folder pushes (.mlpackage) and, for a phone, another
program entirely (iphone_benchmark.py). The session is the SSH plugin's, reused.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from edgeops.plugin import Device, DeviceError, sha256_tree
from edgeops_ssh.session import QUICK_TIMEOUT_S, SshSession

from .devicectl import LIST_SCRIPT, TetheredIPhone, parse_list_output

TRANSPORT = "mac-host"
# Device labels (devices.toml `labels`): the tethered phone, its signing team, the
# xcrun to run (a test points it at a stand-in), and where modelrunner is built.
IPHONE_LABEL = "iphone"
TEAM_LABEL = "team"
XCRUN_LABEL = "xcrun"
# On a Mac's entry: "true" makes discovery list its tethered iPhones as devices.
LIST_IPHONES_LABEL = "list_iphones"
UNPACK_TIMEOUT_S = 300.0
LIST_TIMEOUT_S = 60.0

# Runs on the Mac: unpack a pushed zip of an .mlpackage next to it, atomically (a
# half-unpacked folder is never taken for the model), unless an earlier push did.
UNPACK_SCRIPT = """\
import os, shutil, sys, zipfile
archive, target = sys.argv[1], sys.argv[2]
if not os.path.isdir(target):
    partial = target + ".part-" + str(os.getpid())
    with zipfile.ZipFile(archive) as z:
        z.extractall(partial)
    try:
        os.rename(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not os.path.isdir(target):
            raise
print(target)
"""

MAC_FACTS_SCRIPT = """\
import json, os, platform, subprocess
def sysctl(name):
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
try:
    import coremltools
    coreml = coremltools.__version__
except Exception:
    coreml = None
memsize = sysctl("hw.memsize")
print(json.dumps({
    "os": "macOS " + platform.mac_ver()[0] if platform.mac_ver()[0] else platform.platform(),
    "cpu": sysctl("machdep.cpu.brand_string") or platform.machine(),
    "model": sysctl("hw.model"),
    "ram_mb": int(memsize) // 2**20 if memsize.isdigit() else None,
    "python": platform.python_version(),
    "runtimes": {"coremltools": coreml} if coreml else {},
}))
"""


class MacHostSession(SshSession):
    """An SSH session to a Mac: pushes folders (.mlpackage) too, and lists tethered iPhones."""

    def push(self, local_path: Path) -> str:
        """A file as the SSH session pushes it; a folder as a zip, unpacked on the Mac.

        The unpacked folder is named by the folder's content hash, so a second push
        of the same package is a lookup.
        """
        local = Path(local_path)
        if not local.is_dir():
            return super().push(local)
        digest = sha256_tree(local)
        with tempfile.TemporaryDirectory(prefix="edgeops-push-") as tmp:
            archive = Path(tmp) / f"{digest[:16]}-{local.name}.zip"
            zip_folder(local, archive)
            remote_zip = super().push(archive)
        target = f"{remote_zip.rsplit('/', 1)[0]}/{digest}-{local.name}"
        if self.python is None:
            raise DeviceError(f"{self.where}: no python3 there to unpack {local.name}")
        result = self.run([*self.python, "-c", UNPACK_SCRIPT, remote_zip, target], UNPACK_TIMEOUT_S)
        if result.exit_code != 0:
            tail = " ".join(result.stderr.split())[-300:]
            raise DeviceError(f"{self.where}: unpacking {local.name} failed ({tail})")
        return target

    def describe(self) -> dict[str, Any]:
        """OS, chip, RAM and coremltools of the Mac, and the iPhones it reports."""
        if self._facts is not None:
            return self._facts
        facts: dict[str, Any] = {"python": None, "runtimes": {}}
        if self.python is not None:
            import json

            result = self.run([*self.python, "-c", MAC_FACTS_SCRIPT], QUICK_TIMEOUT_S)
            lines = result.stdout.strip().splitlines()
            if result.exit_code == 0 and lines:
                facts = json.loads(lines[-1])
        try:
            facts["iphones"] = [phone.__dict__ for phone in self.iphones()]
        except DeviceError as exc:
            facts["iphones_error"] = str(exc)
        self._facts = facts
        return facts

    def iphones(self) -> list[TetheredIPhone]:
        """The iPhones ``xcrun devicectl list devices`` reports on the Mac."""
        if self.python is None:
            raise DeviceError(f"{self.where}: no python3 there to run devicectl with")
        xcrun = self.device.labels.get(XCRUN_LABEL, "xcrun")
        result = self.run([*self.python, "-c", LIST_SCRIPT, xcrun], LIST_TIMEOUT_S)
        if result.exit_code != 0:
            tail = " ".join(result.stderr.split())[-300:] or f"exit code {result.exit_code}"
            raise DeviceError(
                f"{self.where}: `xcrun devicectl list devices` failed ({tail}); "
                "install Xcode 15 or later on the Mac"
            )
        return parse_list_output(result.stdout)


def zip_folder(folder: Path, archive: Path) -> None:
    """A zip of ``folder``'s content, entries in sorted order with fixed times.

    Fixed order and times make the same package give the same zip bytes, so the
    SSH session's sha256-named cache recognises a package it already holds.
    """
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            if path.is_dir():
                info.filename += "/"
                z.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())


def benchmark_argv(
    session: MacHostSession, remote_model: str, compute_unit: str, iterations: int
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


def tethered_devices(mac: Device, session: MacHostSession) -> list[Device]:
    """The Mac's connected iPhones as Devices of their own, with profiles from their identifiers.

    A phone edgeops has no profile for is listed with profile "unknown:<identifier>",
    so `edgeops devices` shows it and no plan is ever made from it.
    """
    found = []
    for phone in session.iphones():
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
