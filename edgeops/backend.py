"""A backend is one class: ``Backend``, and the ``BuildContext`` every build call gets.

A backend makes and runs one model format. It subclasses ``Backend``, sets the
class attributes and implements the methods; the core routes every call to it by
format (``edgeops.routing``), so no method asks "is this mine?"::

    class OrtBackend(Backend):
        format = "ort"                     # Artifact.format / Recipe.format it owns
        tools = ("onnxruntime",)           # versions hashed into every cache key
        runtime = "onnxruntime"            # `edgeops plugins` says whether it imports

        def convert(self, context, workdir): ...       # the whole model, or None
        def recipes(self): return RecipeBook(...)      # catalogue, families, proposals
        def optimize(self, artifact, recipe, context, workdir): ...  # one variant

Register it like any plugin, through the ``edgeops`` entry-point group, naming
the class (``ort = "edgeops_ort:OrtBackend"``) or a module whose ``BACKEND`` is
the class. A Backend may also carry ordinary ``@hookimpl`` methods (a transport
only its format uses); they register with it under the same plugin name.

Heavy SDKs are imported inside method bodies, never at module level: loading the
plugin must cost nothing (``edgeops --help`` loads every plugin).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from edgeops.models import (
    Artifact,
    ComputeUnit,
    DeviceOutputSettings,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelSpec,
    Quality,
    Recipe,
    ReferenceOutputs,
    SampleSet,
    StepConfig,
    Variant,
)

if TYPE_CHECKING:
    from edgeops.devices.sessions import Session


class BuildContext(BaseModel):
    """What a run knows when it builds: the spec, the samples, the reference outputs
    and the artifacts made so far. Every build call (convert, optimize, evaluate) gets
    it, so nothing is written beside an artifact only to be read back later.

    ``samples`` and ``reference`` are None while converting: the samples are checked
    against the first conversion, and the reference needs the samples.
    """

    model_config = ConfigDict(frozen=True)

    spec: ModelSpec
    samples: SampleSet | None = None
    reference: ReferenceOutputs | None = None
    artifacts: tuple[Artifact, ...] = ()
    device_outputs: DeviceOutputSettings | None = None

    @property
    def device_output_settings(self) -> DeviceOutputSettings:
        """``device_outputs``, or the defaults when the run set none."""
        return self.device_outputs or DeviceOutputSettings()

    def artifact(self, format: str) -> Artifact | None:
        """The conversion into ``format`` made in this run, if it worked."""
        return next(
            (a for a in self.artifacts if a.format == format and a.status == "ok" and a.path),
            None,
        )


# Recipe-level fields a table may set besides the steps' own.
RECIPE_FIELDS = ("deployment_target", "compute_precision")


@dataclass(frozen=True)
class RecipeFamily:
    """A kind of recipe a plugin makes from typed parameters, e.g. ``coreml:palettize``.

    ``steps`` are applied in order (joint compression: prune, then palettize);
    ``fixed`` are recipe fields every member gets unless a table sets them.
    """

    name: str
    format: str
    steps: tuple[type[StepConfig], ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    owner: str = ""

    @property
    def id(self) -> str:
        return f"{self.format}:{self.name}"

    def fields(self) -> dict[str, type[StepConfig] | None]:
        """Every key a table may give: step fields (``field`` or ``op.field``) and recipe fields."""
        keys: dict[str, type[StepConfig] | None] = dict.fromkeys(RECIPE_FIELDS)
        for cls in self.steps:
            for name in cls.model_fields:
                keys[f"{cls.op}.{name}"] = cls
                # A bare name is allowed where only one step of the family has it.
                keys[name] = None if name in keys and keys[name] is not cls else cls
        return keys


@dataclass(frozen=True)
class RecipeBook:
    """Everything a backend can make: the one source of its catalogue, families and proposals.

    - ``recipes``: whole recipes. ``Backend.propose`` proposes all of them by default.
    - ``names``: recipes ``propose`` builds at run time (their parameters depend on the
      profiles, as Core ML's deployment target does), by name.
    - ``families``: kinds of recipe made from typed parameters, for ``[[sweep]]`` tables.

    The catalogue (what a config's ``recipes = [...]`` is checked against) is the ids of
    both; a proposal outside it is refused, so the two can never drift apart.
    """

    recipes: tuple[Recipe, ...] = ()
    names: tuple[str, ...] = ()
    families: tuple[RecipeFamily, ...] = ()

    def catalogue(self, format: str) -> list[str]:
        return [r.id for r in self.recipes] + [f"{format}:{n}" for n in self.names]


@dataclass(frozen=True)
class ProbeRunner:
    """How the measurement probe runs this backend's files on a device.

    ``path`` is a Python file that imports only the standard library at module level
    (its runtime inside ``__init__``) and defines ``class Runner`` with:

    - ``name`` (the runtime, e.g. "onnxruntime") and ``version`` (set in ``__init__``);
    - ``compute_units``: a dict whose keys are the units it drives;
    - ``__init__(self, threads: int | None)``: import the runtime (ImportError: not installed);
    - ``load(self, model: str, compute_unit: str)``; raise NotImplementedError for a unit
      it cannot drive on this device;
    - ``make_feed(self, inputs: dict | None) -> dict``: the inputs (random where None);
    - ``run(self, feed)``: one inference; ``release(self)``: drop the loaded model.

    The probe pushes the file with itself and loads it for model files ending in
    ``suffix``; its arguments and JSON output stay the probe's (``edgeops.devices.probe``).
    """

    path: Path
    suffix: str
    compute_units: tuple[str, ...]


class Backend(ABC):
    """One model format: how to make it, compress it, score it, measure and predict it.

    Class attributes: ``format`` (required), ``tools`` and ``runtime``. Required
    methods: ``convert``, ``recipes``, ``optimize``. The others have defaults that
    do nothing, so a backend implements what its format supports.
    """

    format: ClassVar[str]
    # Distributions whose versions change what this backend makes: part of every cache key
    # (with a hash of the backend's own code).
    tools: ClassVar[tuple[str, ...]] = ()
    # The module this backend needs at run time; `edgeops plugins` says whether it imports.
    runtime: ClassVar[str | None] = None

    # ------------------------------------------------------------------- convert

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        """Formats to convert first, e.g. ``["onnx"]``: they reach ``convert`` in
        ``context.artifacts``, so an export is done once per run."""
        return []

    @abstractmethod
    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        """``context.spec``'s source as one whole model of this format, written in ``workdir``.

        Return None when this backend cannot make its format from that source (another
        backend may); raise ModelError for a source that is corrupt or unsupported.
        """

    def reference(
        self, spec: ModelSpec, samples: SampleSet, workdir: Path
    ) -> ReferenceOutputs | None:
        """The source model's fp32 outputs on every sample, in its own framework, as an
        .npz in ``workdir``; None when the source is not one this backend runs."""
        return None

    # ------------------------------------------------------------------- optimize

    @abstractmethod
    def recipes(self) -> RecipeBook:
        """Every recipe this backend can make (see ``RecipeBook``)."""

    def propose(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        """The recipes worth making from ``artifact`` for ``profiles``; every one of the
        book's whole recipes by default. Called only for this format's artifacts and
        when some profile runs the format."""
        return list(self.recipes().recipes)

    @abstractmethod
    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        """``recipe`` applied to ``artifact``, written in ``workdir``
        (``edgeops.plugin.variant_from`` builds the result). Raise on failure: the
        variant is recorded as failed and the run goes on."""

    def estimate(self, artifact: Artifact, recipe: Recipe, context: BuildContext) -> Quality | None:
        """A quick host estimate of the quality ``recipe`` would give ``artifact``, without
        making its file, or None (the default) when this backend has none. A keep_float
        search ranks layers by it; every variant it keeps or tries is still made and scored."""
        return None

    # ------------------------------------------------------------------- quality

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        """Host quality of ``variant`` against ``context.reference``, through
        ``edgeops.plugin.compare_with_reference(context.spec, ..., keep=outputs_dir)``.
        None: this backend cannot run its format on the host."""
        return None

    def evaluate_on_device(
        self,
        session: Session,
        variant: Variant,
        remote_model: str,
        context: BuildContext,
        compute_unit: str = "cpu",
        outputs_dir: Path | None = None,
    ) -> Quality | None:
        """Quality of the outputs the device itself returned (``Quality.where = "device"``)
        on ``compute_unit`` for the first samples, or None when this backend cannot get them.

        A backend whose device outputs match its reference's layout implements it as
        ``compare_with_reference(context.spec, context.reference, self.probe_outputs(...),
        where="device", keep=outputs_dir)`` (kept for the report's gallery); ``edgeops.devices.device_quality.score_on_device`` calls it and
        fails a variant whose device score misses the floor or falls far below the host's.
        """
        return None

    def probe_outputs(
        self, session: Session, remote_model: str, compute_unit: str, context: BuildContext
    ) -> list[list[Any]]:
        """The probe's ``--outputs`` run on the device, through this backend's probe runner
        when it has one: ``outputs[i][k]`` is output k on sample i (numpy arrays)."""
        from edgeops.devices.device_quality import probe_outputs

        assert context.samples is not None
        runner = self.probe_runner()
        remote_runner = session.push(runner.path) if runner is not None else None
        return probe_outputs(
            session, remote_model, compute_unit, context.samples,
            context.device_outputs or DeviceOutputSettings(), remote_runner,
        )  # fmt: skip

    # ------------------------------------------------------------------- devices

    def unfit(self, variant: Variant, profile: DeviceProfile) -> str | None:
        """Why ``variant`` cannot run on ``profile``'s devices at all (an OS too old), or None."""
        return None

    def measure(
        self, session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
    ) -> Measurement | None:
        """One round of ``variant`` on the session's device by this backend's own route (a
        vendor's benchmark tool), or None to leave it to the probe and the transports.
        Failures on the device are a Measurement with that status, not an exception."""
        return None

    def probe_runner(self) -> ProbeRunner | None:
        """The probe's runner for this format (see ``ProbeRunner``), or None when the
        format is measured another way (a transport's own tool)."""
        return None

    def build_on_device(
        self, session: Session, variant: Variant, remote_model: str, compute_unit: str
    ) -> str:
        """Build on the device before measuring (a TensorRT engine, a QNN context binary);
        return the built file's path on the device. Default: measure the pushed file."""
        return remote_model

    def compute_units(self) -> list[ComputeUnit]:
        """The compute units this format runs on, and the accelerators each requires."""
        return []

    def predict(
        self, profile: DeviceProfile, variant: Variant, compute_unit: str
    ) -> Measurement | None:
        """An estimate (``method="predicted"``) for a profile with no device, or None."""
        return None
