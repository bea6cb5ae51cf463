"""What a run keeps of a failure: one line for the tables, the full traceback in a file."""

from __future__ import annotations

from edgeops.errors import EdgeopsError

TRACEBACK_FILE = "traceback.txt"
EVALUATE_TRACEBACK_FILE = "evaluate-traceback.txt"


def one_line(exc: BaseException) -> str:
    missing = _missing_module(exc)
    if missing is not None:
        from edgeops.extras import missing_module_message

        return missing_module_message(missing)
    text = " ".join(str(exc).split())
    if isinstance(exc, EdgeopsError):
        return text
    return f"{type(exc).__name__}: {text}"[:400]


def _missing_module(exc: BaseException | None) -> ModuleNotFoundError | None:
    """The ModuleNotFoundError behind ``exc`` (a plugin may wrap it in a StageError)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ModuleNotFoundError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class _NoPlugin(Exception):
    """No plugin answered a firstresult hook: not an error, nothing to cache."""
