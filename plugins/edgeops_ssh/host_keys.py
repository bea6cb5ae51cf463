"""Which SSH servers edgeops trusts: known_hosts files, fingerprints and ``trust_host``.

A board is trusted only when its host key is in a known_hosts file: edgeops's
own (``EDGEOPS_KNOWN_HOSTS``, default ``~/.config/edgeops/known_hosts``), then
the user's ``~/.ssh/known_hosts``. An unknown key is refused, never added on
first use: a measurement farm on a shared network is where a spoofed board
would go unnoticed. ``edgeops devices trust HOST[:PORT]`` is the one way a key
gets in.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import paramiko

from edgeops.plugin import DeviceError, UsageError, write_text

KNOWN_HOSTS_ENV = "EDGEOPS_KNOWN_HOSTS"
SSH_PORT = 22
FETCH_TIMEOUT_S = 10.0


def edgeops_known_hosts() -> Path:
    """edgeops's own known_hosts: where ``trust_host`` writes."""
    configured = os.environ.get(KNOWN_HOSTS_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "edgeops" / "known_hosts"


def known_hosts_files() -> list[Path]:
    """Every file a host key is looked up in, in order.

    edgeops's own comes first: paramiko takes the first entry of a key type it
    finds, so a key the user re-trusted with ``edgeops devices trust`` wins
    over a stale line in ``~/.ssh/known_hosts``.
    """
    return [edgeops_known_hosts(), Path.home() / ".ssh" / "known_hosts"]


def parse_address(address: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → (host, port)."""
    text = address.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(SSH_PORT)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # a plain name, or an IPv6 address with no port
        host, port = text, str(SSH_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"SSH address {address!r} is not HOST or HOST:PORT; fix devices.toml")
    return host, int(port)


def host_key_name(host: str, port: int) -> str:
    """The name a host is filed under in known_hosts, as OpenSSH and paramiko write it."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


def trust_command(host: str, port: int) -> str:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"edgeops devices trust {host if port == SSH_PORT else target}"


def describe_key(key: paramiko.PKey) -> str:
    """Key type and SHA256 fingerprint, as ``ssh-keygen -l`` and ``ssh`` print them."""
    return f"{key.get_name()} {key.fingerprint}"


class UnknownHostKey(paramiko.SSHException):
    """Raised by the refusing policy; carries the key so the error can show its fingerprint."""

    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"{hostname} is not in known_hosts")
        self.key = key


class RefuseUnknownHosts(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, keeping the refused key (RejectPolicy drops it)."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKey(hostname, key)


def load_known_hosts(client: paramiko.SSHClient) -> None:
    for path in known_hosts_files():
        if not path.is_file():
            continue
        try:
            # "system" keys are never written back: trust goes through trust_host only.
            client.load_system_host_keys(str(path))
        except (OSError, paramiko.SSHException) as exc:
            raise DeviceError(
                f"cannot read known_hosts {path} ({exc}); fix or remove that line"
            ) from exc
    client.set_missing_host_key_policy(RefuseUnknownHosts())


def unknown_key_message(host: str, port: int, key: paramiko.PKey) -> str:
    return (
        f"unknown SSH host key {describe_key(key)} at {host_key_name(host, port)}; refusing to "
        f"connect. If that is the board's key, trust it: {trust_command(host, port)}"
    )


def changed_key_message(host: str, port: int, offered: paramiko.PKey, known: paramiko.PKey) -> str:
    return (
        f"SSH host key of {host_key_name(host, port)} CHANGED: known_hosts has "
        f"{describe_key(known)}, the server offers {describe_key(offered)}; refusing to connect. "
        f"Someone may be intercepting; if the board was reinstalled, check the new fingerprint "
        f"and trust it: {trust_command(host, port)}"
    )


def fetch_host_key(host: str, port: int, timeout_s: float = FETCH_TIMEOUT_S) -> paramiko.PKey:
    """The server's host key, read from the key exchange alone (no authentication)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise DeviceError(
            f"cannot reach {host}:{port} ({exc}); check the address and that sshd runs"
        ) from exc
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout_s)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise DeviceError(f"{host}:{port} did not complete an SSH key exchange ({exc})") from exc
    finally:
        transport.close()


def trust_host(
    address: str,
    port: int | None = None,
    known_hosts_path: Path | None = None,
    *,
    expected_fingerprint: str | None = None,
    timeout_s: float = FETCH_TIMEOUT_S,
) -> str:
    """Record the host key ``address`` offers now in edgeops's known_hosts; return its fingerprint.

    ``address`` is ``HOST`` or ``HOST:PORT``; ``port``, when given, overrides the
    address's. Lines already filed under that host in edgeops's file are
    replaced (the user asked for this key); the file is rewritten atomically.
    With ``expected_fingerprint`` (``SHA256:...``) a different key is refused,
    so a key seen elsewhere can be pinned without trusting whatever answers.
    """
    host, address_port = parse_address(address)
    port = port or address_port
    key = fetch_host_key(host, port, timeout_s)
    if expected_fingerprint is not None and key.fingerprint != expected_fingerprint:
        raise DeviceError(
            f"{host_key_name(host, port)} offers {describe_key(key)}, not {expected_fingerprint}; "
            "not trusted"
        )
    path = known_hosts_path or edgeops_known_hosts()
    name = host_key_name(host, port)
    kept = []
    if path.is_file():
        for line in path.read_text().splitlines():
            if name not in _hostnames(line):
                kept.append(line)
    kept.append(f"{name} {key.get_name()} {key.get_base64()}")
    write_text(path, "\n".join(kept) + "\n")
    return str(key.fingerprint)


def _hostnames(line: str) -> list[str]:
    """The host names a known_hosts line is filed under (hashed names never match ours)."""
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return []
    if fields[0].startswith("@"):  # @cert-authority / @revoked markers precede the names
        fields = fields[1:]
    return fields[0].split(",") if fields else []
