import sys
from pathlib import Path

import pytest

from edgeops_ssh.testing_sshd import make_sshd  # noqa: F401 (a fixture: real sshd boards)

# tests/factories.py and tests/paths.py are helper modules, not test files.
sys.path.insert(0, str(Path(__file__).parent))
# The tests mirror the package (tests/gate/ for edgeops/gate/, ...). A few test
# modules share their run builders with a neighbour folder (test_gate's runs feed
# the report's and studio's tests), so every folder is importable by module name.
for _folder in sorted(p for p in Path(__file__).parent.iterdir() if p.is_dir()):
    if any(_folder.glob("test_*.py")):
        sys.path.insert(1, str(_folder))

# Session fixtures: a real PostgreSQL server per pytest process (the team-studio
# tests); for the report and studio tests, two real ships and one browser.
from pg_server import pg_url, postgres  # noqa: E402, F401
from studio_workspace import browser, shipped_twice  # noqa: E402, F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The hook meta-test runs last, after every other test has called hooks."""
    last = [i for i in items if i.get_closest_marker("runs_last")]
    items[:] = [i for i in items if not i.get_closest_marker("runs_last")] + last
