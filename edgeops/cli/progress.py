"""The progress reporter: a plugin on the observer hooks, like pytest's terminal reporter.

In a terminal it is a live rich bar per stage, with the counts of how its items
ended (``made 150 · cached 20 · failed 3 · pruned 12``, non-zero ones only). Off
a terminal (CI) a bar prints nothing until it stops, so a two-hour ship would
log nothing: there it prints one line per stage and per finished item, with its
outcome, the reason for a failed or pruned one, and the time since the stage
started; the stage's last line carries its counts. Those lines are written as
they are, never cut or padded to a width.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from edgeops.hookspecs import hookimpl

# Outcomes in the order the counts show them: what was done, what was reused,
# then what went wrong; any other (a plan status, a plugin's own) follows.
OUTCOME_ORDER = (
    "made",
    "scored",
    "measured",
    "kept",
    "supported",
    "cached",
    "failed",
    "pruned",
    "unsupported",
)
# A reason is cut at a space past this many characters, never inside an id: a log
# line is for following a run; results.json keeps every reason whole.
REASON_MAX_CHARS = 240

# How long a report waits for the lock before it writes anyway (see ProgressReporter).
LOCK_WAIT_S = 2.0


def counts_text(counts: dict[str, int], separator: str = " · ") -> str:
    """``made 150 · cached 20 · failed 3``: the non-zero counts, in ``OUTCOME_ORDER``."""
    rank = {name: i for i, name in enumerate(OUTCOME_ORDER)}
    named = sorted(
        (name for name, n in counts.items() if n), key=lambda name: rank.get(name, len(rank))
    )
    return separator.join(f"{name} {counts[name]}" for name in named)


def short_reason(reason: str) -> str:
    """``reason`` on one line, cut at the first space past ``REASON_MAX_CHARS``.

    Only at a space, after the word that crosses the limit: an id
    (``onnx:int8-static``) or a path is never cut, nor dropped.
    """
    text = " ".join(reason.split())
    cut = text.find(" ", REASON_MAX_CHARS)
    return text if cut < 0 else text[:cut] + " …"


def _separator(file: Any) -> str:
    """`` · `` where the stream can encode it (a CI log in Latin-1 cannot)."""
    try:
        " · ".encode(getattr(file, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return ", "
    return " · "


@contextlib.contextmanager
def progress_shown(pm: Any) -> Iterator[ProgressReporter]:
    """A ProgressReporter on stderr, registered on ``pm`` for the block and removed after:
    the progress lines of ``edgeops.ship`` and of every stage command."""
    from edgeops.cli.output import make_console

    with ProgressReporter(make_console(stderr=True)) as reporter:
        pm.register(reporter, name="edgeops.cli.progress")
        try:
            yield reporter
        finally:
            pm.unregister(reporter)


class ProgressReporter:
    def __init__(self, console: Any) -> None:
        self.console = console
        self.live = bool(console.is_terminal)
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.counts: dict[str, collections.Counter[str]] = {}
        # Device threads report rounds at once; counts and lines must not interleave.
        self.lock = threading.Lock()
        # Ctrl-C raised in the main thread just after it took the lock can leave the
        # lock held (a `with` block is not signal-safe, bpo-29988); a device thread
        # that then reports would wait for ever while the run waits for it to end.
        # So a report waits a bounded time and then writes anyway.
        self.separator = " · " if self.live else _separator(console.file)
        if self.live:
            fixed = Column(no_wrap=True)
            # A narrow terminal shortens the bar, then the item's label (its whole id is
            # in results.json and the CI lines); the stage and its counts stay whole.
            self.progress = Progress(
                TextColumn("{task.description}", table_column=Column(no_wrap=True, min_width=8)),
                BarColumn(bar_width=None),
                MofNCompleteColumn(table_column=fixed.copy()),
                TimeElapsedColumn(table_column=fixed.copy()),
                TextColumn("{task.fields[counts]}", markup=False, table_column=fixed.copy()),
                _LabelColumn(),
                console=console,
                transient=False,
            )

    def __enter__(self) -> ProgressReporter:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def stage_counts(self, stage: str) -> str:
        """The stage's counts so far, as the bar and the finished line show them."""
        return counts_text(self.counts.get(stage, collections.Counter()), self.separator)

    def _line(self, stage: str, text: str, reason: str = "") -> None:
        elapsed_s = time.monotonic() - self.started.get(stage, time.monotonic())
        # The reason goes last: it is the longest part, and the one that varies.
        why = f": {short_reason(reason)}" if reason else ""
        self.console.file.write(f"{stage}: {text} ({elapsed_s:.1f} s){why}\n")
        self.console.file.flush()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        taken = self.lock.acquire(timeout=LOCK_WAIT_S)
        try:
            yield
        finally:
            if taken:
                self.lock.release()

    @hookimpl
    def edgeops_stage_started(self, stage: str, total: int) -> None:
        with self._held():
            self.started[stage] = time.monotonic()
            self.totals[stage], self.done[stage] = total, 0
            self.counts[stage] = collections.Counter()
            if self.live:
                self.tasks[stage] = self.progress.add_task(
                    stage, total=total or None, label="", counts=""
                )
            else:
                self._line(stage, f"started, {total} item(s)" if total else "started")

    @hookimpl
    def edgeops_stage_advanced(self, stage: str, label: str, outcome: str, reason: str) -> None:
        # No defaults: pluggy passes a hook implementation no argument that has one.
        with self._held():
            self.done[stage] = self.done.get(stage, 0) + 1
            if outcome:
                self.counts.setdefault(stage, collections.Counter())[outcome] += 1
            if self.live:
                if stage in self.tasks:
                    self.progress.update(
                        self.tasks[stage], advance=1, label=label, counts=self.stage_counts(stage)
                    )
                return
            total = self.totals.get(stage)
            text = f"{self.done[stage]}/{total} " if total else ""
            self._line(stage, text + (f"{outcome} {label}" if outcome else label), reason)

    @hookimpl
    def edgeops_stage_finished(self, stage: str, summary: str) -> None:
        with self._held():
            counted = self.stage_counts(stage)
            if not self.live:
                self._line(stage, f"finished: {summary}" + (f"; {counted}" if counted else ""))
            elif stage in self.tasks:
                task = self.tasks[stage]
                total = self.progress.tasks[task].total
                self.progress.update(
                    task, completed=total, total=total, label=summary, counts=counted
                )


class _ShrinkingText:
    """One line of text that gives way first when the terminal is narrow: its minimum
    width is 1, so the table shrinks it (with an ellipsis) before the columns that
    must stay whole."""

    def __init__(self, text: str) -> None:
        self.text = Text(text, style="dim", no_wrap=True, overflow="ellipsis")

    def __rich_measure__(self, console: Any, options: Any) -> Measurement:
        return Measurement(1, max(1, self.text.cell_len))

    def __rich_console__(self, console: Any, options: Any) -> Any:
        line = self.text.copy()
        line.truncate(options.max_width, overflow="ellipsis")
        yield line


class _LabelColumn(ProgressColumn):
    def render(self, task: Any) -> _ShrinkingText:
        return _ShrinkingText(task.fields.get("label", ""))
