"""The progress reporter: a plugin on the observer hooks, like pytest's terminal reporter.

In a terminal it is a live rich bar. Off a terminal (CI) a bar prints nothing
until it stops, so a two-hour ship would log nothing: there it prints one line
per stage and per finished item, with the time since the stage started.
"""

from __future__ import annotations

import time
from typing import Any

from edgeops.hookspecs import hookimpl


class ProgressReporter:
    def __init__(self, console: Any) -> None:
        self.console = console
        self.live = bool(console.is_terminal)
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description:<9}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("[dim]{task.fields[label]}"),
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

    def _line(self, stage: str, text: str) -> None:
        elapsed_s = time.monotonic() - self.started.get(stage, time.monotonic())
        self.console.file.write(f"{stage}: {text} ({elapsed_s:.1f} s)\n")
        self.console.file.flush()

    @hookimpl
    def edgeops_stage_started(self, stage: str, total: int) -> None:
        self.started[stage] = time.monotonic()
        self.totals[stage], self.done[stage] = total, 0
        if self.live:
            self.tasks[stage] = self.progress.add_task(stage, total=total or None, label="")
        else:
            self._line(stage, f"started, {total} item(s)" if total else "started")

    @hookimpl
    def edgeops_stage_advanced(self, stage: str, label: str) -> None:
        if self.live:
            if stage in self.tasks:
                self.progress.update(self.tasks[stage], advance=1, label=label)
            return
        self.done[stage] = self.done.get(stage, 0) + 1
        total = self.totals.get(stage)
        self._line(stage, f"{self.done[stage]}/{total} {label}" if total else label)

    @hookimpl
    def edgeops_stage_finished(self, stage: str, summary: str) -> None:
        if not self.live:
            self._line(stage, f"finished: {summary}")
        elif stage in self.tasks:
            task = self.tasks[stage]
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total, total=total, label=summary)
