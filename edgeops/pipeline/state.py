"""The state every stage of a run shares, and the context every build call gets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pluggy

from edgeops.backend import BuildContext
from edgeops.devices.leases import LeaseBook
from edgeops.files import sha256_tree, size_bytes, write_text
from edgeops.models import (
    Artifact,
    CacheStats,
    ComputeUnit,
    DeviceOutputSettings,
    Results,
    VariantOutputs,
)
from edgeops.options.declare import default_of
from edgeops.options.work import WorkOptions
from edgeops.pipeline.factories import factory_code_sha256, is_factory
from edgeops.pipeline.workspace import Workspace
from edgeops.plugin_manager import (
    declared_compute_units,
    tool_versions,
)
from edgeops.report.outputs import DEFAULT_KEEP, DEFAULT_WORST_K


class PipelineState:
    """What every stage shares: the plugins, the workspace and its cache, the counts and
    tracebacks of this run. Each stage's class (converting.py to selecting.py) adds its
    methods to the one before it; ``Pipeline`` is the last."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        workspace: Workspace,
        leases: LeaseBook | None = None,
        jobs: int | None = 1,
        task_timeout_s: float = default_of(WorkOptions, "task_timeout_s"),
        worker_memory_mb: float | None = None,
        halving: bool = False,
    ) -> None:
        """``jobs``: worker processes making and scoring variants (None: every core;
        1: in this process, where inline test plugins are seen)."""
        self.pm = pm
        self.hook = pm.hook
        self.workspace = workspace
        self.jobs = jobs
        self.task_timeout_s = task_timeout_s
        self.worker_memory_mb = worker_memory_mb
        self.halving = halving
        self.cache = workspace.cache
        self.tools = tool_versions(pm)
        # Full tracebacks of what failed in this run, by a label such as "optimize-onnx-fp16":
        # a one-line error is enough to read a table, not to fix a plugin.
        self.tracebacks: dict[str, str] = {}
        self.stats: dict[str, int] = dict.fromkeys(CacheStats.model_fields, 0)
        self.leases = leases or LeaseBook()
        # Outputs kept per variant for the report's gallery (0 keeps none), and how
        # many worst samples per variant it shows.
        self.keep_outputs = DEFAULT_KEEP
        self.worst_k = DEFAULT_WORST_K
        self.outputs: dict[str, VariantOutputs] = {}
        # How measured variants' outputs on their devices are scored (None: the defaults).
        self.device_outputs: DeviceOutputSettings | None = None
        self._loaded_labels: dict[tuple[str, int], list[Any]] = {}

    def _advanced(self, stage: str, label: str, outcome: str, reason: str = "") -> None:
        """Tell observers one item of ``stage`` ended, and how (``edgeops_stage_advanced``)."""
        self.hook.edgeops_stage_advanced(stage=stage, label=label, outcome=outcome, reason=reason)

    def _finish(self, made: Artifact, key: str, started: float) -> Artifact:
        assert made.path is not None
        return made.model_copy(
            update={
                "id": key,
                "sha256": sha256_tree(made.path),
                "size_bytes": size_bytes(made.path),
                "tools": self.tools,
                "duration_s": round(time.perf_counter() - started, 3),
            }
        )

    def save_tracebacks(self, run_id: str) -> Path | None:
        """Write this run's full tracebacks to ``runs/<run_id>/tracebacks/<label>.txt``."""
        if not self.tracebacks:
            return None
        from edgeops.pipeline.names import safe_name

        folder = self.workspace.journal(run_id).folder / "tracebacks"
        for label, text in self.tracebacks.items():
            write_text(folder / f"{safe_name(label)}.txt", text)
        return folder

    def compute_units(self) -> dict[str, ComputeUnit]:
        return declared_compute_units(self.pm)

    def cache_stats(self) -> CacheStats:
        return CacheStats(**self.stats)


def build_context(results: Results) -> BuildContext:
    """What every build call of a run gets: its spec, samples, reference and conversions."""
    return BuildContext(
        spec=results.spec,
        samples=results.samples,
        reference=results.reference,
        artifacts=tuple(a for a in results.artifacts if a.status == "ok"),
    )


def origin_hash(origin: str) -> str:
    """What the samples' content depends on, cheaply: the factory's code or the files."""
    if is_factory(origin):
        return factory_code_sha256(origin)
    path = Path(origin)
    return sha256_tree(path) if path.exists() else origin
