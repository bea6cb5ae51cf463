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

from edgeops.devices.leases import LeaseBook
from edgeops.devices.sessions import Session
from edgeops.errors import DeviceError
from edgeops.models import Device, Measurement, MeasurementStatus, MeasureSettings, Variant

Job = tuple[Device, Variant, str]


def job_key(device_id: str, variant_id: str, compute_unit: str) -> tuple[str, str, str]:
    return (device_id, variant_id, compute_unit)


def error_measurement(job: Job, status: MeasurementStatus, error: str) -> Measurement:
    device, variant, cu = job
    return Measurement(
        variant_id=variant.id,
        device_id=device.id,
        profile_id=device.profile_id,
        compute_unit=cu,
        status=status,
        error=error,
    )


@dataclass
class RoundBook:
    """Rounds measured so far per job; shared by the workers, written through ``record``."""

    rounds: dict[int, list[Measurement]]
    record: Callable[[Measurement], None]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, index: int, measurement: Measurement) -> None:
        with self.lock:
            self.rounds[index].append(measurement)
        self.record(measurement)


class DeviceWorker:
    def __init__(
        self,
        hook: Any,
        leases: LeaseBook,
        holder: str,
        device: Device,
        settings: MeasureSettings,
    ) -> None:
        self.hook = hook
        self.leases = leases
        self.holder = holder
        self.device = device
        self.settings = settings
        self.session: Session | None = None
        self.quarantined: str | None = None

    def run(
        self, jobs: list[Job], indices: list[int], book: RoundBook, stop: threading.Event
    ) -> None:
        # A job that failed, or that no plugin can measure, is not repeated.
        done: set[int] = {i for i in indices if any(m.status != "ok" for m in book.rounds[i])}
        try:
            for r in range(self.settings.rounds):
                for i in reversed(indices) if r % 2 else indices:
                    if stop.is_set():
                        return  # Ctrl-C: finish the measurement under way, start no other
                    device, variant, cu = jobs[i]
                    if i not in done and len(book.rounds[i]) <= r:
                        measured = self._measure(jobs[i])
                        if measured is None:
                            done.add(i)
                        else:
                            book.add(i, measured)
                            if measured.status != "ok":
                                done.add(i)
                    self.hook.edgeops_stage_advanced(
                        stage="measure", label=f"{variant.name} on {device.name} ({cu})"
                    )
        finally:
            self._disconnect()

    def _measure(self, job: Job) -> Measurement | None:
        if self.quarantined:
            return error_measurement(
                job, "error", f"device quarantined for this run: {self.quarantined}"
            )
        try:
            return self._attempt(job)
        except Exception as first:
            self._disconnect()
            try:
                return self._attempt(job)  # one retry on a fresh connection
            except Exception as second:
                self._disconnect()
                self.quarantined = _one_line(second)
                return error_measurement(
                    job,
                    "error",
                    f"device failed twice ({_one_line(first)}; then {self.quarantined})",
                )

    def _attempt(self, job: Job) -> Measurement | None:
        device, variant, cu = job
        with self.leases.hold(device, self.holder):
            if self.session is None:
                self.session = self.hook.edgeops_connect(device=device)
                if self.session is None:
                    raise DeviceError(f"no installed plugin connects over {device.transport!r}")
            measured: Measurement | None = self.hook.edgeops_measure(
                session=self.session, variant=variant, compute_unit=cu, settings=self.settings
            )
        if measured is not None:
            self.hook.edgeops_measured(measurement=measured)
        return measured

    def _disconnect(self) -> None:
        if self.session is not None:
            # A dropped device cannot be closed cleanly; nothing is lost by ignoring that.
            with contextlib.suppress(Exception):
                self.session.close()
            self.session = None


def measure_on_devices(
    hook: Any,
    leases: LeaseBook,
    holder: str,
    jobs: list[Job],
    settings: MeasureSettings,
    book: RoundBook,
) -> None:
    by_device: dict[str, list[int]] = {}
    for i, (device, _variant, _cu) in enumerate(jobs):
        by_device.setdefault(device.id, []).append(i)
    devices = {device.id: device for device, _v, _c in jobs}
    if not by_device:
        return
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=len(by_device), thread_name_prefix="edgeops-device")
    try:
        futures = [
            pool.submit(
                DeviceWorker(hook, leases, holder, devices[device_id], settings).run,
                jobs,
                indices,
                book,
                stop,
            )
            for device_id, indices in by_device.items()
        ]
        for future in futures:
            future.result()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
