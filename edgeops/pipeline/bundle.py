"""The release bundle: ``manifest.json``, ``results.json``, ``report.md``, ``variants/``.

The bundle is built in a temporary folder and renamed into place whole.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgeops.cli.tables import markdown_report
from edgeops.errors import ResultsError
from edgeops.files import staged_dir
from edgeops.models import (
    Manifest,
    ManifestChoice,
    ManifestProfile,
    ManifestTensor,
    ManifestVariant,
    Results,
    Variant,
    utc_now,
)


def default_bundle_dir(results: Results) -> Path:
    return Path("dist") / f"{results.spec.name}-{results.spec.version}"


def variant_file_name(results: Results, variant: Variant) -> str:
    assert variant.path is not None and variant.recipe is not None
    suffix = "".join(variant.path.suffixes[-1:])
    return f"{results.spec.name}-{variant.format}-{variant.recipe.name}-{variant.id[:8]}{suffix}"


def build_manifest(results: Results) -> Manifest:
    """The app-facing subset: per profile, the choices in order, and their files."""
    chosen = {c.variant_id for plan in results.plans for c in plan.choices}
    variants = {}
    for variant in results.variants:
        if variant.id in chosen:
            assert variant.sha256 is not None and variant.size_bytes is not None
            variants[variant.id] = ManifestVariant(
                file=f"variants/{variant_file_name(results, variant)}",
                format=variant.format,
                recipe=variant.recipe.name if variant.recipe else None,
                sha256=variant.sha256,
                size_bytes=variant.size_bytes,
                runtime=RUNTIME_OF_FORMAT.get(variant.format),
            )
    by_id = {p.id: p for p in results.profiles}
    profiles = {
        plan.profile_id: ManifestProfile(
            status=plan.status,
            platform=by_id[plan.profile_id].platform if plan.profile_id in by_id else None,
            match=by_id[plan.profile_id].match if plan.profile_id in by_id else {},
            choices=tuple(
                ManifestChoice(
                    variant=c.variant_id,
                    compute_unit=c.compute_unit,
                    requires=c.requires,
                    min_free_memory_mb=c.min_free_memory_mb,
                    expected_p50_ms=round(c.expected_p50_ms, 4)
                    if c.expected_p50_ms is not None
                    else None,
                    p50_interval=c.p50_interval,
                    method=c.method,
                )
                for c in plan.choices
            ),
        )
        for plan in results.plans
    }
    return Manifest(
        model=results.spec.name,
        version=results.spec.version,
        created_at=utc_now(),
        inputs=_inputs(results),
        outputs=_outputs(results),
        variants=variants,
        profiles=profiles,
    )


# What loads each format's file on the device.
RUNTIME_OF_FORMAT = {"tflite": "litert", "coreml": "coreml", "onnx": "onnxruntime"}


def _inputs(results: Results) -> tuple[ManifestTensor, ...]:
    """The spec's inputs, else the converted model's own signature."""
    inputs = results.spec.inputs or next(
        (a.inputs for a in results.artifacts if a.status == "ok" and a.inputs), ()
    )
    return tuple(
        ManifestTensor(
            name=i.name,
            shape=i.shape,
            dtype=i.dtype,
            layout=i.layout,
            value_range=i.value_range,
        )
        for i in inputs
    )


def _outputs(results: Results) -> tuple[ManifestTensor, ...]:
    """Shapes and dtypes of the reference outputs on the first sample (the source model's)."""
    reference = results.reference
    if reference is None or not Path(reference.path).is_file():
        return ()
    import numpy as np

    with np.load(reference.path) as arrays:
        return tuple(
            ManifestTensor(
                name=name, shape=arrays[f"{k}/0"].shape, dtype=str(arrays[f"{k}/0"].dtype)
            )
            for k, name in enumerate(reference.output_names)
            if f"{k}/0" in arrays
        )


def manifest_schema() -> dict[str, object]:
    """The manifest's JSON Schema, open everywhere: readers ignore keys added in 1.x."""

    def open_up(node: object) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                del node["additionalProperties"]
            for value in node.values():
                open_up(value)
        elif isinstance(node, list):
            for value in node:
                open_up(value)

    schema = Manifest.model_json_schema()
    open_up(schema)
    return schema


def write_bundle(results: Results, out: Path) -> Path:
    manifest = build_manifest(results)
    with staged_dir(out) as tmp:
        (tmp / "variants").mkdir()
        for variant in results.variants:
            if variant.id not in manifest.variants:
                continue
            assert variant.path is not None
            target = tmp / manifest.variants[variant.id].file
            if variant.path.is_dir():
                shutil.copytree(variant.path, target)
            else:
                shutil.copyfile(variant.path, target)
        (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n")
        (tmp / "results.json").write_text(results.model_dump_json(indent=2) + "\n")
        (tmp / "report.md").write_text(markdown_report(results))
        write_html_report(results, tmp)
    return out


def write_html_report(results: Results, bundle: Path) -> None:
    """``gallery/`` and ``report.html`` (edgeops.report); plotly comes with the studio extra."""
    import importlib.util
    import sys

    from edgeops.report.gallery import write_gallery
    from edgeops.report.html import write_report

    gallery = write_gallery(results, bundle)
    missing = [m for m in ("plotly", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        # The bundle stays whole without it; report.md has the tables.
        sys.stderr.write(
            f"edgeops: no report.html ({', '.join(missing)} not installed); "
            "install edgeops[studio] to get it\n"
        )
        return
    write_report(results, gallery, bundle)


def read_results(path: Path) -> Results:
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ResultsError(f"{path} not found; pass a results.json or a bundle folder")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path} is not JSON ({exc}); pass the results.json a run wrote"
        ) from exc
    version = data.get("schema_version") if isinstance(data, dict) else None
    from edgeops.models import RESULTS_SCHEMA_VERSION

    if version != RESULTS_SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has results schema {version!r}, this edgeops reads {RESULTS_SCHEMA_VERSION!r}; "
            "re-run the stage that wrote it"
        )
    try:
        return Results.model_validate(data)
    except ValueError as exc:
        raise ResultsError(
            f"{path} is not a valid results file ({str(exc).splitlines()[0]})"
        ) from exc
