"""Where a measurement's graph ran: the probe's readings on this host, real ORT profiles,
and selection taking a variant that fell back for what it is."""

from __future__ import annotations

import json

import pytest

from edgeops.devices import probe, probe_runners
from edgeops.devices.measurements import from_probe_output
from edgeops.models import Placement, UnitShare
from edgeops.placement import fell_back
from edgeops.selection import edgeops_select
from edgeops.testing import test_data_dir

from factories import measurement, policy, profile, variant

FIXTURES = test_data_dir() / "fixtures"
MODELS = test_data_dir() / "models"
SELFIE = MODELS / "tflite" / "mediapipe__selfie_segmentation.tflite"
MOBILENET = MODELS / "tflite" / "coral__mobilenet_v1_0.25_128_quant.tflite"
MNIST = MODELS / "onnx" / "ortexamples__mnist.onnx"


def run_probe(model, compute_unit: str) -> dict:
    """The probe itself, in this process, on the real runtime: a short loop."""
    args = probe.parse_args(
        ["--model", str(model), "--compute-unit", compute_unit, "--warmup", "0",
         "--min-runs", "2", "--max-runs", "3", "--min-duration-s", "0",
         "--paced-fps", "", "--paced-duration-s", "0"]
    )  # fmt: skip
    return probe.measure(args)


def as_measurement(document: dict, compute_unit: str):
    base = {
        "variant_id": "v",
        "device_id": "host",
        "profile_id": "host",
        "compute_unit": compute_unit,
    }
    return from_probe_output(json.dumps(document) + "\n", 0, "", base)


def test_a_custom_op_xnnpack_takes_is_recorded_on_xnnpack_and_the_plain_cpu_fails():
    # Convolution2DTransposeBias, MediaPipe's custom op: XNNPACK implements it, the builtin
    # kernels do not, so the plain CPU cannot load the model at all.
    on_xnnpack = as_measurement(run_probe(SELFIE, "xnnpack"), "xnnpack")
    assert on_xnnpack.status == "ok"
    placement = on_xnnpack.placement
    assert placement is not None and placement.where == "device"
    assert placement.accelerator == "TfLiteXNNPackDelegate"
    # The graph has 246 nodes (247 ops listed once the DELEGATE node is appended).
    assert placement.graph_nodes == 246
    assert {u.unit: u.nodes for u in placement.units} == {"TfLiteXNNPackDelegate": 246, "CPU": 0}
    assert placement.partitions == 1
    on_cpu = as_measurement(run_probe(SELFIE, "cpu"), "cpu")
    assert on_cpu.status == "load_failed" and "Convolution2DTransposeBias" in (on_cpu.error or "")
    assert on_cpu.placement is None


def test_a_partly_delegated_tflite_graph_counts_the_nodes_left_on_the_cpu():
    # XNNPACK leaves 2 of the quantized MobileNet's 31 nodes to the builtin CPU kernels.
    placement = as_measurement(run_probe(MOBILENET, "xnnpack"), "xnnpack").placement
    assert placement is not None
    assert {u.unit: u.nodes for u in placement.units} == {"TfLiteXNNPackDelegate": 29, "CPU": 2}
    assert placement.graph_nodes == 31
    plain = as_measurement(run_probe(MOBILENET, "cpu"), "cpu").placement
    assert plain is not None and plain.units == (UnitShare(unit="CPU", nodes=31),)


def test_an_onnx_runtime_variant_records_each_nodes_provider_from_a_profiled_run():
    document = run_probe(MNIST, "cpu")
    placement = as_measurement(document, "cpu").placement
    assert placement is not None and placement.source.startswith("onnxruntime session profile")
    (unit,) = placement.units
    assert unit.unit == "CPUExecutionProvider" and unit.time_ms is not None and unit.time_ms > 0
    assert unit.nodes == placement.graph_nodes and unit.nodes > 0
    assert fell_back(placement, 0.9) is None  # a CPU measurement promises nothing more


def test_a_real_ort_profile_names_the_provider_per_node():
    events = json.loads(
        (FIXTURES / "onnxruntime_profile_cpu_provider_onnxruntime-5617.json").read_text()
    )
    placement = probe_runners.ort_profile_placement(events, "CPUExecutionProvider")
    assert placement == {
        "units": [{"unit": "CPUExecutionProvider", "nodes": 2, "time_ms": 0.122}],
        "graph_nodes": 2,
        "accelerator": "CPUExecutionProvider",
        "partitions": 1,
        "source": "onnxruntime session profile (each node's provider)",
    }


def test_a_profile_without_providers_never_credits_the_asked_for_one():
    events = json.loads(
        (FIXTURES / "onnxruntime_profile_dml_fused_onnxruntime-24306.json").read_text()
    )
    document = probe_runners.ort_profile_placement(events, "DmlExecutionProvider")
    assert document is not None
    placement = Placement(**document, where="device")
    assert [(u.unit, u.nodes) for u in placement.units] == [("unknown", 7)]
    assert placement.share() == 0.0
    assert fell_back(placement, 0.9) == (
        "fell back: 7 of 7 nodes not on DmlExecutionProvider "
        "(100% of the time off DmlExecutionProvider), 0 partitions"
    )


def gpu_placement(on_gpu: int, total: int, partitions: int = 5) -> Placement:
    return Placement(
        units=(UnitShare(unit="GPU", nodes=on_gpu), UnitShare(unit="CPU", nodes=total - on_gpu)),
        graph_nodes=total, accelerator="GPU", partitions=partitions,
        source="test", where="device",
    )  # fmt: skip


def test_under_the_share_the_variant_fell_back_and_the_share_is_a_setting():
    assert fell_back(gpu_placement(29, 66), 0.9) == "fell back: 37 of 66 nodes on CPU, 5 partitions"
    assert fell_back(gpu_placement(60, 66), 0.9) is None  # 91%
    assert fell_back(gpu_placement(60, 66), 0.95) is not None
    assert fell_back(None, 0.9) is None  # nothing reported: nothing judged


def test_selection_takes_a_fallen_back_gpu_variant_as_the_cpu_variant_it_is():
    vs = [variant("gpu"), variant("cpu")]
    fallen = measurement("gpu", 1.0, unit="gpu").model_copy(
        update={"placement": gpu_placement(29, 66)}
    )
    plan = edgeops_select(
        profile=profile(), variants=vs, measurements=[fallen, measurement("cpu", 3.0)],
        policy=policy(),
    )  # fmt: skip
    first = plan.choices[0]
    assert first.variant_name == "onnx:gpu" and first.requires == ()
    assert "fell back: 37 of 66 nodes on CPU, 5 partitions" in first.reason
    # Fully on the GPU, the same measurement keeps the GPU's requires.
    whole = fallen.model_copy(update={"placement": gpu_placement(66, 66, 1)})
    plan = edgeops_select(
        profile=profile(), variants=vs, measurements=[whole, measurement("cpu", 3.0)],
        policy=policy(),
    )  # fmt: skip
    assert plan.choices[0].requires == ("gpu",) and "fell back" not in plan.choices[0].reason
    # A stricter promise, set once in the policy, judges the same placement differently.
    plan = edgeops_select(
        profile=profile(), variants=vs,
        measurements=[fallen.model_copy(update={"placement": gpu_placement(62, 66)}),
                      measurement("cpu", 3.0)],
        policy=policy(placement_min_share=0.99),
    )  # fmt: skip
    assert plan.choices[0].requires == ()


@pytest.mark.parametrize("bad", [{"units": "x"}, {"units": [{"nodes": -1}]}, "text"])
def test_a_malformed_placement_from_a_probe_is_dropped_not_the_measurement(bad):
    document = run_probe(MNIST, "cpu") | {"placement": bad}
    m = as_measurement(document, "cpu")
    assert m.status == "ok" and m.placement is None


def test_the_report_shows_each_variants_placement_as_a_bar_with_its_verdict(tmp_path):
    from edgeops.models import Results
    from edgeops.report.html import render_report

    from factories import spec

    vs = [variant("gpu"), variant("cpu")]
    fallen = measurement("gpu", 1.0, unit="gpu").model_copy(
        update={"placement": gpu_placement(29, 66)}
    )
    ms = [fallen, measurement("cpu", 3.0)]
    plan = edgeops_select(profile=profile(), variants=vs, measurements=ms, policy=policy())
    results = Results(
        edgeops_version="0", run_id="r", spec=spec(), profiles=(profile(),), variants=tuple(vs),
        measurements=tuple(ms), plans=(plan,),
    )  # fmt: skip
    page = render_report(results, None, tmp_path, inline_js=False)
    section = page.split("<h3>Where each variant ran</h3>")[1].split("</table>")[0]
    assert section.count("<tr>") == 2  # the header and the one measurement with a placement
    assert "onnx:gpu" in section and "onnx:cpu" not in section
    assert 'title="GPU: 29 nodes" style="width:43.9%' in section
    assert 'title="CPU: 37 nodes" style="width:56.1%' in section
    assert "fell back: 37 of 66 nodes on CPU, 5 partitions" in section
    assert "GPU 29 of 66 nodes, CPU 37 of 66 nodes, 5 partitions" in section


def studio_run_page(vs, ms) -> str:
    """The studio's run page for one plan over ``vs`` and ``ms``, as the server renders it."""
    from edgeops.models import Results
    from edgeops.pipeline.history import RunRecord
    from edgeops.studio.app import _templates

    from factories import spec

    plan = edgeops_select(profile=profile(), variants=vs, measurements=ms, policy=policy())
    results = Results(
        edgeops_version="0", run_id="r", spec=spec(), profiles=(profile(),), variants=tuple(vs),
        measurements=tuple(ms), plans=(plan,),
    )  # fmt: skip
    run = RunRecord(
        run_id="r", started_at="2026-12-07T00:00:00", finished_at=None, status="done",
        model="m", version="1", profiles="phone", bundle=None, variants=1, measurements=1,
        cache=None, error=None,
    )  # fmt: skip
    return str(
        _templates()
        .get_template("run.html")
        .render(run=run, results=results, bundle=None, workspace="w")
    )


@pytest.mark.slow
def test_the_studio_placement_bar_draws_each_units_share_in_chromium(browser, tmp_path):
    vs = [variant("half")]
    ms = [
        measurement("half", 2.0, unit="gpu").model_copy(update={"placement": gpu_placement(29, 66)})
    ]
    page_file = tmp_path / "run.html"
    page_file.write_text(studio_run_page(vs, ms))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
    )
    page = context.new_page()
    page.goto(page_file.as_uri(), wait_until="load")
    widths = page.evaluate(
        """() => Array.from(document.querySelectorAll('table.placement .bar > div')).map(
            d => [d.title, d.getBoundingClientRect().width])"""
    )
    context.close()
    # 240 px wide: 29 of 66 nodes on the GPU, 37 on the CPU, drawn as such.
    assert [t for t, _ in widths] == ["GPU: 29 nodes", "CPU: 37 nodes"]
    assert widths[0][1] == pytest.approx(240 * 29 / 66, abs=1)
    assert widths[1][1] == pytest.approx(240 * 37 / 66, abs=1)


def test_the_studio_run_page_says_where_the_primary_ran_and_each_variant_as_a_bar():
    vs = [variant("gpu"), variant("half")]
    ms = [
        measurement("gpu", 1.0, unit="gpu").model_copy(
            update={"placement": gpu_placement(66, 66, 1)}
        ),
        measurement("half", 2.0, unit="gpu").model_copy(
            update={"placement": gpu_placement(29, 66)}
        ),
    ]
    page = studio_run_page(vs, ms)
    assert "<th>where the primary ran</th>" in page
    assert "<td>GPU 66 of 66 nodes, CPU 0 of 66 nodes, 1 partition</td>" in page
    section = page.split("<h2>Where each variant ran</h2>")[1].split("</table>")[0]
    assert section.count("<tr>") == 3  # the header and both measurements
    assert 'title="GPU: 29 nodes" style="width:43.9%;background:#4a7"' in section
    assert 'title="CPU: 37 nodes" style="width:56.1%;background:#bbb"' in section
    assert "<b>fell back: 37 of 66 nodes on CPU, 5 partitions</b>" in section
    assert section.count("fell back") == 1  # the variant all on the GPU held
