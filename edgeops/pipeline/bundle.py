"""The release bundle: ``manifest.json``, ``results.json``, ``report.md``, ``report.html``,
``gallery/``, ``variants/``.

The bundle is built in a temporary folder and renamed into place whole.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeops.errors import EdgeopsError, ResultsError, UsageError
from edgeops.files import (
    MAX_RESULTS_BYTES,
    check_regular,
    copy_file,
    read_regular,
    sha256_tree,
    size_bytes,
    staged_dir,
)
from edgeops.hookspecs import hookimpl
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
from edgeops.pipeline.names import MAX_FILE_NAME_BYTES, check_name, inside
from edgeops.report.tables import markdown_report


def default_bundle_dir(results: Results) -> Path:
    name = check_name(results.spec.name, "model name")
    version = check_name(results.spec.version, "model version")
    return Path("dist") / f"{name}-{version}"


def variant_file_name(results: Results, variant: Variant) -> str:
    assert variant.path is not None and variant.recipe is not None
    suffix = "".join(variant.path.suffixes[-1:])
    name = "-".join(
        (
            check_name(results.spec.name, "model name"),
            check_name(variant.format, "variant format"),
            check_name(variant.recipe.name, "recipe name"),
            check_name(variant.id[:8], "variant id"),
        )
    )
    return check_name(f"{name}{suffix}", "variant file name", MAX_FILE_NAME_BYTES)


def is_bundle(folder: Path) -> bool:
    """An earlier edgeops bundle: its manifest and results are there and read as such."""
    try:
        manifest = json.loads(read_regular(folder / "manifest.json", "manifest", MAX_RESULTS_BYTES))
        results = json.loads(read_regular(folder / "results.json", "results", MAX_RESULTS_BYTES))
    except (EdgeopsError, OSError, ValueError, RecursionError):
        return False
    return (
        isinstance(manifest, dict)
        and isinstance(results, dict)
        and "profiles" in manifest
        and "schema_version" in results
    )


def check_bundle_target(out: Path, force: bool = False) -> None:
    """Refuse to replace a folder that is not an earlier bundle, or one we stand in.

    Called before any work, so a wrong ``--out`` costs nothing.
    """
    here = Path.cwd().resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        raise UsageError(
            f"--out {out} is the current folder or holds it; the bundle replaces its folder "
            "whole, so pass a new folder such as dist/release"
        )
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {out} exists and is not a folder; pass a folder path")
    if out.is_dir() and any(out.iterdir()) and not is_bundle(out) and not force:
        raise UsageError(
            f"--out {out} is a folder with files that is not an edgeops bundle; "
            "the bundle would replace them: pass an empty or new folder, or --force"
        )


def _verified_copy(variant: Variant, target: Path) -> None:
    """Copy a variant's file and refuse it unless its sha256 and size are those recorded.

    The size and hash are checked on the source before a byte is copied (a
    results.json naming ``/dev/zero`` or a foreign folder costs nothing), and
    on the copy after, so what the bundle holds is what was checked.
    """
    assert variant.path is not None
    source = variant.path
    if not source.exists():
        raise ResultsError(
            f"variant {variant.id[:8]}'s file {source} is missing; re-run the stage that made it"
        )
    what = f"variant {variant.id[:8]}'s file"
    if not source.is_dir():
        check_regular(source, what, ResultsError)
    _check_recorded(variant, source)
    copy_file(source, target)
    _check_recorded(variant, target)


def _check_recorded(variant: Variant, path: Path) -> None:
    try:
        found_size = size_bytes(path)
        # A size that differs settles it: a huge foreign file is not read to be refused.
        found_sha = sha256_tree(path) if found_size == variant.size_bytes else None
    except EdgeopsError as exc:
        raise ResultsError(f"variant {variant.id[:8]}: {exc}") from exc
    if found_sha is None or found_sha != variant.sha256:
        found = f"sha256 {found_sha[:12]}… and " if found_sha else ""
        raise ResultsError(
            f"variant {variant.id[:8]}'s file {path} has {found}{found_size} bytes, but the "
            f"results record sha256 {str(variant.sha256)[:12]}… and {variant.size_bytes} "
            "bytes; refusing to bundle it: re-run the stage that made it"
        )


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
                delegates=variant.delegates,
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
                    runtime=c.runtime,
                    min_os=c.min_os,
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


@hookimpl(trylast=True)
def edgeops_write_bundle(results: Results, out: Path, force: bool) -> Path:
    """The core's bundle (this module's docstring)."""
    return write_bundle(results, out, force=force)


def write_bundle(results: Results, out: Path, force: bool = False) -> Path:
    check_bundle_target(out, force)
    manifest = build_manifest(results)
    with staged_dir(out) as tmp:
        (tmp / "variants").mkdir()
        for variant in results.variants:
            if variant.id not in manifest.variants:
                continue
            _verified_copy(variant, inside(tmp / "variants", variant_file_name(results, variant)))
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
    if not path.exists():
        raise ResultsError(f"{path} not found; pass a results.json or a bundle folder")
    raw = read_regular(path, "results file", MAX_RESULTS_BYTES, ResultsError)
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path} is not UTF-8 JSON; pass the results.json a run wrote") from exc
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path} is not JSON ({exc}); pass the results.json a run wrote"
        ) from exc
    except RecursionError as exc:
        raise ResultsError(
            f"{path} is nested too deeply to be a results file; pass the results.json a run wrote"
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
