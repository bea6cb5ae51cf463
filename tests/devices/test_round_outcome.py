"""What one measuring round tells the progress line: measured, unsupported or failed.

A variant that cannot run on a unit (an ExecuTorch program lowered for another
delegate) is unsupported there; counting it as failed made a clean ship's
summary read "failed 3".
"""

from edgeops.devices.scheduling import MeasureRunner
from edgeops.models import Measurement


def measurement(status: str, error: str | None = None) -> Measurement:
    return Measurement(
        variant_id="v", device_id="d", profile_id="host", compute_unit="xnnpack",
        status=status, error=error,
    )  # fmt: skip


def test_an_unsupported_round_is_unsupported_with_its_reason():
    reason = "an ExecuTorch portable-fp32 program runs on cpu only"
    assert MeasureRunner.round_outcome(measurement("unsupported", reason)) == (
        "unsupported",
        reason,
    )


def test_a_round_that_went_wrong_is_failed_with_its_status():
    assert MeasureRunner.round_outcome(measurement("oom", "killed")) == ("failed", "oom: killed")
    assert MeasureRunner.round_outcome(measurement("ok")) == ("measured", "")
    assert MeasureRunner.round_outcome(None)[0] == "unsupported"
