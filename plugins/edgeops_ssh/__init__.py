"""Transport ``ssh``: Linux boards reached over OpenSSH, measured by the core's stdlib probe.

A device in devices.toml::

    [[device]]
    name = "pi5-a"
    transport = "ssh"
    address = "10.0.0.7"              # or "10.0.0.7:2222"; port 22 by default
    user = "pi"
    key = "~/.ssh/id_ed25519"         # the ssh-agent is used as well, where one runs
    profile = "rpi5"
    python = "/home/pi/venv/bin/python"   # default: python3 on the login's PATH
    cpus = "2"                        # pin measurements to these cores (taskset)
    labels = { cache_dir = "/mnt/ssd/edgeops" }   # default ~/.cache/edgeops

The board's host key must be known first: ``edgeops devices trust HOST[:PORT]``.
paramiko is imported only when an SSH device is used, so other commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    CommandContext,
    Device,
    Measurement,
    Session,
    UsageError,
    Variant,
    failed_measurement,
)

if TYPE_CHECKING:
    from .session import SshSession

EDGEOPS_TOOLS = ("paramiko",)
# The module this backend needs at run time; `edgeops plugins` says whether it imports.
EDGEOPS_RUNTIME = "paramiko"


def trust_host(
    address: str,
    port: int | None = None,
    known_hosts_path: Path | None = None,
    *,
    expected_fingerprint: str | None = None,
    timeout_s: float = 10.0,
) -> str:
    """Record the key ``address`` (HOST or HOST:PORT) offers in edgeops's known_hosts.

    Returns its fingerprint (``SHA256:...``). See ``host_keys.trust_host``.
    """
    from .host_keys import trust_host as trust

    return trust(
        address,
        port,
        known_hosts_path,
        expected_fingerprint=expected_fingerprint,
        timeout_s=timeout_s,
    )


@hookimpl
def edgeops_add_commands(subparsers: Any) -> None:
    help = "trust HOST[:PORT]: record its SSH host key in edgeops' known_hosts"
    p = subparsers.add_parser("trust", help=help, description=help)
    p.add_argument("target", nargs="?", help="HOST[:PORT] to trust")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(plugin_command=_run_trust)


def _run_trust(args: Any, context: CommandContext) -> int:
    if not args.target:
        raise UsageError("name the host to trust: `edgeops trust HOST[:PORT]`")
    fingerprint = trust_host(args.target)
    if args.json:
        context.print_json({"host": args.target, "fingerprint": fingerprint})
    else:
        context.console().print(f"trusted {args.target}: {fingerprint}")
    return 0


@hookimpl
def edgeops_connect(device: Device) -> SshSession | None:
    # A Mac host is an SSH peer too; what runs there is the Core ML backend's business.
    if device.transport not in ("ssh", "mac-host"):
        return None
    from .session import SshSession

    return SshSession(device)


@hookimpl(tryfirst=True)
def edgeops_measure(session: Session, variant: Variant, compute_unit: str) -> Measurement | None:
    """Before the probe runs on a board: a missing runtime is reported with the package to install.

    Returns None (the probe goes ahead) when the board has what the model needs.
    """
    if session.device.transport != "ssh" or variant.path is None:
        return None
    from .detect import missing_runtime
    from .session import SshSession

    if not isinstance(session, SshSession):
        return None
    problem = missing_runtime(session.describe(), variant.path.suffix)
    if problem is None:
        return None
    return failed_measurement(variant, session.device, compute_unit, "unsupported", problem)
