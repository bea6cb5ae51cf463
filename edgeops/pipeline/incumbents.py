"""A baseline's primary files, measured again in this session beside the candidates.

``ship --baseline B`` and ``gate --remeasure`` take each profile's primary file
from B's bundle (``variants/``), check it against the sha256 and size B's
results and manifest record **before** it is used or copied, copy it into the
workspace (baselines/<run id>/) and check the copy again (so a change to the bundle after the
check cannot reach the device). The copy is then an ordinary variant of this
run, marked ``remeasured_from`` B's run id and ``remeasured_for`` the profile
and compute unit it was chosen on, and the scheduler measures it on the same
device, interleaved round by round with the candidates (the contract is in
edgeops/gate/pairing.py).

- A file byte-identical to a variant of this run is not added: that variant is
  marked instead, measured once, and compared as itself.
- A file of the same source model is a candidate of this run too (its quality
  is scored on this run's samples), so a newcomer replaces the incumbent only
  when the paired comparison of their rounds says so (selection.py). A file of
  another source model is measured for the gate only (``remeasured_only``).
- A baseline without its files (a results.json alone, or a bundle whose
  variants/ folder is gone) cannot be measured again: nothing is added, and
  the gate compares stored rounds across sessions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgeops.errors import UsageError
from edgeops.files import check_links_inside, copy_file, sha256_tree, size_bytes
from edgeops.models import Device, DeviceProfile, Measurement, Plan, Results, Variant
from edgeops.pipeline.names import check_name, inside

if TYPE_CHECKING:
    from edgeops.pipeline import Pipeline

# A manifest is a few KB; one past this is not a manifest, and is not read whole.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def bundle_of(path: Path) -> Path | None:
    """The bundle folder ``path`` (a bundle, or its results.json) names, when its variants
    are there to be measured again; None for a results.json alone."""
    folder = path if path.is_dir() else path.parent
    if not (folder / "manifest.json").is_file() or not (folder / "variants").is_dir():
        return None
    return folder


def verified_primaries(
    results: Results, bundle: Path, workdir: Path, mark: bool = True
) -> list[Variant]:
    """Each supported profile's primary file from ``bundle``, verified, copied, verified.

    Returns variants whose ``path`` is the checked copy under ``workdir``,
    marked ``remeasured_from`` ``results.run_id`` (unless ``mark`` is False: the
    current side of ``gate --remeasure``). Raises ``UsageError`` (one
    line naming the fix) for a file that is missing or whose bytes are not
    those ``results`` record, before anything is copied or measured.
    """
    files = _manifest_files(bundle)
    by_id: dict[str, Variant] = {}
    for plan in results.plans:
        if plan.status != "supported" or not plan.choices:
            continue
        choice = plan.choices[0]
        if choice.method != "measured":
            continue  # a predicted primary has no rounds to pair with
        try:
            variant = results.variant(choice.variant_id)
        except KeyError:
            raise UsageError(
                f"baseline {bundle}: profile {plan.profile_id}'s primary {choice.variant_id[:8]} "
                "is not among its variants; re-ship the baseline"
            ) from None
        if variant.id in by_id:
            known = by_id[variant.id]
            by_id[variant.id] = known.model_copy(
                update={
                    "remeasured_for": {
                        **known.remeasured_for,
                        plan.profile_id: choice.compute_unit,
                    }
                }
            )
            continue
        source = _checked_source(bundle, files, variant)
        copy = inside(workdir, source.name)
        copy_file(source, copy)
        # Checked again on the copy: the bundle might change between the check and the copy.
        _check_bytes(copy, variant, f"the copy {copy}")
        by_id[variant.id] = variant.model_copy(
            update={
                "path": copy,
                "remeasured_from": results.run_id if mark else None,
                "remeasured_for": {plan.profile_id: choice.compute_unit},
                "remeasured_only": False,
                "pruned": {},
            }
        )
    return list(by_id.values())


def add_incumbents(current: Results, incumbents: list[Variant], baseline: Results) -> Results:
    """``current`` with the baseline's primary files among its variants (see the module doc).

    A variant of ``current`` byte-identical to one of them is marked and measured
    once. Returns the Results and leaves the quality of an added same-source file
    to be scored by the caller (``Pipeline.evaluate_added``).
    """
    variants = list(current.variants)
    profiles = {p.id: p for p in current.profiles}
    same_source = baseline.spec.source_sha256 == current.spec.source_sha256
    for incumbent in incumbents:
        wanted = {
            profile: unit
            for profile, unit in incumbent.remeasured_for.items()
            if profile in profiles and incumbent.format in profiles[profile].formats
        }
        if not wanted:
            continue
        twin = next(
            (
                i
                for i, v in enumerate(variants)
                if v.status == "ok" and v.sha256 is not None and v.sha256 == incumbent.sha256
            ),
            None,
        )
        if twin is not None:
            v = variants[twin]
            # Measured once, as this run's variant: where it was ruled out on the host,
            # it is measured anyway, as the baseline's primary.
            variants[twin] = v.model_copy(
                update={
                    "remeasured_from": incumbent.remeasured_from,
                    "remeasured_for": {**v.remeasured_for, **wanted},
                    "pruned": {k: why for k, why in v.pruned.items() if k not in wanted},
                }
            )
            continue
        taken = {v.id for v in variants}
        # The same cache key for other bytes (a converter that is not deterministic):
        # the gate finds the file by its sha256, so another id keeps both.
        new_id = incumbent.id if incumbent.id not in taken else f"{incumbent.id}-baseline"
        others = {p: "re-measured only where it was the baseline's primary" for p in profiles}
        variants.append(
            incumbent.model_copy(
                update={
                    "id": new_id,
                    "remeasured_for": wanted,
                    "remeasured_only": not same_source,
                    "pruned": {p: why for p, why in others.items() if p not in wanted},
                    "quality": incumbent.quality if not same_source else None,
                }
            )
        )
    return current.model_copy(update={"variants": tuple(variants)})


def _manifest_files(bundle: Path) -> dict[str, dict[str, object]]:
    path = bundle / "manifest.json"
    if path.is_symlink() or not path.is_file():
        raise UsageError(
            f"baseline {bundle} has no manifest.json; pass the bundle folder ship wrote"
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise UsageError(f"baseline {path} is over {MAX_MANIFEST_BYTES} bytes; not a manifest")
    try:
        document = json.loads(path.read_text())
        variants = document["variants"]
        if not isinstance(variants, dict):
            raise TypeError("variants is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"baseline {path} is not a manifest ({exc}); pass the bundle folder ship wrote"
        ) from None
    return {str(k): v for k, v in variants.items() if isinstance(v, dict)}


def _checked_source(bundle: Path, files: dict[str, dict[str, object]], variant: Variant) -> Path:
    """The variant's file in the bundle, once its bytes are those both records name."""
    entry = files.get(variant.id)
    name = str(entry.get("file", "")) if entry else ""
    folder, _, base = name.partition("/")
    if entry is None or folder != "variants" or not base:
        raise UsageError(
            f"baseline {bundle}: the manifest names no file for primary {variant.name} "
            f"({variant.id[:8]}); pass the bundle folder ship wrote"
        )
    source = inside(bundle / "variants", check_name(base, "baseline variant file name"))
    if entry.get("sha256") != variant.sha256:
        raise UsageError(
            f"baseline {bundle}: manifest and results disagree on {base}'s sha256; "
            "the bundle was edited: restore it from its release"
        )
    if source.is_symlink() or not (source.is_file() or source.is_dir()):
        raise UsageError(
            f"baseline file {source} is missing or not a regular file; restore the bundle from "
            "its release, or gate without --remeasure (stored rounds, across sessions)"
        )
    if source.is_dir():
        check_links_inside(source)
    _check_bytes(source, variant, str(source))
    return source


def _check_bytes(path: Path, variant: Variant, what: str) -> None:
    found_sha, found_size = sha256_tree(path), size_bytes(path)
    if found_sha != variant.sha256 or found_size != variant.size_bytes:
        raise UsageError(
            f"baseline file {what} has sha256 {found_sha[:12]}… and {found_size} bytes, but the "
            f"baseline's results record {str(variant.sha256)[:12]}… and {variant.size_bytes}; "
            "refusing to measure it: restore the bundle from its release"
        )


def remeasured_side_by_side(
    pipeline: Pipeline,
    baseline: Results,
    base_bundle: Path,
    current: Results,
    cur_bundle: Path,
    devices: list[Device],
    workdir: Path,
    rounds: int | None = None,
) -> Results:
    """``gate --remeasure``: both runs' primaries measured again in one session.

    The current's primary and the baseline's primary of each profile are
    measured on that profile's device, interleaved round by round, by the
    pipeline's own measure stage (no second scheduler, no halving: both sides
    need every round). Returns ``current`` whose primaries' measurements are
    this session's, with the baseline's marked ``remeasured_from`` beside
    them, for the gate's paired mode.
    """
    base_files = verified_primaries(baseline, base_bundle, workdir / "baseline")
    mine = verified_primaries(current, cur_bundle, workdir / "current", mark=False)
    if not base_files or not mine:
        raise UsageError(
            "gate --remeasure: no measured primary to measure again in "
            f"{'the baseline' if not base_files else 'the current run'}; gate without --remeasure"
        )
    profiles = {p.id for p in current.profiles}
    session = current.model_copy(
        update={
            "variants": tuple(
                v.model_copy(
                    update={
                        # Measured where it is the primary, on its compute unit only.
                        "remeasured_only": True,
                        "pruned": {
                            p: "not the primary here" for p in profiles if p not in v.remeasured_for
                        },
                    }
                )
                for v in mine
            ),
            "measurements": (),
        }
    )
    session = add_incumbents(session, base_files, baseline)
    session = session.model_copy(
        update={
            "variants": tuple(
                v.model_copy(update={"remeasured_only": True}) for v in session.variants
            )
        }
    )
    settings = current.settings.model_copy(update={"rounds": rounds or current.settings.rounds})
    measured = pipeline.measure(session, devices, settings)
    ok = [m for m in measured.measurements if m.method == "measured"]
    if not ok:
        raise UsageError(
            "gate --remeasure: no device of the runs' profiles is attached; pass --devices "
            "devices.toml, or gate without --remeasure"
        )
    fresh = {(m.variant_id, m.profile_id, m.compute_unit) for m in ok}
    kept = tuple(
        m for m in current.measurements if (m.variant_id, m.profile_id, m.compute_unit) not in fresh
    )
    known = {v.id for v in current.variants}
    added = tuple(
        v.model_copy(update={"path": v.path}) for v in measured.variants if v.id not in known
    )
    return current.model_copy(
        update={
            "measurements": kept + tuple(ok),
            "variants": current.variants + added,
            "devices": tuple({d.id: d for d in (*current.devices, *measured.devices)}.values()),
        }
    )


def score_incumbents(pipeline: Pipeline, results: Results) -> Results:
    """Score the baseline's files added as candidates (incumbents.py) on this run's samples.

    One whose score fails is kept for the gate only: it cannot be chosen unscored.
    """
    variants = []
    for v in results.variants:
        if (
            v.remeasured_from is not None
            and not v.remeasured_only
            and v.quality is None
            and v.status == "ok"
        ):
            scored = pipeline.score_variant(v, results)
            v = scored if scored.status == "ok" else v.model_copy(update={"remeasured_only": True})
        variants.append(v)
    return results.model_copy(update={"variants": tuple(variants)})


def units_to_measure(variant: Variant, profile: DeviceProfile) -> tuple[str, ...]:
    """A baseline file measured for the gate only: the compute unit it was chosen on there
    (none on other profiles)."""
    if variant.remeasured_only:
        unit = variant.remeasured_for.get(profile.id)
        return (unit,) if unit in profile.compute_units else ()
    return profile.compute_units


def marked_remeasured(
    measurements: list[Measurement], variants: tuple[Variant, ...]
) -> list[Measurement]:
    """A measurement of a baseline's primary file, made in this run, says which run it was
    the primary of (``remeasured_from``), where it was: the gate pairs it with the candidate."""
    by_id = {v.id: v for v in variants}
    marked = []
    for m in measurements:
        v = by_id.get(m.variant_id)
        if (
            v is not None
            and v.remeasured_from is not None
            and m.method == "measured"
            and v.remeasured_for.get(m.profile_id) == m.compute_unit
        ):
            m = m.model_copy(update={"remeasured_from": v.remeasured_from})
        marked.append(m)
    return marked


def choosable(results: Results) -> Results:
    """``results`` without the files measured for the gate only, and their measurements."""
    gate_only = {v.id for v in results.variants if v.remeasured_only}
    return results.model_copy(
        update={
            "variants": tuple(v for v in results.variants if v.id not in gate_only),
            "measurements": tuple(m for m in results.measurements if m.variant_id not in gate_only),
        }
    )


def with_device_time(plan: Plan, measurements: tuple[Measurement, ...]) -> Plan:
    """``plan`` with the device time its decision cost (``Plan.device_time_s``)."""
    return plan.model_copy(update={"device_time_s": device_time_s(measurements, plan.profile_id)})


def device_time_s(measurements: tuple[Measurement, ...], profile_id: str) -> float | None:
    """The device time a profile's measurements took: each round's probe process, summed.

    None when no measurement of the profile says how long its rounds took (a
    tool that reports no wall time, or a profile measured nowhere).
    """
    walls = [
        m.environment.get("probe_wall_s")
        for m in measurements
        if m.profile_id == profile_id and m.method == "measured"
    ]
    known = [w for w in walls if isinstance(w, int | float)]
    return round(sum(known), 3) if known else None
