"""The run protocol (edgeops.pipeline.protocol): one order of the stages for ``ship``, the
stage commands and the workers, with pruning, the bundle and the history as hooks whose
core defaults a plugin replaces or adds to. Real ONNX conversions, measured on this host."""

from __future__ import annotations

import pytest

from edgeops import hookimpl
from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.options.ship import ShipOptions
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.history import History
from edgeops.pipeline.protocol import STAGES, Run, run_stages, ship_stages

from factories import tiny_onnx

FAST = MeasureSettings(rounds=1, min_runs=3, min_duration_s=0.0, warmup_runs=1)


@pytest.fixture
def run(tmp_path, edgeops_pm, edgeops_workspace, local_device):
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32", "fp16")})
    # ONNX only: other backends' formats would add variants these tests do not expect.
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    return Run(
        Pipeline(edgeops_pm, edgeops_workspace),
        ShipOptions(out=tmp_path / "bundle"),
        spec=spec,
        profiles=[host],
        run_id="r1",
        settings=FAST,
        devices=[local_device],
    )


def test_a_ship_runs_the_stages_in_order_and_tells_the_history(run, register_plugin):
    told: list[str] = []

    class Observer:
        @hookimpl
        def edgeops_stage_started(self, stage):
            if stage in (*STAGES, "evaluate"):
                told.append(stage)

        @hookimpl
        def edgeops_run_started(self, run_id, profiles):
            told.append(f"started {run_id} {profiles}")

        @hookimpl
        def edgeops_run_finished(self, run_id, status, results, bundle):
            told.append(f"finished {run_id} {status} {len(results.plans)} {bundle.name}")

    register_plugin(Observer())
    results = ship_stages(run)
    assert told == [
        "started r1 ['host']",
        "convert",
        "optimize",
        "evaluate",
        "prune",
        "measure",
        "select",
        "finished r1 ok 1 bundle",
    ]
    assert [p.status for p in results.plans] == ["supported"]
    assert (run.options.out / "manifest.json").is_file()  # the core's bundle
    (record,) = History(run.pipeline.workspace.history_path).runs()
    assert (record.run_id, record.status, record.bundle) == (
        "r1",
        "ok",
        str(run.options.out.resolve()),
    )


def test_a_plugin_s_pruning_replaces_the_core_rules(run, register_plugin):
    class Fp16Only:
        @hookimpl
        def edgeops_prune(self, variants):
            return [
                v if v.name == "onnx:fp16" else v.model_copy(update={"pruned": {"*": "fp16 only"}})
                for v in variants
            ]

    register_plugin(Fp16Only())
    results = run_stages(run, None, "convert", "prune")
    assert {v.name: v.pruned for v in results.variants} == {
        "onnx:fp32": {"*": "fp16 only"},
        "onnx:fp16": {},
    }
    measured = run_stages(run, results, "measure", "measure")
    assert {results.variant(m.variant_id).name for m in measured.measurements} == {"onnx:fp16"}


def test_select_then_bundle_writes_through_a_plugin_s_bundle(run, register_plugin):
    measured = run_stages(run, None, "convert", "measure")

    class ResultsOnly:
        @hookimpl
        def edgeops_write_bundle(self, results, out):
            out.mkdir()
            (out / "results.json").write_text(results.model_dump_json())
            return out

    register_plugin(ResultsOnly())
    selected = run_stages(run, measured, "select", "bundle")
    assert [p.status for p in selected.plans] == ["supported"]
    assert run.bundle == run.options.out
    assert sorted(p.name for p in run.options.out.iterdir()) == ["results.json"]


def test_a_run_that_fails_is_recorded_failed_with_what_it_made(run, register_plugin):
    class FullDisk:
        @hookimpl
        def edgeops_write_bundle(self):
            raise OSError("No space left on device")

    register_plugin(FullDisk())
    with pytest.raises(OSError):
        ship_stages(run)
    (record,) = History(run.pipeline.workspace.history_path).runs()
    assert (record.status, record.error) == ("failed", "OSError: No space left on device")
    assert record.variants == 2 and record.bundle is None
