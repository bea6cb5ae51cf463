"""``edgeops gate`` and ``edgeops.gate(...)``: the thresholds a regression is judged by.

``GateSettings`` (edgeops/gate/settings.py) extends these with what the command
reads from the workspace; the flags and the API's keywords are made from here."""

from __future__ import annotations

import argparse
from typing import Annotated

from pydantic import Field

from edgeops.options.declare import Cli, Confidence, Growth, Options, Spread


def profile_threshold(text: str) -> tuple[str, float]:
    """``PROFILE=PCT``, the text of one ``--threshold-pct-for``."""
    profile, sep, pct = text.partition("=")
    try:
        if not sep or not profile:
            raise ValueError
        return profile, float(pct)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PROFILE=PCT, e.g. pixel-8=3") from None


def _percent(text: str) -> float:
    return float(text) / 100.0


class GateOptions(Options):
    """How much worse the current run may be than the baseline before the gate fails."""

    what = "gate setting"

    threshold_pct: Annotated[Growth, Cli(metavar="PCT")] = Field(
        5.0, description="latency regression threshold, % of the median"
    )
    threshold_pct_by_profile: Annotated[
        dict[str, Growth],
        Cli(
            flags=("--threshold-pct-for",),
            append=True,
            parse=profile_threshold,
            metavar="PROFILE=PCT",
        ),
    ] = Field(default_factory=dict, description="latency threshold for one profile (repeatable)")
    memory_threshold_pct: Annotated[Growth, Cli(metavar="PCT")] = Field(
        10.0, description="peak memory growth allowed, %"
    )
    memory_threshold_mb: Annotated[Growth, Cli(metavar="MB")] = Field(
        1.0, description="peak memory growth always allowed, MB (page-level jitter)"
    )
    size_threshold_pct: Annotated[Growth, Cli(metavar="PCT")] = Field(
        5.0, description="file size growth allowed, %"
    )
    quality_drop_pct: Annotated[Growth, Cli(metavar="PCT")] = Field(
        1.0,
        description="quality drop allowed from the baseline, % of its value; the floor "
        "always holds",
    )
    confidence: Confidence = Field(0.95, description="confidence of the latency interval")
    session_sigma: Annotated[
        Spread | None,
        Cli(
            flags=("--session-sigma-pct",),
            dest="session_sigma_pct",
            parse=_percent,
            metavar="PCT",
            help="across sessions (no re-measured baseline): the spread of the device's speed "
            "between sessions, % (default: from this workspace's history of unchanged files, "
            "else 3)",
        ),
    ] = Field(
        None,
        description="across sessions: the between-session spread of the device's speed, a "
        "fraction (default: from the workspace's history of unchanged files, else 0.03)",
    )
