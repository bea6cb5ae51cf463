"""A command dies with its adb stream: the client SIGKILLed mid-command (issue 10, item 6)."""

from __future__ import annotations

import time

from edgeops_adb.session import AdbSession, open_adb

from adb_testing import device_for, sigkill_mid_command_leaves_no_command, tools_without


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
