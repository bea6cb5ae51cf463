"""The adb Session against a real AOSP adbd, with unmodified adb-shell."""

from __future__ import annotations

import stat
import threading
import time

import pytest

from edgeops.errors import DeviceError
from edgeops.files import sha256_file
from edgeops.models import Device
from edgeops_adb import keys
from edgeops_adb.session import AdbSession, open_adb, remote_name

from adb_testing import device_for, tools_without


@pytest.fixture
def session(adb_device):
    opened = AdbSession(adb_device, open_adb(adb_device))
    yield opened
    opened.close()


def test_the_key_is_made_once_and_private(tmp_path):
    path = tmp_path / "cfg" / "adbkey"
    keys.ensure_key(path)
    first = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.with_name("adbkey.pub").is_file()
    path.chmod(0o644)
    keys.ensure_key(path)
    assert path.read_bytes() == first  # not regenerated: phones remember the accepted key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_exit_codes_come_back_through_the_sentinel(session):
    assert session.run(["true"], timeout_s=10).exit_code == 0
    assert session.run(["sh", "-c", "exit 3"], timeout_s=10).exit_code == 3
    tricky = session.run(["sh", "-c", "printf '__EDGEOPS_EXIT__5'; exit 7"], timeout_s=10)
    assert (tricky.exit_code, tricky.stdout) == (7, "__EDGEOPS_EXIT__5")


def test_hostile_arguments_arrive_as_written(session, tmp_path):
    marker = tmp_path / "pwned"
    hostile = [
        "a b",
        "it's",
        '"q"',
        f"$(touch {marker})",
        f"; touch {marker}",
        "tab\there",
        "*",
        "new\nline",
    ]
    result = session.run(["printf", "%s|", *hostile], timeout_s=10)
    assert result.stdout == "".join(f"{h}|" for h in hostile)
    assert not marker.exists()


def test_push_verifies_the_checksum_and_survives_a_hostile_file_name(session, tmp_path):
    local = tmp_path / "a b;$(touch pwned)'.tflite"
    local.write_bytes(bytes(range(256)) * 400)
    remote = session.push(local)
    assert remote.endswith(".tflite") and ";" not in remote and "$" not in remote
    assert sha256_file(local) == sha256_file(__import__("pathlib").Path(remote))
    assert not (tmp_path / "pwned").exists()
    assert remote_name("../../x.onnx", "f" * 64) == "x-ffffffffffff.onnx"


def test_a_corrupted_remote_copy_is_detected_and_pushed_again(adb_device, tmp_path):
    local = tmp_path / "model.tflite"
    local.write_bytes(b"\x01" * 50_000)
    first = AdbSession(adb_device, open_adb(adb_device))
    remote = first.push(local)
    first.run(
        ["sh", "-c", f"printf x | dd of={remote} bs=1 seek=100 conv=notrunc 2>/dev/null"],
        timeout_s=10,
    )
    assert not first._matches(remote, local.read_bytes())
    first.close()
    second = AdbSession(adb_device, open_adb(adb_device))
    assert second.push(local) == remote
    assert second._matches(remote, local.read_bytes())
    second.close()


def test_push_falls_back_to_md5_where_the_device_lacks_sha256sum(start_adbd, tmp_path):
    daemon = start_adbd(path=tools_without({"sha256sum"}, tmp_path / "bin"))
    device = device_for(daemon, tmp_path)
    session = AdbSession(device, open_adb(device))
    assert session.run(["sh", "-c", "command -v sha256sum"], timeout_s=10).exit_code != 0
    local = tmp_path / "m.bin"
    local.write_bytes(b"abc" * 1000)
    remote = session.push(local)
    assert session._matches(remote, local.read_bytes())
    session.close()


def test_a_command_over_its_timeout_is_stopped_on_the_device(session, tmp_path):
    marker = tmp_path / "finished"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        session.run(["sh", "-c", f"sleep 3; touch {marker}"], timeout_s=1)
    assert time.monotonic() - started < 3
    time.sleep(3)
    assert not marker.exists()  # killed there, not just abandoned here


def test_adbd_killed_mid_command_is_an_error_not_a_hang(adbd, adb_device):
    session = AdbSession(adb_device, open_adb(adb_device))
    threading.Timer(0.5, adbd.kill).start()
    started = time.monotonic()
    with pytest.raises((DeviceError, TimeoutError)):
        session.run(["sleep", "30"], timeout_s=2)
    # Bounded by the call's own timeout (plus the host's 5 s grace), never the command's 30 s.
    assert time.monotonic() - started < 2 + 5 + 1
    adbd.start()  # the same port again: a device that came back
    again = AdbSession(adb_device, open_adb(adb_device))
    assert again.run(["true"], timeout_s=10).exit_code == 0
    again.close()


def test_an_unreachable_device_is_one_line_naming_the_fix(tmp_path):
    from adb_testing import free_port

    device = Device(
        id="gone", name="gone", transport="adb", profile_id="host",
        address=f"127.0.0.1:{free_port()}", key_path=tmp_path / "adbkey",
    )  # fmt: skip
    with pytest.raises(DeviceError) as caught:
        open_adb(device)
    assert "\n" not in str(caught.value) and "check that adbd listens there" in str(caught.value)


def test_a_bad_address_names_the_fix(tmp_path):
    device = Device(
        id="x",
        name="x",
        transport="adb",
        profile_id="host",
        address="nohost",
        key_path=tmp_path / "k",
    )
    with pytest.raises(DeviceError, match="host:port or usb:SERIAL"):
        open_adb(device)


def test_adbd_killed_mid_probe_is_a_device_error_within_seconds(adbd, adb_device):
    """A closed socket is a dead transport, not a slow model (issue 10, defect 7).

    The command is given 120 s, as a probe is; adb-shell alone read empty bytes
    from the closed socket until then and reported a timeout.
    """
    session = AdbSession(adb_device, open_adb(adb_device))
    threading.Timer(0.5, adbd.kill).start()
    started = time.monotonic()
    with pytest.raises(DeviceError, match="closed the connection"):
        session.run(["sleep", "110"], timeout_s=120)
    assert time.monotonic() - started < 5
    adbd.start()


def test_pushed_files_are_0644_and_programs_0755(session, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\x02" * 1000)
    model.chmod(0o600)
    program = tmp_path / "tool"
    program.write_bytes(b"#!/bin/sh\necho hi\n")
    program.chmod(0o700)
    for local, mode in ((model, 0o644), (program, 0o755)):
        remote = session.push(local)
        found = session.run(["stat", "-c", "%a", remote], timeout_s=10).stdout.strip()
        assert found == oct(mode)[2:], (local, found)
