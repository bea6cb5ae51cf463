"""Outputs returned by a board itself, scored as ``where: device``: a real sshd board, the
real probe and onnxruntime; one board's runtime corrupts what it returns."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgeops.backend import BuildContext, ProbeRunner
from edgeops.devices.device_quality import score_on_device
from edgeops.files import sha256_file
from edgeops.models import (
    Artifact,
    DeviceOutputSettings,
    ModelSpec,
    QualitySpec,
    ReferenceOutputs,
    SampleSet,
)
from edgeops.quality import compare_with_reference
from edgeops.testing import write_matmul_onnx
from edgeops_onnx import OnnxBackend
from edgeops_ssh.session import SshSession

SPEC = ModelSpec(
    name="tiny", source="tiny.onnx", source_sha256="0" * 64, task="generic",
    quality=QualitySpec(metric="snr_db", floor=20.0),
)  # fmt: skip

# A runner file of the probe's contract (edgeops.plugin.ProbeRunner) whose runtime returns
# wrong numbers, as an accelerator may: the outputs are negated.
CORRUPT_RUNNER = """
class Runner:
    name = "onnxruntime"
    compute_units = {"cpu": ["CPUExecutionProvider"]}

    def __init__(self, threads):
        import onnxruntime
        self.ort = onnxruntime
        self.version = onnxruntime.__version__

    def load(self, model, compute_unit):
        self.session = self.ort.InferenceSession(model, providers=self.compute_units[compute_unit])

    def make_feed(self, inputs):
        return dict(inputs)

    def run(self, feed):
        self.session.run(None, feed)

    def outputs(self, feed):
        names = [o.name for o in self.session.get_outputs()]
        return {n: -a for n, a in zip(names, self.session.run(None, feed))}

    def release(self):
        del self.session
"""


class CorruptingBackend(OnnxBackend):
    def __init__(self, runner: Path) -> None:
        self.runner = runner

    def probe_runner(self) -> ProbeRunner:
        return ProbeRunner(path=self.runner, suffix=".onnx", compute_units=("cpu",))


def context_for(model: Path, folder: Path) -> tuple[BuildContext, Artifact]:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    samples = {f"x/{i}": rng.standard_normal((1, 16), dtype=np.float32) for i in range(6)}
    np.savez(folder / "samples.npz", **samples)  # type: ignore[arg-type]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    outputs = [session.run(None, {"x": samples[f"x/{i}"]}) for i in range(6)]
    np.savez(folder / "reference.npz", **{f"{k}/{i}": a for i, row in enumerate(outputs) for k, a in enumerate(row)})  # type: ignore[arg-type]  # fmt: skip
    sample_set = SampleSet(
        path=folder / "samples.npz", sha256=sha256_file(folder / "samples.npz"), count=6,
        synthetic=True, origin="test",
    )  # fmt: skip
    reference = ReferenceOutputs(
        path=folder / "reference.npz", sha256=sha256_file(folder / "reference.npz"),
        framework="onnxruntime", output_names=("y",),
    )  # fmt: skip
    host = compare_with_reference(SPEC, reference, outputs[:4])
    variant = Artifact(id="tiny-v", format="onnx", path=model, quality=host)
    context = BuildContext(
        spec=SPEC, samples=sample_set, reference=reference,
        device_outputs=DeviceOutputSettings(samples=4, timeout_s=120),
    )  # fmt: skip
    return context, variant


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_matmul_onnx(tmp_path / "tiny.onnx", 16, 8)


def test_a_board_returns_its_outputs_scored_where_device(ssh_device, tiny_model, tmp_path):
    context, variant = context_for(tiny_model, tmp_path)
    with SshSession(ssh_device) as session:
        score = score_on_device(OnnxBackend(), session, variant, "cpu", context, SPEC.quality)
    assert score.quality is not None and score.quality.where == "device"
    assert score.quality.sample_count == 4  # the first k samples, not all six
    assert score.quality.metrics["snr_db"] > 60  # the same runtime: the host's numbers
    assert score.failure is None


def test_a_board_that_corrupts_its_outputs_fails_the_variant_with_the_reason(
    ssh_device, tiny_model, tmp_path
):
    context, variant = context_for(tiny_model, tmp_path)
    runner = tmp_path / "corrupt_runner.py"
    runner.write_text(textwrap.dedent(CORRUPT_RUNNER))
    with SshSession(ssh_device) as session:
        score = score_on_device(
            CorruptingBackend(runner), session, variant, "cpu", context, SPEC.quality
        )
    assert score.quality is not None and score.quality.where == "device"
    assert score.quality.metrics["snr_db"] < 20
    assert score.failure is not None
    assert score.failure.startswith("device outputs differ from host: snr_db")


def test_a_board_reports_where_its_onnx_nodes_ran(edgeops_pm, ssh_device, tiny_model):
    from edgeops.models import MeasureSettings

    settings = MeasureSettings(warmup_runs=1, min_runs=3, max_runs=5, min_duration_s=0.0,
                               paced_fps=(), timeout_s=60)  # fmt: skip
    with SshSession(ssh_device) as session:
        m = edgeops_pm.hook.edgeops_measure(
            session=session, variant=Artifact(id="tiny-v", format="onnx", path=tiny_model),
            compute_unit="cpu", settings=settings,
        )  # fmt: skip
    assert m.status == "ok", m.error
    assert m.placement is not None and m.placement.where == "device"
    assert [u.unit for u in m.placement.units] == ["CPUExecutionProvider"]
    assert m.placement.graph_nodes == m.placement.units[0].nodes >= 1
