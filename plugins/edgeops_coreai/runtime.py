"""Running an ``.aimodel`` on this host with the Core AI runtime (coreai-core).

Off macOS, ``AIModelAsset.executable()`` lowers the asset's program to the
in-package runtime (an ``.aimodelx`` folder with ``main-universal.odix``, made in
a temporary directory) and loads it; on a Mac with macOS 27 it loads the asset
with the OS framework (coreai/authoring/asset.py). Either way this is the real
Core AI runtime on a CPU, so quality from it is labelled ``host``, not an estimate.

The runtime's API is async: one event loop runs every sample of a variant.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import InputSpec, ModelError, SampleSet, quiet, sample_feeds

from .convert import coreai_name
from .sdk import NOISY_LOGGERS, asset_class, runtime, short

if TYPE_CHECKING:
    import numpy as np

FUNCTION = "main"


def run_asset(
    path: Path,
    inputs: tuple[InputSpec, ...],
    outputs: tuple[str, ...],
    samples: SampleSet,
) -> list[list[np.ndarray]]:
    """``outputs`` of the asset on every sample, in order: ``result[i][k]`` is output k on sample i."""
    feeds = sample_feeds(samples)
    try:
        with quiet(*NOISY_LOGGERS) as log:
            return _on_own_loop(lambda: _run(Path(path), inputs, outputs, feeds))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"the Core AI runtime cannot run {Path(path).name} ({short(exc)}); {log.tail()}"
        ) from exc


async def _run(
    path: Path,
    inputs: tuple[InputSpec, ...],
    outputs: tuple[str, ...],
    feeds: list[dict[str, Any]],
) -> list[list[Any]]:
    import numpy as np

    rt = runtime()
    asset = asset_class().load(path)
    dtypes = input_dtypes(asset)
    results = []
    async with asset.executable() as model:
        function = model.load_function(FUNCTION)
        for feed in feeds:
            args = {
                coreai_name(i.name): rt.NDArray(
                    np.ascontiguousarray(
                        feed[i.name], dtype=dtypes.get(coreai_name(i.name), i.dtype)
                    )
                )
                for i in inputs
            }
            got = await function(args)
            missing = [n for n in outputs if n not in got]
            if missing:
                raise ModelError(f"{path.name} has no output {missing[0]!r}; got {sorted(got)}")
            results.append([np.asarray(got[n].numpy(), dtype=np.float32) for n in outputs])
    return results


def input_dtypes(asset: Any) -> dict[str, str]:
    """Element type per input of ``main``, from the asset's summary: ("image",
    "NDArray (Float32, 1 × 3 × 128 × 128)") → {"image": "float32"}. An fp16 recipe
    makes its inputs fp16 (coreai_opt.casting casts user inputs too)."""
    import re

    summary = asset.summary(include_statistics=False)
    out = {}
    for name, text in summary.function_inputs(FUNCTION):
        found = re.search(r"\((\w+?)(\d+),", text)
        if found:
            out[name] = f"{found.group(1).lower()}{found.group(2)}"
    return out


def _on_own_loop(make: Any) -> Any:
    """``asyncio.run`` of the coroutine ``make()`` returns, even where this thread already
    runs an event loop (a host application's, or a browser driver's in a test session):
    there it runs on a loop of its own in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
