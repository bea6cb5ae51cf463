"""One function decides a ship run's exit code and its history status (edgeops.errors)."""

import pytest

from edgeops.errors import (
    EXIT_DEVICE_FAILED,
    EXIT_NOT_SHIPPED,
    EXIT_OK,
    DeviceError,
    ResultsError,
    Terminated,
    UsageError,
    run_outcome,
)
from edgeops.models import Plan


def _plan(profile: str, status: str, note: str | None = None) -> Plan:
    return Plan(profile_id=profile, status=status, note=note)


@pytest.mark.parametrize("unshipped", ["unsupported", "not_measured", "not_converted"])
def test_a_run_that_exits_5_is_never_recorded_ok(unshipped):
    outcome = run_outcome([_plan("host", "supported"), _plan("iphone12", unshipped)])
    assert outcome.exit_code() == EXIT_NOT_SHIPPED
    assert outcome.status == "unsupported"
    assert outcome.not_shipped == (("iphone12", unshipped),)
    # --allow-unsupported changes the exit code, not what happened.
    assert outcome.exit_code(allow_unsupported=True) == EXIT_OK
    assert outcome.status == "unsupported"


def test_a_failed_device_wins_and_is_never_allowed_away():
    outcome = run_outcome(
        [_plan("rpi5", "device_failed", "ssh refused"), _plan("iphone12", "not_converted")]
    )
    assert outcome.status == "device_failed" and outcome.error == "rpi5: ssh refused"
    assert outcome.exit_code(allow_unsupported=True) == EXIT_DEVICE_FAILED


def test_every_profile_shipped_is_ok_and_exit_0():
    outcome = run_outcome([_plan("host", "supported"), _plan("pixel6", "supported")])
    assert (outcome.status, outcome.exit_code(), outcome.error) == ("ok", EXIT_OK, None)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (KeyboardInterrupt(), "interrupted", 130),
        (Terminated(), "interrupted", 143),
        (UsageError("bad flag"), "failed", 2),
        (ResultsError("bad results"), "failed", 2),
        (DeviceError("gone"), "failed", 1),
        (RuntimeError("a bug"), "failed", 1),
    ],
)
def test_a_run_that_raised_is_decided_by_the_same_function(error, status, code):
    outcome = run_outcome([_plan("host", "supported")], error=error)
    assert (outcome.status, outcome.exit_code()) == (status, code)
    # --allow-unsupported never turns an error into a pass.
    assert outcome.exit_code(allow_unsupported=True) == code


def test_the_cli_exits_with_the_code_run_outcome_gives(tmp_path):
    from edgeops.cli import main

    # A bad flag value: a UsageError, exit 2, the same as run_outcome says.
    code = main(["ship", str(tmp_path / "m.onnx"), "--rounds", "0", "--workspace", str(tmp_path)])
    assert code == run_outcome(error=UsageError("")).exit_code() == 2
