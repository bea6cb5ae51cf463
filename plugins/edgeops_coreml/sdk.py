"""Importing coremltools: quietly, cheaply and only when a hook needs them."""

from __future__ import annotations

import functools
import sys
from typing import Any

from edgeops.plugin import quiet

# Loggers coremltools and torch use for their "untested version" and progress notices.
NOISY_LOGGERS = ("coremltools", "torch", "root")


@functools.cache
def coremltools() -> Any:
    """``import coremltools``, silenced, without importing TensorFlow.

    coremltools imports TensorFlow when it is installed, which doubles its import
    time (8-10 s to ~4 s without, conversion-notes.md). Hiding it for the import
    only keeps TensorFlow importable afterwards for the TFLite backend in the same
    process; coremltools remembers it as absent, which its torch route never needs.
    """
    hide_tf = "tensorflow" not in sys.modules
    if hide_tf:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        with quiet(*NOISY_LOGGERS):
            import coremltools as ct
            import coremltools.optimize.coreml  # noqa: F401
    finally:
        if hide_tf and sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]
    import logging

    # Its "scikit-learn / torch version not tested" notices repeat on every call.
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    return ct
