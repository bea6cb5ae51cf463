"""Session-wide settings for every test folder (tests/ and plugins/*/tests/)."""

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

_STATE = Path(tempfile.mkdtemp(prefix="edgeops-test-state-"))
# Every plugin manager made in this session, in process or in a CLI subprocess,
# logs its hook calls here; tests/test_hookspecs.py reads it at the end.
os.environ["EDGEOPS_HOOK_LOG"] = str(_STATE / "hook-calls.log")
# Leases of this session's runs stay out of the user's own lease file.
os.environ["EDGEOPS_LEASES"] = str(_STATE / "leases.sqlite")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# adb discovery asks the adb server (5037); a developer's own server and phones
# must not become devices of the suite's runs. Tests that start a server set it.
os.environ["ANDROID_ADB_SERVER_PORT"] = str(_free_port())


def pytest_sessionstart(session: object) -> None:
    # The real models and device logs are test inputs: without them the suite
    # must stop, not skip its way to green.
    from edgeops.testing import TEST_DATA_ENV, test_data_dir

    data = test_data_dir()
    if not (data / "models").is_dir() or not (data / "fixtures").is_dir():
        pytest.exit(
            f"test data not found at {data}; it is committed under tests/data (or set {TEST_DATA_ENV})",
            returncode=4,
        )
