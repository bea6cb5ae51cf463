"""A real OpenSSH server for tests: ``sshd -D`` on 127.0.0.1 with its own keys and config.

For the ssh plugin's tests and for core tests that need boards (inventory,
leases, parallel runs)::

    # conftest.py
    from edgeops_ssh.testing_sshd import make_sshd, ssh_device, sshd  # noqa: F401 (fixtures)

``black_holed_port()`` gives a loopback port whose connects hang, as a board
behind a firewall that drops packets does.

Nothing is installed here; ``./install.sh`` installs Debian's openssh-server.
The server runs as the current user and logs in only that user, with a
generated key. Its sessions get ``HOME`` inside the server's own folder, so a
command that goes wrong (``rm -rf ~``) can harm only that folder.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgeops.plugin import Device

from .host_keys import KNOWN_HOSTS_ENV

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
READY_TIMEOUT_S = 10.0
# sshd's privilege-separation folder; Debian creates it at boot, a container may not have it.
PRIVSEP_DIR = Path("/run/sshd")
# The Python that has this environment's runtimes; a board's own python3 may not.
BOARD_PYTHON = sys.executable

_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {root}/host_ed25519
PidFile {root}/sshd.pid
AuthorizedKeysFile {root}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
SetEnv "HOME={root}/home"
UseDNS no
PrintMotd no
MaxStartups 100:30:200
LogLevel ERROR
"""
# OpenSSH 9.8+ delays clients that disconnect before logging in, which the host key
# tests do on purpose; older servers do not know the option.
_NO_PENALTIES = "PerSourcePenalties no\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def black_holed_port(probe_timeout_s: float = 0.5) -> Iterator[int]:
    """A loopback port that drops every SYN, so a TCP connect to it hangs: a black hole.

    A firewall that DROPs, or an address nobody answers on, looks like this to a
    client. Made without root: a socket listening with a backlog of 0 whose accept
    queue is filled by connects it never accepts; Linux then drops further SYNs
    (net.ipv4.tcp_abort_on_overflow = 0, the default) instead of refusing them.
    The helper checks that a connect really hangs before it yields, and skips the
    test on a kernel that answers instead.
    """
    server = socket.socket()
    held: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        # Linux queues backlog + 1 connections; a few more attempts cover kernels that differ.
        for _ in range(8):
            client = socket.socket()
            held.append(client)
            client.settimeout(probe_timeout_s)
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                break
            except OSError as exc:
                pytest.skip(f"this kernel answers a full accept queue ({exc}); no black hole")
        else:
            pytest.skip("this kernel never dropped a SYN to a full accept queue; no black hole")
        yield port
    finally:
        for client in held:
            client.close()
        server.close()


def _keygen(path: Path) -> None:
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "edgeops-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class Sshd:
    """One sshd process. ``kill()`` drops it and its open connections; ``start()`` again."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.home = root / "home"
        self.host_key = root / "host_ed25519"
        self.client_key = root / "client_ed25519"
        self.config = root / "sshd_config"
        self.log = root / "sshd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.home.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.client_key)
        (root / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        self._write_config()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def host_public_key(self) -> str:
        """``TYPE BASE64`` of the host key, as a known_hosts line carries it."""
        kind, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def _write_config(self) -> None:
        text = _CONFIG.format(port=self.port, root=self.root)
        self.config.write_text(text + _NO_PENALTIES)
        check = subprocess.run(
            [str(SSHD), "-t", "-f", str(self.config)], capture_output=True, text=True
        )
        if check.returncode != 0 and "PerSourcePenalties" in check.stderr:
            self.config.write_text(text)

    def start(self) -> None:
        if os.geteuid() == 0:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {self.log.read_text()[-2000:]}")
            if self._answers():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"sshd did not answer on port {self.port}: {self.log.read_text()[-2000:]}"
        )

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server and every connection it serves, as a board that loses power."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Each connection's sshd runs in a session of its own (setsid), so the
        # listener's process group does not reach it; its descendants do.
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)

    def rotate_host_key(self) -> None:
        """Restart on the same port with a new host key: a reinstalled (or spoofed) board."""
        self.stop()
        _keygen(self.host_key)
        self.start()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_public_key}\n"

    def device(
        self, name: str = "board", python: str | None = BOARD_PYTHON, **labels: str
    ) -> Device:
        """A Device for this server. ``python=None`` leaves the board's own python3."""
        all_labels = {"cache_dir": str(self.root / "cache"), **labels}
        if python is not None:
            all_labels["python"] = python
        return Device(
            id=name,
            name=name,
            transport="ssh",
            profile_id="host",
            address=self.address,
            user=getpass.getuser(),
            key_path=self.client_key,
            labels=all_labels,
        )


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# --------------------------------------------------------------------------- fixtures


def _require_sshd() -> None:
    if not SSHD.exists():
        pytest.skip(f"{SSHD} not found; ./install.sh installs openssh-server")


@pytest.fixture
def make_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sshd]]:
    """Start servers of a test's own (to kill, or to change the key of); stopped after."""
    _require_sshd()
    started: list[Sshd] = []

    def make(port: int | None = None) -> Sshd:
        server = Sshd(tmp_path_factory.mktemp("sshd"), port)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One server shared by the session's tests that leave it running."""
    _require_sshd()
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def ssh_known_hosts(sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """edgeops's known_hosts for this test, trusting ``sshd`` (EDGEOPS_KNOWN_HOSTS)."""
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line())
    monkeypatch.setenv(KNOWN_HOSTS_ENV, str(path))
    return path


@pytest.fixture
def ssh_device(sshd: Sshd, ssh_known_hosts: Path) -> Device:
    """The shared server as a trusted Device, whose python has this environment's runtimes."""
    return sshd.device()
