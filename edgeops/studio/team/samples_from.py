"""``ship --samples-from URL``: a studio's sample set as this run's samples.

``URL`` is the set's page, ``http(s)://STUDIO/sample-sets/NAME/VERSION`` (as the
browser shows it), with a token of role ``read`` from ``?token=`` or
``$EDGEOPS_STUDIO_TOKEN``. Each item is downloaded, checked against its sha256,
and written as one ``.npy`` into ``.edgeops/studio-samples/NAME-vVERSION-SHA/``:
an ``.npy`` as it is, an image resized (nearest) and scaled to the model's first
input (its shape, layout, dtype and ``value_range``). The folder is built under a
temporary name and renamed whole; a second run reuses it. A mark file there names
the set, so ``edgeops publish`` records which sample set the run used.

The spec's ``labels`` are dropped for that run: they belong to its own samples.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgeops.errors import UsageError
from edgeops.studio.team import uploads
from edgeops.studio.team.publish import SAMPLE_SET_MARK, studio_token

SET_PATH = re.compile(r"^/sample-sets/([A-Za-z0-9][A-Za-z0-9._-]{0,63})/([0-9]{1,9})/?$")


def _get(url: str, token: str | None, limit: int) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
            data: bytes = r.read(limit + 1)
    except urllib.error.HTTPError as exc:
        hint = " (give a token: ?token= or $EDGEOPS_STUDIO_TOKEN)" if exc.code in (401, 403) else ""
        raise UsageError(
            f"the studio answered HTTP {exc.code} for {url.split('?')[0]}{hint}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot reach the studio for --samples-from ({exc})") from exc
    if len(data) > limit:
        raise UsageError(f"{url.split('?')[0]} is larger than {limit} bytes; refused")
    return data


def fetch_samples(url: str, inputs: tuple[Any, ...], workspace: Path) -> Path:
    """The sample set at ``url`` as a folder of ``.npy`` files for these model inputs."""
    from urllib.parse import urlsplit

    import numpy as np

    from edgeops.studio.team.fit import fit_image

    base, token = studio_token(url, None)
    parts = urlsplit(base)
    match = SET_PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or match is None:
        raise UsageError(
            f"--samples-from {base!r} is not a sample set's address; give "
            "http(s)://STUDIO/sample-sets/NAME/VERSION as the studio shows it"
        )
    name, version = match.group(1), int(match.group(2))
    root = f"{parts.scheme}://{parts.netloc}"
    listing = json.loads(_get(f"{root}/api/sample-sets/{name}/{version}", token, 1 << 22))
    items = listing.get("items", [])
    if not items or len(items) > uploads.MAX_FILES:
        raise UsageError(f"sample set {name} v{version} holds {len(items)} samples; refused")
    set_sha = str(listing["sha256"])
    if not re.fullmatch(r"[0-9a-f]{64}", set_sha):
        raise UsageError("the studio's answer is not a sample set")
    folder = workspace / "studio-samples" / f"{name}-v{version}-{set_sha[:12]}"
    if (folder / SAMPLE_SET_MARK).is_file():
        return folder
    if not inputs:
        raise UsageError(
            "--samples-from needs the model's inputs; add [[model.inputs]] to edgeops.toml"
        )
    first = inputs[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for item in items:
            index = int(item["index"])
            data = _get(
                f"{root}/sample-sets/{name}/{version}/items/{index}", token, uploads.MAX_FILE_BYTES
            )
            if hashlib.sha256(data).hexdigest() != item["sha256"]:
                raise UsageError(f"sample {index} of {name} v{version} does not match its sha256")
            kind = uploads.kind_of(data)
            if kind == "npy":
                uploads.check_npy(str(index), data)
                array = np.load(io.BytesIO(data), allow_pickle=False)
            elif kind in ("png", "jpeg"):
                if len(inputs) != 1:
                    raise UsageError(
                        "images fit a model with one input; this one has "
                        f"{len(inputs)}: upload .npy samples instead"
                    )
                rgb = uploads.decode_image(str(index), data)
                array = fit_image(rgb, tuple(first.shape), first.dtype, first.value_range)
            else:
                raise UsageError(f"sample {index} of {name} v{version} is not an image or .npy")
            np.save(tmp / f"{index:04d}.npy", array, allow_pickle=False)
        mark = {"name": name, "version": version, "sha256": set_sha, "studio": root}
        (tmp / SAMPLE_SET_MARK).write_text(json.dumps(mark) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
