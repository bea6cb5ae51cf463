"""A command dies with its adb stream: the client SIGKILLed mid-command (issue 10, item 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from edgeops_adb.session import AdbSession, open_adb

from adb_testing import device_for, tools_without

# Runs in a child process: open a session the way `ship` does, start a long command
# that first writes the pid it runs as, and wait on it until killed.
CLIENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edgeops.models import Device
    from edgeops_adb.session import AdbSession, open_adb

    device = Device.model_validate_json(Path(sys.argv[1]).read_text())
    session = AdbSession(device, open_adb(device))
    session.run(["sh", "-c", 'echo $$ > "$0"; exec sleep 60', sys.argv[2]], timeout_s=120)
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent has not read its status yet.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def wait_for(predicate, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def sigkill_mid_command_leaves_no_command(device, tmp_path: Path) -> None:
    spec = tmp_path / "device.json"
    spec.write_text(device.model_dump_json())
    pid_file = tmp_path / "pid"
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(spec), str(pid_file)])
    try:
        assert wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip(), 30)
        pid = int(pid_file.read_text())
        assert alive(pid)  # the "device side" command: here, a process of this machine
        client.send_signal(signal.SIGKILL)
        client.wait()
        killed_at = time.monotonic()
        assert wait_for(lambda: not alive(pid), 5), "the command outlived its client"
        print(f"device-side command gone {time.monotonic() - killed_at:.2f} s after SIGKILL")
    finally:
        client.kill()
        client.wait()


def test_a_command_dies_within_seconds_of_its_client_being_sigkilled(adb_device, tmp_path):
    """coreutils' timeout: the command is in timeout's own process group."""
    sigkill_mid_command_leaves_no_command(adb_device, tmp_path)


def test_a_phone_style_timeout_that_keeps_the_sessions_group_is_handled_too(start_adbd, tmp_path):
    """A STAND-IN ``timeout`` that, like toybox's on a phone, forks the command in the
    session's process group (and ignores SIGHUP, as a command may): the watchdog
    must kill the command as timeout's child, not as a group."""
    tools = tmp_path / "bin"
    tools.mkdir()
    stand_in = tools / "timeout"
    stand_in.write_text('#!/bin/sh\ntrap "" HUP\nshift 3\n"$@" &\nwait $!\n')
    stand_in.chmod(0o755)
    daemon = start_adbd(path=tools_without({"timeout"}, tools))
    sigkill_mid_command_leaves_no_command(device_for(daemon, tmp_path), tmp_path)


def test_output_and_exit_codes_are_unchanged_by_the_watchdog(adb_device):
    session = AdbSession(adb_device, open_adb(adb_device))
    try:
        result = session.run(["sh", "-c", "echo out; echo err >&2; exit 5"], timeout_s=10)
        assert (result.exit_code, result.stdout.replace("\r\n", "\n")) == (5, "out\nerr\n")
        killed = session.run(["sh", "-c", "kill -9 $$"], timeout_s=10)
        assert killed.exit_code == 137  # 128 + SIGKILL, as the OOM killer's work is read
        # A command that ends leaves nothing of the watchdog behind: the next starts at once.
        started = time.monotonic()
        for _ in range(3):
            assert session.run(["true"], timeout_s=10).exit_code == 0
        assert time.monotonic() - started < 3
    finally:
        session.close()
