"""SFTP push on a real sshd: sha256 verified on the board, skipped when there, damage caught."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edgeops.errors import DeviceError
from edgeops_ssh.session import SshSession


class CountingSession(SshSession):
    """Counts real uploads, so a test can tell a skipped push from a repeated one."""

    uploads = 0

    def _upload(self, local: Path, remote: str) -> None:
        type(self).uploads += 1
        super()._upload(local, remote)


class TruncatingSession(SshSession):
    """Damages every upload on the board after it arrived, as a full disk or a bad card would."""

    def _upload(self, local: Path, remote: str) -> None:
        super()._upload(local, remote)
        with self._sftp_client().open(remote, "r+") as f:
            f.truncate(local.stat().st_size // 2)


@pytest.fixture
def artifact(tmp_path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(os.urandom(300_000))
    return path


@pytest.fixture
def board(sshd, ssh_known_hosts, tmp_path):
    """The shared server as a device with a cache folder of this test's own."""
    return sshd.device(cache_dir=str(tmp_path / "board-cache"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_puts_the_file_in_the_cache_under_its_hash(board, artifact, tmp_path):
    with SshSession(board) as session:
        remote = session.push(artifact)
    digest = _sha256(artifact)
    assert remote == f"{tmp_path}/board-cache/{digest}-model.onnx"
    assert Path(remote).read_bytes() == artifact.read_bytes()  # the "board" is this machine
    assert os.listdir(tmp_path / "board-cache") == [f"{digest}-model.onnx"]  # no .part left


def test_push_is_skipped_when_the_board_has_the_file_with_that_hash(board, artifact):
    CountingSession.uploads = 0
    with CountingSession(board) as session:
        remote = session.push(artifact)
        assert session.push(artifact) == remote  # same session: remembered
    with CountingSession(board) as session:
        assert session.push(artifact) == remote  # new session: hashed on the board, not sent
    assert CountingSession.uploads == 1


def test_a_wrong_file_under_the_cached_name_is_replaced(board, artifact):
    CountingSession.uploads = 0
    with CountingSession(board) as session:
        remote = Path(session.push(artifact))
    remote.write_bytes(b"not the model")
    with CountingSession(board) as session:
        assert session.push(artifact) == str(remote)
    assert CountingSession.uploads == 2
    assert _sha256(remote) == _sha256(artifact)


def test_an_upload_damaged_on_the_board_is_detected_and_discarded(board, artifact, tmp_path):
    with TruncatingSession(board) as session, pytest.raises(DeviceError) as caught:
        session.push(artifact)
    message = str(caught.value)
    assert "model.onnx arrived corrupt" in message and "\n" not in message
    assert f"expected {_sha256(artifact)[:16]}" in message
    # Neither the damaged copy nor the artifact's name is left for a later run to trust.
    assert os.listdir(tmp_path / "board-cache") == []


def test_the_python_hash_used_without_sha256sum_agrees(board, artifact):
    with SshSession(board) as session:
        remote = session.push(artifact)
        session._hash_with_python = True  # as on a board where sha256sum exits 127
        assert session.remote_sha256(remote) == _sha256(artifact)


def test_a_missing_path_cannot_be_pushed(board, tmp_path):
    with SshSession(board) as session, pytest.raises(DeviceError, match="not a file"):
        session.push(tmp_path / "absent.onnx")


def test_a_folder_with_a_link_leaving_it_is_refused(board, tmp_path):
    package = tmp_path / "model.mlpackage"
    package.mkdir()
    (package / "weights.bin").write_bytes(b"w")
    (tmp_path / "secret").write_text("not part of the model")
    (package / "leak").symlink_to(tmp_path / "secret")
    with SshSession(board) as session, pytest.raises(DeviceError, match="symbolic link"):
        session.push(package)


def test_a_cache_folder_that_cannot_be_made_names_the_label_to_set(sshd, ssh_known_hosts, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    device = sshd.device(cache_dir=str(blocker / "cache"))
    with SshSession(device) as session, pytest.raises(DeviceError, match="set the device's cache_"):
        session.push(blocker)


def test_the_probe_goes_as_one_archive_pushed_once_and_runs_there(board, tmp_path):
    """Its modules in one file: a second session finds it on the board and sends nothing,
    and the board's python3 runs it from the cache, where its siblings have no names."""
    from edgeops.devices.probe_push import push_probe

    CountingSession.uploads = 0
    with CountingSession(board) as session:
        remote = push_probe(session)
    with CountingSession(board) as session:
        assert push_probe(session) == remote
        assert session.python is not None
        ran = session.run([*session.python, remote, "--model", "m.none"], timeout_s=60)
    assert CountingSession.uploads == 1
    assert remote.endswith("-probe.pyz")
    assert os.listdir(tmp_path / "board-cache") == [Path(remote).name]
    # The probe's own answer (no runner for the format), not an import error.
    assert '"status": "unsupported"' in ran.stdout and "no probe runtime for .none" in ran.stdout
