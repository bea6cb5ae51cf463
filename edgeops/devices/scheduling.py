"""Measuring many variants on many devices: in parallel across devices, one at a time on each.

Each device gets a worker thread. A worker measures its jobs in rounds whose
order alternates (A B C, C B A, …) so slow drift (heat, background load) falls
on every variant alike. Each measurement holds the device's lease (and its
share of a host's CPU), so two runs never overlap on one device.

A device that fails (the connection drops, it cannot be reached) is
reconnected and the measurement retried once; a second failure quarantines it
for the rest of the run, and its remaining measurements are recorded as errors
with the reason, so the run finishes on the other devices.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from edgeops.devices.leases import LeaseBook, LeaseStoreError
from edgeops.devices.sessions import Session
from edgeops.errors import DeviceError
from edgeops.hookspecs import hookimpl
from edgeops.models import Device, Measurement, MeasurementStatus, MeasureSettings, Variant


def job_key(device_id: str, variant_id: str, compute_unit: str) -> tuple[str, str, str]:
    return (device_id, variant_id, compute_unit)


@dataclass(frozen=True)
class MeasureJob:
    """One variant on one device with one compute unit, for ``settings.rounds`` rounds."""

    index: int
    device: Device
    variant: Variant
    compute_unit: str

    @property
    def profile_id(self) -> str:
        return self.device.profile_id

    @property
    def label(self) -> str:
        return f"{self.variant.name} on {self.device.name} ({self.compute_unit})"


def error_measurement(job: MeasureJob, status: MeasurementStatus, error: str) -> Measurement:
    return Measurement(
        variant_id=job.variant.id,
        device_id=job.device.id,
        profile_id=job.profile_id,
        compute_unit=job.compute_unit,
        status=status,
        error=error,
    )


@dataclass
class RoundBook:
    """Rounds measured so far per job; shared by the workers, written through ``record``.

    Each round gets the next round id of its device (``Measurement.round_ids``):
    its place in the session's interleaving there, so the gate can pair a
    baseline's round with the candidate's measured beside it. ``next_ids``
    starts past the ids rounds already hold (a resumed run, added rounds).
    """

    rounds: dict[int, list[Measurement]]
    record: Callable[[Measurement], None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for measured in self.rounds.values():
            for m in measured:
                self.reserve_ids(m.device_id, m.round_ids or ())

    def reserve_ids(self, device_id: str, ids: tuple[int, ...] | list[int]) -> None:
        """Ids already used on ``device_id``: new rounds are numbered after them."""
        if ids:
            self.next_ids[device_id] = max(self.next_ids.get(device_id, 0), max(ids) + 1)

    def add(self, index: int, measurement: Measurement) -> None:
        with self.lock:
            round_id = self.next_ids.get(measurement.device_id, 0)
            self.next_ids[measurement.device_id] = round_id + 1
            measurement = measurement.model_copy(update={"round_ids": (round_id,)})
            self.rounds[index].append(measurement)
        self.record(measurement)


class MeasureRunner:
    """What ``edgeops_execute_measurements`` gets: the hooks and books of one run.

    An executor (this module's default, or a device-farm plugin) decides where and
    when each round runs; the runner connects, measures, records and reports.
    """

    def __init__(
        self,
        hook: Any,
        holder: str,
        book: RoundBook,
        leases: LeaseBook,
        stop: threading.Event | None = None,
    ) -> None:
        self._hook = hook
        self._book = book
        self.holder = holder
        # The embedded default's lease store (SQLite); a farm plugin has its own.
        self.leases = leases
        self.stop = stop or threading.Event()

    def connect(self, device: Device) -> Session:
        session: Session | None = self._hook.edgeops_connect(device=device)
        if session is None:
            raise DeviceError(
                f"no installed plugin connects over {device.transport!r} (see `edgeops plugins`)"
            )
        return session

    def measure(
        self, session: Session, job: MeasureJob, settings: MeasureSettings
    ) -> Measurement | None:
        """One round of ``job`` in a fresh process on the session's device, observers told.

        Past ``settings.full_rounds`` rounds of the job, the round times the loop
        only (``round_settings``).
        """
        settings = round_settings(settings, self.rounds_done(job))
        measured: Measurement | None = self._hook.edgeops_measure(
            session=session, variant=job.variant, compute_unit=job.compute_unit, settings=settings
        )
        if measured is not None:
            self._hook.edgeops_measured(measurement=measured)
        return measured

    def record(self, job: MeasureJob, measurement: Measurement) -> None:
        self._book.add(job.index, measurement)

    def rounds_done(self, job: MeasureJob) -> int:
        return len(self._book.rounds[job.index])

    def finished(self, job: MeasureJob) -> bool:
        """A job that failed is not repeated."""
        return any(m.status != "ok" for m in self._book.rounds[job.index])

    def advanced(self, label: str, outcome: str = "measured", reason: str = "") -> None:
        """Tell observers one round of ``label`` ended, and how: pass
        ``*runner.round_outcome(measured)``. ``outcome`` defaults to ``measured``
        for executors written before it existed."""
        self._hook.edgeops_stage_advanced(
            stage="measure", label=label, outcome=outcome, reason=reason
        )

    @staticmethod
    def round_outcome(measured: Measurement | None) -> tuple[str, str]:
        """``(outcome, reason)`` of one round's result for ``advanced`` (None: no
        installed plugin measures the job there)."""
        if measured is None:
            return "unsupported", "no installed plugin measures it there"
        if measured.status == "ok":
            return "measured", ""
        if measured.status == "unsupported":
            # The variant cannot run on that unit (an ExecuTorch program lowered for
            # another delegate): nothing failed, and the summary must not count it so.
            return "unsupported", measured.error or "not supported there"
        return "failed", f"{measured.status}: {measured.error or 'no detail'}"


def round_settings(settings: MeasureSettings, done: int) -> MeasureSettings:
    """The settings of a job's round after ``done`` rounds of it.

    Paced runs, cold and warm loads and the memory reading describe a variant,
    not a round: ``settings.full_rounds`` of them per variant and device are
    enough, and the later rounds (about 1 s each instead of about 5 s at the
    defaults) only time the loop, which is what a latency decision rests on.
    """
    if done < settings.full_rounds or settings.timed_only:
        return settings
    return settings.model_copy(update={"timed_only": True, "paced_fps": ()})


class DeviceWorker:
    def __init__(self, runner: MeasureRunner, device: Device, settings: MeasureSettings) -> None:
        self.runner = runner
        self.device = device
        self.settings = settings
        self.session: Session | None = None
        self.quarantined: str | None = None

    def run(self, jobs: list[MeasureJob]) -> None:
        # A job that failed, or that no plugin can measure, is not repeated.
        done: set[int] = {j.index for j in jobs if self.runner.finished(j)}
        try:
            for r in range(self.settings.rounds):
                for job in reversed(jobs) if r % 2 else jobs:
                    if self.runner.stop.is_set():
                        return  # Ctrl-C: finish the measurement under way, start no other
                    # Only a round measured now is told: a later look of successive
                    # halving passes over the rounds earlier looks measured.
                    if job.index not in done and self.runner.rounds_done(job) <= r:
                        measured = self._measure(job)
                        if measured is None:
                            done.add(job.index)
                        else:
                            self.runner.record(job, measured)
                            if measured.status != "ok":
                                done.add(job.index)
                        self.runner.advanced(job.label, *self.runner.round_outcome(measured))
        finally:
            self._disconnect()

    def _measure(self, job: MeasureJob) -> Measurement | None:
        if self.quarantined:
            return error_measurement(
                job, "device_failed", f"device quarantined for this run: {self.quarantined}"
            )
        try:
            return self._attempt(job)
        except LeaseStoreError:
            raise  # edgeops's own failure: no device is to blame, the run stops
        except Exception as first:
            self._disconnect()
            try:
                return self._attempt(job)  # one retry on a fresh connection
            except LeaseStoreError:
                raise
            except Exception as second:
                self._disconnect()
                self.quarantined = _one_line(second)
                return error_measurement(
                    job,
                    "device_failed",
                    f"device failed twice ({_one_line(first)}; then {self.quarantined})",
                )

    def _attempt(self, job: MeasureJob) -> Measurement | None:
        with self.runner.leases.hold(job.device, self.runner.holder) as lease:
            if self.session is None:
                self.session = self.runner.connect(job.device)
            measured = self.runner.measure(self.session, job, self.settings)
            lost = lease.lost()
        if measured is None or lost is None:
            return measured
        # Another run may have measured on the device at the same time: the numbers
        # are contaminated, so the measurement is void, with the reason.
        return measured.model_copy(update={"status": "error", "error": f"void: {lost}"})

    def _disconnect(self) -> None:
        if self.session is not None:
            # A dropped device cannot be closed cleanly; nothing is lost by ignoring that.
            with contextlib.suppress(Exception):
                self.session.close()
            self.session = None


@hookimpl(trylast=True)
def edgeops_execute_measurements(
    jobs: list[MeasureJob], settings: MeasureSettings, runner: MeasureRunner
) -> bool:
    """The embedded default: a thread per device, SQLite leases on this machine."""
    by_device: dict[str, list[MeasureJob]] = {}
    for job in jobs:
        by_device.setdefault(job.device.id, []).append(job)
    if not by_device:
        return True
    pool = ThreadPoolExecutor(max_workers=len(by_device), thread_name_prefix="edgeops-device")
    try:
        futures = [
            pool.submit(DeviceWorker(runner, device_jobs[0].device, settings).run, device_jobs)
            for device_jobs in by_device.values()
        ]
        for future in futures:
            future.result()
    except BaseException:
        # Ctrl-C, SIGTERM or a worker's error: the other workers finish the measurement
        # under way and start no other. A normal end leaves stop clear, since successive
        # halving calls this executor again for the next look.
        runner.stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
