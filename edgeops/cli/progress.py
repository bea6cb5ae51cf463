"""The rich progress reporter: a plugin on the observer hooks, like pytest's terminal reporter."""

from __future__ import annotations

from typing import Any

from edgeops.hookspecs import hookimpl


class ProgressReporter:
    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[label]}"),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @hookimpl
    def edgeops_stage_started(self, stage: str, total: int) -> None:
        self.tasks[stage] = self.progress.add_task(stage, total=total or None, label="")

    @hookimpl
    def edgeops_stage_advanced(self, stage: str, label: str) -> None:
        if stage in self.tasks:
            self.progress.update(self.tasks[stage], advance=1, label=label)

    @hookimpl
    def edgeops_stage_finished(self, stage: str, summary: str) -> None:
        if stage in self.tasks:
            task = self.tasks[stage]
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total, total=total, label=summary)
