"""``edgeops ship`` and ``edgeops.ship(...)``: every setting of a whole run.

The command's flags and the function's keywords are both made from
:class:`ShipOptions` (the command adds :class:`ShipCommandOptions`' three)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from edgeops.errors import EXIT_NOT_SHIPPED
from edgeops.models import Task
from edgeops.options.declare import Cli, CountInt, Options, PositiveInt
from edgeops.options.measure import MeasureOptions
from edgeops.options.selection import SelectionOptions
from edgeops.options.work import WorkOptions


class ModelOptions(Options):
    """What to ship: the model, its profiles, and what the bundle calls it."""

    what = "ship option"

    model: Annotated[str | Path | None, Cli(positional=True, nargs="?")] = Field(
        None,
        description="a model file, a folder with edgeops.toml, or an edgeops.toml (none with "
        "resume)",
    )
    profiles: Annotated[
        tuple[str, ...], Cli(flags=("--profile", "-p"), dest="profile", append=True)
    ] = Field(
        (),
        description="device profile ids, repeatable (default: the config's [ship] profiles, "
        "else host)",
    )
    task: Task | None = Field(
        None, description="chooses the quality metrics (default: from edgeops.toml, else generic)"
    )
    name: str | None = Field(
        None, description="model name (default: from edgeops.toml or the file name)"
    )
    version: Annotated[str | None, Cli(flags=("--model-version",), dest="model_version")] = Field(
        None, description="model version for the bundle"
    )


class ShipOptions(WorkOptions, SelectionOptions, MeasureOptions, ModelOptions):
    """Every setting of ``edgeops ship``, by the Python API's keyword names."""

    what = "ship option"

    out: Annotated[Path | None, Cli(flags=("--out", "-o"))] = Field(
        None, description="bundle folder (default dist/<model>-<version>/)"
    )
    force: bool = Field(
        False, description="replace an out folder that holds files but is not an edgeops bundle"
    )
    devices: Path | None = Field(
        None, description="inventory of devices (devices.toml) to measure on"
    )
    workspace: Annotated[Path | None, Cli(api_only=True)] = Field(
        None, description="cache and run history (default .edgeops, or $EDGEOPS_HOME)"
    )
    prune: Annotated[
        bool,
        Cli(
            flags=("--no-prune",),
            invert=True,
            help="measure every variant for every round: no ruling out on the host (below "
            "the quality floor, too large, dominated) and no stopping of clearly beaten variants",
        ),
    ] = Field(
        True,
        description="rule variants out on the host (below the quality floor, too large, "
        "dominated) and stop clearly beaten ones on the device; False measures every "
        "variant for every round",
    )
    baseline: Path | None = Field(
        None, description="results.json or bundle to gate against; its primaries win ties"
    )
    until_decided: bool = Field(
        False,
        description="add rounds where the choice of a primary, or the gate against the "
        "baseline, is undecided, and until each primary is precise enough to gate against; "
        "up to max-extra-rounds",
    )
    max_extra_rounds: PositiveInt = Field(80, description="bound on rounds added per measurement")
    keep_previous_primary: Annotated[bool, Cli(flags=("--ignore-previous",), invert=True)] = Field(
        True,
        description="prefer the previous release's primary among tied candidates (the "
        "workspace's last ship of this model; a baseline overrides it); --ignore-previous "
        "does not",
    )
    keep_outputs: Annotated[CountInt, Cli(metavar="N")] = Field(
        16,
        description="keep each variant's outputs on the first N samples (and its worst) for "
        "the gallery; 0 keeps none",
    )
    gallery_worst: Annotated[CountInt, Cli(metavar="K")] = Field(
        3, description="show each variant's K worst samples in report.html"
    )
    resume: Annotated[str | None, Cli(nargs="?", const="last", metavar="RUN_ID")] = Field(
        None,
        description="continue an interrupted run (the latest, or RUN_ID), measuring only "
        "what is missing",
    )
    progress: Annotated[bool, Cli(api_only=True)] = Field(
        True, description="one line per stage and item on stderr (a live bar in a terminal)"
    )
    samples: Annotated[Path | None, Cli(api_only=True)] = Field(
        None,
        description="a folder of .npy files that replaces the spec's samples (and drops its "
        "labels): what --samples-from fetched from a team studio",
    )


class ShipCommandOptions(Options):
    """What only the command does around :func:`edgeops.api.ship`."""

    what = "ship option"

    allow_unsupported: bool = Field(
        False,
        description="exit 0 even when a profile ends unsupported or not measured (else "
        f"{EXIT_NOT_SHIPPED})",
    )
    samples_from: Annotated[str | None, Cli(metavar="URL")] = Field(
        None,
        description="use a team studio's sample set as the samples: "
        "http(s)://STUDIO/sample-sets/NAME/VERSION (token: ?token= or $EDGEOPS_STUDIO_TOKEN)",
    )
    publish: Annotated[str | None, Cli(metavar="URL")] = Field(
        None,
        description="after the bundle is written, publish it to a team store: a database "
        "URL or a studio's http(s) URL (as `edgeops publish --to`)",
    )
