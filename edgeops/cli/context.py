"""What a plugin's CLI command gets besides its arguments (``edgeops_add_commands``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeops.models import DeviceProfile, Results

# The version of every ``--json`` output's shape (README, "Machine output"). Readers
# ignore keys they do not know; a key removed or changed in meaning bumps the major.
JSON_OUTPUT_VERSION = "1.0"


def json_output(value: dict[str, Any]) -> str:
    """``value`` as the JSON a ``--json`` command prints: an object, ``schema_version`` first."""
    return (
        json.dumps({"schema_version": JSON_OUTPUT_VERSION, **value}, indent=2, default=str) + "\n"
    )


def print_json(value: dict[str, Any]) -> None:
    """Print a command's ``--json`` output: an object, given a ``schema_version``."""
    sys.stdout.write(json_output(value))


def cli_console(stderr: bool = False) -> Any:
    """A rich Console for tables and progress; off a terminal it prints tables as plain
    text at full width, so a CI log keeps every id whole. Rich loads on first use."""
    from edgeops.cli.output import make_console

    return make_console(stderr=stderr)


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

    def print_json(self, value: dict[str, Any]) -> None:
        """Print a command's ``--json`` output: an object, given a ``schema_version``."""
        print_json(value)

    def console(self, stderr: bool = False) -> Any:
        """A rich Console for tables and progress (:func:`cli_console`)."""
        return cli_console(stderr=stderr)
