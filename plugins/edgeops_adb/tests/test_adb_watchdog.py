"""A command dies with its adb stream: the client SIGKILLed mid-command (issue 10, item 6)."""

from __future__ import annotations

import os
import signal
import time

from edgeops_adb.session import AdbSession, open_adb

from adb_testing import (
    alive,
    device_for,
    sigkill_mid_command_leaves_no_command,
    start_client,
    tools_without,
    wait_for,
)


def test_what_adbd_does_when_a_shell_stream_closes(adb_device, tmp_path):
    """The facts session._WATCHDOG builds on, as Debian's AOSP adbd 34 shows them.

    A raw ``shell:`` command (no wrapper) starts a coreutils-timeout'd sleep, then
    records its stdin and what reaches it once the client is SIGKILLed: stdin is a
    pty; the shell gets SIGHUP or its read ends at EOF (or both); the sleep, in the process
    group timeout made, is never told and measures on: the orphan of issue 10.
    """
    seen, pid_file = tmp_path / "seen", tmp_path / "pid"
    script = (
        f"timeout -s KILL 60 sh -c 'echo $$ > {pid_file}; exec sleep 60' & "
        # The trap before the first line: the test kills the client once it sees it.
        f"trap 'echo SIGHUP >> {seen}' HUP; readlink /proc/$$/fd/0 > {seen}; "
        f"if read -r _; then echo line >> {seen}; else echo EOF >> {seen}; fi; wait"
    )
    client = start_client(adb_device, ["sh", "-c", script], tmp_path, raw=True)
    pid = None
    try:
        assert wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip(), 30)
        assert wait_for(lambda: seen.is_file() and seen.read_text(), 5)
        pid = int(pid_file.read_text())
        client.kill()
        client.wait()
        # Both come, in either order: the hangup wakes the read and signals the shell.
        # Within seconds; the bound is wide for a loaded CI machine.
        # One or both: a shell already woken from its read by the hangup may die of it.
        assert wait_for(lambda: len(seen.read_text().split()) >= 2, 30), seen.read_text()
        tty, *after = seen.read_text().split()
        assert tty.startswith("/dev/pts/") and set(after) <= {"EOF", "SIGHUP"}, after
        time.sleep(1)
        assert alive(pid)  # what the watchdog is for
    finally:
        client.kill()
        client.wait()
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_command_dies_within_seconds_of_its_client_being_sigkilled(adb_device, tmp_path):
    """coreutils' timeout: the command is in timeout's own process group."""
    sigkill_mid_command_leaves_no_command(adb_device, tmp_path)


def test_a_timeout_that_keeps_the_sessions_group_is_handled_too(start_adbd, tmp_path):
    """A STAND-IN ``timeout`` that, like older toybox's (before --foreground), forks
    the command in the session's process group, here ignoring SIGHUP as a command
    may: the watchdog must kill the command as timeout's child, not as a group."""
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
        assert (result.exit_code, result.stdout) == (5, "out\nerr\n")
        killed = session.run(["sh", "-c", "kill -9 $$"], timeout_s=10)
        assert killed.exit_code == 137  # 128 + SIGKILL, as the OOM killer's work is read
        # A command that ends leaves nothing of the watchdog behind: the next starts at once.
        started = time.monotonic()
        for _ in range(3):
            assert session.run(["true"], timeout_s=10).exit_code == 0
        assert time.monotonic() - started < 3
    finally:
        session.close()
