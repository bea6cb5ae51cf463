"""Every error edgeops raises on purpose.

The tree::

    EdgeopsError                  one line for the user: what went wrong and what to do
    ├── UsageError                bad flags, unknown profile or device, bad config file
    │   └── RunBusyError          --resume of a run a live process still owns
    ├── ModelError                a model file that is missing, corrupt or unsupported
    ├── SamplesError              a samples folder or factory whose arrays do not fit the inputs
    ├── PluginError               a plugin that cannot load, is named twice, or implements a hook wrongly
    ├── StageError                one conversion or optimization failed (recorded, the run goes on)
    ├── DeviceError               a device that is missing, unreachable or lacks a runtime
    │   └── ProbeError            the probe ran but did not produce a measurement
    ├── LeaseStoreError           the device lease file is corrupt, locked too long or read-only
    └── ResultsError              a results.json or manifest that cannot be read or compared

    KeyboardInterrupt
    └── Terminated                SIGTERM, unwound like Ctrl-C

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
``--debug`` adds the traceback.

Exit codes, and the history status of a ``ship`` run (``run_outcome`` decides both,
from the error a run raised, else from its plans)::

    0    EXIT_OK              every profile has a variant            history: ok
    1    EXIT_FAILED          an EdgeopsError (or a bug)             history: failed
    2    EXIT_USAGE           bad input: UsageError, ResultsError    history: failed
    3    EXIT_INCONCLUSIVE    `edgeops gate` cannot decide
    4    EXIT_DEVICE_FAILED   a device failed; --resume measures it  history: device_failed
    5    EXIT_NOT_SHIPPED     a profile ends unsupported, not        history: unsupported
                              measured or not converted (0 with --allow-unsupported)
    130  EXIT_INTERRUPTED     Ctrl-C                                 history: interrupted
    143  EXIT_TERMINATED      SIGTERM                                history: interrupted
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from edgeops.models import Plan

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_DEVICE_FAILED = 4
EXIT_NOT_SHIPPED = 5
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a terminated process

# Plan statuses that leave a requested profile without a shipped variant.
NOT_SHIPPED = ("unsupported", "not_measured", "not_converted")


class EdgeopsError(Exception):
    """Base of every deliberate edgeops error. The message names the fix."""

    exit_code = EXIT_FAILED


class UsageError(EdgeopsError):
    exit_code = EXIT_USAGE


class RunBusyError(UsageError):
    """The run is owned by a live process."""


class ModelError(EdgeopsError):
    pass


class SamplesError(EdgeopsError):
    pass


class PluginError(EdgeopsError):
    pass


class StageError(EdgeopsError):
    pass


class DeviceError(EdgeopsError):
    pass


class ProbeError(DeviceError):
    pass


class LeaseStoreError(EdgeopsError):
    """The lease file is corrupt, locked too long, or not writable."""


class ResultsError(EdgeopsError):
    exit_code = EXIT_USAGE


class Terminated(KeyboardInterrupt):
    """SIGTERM, the usual CI cancellation: unwound exactly like Ctrl-C."""


# --------------------------------------------------------------------------- a run's outcome

Status = Literal["ok", "device_failed", "unsupported", "failed", "interrupted"]


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: its history status, and its exit code."""

    status: Status
    device_failed: tuple[tuple[str, str], ...] = ()  # (profile id, why)
    not_shipped: tuple[tuple[str, str], ...] = ()  # (profile id, plan status)
    # A run that raised: the exit code its error carries.
    raised_code: int | None = None

    @property
    def error(self) -> str | None:
        """The device failures in one line, for the history (a raised error: its own line)."""
        return "; ".join(f"{profile}: {note}" for profile, note in self.device_failed) or None

    def exit_code(self, allow_unsupported: bool = False) -> int:
        """What the CLI exits with; ``allow_unsupported`` (the flag) accepts unshipped profiles,
        never a failed device."""
        if self.raised_code is not None:
            return self.raised_code
        if self.device_failed:
            return EXIT_DEVICE_FAILED
        if self.not_shipped and not allow_unsupported:
            return EXIT_NOT_SHIPPED
        return EXIT_OK


def run_outcome(plans: Iterable[Plan] = (), error: BaseException | None = None) -> RunOutcome:
    """The one decision of how a run ended: from the error it raised, else from its plans.

    The history records its ``status`` and the CLI exits with its ``exit_code``, so
    the two never disagree (``edgeops ship`` and ``edgeops.ship`` alike)."""
    if error is not None:
        return _raised(error)
    plans = list(plans)
    failed = tuple((p.profile_id, p.note or "") for p in plans if p.status == "device_failed")
    unshipped = tuple((p.profile_id, p.status) for p in plans if p.status in NOT_SHIPPED)
    status: Status = "device_failed" if failed else "unsupported" if unshipped else "ok"
    return RunOutcome(status=status, device_failed=failed, not_shipped=unshipped)


def _raised(error: BaseException) -> RunOutcome:
    if isinstance(error, KeyboardInterrupt):
        code = EXIT_TERMINATED if isinstance(error, Terminated) else EXIT_INTERRUPTED
        return RunOutcome(status="interrupted", raised_code=code)
    code = error.exit_code if isinstance(error, EdgeopsError) else EXIT_FAILED
    return RunOutcome(status="failed", raised_code=code)
