"""Quality scored on what the device itself returned, not on this host's runtime.

An accelerator can load a variant, run fast, and return wrong numbers (Core AI's FP16
pose head: every confidence 0.0 under acceleration, right on the CPU). So for the
first ``k`` samples the device returns the variant's outputs (the probe's
``--outputs`` mode), they are scored against the reference with the run's metrics as
``where: device``, and a variant whose device score misses the floor, or falls far
below its host score, fails with "device outputs differ from host".
"""

from __future__ import annotations

import base64
import binascii
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeops.devices.measurements import last_json_line
from edgeops.devices.probe_push import push_probe
from edgeops.errors import DeviceError
from edgeops.models import DeviceOutputSettings, Frozen, Quality, QualitySpec, SampleSet, Variant
from edgeops.quality import MAX_SNR_DB, meets_floors

if TYPE_CHECKING:
    import numpy as np

    from edgeops.backend import Backend, BuildContext
    from edgeops.devices.sessions import Session

# A device's answer is read whole: bound it before decoding (4 samples of a 4K
# image-to-image model in float32 are ~400 MB; more is not outputs).
MAX_OUTPUTS_BYTES = 512 * 1024 * 1024


def probe_outputs(
    session: Session,
    remote_model: str,
    compute_unit: str,
    samples: SampleSet,
    settings: DeviceOutputSettings,
    runner: str | None = None,
) -> list[list[np.ndarray]]:
    """The outputs of the first ``settings.samples`` samples, computed on the session's
    device by the probe; ``outputs[i][k]`` is output k on sample i. DeviceError when the
    device did not return them."""
    import numpy as np

    assert session.python is not None
    # A local session's push hands back the file itself: the probe runs before the
    # temporary folder goes.
    with np.load(samples.path) as data, tempfile.TemporaryDirectory() as folder:
        wanted = {f"/{i}" for i in range(min(settings.samples, samples.count))}
        first = {k: data[k] for k in data.files if any(k.endswith(w) for w in wanted)}
        local = Path(folder) / "device-samples.npz"
        np.savez(local, **first)
        remote_samples = session.push(local)
        argv = [
            *session.python, push_probe(session),
            "--model", remote_model, "--compute-unit", compute_unit,
            "--inputs", remote_samples, "--outputs", str(settings.samples),
        ]  # fmt: skip
        if runner is not None:
            argv += ["--runner", runner]
        result = session.run(argv, timeout_s=settings.timeout_s)
    document = last_json_line(result.stdout)
    if document is None or document.get("status") != "ok":
        why = (document or {}).get("error") or result.stderr.strip()[-300:] or "no answer"
        raise DeviceError(f"the device did not return outputs: {why}")
    encoded = str((document.get("outputs") or {}).get("npz_b64", ""))
    if len(encoded) * 3 // 4 > MAX_OUTPUTS_BYTES:
        raise DeviceError(f"the device returned over {MAX_OUTPUTS_BYTES >> 20} MB of outputs")
    try:
        raw = base64.b64decode(encoded, validate=True)
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            names = [str(n) for n in document["outputs"]["names"]]
            count = int(document["outputs"]["samples"])
            return [[arrays[f"{n}/{i}"] for n in names] for i in range(count)]
    except (binascii.Error, ValueError, KeyError, TypeError, OSError) as exc:
        raise DeviceError(f"the device's outputs are unreadable ({exc})") from exc


def device_verdict(
    host: Quality | None, device: Quality, spec: QualitySpec, settings: DeviceOutputSettings
) -> str | None:
    """Why the device's outputs fail the variant, or None when they hold."""
    ok, reasons = meets_floors(device, spec)
    metric = spec.metric
    on_device = device.metrics.get(metric)
    on_host = host.metrics.get(metric) if host is not None else None
    if not ok:
        return f"device outputs differ from host: {'; '.join(reasons)} on the device" + (
            f" (host {on_host:.4g})" if on_host is not None else ""
        )
    if on_host is None or on_device is None:
        return None
    if metric == "snr_db" and on_host >= MAX_SNR_DB:
        # The host's outputs are the reference's own (a .tflite source as is): any other
        # kernel is "infinitely" worse, XNNPACK against the builtin ones (26.7 dB on a
        # uint8 MobileNet here) or an fp16 GPU; only the floor can judge such a variant.
        return None
    drop = (on_host - on_device) if spec.higher_is_better else (on_device - on_host)
    if drop > abs(on_host) * settings.max_drop_pct / 100.0:
        return (
            f"device outputs differ from host: {metric} {on_device:.4g} on the device against "
            f"{on_host:.4g} on the host (more than {settings.max_drop_pct:g}% worse)"
        )
    return None


class DeviceScore(Frozen):
    """A variant's quality on the device, and why it fails there (None: it holds)."""

    quality: Quality | None
    failure: str | None = None


def score_on_device(
    backend: Backend,
    session: Session,
    variant: Variant,
    compute_unit: str,
    context: BuildContext,
    spec: QualitySpec,
    outputs_dir: Path | None = None,
) -> DeviceScore:
    """``variant`` pushed to the session's device, its outputs there scored (``where:
    device``) and judged against its host score (``variant.quality``)."""
    assert variant.path is not None
    remote_model = session.push(variant.path)
    quality = backend.evaluate_on_device(
        session, variant, remote_model, context, compute_unit, outputs_dir
    )
    if quality is None:
        return DeviceScore(quality=None)
    settings = context.device_outputs or DeviceOutputSettings()
    return DeviceScore(
        quality=quality, failure=device_verdict(variant.quality, quality, spec, settings)
    )
