"""Who a request to the team studio is: its role, from its token, or admin on loopback
when no token is needed; and the check a write makes of that role."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from edgeops.studio.app import _bearer, host_name
from edgeops.studio.team.store import TeamStore, role_allows

COOKIE = "edgeops_team_token"


class TeamAccess:
    """ASGI middleware: the request's role, from its token or (loopback, no tokens needed) admin."""

    def __init__(self, app: ASGIApp, store: TeamStore, require_token: bool) -> None:
        self.app = app
        self.store = store
        self.require_token = require_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from edgeops.studio.command import is_loopback

        request = Request(scope)
        origin = request.headers.get("origin")
        if (
            request.method != "GET"
            and origin is not None
            and _origin_host(origin) != (request.headers.get("host", ""))
        ):
            # A page of another site posting here (a form needs no CORS preflight): refused,
            # so a token-less loopback studio cannot be written to from the user's browser.
            await PlainTextResponse("403: a request from another site", status_code=403)(
                scope, receive, send
            )
            return
        from_query = request.query_params.get("token")
        role, who = None, "anonymous"
        for candidate in (
            _bearer(request.headers.get("authorization", "")),
            from_query,
            request.cookies.get(COOKIE),
        ):
            if candidate:
                found = await asyncio.to_thread(self.store.token_role, candidate)
                if found:
                    role, who = found[0], f"{found[1]} ({found[0]} token)"
                    break
        if role is None:
            if self.require_token:
                await PlainTextResponse(
                    "401: this studio needs a token (?token=... or Authorization: Bearer ...)",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )(scope, receive, send)
                return
            if not is_loopback(host_name(request.headers.get("host", ""))):
                await PlainTextResponse(
                    "400: this studio answers only to 127.0.0.1 or localhost", status_code=400
                )(scope, receive, send)
                return
            role, who = "admin", "loopback"
        scope.setdefault("state", {})
        scope["state"]["role"] = role
        scope["state"]["who"] = who
        if from_query and role and request.cookies.get(COOKIE) != from_query and who != "loopback":

            async def send_with_cookie(message: Any) -> None:
                if message["type"] == "http.response.start":
                    cookie = f"{COOKIE}={from_query}; HttpOnly; SameSite=Strict; Path=/"
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                    }
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


def _origin_host(origin: str) -> str:
    """``http://127.0.0.1:8766`` -> ``127.0.0.1:8766``: what the Host header says for it."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    return parts.netloc if parts.scheme in ("http", "https") else ""


def forbidden(request: Request, needed: str) -> Response | None:
    role = request.state.role
    if role_allows(role, needed):
        return None
    return PlainTextResponse(f"403: this needs a token of role {needed} (yours: {role})", 403)
