"""The stages of a run (DESIGN §2). Every piece of work is a hook call.

convert → samples → reference → optimize → evaluate → measure → select.
Each stage reads and returns a Results, so a stage can run alone from the
file the stage before wrote. The pipeline caches, counts what it reused and
tells the observer hooks where it is; it knows no backend.

Each stage lives in a module of its own, as a class that adds its methods to
the one before it: state.py (what all share), proposing.py, converting.py,
evaluating.py, optimizing.py, ruling_out.py (prune), measuring.py and
selecting.py. ``Pipeline`` is the last of them.
"""

from __future__ import annotations

from edgeops.pipeline.failures import EVALUATE_TRACEBACK_FILE, TRACEBACK_FILE, one_line
from edgeops.pipeline.proposing import recipe_wanted
from edgeops.pipeline.selecting import Selecting
from edgeops.pipeline.state import build_context
from edgeops.pipeline.workspace import Workspace

__all__ = [
    "EVALUATE_TRACEBACK_FILE",
    "TRACEBACK_FILE",
    "Pipeline",
    "Workspace",
    "build_context",
    "one_line",
    "recipe_wanted",
]


class Pipeline(Selecting):
    """Every stage of a run over one plugin manager and workspace."""
