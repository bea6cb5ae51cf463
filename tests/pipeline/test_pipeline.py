"""The pipeline with real plugins and inline ones, in process."""

import threading

import pytest

from edgeops import Measurement, hookimpl
from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings, SampleSet
from edgeops.pipeline import Pipeline
from edgeops.pipeline.cache import Cache
from edgeops.pipeline.config import load_spec

from factories import profile, tiny_onnx

FAST = MeasureSettings(rounds=2, min_runs=3, min_duration_s=0.0, warmup_runs=1)


@pytest.fixture
def converted(tmp_path, edgeops_pm, edgeops_workspace):
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32", "fp16")})
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    # ONNX only: other backends' formats would add variants these tests do not expect.
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    results = pipeline.optimize(pipeline.convert(spec, [host], FAST))
    return pipeline, results


def test_rounds_are_interleaved_in_alternating_order(converted, register_plugin, local_device):
    pipeline, results = converted
    order = []

    class Observer:
        @hookimpl
        def edgeops_measured(self, measurement):
            order.append(results.variant(measurement.variant_id).name)

    register_plugin(Observer())
    measured = pipeline.measure(results, [local_device], FAST)
    assert order == ["onnx:fp32", "onnx:fp16", "onnx:fp16", "onnx:fp32"]
    assert all(m.rounds == 2 and m.status == "ok" for m in measured.measurements)


def test_profiles_without_a_device_get_predictions_labelled_predicted(
    converted, register_plugin, edgeops_pm
):
    pipeline, results = converted
    phone = profile(id="phone", compute_units=("cpu",))

    class Guess:
        calls = 0

        @hookimpl
        def edgeops_predict(self, profile, variant, compute_unit):
            Guess.calls += 1
            return Measurement(
                variant_id=variant.id,
                device_id="-",
                profile_id=profile.id,
                compute_unit=compute_unit,
                status="ok",
                p50_ms=1.0,
                p90_ms=1.0,
                method="measured",  # the pipeline relabels it
            )

    register_plugin(Guess())
    results = results.model_copy(update={"profiles": (phone,)})
    measured = pipeline.measure(results, [], FAST)
    assert {m.method for m in measured.measurements} == {"predicted"}
    plan = pipeline.select(measured).plans[0]
    assert plan.method == "predicted"
    # Predictions are cached per file, profile and plugin code: asked once.
    assert Guess.calls == 2  # two variants, one compute unit
    again = pipeline.measure(results, [], FAST)
    assert Guess.calls == 2
    assert [m.p50_ms for m in again.measurements] == [m.p50_ms for m in measured.measurements]


def test_a_profile_with_no_device_and_no_prediction_is_not_measured(converted):
    pipeline, results = converted
    results = results.model_copy(update={"profiles": (profile(id="phone"),)})
    plan = pipeline.select(pipeline.measure(results, [], FAST)).plans[0]
    assert plan.status == "not_measured"


def test_an_unmeasurable_format_is_recorded_as_unsupported(converted, local_device):
    pipeline, results = converted
    odd = results.variants[0].model_copy(
        update={"id": "odd", "path": results.variants[0].path.with_suffix(".xyz")}
    )
    results = results.model_copy(update={"variants": (odd,)})
    (m,) = pipeline.measure(results, [local_device], FAST).measurements
    assert m.status == "unsupported" and "no installed plugin measures onnx on local" in m.error


def test_concurrent_cache_puts_of_one_key_leave_one_whole_entry(tmp_path):
    cache = Cache(tmp_path)
    barrier = threading.Barrier(4)

    def build(workdir):
        barrier.wait()
        (workdir / "samples.npz").write_bytes(b"x" * 1000)
        return SampleSet(
            path=workdir / "samples.npz", sha256="s", count=1, synthetic=True, origin="t"
        )

    threads = [threading.Thread(target=cache.put, args=("k", "key", build)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entry = cache.get("k", "key", SampleSet)
    assert entry is not None and entry.path.read_bytes() == b"x" * 1000
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["key"]


def test_remeasure_adds_rounds_to_chosen_measurements(converted, local_device):
    pipeline, results = converted
    measured = pipeline.measure(results, [local_device], FAST)
    first = measured.measurements[0]
    key = (first.variant_id, first.device_id, first.compute_unit)
    more = pipeline.remeasure(measured, [local_device], {key: 2})
    updated = {(m.variant_id, m.device_id, m.compute_unit): m for m in more.measurements}
    assert updated[key].rounds == 4 and len(updated[key].round_sizes) == 4
    assert updated[key].samples_ms[: len(first.samples_ms)] == first.samples_ms
    others = [m for k, m in updated.items() if k != key]
    assert all(m.rounds == 2 for m in others)
