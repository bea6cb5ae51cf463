"""How the host does the work of a run: worker processes, their bounds, the cache."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edgeops.options.declare import Cli, NonNegative, Options, PositiveInt


class WorkOptions(Options):
    """``edgeops ship`` and ``edgeops optimize``: who makes and scores the variants."""

    what = "work option"

    no_cache: bool = Field(
        False,
        description="make every conversion, variant and score again, replacing their cache entries",
    )
    jobs: Annotated[PositiveInt | None, Cli(flags=("--jobs", "-j"))] = Field(
        None,
        description="worker processes making and scoring variants (default: every core, "
        "fewer when memory is short; 1: in this process)",
    )
    task_timeout_s: NonNegative = Field(
        1800.0,
        description="time one conversion, or one variant made and scored, may take",
    )
    worker_memory_mb: PositiveInt | None = Field(
        None,
        description="memory a worker may hold before it is stopped and its variant recorded "
        "as an error (default: 80% of the memory free at the start, shared)",
    )
