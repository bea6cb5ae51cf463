"""Measuring on a labgrid farm: reserve a place by tags, acquire it per measurement, release.

Per profile there are as many place workers as places match its tags (at most
one per job). They share the profile's queue of (round, job) items, in
alternating order (A B C, C B A, ...), so drift falls on every variant alike,
and each worker measures one item at a time on the one place it reserved:
parallel across places, one measurement at a time per place. A profile whose
jobs include a baseline measured again for the gate (``ship --baseline``) gets
one worker: the baseline and the candidates then run on the same place.

A worker holds its reservation for its whole run (labgrid's coordinator keeps
it while it is polled) and acquires the place only for each measurement, so
between measurements a dead orchestrator's reservation simply expires.

A place that fails mid-measurement (its exporter or board gone, the connection
dropped) is a device failure, never the model's: the item goes back to the
queue for one retry on another matching place, and the failed place is
avoided for the rest of the run. An item that failed on two places, or that no
healthy place is left for, is recorded as an error naming the places.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from edgeops.plugin import (
    Device,
    DeviceError,
    MeasureJob,
    Measurement,
    MeasureRunner,
    MeasureSettings,
    Session,
    UsageError,
    failed_measurement,
)

from .client import ADB_RESOURCE, SSH_RESOURCE, FarmClient, FarmPlace, FarmResource, Reservation
from .config import (
    ADB_KEY_LABEL,
    KEY_LABEL,
    RESERVE_TIMEOUT_LABEL,
    TAG_PREFIX,
    TRANSPORT,
    tags_of,
)

log = logging.getLogger("edgeops.labgrid")

# Place tags that become labels of the device measured there (a board's pinned cores,
# the host whose CPU it shares, a transport's own settings).
PLACE_TRANSPORT_TAG = "transport"
DEFAULT_RESERVE_TIMEOUT_S = 900.0


@dataclass
class Item:
    round: int
    job: MeasureJob
    failed_on: list[str] = field(default_factory=list)


class Wait:
    """Nothing for this worker yet: the items left are other live workers'."""


WAIT = Wait()


@dataclass
class ProfileQueue:
    """The items of one profile's jobs, shared by its place workers."""

    profile_id: str
    tags: dict[str, str]
    reserve_timeout_s: float
    items: collections.deque[Item]
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: set[int] = field(default_factory=set)  # jobs that failed or that no plugin measures
    bad_places: dict[str, str] = field(default_factory=dict)  # place -> why

    home: dict[int, str] = field(default_factory=dict)  # job -> the place of its rounds
    active: set[str] = field(default_factory=set)  # places this run's workers hold

    def take(self, place: str) -> Item | None | Wait:
        """The next item for ``place``: one of its own jobs, or a job no live worker
        has; WAIT while the rest belong to other live workers, None when all are taken.

        A job's rounds stay on one place where they can, so a measurement (its rounds
        merged) names the one place it ran on, and comparisons of rounds are not
        comparisons of boards."""
        with self.lock:
            for i, item in enumerate(self.items):
                owner = self.home.get(item.job.index)
                if owner is None or owner == place or owner not in self.active:
                    del self.items[i]
                    self.home[item.job.index] = place
                    return item
            return WAIT if self.items else None

    def empty(self) -> bool:
        with self.lock:
            return not self.items

    def give_back(self, item: Item) -> None:
        with self.lock:
            self.items.appendleft(item)


@dataclass
class Timings:
    """The farm's own cost: reserving, acquiring and releasing, summed over a run."""

    reserve_s: float = 0.0
    acquire_s: float = 0.0
    release_s: float = 0.0
    measurements: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **seconds: float) -> None:
        with self.lock:
            for k, v in seconds.items():
                setattr(self, k, getattr(self, k) + v)

    def per_measurement_s(self) -> float:
        total = self.reserve_s + self.acquire_s + self.release_s
        return total / self.measurements if self.measurements else 0.0


# Every run's Timings in this process, newest last: benchmarks/farm_parallel.py reads them.
RUN_TIMINGS: list[Timings] = []


def is_farm_job(job: MeasureJob) -> bool:
    return job.device.transport == TRANSPORT


def execute_on_farm(
    jobs: list[MeasureJob],
    settings: MeasureSettings,
    runner: MeasureRunner,
    timings: Timings | None = None,
) -> None:
    """Every job's missing rounds on the farm; returns when all are recorded (or stopped)."""
    timings = timings or Timings()
    RUN_TIMINGS.append(timings)
    by_profile: dict[str, list[MeasureJob]] = {}
    for job in jobs:
        by_profile.setdefault(job.device.id, []).append(job)
    first = jobs[0].device
    from . import watchdog

    try:
        client = FarmClient(str(first.address), runner.holder)
    except UsageError as exc:
        # The coordinator is down: the farm's measurements are device failures, and the
        # run finishes on its other devices.
        for job in jobs:
            if runner.rounds_done(job) < settings.rounds and not runner.finished(job):
                runner.record(job, _device_failure(job, str(exc)))
        return
    guard = watchdog.start(client.address, client.name)
    try:
        try:
            places = client.places()
        except Exception as exc:
            places = []
            log.warning("labgrid coordinator %s failed: %s", client.address, _one_line(exc))
        queues, workers = [], []
        for group in by_profile.values():
            device = group[0].device
            tags = tags_of(device)
            queue = ProfileQueue(
                profile_id=device.profile_id,
                tags=tags,
                reserve_timeout_s=float(
                    device.labels.get(RESERVE_TIMEOUT_LABEL, DEFAULT_RESERVE_TIMEOUT_S)
                ),
                items=collections.deque(_interleaved(group, settings.rounds, runner)),
            )
            queue.done.update(job.index for job in group if runner.finished(job))
            queues.append(queue)
            matching = [p for p in places if p.matches(tags)]
            if not matching:
                _fail_all(queue, runner, f"no labgrid place has the tags {_tags(tags)}")
                continue
            # A baseline measured again beside the candidates (ship --baseline) pairs
            # round by round with them: one place measures the whole profile then, so
            # both sides of every pair ran on the same board.
            paired = any(job.variant.remeasured_from is not None for job in group)
            count = 1 if paired else min(len(matching), len(group))
            workers += [PlaceWorker(client, queue, runner, settings, timings) for _ in range(count)]
        if workers:
            with ThreadPoolExecutor(len(workers), thread_name_prefix="edgeops-place") as pool:
                futures = [pool.submit(w.run) for w in workers]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    # Ctrl-C or SIGTERM: the workers finish the measurement under way,
                    # start no other, and release their places on the way out.
                    runner.stop.set()
                    raise
        for queue in queues:
            # Items left with no worker: every matching place failed or none was free.
            reasons = "; ".join(f"{p}: {why}" for p, why in queue.bad_places.items())
            if not runner.stop.is_set():
                _fail_all(
                    queue, runner, f"no healthy labgrid place left ({reasons or 'none free'})"
                )
    finally:
        client.close()
        watchdog.finish(guard)
    if timings.measurements:
        log.info(
            "farm overhead per measurement: %.3f s (reserve %.3f s, acquire %.3f s, release %.3f s "
            "in all, over %d)",
            timings.per_measurement_s(), timings.reserve_s, timings.acquire_s,
            timings.release_s, timings.measurements,
        )  # fmt: skip


def _interleaved(jobs: list[MeasureJob], rounds: int, runner: MeasureRunner) -> list[Item]:
    """Rounds still missing, in alternating order (A B C, C B A, ...)."""
    items = []
    for r in range(rounds):
        for job in reversed(jobs) if r % 2 else jobs:
            if runner.rounds_done(job) <= r:
                items.append(Item(r, job))
    return items


def _fail_all(queue: ProfileQueue, runner: MeasureRunner, reason: str) -> None:
    with queue.lock:
        left = list(queue.items)
        queue.items.clear()
    for item in left:
        if item.job.index in queue.done:
            continue
        queue.done.add(item.job.index)
        runner.record(item.job, _device_failure(item.job, reason))


def _device_failure(job: MeasureJob, reason: str) -> Measurement:
    return failed_measurement(
        job.variant,
        job.device,
        job.compute_unit,
        "device_failed",
        f"device failure, not the model's: {reason}",
        environment={"farm_failure": reason},
    )


class PlaceWorker:
    """Measures a profile's items one at a time on the one place it has reserved."""

    def __init__(
        self,
        client: FarmClient,
        queue: ProfileQueue,
        runner: MeasureRunner,
        settings: MeasureSettings,
        timings: Timings,
    ) -> None:
        self.client = client
        self.queue = queue
        self.runner = runner
        self.settings = settings
        self.timings = timings
        self.reservation: Reservation | None = None
        self.place: FarmPlace | None = None
        self.resource: FarmResource | None = None
        self.session: Session | None = None

    def run(self) -> None:
        try:
            while not self.runner.stop.is_set():
                if self.place is None and (self.queue.empty() or not self._reserve_safely()):
                    return  # nothing left, or nothing healthy: the others go on
                assert self.place is not None
                item = self.queue.take(self.place.name)
                if item is None:
                    return
                if isinstance(item, Wait):
                    self.runner.stop.wait(0.05)
                    continue
                if item.job.index not in self.queue.done:
                    self._measure(item)
        finally:
            self._let_go()

    def _reserve_safely(self) -> bool:
        try:
            return self._reserve()
        except Exception as exc:  # the coordinator itself failed or is gone
            with self.queue.lock:
                self.queue.bad_places.setdefault(
                    "coordinator", f"{self.client.address}: {_one_line(exc)}"
                )
            return False

    def _reserve(self) -> bool:
        """A healthy place of the profile, reserved; False when none can be had."""
        held: list[Reservation] = []  # failed places, kept reserved so labgrid offers others
        started = time.monotonic()
        try:
            while not self.runner.stop.is_set():
                healthy = [
                    p
                    for p in self.client.places()
                    if p.matches(self.queue.tags)
                    and p.name not in self.queue.bad_places
                    and p.usable() is not None
                ]
                ours = self.client.own_tokens()
                # Places this run's other workers hold will not come free before the
                # queue is done: those workers measure the rest.
                if not [p for p in healthy if p.reservation not in ours or p.reservation is None]:
                    return False
                left = self.queue.reserve_timeout_s - (time.monotonic() - started)
                try:
                    got = self.client.reserve(self.queue.tags, max(left, 0.0), self.runner.stop)
                except DeviceError as exc:
                    log.warning("%s: %s", self.queue.profile_id, exc)
                    return False
                place = self.client.place(got.place)
                usable = place.usable() if place is not None else None
                if place is None or place.name in self.queue.bad_places or usable is None:
                    held.append(got)
                    continue
                self.reservation, self.place, self.resource = got, place, usable
                with self.queue.lock:
                    self.queue.active.add(place.name)
                log.info(
                    "reserved labgrid place %s (%s) for %s in %.3f s",
                    place.name, usable.path, self.queue.profile_id, got.waited_s,
                )  # fmt: skip
                return True
            return False
        finally:
            self.timings.add(reserve_s=time.monotonic() - started)
            for other in held:
                self.client.cancel(other.token)

    def _measure(self, item: Item) -> None:
        assert self.place is not None and self.resource is not None
        job, place = item.job, self.place
        try:
            t0 = time.monotonic()
            self.client.acquire(place.name)
            t1 = time.monotonic()
            try:
                self._check_still_there(place.name)
                if self.session is None:
                    self.session = self.runner.connect(self._device(job.device))
                measured = self.runner.measure(self.session, job, self.settings)
            finally:
                t2 = time.monotonic()
                self.client.release(place.name)
                self.timings.add(acquire_s=t1 - t0, release_s=time.monotonic() - t2)
        except Exception as exc:
            self._place_failed(item, _one_line(exc))
            return
        self.timings.add(measurements=1)
        if measured is None:
            self.queue.done.add(job.index)  # no plugin measures this here: not repeated
        else:
            if measured.status != "ok":
                self.queue.done.add(job.index)
            self.runner.record(job, self._named(measured))
        self.runner.advanced(
            f"{job.variant.name} on {place.name} ({job.compute_unit})",
            *self.runner.round_outcome(measured),
        )

    def _check_still_there(self, name: str) -> None:
        """labgrid's view decides: a place whose exporter has gone is not measured on, even
        if its board still answers (the lab took it out, or its host is going down)."""
        now = self.client.place(name)
        if now is None:
            raise DeviceError(f"labgrid place {name} was deleted")
        if now.usable() is None:
            raise DeviceError(f"labgrid place {name}: {now.health}")

    def _place_failed(self, item: Item, reason: str) -> None:
        assert self.place is not None
        name = self.place.name
        log.warning("labgrid place %s failed: %s", name, reason)
        with self.queue.lock:
            self.queue.bad_places[name] = reason
        item.failed_on.append(f"{name}: {reason}")
        self._let_go()
        if len(item.failed_on) >= 2:
            self.queue.done.add(item.job.index)
            self.runner.record(item.job, _device_failure(item.job, "; ".join(item.failed_on)))
            self.runner.advanced(
                f"{item.job.variant.name}: device failure", "failed", "; ".join(item.failed_on)
            )
        else:
            self.queue.give_back(item)  # one retry, on another place

    def _device(self, farm: Device) -> Device:
        """The Device to connect to: the place's resource, with the farm's keys and labels."""
        assert self.place is not None and self.resource is not None
        place, resource = self.place, self.resource
        params = resource.params
        labels = {k: v for k, v in farm.labels.items() if not k.startswith(("farm_", TAG_PREFIX))}
        labels.update({k: v for k, v in place.tags.items() if k != PLACE_TRANSPORT_TAG})
        labels.update(farm_place=place.name, farm_resource=resource.path)
        if resource.cls == SSH_RESOURCE:
            transport = place.tags.get(PLACE_TRANSPORT_TAG, "ssh")
            address = f"{params['address']}:{params.get('port', 22)}"
            user = params.get("username")
            key = farm.labels.get(KEY_LABEL)
        elif resource.cls == ADB_RESOURCE:
            transport = "adb"
            address = f"{params['host']}:{params.get('port', 5555)}"
            user = None
            key = farm.labels.get(ADB_KEY_LABEL)
        else:  # usable() offers nothing else
            raise DeviceError(f"place {place.name}: cannot measure through {resource.cls}")
        return Device(
            id=farm.id,
            name=f"{place.name} ({resource.exporter})",
            transport=transport,
            profile_id=farm.profile_id,
            address=address,
            user=user,
            key_path=Path(key) if key else None,
            labels=labels,
        )

    def _named(self, measured: Measurement) -> Measurement:
        """Results name the place, exporter (host) and resource of every measurement."""
        assert self.place is not None and self.resource is not None
        params = self.resource.params
        address = params.get("address") or params.get("host")
        return measured.model_copy(
            update={
                "environment": {
                    **measured.environment,
                    "farm_place": self.place.name,
                    "farm_exporter": self.resource.exporter,
                    "farm_resource": self.resource.path,
                    "farm_address": f"{address}:{params.get('port', '')}",
                    "farm_coordinator": self.client.address,
                }
            }
        )

    def _let_go(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):  # a dropped device cannot close cleanly
                self.session.close()
            self.session = None
        if self.reservation is not None:
            self.client.cancel(self.reservation.token)
            self.reservation = None
        if self.place is not None:
            with self.queue.lock:
                self.queue.active.discard(self.place.name)
        self.place = self.resource = None


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(any)"


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]


@contextlib.contextmanager
def terminate_as_interrupt(runner: MeasureRunner) -> Iterator[None]:
    """SIGTERM (a CI job cancelled) ends the run as Ctrl-C does, so ``finally`` releases
    every place; Python's default SIGTERM would exit without running it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        runner.stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
