"""A tiny anchor-free detector (YOLOX-nano-like), built in code, with one layer int8 breaks.

Backbone: three stride-2 convolutions. Head, per location of the 8x8 grid: a stem
convolution, then separate convolutions for the box (4), objectness (1) and class
(3) outputs, decoded inside the model as YOLOX's exported graphs do: boxes in
pixels (grid offset plus regression, times the stride), scores through a sigmoid.
The decoded parts are concatenated into one output, 1 x 8 x 64 (channels: x, y, w,
h, objectness, 3 classes).

The deliberately sensitive layer is that final Concat: box coordinates in pixels
(up to ~600) share one tensor with scores in [0, 1]. One int8 scale per tensor
(ORT quantizes a Concat's output per tensor) is then ~2.4, and every score rounds
to 0 or 2.4: the detector finds nothing, while the boxes, which dominate the
output's energy, keep a high SNR. Hence the metric here is on the scores
(``score_fidelity``), as a detector's quality would be, not SNR.

The weights are random but seeded, so the model is the same on every run.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGE_SIZE_PX = 64
GRID = 8
STRIDE_PX = IMAGE_SIZE_PX // GRID
CLASSES = 3
# Channels of the last backbone stage and the head: about 60k weights, so int8 is
# visibly smaller than float.
WIDTH = 64
# Boxes in pixels span about this many: the range that swamps the scores' int8 scale.
BOX_SCALE_PX = 300.0


class TinyDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, WIDTH, 3, 2, 1), nn.ReLU(),
        )  # fmt: skip
        self.stem = nn.Sequential(nn.Conv2d(WIDTH, WIDTH, 3, 1, 1), nn.ReLU())
        self.reg = nn.Conv2d(WIDTH, 4, 1)
        self.obj = nn.Conv2d(WIDTH, 1, 1)
        self.cls = nn.Conv2d(WIDTH, CLASSES, 1)
        ys, xs = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys]).float().reshape(1, 2, GRID, GRID))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.stem(self.backbone(image))
        reg = self.reg(features)
        xy = (reg[:, :2] + self.grid) * STRIDE_PX
        wh = torch.exp(reg[:, 2:].clamp(max=4.0)) * BOX_SCALE_PX / 10
        scores = torch.sigmoid(torch.cat([self.obj(features), self.cls(features)], 1))
        out = torch.cat([xy, wh, scores], 1)
        return out.reshape(1, 4 + 1 + CLASSES, GRID * GRID)


def build() -> nn.Module:
    return TinyDetector().eval()


def samples() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, IMAGE_SIZE_PX, IMAGE_SIZE_PX), dtype=np.float32) for _ in range(16)]


def score_fidelity(outputs: list, reference: list, labels: object) -> float:
    """1 - mean absolute error of the per-location scores (objectness x class), in [0, 1]."""

    def scores(rows: list) -> np.ndarray:
        detections = np.concatenate([np.asarray(row[0], np.float64) for row in rows])
        return detections[:, 4:5] * detections[:, 5:]

    return float(1.0 - np.mean(np.abs(scores(outputs) - scores(reference))))
