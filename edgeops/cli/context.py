"""What a plugin's CLI command gets besides its arguments (``edgeops_add_commands``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeops.models import DeviceProfile, Results


@dataclass
class CommandContext:
    """The run's plugin manager and workspace, and the CLI's own ways of reading and printing."""

    pm: Any
    workspace: Path
    as_json: bool = False

    def profile(self, profile_id: str) -> DeviceProfile:
        """A device profile by id; an unknown id is a UsageError naming the closest."""
        from edgeops.devices.profiles import resolve_profiles

        return resolve_profiles([profile_id], self.pm)[0]

    def read_results(self, path: Path) -> Results:
        """A results.json, or a bundle folder holding one; a bad file is a ResultsError."""
        from edgeops.pipeline.bundle import read_results

        return read_results(path)

    def print_json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")

    def console(self, stderr: bool = False) -> Any:
        """A rich Console for tables and progress."""
        from rich.console import Console

        return Console(stderr=stderr)
