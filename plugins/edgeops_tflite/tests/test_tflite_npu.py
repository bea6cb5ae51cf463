"""NPU variants: LiteRT AOT compilation per SoC, up to the vendor SDK boundary (issue 27).

The compile runs for real: ai_edge_litert 2.3.0's aot_compile, its apply_plugin_main
binary and the vendor's compiler plugin from the wheel. What stops it on this machine
is the vendor SDK library that plugin dlopens; the tests assert that exact reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeops.devices.profiles import load_profiles
from edgeops.errors import StageError
from edgeops.models import Artifact, Variant
from edgeops_tflite import TfliteBackend, npu, recipes

MODELS = Path(__file__).resolve().parents[3] / "tests" / "data" / "models" / "tflite"
# A real full-integer model (Coral's, uint8): enough for the compiler to load and partition.
QUANT_MODEL = MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"

# The library each vendor's compiler plugin in the ai-edge-litert 2.3.0 wheel fails to
# load without its SDK, as apply_plugin_main logged it on this machine.
MISSING = {"qualcomm": "libQnnHtp.so", "mediatek": "NeuronAdapter", "google_tensor": "liblitert_plugin_compiler.so"}  # fmt: skip
SOC_OF = {"qualcomm": "SM8650", "mediatek": "MT6989", "google_tensor": "Tensor_G3"}


def _sdk_ready(vendor: str) -> bool:
    return "cannot compile here" not in npu.sdk_status()[vendor]


@pytest.mark.parametrize("vendor", sorted(MISSING))
def test_the_aot_compile_reaches_the_vendor_plugin_and_names_the_missing_sdk_library(
    vendor: str, tmp_path: Path
) -> None:
    if _sdk_ready(vendor):
        pytest.skip(f"{vendor}'s SDK libraries are installed here: the compile can run")
    model = tmp_path / "int8.tflite"
    shutil.copyfile(QUANT_MODEL, model)
    out = tmp_path / "npu.tflite"
    step = npu.NpuCompile(vendor=vendor, soc=SOC_OF[vendor])
    with pytest.raises(StageError) as raised:
        npu.compile_for_soc(model, out, step)
    message = str(raised.value)
    assert f"{vendor} AOT compile for {SOC_OF[vendor]} failed" in message
    assert MISSING[vendor] in message
    assert "\n" not in message
    assert not out.exists()


def test_sdk_status_says_one_line_per_vendor() -> None:
    status = npu.sdk_status()
    assert sorted(status) == sorted(npu.VENDORS)
    for vendor, line in status.items():
        assert "\n" not in line and line.startswith(f"{vendor}: ")
        if "cannot compile here" in line:
            assert npu.VENDORS[vendor].sdk_package in line


def test_an_unknown_soc_is_refused_before_compiling(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="no qualcomm SoC 'SM0000'"):
        npu.compile_for_soc(QUANT_MODEL, tmp_path / "x.tflite", npu.NpuCompile(vendor="qualcomm", soc="SM0000"))  # fmt: skip


def test_npu_recipes_are_proposed_for_the_socs_of_the_profiles(tmp_path: Path) -> None:
    profiles = load_profiles()
    model = tmp_path / "model.tflite"
    model.write_bytes(b"")
    (tmp_path / recipes.SAVED_MODEL_DIR).mkdir()
    (tmp_path / recipes.SAVED_MODEL_DIR / "saved_model.pb").write_bytes(b"")
    artifact = Artifact(format="tflite", path=model)
    backend = TfliteBackend()
    proposed = backend.propose(
        artifact, [profiles["galaxy-s24"], profiles["galaxy-s23"], profiles["pixel6"]]
    )
    npu_names = [r.name for r in proposed if r.name.startswith("npu-")]
    assert npu_names == ["npu-qnn-sm8550-int8", "npu-qnn-sm8650-int8"]
    s24 = next(r for r in proposed if r.name == "npu-qnn-sm8650-int8")
    # The integer model is int8-full's, then the compile for that SoC.
    assert s24.steps[0] == recipes.INT8_FULL.steps[0]
    assert s24.step_of(npu.NpuCompile) == npu.NpuCompile(vendor="qualcomm", soc="SM8650")
    assert {f"tflite:{n}" for n in npu_names} <= set(backend.recipes().catalogue("tflite"))
    # A phone without an NPU profile gets none; a bare .tflite (no TF graph) gets none.
    assert not [r for r in backend.propose(artifact, [profiles["pixel6"]]) if r.name.startswith("npu-")]  # fmt: skip
    (tmp_path / recipes.SAVED_MODEL_DIR / "saved_model.pb").unlink()
    assert backend.propose(artifact, [profiles["galaxy-s24"]]) == [recipes.AS_IS]


def test_an_npu_variant_is_unfit_on_another_soc() -> None:
    profiles = load_profiles()
    recipe = npu.recipe_for("SM8650", tuple(recipes.INT8_FULL.typed_steps(recipes.Quantize)))
    variant = Variant(format="tflite", recipe=recipe)
    backend = TfliteBackend()
    assert backend.unfit(variant, profiles["galaxy-s24"]) is None
    assert backend.unfit(variant, profiles["galaxy-s23"]) == (
        "compiled for the SM8650 NPU; galaxy-s23 has SM8550"
    )
    assert "no SoC id" in (backend.unfit(variant, profiles["pixel6"]) or "")
    assert backend.unfit(Variant(format="tflite", recipe=recipes.INT8_FULL), profiles["pixel6"]) is None  # fmt: skip


def test_profiles_with_an_npu_name_a_soc_litert_compiles_for() -> None:
    for profile in load_profiles().values():
        if "npu" in profile.compute_units:
            assert profile.soc in npu.SOCS, profile.id
            assert "soc" in profile.sources, profile.id


def test_the_issue_s_phones_have_a_sourced_npu_and_nnapi_is_labelled_deprecated() -> None:
    profiles = load_profiles()
    for phone, soc in {"galaxy-s23": "SM8550", "galaxy-s24": "SM8650", "pixel8": "Tensor_G3", "pixel9": "Tensor_G4"}.items():  # fmt: skip
        profile = profiles[phone]
        assert "npu" in profile.compute_units and profile.soc == soc, phone
        assert {"chip", "soc", "compute_units"} <= set(profile.sources), phone
    # The NPU's generation, with the table it comes from.
    assert "HTP architecture V73" in (profiles["galaxy-s23"].chip or "")
    assert "DspArch::V75" in profiles["galaxy-s24"].sources["chip"]
    for profile in profiles.values():
        if "nnapi" in profile.compute_units:
            assert "deprecated since Android 15" in profile.sources["compute_units"], profile.id


def test_only_the_sdk_log_in_the_temp_folder_is_read_and_removed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "keep.error"
    elsewhere.write_text("libQnnHtp.so: cannot open shared object file")
    error = f"apply_plugin failed to apply plugin. See {elsewhere} for details."
    assert npu.failure_reason(error, npu.VENDORS["qualcomm"]) == error
    assert elsewhere.is_file()
