"""Reading a ModelSpec from ``edgeops.toml``, a model path, and CLI flags.

The file is read into pydantic models that forbid unknown keys: a typo such as
``recipies`` or ``[model.qualty]`` would otherwise drop a setting silently and
change a release decision with exit 0. Every value is checked here, before any
conversion, and an error names the file, the key and the fix in one line.
``edgeops schema config`` prints the JSON Schema of :class:`ConfigFile`.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeops.errors import ModelError, UsageError
from edgeops.files import MAX_CONFIG_BYTES, check_regular, read_regular, sha256_tree
from edgeops.models import InputSpec, ModelSpec, QualityFloor, QualitySpec, Task
from edgeops.options.declare import declared
from edgeops.options.selection import SelectionOptions
from edgeops.pipeline.factories import factory_code_sha256, is_factory
from edgeops.pipeline.names import check_name, safe_name
from edgeops.pipeline.resolution import parse_resolutions
from edgeops.quality import DEFAULT_FLOORS, HIGHER_IS_BETTER, metrics_of_task

CONFIG_NAME = "edgeops.toml"
CONFIG_SCHEMA_ID = "https://edgeops.dev/schemas/config-1.0.json"

# Quality and calibration run every sample through every variant on this host;
# 10 000 is far past any calibration set's use (ONNX Runtime's static
# quantization examples calibrate on about 100) and keeps a typo from running for days.
MAX_SAMPLE_COUNT = 10_000
# One input of 2**28 elements is 1 GiB as float32: larger is a typo in a shape
# (an extra digit), not a model for a phone.
MAX_INPUT_ELEMENTS = 2**28

Dtype = Literal["float32", "float16", "int8", "uint8", "int16", "int32", "int64", "bool"]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualityTable(_Table):
    """``[model.quality]``: the floor a variant's quality must reach to be chosen."""

    metric: str | None = Field(
        None,
        description="metric the floor applies to: iou or pixel_agreement (segmentation), "
        "top1_agreement (classification), snr_db or cosine (any task), or a user metric "
        "'file.py:function'; default per task",
    )
    floor: float | None = Field(
        None, allow_inf_nan=False, description="lowest acceptable value of the metric"
    )
    floors: dict[str, float] | None = Field(
        None,
        description="more floors, every one must hold: { iou = 0.9, snr_db = 20 }; alone, "
        "its first entry is the metric variants are ranked by",
    )
    higher_is_better: bool | None = Field(
        None, description="for a user metric ('file.py:function'): the direction of its values"
    )

    @field_validator("floors", mode="before")
    @classmethod
    def _floors(cls, floors: Any) -> Any:
        if floors is not None and not (
            isinstance(floors, dict)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in floors.values())
        ):
            raise ValueError(
                "floors must be a table of metric = number, e.g. floors = { iou = 0.9, snr_db = 20 }"
            )
        return floors


class InputTable(_Table):
    """``[[model.inputs]]``: one model input, for samples, calibration and the manifest."""

    name: str = Field(min_length=1, description="the input's name in the model")
    shape: tuple[int, ...] = Field(
        min_length=1, description="concrete shape, every dimension >= 1, e.g. [1, 3, 224, 224]"
    )
    dtype: Dtype = Field("float32", description="element type of the input")
    layout: str | None = Field(None, description="e.g. NCHW or NHWC")
    value_range: tuple[float, float] = Field(
        (0.0, 1.0), description="[low, high] of the values the app feeds"
    )

    @field_validator("shape")
    @classmethod
    def _shape(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in shape):
            raise ValueError(f"every dimension must be >= 1, got {list(shape)}")
        if math.prod(shape) > MAX_INPUT_ELEMENTS:
            raise ValueError(
                f"{list(shape)} has {math.prod(shape):,} elements, over {MAX_INPUT_ELEMENTS:,}; "
                "check for an extra digit"
            )
        return shape

    @field_validator("value_range")
    @classmethod
    def _range(cls, value_range: tuple[float, float]) -> tuple[float, float]:
        low, high = value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"needs finite [low, high] with low < high, got {list(value_range)}")
        return value_range


class ModelTable(_Table):
    """``[model]``: what to ship."""

    source: str = Field(
        min_length=1,
        description="a model file or folder, or a PyTorch factory 'file.py:function', "
        "relative to this file",
    )
    name: str | None = Field(None, description="model name in the bundle (default: file name)")
    version: str | int | float | None = Field(None, description="model version for the bundle")
    task: Task = Field("generic", description="chooses the quality metrics")
    samples: str | None = Field(
        None, description="folder of .npy/.npz, or 'file.py:function', for quality and calibration"
    )
    sample_count: int = Field(
        16, ge=1, le=MAX_SAMPLE_COUNT, description="samples used for quality and calibration"
    )
    labels: str | None = Field(
        None,
        description="ground truth per sample, in the samples' order: a folder of .npy or "
        "'file.py:function'; the report ranks samples against it too",
    )
    inputs: tuple[InputTable, ...] = Field((), description="the model's inputs")
    quality: QualityTable = Field(QualityTable(), description="the quality floor")
    recipes: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="restrict the sweep to these recipes: 'format:name', or a bare name "
        "for every format (see `edgeops plugins`)",
    )
    latency_budget_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="drop variants whose p90 is over this"
    )
    fallback_max_slowdown: float | None = Field(
        None,
        gt=1,
        allow_inf_nan=False,
        description="without a latency budget, a memory-saving fallback may be at most this "
        "many times the primary's p50 (default 4)",
    )
    placement_min_share: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="share of the work a measurement must run on its accelerator to keep "
        "that unit's requires; under it the variant fell back (default 0.9)",
    )
    resolutions: list[Any] | None = Field(
        None,
        description="(height, width) pairs or preset names ('1080p', '4k') for the first "
        "input: `edgeops resolutions` runs one sweep per size",
    )

    @field_validator("source", "samples", "labels")
    @classmethod
    def _path_text(cls, value: str | None) -> str | None:
        # A NUL cannot be in a file name, and os.stat raises on it deep inside a stage.
        if value is not None and any(ord(c) < 32 for c in value):
            raise ValueError(
                f"{value!r} holds a control character (NUL, newline, ...); "
                "no file name has one: type the path again"
            )
        return value


class ShipTable(_Table):
    """``[ship]``: what a bare ``edgeops ship`` of this config does."""

    profiles: tuple[str, ...] = Field((), description="device profile ids (see `edgeops profiles`)")
    # Declared once, with its range, in edgeops/options/selection.py; None: not set here.
    memory_safety_factor: float | None = declared(
        SelectionOptions, "memory_safety_factor", default=None
    )


class ConfigFile(_Table):
    """The whole ``edgeops.toml``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": CONFIG_SCHEMA_ID, "title": "edgeops.toml"},
    )

    model: ModelTable
    ship: ShipTable = ShipTable()
    # The keys of a [[sweep]] table are the typed fields of a plugin's recipe family, so
    # edgeops.pipeline.sweep checks them against the families, also before any work.
    sweep: tuple[dict[str, Any], ...] = Field(
        (),
        description="[[sweep]] tables: a recipe family (recipe = 'coreml:palettize') and "
        "values for its typed parameters, lists as axes",
    )


# Which model class each table path holds, to suggest its own keys on a typo.
_TABLES: dict[tuple[str, ...], type[_Table]] = {
    (): ConfigFile,
    ("model",): ModelTable,
    ("model", "quality"): QualityTable,
    ("model", "inputs"): InputTable,
    ("ship",): ShipTable,
}


@dataclass(frozen=True)
class ShipDefaults:
    """The ``[ship]`` table: what a bare ``edgeops ship`` of this config does."""

    profiles: tuple[str, ...] = ()
    # None: the declared default (edgeops/options/selection.py).
    memory_safety_factor: float | None = None


def config_schema() -> dict[str, Any]:
    """The JSON Schema of ``edgeops.toml`` (``edgeops schema config``)."""
    return ConfigFile.model_json_schema()


def read_config(path: Path) -> ConfigFile:
    """Parse and check ``path``; every error is a one-line UsageError naming the key."""
    if not path.exists():
        raise UsageError(
            f"config {path} not found; pass a model file or a folder holding {CONFIG_NAME}"
        )
    raw = read_regular(path, "config", MAX_CONFIG_BYTES, UsageError)
    try:
        data = tomllib.loads(raw.decode())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}); fix the file") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text; save it as UTF-8") from exc
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_explain(path, exc)) from exc


def _explain(path: Path, exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    key = _key(loc)
    if first["type"] == "extra_forbidden":
        table = tuple(str(p) for p in loc[:-1] if not isinstance(p, int))
        known = sorted(_TABLES.get(table, _Table).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        where = f"[{'.'.join(table)}]" if table else "the top level"
        return f"{path}: unknown key {str(loc[-1])!r} in {where}; {hint}{more}"
    if first["type"] == "missing":
        return f"{path}: missing key {key}; add it{more}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: bad value for {key} ({message}){more}"


def _key(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


def load_spec(
    target: str | Path,
    task: Task | None = None,
    name: str | None = None,
    version: str | None = None,
) -> tuple[ModelSpec, ShipDefaults]:
    """The spec and ``[ship]`` defaults for a model path, a folder with edgeops.toml, or the
    file itself; flags (``task``, ``name``, ``version``) override the file."""
    path = Path(target)
    if path.is_dir() and (path / CONFIG_NAME).exists():
        path = path / CONFIG_NAME
    elif path.is_dir() and not _is_model_folder(path):
        raise UsageError(
            f"{path} is a folder without {CONFIG_NAME}; add one (see examples/segmenter and "
            "`edgeops schema config`) or pass the model file itself"
        )
    if path.name == CONFIG_NAME or path.suffix == ".toml":
        config = read_config(path)
        spec = _spec(config.model, path.parent.resolve(), path, task, name, version)
        spec = spec.model_copy(update={"sweep": config.sweep})
        ship = ShipDefaults(
            profiles=config.ship.profiles, memory_safety_factor=config.ship.memory_safety_factor
        )
        return spec, ship
    table = ModelTable(source=str(target))
    return _spec(table, Path.cwd(), None, task, name, version), ShipDefaults()


def _spec(
    table: ModelTable,
    base: Path,
    config: Path | None,
    task: Task | None,
    name: str | None,
    version: str | None,
) -> ModelSpec:
    where = f"{config}: " if config else ""
    source = _resolve_source(table.source, base)
    source_file = Path(source.rsplit(":", 1)[0]) if is_factory(source) else Path(source)
    if not source_file.exists():
        raise ModelError(f"{where}model {source_file} not found; check the path in [model] source")
    if not source_file.is_dir():
        check_regular(source_file, f"{where}model", UsageError)
    chosen_task: Task = task or table.task
    quality = _quality_spec(table.quality, chosen_task, base, where, table.labels is not None)
    # Both become the bundle's folder name: checked before any work (issue 10).
    if name is not None:
        check_name(name, "model name (--name)")
    elif table.name is not None:
        check_name(table.name, f"{where}model name (model.name)")
    model_version = version if version is not None else table.version
    if model_version is not None:
        model_version = str(model_version)
        check_name(
            model_version,
            "model version (--model-version)"
            if version is not None
            else f"{where}model version (model.version)",
        )
    inputs = tuple(InputSpec(**i.model_dump()) for i in table.inputs)
    from edgeops.pipeline.samples import check_sample_bounds

    check_sample_bounds(inputs, table.sample_count, f"{where}[model]")
    return ModelSpec(
        name=name or table.name or safe_name(source_file.stem),
        version=model_version or "0.0.0",
        source=source,
        source_sha256=_source_sha256(source),
        task=chosen_task,
        inputs=inputs,
        samples=_resolve_source(table.samples, base) if table.samples else None,
        sample_count=table.sample_count,
        labels=_resolve_source(table.labels, base) if table.labels else None,
        resolutions=parse_resolutions(table.resolutions) if table.resolutions is not None else (),
        quality=quality,
        recipes=table.recipes,
        latency_budget_ms=table.latency_budget_ms,
        fallback_max_slowdown=table.fallback_max_slowdown,
        placement_min_share=table.placement_min_share,
    )


def _quality_spec(
    quality: QualityTable, task: Task, base: Path, where: str, labels: bool
) -> QualitySpec:
    """``[model.quality]``: ``metric``/``floor``, and ``floors = {iou = 0.9, snr_db = 20}``.

    With ``floors`` alone, its first entry is the metric variants are ranked by.
    ``metric = "file.py:function"`` is a user metric, named after the function; every
    other metric name must be one the task computes.
    """
    floors = quality.floors or {}
    default_metric, default_floor = DEFAULT_FLOORS.get(task, DEFAULT_FLOORS["generic"])
    metric = quality.metric or next(iter(floors), default_metric)
    user_metric = user_sha = None
    if is_factory(metric):
        user_metric = _resolve_source(metric, base)
        if not Path(user_metric.rsplit(":", 1)[0]).is_file():
            raise UsageError(
                f"{where}metric file {user_metric.rsplit(':', 1)[0]} not found; fix "
                "model.quality.metric"
            )
        user_sha = factory_code_sha256(user_metric)
        metric = metric.rsplit(":", 1)[1]
    elif ":" in metric:
        raise UsageError(
            f"{where}metric {metric!r} in model.quality.metric is neither a metric name nor "
            "'file.py:function'"
        )
    else:
        _check_metric(metric, task, where, labels)
    for name in floors:
        if name != metric:
            _check_metric(name, task, where, labels, key="model.quality.floors")
    higher = (
        quality.higher_is_better
        if quality.higher_is_better is not None
        else HIGHER_IS_BETTER.get(metric, True)
    )
    if quality.floor is not None:
        floor = quality.floor
    elif metric in floors:
        floor = floors[metric]
    elif metric == default_metric:
        floor = default_floor
    else:
        raise UsageError(f"{where}model.quality.metric {metric!r} needs a floor; add floor = ...")
    return QualitySpec(
        metric=metric,
        floor=floor,
        higher_is_better=higher,
        floors=tuple(
            QualityFloor(metric=n, floor=v, higher_is_better=HIGHER_IS_BETTER.get(n, True))
            for n, v in floors.items()
            if n != metric
        ),
        user_metric=user_metric,
        user_metric_sha256=user_sha,
    )


def _check_metric(
    metric: str, task: Task, where: str, labels: bool, key: str = "model.quality.metric"
) -> None:
    computed = metrics_of_task(task, labels)
    if metric in computed:
        return
    if metric in HIGHER_IS_BETTER:
        raise UsageError(
            f"{where}metric {metric!r} in {key} is not computed for task "
            f"{task!r}; use one of {', '.join(computed)}, or set model.task"
        )
    close = difflib.get_close_matches(metric, computed, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"{where}unknown metric {metric!r} in {key}; {hint}"
        f"task {task!r} computes {', '.join(computed)}"
    )


# Models that are folders: a TensorFlow SavedModel, a Core ML package or compiled model.
MODEL_FOLDER_SUFFIXES = (".mlpackage", ".mlmodelc")


def _is_model_folder(path: Path) -> bool:
    return path.suffix in MODEL_FOLDER_SUFFIXES or (path / "saved_model.pb").is_file()


def _resolve_source(source: str, base: Path) -> str:
    if is_factory(source):
        file, function = source.rsplit(":", 1)
        return f"{(base / file).resolve()}:{function}"
    return str((base / source).resolve()) if not Path(source).is_absolute() else source


def _source_sha256(source: str) -> str:
    return factory_code_sha256(source) if is_factory(source) else sha256_tree(Path(source))
