"""Reading a ModelSpec from ``edgeops.toml``, a model path, and CLI flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgeops.errors import ModelError, UsageError
from edgeops.files import sha256_tree
from edgeops.models import ModelSpec, QualityFloor, QualitySpec, Task
from edgeops.pipeline.factories import factory_code_sha256, is_factory
from edgeops.pipeline.names import check_name
from edgeops.pipeline.resolution import parse_resolutions
from edgeops.quality import DEFAULT_FLOORS, HIGHER_IS_BETTER

CONFIG_NAME = "edgeops.toml"


@dataclass(frozen=True)
class ShipDefaults:
    """The ``[ship]`` table: what a bare ``edgeops ship`` of this config does."""

    profiles: tuple[str, ...] = ()
    # None: SelectionPolicy's default, the one place it is written.
    memory_safety_factor: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_spec(
    target: str | Path,
    task: Task | None = None,
    name: str | None = None,
    version: str | None = None,
) -> tuple[ModelSpec, ShipDefaults]:
    path = Path(target)
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        path = path / CONFIG_NAME
    if path.name == CONFIG_NAME or path.suffix == ".toml":
        return _from_config(path, task=task, name=name, version=version)
    return _from_model(
        str(target), base=Path.cwd(), table={}, task=task, name=name, version=version
    ), ShipDefaults()


def _from_config(
    path: Path, task: Task | None, name: str | None, version: str | None
) -> tuple[ModelSpec, ShipDefaults]:
    if not path.is_file():
        raise UsageError(
            f"config {path} not found; pass a model file or a folder holding {CONFIG_NAME}"
        )
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}); fix the file") from exc
    table = config.get("model")
    if not isinstance(table, dict) or "source" not in table:
        raise UsageError(f"{path} needs a [model] table with a 'source' key")
    spec = _from_model(
        table["source"],
        base=path.parent.resolve(),
        table=table,
        task=task,
        name=name,
        version=version,
    )
    sweep = config.get("sweep", [])
    if not isinstance(sweep, list) or not all(isinstance(s, dict) for s in sweep):
        raise UsageError(f"{path}: write each sweep as a [[sweep]] table")
    spec = spec.model_copy(update={"sweep": tuple(sweep)})
    ship = config.get("ship", {})
    defaults = ShipDefaults(
        profiles=tuple(ship.get("profiles", ())),
        memory_safety_factor=(
            float(ship["memory_safety_factor"]) if "memory_safety_factor" in ship else None
        ),
        extra={k: v for k, v in ship.items() if k not in {"profiles", "memory_safety_factor"}},
    )
    return spec, defaults


def _from_model(
    source: str,
    base: Path,
    table: dict[str, Any],
    task: Task | None,
    name: str | None,
    version: str | None,
) -> ModelSpec:
    source = _resolve_source(source, base)
    source_file = Path(source.rsplit(":", 1)[0]) if is_factory(source) else Path(source)
    if not source_file.exists():
        raise ModelError(f"model {source_file} not found; check the path")
    samples = table.get("samples")
    if isinstance(samples, str):
        samples = _resolve_source(samples, base)
    labels = table.get("labels")
    if isinstance(labels, str):
        labels = _resolve_source(labels, base)
    chosen_task: Task = task or table.get("task", "generic")
    # Both become the bundle's folder name: checked before any work (issue 10).
    checked_name = check_name(name or table.get("name") or source_file.stem, "model name")
    checked_version = check_name(version or str(table.get("version", "0.0.0")), "model version")
    quality_spec = _quality_spec(table.get("quality") or {}, chosen_task, base)
    try:
        return ModelSpec(
            name=checked_name,
            version=checked_version,
            source=source,
            source_sha256=_source_sha256(source),
            task=chosen_task,
            inputs=tuple(table.get("inputs", ())),
            samples=samples,
            sample_count=int(table.get("sample_count", 16)),
            labels=labels,
            resolutions=parse_resolutions(table["resolutions"]) if "resolutions" in table else (),
            quality=quality_spec,
            recipes=tuple(table["recipes"]) if "recipes" in table else None,
            latency_budget_ms=table.get("latency_budget_ms"),
        )
    except ValidationError as exc:
        raise UsageError(
            f"invalid [model] settings: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from exc


def _quality_spec(quality: dict[str, Any], task: Task, base: Path) -> QualitySpec:
    """``[model.quality]``: ``metric``/``floor``, and ``floors = {iou = 0.9, snr_db = 20}``.

    With ``floors`` alone, its first entry is the metric variants are ranked by.
    ``metric = "file.py:function"`` is a user metric, named after the function.
    """
    floors = quality.get("floors") or {}
    if not isinstance(floors, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in floors.values()
    ):
        raise UsageError(
            "[model.quality] floors must be a table of metric = number, e.g. "
            "floors = { iou = 0.9, snr_db = 20 }"
        )
    default_metric, default_floor = DEFAULT_FLOORS.get(task, DEFAULT_FLOORS["generic"])
    metric = str(quality.get("metric", next(iter(floors), default_metric)))
    user_metric = user_sha = None
    if is_factory(metric):
        user_metric = _resolve_source(metric, base)
        if not Path(user_metric.rsplit(":", 1)[0]).is_file():
            raise UsageError(f"metric file {user_metric.rsplit(':', 1)[0]} not found; fix `metric`")
        user_sha = factory_code_sha256(user_metric)
        metric = metric.rsplit(":", 1)[1]
    elif ":" in metric:
        raise UsageError(f"metric {metric!r} is neither a metric name nor 'file.py:function'")
    higher = bool(quality.get("higher_is_better", HIGHER_IS_BETTER.get(metric, True)))
    if "floor" in quality:
        floor = float(quality["floor"])
    elif metric in floors:
        floor = float(floors[metric])
    elif metric == default_metric:
        floor = default_floor
    else:
        raise UsageError(f"[model.quality] metric {metric!r} needs a floor; add floor = ...")
    return QualitySpec(
        metric=metric,
        floor=floor,
        higher_is_better=higher,
        floors=tuple(
            QualityFloor(
                metric=name, floor=float(value), higher_is_better=HIGHER_IS_BETTER.get(name, True)
            )
            for name, value in floors.items()
            if name != metric
        ),
        user_metric=user_metric,
        user_metric_sha256=user_sha,
    )


def _resolve_source(source: str, base: Path) -> str:
    if is_factory(source):
        file, function = source.rsplit(":", 1)
        return f"{(base / file).resolve()}:{function}"
    return str((base / source).resolve()) if not Path(source).is_absolute() else source


def _source_sha256(source: str) -> str:
    return factory_code_sha256(source) if is_factory(source) else sha256_tree(Path(source))
