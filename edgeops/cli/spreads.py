"""``edgeops history``'s second part: each profile's session-to-session spread.

How far each profile's device moved between sessions, on files shipped
unchanged: the σ a gate across sessions assumes (edgeops/gate/sessions.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.gate.sessions import DEFAULT_SESSION_SIGMA, history_runs, spreads_by_profile

if TYPE_CHECKING:
    from rich.table import Table

    from edgeops.pipeline.history import RunRecord


def spread_json(history_path: Path, runs: list[RunRecord]) -> dict[str, Any]:
    """``session_spread`` per profile, and the default a profile without one gets."""
    spreads = spreads_by_profile(history_runs(history_path)) if runs else {}
    return {
        "session_spread": {
            profile: {
                "sigma_pct": 100 * s.sigma,
                "estimate_pct": 100 * (s.estimate or 0.0),
                "sessions": s.sessions,
                "files": s.files,
            }
            for profile, s in sorted(spreads.items())
        },
        "default_session_sigma_pct": 100 * DEFAULT_SESSION_SIGMA,
    }


def spread_output(history_path: Path) -> Table | str:
    """A table of the spreads, or the line saying there are none yet and what the gate assumes."""
    from rich.table import Table

    spreads = spreads_by_profile(history_runs(history_path))
    if not spreads:
        return (
            "session-to-session spread: no profile has a file shipped unchanged in enough "
            f"sessions yet; a gate across sessions assumes σ = {100 * DEFAULT_SESSION_SIGMA:g}%"
        )
    table = Table(
        title="session-to-session spread (unchanged files; the gate across sessions uses σ)",
        title_justify="left",
    )
    for column in ("profile", "σ (95% upper bound)", "estimate", "sessions", "files"):
        table.add_column(column)
    for profile, spread in sorted(spreads.items()):
        table.add_row(
            profile,
            f"{100 * spread.sigma:.1f}%",
            f"{100 * (spread.estimate or 0.0):.1f}%",
            str(spread.sessions),
            str(spread.files),
        )
    return table
