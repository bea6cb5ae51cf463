"""Sources → one fp32 .tflite, checked against the source before it counts.

Routes:

- ``.tflite``: validated with the light interpreter and copied;
- Keras ``.keras``: exported to a SavedModel, then TFLiteConverter;
- SavedModel folder: copied, then TFLiteConverter;
- ``.onnx``: onnx2tf (in its own process) to a SavedModel, then TFLiteConverter;
- PyTorch factory: litert-torch (litert_torch_route.py), no ONNX; where it is
  not installed or fails on the model, the ONNX plugin's export, then the ONNX
  route. The artifact's ``conversion_route`` says which, and why not the first.
  Measured on the example segmenter here (torch 2.13.0, 2 cores), litert-torch
  0.10.0 converts it in 13-16 s against the ONNX route's 26 s, both exact.

Every route but the first and litert-torch's keeps its SavedModel in
``saved_model/`` beside ``model.tflite``: the quantization recipes convert from
it again (litert-torch's are quantized by ai-edge-quantizer). Every
converted model runs on two random inputs next to its source; outputs that
disagree (SNR below 40 dB) make the conversion an error that names the SNR,
because onnx2tf once produced a wrong model without any error
(conversion-notes.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import (
    QUIET_ENV,
    Artifact,
    InputSpec,
    ModelError,
    ModelSpec,
    copy_file,
    quiet,
    snr_db,
)

from . import litert_torch_route
from .layout import IoLayout, TensorMap, channels_last, identity, inverse, sidecar
from .recipes import FORMAT, MISCONVERSION_SNR_DB, SAVED_MODEL_DIR, Quantize, convert_saved_model
from .running import TfliteModel, natural_key

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "model.tflite"
CHECK_SEED = 7
CHECK_SAMPLES = 2
ONNX2TF_TIMEOUT_S = 1800.0
# onnx2tf validates its output on this file and downloads it when it is absent
# from the working directory, which fails offline (conversion-notes.md).
ONNX2TF_CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
ONNX2TF_CALIBRATION_SHAPE = (20, 128, 128, 3)

RunSource = Callable[[dict[str, "np.ndarray"]], list["np.ndarray"]]


def needs_onnx(spec: ModelSpec) -> bool:
    """PyTorch and ONNX sources reach TFLite through the ONNX artifact (onnx2tf)."""
    return spec.is_factory or spec.source_path.suffix == ".onnx"


def convert(spec: ModelSpec, workdir: Path, artifacts: list[Artifact]) -> Artifact | None:
    """The fp32 TFLite artifact of ``spec``'s source in ``workdir``, or None for a foreign source."""
    source = spec.source_path
    first_route = None
    if spec.is_factory:
        first_route = litert_torch_route.unavailable()
        if first_route is None:
            try:
                return from_litert_torch(spec, workdir)
            except ModelError as exc:
                first_route = str(exc)
    if needs_onnx(spec):
        onnx_artifact = next((a for a in artifacts if a.format == "onnx" and a.path), None)
        failed = next((a for a in artifacts if a.format == "onnx" and a.status != "ok"), None)
        if onnx_artifact is None and failed is not None:
            # The backend is there; its conversion is what failed (e.g. at a resized shape).
            raise ModelError(
                f"{source.name} reaches TFLite through ONNX, and the ONNX conversion failed: "
                f"{failed.error or 'no detail'}{_after(first_route)}"
            )
        if onnx_artifact is None:
            raise ModelError(
                f"{source.name} reaches TFLite through ONNX: install the ONNX backend "
                f"(pip install 'edgeops[onnx]') or enable its plugin{_after(first_route)}"
            )
        route = f"onnx2tf ({first_route})" if first_route else "onnx2tf"
        return from_onnx(onnx_artifact, spec, workdir).model_copy(
            update={"conversion_route": route}
        )
    if source.suffix == ".tflite":
        return from_tflite(source, workdir)
    if source.suffix == ".keras":
        return from_keras(source, workdir)
    if source.is_dir() and (source / "saved_model.pb").is_file():
        return from_saved_model(source, workdir)
    return None


# --------------------------------------------------------------------------- .tflite


def check_flatbuffer(path: Path) -> None:
    # The source was checked to be a regular file when the config was read (files.py).
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != b"TFL3":
        raise ModelError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier); export it again")


def from_tflite(source: Path, workdir: Path) -> Artifact:
    check_flatbuffer(source)
    model = TfliteModel(source)  # raises ModelError, naming the fix, for a model that cannot load
    out = workdir / MODEL_FILE
    copy_file(source, out)
    return Artifact(
        format=FORMAT, path=out, inputs=model.input_specs(), output_names=model.output_names
    )


# --------------------------------------------------------------------------- Keras and SavedModel


def from_keras(source: Path, workdir: Path) -> Artifact:
    keras_model = load_keras(source)
    with quiet("tensorflow", "absl") as log:
        try:
            keras_model.export(
                str(workdir / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False
            )
        except Exception as exc:
            raise ModelError(
                f"exporting {source.name} to a SavedModel failed ({_short(exc)}) {log.tail(1)}"
            ) from exc
    inputs = keras_inputs(keras_model)
    output_names = tuple(getattr(keras_model, "output_names", None) or ())

    def run_source(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return run_keras(keras_model, inputs, feed)

    return _finish(workdir, inputs, output_names, run_source, "Keras")


def load_keras(source: Path) -> Any:
    with quiet("tensorflow", "absl", "keras"):
        import keras

        try:
            return keras.saving.load_model(str(source), compile=False)
        except Exception as exc:
            raise ModelError(
                f"{source} is not a loadable Keras model ({_short(exc)}); save it again"
            ) from exc


def keras_inputs(keras_model: Any) -> tuple[InputSpec, ...]:
    return tuple(_input_spec(t.name, tuple(t.shape), str(t.dtype)) for t in keras_model.inputs)


def run_keras(
    keras_model: Any, inputs: Sequence[InputSpec], feed: dict[str, np.ndarray]
) -> list[np.ndarray]:
    import numpy as np

    result = keras_model(
        [feed[i.name] for i in inputs] if len(inputs) > 1 else feed[inputs[0].name], training=False
    )
    flat = result if isinstance(result, list | tuple) else [result]
    return [np.asarray(r) for r in flat]


def from_saved_model(source: Path, workdir: Path) -> Artifact:
    shutil.copytree(source, workdir / SAVED_MODEL_DIR)
    signature = load_signature(workdir / SAVED_MODEL_DIR)
    _, specs = signature.structured_input_signature
    inputs = tuple(_input_spec(name, tuple(s.shape), s.dtype.name) for name, s in specs.items())
    output_names = tuple(sorted(signature.structured_outputs, key=natural_key))

    def run_source(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return run_signature(signature, feed)

    return _finish(workdir, inputs, output_names, run_source, "TensorFlow")


def load_signature(saved_model: Path) -> Any:
    with quiet("tensorflow", "absl"):
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(saved_model))
        except Exception as exc:
            raise ModelError(f"{saved_model} is not a loadable SavedModel ({_short(exc)})") from exc
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ModelError(
            f"{saved_model} has no signature; export it with a serving_default signature"
        )
    signature = signatures.get("serving_default") or next(iter(signatures.values()))
    signature._edgeops_keepalive = loaded  # the function dies with the object it came from
    return signature


def run_signature(signature: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    result = signature(**feed)
    return [result[name].numpy() for name in sorted(result, key=natural_key)]


# --------------------------------------------------------------------------- ONNX and PyTorch


def from_litert_torch(spec: ModelSpec, workdir: Path) -> Artifact:
    out = workdir / MODEL_FILE
    try:
        run_source = litert_torch_route.convert(spec, out)
        artifact = _checked(out, spec.inputs, (), run_source, "torch", litert_torch_route.ROUTE)
    except ModelError:
        # The ONNX route writes the same file names: leave it a clean folder.
        for made in (out, sidecar(out)):
            made.unlink(missing_ok=True)
        raise
    return artifact.model_copy(update={"conversion_route": litert_torch_route.ROUTE})


def _after(first_route: str | None) -> str:
    return f" (tried first: {first_route})" if first_route else ""


def from_onnx(onnx_artifact: Artifact, spec: ModelSpec, workdir: Path) -> Artifact:
    """onnx2tf from the run's ONNX artifact (checked, its signature read, by the ONNX backend)."""
    import onnx

    assert onnx_artifact.path is not None
    source = onnx_artifact.path
    onnx_model = onnx.load(str(source), load_external_data=False)
    ranges = {i.name: i for i in spec.inputs}
    inputs = tuple(
        i.model_copy(update={"value_range": ranges[i.name].value_range}) if i.name in ranges else i
        for i in onnx_artifact.inputs
    )
    symbolic_batch = any(
        d.dim_value <= 0
        for v in onnx_model.graph.input[:1]
        for d in v.type.tensor_type.shape.dim[:1]
    )
    run_onnx2tf(source, workdir / SAVED_MODEL_DIR, batch_size=1 if symbolic_batch else None)
    session = _onnx_session(source)

    def run_source(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(session.run(None, {i.name: feed[i.name] for i in inputs}))

    return _finish(
        workdir, inputs, onnx_artifact.output_names, run_source, "onnxruntime", converter="onnx2tf"
    )


def run_onnx2tf(source: Path, saved_model: Path, batch_size: int | None = None) -> None:
    """onnx2tf in a scratch folder: a copy of the model, our own calibration file, a timeout."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="edgeops-onnx2tf-") as scratch_name:
        scratch = Path(scratch_name)
        # onnx2tf rewrites its input in place with onnxsim: hand it a copy.
        model_copy = scratch / "model.onnx"
        shutil.copyfile(source, model_copy)
        rng = np.random.default_rng(CHECK_SEED)
        np.save(
            scratch / ONNX2TF_CALIBRATION_FILE,
            rng.random(ONNX2TF_CALIBRATION_SHAPE, dtype=np.float32),
        )
        argv = [
            sys.executable,
            "-m",
            "edgeops_tflite.onnx2tf_worker",
            str(model_copy),
            str(scratch / "out"),
        ]
        if batch_size:
            argv += ["--batch-size", str(batch_size)]
        try:
            done = subprocess.run(
                argv, cwd=scratch, env={**os.environ, **QUIET_ENV}, capture_output=True, text=True,
                timeout=ONNX2TF_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ModelError(f"onnx2tf ran over {ONNX2TF_TIMEOUT_S:g} s on {source.name}") from exc
        produced = scratch / "out" / "saved_model.pb"
        if done.returncode != 0 or not produced.is_file():
            tail = " | ".join(
                line.strip() for line in (done.stdout + done.stderr).strip().splitlines()[-3:]
            )
            raise ModelError(f"onnx2tf could not convert {source.name}: {tail[:400]}")
        saved_model.mkdir(parents=True)
        # Only the SavedModel: onnx2tf's own .tflite files allow TF select ops.
        for name in ("saved_model.pb", "fingerprint.pb", "variables", "assets"):
            item = scratch / "out" / name
            if item.is_dir():
                shutil.copytree(item, saved_model / name)
            elif item.is_file():
                shutil.copyfile(item, saved_model / name)


def _onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- the check


def _finish(
    workdir: Path,
    inputs: tuple[InputSpec, ...],
    output_names: Sequence[str],
    run_source: RunSource,
    framework: str,
    converter: str = "TFLiteConverter",
) -> Artifact:
    out = workdir / MODEL_FILE
    convert_saved_model(workdir / SAVED_MODEL_DIR, out, Quantize())
    return _checked(out, inputs, output_names, run_source, framework, converter)


def _checked(
    out: Path,
    inputs: tuple[InputSpec, ...],
    output_names: Sequence[str],
    run_source: RunSource,
    framework: str,
    converter: str,
) -> Artifact:
    model = TfliteModel(out)
    check_conversion(model, inputs, run_source, framework, converter).save(out)
    return Artifact(
        format=FORMAT,
        path=out,
        # The source's inputs, in the source's layout: samples and reference outputs are
        # made in it, and the layout sidecar maps them to this model's own.
        inputs=inputs,
        output_names=tuple(output_names) or model.output_names,
    )


def check_conversion(
    model: TfliteModel,
    inputs: tuple[InputSpec, ...],
    run_source: RunSource,
    framework: str,
    converter: str,
) -> IoLayout:
    """The layout that makes ``model`` agree with its source; ModelError when none does.

    Inputs follow the converter's rule (channels last for rank 3-5 when the shapes
    say so); each output gets the permutation, of those its shape allows, that
    agrees best with the source.
    """
    feeds = [random_feed(inputs, seed) for seed in range(CHECK_SEED, CHECK_SEED + CHECK_SAMPLES)]
    tflite_names = [i.name for i in model.inputs]
    base = identity([i.name for i in inputs], tflite_names, model.output_names)
    by_name = {i.name: i for i in model.inputs}
    input_maps = tuple(
        TensorMap(
            tflite=m.tflite,
            source=m.source,
            perm=_input_perm(
                _shape_of(inputs, m.source),
                by_name[m.tflite].shape,
                # litert-torch keeps the source's layout, even where the shapes could tell
                # channels last (C = H = W).
                channels_last_rule=converter != litert_torch_route.ROUTE,
            ),
        )
        for m in base.inputs
    )
    layout = IoLayout(inputs=input_maps, converter=converter)
    expected = [run_source(feed) for feed in feeds]
    got = [model.run(layout.to_tflite(feed)) for feed in feeds]
    if len(expected[0]) != len(model.output_names):
        raise ModelError(
            f"{converter} made {len(model.output_names)} outputs where {framework} gives "
            f"{len(expected[0])}; the conversion is wrong"
        )
    output_maps = []
    for k, name in enumerate(model.output_names):
        want = [e[k] for e in expected]
        output_maps.append(
            TensorMap(
                tflite=name, source=name, perm=_best_output_perm(name, want, [g[name] for g in got])
            )
        )
    layout = IoLayout(inputs=input_maps, outputs=tuple(output_maps), converter=converter)
    import numpy as np

    reference = np.concatenate([np.asarray(a, np.float64).ravel() for e in expected for a in e])
    converted = np.concatenate(
        [np.asarray(a, np.float64).ravel() for g in got for a in layout.from_tflite(g)]
    )
    snr = snr_db(reference, converted)
    if snr < MISCONVERSION_SNR_DB["fp32"]:
        raise ModelError(
            f"{converter} converted the model wrongly without an error: its outputs differ from "
            f"{framework}'s (SNR {snr:.1f} dB; a float conversion gives ≥ {MISCONVERSION_SNR_DB['fp32']:g} dB); "
            "convert through another route or report it to the converter"
        )
    return IoLayout(
        inputs=input_maps,
        outputs=tuple(output_maps),
        converter=converter,
        notes={"conversion_snr_db": round(snr, 2)},
    )


def random_feed(inputs: Sequence[InputSpec], seed: int) -> dict[str, np.ndarray]:
    import numpy as np

    rng = np.random.default_rng(seed)
    feed = {}
    for spec in inputs:
        low, high = spec.value_range
        dtype = np.dtype(spec.dtype)
        if np.issubdtype(dtype, np.integer):
            feed[spec.name] = rng.integers(int(low), int(high) + 1, size=spec.shape).astype(dtype)
        else:
            feed[spec.name] = rng.uniform(low, high, size=spec.shape).astype(dtype)
    return feed


def _input_perm(
    source_shape: tuple[int, ...], tflite_shape: tuple[int, ...], channels_last_rule: bool = True
) -> tuple[int, ...] | None:
    rank = len(source_shape)
    if channels_last_rule and 3 <= rank <= 5:
        perm = channels_last(rank)
        if tuple(source_shape[p] for p in perm) == tuple(tflite_shape):
            return perm  # onnx2tf's rule, also when the shapes alone cannot tell
    if tuple(source_shape) == tuple(tflite_shape):
        return None
    raise ModelError(
        f"the converted model's input has shape {list(tflite_shape)} where the source's has "
        f"{list(source_shape)}; fix the input shapes in edgeops.toml"
    )


def _best_output_perm(
    name: str, expected: list[np.ndarray], got: list[np.ndarray]
) -> tuple[int, ...] | None:
    import numpy as np

    rank = expected[0].ndim
    candidates: list[tuple[int, ...] | None] = [None]
    if 3 <= rank <= 5:
        candidates.append(channels_last(rank))
    scored = []
    for perm in candidates:
        back = [g.transpose(inverse(perm)) if perm else g for g in got]
        if all(b.shape == e.shape for b, e in zip(back, expected, strict=True)):
            ref = np.concatenate([np.asarray(e, np.float64).ravel() for e in expected])
            out = np.concatenate([np.asarray(b, np.float64).ravel() for b in back])
            scored.append((snr_db(ref, out), perm))
    if not scored:
        raise ModelError(
            f"output {name} of the converted model has shape {list(got[0].shape)}, which no layout "
            f"change maps to the source's {list(expected[0].shape)}"
        )
    return max(scored, key=lambda s: s[0])[1]


def _shape_of(inputs: Sequence[InputSpec], name: str) -> tuple[int, ...]:
    return next(tuple(i.shape) for i in inputs if i.name == name)


def _input_spec(name: str, shape: tuple[Any, ...], dtype: str) -> InputSpec:
    # A dynamic dimension (a batch) is made and measured at 1.
    concrete = tuple(int(d) if d is not None and int(d) > 0 else 1 for d in shape)
    return InputSpec(
        name=name.split(":")[0],
        shape=concrete,
        dtype=dtype,
        layout="NHWC" if len(concrete) == 4 else None,
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
