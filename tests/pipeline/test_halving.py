"""Successive halving: a job stops only when another on its device beats it outright."""

from edgeops.devices.scheduling import MeasureJob
from edgeops.pipeline.halving import first_looks, survivors
from edgeops.plugin_manager import declared_compute_units, make_plugin_manager

from factories import measurement, variant

UNITS = declared_compute_units(make_plugin_manager())


def _job(index, name, unit="cpu", device="d1"):
    from edgeops.models import Device

    d = Device(id=device, name=device, transport="local", profile_id="phone")
    return MeasureJob(index, d, variant(name), unit)


def _rounds(*p50s, mem_mb=100.0):
    return [measurement("x", p, mem_mb=mem_mb) for p in p50s]


def test_looks_start_after_one_round():
    assert first_looks(1) == [1] and first_looks(2) == [1, 2] and first_looks(5) == [1, 2, 3, 4, 5]


def test_after_one_round_only_a_gap_past_25_percent_stops_a_job():
    jobs = [_job(0, "fast"), _job(1, "far"), _job(2, "near")]
    # 30% and 20% slower after one round each: only the first is beyond doubt.
    kept, stopped = survivors(jobs, {0: _rounds(10.0), 1: _rounds(13.0), 2: _rounds(12.0)}, UNITS)
    assert [j.variant.name for j in kept] == ["onnx:fast", "onnx:near"]
    assert "after 1 round(s)" in stopped[1]
    # With two rounds each, 20% is past the 10% margin.
    rounds = {0: _rounds(10.0, 10.1), 2: _rounds(12.0, 12.1)}
    kept, stopped = survivors([jobs[0], jobs[2]], rounds, UNITS)
    assert [j.variant.name for j in kept] == ["onnx:fast"]


def test_clearly_slower_with_no_less_memory_stops_and_a_close_rival_goes_on():
    jobs = [_job(0, "fast"), _job(1, "slow"), _job(2, "close")]
    rounds = {0: _rounds(10.0, 10.4), 1: _rounds(13.0, 12.5), 2: _rounds(10.8, 11.2)}
    kept, stopped = survivors(jobs, rounds, UNITS)
    assert [j.variant.name for j in kept] == ["onnx:fast", "onnx:close"]
    assert "clearly faster" in stopped[1] and "onnx:fast" in stopped[1]


def test_a_slower_job_that_needs_less_memory_or_fewer_accelerators_goes_on():
    # The fast one runs on the GPU: a CPU job is a fallback for phones without one.
    jobs = [_job(0, "gpu-fast", unit="gpu"), _job(1, "cpu-slow"), _job(2, "lean")]
    rounds = {
        0: _rounds(5.0, 5.1),
        1: _rounds(20.0, 21.0),
        2: _rounds(30.0, 31.0, mem_mb=20.0),
    }
    kept, stopped = survivors(jobs, rounds, UNITS)
    assert len(kept) == 3 and stopped == {}


def test_jobs_on_different_devices_are_never_compared():
    jobs = [_job(0, "a", device="d1"), _job(1, "b", device="d2")]
    kept, _ = survivors(jobs, {0: _rounds(1.0, 1.0), 1: _rounds(9.0, 9.0)}, UNITS)
    assert len(kept) == 2


def test_later_looks_still_measure_the_survivors(
    tmp_path, edgeops_pm, edgeops_workspace, local_device
):
    """The executor is called once per look: a survivor gets every round, a beaten one stops."""
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.config import load_spec

    from factories import tiny_onnx

    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32", "fp16")})
    pipeline = Pipeline(edgeops_pm, edgeops_workspace, halving=True)
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    settings = MeasureSettings(rounds=4, min_runs=3, min_duration_s=0.0, warmup_runs=1)
    results = pipeline.optimize(pipeline.convert(spec, [host], settings))
    measured = pipeline.measure(results, [local_device], settings)
    rounds = sorted(m.rounds for m in measured.measurements if m.status == "ok")
    # At least the fastest job is never stopped: it gets all four rounds.
    assert rounds[-1] == 4
    for m in measured.measurements:
        assert m.rounds == 4 or "clearly faster" in m.environment.get("stopped_early", "")
