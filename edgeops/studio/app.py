"""The studio's pages, on Starlette.

Pages: ``/`` (model groups), ``/models/{name}`` (versions and runs),
``/runs/{id}`` (one run and its report), ``/samples`` (the shared sample sets),
``/compare?a=RUN&b=RUN`` (two runs side by side). Every response carries a
Content-Security-Policy that allows this server only, so a page never reaches
the network either.

Without a token (the loopback default) only requests whose Host header names
a loopback address are answered, which stops DNS rebinding. With a token,
every request must carry it: ``Authorization: Bearer TOKEN``, or
``?token=TOKEN`` once, which sets an HttpOnly cookie for the pages and images
that follow. Tokens are compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from edgeops.models import Results
from edgeops.pipeline.history import RunRecord
from edgeops.report.gallery import Gallery, GalleryVariant
from edgeops.report.html import placement_bar_html, placement_verdict
from edgeops.studio.data import BUNDLE_FILES, StudioData

COOKIE = "edgeops_studio_token"
# The studio's own pages run no script at all.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'self'"
)


class TokenCheck:
    """ASGI middleware: refuse any request without the token (401), before routing."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = _bearer(request.headers.get("authorization", ""))
        from_query = request.query_params.get("token")
        candidates = [given, from_query, request.cookies.get(COOKIE)]
        if not any(
            c is not None and hmac.compare_digest(c.encode(), self.token) for c in candidates
        ):
            response: Response = PlainTextResponse(
                "401: this studio needs its token (?token=... or Authorization: Bearer ...)",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        query_ok = from_query is not None and hmac.compare_digest(from_query.encode(), self.token)
        if query_ok and request.cookies.get(COOKIE) != from_query:

            async def send_with_cookie(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append(
                        (
                            b"set-cookie",
                            f"{COOKIE}={from_query}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        )
                    )
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


class LoopbackHostCheck:
    """ASGI middleware: without a token, answer only requests addressed to a loopback name.

    A web page on another site can point its own host name at 127.0.0.1 (DNS
    rebinding) and read a token-less local server from the user's browser; the
    Host header it sends still names that site, so it is refused here (400).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            from edgeops.studio.command import is_loopback

            host = Request(scope).headers.get("host", "")
            if not is_loopback(host_name(host)):
                response = PlainTextResponse(
                    "400: this studio answers only to 127.0.0.1 or localhost", status_code=400
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8765`` -> ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@dataclass
class Side:
    """One run of a comparison: its record, results and gallery."""

    label: str
    run: RunRecord
    results: Results | None
    gallery: Gallery | None


def create_app(workspace: Path, token: str | None = None) -> ASGIApp:
    data = StudioData(workspace)
    pages = _Pages(data, _templates())
    routes = [
        *_model_routes(data, pages),
        *_run_routes(data, pages),
        *_sample_routes(data, pages),
        *_compare_routes(data, pages),
    ]
    app: ASGIApp = Starlette(routes=routes)
    return TokenCheck(app, token) if token else LoopbackHostCheck(app)


@dataclass
class _Pages:
    """Renders the studio's templates, each with the workspace and one security policy."""

    data: StudioData
    templates: Any

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            workspace=self.data.workspace, **context
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})

    def not_found(self, what: str) -> HTMLResponse:
        return self.page("error.html", status=404, message=what)


def _model_routes(data: StudioData, pages: _Pages) -> list[Route]:
    """The models of the history, and one model's versions and runs."""

    async def models(request: Request) -> Response:
        return pages.page("models.html", models=data.models(), spreads=data.session_spreads())

    async def model(request: Request) -> Response:
        name = request.path_params["name"]
        runs = data.models().get(name)
        if runs is None:
            return pages.not_found(f"no model {name!r} in this workspace's history")
        versions: dict[str, list[RunRecord]] = {}
        for run in runs:
            versions.setdefault(run.version, []).append(run)
        bundled = [r for r in runs if data.bundle(r) is not None]
        return pages.page("model.html", name=name, versions=versions, bundled=bundled, data=data)

    return [Route("/", models), Route("/models/{name}", model)]


def _run_routes(data: StudioData, pages: _Pages) -> list[Route]:
    """One run's page, and the files of its bundle."""

    async def run_page(request: Request) -> Response:
        run = data.run(request.path_params["run_id"])
        if run is None:
            return pages.not_found("no such run in this workspace's history")
        results = data.results(run)
        return pages.page("run.html", run=run, results=results, bundle=data.bundle(run))

    async def run_file(request: Request) -> Response:
        run = data.run(request.path_params["run_id"])
        name = request.path_params["name"]
        path = data.bundle_file(run, name) if run else None
        if path is None:
            return PlainTextResponse("404: not a file of this run's bundle", status_code=404)
        media = BUNDLE_FILES.get(name, "image/png")
        headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
        if name == "report.html":
            # The report needs nothing from anywhere: the same policy it carries itself.
            headers["Content-Security-Policy"] = (
                "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
            )
        return FileResponse(path, media_type=media, headers=headers)

    return [Route("/runs/{run_id}", run_page), Route("/runs/{run_id}/files/{name:path}", run_file)]


def _sample_routes(data: StudioData, pages: _Pages) -> list[Route]:
    """The sample sets, and one sample's picture."""

    async def samples(request: Request) -> Response:
        return pages.page("samples.html", sets=data.sample_sets())

    async def sample_png(request: Request) -> Response:
        try:
            index = int(request.path_params["index"])
        except ValueError:
            index = -1
        png = data.sample_png(request.path_params["sha"], index)
        if png is None:
            return PlainTextResponse("404: no such sample", status_code=404)
        return Response(png, media_type="image/png", headers={"X-Content-Type-Options": "nosniff"})

    return [Route("/samples", samples), Route("/samples/{sha}/{index}.png", sample_png)]


def _compare_routes(data: StudioData, pages: _Pages) -> list[Route]:
    """Two runs side by side."""

    async def compare(request: Request) -> Response:
        a_id, b_id = request.query_params.get("a", ""), request.query_params.get("b", "")
        run_a, run_b = data.run(a_id), data.run(b_id)
        if run_a is None or run_b is None:
            return pages.page(
                "error.html",
                status=404,
                message="compare needs two runs of this history: /compare?a=RUN&b=RUN",
            )
        sides = [
            Side(label, run, data.results(run), data.gallery(run))
            for label, run in (("A", run_a), ("B", run_b))
        ]
        return pages.page(
            "compare.html", a=sides[0], b=sides[1], view=compare_view(sides[0], sides[1])
        )

    return [Route("/compare", compare)]


# --------------------------------------------------------------------------- compare


@dataclass
class ProfileCompare:
    profile_id: str
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    checks: list[Any]
    samples: list[int]
    gallery_a: GalleryVariant | None
    gallery_b: GalleryVariant | None


def compare_view(a: Side, b: Side) -> dict[str, Any]:
    """Per profile: both primaries' figures, the gate's checks, and shared samples."""
    from edgeops.errors import EdgeopsError
    from edgeops.gate.compare import gate

    if a.results is None or b.results is None:
        missing = [s.label for s in (a, b) if s.results is None]
        # Every key the template reads (it is strict): a missing one was a 500.
        return {
            "error": f"run {' and '.join(missing)} has no bundle any more (replaced by a later "
            "run, or removed)",
            "profiles": [],
            "same_samples": False,
            "report": None,
        }
    report, error = None, None
    try:
        report = gate(a.results, b.results, names=(f"run {a.run.run_id}", f"run {b.run.run_id}"))
    except EdgeopsError as exc:
        error = str(exc)
    except ValueError as exc:  # e.g. measurements without raw samples
        error = f"the gate cannot compare these runs: {exc}"
    same_samples = (
        a.results.samples is not None
        and b.results.samples is not None
        and a.results.samples.sha256 == b.results.samples.sha256
    )
    profile_ids = list(
        dict.fromkeys(
            [p.profile_id for p in a.results.plans] + [p.profile_id for p in b.results.plans]
        )
    )
    gates = {p.profile_id: p for p in report.profiles} if report else {}
    profiles = []
    for pid in profile_ids:
        sa, sb = _primary(a.results, pid), _primary(b.results, pid)
        ga = _gallery_variant(a.gallery, sa["variant_id"] if sa else None)
        gb = _gallery_variant(b.gallery, sb["variant_id"] if sb else None)
        shown: list[int] = []
        if ga and gb and same_samples:
            # Only samples with a picture on both sides: a detector's outputs have none
            # (boxes are not drawn), and were shown as empty frames.
            in_b = {s.index for s in gb.samples if s.output or s.diff}
            shown = [s.index for s in ga.samples if s.index in in_b and (s.output or s.diff)]
        profiles.append(
            ProfileCompare(
                profile_id=pid,
                a=sa,
                b=sb,
                checks=list(gates[pid].checks) if pid in gates else [],
                samples=shown,
                gallery_a=ga,
                gallery_b=gb,
            )
        )
    return {"error": error, "profiles": profiles, "same_samples": same_samples, "report": report}


def _primary(results: Results, profile_id: str) -> dict[str, Any] | None:
    from edgeops.gate.compare import measurement_rounds
    from edgeops.gate.stats import median_interval

    plan = next((p for p in results.plans if p.profile_id == profile_id), None)
    if plan is None or not plan.choices:
        return None
    choice = plan.choices[0]
    m = next(
        (
            m
            for m in results.measurements
            if m.profile_id == profile_id
            and m.variant_id == choice.variant_id
            and m.compute_unit == choice.compute_unit
        ),
        None,
    )
    interval = None
    if m is not None and len(m.samples_ms) >= 2 and min(m.samples_ms) > 0:
        interval = median_interval(measurement_rounds(m))
    return {
        "variant_id": choice.variant_id,
        "name": choice.variant_name,
        "compute_unit": choice.compute_unit,
        "method": choice.method,
        "p50_ms": m.p50_ms if m else choice.expected_p50_ms,
        "interval": interval,
        "size_bytes": choice.size_bytes,
        "peak_mem_mb": choice.peak_mem_mb,
        "quality": choice.quality.get(results.spec.quality.metric),
        "metric": results.spec.quality.metric,
        "status": plan.status,
        "fallbacks": [f"{c.variant_name} [{c.compute_unit}]" for c in plan.choices[1:]],
    }


def _gallery_variant(gallery: Gallery | None, variant_id: str | None) -> GalleryVariant | None:
    if gallery is None or variant_id is None:
        return None
    return next((v for v in gallery.variants if v.variant_id == variant_id), None)


def _figure(value: float | None, unit: str) -> str:
    """A gate check's figure in its unit; a file size in MB, never raw bytes ("162504.000")."""
    if value is None:
        return ""
    if unit == "bytes":
        return f"{value / 1e6:.2f} MB"
    return f"{value:.3f} {unit}".rstrip()


def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edgeops.studio", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mb"] = lambda b: "" if b is None else f"{b / 1e6:.2f}"
    env.filters["num"] = lambda v, d=3: "" if v is None else f"{v:.{d}f}"
    env.filters["figure"] = _figure
    env.globals["placement_bar"] = placement_bar_html
    env.globals["placement_verdict"] = placement_verdict
    return env
