"""The declared Backend: routed by format, a probe runner of its own, a build step on the
device, and the example backend package installed and shipped end to end."""

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from edgeops.devices import probe
from edgeops.errors import PluginError
from edgeops.models import MeasureSettings
from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ProbeRunner,
    Quality,
    Recipe,
    RecipeBook,
    Variant,
    variant_from,
)
from edgeops.plugin_manager import make_plugin_manager, plugin_infos
from edgeops.routing import routed
from edgeops.testing import file_spec, write_tiny_onnx

from paths import DATA, REPO

# A runner file as a backend ships one: the standard library at module level, its
# runtime (onnxruntime here, reading the twin's files, which hold an ONNX graph) inside.
RUNNER_SOURCE = """
class Runner:
    name = "twin-runtime"
    compute_units = {"cpu": ["CPUExecutionProvider"]}

    def __init__(self, threads):
        import onnxruntime
        self.ort = onnxruntime
        self.version = "twin-" + onnxruntime.__version__

    def load(self, model, compute_unit):
        if compute_unit not in self.compute_units:
            raise NotImplementedError(f"twin runs on cpu only, not {compute_unit}")
        self.session = self.ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    def make_feed(self, inputs):
        import numpy
        meta = self.session.get_inputs()[0]
        return {meta.name: numpy.zeros(meta.shape, dtype="float32")}

    def run(self, feed):
        self.session.run(None, feed)

    def release(self):
        del self.session
"""

PLAIN = Recipe(name="plain", format="twin")


class Twin(Backend):
    """A format whose files are copies of the run's ONNX graph, with the suffix .twin."""

    format = "twin"
    runner_path: Path | None = None

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        onnx = context.artifact("onnx")
        if onnx is None or onnx.path is None:
            return None
        out = workdir / "model.twin"
        shutil.copyfile(onnx.path, out)
        return onnx.model_copy(update={"format": "twin", "path": out})

    def recipes(self) -> RecipeBook:
        return RecipeBook(recipes=(PLAIN,))

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None
        out = workdir / "plain.twin"
        shutil.copyfile(artifact.path, out)
        return variant_from(artifact, recipe, out)

    def probe_runner(self) -> ProbeRunner | None:
        if self.runner_path is None:
            return None
        return ProbeRunner(path=self.runner_path, suffix=".twin", compute_units=("cpu",))


def _host_with(formats: tuple[str, ...]):
    from edgeops.devices.profiles import load_profiles

    return load_profiles()["host"].model_copy(update={"formats": formats})


def test_a_backend_is_asked_only_about_its_own_format(tmp_path):
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(Twin), name="twin")
    onnx_path = write_tiny_onnx(tmp_path / "tiny.onnx")
    onnx = Artifact(format="onnx", path=onnx_path)
    spec = file_spec(onnx_path)

    # convert: only for its target, from the context's artifacts.
    assert pm.hook.edgeops_conversion_inputs(spec=spec, target="onnx") == [[]]
    args = {"spec": spec, "artifacts": [onnx], "workdir": tmp_path}
    assert pm.hook.edgeops_convert(target="onnx", context=BuildContext(spec=spec), **args) is None
    context = BuildContext(spec=spec, artifacts=(onnx,))
    made = pm.hook.edgeops_convert(target="twin", context=context, **args)
    assert made.format == "twin" and made.path.read_bytes() == onnx_path.read_bytes()

    # recipes: for its artifacts, and only when some profile runs its format.
    assert pm.hook.edgeops_recipes(artifact=onnx, profiles=[_host_with(("twin",))]) == [[]]
    assert pm.hook.edgeops_recipes(artifact=made, profiles=[_host_with(("onnx",))]) == [[]]
    assert pm.hook.edgeops_recipes(artifact=made, profiles=[_host_with(("twin",))]) == [[PLAIN]]
    assert pm.hook.edgeops_recipe_catalog() == [["twin:plain"]]

    # optimize: another format's recipe is not its own.
    other = Recipe(name="plain", format="onnx")
    hook_args = {"workdir": tmp_path, "samples": None, "context": context}
    assert pm.hook.edgeops_optimize(artifact=onnx, recipe=other, **hook_args) is None
    variant = pm.hook.edgeops_optimize(artifact=made, recipe=PLAIN, **hook_args)
    assert variant.recipe == PLAIN and variant.path.name == "plain.twin"


def test_an_estimate_is_asked_of_its_own_format_only(tmp_path):
    class Estimating(Twin):
        def estimate(self, artifact, recipe, context):
            return Quality(metrics={"snr_db": 40.0}, higher_is_better={"snr_db": True},
                           where="host-estimate", sample_count=1)  # fmt: skip

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(Estimating), name="estimating")
    pm.register(routed(Twin), name="twin-only")
    onnx_path = write_tiny_onnx(tmp_path / "tiny.onnx")
    context = BuildContext(spec=file_spec(onnx_path))
    twin = Artifact(format="twin", path=onnx_path)
    quality = pm.hook.edgeops_estimate(artifact=twin, recipe=PLAIN, context=context)
    assert quality.metrics == {"snr_db": 40.0} and quality.where == "host-estimate"
    other = Recipe(name="plain", format="onnx")
    assert pm.hook.edgeops_estimate(artifact=twin, recipe=other, context=context) is None
    # A backend that does not override it answers nothing (the search then makes variants).
    infos = {i.name: i for i in plugin_infos(pm)}
    assert "edgeops_estimate" in infos["estimating"].hooks
    assert "edgeops_estimate" not in infos["twin-only"].hooks


def test_a_proposal_missing_from_the_recipe_book_is_refused(tmp_path):
    class Drifting(Twin):
        def propose(self, artifact, profiles):
            return [Recipe(name="secret", format="twin")]

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(Drifting), name="drifting")
    artifact = Artifact(format="twin", path=tmp_path)
    with pytest.raises(PluginError, match="proposes twin:secret, which its recipes"):
        pm.hook.edgeops_recipes(artifact=artifact, profiles=[_host_with(("twin",))])


def test_an_unfinished_backend_is_refused_naming_what_is_missing():
    class NoOptimize(Backend):
        format = "half"

        def convert(self, context, workdir):
            return None

        def recipes(self):
            return RecipeBook()

    with pytest.raises(PluginError, match="does not implement optimize"):
        routed(NoOptimize)

    class NoFormat(Twin):
        format = None  # type: ignore[assignment]

    with pytest.raises(PluginError, match="sets no `format`"):
        routed(NoFormat)


def test_a_hook_answered_twice_is_refused():
    from edgeops.hookspecs import hookimpl

    class Twice(Twin):
        @hookimpl
        def edgeops_convert(self, spec):
            return None

    with pytest.raises(PluginError, match="answers edgeops_convert twice"):
        routed(Twice)


def test_plugins_lists_only_the_hooks_a_backend_implements():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(Twin), name="twin")
    info = next(i for i in plugin_infos(pm) if i.name == "twin")
    assert "edgeops_convert" in info.hooks and "edgeops_optimize" in info.hooks
    # Not overridden: no hook, so nothing answers None on its behalf.
    assert "edgeops_predict" not in info.hooks and "edgeops_evaluate" not in info.hooks
    assert "edgeops_measure" not in info.hooks  # no probe runner


@pytest.fixture
def twin_variant(tmp_path) -> Variant:
    path = write_tiny_onnx(tmp_path / "plain.twin")
    return Variant(id="twin-plain", format="twin", path=path, recipe=PLAIN)


def _measure(pm, local_device, variant):
    from edgeops_local import LocalSession

    settings = MeasureSettings(warmup_runs=0, min_runs=3, min_duration_s=0, paced_fps=())
    return pm.hook.edgeops_measure(
        session=LocalSession(local_device), variant=variant, compute_unit="cpu", settings=settings
    )


def test_the_probe_measures_a_format_with_the_backends_runner_after_its_build_step(
    tmp_path, local_device, twin_variant
):
    runner = tmp_path / "twin_runner.py"
    runner.write_text(RUNNER_SOURCE)
    built = tmp_path / "built" / "engine.twin"

    class Building(Twin):
        runner_path = runner

        def build_on_device(self, session, variant, remote_model, compute_unit):
            # A real command on the device, through the session, as a TensorRT build is.
            script = "import shutil, sys, os; os.makedirs(os.path.dirname(sys.argv[2]));"
            script += " shutil.copyfile(sys.argv[1], sys.argv[2])"
            done = session.run([*session.python, "-c", script, remote_model, str(built)], 60)
            assert done.exit_code == 0, done.stderr
            return str(built)

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(Building), name="twin")
    measured = _measure(pm, local_device, twin_variant)
    assert measured.status == "ok", measured.error
    assert measured.environment["runtime"] == "twin-runtime"
    assert built.is_file() and len(measured.samples_ms) >= 3

    # The probe ran what the build step returned: a path that was never built fails to load.
    class BuildingNothing(Building):
        def build_on_device(self, session, variant, remote_model, compute_unit):
            return str(tmp_path / "never-built.twin")

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(routed(BuildingNothing), name="twin")
    assert _measure(pm, local_device, twin_variant).status == "load_failed"


def test_a_runner_file_that_does_not_load_is_an_error_in_one_line(tmp_path):
    bad = tmp_path / "runner.py"
    bad.write_text("import not_a_module_anywhere\n")
    model = write_tiny_onnx(tmp_path / "m.twin")
    result = probe.measure(probe.parse_args(["--model", str(model), "--runner", str(bad)]))
    assert result["status"] == "error"
    assert "did not load: ModuleNotFoundError" in result["error"]
    # A unit the runner does not drive is unsupported, as with the probe's own runners.
    good = tmp_path / "good.py"
    good.write_text(RUNNER_SOURCE)
    argv = ["--model", str(model), "--runner", str(good), "--compute-unit", "gpu"]
    assert probe.measure(probe.parse_args(argv))["status"] == "unsupported"


@pytest.mark.slow
def test_the_example_backend_is_installed_and_ships_end_to_end(tmp_path):
    """examples/edgeops-backend-example: its own distribution, no core change."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    example = REPO / "examples" / "edgeops-backend-example"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    install += ["--no-deps", "--no-build-isolation", "--no-index", str(example)]
    # This checkout's edgeops too: the base Python's may be another one (a worktree's
    # venv runs this test), and the example must ship with the core as it is here.
    install += ["--editable", str(REPO)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    plugins = subprocess.run(
        [python, "-m", "edgeops", "plugins", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    rows = {r["name"]: r for r in json.loads(plugins.stdout)["plugins"]}
    assert rows["ort"]["distribution"] == "edgeops-backend-example"
    assert "edgeops_profile_dirs" in rows["ort"]["hooks"]  # its @hookimpl method

    (tmp_path / "devices.toml").write_text(
        '[[device]]\nname = "here-ort"\ntransport = "local"\nprofile = "ort-host"\n'
    )
    ship = subprocess.run(
        [
            python,
            "-m",
            "edgeops",
            "ship",
            str(DATA / "models/onnx/ultraface__version-slim-320.onnx"),
            "-p",
            "ort-host",
            "--devices",
            "devices.toml",
            "--rounds",
            "1",
            "--min-runs",
            "5",
            "--min-duration-s",
            "0",
            "--json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**os.environ, "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,coreai,executorch"},
    )
    assert ship.returncode == 0, ship.stderr[-2000:]
    summary = json.loads(ship.stdout)
    variants = {v["recipe"]["name"]: v for v in summary["variants"] if v["format"] == "ort"}
    assert set(variants) == {"fp32", "extended"}
    for variant in variants.values():
        assert variant["status"] == "ok" and variant["recipe"]["owner"] == "ort"
        assert variant["path"].endswith(".ort")
        assert variant["quality"]["metrics"]["snr_db"] > 60
    measured = [m for m in summary["measurements"] if m["status"] == "ok"]
    assert measured and all(m["device_id"] == "here-ort" for m in measured)
    # Measured by the backend's runner: the core probe has none for .ort files.
    assert all(m["environment"]["runtime"] == "onnxruntime" for m in measured)
    assert ".ort" not in {s for s in probe.RUNNERS}
