"""`edgeops studio`: a real server on 127.0.0.1, real requests, a real headless browser."""

import http.client
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from edgeops.pipeline.history import History
from edgeops.studio.command import is_loopback
from edgeops.studio.data import confined

from studio_workspace import PageWatch, Studio, keep_screenshot, png_size, tiny_run

TOKEN = "correct-horse-battery-staple-42"


def raw_get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    """GET ``path`` byte for byte: http.client sends it unnormalised, as an attacker would."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        given = {k.lower() for k in headers or {}}
        conn.putrequest("GET", path, skip_host="host" in given, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


@pytest.fixture
def empty_workspace(tmp_path):
    workspace = tmp_path / ".edgeops"
    History(workspace / "runs.sqlite").started("0123456789ab", "m", "1.0.0", ["host"])
    return workspace


# --------------------------------------------------------------------------- token


def test_every_request_needs_the_token(empty_workspace):
    studio = Studio(empty_workspace, "--port", "0", "--token", TOKEN)
    try:
        base = studio.base
        for path in (
            "/",
            "/samples",
            "/models/m",
            "/runs/0123456789ab",
            "/compare?a=x&b=y",
            "/nope",
        ):
            status, body, headers = raw_get(base, path)
            assert status == 401, path
            assert b"segmenter" not in body and headers.get("www-authenticate") == "Bearer"
        wrong = [
            {"Authorization": "Bearer wrong-token-wrong-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Cookie": "edgeops_studio_token=guess"},
        ]
        for headers in wrong:
            assert raw_get(base, "/", headers)[0] == 401, headers
        assert raw_get(base, "/?token=nearly" + TOKEN)[0] == 401
        status, body, _ = raw_get(base, "/", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and b"Models" in body
        # ?token= once sets an HttpOnly cookie, which then carries the pages and images.
        status, _, headers = raw_get(base, f"/?token={TOKEN}")
        cookie = headers["set-cookie"]
        assert status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert raw_get(base, "/samples", {"Cookie": cookie.split(";", 1)[0]})[0] == 200
    finally:
        studio.stop()


def test_off_loopback_a_token_is_generated_and_printed_once(empty_workspace):
    # Listens on every address but is only ever spoken to on 127.0.0.1.
    studio = Studio(empty_workspace, "--host", "0.0.0.0", "--port", "0")
    try:
        token = studio.url.split("?token=", 1)[1]
        assert len(token) >= 24
        base = studio.base.replace("0.0.0.0", "127.0.0.1")
        assert raw_get(base, "/")[0] == 401
        assert raw_get(base, "/", {"Authorization": f"Bearer {token}"})[0] == 200
    finally:
        studio.stop()
    out = studio.proc.stdout.read() if studio.proc.stdout else ""
    assert token not in out  # shown once, at start


def test_without_a_token_only_loopback_host_names_are_answered(empty_workspace):
    studio = Studio(empty_workspace, "--port", "0")
    try:
        port = studio.base.rsplit(":", 1)[1]
        assert raw_get(studio.base, "/")[0] == 200  # Host: 127.0.0.1:PORT
        assert raw_get(studio.base, "/", {"Host": f"localhost:{port}"})[0] == 200
        for host in (
            f"evil.example:{port}",
            "evil.example",
            "127.0.0.1.evil.example",
            "",
            f"[::1.evil]:{port}",
        ):
            status, body, _ = raw_get(studio.base, "/", {"Host": host})
            assert status == 400 and b"Models" not in body, host
    finally:
        studio.stop()


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "short"], "--token is too short"),
        (["--port", "70000"], "is not a port"),
    ],
)
def test_bad_arguments_give_one_line(empty_workspace, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "--workspace", str(empty_workspace), "studio", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_workspace_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "--workspace", str(tmp_path / "none"), "studio"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "run `edgeops ship` first" in result.stderr


# --------------------------------------------------------------------------- confinement


def test_confined_refuses_escapes_and_symlinks_out(tmp_path):
    root = tmp_path / "bundle"
    (root / "gallery").mkdir(parents=True)
    (root / "gallery" / "a.png").write_bytes(b"png")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "gallery" / "link.png").symlink_to(secret)
    (root / "inside.png").symlink_to(root / "gallery" / "a.png")
    assert confined(root, "gallery/a.png") == (root / "gallery" / "a.png").resolve()
    assert confined(root, "inside.png") == (root / "gallery" / "a.png").resolve()
    for name in (
        "../secret.txt",
        "gallery/../../secret.txt",
        str(secret),
        "gallery/link.png",
        "gallery",
        "missing.png",
        "gallery\\..\\..\\secret.txt",
        "a\x00.png",
    ):
        assert confined(root, name) is None, name


def test_a_bundle_overwritten_by_a_later_run_is_not_shown_as_the_first(
    tmp_path, edgeops_pm, edgeops_workspace
):
    from edgeops.studio.data import StudioData

    bundle = tmp_path / "dist" / "m-0.0.0"
    first = tiny_run(tmp_path, edgeops_pm, edgeops_workspace, bundle)
    data = StudioData(edgeops_workspace.root)
    assert data.bundle(data.run(first)) == bundle.resolve()
    second = tiny_run(tmp_path, edgeops_pm, edgeops_workspace, bundle)  # same version, same folder
    assert data.bundle(data.run(second)) == bundle.resolve()
    assert data.bundle(data.run(first)) is None and data.results(data.run(first)) is None
    assert data.bundle_file(data.run(first), "report.html") is None
    assert data.bundle_file(data.run(second), "report.html") == (bundle / "report.html").resolve()
    assert data.run("not-a-run-id") is None and data.run("0" * 12) is None


def test_the_models_page_data_holds_each_profiles_session_spread(tmp_path):
    from test_gate import shipped_history

    from edgeops.studio.data import StudioData

    shipped_history(tmp_path / "ws", (1.0, 1.02, 0.98, 1.01, 0.99))
    (spread,) = StudioData(tmp_path / "ws").session_spreads().values()
    assert spread.source == "history" and spread.sessions == 5 and spread.files == 1
    assert StudioData(tmp_path / "empty").session_spreads() == {}


# --------------------------------------------------------------------------- over two shipped versions


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_hostile_requests_reach_nothing_outside_the_bundles(shipped_twice):
    before = _tree_state(shipped_twice.root)
    studio = Studio(shipped_twice.workspace, "--port", "0")
    try:
        base = studio.base
        run = shipped_twice.run_ids[0]
        gallery = json.loads((shipped_twice.bundles[0] / "gallery" / "gallery.json").read_text())
        listed = gallery["samples"][0]["input"]
        assert raw_get(base, f"/runs/{run}/files/{listed}")[0] == 200
        assert raw_get(base, f"/runs/{run}/files/report.html")[0] == 200
        hostile = [
            f"/runs/{run}/files/../../../../etc/passwd",
            f"/runs/{run}/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            f"/runs/{run}/files/..%2f..%2f..%2fetc%2fpasswd",
            f"/runs/{run}/files//etc/passwd",
            f"/runs/{run}/files/gallery/../results.json",
            f"/runs/{run}/files/manifest.json",
            f"/runs/{run}/files/results.json",
            f"/runs/{run}/files/variants/",
            f"/runs/{run}/files/{listed}/../../../report.md%00",
            f"/runs/{run}/files/gallery%5c..%5c..%5cresults.json",
            "/runs/..%2f..%2f..%2fetc/files/report.html",
            "/runs/../../etc/passwd",
            "/runs/ffffffffffff/files/report.html",
            # Run ids are lower-case hex; one of digits only has no other case.
            *([f"/runs/{run.upper()}/files/report.html"] if run.upper() != run else []),
            "/samples/../../../etc/passwd.png",
            f"/samples/{'0' * 64}/0.png",
            "/samples/" + "..%2f" * 8 + "etc/0.png",
            "/models/..%2f..%2fetc",
        ]
        for path in hostile:
            status, body, _ = raw_get(base, path)
            assert status in (404, 400), (path, status)
            assert b"root:" not in body and b'"measurements"' not in body, path
        sha = json.loads((shipped_twice.bundles[0] / "results.json").read_text())["samples"][
            "sha256"
        ]
        assert raw_get(base, f"/samples/{sha}/0.png")[0] == 200
        for index in ("-1", "99999", "0x1", "1e3"):
            assert raw_get(base, f"/samples/{sha}/{index}.png")[0] == 404, index
    finally:
        studio.stop()
    assert _tree_state(shipped_twice.root) == before  # it wrote nothing, not even the history


@pytest.mark.slow
def test_pages_and_compare_in_a_real_browser(shipped_twice, browser, tmp_path):
    studio = Studio(shipped_twice.workspace, "--port", "0", "--token", TOKEN)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = PageWatch(page)
    a, b = shipped_twice.run_ids
    try:
        page.goto(f"{studio.base}/?token={TOKEN}")  # the cookie carries the rest
        assert page.locator("table.models a", has_text="segmenter").count() == 1
        page.click("text=segmenter")
        assert page.locator("h2", has_text="version 1.0.0").count() == 1
        assert page.locator("h2", has_text="version 1.1.0").count() == 1
        assert page.locator(f"a[href='/runs/{a}']").count() == 1

        page.goto(f"{studio.base}/runs/{b}")
        frame = page.frame_locator("iframe.report")
        frame.locator(".plot .main-svg").first.wait_for()
        assert frame.locator(".gallery-variant").count() >= 4

        page.goto(f"{studio.base}/samples")
        images = page.evaluate("() => Array.from(document.images).map(i => i.naturalWidth)")
        assert len(images) == 16 and all(w > 0 for w in images)

        page.goto(f"{studio.base}/compare?a={a}&b={b}")
        section = page.locator("section.profile[data-profile='host']")
        assert section.locator("table.choices tr").count() == 3  # header, A, B
        verdicts = section.locator(
            "table.checks td.pass, table.checks td.fail, table.checks td.inconclusive"
        ).count()
        assert verdicts >= 4  # plan, latency, memory, size, quality
        assert "[" in section.locator("table.choices").inner_text()  # p50 intervals
        samples = section.locator(".sample")
        assert samples.count() >= 3
        for i in range(samples.count()):
            row = samples.nth(i)
            for cls in ("A-output", "B-output", "A-diff", "B-diff"):
                img = row.locator(f"img.{cls}")
                assert img.count() == 1, cls
                assert img.evaluate("i => i.naturalWidth") > 0
        # Both masks of one sample come from the two runs' own bundles.
        first = samples.nth(0)
        srcs = [first.locator(f"img.{c}").get_attribute("src") for c in ("A-output", "B-output")]
        assert srcs[0].startswith(f"/runs/{a}/") and srcs[1].startswith(f"/runs/{b}/")
        shot = tmp_path / "compare.png"
        page.screenshot(path=str(shot), full_page=True)
        assert png_size(shot)[1] > 900
        keep_screenshot(shot, "compare.png")
        watch.assert_clean()
        assert all(u.startswith(studio.base) for u in watch.requests), watch.requests
    finally:
        context.close()
        studio.stop()


def test_compare_with_a_replaced_bundle_and_a_tampered_sample_path_answer_cleanly(
    tmp_path, edgeops_pm, edgeops_workspace
):
    """Two 500s of issue 28: a clean page (or 404), never a traceback."""
    from starlette.testclient import TestClient

    from edgeops.studio.app import create_app

    bundle = tmp_path / "dist" / "m-0.0.0"
    first = tiny_run(tmp_path, edgeops_pm, edgeops_workspace, bundle)
    second = tiny_run(tmp_path, edgeops_pm, edgeops_workspace, bundle)  # replaces the first's
    client = TestClient(
        create_app(edgeops_workspace.root),
        base_url="http://127.0.0.1",
        raise_server_exceptions=False,
    )
    page = client.get(f"/compare?a={first}&b={second}")
    assert page.status_code == 200 and "has no bundle any more" in page.text, page.text[-500:]
    # The second run's results now name a file in the workspace that is no .npz.
    results = json.loads((bundle / "results.json").read_text())
    sha = results["samples"]["sha256"]
    results["samples"]["path"] = str(edgeops_workspace.root / "runs.sqlite")
    (bundle / "results.json").write_text(json.dumps(results))
    png = client.get(f"/samples/{sha}/0.png")
    assert png.status_code == 404 and "Traceback" not in png.text


def test_stopping_the_studio_is_its_normal_end_with_no_resume_hint(empty_workspace):
    import signal

    studio = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "--workspace", str(empty_workspace), "studio",
         "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background (`.ci/run &`) inherits SIGINT ignored, and
        # Python then installs no Ctrl-C handler: the child gets the default back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert studio.stdout is not None and "http://" in studio.stdout.readline()
        studio.send_signal(signal.SIGINT)
        _, err = studio.communicate(timeout=30)
    finally:
        if studio.poll() is None:
            studio.kill()
    assert "--resume" not in err and "interrupted" not in err, err
    assert studio.returncode == 0, err


def test_compare_figures_are_in_their_units():
    from edgeops.studio.app import _figure

    assert _figure(162504.0, "bytes") == "0.16 MB"
    assert _figure(8.0041, "ms") == "8.004 ms" and _figure(None, "MB") == ""


def test_compare_shows_no_empty_frames_for_outputs_without_pictures():
    """A detector's outputs have no picture: its samples are not drawn as empty boxes."""
    from edgeops.models import Choice, Plan, Results, SampleSet
    from edgeops.pipeline.history import RunRecord
    from edgeops.report.gallery import Gallery, GalleryVariant, VariantSample
    from edgeops.studio.app import Side, compare_view

    from factories import spec

    samples = SampleSet(path=Path("s.npz"), sha256="1" * 64, count=2, synthetic=True, origin="x")
    choice = Choice(
        variant_id="v", variant_name="onnx:fp32", compute_unit="cpu", method="measured",
        expected_p50_ms=1.0, peak_mem_mb=10.0, size_bytes=1000, quality={}, reason="only one",
    )  # fmt: skip
    results = Results(
        edgeops_version="0", run_id="aaaaaaaaaaaa", spec=spec(task="generic"), samples=samples,
        plans=(Plan(profile_id="host", status="supported", choices=(choice,)),),
    )  # fmt: skip
    pictures = (
        VariantSample(index=0, score=1.0),
        VariantSample(index=1, score=1.0, output="o.png"),
    )
    gallery = Gallery(
        task="generic", samples_sha256=samples.sha256, kind="none", samples=(),
        variants=(GalleryVariant(variant_id="v", name="onnx:fp32", metric="snr_db",
                                 higher_is_better=True, worst=(0,), samples=pictures),),
    )  # fmt: skip
    run = RunRecord("aaaaaaaaaaaa", "t", None, "ok", "m", "1", "host", None, 0, 0, None, None)
    view = compare_view(Side("A", run, results, gallery), Side("B", run, results, gallery))
    assert [p.samples for p in view["profiles"]] == [[1]]
