"""How each variant is measured on a device: the settings a user sets.

``MeasureSettings`` (edgeops/models.py), which a run records, reuses these fields,
so a default is written here only."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edgeops.options.declare import Cli, NonNegative, Options, PositiveInt, Rates, rates


class MeasureOptions(Options):
    """``edgeops ship`` and ``edgeops measure``: rounds, runs and the paced runs."""

    what = "measure option"

    rounds: PositiveInt = Field(
        3, description="fresh probe processes per variant, interleaved across variants"
    )
    min_runs: PositiveInt = Field(20, description="timed runs per round, at least")
    min_duration_s: NonNegative = Field(1.0, description="timed seconds per round, at least")
    threads: PositiveInt | None = Field(
        None, description="runtime threads (default: the runtime's choice)"
    )
    paced_fps: Annotated[Rates, Cli(parse=rates, metavar="FPS,...")] = Field(
        (30.0, 60.0), description="camera rates the paced runs feed inputs at; '' for none"
    )
    paced_duration_s: NonNegative | None = Field(
        None,
        description="seconds per paced rate (default: twice min-duration-s, so quick "
        "settings stay quick)",
    )
    reuse_measurements: bool = Field(
        False,
        description="reuse cached measurements of unchanged variants on the same device "
        "and settings",
    )


# The fields a run records in its MeasureSettings (the others steer this call only).
RECORDED = ("rounds", "min_runs", "min_duration_s", "threads", "paced_fps", "paced_duration_s")
