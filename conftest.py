"""Session-wide settings for every test folder (tests/ and plugins/*/tests/).

The suite runs under pytest-xdist (README: ``-n``). Each worker process gets a
state folder of its own (its own leases, so two workers' ships never wait on
each other's lease of this machine), below one folder the controller made;
the controller reads every worker's hook log when the session ends.
"""

import os
import tempfile
from pathlib import Path

import pytest


def _testing_fixtures() -> list[str]:
    """The fixtures for plugin authors are opt-in (as tox's): this repository opts in.

    An environment installed before they were opt-in still loads them through its old
    ``pytest11`` entry point; naming them again there would register them twice.
    """
    from importlib.metadata import distributions

    # Every distribution, as pytest reads them: a stale one beside this checkout counts.
    old = any(
        ep.group == "pytest11" and ep.value == "edgeops.testing"
        for dist in distributions()
        for ep in dist.entry_points
    )
    return [] if old else ["edgeops.testing"]


pytest_plugins = _testing_fixtures()

# Made once by the first process (the controller under xdist, or the only process);
# workers inherit it through the environment and take a subfolder each.
_ROOT_ENV = "EDGEOPS_TEST_STATE_ROOT"  # tests/hook_log.py reads it
_ROOT = Path(os.environ.get(_ROOT_ENV) or tempfile.mkdtemp(prefix="edgeops-test-state-"))
os.environ[_ROOT_ENV] = str(_ROOT)
_STATE = _ROOT / os.environ.get("PYTEST_XDIST_WORKER", "main")
_STATE.mkdir(exist_ok=True)
# Every plugin manager made in this process, in process or in a CLI subprocess,
# logs its hook calls here; tests/test_hookspecs.py reads them all at the end.
os.environ["EDGEOPS_HOOK_LOG"] = str(_STATE / "hook-calls.log")
# Leases of this session's runs stay out of the user's own lease file.
os.environ["EDGEOPS_LEASES"] = str(_STATE / "leases.sqlite")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Most profiles list ExecuTorch, whose backend exports and lowers every model three times
# or more (tens of seconds each on 2 shared cores): a run of the suite's tiny models on
# "host" would take minutes more in every ship test. Its own tests (plugins/edgeops_executorch)
# call it directly or re-enable it in the run they start; elsewhere it stays out.
_disabled = {n for n in os.environ.get("EDGEOPS_DISABLE_PLUGINS", "").split(",") if n}
os.environ["EDGEOPS_DISABLE_PLUGINS"] = ",".join(sorted(_disabled | {"executorch"}))

# adb discovery asks the adb server (5037); a developer's own server and phones
# must not become devices of the suite's runs. Tests that start a server set it.
os.environ["ANDROID_ADB_SERVER_PORT"] = str(_free_port())


# The test modules that ran to the end in any process (xdist reports every worker's
# results to the controller), so the hook meta-check knows the whole suite ran.
_MODULES_RUN: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _MODULES_RUN.add(Path(report.nodeid.split("::")[0]).stem)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every hook is exercised by some test: checked once every test of every worker
    has run (an xdist worker cannot know that), and only for a whole-suite run."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not {"test_ship", "test_pipeline"} <= _MODULES_RUN:
        return
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "tests"))
    from hook_log import hooks_not_called

    missing = hooks_not_called()
    if missing:
        print(f"\nhook meta-check FAILED: no test calls {missing}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Session fixtures that cost a real ship or conversion are made once per worker that
# needs them; under `--dist loadgroup` these groups keep their users on one worker.
# PostgreSQL (tests/pg_server.py) is one server per worker: its users share a worker too.
_SHARED_FIXTURE_GROUPS = {"shipped_twice": "studio", "browser": "studio", "postgres": "studio"}


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(found and found[-1].scope == "module" for found in defs)


# tryfirst: xdist's own hook turns the markers into each test's ``@group`` suffix,
# and the worker registers it after this conftest, so it would run first (pluggy
# calls the last registered first) and see no marker: every group would be split.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((g for f, g in _SHARED_FIXTURE_GROUPS.items() if f in names), None)
        parts = Path(str(item.fspath)).parts
        if group is None and "plugins" in parts and "tests" in parts:
            # A plugin's session fixtures (its converted models, its peers) live in
            # its tests/conftest.py: one worker per plugin makes them once.
            group = parts[parts.index("plugins") + 1]
        if group is None and _uses_a_module_fixture(item):
            # A module fixture (a real ship, a kotlinc build) is made again on every
            # worker that runs one of its tests: its users share one worker.
            group = Path(str(item.fspath)).stem
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        # In the JUnit XML (.ci/run writes one): benchmarks/ci_time.py sums them up.
        item.user_properties.append(("xdist_group", group or "(none)"))
        item.user_properties.append(("xdist_worker", os.environ.get("PYTEST_XDIST_WORKER", "main")))
    # Slow tests first (a stable sort): xdist hands out the groups, largest first, then
    # single tests in this order, so the long ones start early and the run ends on
    # short ones instead of three workers waiting on one late 5-minute test.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _runs_the_slow_suite(config: pytest.Config) -> bool:
    """The whole suite with its slow tests: no file named, no ``-m "not slow"``."""
    testpaths = set(config.getini("testpaths"))
    return set(config.args) <= testpaths and "not slow" not in (config.option.markexpr or "")


def _train_the_example_segmenter() -> None:
    """Train examples/segmenter's weights once, before any worker starts.

    A dozen slow tests ship the example, and the first one trains it (about 80 s
    on 2 quiet cores) while the others wait on its lock. Trained beside busy
    workers it took over ten minutes here, and held those workers idle; trained
    first, on a quiet machine, it costs its 80 s once. Cached weights make it a no-op.
    """
    import subprocess
    import sys

    script = Path(__file__).parent / "examples" / "segmenter" / "segmenter.py"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; runpy.run_path(sys.argv[1])['build']()",
            str(script),
        ],
        check=True,
        timeout=1800,
    )


def _segmenter_weights_cached() -> bool:
    """The weights segmenter.py would load are there (named as it names them: a hash of
    it and synthetic.py), so no process needs to start and import torch to find out.
    Were the naming to drift, the check below would only run the training script."""
    import hashlib

    folder = Path(__file__).parent / "examples" / "segmenter"
    digest = hashlib.sha256()
    for name in ("segmenter.py", "synthetic.py"):
        digest.update((folder / name).read_bytes())
    return (folder / ".weights" / f"segmenter-{digest.hexdigest()[:12]}.pt").is_file()


def pytest_sessionstart(session: pytest.Session) -> None:
    if (
        not os.environ.get("PYTEST_XDIST_WORKER")
        and _runs_the_slow_suite(session.config)
        and not _segmenter_weights_cached()
    ):
        _train_the_example_segmenter()
    # The real models and device logs are test inputs: without them the suite
    # must stop, not skip its way to green.
    from edgeops.testing import TEST_DATA_ENV, test_data_dir

    data = test_data_dir()
    if not (data / "models").is_dir() or not (data / "fixtures").is_dir():
        pytest.exit(
            f"test data not found at {data}; it is committed under tests/data (or set {TEST_DATA_ENV})",
            returncode=4,
        )
