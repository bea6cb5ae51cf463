"""``edgeops studio serve``: the team's pages and API over a :class:`TeamStore`.

Pages (GET, role ``read``): ``/`` model groups; ``/groups/{name}`` its versions by
branch and their runs per profile; ``/runs/{run_id}`` one run and its files;
``/samples`` the sample sets (and the upload form); ``/sample-sets/{name}/{version}``
one set; ``/compare?v=ID&v=ID…`` versions side by side; ``/try`` the "Try it" form.

Writes (role ``publish``): ``POST /samples`` (a new sample set version),
``POST /try`` (run variants on an image, in a bounded worker), ``POST /api/publish``
(a bundle as one zip). Role ``admin``: ``POST /api/tokens`` (a new token).

Access: a token (``Authorization: Bearer``, or ``?token=`` once, which sets an
HttpOnly, SameSite=Strict cookie) names a role; tokens live hashed in the store.
On a non-loopback address every request needs one; on loopback without
``--require-token`` requests addressed to a loopback name are answered as admin.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp

from edgeops.models import Results
from edgeops.studio.app import CSP, _primary
from edgeops.studio.team import uploads
from edgeops.studio.team.access import TeamAccess, forbidden
from edgeops.studio.team.schema import ModelVersion, Run
from edgeops.studio.team.store import TeamStore

RUN_ID = re.compile(r"^[0-9a-f]{12}$")
MAX_COMPARE = 6
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass
class Side:
    label: str
    version: ModelVersion
    run: Run | None
    results: Results | None
    gallery: Any


def create_team_app(store: TeamStore, require_token: bool = False) -> ASGIApp:
    pages = _TeamPages(store, _templates())
    routes = [
        *_browse_routes(store, pages),
        *_sample_routes(store, pages),
        *_sample_set_routes(store, pages),
        *_compare_routes(store, pages),
        *_try_routes(store, pages),
        *_api_routes(store),
    ]
    return TeamAccess(Starlette(routes=routes), store, require_token)


@dataclass
class _TeamPages:
    """Renders the team's templates, each with the store's address and one security policy."""

    store: TeamStore
    templates: Any

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            store_url=_shown(self.store.url), **context
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})

    def error(self, message: str, status: int) -> HTMLResponse:
        return self.page("team_error.html", status=status, message=message)


def _browse_routes(store: TeamStore, pages: _TeamPages) -> list[Route]:
    """The model groups, one group's versions, one run and its files."""

    async def home(request: Request) -> Response:
        groups = await asyncio.to_thread(store.groups)
        runs = (await asyncio.to_thread(store.runs))[:20]
        return pages.page("team_home.html", groups=groups, runs=runs)

    async def group(request: Request) -> Response:
        found = await asyncio.to_thread(store.group, request.path_params["name"])
        if found is None:
            return pages.error("no such model group", 404)
        branches: dict[str, list[ModelVersion]] = {}
        for v in sorted(found.versions, key=lambda v: (v.branch, v.created_at), reverse=True):
            branches.setdefault(v.branch, []).append(v)
        return pages.page("team_group.html", group=found, branches=branches)

    async def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run, results = await asyncio.to_thread(_run_and_results, store, run_id)
        if run is None:
            return pages.error("no such run in this store", 404)
        return pages.page("team_run.html", run=run, results=results)

    async def run_file(request: Request) -> Response:
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        run = await asyncio.to_thread(store.run, run_id) if RUN_ID.fullmatch(run_id) else None
        sha = store.file_of(run, name) if run else None
        if sha is None or not store.files.has(sha):
            return PlainTextResponse("404: not a file of this run", status_code=404)
        media = {
            ".html": "text/html",
            ".md": "text/markdown",
            ".json": "application/json",
            ".png": "image/png",
        }
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
        if name == "report.html":
            headers["Content-Security-Policy"] = (
                "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
            )
        return FileResponse(
            store.files.path(sha),
            media_type=media.get(suffix, "application/octet-stream"),
            headers=headers,
        )

    return [
        Route("/", home),
        Route("/groups/{name}", group),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/files/{name:path}", run_file),
    ]


def _sample_routes(store: TeamStore, pages: _TeamPages) -> list[Route]:
    """The sample sets, and a new set's upload (role ``publish``)."""

    async def samples(request: Request) -> Response:
        if request.method == "POST":
            return await upload_samples(request)
        sets = await asyncio.to_thread(store.sample_sets)
        return pages.page("team_samples.html", sets=sets, message=None)

    async def upload_samples(request: Request) -> Response:
        refused = forbidden(request, "publish")
        if refused:
            return refused
        try:
            form = await uploads.bounded_form(request)
            name = uploads.check_name(str(form.get("name") or ""))
            files = [f for f in form.getlist("files") if hasattr(f, "read")]
            if not files:
                raise uploads.UploadError("no files: choose images or .npy files to upload")
            items: list[tuple[str, str, bytes]] = []
            for i, f in enumerate(files):
                data = await f.read(uploads.MAX_FILE_BYTES + 1)
                label = uploads.label_of(getattr(f, "filename", None), i)
                items.extend((c.label, c.kind, c.data) for c in uploads.check_file(label, data))
            if len(items) > uploads.MAX_FILES:
                raise uploads.UploadError(f"more than {uploads.MAX_FILES} files", status=413)
        except uploads.UploadError as exc:
            return pages.error(str(exc), exc.status)
        created = await asyncio.to_thread(store.add_sample_set, name, items, str(request.state.who))
        return RedirectResponse(f"/sample-sets/{created.name}/{created.version}", status_code=303)

    return [Route("/samples", samples, methods=["GET", "POST"])]


def _sample_set_routes(store: TeamStore, pages: _TeamPages) -> list[Route]:
    """One sample set: its page, its items, and its JSON for ``ship --samples-from``."""

    async def sample_set(request: Request) -> Response:
        found = await _sample_set(request)
        if found is None:
            return pages.error("no such sample set", 404)
        return pages.page("team_sample_set.html", s=found)

    async def _sample_set(request: Request) -> Any:
        name = request.path_params["name"]
        try:
            version = int(request.path_params["version"])
        except ValueError:
            return None
        if not uploads.NAME.fullmatch(name):
            return None
        return await asyncio.to_thread(store.sample_set, name, version)

    async def sample_item(request: Request) -> Response:
        found = await _sample_set(request)
        try:
            index = int(request.path_params["index"])
        except ValueError:
            index = -1
        item = next((i for i in found.items if i.index == index), None) if found else None
        if item is None or not store.files.has(item.blob_sha256):
            return PlainTextResponse("404: no such sample", status_code=404)
        media = IMAGE_TYPES.get(item.kind, "application/octet-stream")
        return FileResponse(
            store.files.path(item.blob_sha256),
            media_type=media,
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP},
        )

    async def sample_set_api(request: Request) -> Response:
        found = await _sample_set(request)
        if found is None:
            return JSONResponse({"error": "no such sample set"}, status_code=404)
        return JSONResponse(
            {
                "name": found.name,
                "version": found.version,
                "sha256": found.sha256,
                "created_by": found.created_by,
                "created_at": found.created_at.isoformat(),
                "items": [
                    {"index": i.index, "label": i.label, "kind": i.kind, "sha256": i.blob_sha256}
                    for i in found.items
                ],
            }
        )

    return [
        Route("/sample-sets/{name}/{version}", sample_set),
        Route("/sample-sets/{name}/{version}/items/{index}", sample_item),
        Route("/api/sample-sets/{name}/{version}", sample_set_api),
    ]


def _compare_routes(store: TeamStore, pages: _TeamPages) -> list[Route]:
    """Versions side by side, the oldest as the baseline."""

    async def compare(request: Request) -> Response:
        ids = request.query_params.getlist("v")
        if not 2 <= len(ids) <= MAX_COMPARE or not all(i.isdigit() for i in ids):
            return pages.error(
                f"compare needs 2 to {MAX_COMPARE} versions: /compare?v=ID&v=ID", 400
            )
        sides = []
        for n, version_id in enumerate(ids):
            side = await asyncio.to_thread(_side, store, int(version_id), chr(ord("A") + n))
            if side is None:
                return pages.error(f"no version {version_id} in this store", 404)
            sides.append(side)
        # Oldest first: A is the baseline every later version is gated against.
        sides.sort(key=lambda s: (s.version.created_at, s.version.id))
        for n, side in enumerate(sides):
            side.label = chr(ord("A") + n)
        view = await asyncio.to_thread(compare_versions, sides)
        return pages.page("team_compare.html", sides=sides, view=view)

    return [Route("/compare", compare)]


def _try_routes(store: TeamStore, pages: _TeamPages) -> list[Route]:
    """ "Try it": chosen variants run on an uploaded image, in a bounded worker."""

    async def try_page(request: Request) -> Response:
        choices = await asyncio.to_thread(_try_choices, store)
        if request.method == "GET":
            return pages.page("team_try.html", choices=choices, answer=None, message=None)
        refused = forbidden(request, "publish")
        if refused:
            return refused
        try:
            form = await uploads.bounded_form(request)
            image = form.get("image")
            if image is None or not hasattr(image, "read"):
                raise uploads.UploadError("choose an image to try")
            data = await image.read(uploads.MAX_FILE_BYTES + 1)
            label = uploads.label_of(getattr(image, "filename", None), 0)
            (checked,) = uploads.check_file(label, data)[:1]
            if checked.kind not in IMAGE_TYPES:
                raise uploads.UploadError(f"{label} is not a PNG or JPEG image", status=415)
            wanted = [str(v) for v in form.getlist("variant")]
            chosen = [c for c in choices if c["key"] in wanted]
            if not chosen or len(chosen) != len(set(wanted)):
                raise uploads.UploadError("choose one or more of the listed variants")
        except uploads.UploadError as exc:
            return pages.error(str(exc), exc.status)
        from edgeops.studio.team.tryit import run_bounded

        request_body = {
            "image": base64.b64encode(checked.data).decode(),
            "value_range": chosen[0]["value_range"],
            "variants": [
                {
                    "variant_id": c["variant_id"],
                    "name": c["label"],
                    "format": c["format"],
                    "path": str(store.files.path(c["sha256"])),
                }
                for c in chosen
            ],
        }
        answer = {
            "error": None,
            "variants": [],
            **await asyncio.to_thread(run_bounded, request_body),
        }
        blank: dict[str, Any] = {
            "png": None,
            "error": None,
            "top": None,
            "median_ms": None,
            "times_ms": [],
        }
        answer["variants"] = [{**blank, "shape": None, **v} for v in answer["variants"]]
        image_b64 = base64.b64encode(checked.data).decode()
        return pages.page(
            "team_try.html",
            choices=choices,
            answer=answer,
            image=f"data:{IMAGE_TYPES[checked.kind]};base64,{image_b64}",
            message=None,
        )

    return [Route("/try", try_page, methods=["GET", "POST"])]


def _api_routes(store: TeamStore) -> list[Route]:
    """A bundle published as one zip (role ``publish``), a new token (role ``admin``)."""

    async def api_publish(request: Request) -> Response:
        refused = forbidden(request, "publish")
        if refused:
            return refused
        from edgeops.errors import UsageError
        from edgeops.studio.team.publish import (
            MAX_PUBLISH_BYTES,
            bundle_from_zip,
            check_branch,
        )

        try:
            body = await uploads.bounded_body(request, MAX_PUBLISH_BYTES)
            branch = check_branch(request.query_params.get("branch", "main"))
            bundle = await asyncio.to_thread(bundle_from_zip, body)
        except uploads.UploadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        result = await asyncio.to_thread(
            store.publish, bundle, branch, f"{request.state.who} via http"
        )
        return JSONResponse(result.__dict__)

    async def api_tokens(request: Request) -> Response:
        refused = forbidden(request, "admin")
        if refused:
            return refused
        role = request.query_params.get("role", "read")
        from edgeops.errors import UsageError

        try:
            token = await asyncio.to_thread(store.create_token, role, "api")
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"role": role, "token": token})

    return [
        Route("/api/publish", api_publish, methods=["POST"]),
        Route("/api/tokens", api_tokens, methods=["POST"]),
    ]


def _side(store: TeamStore, version_id: int, label: str) -> Side | None:
    version = store.version(version_id)
    if version is None:
        return None
    runs = sorted(version.runs, key=lambda r: r.published_at, reverse=True)
    for run in runs:
        results = store.results_of(run)
        if results is not None:
            return Side(label, version, run, results, _gallery(store, run))
    return Side(label, version, runs[0] if runs else None, None, None)


def _gallery(store: TeamStore, run: Run) -> Any:
    from edgeops.report.gallery import Gallery

    sha = store.file_of(run, "gallery/gallery.json")
    if sha is None:
        return None
    try:
        return Gallery.model_validate_json(store.files.read(sha))
    except (OSError, ValueError):
        return None


def compare_versions(sides: list[Side]) -> dict[str, Any]:
    """Per profile each side's primary; the gate of each side against A; shared samples."""
    import edgeops.api
    from edgeops.errors import EdgeopsError

    usable = [s for s in sides if s.results is not None]
    base = sides[0]
    verdicts: dict[str, Any] = {}
    for side in sides[1:]:
        if base.results is None or side.results is None:
            verdicts[side.label] = {"verdict": None, "profiles": {}, "error": "no results"}
            continue
        try:
            report = edgeops.api.gate(base.results, side.results)
            verdicts[side.label] = {
                "verdict": report.verdict,
                "profiles": {p.profile_id: p for p in report.profiles},
                "error": None,
            }
        except (EdgeopsError, ValueError) as exc:
            verdicts[side.label] = {
                "verdict": None,
                "profiles": {},
                "error": f"the gate cannot compare these: {exc}",
            }
    profile_ids = list(
        dict.fromkeys(p.profile_id for s in usable for p in s.results.plans)  # type: ignore[union-attr]
    )
    rows = []
    for pid in profile_ids:
        rows.append(
            {
                "profile_id": pid,
                "sides": [
                    _primary(s.results, pid) if s.results is not None else None for s in sides
                ],
            }
        )
    shas = {s.results.samples.sha256 for s in usable if s.results and s.results.samples}
    same = len(usable) == len(sides) and len(shas) == 1
    samples: list[dict[str, Any]] = []
    if same:
        outputs = []
        for s, row_side in zip(sides, rows[0]["sides"] if rows else [], strict=False):
            gv = None
            if s.gallery is not None and row_side is not None:
                gv = next(
                    (v for v in s.gallery.variants if v.variant_id == row_side["variant_id"]),
                    None,
                )
            outputs.append({x.index: x for x in gv.samples} if gv else {})
        common = set(outputs[0]) if outputs else set()
        for o in outputs[1:]:
            common &= set(o)
        for index in sorted(common)[:8]:
            first = base.gallery.sample(index) if base.gallery else None
            samples.append(
                {
                    "index": index,
                    "input": first.input if first else None,
                    "outputs": [o[index] for o in outputs],
                }
            )
    sample_sets = [
        (s.run.sample_set.name, s.run.sample_set.version)
        if s.run is not None and s.run.sample_set is not None
        else None
        for s in sides
    ]
    return {
        "rows": rows,
        "verdicts": verdicts,
        "same_samples": same,
        "samples": samples,
        "sample_sets": sample_sets,
    }


def _try_choices(store: TeamStore) -> list[dict[str, Any]]:
    """Variants that "Try it" can run: files of runs published ``--with-variants``."""
    choices = []
    for summary in store.runs():
        if not summary.with_variants:
            continue
        run = store.run(summary.run_id)
        if run is None:
            continue
        manifest_sha = store.file_of(run, "manifest.json")
        results = store.results_of(run)
        if manifest_sha is None or results is None:
            continue
        try:
            manifest = json.loads(store.files.read(manifest_sha))
        except (OSError, ValueError):
            continue
        first = results.spec.inputs[0] if results.spec.inputs else None
        for variant_id, v in sorted(manifest.get("variants", {}).items()):
            sha = store.file_of(run, str(v.get("file")))
            if sha is None:
                continue
            choices.append(
                {
                    "key": f"{run.run_id}:{variant_id}",
                    "variant_id": variant_id,
                    "format": str(v.get("format")),
                    "label": f"{run.version.group.name} {run.version.version} "
                    f"[{run.version.branch}] {v.get('format')} {v.get('recipe')}",
                    "sha256": sha,
                    "value_range": list(first.value_range) if first else [0.0, 1.0],
                }
            )
    return choices


def _shown(url: str) -> str:
    from edgeops.studio.team.store import redacted

    return redacted(url)


def _run_and_results(store: TeamStore, run_id: str) -> tuple[Run | None, Results | None]:
    """The run ``run_id`` names (a well-formed id only) and its results, if it has them."""
    run = store.run(run_id) if RUN_ID.fullmatch(run_id) else None
    return run, (store.results_of(run) if run is not None else None)


def _templates() -> Any:
    from edgeops.studio.app import _templates as studio_templates

    return studio_templates()
