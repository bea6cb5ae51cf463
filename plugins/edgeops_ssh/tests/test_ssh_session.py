"""Running commands on a real sshd: exit codes, output, deadlines, pinning, a dropped server."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from edgeops.devices.sessions import Session
from edgeops.errors import DeviceError, UsageError
from edgeops_ssh.session import SshSession
from edgeops_ssh.testing_sshd import BOARD_PYTHON


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_a_command_gives_its_exit_code_stdout_and_stderr(ssh_device):
    with SshSession(ssh_device) as session:
        assert isinstance(session, Session)
        result = session.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout_s=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.duration_s > 0


def test_a_death_by_signal_is_exit_code_128_plus_the_signal(ssh_device):
    # 137 is how the measurement parser recognises the OOM killer's SIGKILL.
    with SshSession(ssh_device) as session:
        result = session.run(["sh", "-c", "kill -KILL $$"], timeout_s=10)
    assert result.exit_code == 137


def test_a_command_over_its_timeout_raises_and_is_killed_on_the_board(ssh_device):
    marker = "31.4159"  # an argument no other process on this machine has
    with SshSession(ssh_device) as session:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="ran over 1 s"):
            session.run(["sleep", marker], timeout_s=1)
        assert time.monotonic() - started < 5
        # The session is still usable afterwards.
        assert session.run(["true"], timeout_s=10).exit_code == 0
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep\0{marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(f"sleep\0{marker}")


def test_the_session_finds_the_python_it_was_given_or_python3(sshd, ssh_known_hosts):
    with SshSession(sshd.device()) as session:
        assert session.python == (BOARD_PYTHON,)
    with SshSession(sshd.device(python=None)) as session:
        assert session.python == ("python3",)


def test_a_python_that_does_not_run_there_is_an_error_naming_it(sshd, ssh_known_hosts):
    with pytest.raises(DeviceError, match="'/nonexistent/python3' does not run there"):
        SshSession(sshd.device(python="/nonexistent/python3"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to tell pinning")
def test_measurements_are_pinned_to_the_device_cpus_and_other_commands_are_not(
    sshd, ssh_known_hosts
):
    affinity = "import os; print(sorted(os.sched_getaffinity(0)))"
    with SshSession(sshd.device(cpus="0")) as session:
        assert session.run([BOARD_PYTHON, "-c", affinity], timeout_s=10).stdout == "[0]\n"
        unpinned = session.run(["env", BOARD_PYTHON, "-c", affinity], timeout_s=10).stdout
    assert unpinned == f"{sorted(os.sched_getaffinity(0))}\n"


def test_a_cpu_list_that_is_not_one_is_refused_before_connecting(sshd, ssh_known_hosts):
    with pytest.raises(DeviceError, match="is not a CPU list"):
        SshSession(sshd.device(cpus="0; reboot"))


def test_a_server_that_dies_mid_command_is_a_lost_connection(make_sshd, monkeypatch):
    server = make_sshd()
    known_hosts = server.root / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    monkeypatch.setenv("EDGEOPS_KNOWN_HOSTS", str(known_hosts))
    with SshSession(server.device()) as session:
        threading.Timer(0.5, server.kill).start()
        started = time.monotonic()
        with pytest.raises(DeviceError, match="lost the SSH connection"):
            session.run(["sleep", "20"], timeout_s=30)
        assert time.monotonic() - started < 10


def test_a_key_the_board_does_not_know_is_refused_naming_authorized_keys(
    sshd, ssh_known_hosts, tmp_path
):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    device = sshd.device().model_copy(update={"key_path": stranger})
    with pytest.raises(DeviceError, match="authorized_keys"):
        SshSession(device)


def test_a_port_nobody_listens_on_is_an_unreachable_device(sshd, ssh_known_hosts):
    from edgeops_ssh.testing_sshd import free_port

    device = sshd.device().model_copy(update={"address": f"127.0.0.1:{free_port()}"})
    with pytest.raises(DeviceError, match="cannot connect over SSH") as caught:
        SshSession(device)
    assert "\n" not in str(caught.value)


def test_an_address_that_is_not_host_port_is_a_usage_error(sshd):
    device = sshd.device().model_copy(update={"address": "127.0.0.1:ssh"})
    with pytest.raises(UsageError, match="not HOST or HOST:PORT"):
        SshSession(device)


def test_the_plugin_connects_ssh_devices_only(edgeops_pm, ssh_device, local_device):
    session = edgeops_pm.hook.edgeops_connect(device=ssh_device)
    try:
        assert isinstance(session, SshSession)
    finally:
        session.close()
    from edgeops_ssh import edgeops_connect

    assert edgeops_connect(device=local_device) is None


def test_a_black_holed_address_gives_up_within_the_connect_timeout(sshd, ssh_known_hosts):
    # Issue 10: an address that drops SYNs (a firewall, a board gone from the network)
    # must end as a device failure in bounded time, not hang the run.
    from edgeops_ssh.testing_sshd import black_holed_port

    with black_holed_port() as port:
        device = sshd.device().model_copy(update={"address": f"127.0.0.1:{port}"})
        started = time.monotonic()
        with pytest.raises(DeviceError) as caught:
            SshSession(device, connect_timeout_s=1.5)
        waited_s = time.monotonic() - started
    message = str(caught.value)
    assert 1.4 < waited_s < 5, waited_s
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and "cannot connect over SSH" in message, message
    assert "no answer to the TCP connect in 1.5 s" in message
    assert f"no firewall drops port {port}" in message


def test_the_connect_timeout_label_bounds_the_wait_and_a_bad_one_is_one_line(sshd):
    from edgeops_ssh.testing_sshd import black_holed_port

    with black_holed_port() as port:
        base = sshd.device().model_copy(update={"address": f"127.0.0.1:{port}"})
        device = base.model_copy(update={"labels": {**base.labels, "connect_timeout_s": "1"}})
        started = time.monotonic()
        with pytest.raises(DeviceError, match="no answer to the TCP connect in 1 s"):
            SshSession(device)
        assert time.monotonic() - started < 5
    for bad in ("soon", "0", "-3", "inf", "nan", "601"):
        labels = {**base.labels, "connect_timeout_s": bad}
        with pytest.raises(DeviceError) as caught:
            SshSession(base.model_copy(update={"labels": labels}))
        message = str(caught.value)
        assert "\n" not in message and f"connect_timeout_s = {bad!r}" in message, message
        assert "fix devices.toml" in message
