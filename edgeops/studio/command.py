"""``edgeops studio``: serve the studio on uvicorn.

127.0.0.1 by default, with no token: only this machine's users reach it. Any
other address needs a token on every request; without ``--token`` one is
generated and printed once.
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import socket
import sys
from typing import Any

LOOPBACK_HOST = "127.0.0.1"


def add_studio_parser(sub: Any) -> None:
    studio = sub.add_parser(
        "studio",
        help="serve a local web app over the workspace's runs: reports, samples, comparisons",
        description="serve a local web app over the workspace's runs: reports, samples, comparisons",
    )
    studio.add_argument(
        "--host", default=LOOPBACK_HOST, help="address to listen on (default 127.0.0.1)"
    )
    studio.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    studio.add_argument(
        "--token",
        help="require this token on every request (always required off loopback; generated if absent)",
    )
    from edgeops.studio.team.command import add_team_parsers

    add_team_parsers(studio)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_studio(args: argparse.Namespace) -> int:
    from edgeops.errors import UsageError

    if getattr(args, "studio_command", None):
        from edgeops.studio.team.command import cmd_team

        return cmd_team(args)

    try:
        import uvicorn

        from edgeops.studio.app import create_app
    except ImportError as exc:
        raise UsageError(f"the studio needs {exc.name}: install edgeops[studio]") from exc
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port; give 0 to 65535")
    if not args.workspace.is_dir():
        raise UsageError(
            f"no workspace at {args.workspace}; run `edgeops ship` first or pass --workspace"
        )
    token = args.token
    if token is not None and len(token) < 16:
        raise UsageError("--token is too short to guess-proof; give at least 16 characters")
    if token is None and not is_loopback(args.host):
        token = secrets.token_urlsafe(24)
    app = create_app(args.workspace, token=token)
    sock = _bind(args.host, args.port)
    # Bound before serving, so the printed address is real even for --port 0.
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    sys.stdout.write(
        f"edgeops studio: http://{shown}:{port}/{f'?token={token}' if token else ''}\n"
    )
    if token and args.token is None:
        sys.stdout.write("edgeops studio: the token above is generated and shown only once\n")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    from edgeops.errors import UsageError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or --host"
        ) from exc
    sock.listen(128)
    return sock
