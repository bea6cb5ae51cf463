"""``edgeops publish BUNDLE --to URL``: send a run to a team store.

``URL`` is a database (``postgresql://…``, ``sqlite:///…``: written directly,
the file store being a folder this machine reaches) or a studio
(``http(s)://HOST:PORT``: the bundle goes as one zip to its ``/api/publish``
with a token of role ``publish``, from ``--token``, ``$EDGEOPS_STUDIO_TOKEN``
or ``?token=`` in the URL).

What is sent: ``manifest.json``, ``results.json``, ``report.html``, ``report.md``,
the gallery (``gallery/gallery.json`` and the PNGs it names), the run's samples
(``samples.npz``, when its workspace still holds them) and, with
``--with-variants``, ``variants/*``. Each is a regular file inside the bundle,
read within :data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path, PurePosixPath

from edgeops.errors import UsageError
from edgeops.models import Results
from edgeops.studio.team.store import BundleFiles, PublishResult, TeamStore, is_db_url

# A bundle file larger than this is refused before it is read (variants included).
MAX_FILE_BYTES = 2 * 1024**3
# The whole zip a client sends to a studio's /api/publish.
MAX_PUBLISH_BYTES = 1024**3
TOP_FILES = ("manifest.json", "results.json", "report.html", "report.md")
SAMPLES_NAME = "samples.npz"
SAMPLE_SET_NAME = "sample-set.json"
# The file ``ship --samples-from`` leaves beside the samples it fetched.
SAMPLE_SET_MARK = ".studio-sample-set.json"
PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
ALLOWED_NAME = re.compile(
    rf"^(?:manifest\.json|results\.json|report\.html|report\.md|{re.escape(SAMPLES_NAME)}|"
    rf"{re.escape(SAMPLE_SET_NAME)}|gallery/{PART}(?:/{PART})*|variants/{PART})$"
)
BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


def check_branch(branch: str) -> str:
    if not BRANCH.fullmatch(branch) or ".." in branch:
        raise UsageError(
            f"--branch {branch!r} is not a branch name; use letters, digits, '.', '_', '-', '/'"
        )
    return branch


def check_member_name(name: str) -> str:
    """A file name from a zip or a bundle: one of the shapes a bundle has, nothing else."""
    if not ALLOWED_NAME.fullmatch(name) or ".." in PurePosixPath(name).parts:
        raise UsageError(f"{name!r} is not a file a bundle holds; refused")
    return name


def _regular(path: Path, bundle: Path) -> Path:
    """``path`` if it is a regular file inside ``bundle`` within bounds, else a UsageError."""
    if path.is_symlink() or not path.is_file():
        raise UsageError(f"{path} is not a regular file; a bundle holds only regular files")
    if not path.resolve().is_relative_to(bundle.resolve()):
        raise UsageError(f"{path} resolves outside the bundle; refused")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is over {MAX_FILE_BYTES // 1024**2} MB; refused")
    return path


def read_bundle(folder: Path, with_variants: bool = False) -> BundleFiles:
    from edgeops.report.gallery import read_gallery

    if not folder.is_dir() or not (folder / "results.json").is_file():
        raise UsageError(f"{folder} is not a bundle (no results.json); give a bundle folder")
    try:
        results = Results.model_validate_json(
            _regular(folder / "results.json", folder).read_bytes()
        )
    except ValueError as exc:
        raise UsageError(f"{folder}/results.json does not read as results ({exc})") from exc
    bundle = BundleFiles(results=results)
    for name in TOP_FILES:
        if (folder / name).exists():
            bundle.files[name] = _regular(folder / name, folder)
    gallery = read_gallery(folder)
    if gallery is not None:
        bundle.files["gallery/gallery.json"] = _regular(folder / "gallery/gallery.json", folder)
        for name in sorted(gallery.files()):
            bundle.files[check_member_name(name)] = _regular(folder / name, folder)
    if with_variants and (folder / "variants").is_dir():
        for path in sorted((folder / "variants").iterdir()):
            bundle.files[check_member_name(f"variants/{path.name}")] = _regular(path, folder)
    samples = results.samples
    if samples is not None:
        path = Path(samples.path)
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES:
            from edgeops.files import sha256_file

            # The workspace's copy, if it is still the one the run used.
            if sha256_file(path) == samples.sha256:
                bundle.samples = path
        bundle.sample_set_ref = _sample_set_mark(Path(samples.origin))
    return bundle


def _sample_set_mark(origin: Path) -> tuple[str, int] | None:
    mark = origin / SAMPLE_SET_MARK
    try:
        data = json.loads(mark.read_text()) if mark.is_file() else None
        return (str(data["name"]), int(data["version"])) if data else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def publish(
    bundle_dir: Path,
    to: str,
    with_variants: bool = False,
    branch: str = "main",
    files_dir: Path | None = None,
    token: str | None = None,
) -> PublishResult:
    check_branch(branch)
    bundle = read_bundle(bundle_dir, with_variants)
    if is_db_url(to):
        store = TeamStore(to, files_dir)
        try:
            return store.publish(bundle, branch=branch)
        finally:
            store.close()
    if to.startswith(("http://", "https://")):
        return publish_http(bundle, to, branch, token)
    raise UsageError(
        f"--to {to!r} is not a store; give postgresql://…, sqlite:///PATH or a studio's http(s)://HOST:PORT"
    )


def bundle_zip(bundle: BundleFiles) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        for name, source in sorted(bundle.files.items()):
            data = source if isinstance(source, bytes) else source.read_bytes()
            z.writestr(name, data)
        if bundle.samples is not None:
            s = bundle.samples
            z.writestr(SAMPLES_NAME, s if isinstance(s, bytes) else s.read_bytes())
        if bundle.sample_set_ref is not None:
            name, version = bundle.sample_set_ref
            z.writestr(SAMPLE_SET_NAME, json.dumps({"name": name, "version": version}))
    return buffer.getvalue()


def bundle_from_zip(data: bytes) -> BundleFiles:
    """A bundle sent to /api/publish, read in memory: names are checked, nothing is extracted."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UsageError("the body is not a zip of a bundle") from exc
    members: dict[str, bytes] = {}
    with z:
        for info in z.infolist():
            if info.is_dir():
                continue
            check_member_name(info.filename)
            if info.file_size > MAX_FILE_BYTES:
                raise UsageError(f"{info.filename} is too large; refused")
            members[info.filename] = z.read(info)
    if "results.json" not in members:
        raise UsageError("the zip holds no results.json; send a bundle")
    try:
        raw_results = members["results.json"]
        results = Results.model_validate_json(raw_results)
    except ValueError as exc:
        raise UsageError(f"results.json does not read as results ({str(exc)[:200]})") from exc
    bundle = BundleFiles(results=results)
    members.pop("results.json")
    bundle.samples = members.pop(SAMPLES_NAME, None)
    ref = members.pop(SAMPLE_SET_NAME, None)
    if ref is not None:
        try:
            data_ref = json.loads(ref)
            bundle.sample_set_ref = (str(data_ref["name"]), int(data_ref["version"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{SAMPLE_SET_NAME} is not a sample set reference") from exc
    bundle.files = {"results.json": raw_results, **members}
    return bundle


def studio_token(url: str, token: str | None) -> tuple[str, str | None]:
    """The studio's base URL and the token: ``--token``, then the URL's ``?token=``, then the env."""
    from urllib.parse import parse_qs, urlsplit, urlunsplit

    parts = urlsplit(url)
    in_url = parse_qs(parts.query).get("token", [None])[0]
    base = urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
    return base, token or in_url or os.environ.get("EDGEOPS_STUDIO_TOKEN")


def publish_http(bundle: BundleFiles, url: str, branch: str, token: str | None) -> PublishResult:
    import urllib.error
    import urllib.parse
    import urllib.request

    base, token = studio_token(url, token)
    body = bundle_zip(bundle)
    if len(body) > MAX_PUBLISH_BYTES:
        raise UsageError(
            f"the bundle is {len(body) // 1024**2} MB, over the studio's {MAX_PUBLISH_BYTES // 1024**2} MB; "
            "publish without --with-variants"
        )
    headers = {"Content-Type": "application/zip"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}/api/publish?branch={urllib.parse.quote(branch)}",
        data=body,
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        hint = " (give a token of role publish: --token or $EDGEOPS_STUDIO_TOKEN)"
        raise UsageError(
            f"the studio refused the publish: HTTP {exc.code} {detail}"
            + (hint if exc.code in (401, 403) else "")
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot reach the studio at {base} ({exc}); check --to") from exc
    return PublishResult(**answer)
