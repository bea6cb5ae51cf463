"""Device outputs in the pipeline: each measured variant's outputs on its device, scored.

After the timing rounds, each measurement that is ok, measured (not predicted) and of a
format whose backend gets outputs from a device (``edgeops_evaluate_on_device``) costs
one more probe call there: the first ``DeviceOutputSettings.samples`` samples' outputs,
scored as ``where: device``. Once per variant, device and unit, never per round. A
variant whose device outputs differ from the host's fails on that device with the
reason, so selection never picks it there; a device that cannot return them leaves the
measurement as it was, with the reason in its environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgeops.backend import BuildContext
from edgeops.devices.leases import LeaseBook
from edgeops.devices.sessions import Session
from edgeops.models import Device, Measurement, Variant
from edgeops.quality import OUTPUTS_FILE

# Where a measurement's environment says why the device returned no outputs.
UNSCORED_KEY = "device_outputs_error"


def score_device_outputs(
    hook: Any,
    leases: LeaseBook,
    holder: str,
    measurements: Sequence[Measurement],
    variants: Sequence[Variant],
    devices: Sequence[Device],
    context: BuildContext,
    keep_in: Callable[[Measurement], Path] | None = None,
) -> list[Measurement]:
    """``measurements`` with ``device_quality`` set where the device returned outputs, and
    failed where they differ from the host's. ``keep_in(m)`` is the folder
    where the outputs of ``m``'s device are kept (None: not kept)."""
    if context.samples is None or context.reference is None:
        return list(measurements)
    by_variant = {v.id: v for v in variants}
    by_device = {d.id: d for d in devices}
    sessions: dict[str, Session] = {}
    scored = []
    try:
        for m in measurements:
            variant, device = by_variant.get(m.variant_id), by_device.get(m.device_id)
            if (
                m.status != "ok"
                or m.method != "measured"
                or m.device_quality is not None
                or variant is None
                or device is None
                # Another run's variant, measured again beside this run's (a baseline's
                # primary): this run's reference is of another model, so its outputs
                # cannot be judged against it. Its own run scored it.
                or variant.remeasured_from is not None
            ):
                scored.append(m)
                continue
            outputs_dir = keep_in(m) if keep_in is not None else None
            scored.append(
                _scored(hook, leases, holder, m, variant, device, context, sessions, outputs_dir)
            )
    finally:
        for session in sessions.values():
            with contextlib.suppress(Exception):  # a dropped device cannot close cleanly
                session.close()
    return scored


def _scored(
    hook: Any,
    leases: LeaseBook,
    holder: str,
    m: Measurement,
    variant: Variant,
    device: Device,
    context: BuildContext,
    sessions: dict[str, Session],
    outputs_dir: Path | None,
) -> Measurement:
    try:
        with leases.hold(device, holder):
            session = sessions.get(device.id)
            if session is None:
                session = sessions[device.id] = hook.edgeops_connect(device=device)
            if session is None:
                return m
            score = hook.edgeops_evaluate_on_device(
                session=session, variant=variant, compute_unit=m.compute_unit, context=context,
                outputs_dir=outputs_dir,
            )  # fmt: skip
    except Exception as exc:  # one device's failure is recorded; the run goes on
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        return m.model_copy(update={"environment": {**m.environment, UNSCORED_KEY: why}})
    if score is None or score.quality is None:
        return m
    kept = outputs_dir / OUTPUTS_FILE if outputs_dir is not None else None
    update: dict[str, Any] = {
        "device_quality": score.quality,
        "device_outputs": kept if kept is not None and kept.is_file() else None,
    }
    if score.failure is not None:
        update |= {"status": "error", "error": score.failure}
    return m.model_copy(update=update)
