"""The plugin manager factory.

Built-in backends and third-party plugins load the same way: through the
``edgeops`` entry-point group. ``EDGEOPS_DISABLE_PLUGINS=onnx,local`` skips
named ones. Each call makes a fresh manager, so tests never share state.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from edgeops import hookspecs
from edgeops.errors import PluginError
from edgeops.extras import importable, install_hint
from edgeops.models import ComputeUnit

ENTRY_POINT_GROUP = "edgeops"
DISABLE_ENV = "EDGEOPS_DISABLE_PLUGINS"
# Modules to register besides the entry points, comma-separated (as pytest's -p):
# a plugin under development, before it is packaged, reaches worker processes too.
PLUGINS_ENV = "EDGEOPS_PLUGINS"
# When set, every hook call appends its name to this file: how the test suite
# proves each hook is exercised, across the subprocesses it starts too.
HOOK_LOG_ENV = "EDGEOPS_HOOK_LOG"
# Core plugins: always registered, not entry points, so a broken environment
# still selects and reports.
CORE_PLUGINS = (
    "edgeops.selection",
    # The run's own steps (the run protocol, edgeops.pipeline.run): the core's defaults.
    "edgeops.pipeline.pruning",
    "edgeops.pipeline.bundle",
    "edgeops.pipeline.history",
    "edgeops.devices.probe_measure",
    "edgeops.devices.inventory",
    "edgeops.devices.scheduling",
)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool
    # A backend's run-time module (EDGEOPS_RUNTIME), whether it imports, and how to install it.
    runtime: str | None = None
    runtime_importable: bool | None = None
    install_hint: str | None = None


def disabled_plugin_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.distributions: dict[str, tuple[str, str | None]] = {}


def make_plugin_manager(load_entry_points: bool = True) -> PluginManager:
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in CORE_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        _load_entry_points(pm)
        _load_named_modules(pm)
    if os.environ.get(HOOK_LOG_ENV):
        _log_hook_calls(pm, os.environ[HOOK_LOG_ENV])
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc}; fix the hook name or signature in that plugin") from exc
    return pm


def _log_hook_calls(pm: PluginManager, log_path: str) -> None:
    def before(hook_name: str, hook_impls: object, kwargs: object) -> None:
        with open(log_path, "a") as log:
            log.write(f"{hook_name}\n")

    def after(outcome: object, hook_name: str, hook_impls: object, kwargs: object) -> None:
        pass

    pm.add_hookcall_monitoring(before, after)


def _load_entry_points(pm: PluginManager) -> None:
    disabled = disabled_plugin_names()
    seen: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in disabled:
            continue
        dist = ep.dist.name if ep.dist else "?"
        if ep.name in seen:
            if seen[ep.name] == dist:
                continue  # one distribution seen twice on sys.path
            raise PluginError(
                f"plugin name {ep.name!r} is registered by both {seen[ep.name]} and {dist}; "
                f"uninstall one or disable it with {DISABLE_ENV}={ep.name}"
            )
        seen[ep.name] = dist
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} from {dist} failed to import ({exc}); "
                f"reinstall it or disable it with {DISABLE_ENV}={ep.name}"
            ) from exc
        try:
            pm.register(_routed(plugin, ep.name), name=ep.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {ep.name!r} from {dist} implements a hook wrongly ({exc}); "
                f"update it or disable it with {DISABLE_ENV}={ep.name}"
            ) from exc
        except ValueError as exc:
            raise PluginError(f"plugin {ep.name!r} from {dist}: {exc}") from exc
        pm.distributions[ep.name] = (dist, ep.dist.version if ep.dist else None)


def _load_named_modules(pm: PluginManager) -> None:
    for module_name in (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",")):
        if not module_name or module_name in disabled_plugin_names():
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(
                f"{PLUGINS_ENV} names {module_name!r}, which failed to import ({exc}); "
                "fix it or remove it from the variable"
            ) from exc
        try:
            pm.register(_routed(module, module_name), name=module_name)
        except ValueError as exc:
            raise PluginError(f"plugin {module_name!r} from {PLUGINS_ENV}: {exc}") from exc


def _routed(plugin: object, name: str) -> object:
    """A plugin as registered: a Backend becomes hook implementations routed by its format."""
    from edgeops.routing import routed

    try:
        return routed(plugin)
    except PluginError as exc:
        raise PluginError(
            f"plugin {name!r}: {exc}; fix it or disable it with {DISABLE_ENV}={name}"
        ) from exc


def plugin_infos(pm: PluginManager) -> list[PluginInfo]:
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        dist, version = pm.distributions.get(name, (None, None))
        if name in CORE_PLUGINS:
            dist, version = "edgeops", _version("edgeops")
        runtime = getattr(plugin, "EDGEOPS_RUNTIME", None)
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist,
                version=version,
                hooks=hooks,
                builtin=dist == "edgeops",
                runtime=runtime,
                runtime_importable=importable(runtime) if runtime else None,
                install_hint=install_hint(runtime) if runtime and not importable(runtime) else None,
            )
        )
    return infos


def hook_of(pm: pluggy.PluginManager, hook_name: str, plugin_name: str) -> Any:
    """``hook_name`` as answered by one plugin alone: how a recipe reaches only its owner.

    It goes through pluggy (a subset caller), so monitoring and argument selection hold.
    """
    others = [p for n, p in pm.list_name_plugin() if n != plugin_name and p is not None]
    return pm.subset_hook_caller(hook_name, remove_plugins=others)


def answers_by_plugin(
    pm: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> list[tuple[str, Any]]:
    """A collect hook called plugin by plugin, so each answer is known by its plugin's name."""
    caller = getattr(pm.hook, hook_name)
    names = {impl.plugin_name for impl in caller.get_hookimpls()}
    out = []
    for name, plugin in pm.list_name_plugin():
        if name in names and plugin is not None:
            for answer in hook_of(pm, hook_name, name)(**kwargs):
                out.append((name, answer))
    return out


def declared_compute_units(pm: pluggy.PluginManager) -> dict[str, ComputeUnit]:
    """Every backend's compute units (``edgeops_compute_units``); one name declared two
    ways is refused, since a fallback's requirements would depend on load order."""
    units: dict[str, ComputeUnit] = {}
    for owner, declared in answers_by_plugin(pm, "edgeops_compute_units"):
        for unit in declared:
            if unit.name in units and units[unit.name] != unit:
                raise PluginError(
                    f"compute unit {unit.name!r} is declared twice, differently "
                    f"(last by plugin {owner!r}); rename one"
                )
            units[unit.name] = unit
    return units


def tool_versions(pm: pluggy.PluginManager) -> dict[str, str]:
    """Versions of every tool a registered plugin declares in ``EDGEOPS_TOOLS``, and of its code.

    They are part of every cache key, so upgrading onnxruntime, or changing a
    plugin's code without a release, re-makes variants. Every plugin's code is
    hashed, declared tools or not: an edited plugin must never serve a stale variant.
    """
    versions = {"edgeops": _version("edgeops") or "0"}
    for name, plugin in pm.list_name_plugin():
        if plugin is None or name in CORE_PLUGINS or _only_observes(pm, plugin):
            continue
        for dist in getattr(plugin, "EDGEOPS_TOOLS", ()):
            versions[dist] = _version(dist) or "absent"
        versions[f"plugin:{name}"] = _code_sha256(plugin)
    return dict(sorted(versions.items()))


# Hooks that only watch a run: a plugin implementing no other makes nothing, so its
# code is no part of a cache key. Else the progress reporter, registered by the CLI
# but not in worker processes, gave every variant two keys, and editing it re-made all.
OBSERVER_HOOKS = frozenset(
    {
        "edgeops_stage_started",
        "edgeops_stage_advanced",
        "edgeops_stage_finished",
        "edgeops_measured",
    }
)


def _only_observes(pm: pluggy.PluginManager, plugin: object) -> bool:
    hooks = {h.name for h in pm.get_hookcallers(plugin) or ()}
    return bool(hooks) and hooks <= OBSERVER_HOOKS


def _code_sha256(plugin: object) -> str:
    """Hash of a plugin's own .py files (its package folder, or its module file)."""
    import hashlib
    import inspect
    from pathlib import Path

    file = getattr(plugin, "__file__", None)
    if file is None:
        # A plugin object registered in code (a class instance): hash the files its
        # methods are defined in (its module may not be importable by name).
        codes = [getattr(value, "__code__", None) for value in vars(type(plugin)).values()]
        sources = sorted({c.co_filename for c in codes if c is not None})
        if not sources:
            try:
                sources = [inspect.getfile(type(plugin))]
            except (TypeError, OSError):
                return "?"
        file = sources[0]
    path = Path(file)
    # A package's every module, subfolders too: an edit anywhere in it changes its variants.
    if path.name == "__init__.py":
        root = path.parent
        files = sorted(f for f in root.rglob("*.py") if "tests" not in f.relative_to(root).parts)
    else:
        files = [path]
    digest = hashlib.sha256()
    for py in files:
        digest.update(py.read_bytes())
    return digest.hexdigest()[:16]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
