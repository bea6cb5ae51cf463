"""The hook-call logs of this test session, and which hooks no test called.

The root conftest.py makes one state folder per session (``$EDGEOPS_TEST_STATE_ROOT``)
and a subfolder per process (one per xdist worker), each with its own hook log.
"""

import inspect
import os
from pathlib import Path

from edgeops import hookspecs

ROOT_ENV = "EDGEOPS_TEST_STATE_ROOT"


def hook_logs(root: Path | None = None) -> list[Path]:
    """The hook-call logs of every process of this session."""
    return sorted((root or Path(os.environ[ROOT_ENV])).glob("*/hook-calls.log"))


def hooks_not_called(root: Path | None = None) -> list[str]:
    """Hooks that no process of this session called with an implementation."""
    hooks = [
        n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("edgeops_")
    ]
    called: set[str] = set()
    for log in hook_logs(root):
        called.update(log.read_text().split())
    return [name for name in hooks if name not in called]
