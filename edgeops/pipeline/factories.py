"""Python factories named ``file.py:function``: a model source, or a samples source."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeops.errors import EdgeopsError
from edgeops.files import read_regular

# A factory's folder is code, not data: a .py past this is not source to hash.
MAX_FACTORY_FILE_BYTES = 16 * 1024 * 1024


def is_factory(source: str) -> bool:
    head, sep, tail = source.rpartition(":")
    return bool(sep) and head.endswith(".py") and tail.isidentifier()


def factory_code_sha256(source: str) -> str:
    """A factory's identity is its code: every .py beside it (it may import its neighbours).

    Weights it trains and caches itself are derived from that code, so they are left out.
    """
    import hashlib

    digest = hashlib.sha256()
    for py in sorted(Path(source.rsplit(":", 1)[0]).parent.glob("*.py")):
        digest.update(py.name.encode())
        digest.update(read_regular(py, "factory source", MAX_FACTORY_FILE_BYTES))
    return digest.hexdigest()


def import_factory(source: str, error: type[EdgeopsError], setting: str) -> Callable[..., Any]:
    """The function ``source`` names; failures raise ``error`` naming the ``setting`` to fix."""
    file, function = source.rsplit(":", 1)
    module_name = f"_edgeops_factory_{Path(file).stem}_{abs(hash(file))}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    if module_spec is None or module_spec.loader is None:
        raise error(f"cannot import {file}; is it a Python file? Fix `{setting}` in edgeops.toml")
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs so dataclasses and pickling inside it can find it.
    sys.modules[module_name] = module
    # Python puts a script's folder first on the path, so `import helper` finds the
    # helper.py beside it; a factory file gets the same (kept: the factory may import
    # lazily when it is called).
    folder = str(Path(file).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except RecursionError as exc:
        raise error(
            f"importing {file} recursed without end (RecursionError); fix the recursion in it"
        ) from exc
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        raise error(
            f"importing {file} failed ({type(exc).__name__}: {text}); fix the file"
        ) from exc
    factory = getattr(module, function, None)
    if not callable(factory):
        raise error(f"{file} has no function {function!r}; fix `{setting}` in edgeops.toml")
    return _guarded(factory, source, error)


def _guarded(
    factory: Callable[..., Any], source: str, error: type[EdgeopsError]
) -> Callable[..., Any]:
    """The factory, with a recursion that never ends turned into one line naming it."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except RecursionError as exc:
            raise error(
                f"{source} recursed without end (RecursionError); fix the recursion in it"
            ) from exc

    call.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    return call
