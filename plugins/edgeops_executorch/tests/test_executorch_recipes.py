"""The ExecuTorch sweep: delegate x precision, typed; which profiles get which recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import edgeops_executorch
from edgeops.plugin import Artifact, MeasureSettings, Recipe, load_profiles
from edgeops_executorch import recipes


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


BACKEND = edgeops_executorch.ExecuTorchBackend()


def test_the_catalogue_is_every_pair_executorch_lowers():
    assert BACKEND.recipes().catalogue("executorch") == [
        "executorch:portable-fp32",
        "executorch:xnnpack-fp32",
        "executorch:xnnpack-int8",
        "executorch:coreml-fp16",
        "executorch:coreml-int8-weights",
    ]


def test_a_pair_executorch_does_not_lower_is_refused_naming_the_ones_it_does():
    with pytest.raises(ValidationError, match="portable lowering has no int8 here; use fp32"):
        recipes.Lower(delegate="portable", precision="int8")
    with pytest.raises(ValidationError, match="use fp16 or int8-weights"):
        recipes.Lower(delegate="coreml", precision="fp32")


def test_core_ml_recipes_are_proposed_only_where_an_apple_profile_runs_executorch(profiles):
    android = recipes.propose([profiles["pixel6"]])
    assert [r.name for r in android] == ["portable-fp32", "xnnpack-fp32", "xnnpack-int8"]
    both = recipes.propose([profiles["pixel6"], profiles["iphone15pro"]])
    assert {r.name for r in both} >= {"coreml-fp16", "coreml-int8-weights"}
    coreml = next(r for r in both if r.name == "coreml-fp16")
    assert coreml.deployment_target == "iOS17" and coreml.compute_precision == "float16"
    assert "for iphone15pro" in coreml.description and "pixel6" not in coreml.description
    # A profile that does not list executorch gets nothing from it.
    assert recipes.propose([profiles["nexus5"]]) == []


def test_profiles_list_executorch_where_its_runtime_runs(profiles):
    for profile_id in ("host", "pixel6", "galaxy-s23", "iphone15pro", "mac-m1"):
        assert "executorch" in profiles[profile_id].formats, profile_id
    # A11 iPhones stop at iOS 16; ExecuTorch's Swift package needs iOS 17.
    assert "executorch" not in profiles["iphonex"].formats


def test_a_core_ml_partition_is_unfit_for_android_and_linux(profiles):
    variant = Artifact(
        format="executorch",
        recipe=recipes.recipe(recipes.Lower(delegate="coreml", precision="fp16")),
    )
    reason = BACKEND.unfit(variant, profiles["pixel6"])
    assert reason is not None and "needs Core ML" in reason and "pixel6 runs android" in reason
    assert BACKEND.unfit(variant, profiles["host"])
    assert BACKEND.unfit(variant, profiles["iphone15pro"]) is None
    xnnpack = variant.model_copy(
        update={"recipe": recipes.recipe(recipes.Lower(delegate="xnnpack", precision="int8"))}
    )
    assert BACKEND.unfit(xnnpack, profiles["pixel6"]) is None


def test_routed_the_unfit_hook_refuses_core_ml_off_apple_and_nothing_else(
    profiles, edgeops_pm, register_plugin
):
    """Through ``edgeops_variant_unfit`` as the pipeline calls it (collected from every
    plugin): the Core ML program is ruled out on Android and Linux, kept on an iPhone."""
    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    coreml = Artifact(
        format="executorch",
        recipe=recipes.recipe(recipes.Lower(delegate="coreml", precision="int8-weights")),
    )
    xnnpack = coreml.model_copy(
        update={"recipe": recipes.recipe(recipes.Lower(delegate="xnnpack", precision="fp32"))}
    )

    def reasons(variant, profile_id):
        found = edgeops_pm.hook.edgeops_variant_unfit(variant=variant, profile=profiles[profile_id])
        return [r for r in found if r]

    for off_apple in ("pixel6", "galaxy-s23", "host"):
        assert [r.split(";")[0] for r in reasons(coreml, off_apple)] == [
            "a Core ML partition needs Core ML (iOS or macOS)"
        ], off_apple
    assert reasons(coreml, "iphone15pro") == [] and reasons(coreml, "mac-m4") == []
    assert reasons(xnnpack, "pixel6") == [] and reasons(xnnpack, "iphone15pro") == []


@pytest.mark.parametrize(
    ("delegate", "precision", "platform", "unit"),
    [
        ("portable", "fp32", "linux", "cpu"),
        ("xnnpack", "int8", "android", "xnnpack"),
        ("xnnpack", "fp32", "ios", "cpu_only"),
        ("coreml", "fp16", "ios", "all"),
    ],
)
def test_each_program_runs_on_one_compute_unit(delegate, precision, platform, unit):
    assert (
        recipes.compute_unit(recipes.Lower(delegate=delegate, precision=precision), platform)
        == unit
    )


def test_a_sweep_table_expands_delegate_by_precision_and_drops_the_pairs_it_cannot():
    from edgeops.pipeline.sweep import expand

    table = {
        "recipe": "executorch:lower",
        "delegate": ["portable", "xnnpack"],
        "precision": ["fp32", "int8"],
    }
    expansion = expand([table], BACKEND.recipes().families)
    assert [r.name for r in expansion.recipes] == [
        "lower-portable-fp32",
        "lower-xnnpack-fp32",
        "lower-xnnpack-int8",
    ]
    assert [recipes.lower_step(r).recipe_name for r in expansion.recipes] == [
        "portable-fp32",
        "xnnpack-fp32",
        "xnnpack-int8",
    ]
    assert [(d.name, d.reason) for d in expansion.dropped] == [
        ("lower-portable-int8", "ExecuTorch's portable lowering has no int8 here; use fp32")
    ]


def test_a_recipe_without_steps_is_the_portable_program():
    assert recipes.lower_step(Recipe(name="x", format="executorch")).recipe_name == "portable-fp32"


def test_routed_a_program_on_a_unit_not_its_own_is_unsupported_without_a_probe(
    edgeops_pm, register_plugin, local_device, tmp_path
):
    """The backend's own measure hook answers before the probe runner's: no process is
    started to learn that an XNNPACK program does not run on the portable kernels."""
    if not edgeops_pm.has_plugin("executorch"):
        register_plugin(edgeops_executorch.ExecuTorchBackend, name="executorch")
    # Two measure hooks of the one plugin: its own (tryfirst) and the routed probe runner's.
    owners = [i.plugin_name for i in edgeops_pm.hook.edgeops_measure.get_hookimpls()]
    assert owners.count("executorch") == 2
    session = edgeops_pm.hook.edgeops_connect(device=local_device)
    program = tmp_path / "m.pte"
    program.write_bytes(b"not run")
    variant = Artifact(
        id="v",
        format="executorch",
        path=program,
        recipe=recipes.recipe(recipes.Lower(delegate="xnnpack", precision="fp32")),
    )
    measured = edgeops_pm.hook.edgeops_measure(
        session=session, variant=variant, compute_unit="cpu", settings=MeasureSettings()
    )
    assert measured.status == "unsupported"
    assert measured.error.startswith(
        "an ExecuTorch xnnpack-fp32 program runs on xnnpack or cpu_only"
    )


def test_a_tethered_iphone_is_unsupported_naming_what_would_measure_it(tmp_path):
    from dataclasses import dataclass

    from edgeops.plugin import Device

    @dataclass
    class MacHostLine:  # only the device is read before anything would run there
        device: Device
        python: tuple[str, ...] | None = ("python3",)

    phone = Device(
        id="mac1:00008130-001", name="iPhone", transport="mac-host",
        profile_id="iphone15pro", labels={"iphone": "00008130-001"},
    )  # fmt: skip
    variant = Artifact(
        id="v",
        format="executorch",
        path=tmp_path / "m.pte",
        recipe=recipes.recipe(recipes.Lower(delegate="coreml", precision="fp16")),
    )
    measured = BACKEND.edgeops_measure_own_unit_or_phone(
        MacHostLine(phone), variant, "all", MeasureSettings()
    )
    assert measured.status == "unsupported"
    assert "inside an app linking ExecuTorch's frameworks" in measured.error


def test_the_manifest_names_the_runtime_and_the_delegates_an_app_links(tiny_torch_spec):
    from edgeops.models import Choice, Plan, Results
    from edgeops.pipeline.bundle import build_manifest

    step = recipes.Lower(delegate="xnnpack", precision="int8")
    variant = Artifact(
        id="abcdef0123", format="executorch", recipe=recipes.recipe(step),
        path=Path("model.pte"), sha256="0" * 64, size_bytes=1, delegates=("XnnpackBackend",),
    )  # fmt: skip
    choice = Choice(
        variant_id=variant.id, variant_name=variant.name, compute_unit="xnnpack",
        method="measured", expected_p50_ms=1.0, peak_mem_mb=1.0, size_bytes=1, quality={},
        reason="fastest", runtime="executorch",
    )  # fmt: skip
    results = Results(
        edgeops_version="0", run_id="r", spec=tiny_torch_spec, variants=(variant,),
        plans=(Plan(profile_id="host", status="supported", choices=(choice,)),),
    )  # fmt: skip
    manifest = build_manifest(results).model_dump(mode="json")
    assert manifest["profiles"]["host"]["choices"][0]["runtime"] == "executorch"
    assert manifest["variants"][variant.id]["delegates"] == ["XnnpackBackend"]
