"""What a converted model was made from and with, kept as JSON beside it.

A backend that rebuilds every variant from the source (the Apple backends: another
deployment target, precision or a torch-side pass) records the resolved spec and
the conversion's facts next to the base model; each variant's record starts from
its parent's and adds what its recipe did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeops.plugin import ModelSpec, write_text


@dataclass(frozen=True)
class BuildInfo:
    """The record ``file_name`` (e.g. ``coreml.json``) in a model's folder."""

    file_name: str

    def write(self, workdir: Path, info: dict[str, Any]) -> None:
        """Write ``info`` as ``workdir/file_name``, atomically."""
        write_text(workdir / self.file_name, json.dumps(info, indent=2, default=str))

    def read(self, model: Path) -> dict[str, Any]:
        """The record beside ``model``, or ``{}`` where there is none."""
        file = model.parent / self.file_name
        return json.loads(file.read_text()) if file.is_file() else {}

    def spec_of(self, model: Path) -> ModelSpec | None:
        """The spec ``model`` was converted from, or None (a copied source has none)."""
        raw = self.read(model).get("spec")
        return ModelSpec.model_validate(raw) if raw else None

    def write_variant(
        self, workdir: Path, parent: Path, recipe_name: str, make: Callable[[], dict[str, Any]]
    ) -> None:
        """Run ``make`` (it writes a variant of ``parent`` and returns facts about it), then
        write the variant's record: its parent's, with those facts, ``recipe`` and
        ``optimize_s``, the seconds ``make`` took."""
        started = time.perf_counter()
        facts = make()
        self.write(
            workdir,
            {
                **self.read(parent),
                **facts,
                "recipe": recipe_name,
                "optimize_s": round(time.perf_counter() - started, 3),
            },
        )
