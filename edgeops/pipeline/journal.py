"""A run's folder: the variants to measure and every measurement round, written as it comes.

``<workspace>/runs/<run_id>/stage.json`` holds the Results the measure stage
starts from; ``rounds.jsonl`` gets one line per measured round, appended and
flushed at once, so a crash keeps all that was measured and
``edgeops ship --resume`` measures only what is missing.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from pydantic import ValidationError

from edgeops.files import write_text
from edgeops.models import Device, Measurement, Results


class RunJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stage_path = folder / "stage.json"
        self.rounds_path = folder / "rounds.jsonl"
        self.devices_path = folder / "devices.json"
        self._lock = threading.Lock()

    def save_stage(self, results: Results) -> None:
        write_text(self.stage_path, results.model_dump_json() + "\n")

    def load_stage(self) -> Results:
        return Results.model_validate_json(self.stage_path.read_text())

    def save_devices(self, devices: list[Device]) -> None:
        """The inventory the run measures on: a resume without --devices uses it again."""
        write_text(
            self.devices_path,
            json.dumps([d.model_dump(mode="json") for d in devices], indent=2) + "\n",
        )

    def load_devices(self) -> list[Device] | None:
        if not self.devices_path.is_file():
            return None
        return [Device.model_validate(d) for d in json.loads(self.devices_path.read_text())]

    def append(self, measurement: Measurement) -> None:
        line = measurement.model_dump_json() + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.rounds_path, "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def rounds(self) -> dict[tuple[str, str, str], list[Measurement]]:
        """Rounds so far per (device, variant, compute unit), in the order measured."""
        found: dict[tuple[str, str, str], list[Measurement]] = {}
        if not self.rounds_path.exists():
            return found
        for line in self.rounds_path.read_text().splitlines():
            try:
                m = Measurement.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError):
                continue  # the last line of a run killed mid-write
            found.setdefault((m.device_id, m.variant_id, m.compute_unit), []).append(m)
        return found
