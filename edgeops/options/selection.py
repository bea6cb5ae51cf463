"""How a variant is chosen per profile: the settings a user sets.

``SelectionPolicy`` (edgeops/models.py) and the ``[ship]`` table of edgeops.toml
reuse these fields, so the memory safety factor's default and range live here only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeops.options.declare import Options, Share

# What `select` optimises for (edgeops ship --objective).
Objective = Literal["fastest", "smallest", "best-quality"]


class SelectionOptions(Options):
    """``edgeops ship`` and ``edgeops select``: how far memory goes, and what wins."""

    what = "selection option"

    memory_safety_factor: Share = Field(
        0.5, description="share of a profile's app memory limit a model may use"
    )
    objective: Objective = Field(
        "fastest",
        description="fastest; smallest file, or best quality, within the latency budget",
    )
