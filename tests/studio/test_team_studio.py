"""`edgeops studio serve`: the team studio as a real server over a real PostgreSQL store,
real publishes from two workspaces, real ships, and Debian's Chromium in front."""

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_team_store import counts, team_run

from factories import FAST, run_cli, tiny_onnx
from studio_workspace import PageWatch, Studio, keep_screenshot, png_size

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,coreai,executorch"}


class Answer:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status_code, self.content, self.headers = status, body, headers
        self.text = body.decode(errors="replace")

    def json(self):
        import json

        return json.loads(self.content)


def request(method: str, url: str, headers=None, content: bytes | None = None) -> Answer:
    """One HTTP request with http.client: no redirect is followed, nothing is normalised."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=content, headers=headers or {})
        response = conn.getresponse()
        return Answer(
            response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
        )
    finally:
        conn.close()


def get(url: str, headers=None) -> Answer:
    return request("GET", url, headers)


def multipart(fields: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]):
    boundary = "edgeops-test-boundary-7d1c"
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    for field, (filename, data, kind) in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def png(seed: int, size: int = 40) -> bytes:
    import numpy as np
    from PIL import Image

    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def token(url: str, role: str, cwd: Path) -> str:
    result = run_cli("studio", "token", "create", "--db", url, "--role", role, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def serve(workspace: Path, url: str, files: Path, *extra: str) -> Studio:
    return Studio(workspace, "serve", "--db", url, "--files", str(files), "--port", "0", *extra)


def model_folder(root: Path, version: str) -> Path:
    """The tiny ONNX model with an edgeops.toml naming its input, so images can fit it."""
    root.mkdir(parents=True, exist_ok=True)
    tiny_onnx(root / "m.onnx")
    (root / "edgeops.toml").write_text(
        f"""[model]
name = "m"
version = "{version}"
source = "m.onnx"
recipes = ["onnx:fp32", "onnx:fp16"]

[[model.inputs]]
name = "x"
shape = [1, 3, 32, 32]
dtype = "float32"
value_range = [0.0, 1.0]
"""
    )
    return root


# --------------------------------------------------------------------------- the whole loop


@pytest.mark.slow
def test_two_workspaces_samples_compare_and_try_in_chromium(tmp_path, edgeops_pm, pg_url, browser):
    files = tmp_path / "files"
    studio = serve(tmp_path / ".edgeops", pg_url, files, "--require-token")
    try:
        admin = token(pg_url, "admin", tmp_path)
        publisher = token(pg_url, "publish", tmp_path)
        # Three runs from two workspaces, published at once over HTTP.
        bundles = [
            (team_run(tmp_path / "ws-a", edgeops_pm, "1.0.0"), "main"),
            (team_run(tmp_path / "ws-a", edgeops_pm, "1.1.0"), "main"),
            (team_run(tmp_path / "ws-b", edgeops_pm, "1.2.0"), "exp/teeth"),
        ]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edgeops",
                    "publish",
                    str(b),
                    "--to",
                    studio.base,
                    "--branch",
                    branch,
                    "--token",
                    publisher,
                    "--with-variants",  # for "Try it"
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for b, branch in bundles
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
        assert counts(pg_url)["runs"] == 3
        again = run_cli(
            "publish", str(bundles[0][0]), "--to", studio.base, "--token", publisher,
            "--with-variants", cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr
        assert counts(pg_url)["runs"] == 3

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        page.goto(f"{studio.base}/?token={admin}")
        assert "Model groups" in page.content()
        page.goto(f"{studio.base}/groups/m")
        text = page.inner_text("body")
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            assert version in text
        assert "branch main" in text and "branch exp/teeth" in text
        shot = tmp_path / "group.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "team-group.png")
        _assert_not_blank(shot)

        # Upload a sample set in the browser.
        images = []
        for i in range(4):
            path = tmp_path / f"photo-{i}.png"
            path.write_bytes(png(i))
            images.append(str(path))
        page.goto(f"{studio.base}/samples")
        page.fill("input[name=name]", "faces")
        page.set_input_files("input[name=files]", images)
        page.click("button[type=submit]")
        page.wait_for_url("**/sample-sets/faces/1")
        assert "Sample set faces v1" in page.inner_text("h1")
        assert page.locator("figure img").count() == 4
        shot = tmp_path / "samples.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "team-sample-set.png")

        # The next two ships use it, and publish themselves.
        set_url = f"{studio.base}/sample-sets/faces/1?token={publisher}"
        for version in ("2.0.0", "2.1.0"):
            model = model_folder(tmp_path / "ws-c", version)
            result = run_cli(
                "ship",
                str(model),
                "--profile",
                "host",
                *FAST,
                "--samples-from",
                set_url,
                "--publish",
                f"{studio.base}?token={publisher}",
                cwd=tmp_path / "ws-c",
                env=ONNX_ONLY,
                timeout_s=900,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            assert "published run" in result.stderr
        fetched = list((tmp_path / "ws-c" / ".edgeops" / "studio-samples").iterdir())
        assert len(fetched) == 1 and len(list(fetched[0].glob("*.npy"))) == 4

        # Compare the two versions side by side, in the browser.
        page.goto(f"{studio.base}/groups/m")
        for version in ("2.0.0", "2.1.0"):
            page.check(f"xpath=//tr[td/label[normalize-space()='{version}']]//input[@name='v']")
        page.click("button[type=submit]")
        page.wait_for_url("**/compare?**")
        text = page.inner_text("body")
        assert "Compare versions" in text and "All versions ran on the same samples" in text
        assert text.count("faces v1") == 2
        verdict = page.inner_text(".verdict")
        assert verdict in ("pass", "fail", "inconclusive")
        assert "p50 ms" in text and "size MB" in text and "peak MB" in text
        assert page.locator("section.profile").count() >= 1
        shot = tmp_path / "compare.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "team-compare.png")
        assert png_size(shot)[0] >= 1000

        # Try it: one image through two variants.
        page.goto(f"{studio.base}/try")
        page.set_input_files("input[name=image]", images[0])
        boxes = page.locator("input[name=variant]")
        assert boxes.count() >= 2
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.click("button[type=submit]")
        page.wait_for_selector("figure.tried")
        tried = page.locator("figure.tried")
        assert tried.count() == 2
        for i in range(2):
            caption = tried.nth(i).inner_text()
            assert "median" in caption and "ms over 5 runs" in caption, caption
        shot = tmp_path / "try.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "team-try.png")
        _assert_not_blank(shot)

        page.goto(f"{studio.base}/")
        shot = tmp_path / "home.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "team-home.png")
        _assert_not_blank(shot)
        watch.assert_clean()
        page.close()
    finally:
        studio.stop()


def _assert_not_blank(path: Path) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, "the screenshot is blank"


# --------------------------------------------------------------------------- hostile input


@pytest.fixture
def sqlite_studio(tmp_path):
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    files = tmp_path / "files"
    studio = serve(tmp_path / ".edgeops", url, files, "--require-token")
    tokens = {role: token(url, role, tmp_path) for role in ("read", "publish")}
    yield studio, tokens, files, url
    studio.stop()


def _upload(studio, tok, name, parts):
    body, kind = multipart({"name": name}, [("files", p) for p in parts])
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": kind}
    return request("POST", f"{studio.base}/samples", headers, body)


def _stored(files: Path) -> set[Path]:
    return {p for p in files.rglob("*") if p.is_file()} if files.exists() else set()


def test_roles_decide_what_a_token_may_do(sqlite_studio):
    studio, tokens, _, _ = sqlite_studio
    assert get(f"{studio.base}/").status_code == 401
    wrong = {"Authorization": "Bearer not-a-token-of-this-store"}
    assert get(f"{studio.base}/", wrong).status_code == 401
    read = {"Authorization": f"Bearer {tokens['read']}"}
    assert get(f"{studio.base}/samples", read).status_code == 200
    refused = _upload(studio, tokens["read"], "s", [("a.png", png(0), "image/png")])
    assert refused.status_code == 403
    assert request("POST", f"{studio.base}/api/publish", read, b"x").status_code == 403
    assert request("POST", f"{studio.base}/api/tokens?role=admin", read).status_code == 403
    ok = _upload(studio, tokens["publish"], "s", [("a.png", png(0), "image/png")])
    assert ok.status_code == 303 and ok.headers["location"] == "/sample-sets/s/1"
    made = get(f"{studio.base}/api/sample-sets/s/1", read).json()
    assert made["created_by"] == "publish (publish token)" and made["created_at"]
    second = _upload(studio, tokens["publish"], "s", [("b.png", png(1), "image/png")])
    assert second.headers["location"] == "/sample-sets/s/2"  # the next version of the set
    # A form posted from another site's page is refused whatever it carries.
    body, kind = multipart({"name": "s"}, [("files", ("a.png", png(0), "image/png"))])
    cross = request(
        "POST",
        f"{studio.base}/samples",
        {
            "Content-Type": kind,
            "Origin": "http://evil.example",
            "Authorization": f"Bearer {tokens['publish']}",
        },
        body,
    )
    assert cross.status_code == 403


def test_hostile_uploads_are_refused_and_store_nothing(sqlite_studio, tmp_path):
    studio, tokens, files, _ = sqlite_studio
    tok = tokens["publish"]
    before = _stored(files)

    def zipped(*names: str) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            for n in names:
                z.writestr(n, png(1))
        return buffer.getvalue()

    import numpy as np

    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases = [
        (
            "oversize file",
            "s",
            [("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (17 << 20), "image/png")],
            413,
        ),
        ("wrong type", "s", [("x.png", b"#!/bin/sh\necho hi\n", "image/png")], 415),
        (
            "a PNG that is not one",
            "s",
            [("x.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")],
            400,
        ),
        ("a pickle in .npy", "s", [("x.npy", pickled.getvalue(), "application/octet-stream")], 400),
        ("zip-slip ..", "s", [("z.zip", zipped("../evil.png"), "application/zip")], 400),
        ("zip-slip absolute", "s", [("z.zip", zipped("/tmp/evil.png"), "application/zip")], 400),
        ("zip with a folder", "s", [("z.zip", zipped("a/b.png"), "application/zip")], 400),
        ("a path in the name field", "../../etc", [("a.png", png(2), "image/png")], 400),
        ("an absolute path in the name", "/tmp/x", [("a.png", png(2), "image/png")], 400),
    ]
    for what, name, parts, status in cases:
        response = _upload(studio, tok, name, parts)
        assert response.status_code == status, (what, response.status_code, response.text[:300])
    # A whole request over the bound is refused before it is parsed.
    huge = request(
        "POST",
        f"{studio.base}/samples",
        {"Authorization": f"Bearer {tok}", "Content-Type": "multipart/form-data; boundary=b"},
        b"x" * ((64 << 20) + 1),
    )
    assert huge.status_code == 413
    assert _stored(files) == before
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/evil.png").exists()
    # The uploader's file name is a label only: a path in it is cut to its last part.
    ok = _upload(studio, tok, "s", [("../../../outside.png", png(3), "image/png")])
    assert ok.status_code == 303
    listing = get(f"{studio.base}/api/sample-sets/s/1", {"Authorization": f"Bearer {tok}"}).json()
    assert [i["label"] for i in listing["items"]] == ["outside.png"]
    assert not (tmp_path / "outside.png").exists()
    # A bundle zip naming a path outside is refused whole.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("results.json", "{}")
        z.writestr("../../escape.txt", "x")
    refused = request(
        "POST", f"{studio.base}/api/publish", {"Authorization": f"Bearer {tok}"}, buffer.getvalue()
    )
    assert refused.status_code == 400 and "not a file a bundle holds" in refused.json()["error"]
    # Names in URLs never reach the file system.
    read = {"Authorization": f"Bearer {tokens['read']}"}
    for path in (
        "/runs/..%2F..%2Fetc/files/passwd",
        "/sample-sets/..%2F..%2Fetc/1/items/0",
        "/sample-sets/s/1/items/..%2F..%2Fpasswd",
        "/compare?v=../x&v=1",
    ):
        assert get(f"{studio.base}{path}", read).status_code in (400, 404), path


def test_off_loopback_serve_prints_an_admin_token_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    studio = Studio(tmp_path / ".edgeops", "serve", "--db", url, "--host", "0.0.0.0", "--port", "0")
    try:
        admin = studio.url.split("?token=", 1)[1]
        base = studio.base.replace("0.0.0.0", "127.0.0.1")
        assert get(f"{base}/").status_code == 401
        made = request(
            "POST", f"{base}/api/tokens?role=read", {"Authorization": f"Bearer {admin}"}
        ).json()
        assert made["role"] == "read"
        assert get(f"{base}/", {"Authorization": f"Bearer {made['token']}"}).status_code == 200
    finally:
        studio.stop()
    # Only its hash is stored.
    import sqlite3

    rows = sqlite3.connect(tmp_path / "team.sqlite").execute("SELECT sha256 FROM tokens").fetchall()
    assert rows and all(admin not in r[0] for r in rows)


def test_the_local_studio_still_serves_a_workspace(tmp_path):
    """`edgeops studio` without a subcommand is the workspace viewer, as before."""
    from edgeops.pipeline.history import History

    workspace = tmp_path / ".edgeops"
    History(workspace / "runs.sqlite").started("0123456789ab", "m", "1.0.0", ["host"])
    studio = Studio(workspace, "--port", "0")
    try:
        response = get(f"{studio.base}/")
        assert response.status_code == 200 and "Models" in response.text
    finally:
        studio.stop()


def test_try_it_worker_is_bounded(tmp_path):
    """The worker runs under its memory and time limits, and a broken variant fails alone."""
    import base64

    from edgeops.studio.team.tryit import run_bounded

    model = tiny_onnx(tmp_path / "m.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    request = {
        "image": base64.b64encode(png(5)).decode(),
        "value_range": [0.0, 1.0],
        "variants": [
            {"variant_id": "a", "name": "good", "format": "onnx", "path": str(model)},
            {"variant_id": "b", "name": "broken", "format": "onnx", "path": str(broken)},
            {"variant_id": "c", "name": "pte", "format": "executorch", "path": str(model)},
        ],
    }
    answer = run_bounded(request)
    good, bad, other = answer["variants"]
    assert good["median_ms"] > 0 and len(good["times_ms"]) == 5 and good["shape"] == [1, 2, 32, 32]
    assert "error" not in good and bad["error"] and "do not run on this server" in other["error"]
    # 64 MB of address space cannot hold numpy and onnxruntime: the worker fails or is
    # stopped, with no variant answered; the caller goes on.
    starved = run_bounded({**request, "memory_mb": 64}, timeout_s=20)
    assert "variants" not in starved
    assert "the worker failed" in starved["error"] or "ran past" in starved["error"]
    slow = run_bounded(request, timeout_s=0.05)
    assert "ran past" in slow["error"]


def test_try_it_runs_real_tflite_models(tmp_path):
    """Committed TFLite models (tests/data, with their sources): a float NHWC segmenter
    and a uint8 classifier, each fed the image in its own layout and type."""
    import base64

    from edgeops.studio.team.tryit import run_bounded
    from edgeops.testing import test_data_dir

    models = test_data_dir() / "models" / "tflite"
    request = {
        "image": base64.b64encode(png(6, size=300)).decode(),
        "value_range": [0.0, 1.0],
        "variants": [
            {
                "variant_id": "seg",
                "name": "selfie",
                "format": "tflite",
                "path": str(models / "mediapipe__selfie_segmentation.tflite"),
            },
            {
                "variant_id": "cls",
                "name": "mobilenet",
                "format": "tflite",
                "path": str(models / "coral__mobilenet_v1_0.25_128_quant.tflite"),
            },
        ],
    }
    seg, cls = run_bounded(request)["variants"]
    assert "error" not in seg, seg
    assert seg["shape"][:3] == [1, 256, 256] and seg["median_ms"] > 0
    assert "error" not in cls, cls
    assert cls["shape"] == [1, 1001] and len(cls["top"]) == 5


def test_serve_with_a_bad_store_exits_2(tmp_path):
    for db, message in (
        ("mysql://x", "is not a store"),
        (f"sqlite:///{tmp_path / 'no' / 'x.sqlite'}", "no folder"),
        ("postgresql://u:secret@127.0.0.1:1/x", "cannot open the team store"),
    ):
        result = run_cli("studio", "serve", "--db", db, "--port", "0", cwd=tmp_path, timeout_s=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert "secret" not in result.stderr  # the password is never printed
