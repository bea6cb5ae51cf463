"""Session-wide settings for every test folder (tests/ and plugins/*/tests/)."""

import os
import tempfile
from pathlib import Path

import pytest

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


# Most profiles list ExecuTorch, whose backend exports and lowers every model three times
# or more (tens of seconds each on 2 shared cores): a run of the suite's tiny models on
# "host" would take minutes more in every ship test. Its own tests (plugins/edgeops_executorch)
# call it directly or re-enable it in the run they start; elsewhere it stays out.
_disabled = {n for n in os.environ.get("EDGEOPS_DISABLE_PLUGINS", "").split(",") if n}
os.environ["EDGEOPS_DISABLE_PLUGINS"] = ",".join(sorted(_disabled | {"executorch"}))

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
