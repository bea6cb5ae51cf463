"""pytest fixtures for edgeops and its plugin authors (loaded through the pytest11 entry point).

- ``edgeops_pm``: a fresh plugin manager with every installed plugin;
- ``register_plugin``: register a plugin object for one test, unregistered after;
- ``local_device``: this machine as a Device;
- ``edgeops_workspace``: an empty ``.edgeops`` in a temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeops.models import Device
from edgeops.pipeline import Workspace
from edgeops.plugin_manager import PluginManager, make_plugin_manager

TEST_DATA_ENV = "EDGEOPS_TEST_DATA"


def test_data_dir() -> Path:
    """The real models and device logs the suite runs on: ``$EDGEOPS_TEST_DATA``, else
    the repository's own ``tests/data`` (committed, with sources and licences)."""
    import os

    default = Path(__file__).resolve().parents[1] / "tests" / "data"
    return Path(os.environ.get(TEST_DATA_ENV, default))


@pytest.fixture
def edgeops_pm() -> PluginManager:
    return make_plugin_manager()


@pytest.fixture
def register_plugin(edgeops_pm: PluginManager) -> Iterator[Callable[..., Any]]:
    registered: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        edgeops_pm.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if edgeops_pm.is_registered(plugin):
            edgeops_pm.unregister(plugin)


@pytest.fixture
def local_device(edgeops_pm: PluginManager) -> Device:
    from edgeops.devices.discovery import discover_devices

    return next(d for d in discover_devices(edgeops_pm) if d.transport == "local")


@pytest.fixture
def edgeops_workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / ".edgeops")
