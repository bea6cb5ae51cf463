"""Profiles by OS (Core AI from iOS/macOS 27, Core ML before) and Core AI predictions."""

from __future__ import annotations

import pytest

from edgeops_coreai import predict

OS27 = ["iphone16-ios27", "iphone16pro-ios27", "iphone17-ios27", "iphone17pro-ios27"]
OS27 += ["iphoneair-ios27", "mac-m5-macos27"]


def test_a_profile_runs_core_ai_exactly_when_its_os_is_27_or_later(coreai_profiles):
    apple = [p for p in coreai_profiles.values() if p.platform in ("ios", "macos")]
    for profile in apple:
        runs_coreai = "coreai" in profile.formats
        assert runs_coreai == ((profile.os_major or 0) >= 27), profile.id
    assert sorted(p.id for p in apple if "coreai" in p.formats) == sorted(OS27)


def test_os27_profiles_run_both_formats_and_source_every_fact(coreai_profiles):
    for pid in OS27:
        profile = coreai_profiles[pid]
        # Core AI first, Core ML beside it; ExecuTorch may run there too.
        assert profile.formats[:2] == ("coreai", "coreml"), profile.formats
        assert {"formats", "os_major", "compute_units"} <= set(profile.sources)
        for fact in ("ram_mb", "app_memory_limit_mb"):
            assert fact in profile.sources, (pid, fact)
        assert profile.chip in predict.chips()


def test_new_chips_name_where_each_fact_came_from():
    for chip_id in ("A19", "A19 Pro", "M5"):
        chip = predict.chips()[chip_id]
        assert {"ane_cores", "ane_peak_tops", "w8a8_accelerated", "devices"} <= set(chip["sources"])
        assert "ane_peak_tops" not in chip  # no figure was read from a source


def test_predictions_are_labelled_and_follow_the_neural_engine(
    make_variant, tiny_artifact, coreai_profiles
):
    phone = coreai_profiles["iphone16-ios27"]
    variant = make_variant("palettize-kmeans-4")
    ne = predict.predict(phone, variant, "cpu_and_ne")
    cpu = predict.predict(phone, variant, "cpu_only")
    assert ne is not None and cpu is not None
    assert (
        ne.method == "predicted"
        and ne.status == "ok"
        and ne.device_id == "predicted:iphone16-ios27"
    )
    assert ne.p50_ms < cpu.p50_ms  # the Neural Engine is the fast unit for a conv net
    assert ne.environment["ne_peak_tops"] == 35.0 and ne.environment["ne_peak_basis"] == "chip file"
    assert "not measured" in ne.peak_mem.definition
    # fp32 compute cannot run on the Neural Engine: said, not predicted.
    fp32 = tiny_artifact.model_copy(
        update={"id": "fp32", "size_bytes": 300_000, "macs": tiny_artifact.macs}
    )
    refused = predict.predict(phone, fp32, "cpu_and_ne")
    assert refused is not None and refused.status == "unsupported"
    assert predict.predict(phone, fp32, "all").environment["engine"] == "gpu"


def test_chips_without_a_figure_borrow_one_and_say_so(make_variant, coreai_profiles):
    m = predict.predict(coreai_profiles["iphone17pro-ios27"], make_variant("fp16"), "cpu_and_ne")
    assert m is not None and m.status == "ok"
    assert m.environment["ne_peak_tops"] == 35.0
    assert m.environment["ne_peak_basis"].startswith("guess")


@pytest.mark.parametrize("pid", ["iphone15pro", "host"])
def test_no_prediction_for_profiles_without_core_ai(pid, make_variant, coreai_profiles):
    import edgeops_coreai
    from edgeops.testing import hooks_of

    # As installed: the core asks a backend only about profiles that run its format.
    hooks = hooks_of(edgeops_coreai)
    variant = make_variant("fp16").model_copy(update={"status": "ok"})
    profile = coreai_profiles[pid]
    assert (
        hooks.edgeops_predict(profile=profile, variant=variant, compute_unit="cpu_and_ne") is None
    )
