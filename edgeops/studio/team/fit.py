"""An uploaded image as a model's input: its layout, size, type and value range."""

from __future__ import annotations

from typing import Any


def channels_first(shape: tuple[int, ...]) -> bool:
    """NCHW when the second axis looks like channels and the last does not."""
    return len(shape) == 4 and shape[1] in (1, 3, 4) and shape[3] not in (1, 3, 4)


def fit_image(
    rgb: Any, shape: tuple[int, ...], dtype: str, value_range: tuple[float, float]
) -> Any:
    """``rgb`` (H x W x 3 uint8) resized (nearest) and scaled to one input of ``shape``."""
    import numpy as np

    if len(shape) != 4:
        raise ValueError(f"an image fits a 4-D input, not {list(shape)}")
    first = channels_first(shape)
    c, h, w = (shape[1], shape[2], shape[3]) if first else (shape[3], shape[1], shape[2])
    image = np.asarray(rgb)
    rows = (np.arange(h) * image.shape[0] // h).clip(0, image.shape[0] - 1)
    cols = (np.arange(w) * image.shape[1] // w).clip(0, image.shape[1] - 1)
    image = image[rows][:, cols]
    if c == 1:
        image = image.mean(axis=2, keepdims=True)
    elif c == 4:
        image = np.concatenate([image, np.full((h, w, 1), 255, image.dtype)], axis=2)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        low, high = value_range
        array: Any = image.astype(np.float64) / 255.0 * (high - low) + low
    elif kind == np.int8:
        array = image.astype(np.int16) - 128
    else:
        array = image
    array = array.astype(kind)
    if first:
        array = np.moveaxis(array, -1, 0)
    return array[None]
