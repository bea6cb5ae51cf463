"""A phone's own outputs for a TFLite variant, scored as ``where: device``.

A phone has no Python: LiteRT's benchmark_model runs the variant on input files pushed
there and writes its outputs to a file that is pulled back. Here a real AOSP adbd
serves this machine as the "phone", and a STAND-IN benchmark_model (a script running
the real TFLite runtime, adb_testing.stand_in_benchmark_model_with_outputs) honours the
same flags; what a real phone's tool does with them is not verified here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgeops.backend import BuildContext
from edgeops.errors import DeviceError
from edgeops.files import sha256_file, size_bytes
from edgeops.models import (
    Artifact,
    DeviceOutputSettings,
    ModelSpec,
    QualitySpec,
    Recipe,
    ReferenceOutputs,
    SampleSet,
)
from edgeops.quality import OUTPUTS_FILE, compare_with_reference
from edgeops_adb.session import AdbSession
from edgeops_tflite.running import run_on_samples

from adb_testing import (
    MODELS,
    device_for,
    received_argv,
    server_device,
    stand_in_benchmark_model_with_outputs,
)

MODEL = MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"
SPEC = ModelSpec(
    name="mobilenet", source="m.tflite", source_sha256="0" * 64, task="generic",
    quality=QualitySpec(metric="snr_db", floor=20.0),
)  # fmt: skip


def context_for(folder: Path) -> tuple[BuildContext, Artifact]:
    rng = np.random.default_rng(0)
    samples = {f"input/{i}": rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8) for i in range(6)}  # fmt: skip
    np.savez(folder / "samples.npz", **samples)  # type: ignore[arg-type]
    sample_set = SampleSet(
        path=folder / "samples.npz", sha256=sha256_file(folder / "samples.npz"), count=6,
        synthetic=True, origin="test",
    )  # fmt: skip
    outputs = run_on_samples(MODEL, sample_set)
    np.savez(folder / "reference.npz", **{f"{k}/{i}": a for i, row in enumerate(outputs) for k, a in enumerate(row)})  # type: ignore[arg-type]  # fmt: skip
    reference = ReferenceOutputs(
        path=folder / "reference.npz", sha256=sha256_file(folder / "reference.npz"),
        framework="ai-edge-litert", output_names=("probabilities",),
    )  # fmt: skip
    variant = Artifact(
        id="mobilenet-quant", format="tflite", recipe=Recipe(name="as-is", format="tflite"),
        path=MODEL, sha256=sha256_file(MODEL), size_bytes=size_bytes(MODEL),
        quality=compare_with_reference(SPEC, reference, outputs[:4]),
    )  # fmt: skip
    context = BuildContext(
        spec=SPEC, samples=sample_set, reference=reference,
        device_outputs=DeviceOutputSettings(samples=4, timeout_s=120),
    )  # fmt: skip
    return context, variant


def score_on_phone(edgeops_pm, adbd, tmp_path: Path, fault: str = "none"):
    stand_in = stand_in_benchmark_model_with_outputs(tmp_path / "tool", fault)
    device = device_for(adbd, tmp_path, python="", benchmark_model=str(stand_in))
    context, variant = context_for(tmp_path)
    session = edgeops_pm.hook.edgeops_connect(device=device)
    assert isinstance(session, AdbSession) and session.python is None  # a phone
    try:
        return edgeops_pm.hook.edgeops_evaluate_on_device(
            session=session, variant=variant, compute_unit="xnnpack", context=context,
            outputs_dir=tmp_path / "kept",
        )  # fmt: skip
    finally:
        session.close()


def test_a_phone_returns_its_tflite_outputs_scored_where_device(edgeops_pm, adbd, tmp_path):
    score = score_on_phone(edgeops_pm, adbd, tmp_path)
    assert score is not None and score.failure is None
    assert score.quality.where == "device" and score.quality.sample_count == 4
    assert score.quality.metrics["snr_db"] > 60  # the same runtime: the host's numbers
    assert (tmp_path / "kept" / OUTPUTS_FILE).is_file()  # for the report's gallery
    argv = received_argv(tmp_path / "tool")
    flags = dict(a.split("=", 1) for a in argv[1:])
    assert flags["--num_runs"] == "1" and flags["--use_xnnpack"] == "true"
    assert flags["--input_layer"] == "in0" and flags["--input_layer_shape"] == "1,128,128,3"
    name, path = flags["--input_layer_value_files"].split(":")
    assert name == "in0" and Path(path).parent == tmp_path / "remote"
    # The outputs file is removed from the phone once pulled.
    assert not Path(flags["--output_filepath"]).exists()


def test_a_phone_that_returns_wrong_outputs_fails_the_variant_with_the_reason(
    edgeops_pm, adbd, tmp_path
):
    score = score_on_phone(edgeops_pm, adbd, tmp_path, fault="invert")
    assert score.quality.where == "device" and score.quality.metrics["snr_db"] < 20  # the floor
    assert score.failure.startswith("device outputs differ from host: snr_db")


def test_an_outputs_file_over_the_models_outputs_is_never_pulled(edgeops_pm, adbd, tmp_path):
    with pytest.raises(DeviceError, match=r"is 1049577 bytes, over the 1001 expected: not pulled"):
        score_on_phone(edgeops_pm, adbd, tmp_path, fault="oversize")


def test_a_benchmark_model_older_than_the_flag_is_named(edgeops_pm, adbd, tmp_path):
    with pytest.raises(DeviceError, match="does not know --output_filepath"):
        score_on_phone(edgeops_pm, adbd, tmp_path, fault="old_tool")


def test_a_board_with_python_returns_them_through_the_probe(edgeops_pm, adbd, tmp_path):
    context, variant = context_for(tmp_path)
    session = edgeops_pm.hook.edgeops_connect(device=device_for(adbd, tmp_path))
    assert session.python is not None  # a board: the probe and its TFLite interpreter
    try:
        scores = {
            unit: edgeops_pm.hook.edgeops_evaluate_on_device(
                session=session, variant=variant, compute_unit=unit, context=context,
                outputs_dir=None,
            )
            for unit in ("xnnpack", "cpu")
        }  # fmt: skip
    finally:
        session.close()
    xnnpack, builtin = scores["xnnpack"], scores["cpu"]
    assert xnnpack.failure is None and xnnpack.quality.where == "device"
    assert xnnpack.quality.sample_count == 4 and xnnpack.quality.metrics["snr_db"] > 60
    # The builtin kernels' uint8 arithmetic is not XNNPACK's, which made the reference:
    # the board's own kernels ran (26.7 dB here); above the floor, they hold.
    assert builtin.quality.where == "device" and 20 < builtin.quality.metrics["snr_db"] < 60
    assert builtin.failure is None


def test_a_pull_through_the_adb_server_is_whole_and_bounded(served, edgeops_pm, tmp_path):
    device = server_device(edgeops_pm, served, tmp_path / "remote")
    local = tmp_path / "outputs.bin"
    local.write_bytes(os.urandom(2 * 65536 + 77))  # several DATA chunks
    session = edgeops_pm.hook.edgeops_connect(device=device)
    try:
        remote = session.push(local)
        session.pull(remote, tmp_path / "back.bin", max_bytes=2 * 65536 + 77)
        assert (tmp_path / "back.bin").read_bytes() == local.read_bytes()
        with pytest.raises(DeviceError, match="over the 100 expected"):
            session.pull(remote, tmp_path / "refused.bin", max_bytes=100)
        with pytest.raises(DeviceError, match="no outputs file"):
            session.pull(f"{remote}.missing", tmp_path / "none.bin", 100, "no outputs file")
    finally:
        session.close()
