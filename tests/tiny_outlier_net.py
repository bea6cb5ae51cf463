"""A tiny conv net, built in code, with one layer that per-tensor int8 weights break.

Eight 3x3 convolutions of 16 channels (2,304 weights each, just over coremltools'
2,048-element compression threshold, so every one is quantized). The fourth
holds one outlier weight 500 times the others: with one int8 scale per tensor
(``granularity = "per_tensor"``) the scale is set by the outlier and every other
weight of that layer rounds to zero, while the other seven layers quantize well.
That is the pattern of real outlier channels (LLM.int8, SmoothQuant), made exact.

The weights are random but seeded, so the model is the same on every run.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

LAYERS = 8
CHANNELS = 16
SIZE_PX = 16
SENSITIVE = 3
OUTLIER = 500.0


class OutlierNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, CHANNELS, 1)
        self.body = nn.Sequential(*[nn.Conv2d(CHANNELS, CHANNELS, 3, 1, 1) for _ in range(LAYERS)])
        with torch.no_grad():
            weight = self.body[SENSITIVE].weight
            weight[0, 0, 0, 0] = OUTLIER * float(weight.abs().max())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(image))
        for conv in self.body:
            x = torch.relu(conv(x)) + x
        return x


def build() -> nn.Module:
    return OutlierNet().eval()


def samples() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((1, 3, SIZE_PX, SIZE_PX), dtype=np.float32) for _ in range(8)]


def fidelity(outputs: list, reference: list, labels: object) -> float:
    """1 - relative L1 error of the output against the float reference, in [0, 1]."""
    got = np.concatenate([np.asarray(row[0], np.float64).ravel() for row in outputs])
    want = np.concatenate([np.asarray(row[0], np.float64).ravel() for row in reference])
    return float(max(0.0, 1.0 - np.abs(got - want).sum() / np.abs(want).sum()))
