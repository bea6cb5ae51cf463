"""The probe's timeout follows the settings, and a timeout is never "unsupported" (issue 28, item 15)."""

from __future__ import annotations

from pathlib import Path

from edgeops.files import sha256_file
from edgeops.models import Artifact, MeasureSettings, Recipe
from edgeops.selection import edgeops_select

from factories import policy, profile, tiny_onnx


def test_the_timeout_covers_the_timed_phases_the_settings_ask_for() -> None:
    for min_duration_s in (0.0, 1.0, 90.0, 600.0):
        settings = MeasureSettings(min_duration_s=min_duration_s)
        timed_s = settings.min_duration_s + settings.paced_seconds * len(settings.paced_fps)
        # Before: a fixed 300 s, so --min-duration-s 90 (90 + 2 x 180 s paced) was cut.
        assert settings.timeout_s >= 300 + timed_s
    assert MeasureSettings(timeout_override_s=12).timeout_s == 12
    # Results written with the fixed timeout still load, as that figure.
    assert MeasureSettings.model_validate({"timeout_s": 300.0}).timeout_s == 300


def test_a_probe_that_times_out_is_not_measured_never_unsupported(
    tmp_path: Path, edgeops_pm, local_device
) -> None:
    from edgeops.devices.probe_measure import edgeops_measure

    model = tiny_onnx(tmp_path / "m.onnx")
    variant = Artifact(
        id="v1",
        format="onnx",
        recipe=Recipe(name="fp32", format="onnx"),
        path=model,
        sha256=sha256_file(model),
        size_bytes=model.stat().st_size,
    )
    session = edgeops_pm.hook.edgeops_connect(device=local_device)
    try:
        # A real probe asked to measure for 30 s with 1 s to do it: a real timeout.
        settings = MeasureSettings(
            min_duration_s=30, max_runs=10**7, timeout_override_s=1, paced_fps=()
        )
        measured = edgeops_measure(
            session=session, variant=variant, compute_unit="cpu", settings=settings
        )
    finally:
        session.close()
    assert measured is not None and measured.status == "timeout", measured
    plan = edgeops_select(
        profile=profile(id=measured.profile_id),
        variants=[variant],
        measurements=[measured],
        policy=policy(),
    )
    assert plan.status == "not_measured" and "timeout" in plan.note, plan
