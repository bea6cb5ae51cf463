"""Output that reads well in a terminal and in a CI log alike.

In a terminal, rich tables and a live progress bar. Anywhere else (a pipe, a
file, a CI runner) rich would wrap tables at 80 columns and break words
("varian t"), cut ids a user must type, and pad every line to ``$COLUMNS``; a
live bar prints nothing until it stops. So off a terminal tables are plain
text at their full width, with no id cut and no trailing spaces, text is never
wrapped, and progress is one line per stage and per finished item.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


class CliConsole(Console):
    """A rich Console that prints tables as plain text when it is not a terminal."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal:
            super().print(*objects, **kwargs)
            return
        for obj in objects:
            if isinstance(obj, Table):
                self.file.write(plain_table(obj) + "\n")
            else:
                kwargs.setdefault("soft_wrap", True)
                super().print(obj, **kwargs)


def make_console(stderr: bool = False) -> CliConsole:
    return CliConsole(stderr=stderr)


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return str(cell)


def plain_table(table: Table) -> str:
    """``table`` as aligned plain text, every cell whole, lines right-stripped."""
    header = [_plain(c.header) for c in table.columns]
    columns = [[_plain(cell) for cell in c._cells] for c in table.columns]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    right = [c.justify == "right" for c in table.columns]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = []
    if table.title:
        lines.append(_plain(table.title))
    if table.show_header:
        lines += [line(header), line(["-" * w for w in widths])]
    lines += [line(r) for r in rows]
    if table.caption:
        lines.append(_plain(table.caption))
    return "\n".join(lines) + "\n"
