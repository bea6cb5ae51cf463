"""edgeops's line to a labgrid coordinator: places, reservations, acquire and release.

It is labgrid's own client: a ``labgrid.remote.client.ClientSession`` keeps the
coordinator's places and resources up to date from its gRPC stream, and the
calls here are the coordinator's RPCs that ``labgrid-client reserve --wait``,
``acquire`` and ``release`` make (labgrid 26, ``labgrid/remote/client.py``).
The session lives on an event loop of its own thread, so several place
workers can share it from their threads.

Names: every edgeops process opens its session as ``HOST/USER+edgeops-HOLDER``,
so the coordinator, ``labgrid-client who`` and ``reservations`` show which run
holds a place, and two runs of one user never pass for each other (the
coordinator lets a reservation's owner acquire its place by name alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import re
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgeops.plugin import DeviceError, UsageError

log = logging.getLogger("edgeops.labgrid")

T = TypeVar("T")

# labgrid's coordinator listens here unless told otherwise (labgrid-client's default).
DEFAULT_PORT = 20408
# The coordinator expires a reservation 60 s after its last poll (Reservation.refresh in
# labgrid/remote/common.py); polling every 10 s keeps a live run's reservations.
KEEPALIVE_S = 10.0
# labgrid-client polls a waiting reservation every second; a shorter poll takes a freed
# place sooner, at one small RPC per poll.
POLL_S = 0.2
RPC_TIMEOUT_S = 30.0
# labgrid's own client channel options (ClientSession.__attrs_post_init__, labgrid 26).
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 7500),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.ping_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
]
# What a place publishes that edgeops can measure through, in the order tried.
SSH_RESOURCE = "NetworkService"
ADB_RESOURCE = "NetworkADBDevice"
USABLE_RESOURCES = (SSH_RESOURCE, ADB_RESOURCE)


@dataclass(frozen=True)
class FarmResource:
    """One resource an exporter publishes for a place: ``exporter/group/cls/name`` and its params."""

    exporter: str
    group: str
    cls: str
    name: str
    params: dict[str, Any]
    avail: bool

    @property
    def path(self) -> str:
        return f"{self.exporter}/{self.group}/{self.cls}/{self.name}"


@dataclass(frozen=True)
class FarmPlace:
    """A snapshot of one labgrid place."""

    name: str
    tags: dict[str, str]
    acquired: str | None
    reservation: str | None
    comment: str
    resources: tuple[FarmResource, ...] = ()

    def matches(self, tags: dict[str, str]) -> bool:
        """labgrid's own rule (remote/scheduler.py): every filter tag is a tag of the place,
        and ``name`` is the place's name."""
        own = {**self.tags, "name": self.name}
        return all(own.get(k) == v for k, v in tags.items())

    def usable(self) -> FarmResource | None:
        """The resource edgeops measures through: SSH first, then network adb; None when
        the exporter that publishes them is gone."""
        for cls in USABLE_RESOURCES:
            for resource in self.resources:
                if resource.cls == cls and resource.avail:
                    return resource
        return None

    @property
    def health(self) -> str:
        if self.usable() is not None:
            return "ok"
        if self.resources:
            return "no ssh or adb resource"
        return "no resources (exporter down?)"


@dataclass
class Reservation:
    token: str
    place: str
    waited_s: float


@dataclass
class _Held:
    tokens: set[str] = field(default_factory=set)
    acquired: set[str] = field(default_factory=set)


def coordinator_address(address: str) -> str:
    return address if ":" in address.rsplit("]", 1)[-1] else f"{address}:{DEFAULT_PORT}"


def client_name(holder: str) -> str:
    """``HOST/USER+edgeops-HOLDER``; labgrid splits names on the one '/'."""
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "-", holder)
    return f"{socket.gethostname()}/{getpass.getuser()}+edgeops-{safe}"


class FarmClient:
    """A labgrid client session on its own thread. Close it (``with``) to release all it holds."""

    def __init__(self, address: str, holder: str) -> None:
        import grpc
        from labgrid.remote.client import ClientSession
        from labgrid.remote.generated import labgrid_coordinator_pb2_grpc

        _quiet_labgrid()
        self.address = coordinator_address(address)
        self.name = client_name(holder)
        host, _, user = self.name.partition("/")

        class _Session(ClientSession):
            # labgrid names a session from LG_HOSTNAME/LG_USERNAME or the login; these
            # two methods are where it reads them.
            def gethostname(self) -> str:
                return host

            def getuser(self) -> str:
                return user

            def __attrs_post_init__(self) -> None:
                super().__attrs_post_init__()
                # The coordinator keys clients by their TCP peer, and gRPC shares one
                # connection among a process's channels to one address: a second session
                # would trip its `assert peer not in self.clients`. A channel of its own
                # (labgrid's keepalive options, plus a local subchannel pool) avoids that.
                self.channel = grpc.aio.insecure_channel(
                    target=self.address,
                    options=[*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)],
                )
                self.stub = labgrid_coordinator_pb2_grpc.CoordinatorStub(self.channel)

        self.loop = _shared_loop()
        self.held = _Held()
        self.lock = threading.Lock()
        self.closed = False
        try:
            self.session = self._call(self._start(_Session), timeout_s=RPC_TIMEOUT_S)
        except Exception as exc:
            raise UsageError(
                f"cannot reach the labgrid coordinator at {self.address} ({_one_line(exc)}); "
                "start labgrid-coordinator there or fix [farm] coordinator / LG_COORDINATOR"
            ) from exc
        self._keepalive = asyncio.run_coroutine_threadsafe(self._keep_alive(), self.loop)

    async def _start(self, cls: Any) -> Any:
        session = cls(address=self.address, loop=self.loop)
        await asyncio.wait_for(session.start(), RPC_TIMEOUT_S)
        return session

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float = RPC_TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def __enter__(self) -> FarmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def places(self) -> list[FarmPlace]:
        return self._call(self._places())

    async def _sync(self) -> None:
        """labgrid's ``sync_with_coordinator``, failing at once once the coordinator is gone.

        When the coordinator's update stream ends, labgrid's message pump wakes the syncs
        pending then and no later one: each read after that waited RPC_TIMEOUT_S (30 s) for
        an answer nothing would send, and a run whose coordinator died stalled that long.
        A sync the stream's end woke is a failure too, not the last known state.
        """
        if self.session.stopping.is_set() or not await self.session.sync_with_coordinator():
            raise DeviceError(
                f"lost the labgrid coordinator at {self.address}: its update stream ended"
            )

    async def _places(self) -> list[FarmPlace]:
        await self._sync()
        resources = [
            (exporter, group_name, name, entry)
            for exporter, groups in self.session.resources.items()
            for group_name, group in groups.items()
            for name, entry in group.items()
            if entry.data  # a deleted resource leaves an empty entry
        ]
        out = []
        for name, place in sorted(self.session.places.items()):
            mine = tuple(
                FarmResource(
                    exporter, group_name, entry.cls, rname, dict(entry.params), bool(entry.avail)
                )
                for exporter, group_name, rname, entry in resources
                if place.hasmatch((exporter, group_name, entry.cls, rname))
            )
            out.append(
                FarmPlace(
                    name=name,
                    tags=dict(place.tags),
                    acquired=place.acquired,
                    reservation=place.reservation,
                    comment=place.comment,
                    resources=mine,
                )
            )
        return out

    def place(self, name: str) -> FarmPlace | None:
        return next((p for p in self.places() if p.name == name), None)

    def reservations(self) -> list[dict[str, Any]]:
        return self._call(self._reservations())

    async def _reservations(self) -> list[dict[str, Any]]:
        from labgrid.remote.common import Reservation as LgReservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        response = await self.session.stub.GetReservations(pb2.GetReservationsRequest())
        return [
            {"token": r.token, **r.asdict()}
            for r in (LgReservation.from_pb2(x) for x in response.reservations)
        ]

    # ------------------------------------------------------------------ reserving

    def reserve(
        self, tags: dict[str, str], timeout_s: float, stop: threading.Event | None = None
    ) -> Reservation:
        """Reserve one place whose tags match, waiting up to ``timeout_s`` (``reserve --wait``)."""
        started = time.monotonic()
        token = self._call(self._create(tags))
        with self.lock:
            self.held.tokens.add(token)
        try:
            while True:
                state, places = self._call(self._poll(token))
                if state == "allocated" and places:
                    return Reservation(token, places[0], time.monotonic() - started)
                if state in ("expired", "invalid"):
                    raise DeviceError(f"labgrid reservation {token} became {state}")
                if time.monotonic() - started > timeout_s:
                    raise DeviceError(
                        f"no labgrid place with tags {_tags(tags)} was free within {timeout_s:g} s"
                    )
                if stop is not None and stop.wait(POLL_S):
                    raise DeviceError("stopped while waiting for a labgrid place")
                if stop is None:
                    time.sleep(POLL_S)
        except BaseException:
            self.cancel(token)
            raise

    async def _create(self, tags: dict[str, str]) -> str:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        request = pb2.CreateReservationRequest(
            filters={"main": pb2.Reservation.Filter(filter=tags)}, prio=0.0
        )
        response = await self.session.stub.CreateReservation(request)
        return str(response.reservation.token)

    async def _poll(self, token: str) -> tuple[str, list[str]]:
        from labgrid.remote.common import Reservation as LgReservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        response = await self.session.stub.PollReservation(pb2.PollReservationRequest(token=token))
        res = LgReservation.from_pb2(response.reservation)
        return res.state.name, list(res.allocations.get("main", []))

    def own_tokens(self) -> set[str]:
        """The reservations this session holds now (all of a run's workers)."""
        with self.lock:
            return set(self.held.tokens)

    def cancel(self, token: str) -> None:
        with self.lock:
            self.held.tokens.discard(token)
        with contextlib.suppress(Exception):  # already expired or cancelled: nothing to free
            self._call(self._cancel(token))

    async def _cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        await self.session.stub.CancelReservation(pb2.CancelReservationRequest(token=token))

    async def _keep_alive(self) -> None:
        """Poll held reservations, as ``labgrid-client reserve --wait`` does, so they stay ours."""
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            with self.lock:
                tokens = list(self.held.tokens)
            for token in tokens:
                with contextlib.suppress(Exception):
                    await self._poll(token)

    # ------------------------------------------------------------------ acquiring

    @contextlib.contextmanager
    def acquired(self, place: str) -> Iterator[None]:
        """The place acquired for the block and released after it, whatever happens."""
        self.acquire(place)
        try:
            yield
        finally:
            self.release(place)

    def acquire(self, place: str) -> None:
        try:
            self._call(self._acquire(place))
        except Exception as exc:
            raise DeviceError(f"cannot acquire labgrid place {place}: {_one_line(exc)}") from exc
        with self.lock:
            self.held.acquired.add(place)

    async def _acquire(self, place: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        await self.session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=place))
        await self._sync()

    def release(self, place: str) -> None:
        with self.lock:
            self.held.acquired.discard(place)
        try:
            self._call(self._release(place))
        except Exception as exc:
            log.warning("releasing labgrid place %s failed: %s", place, _one_line(exc))

    async def _release(self, place: str) -> None:
        # fromuser: release only what this run acquired, never a place someone took since.
        await self._release_from(place, self.name)

    def free_holder(self, name: str) -> list[str]:
        """Release the places ``name`` acquired and cancel its reservations (a dead run's).

        Returns what was freed, for the log."""
        freed = [f"place {p.name}" for p in self.places() if p.acquired == name]
        for what in freed:
            place = what.split(" ", 1)[1]
            with contextlib.suppress(Exception):
                self._call(self._release_from(place, name))
        for res in self.reservations():
            if res["owner"] == name:
                self.cancel(res["token"])
                freed.append(f"reservation {res['token']}")
        return freed

    async def _release_from(self, place: str, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        await self.session.stub.ReleasePlace(
            pb2.ReleasePlaceRequest(placename=place, fromuser=name)
        )
        await self._sync()

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Release every place and cancel every reservation still held, then disconnect."""
        if self.closed:
            return
        self.closed = True
        with self.lock:
            acquired, tokens = list(self.held.acquired), list(self.held.tokens)
        for place in acquired:
            self.release(place)
        for token in tokens:
            self.cancel(token)
        self._keepalive.cancel()
        with contextlib.suppress(Exception):
            self._call(self._stop(), timeout_s=10)

    async def _stop(self) -> None:
        await self.session.stop()
        await self.session.close()


class _LabgridToDebug(logging.Filter):
    """labgrid's client logs on the root logger (``logging.error("coordinator is
    unavailable ...")``), which Python prints to stderr when nothing is configured;
    edgeops says the same in one line, so labgrid's own records go to debug."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder

    def filter(self, record: logging.LogRecord) -> bool:
        if record.pathname.startswith(self.folder):
            log.debug("labgrid: %s", record.getMessage())
            return False
        return True


def _quiet_labgrid() -> None:
    import labgrid

    root = logging.getLogger()
    if not any(isinstance(f, _LabgridToDebug) for f in root.filters):
        root.addFilter(_LabgridToDebug(str(Path(labgrid.__file__).parent)))


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread per process for every session: grpc.aio objects must all
    live on one loop (a second loop's channel fails with "Internal error from Core")."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="edgeops-labgrid", daemon=True).start()
        return _loop


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(any)"


def _one_line(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        with contextlib.suppress(Exception):
            text = details()
            if text:
                return str(text)[:300]
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
