"""A real workspace for the report and studio tests: the example segmenter shipped twice.

Versions 1.0.0 and 1.1.0, one after the other, in one folder, as a team would:
two bundles under dist/ and two runs in .edgeops/runs.sqlite. Also the headless
browser: Debian's chromium, driven by Playwright (which downloads nothing).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from factories import FAST, run_cli
from paths import REPO

SEGMENTER = REPO / "examples" / "segmenter"
ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass(frozen=True)
class Shipped:
    root: Path
    workspace: Path
    bundles: tuple[Path, Path]
    run_ids: tuple[str, str]


@pytest.fixture(scope="session")
def shipped_twice(tmp_path_factory: pytest.TempPathFactory) -> Shipped:
    root = tmp_path_factory.mktemp("shipped")
    bundles, run_ids = [], []
    for version in ("1.0.0", "1.1.0"):
        # Generous: the first ship may train the example (minutes on a busy machine).
        result = run_cli(
            "ship",
            str(SEGMENTER),
            "--profile",
            "host",
            "--model-version",
            version,
            *FAST,
            "--json",
            cwd=root,
            env=ONNX_ONLY,
            timeout_s=1500,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads(result.stdout)
        bundles.append(root / summary["bundle"])
        run_ids.append(summary["run_id"])
    return Shipped(root, root / ".edgeops", (bundles[0], bundles[1]), (run_ids[0], run_ids[1]))


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run ./install.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class PageWatch:
    """A page that records every JavaScript error, console error or warning and failed request."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console {msg.type}: {msg.text}")
                # Errors, and warnings too: plotly logs a bad figure spec as "WARN: ...".
                if msg.type in ("error", "warning") or msg.text.startswith("WARN")
                else None
            ),
        )
        page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )
        page.on("request", lambda r: self.requests.append(r.url))

    def assert_clean(self) -> None:
        assert not self.errors, self.errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """``edgeops studio`` as a real process, stopped after the test."""

    def __init__(self, workspace: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeops", "--workspace", str(workspace), "studio", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **ONNX_ONLY},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("edgeops studio: http"):
            self.proc.kill()
            raise AssertionError(
                f"studio did not start: {line!r} {self.proc.stderr.read()[-2000:]}"
            )
        self.url = line.split(": ", 1)[1].strip()
        self.base = self.url.split("?", 1)[0].rstrip("/")
        self.first_lines = [line]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                host, port = self.base.removeprefix("http://").rsplit(":", 1)
                if s.connect_ex((host.strip("[]"), int(port))) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("studio never accepted a connection")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR."""
    import struct

    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def keep_screenshot(path: Path, name: str) -> None:
    """Copy a screenshot to $EDGEOPS_SCREENSHOTS when set, for a person to look at."""
    folder = os.environ.get("EDGEOPS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(folder) / name)


def tiny_run(tmp_path: Path, pm, workspace, out: Path) -> str:
    """A real, small run in process: a tiny ONNX model through the pipeline, its bundle
    written and its run recorded in the history as ``ship`` does. Returns the run id."""
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.bundle import write_bundle
    from edgeops.pipeline.config import load_spec
    from edgeops.pipeline.history import History

    from factories import tiny_onnx

    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32",)})
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(pm, workspace)
    settings = MeasureSettings(rounds=1, min_runs=2, min_duration_s=0.0, warmup_runs=0)
    results = pipeline.select(pipeline.optimize(pipeline.convert(spec, [host], settings)))
    history = History(workspace.history_path)
    history.started(results.run_id, spec.name, spec.version, ["host"])
    write_bundle(results, out)
    history.finished(results.run_id, "ok", results, bundle=out)
    return results.run_id
