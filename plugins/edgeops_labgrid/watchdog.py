"""Frees a run's labgrid places when its process dies without the chance to (SIGKILL, OOM).

labgrid keeps a place acquired after its client disconnects, and an acquired
reservation never expires (coordinator.py: "acquired reservations do not
expire"; AcquirePlace's FIXME about clients that disconnect). So a run that
is killed mid-measurement would hold its place for good. The run starts this
process with a pipe on its stdin: a run that ends cleanly writes ``done``;
end of file without it means the run died, and this process releases every
place the run's labgrid name acquired and cancels its reservations.

A run whose whole host dies takes this process with it; then its
reservations that were not acquired expire on their own after labgrid's 60 s,
and a place acquired at that moment needs ``labgrid-client -p PLACE release
--kick`` (README, "Device farm").

    python -m edgeops_labgrid.watchdog COORDINATOR NAME
"""

from __future__ import annotations

import subprocess
import sys

DONE = b"done"


def start(address: str, name: str) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C in the terminal reaches the run, not its watchdog.
    return subprocess.Popen(
        [sys.executable, "-m", "edgeops_labgrid.watchdog", address, name],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[bytes]) -> None:
    """The run ended cleanly and freed what it held: the watchdog exits doing nothing."""
    if process.stdin is not None:
        try:
            process.stdin.write(DONE)
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


def main(argv: list[str]) -> int:
    address, name = argv
    said = sys.stdin.buffer.read()  # blocks until the run closes the pipe or dies
    if said.strip() == DONE:
        return 0
    from .client import FarmClient

    with FarmClient(address, f"watchdog-{name.rsplit('-', 1)[-1]}") as client:
        for what in client.free_holder(name):
            print(f"freed {what} of dead run {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
