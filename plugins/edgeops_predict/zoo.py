"""The published networks, built by hand as layer lists (no weights, no framework).

Each builder follows the architecture as its paper or reference code gives it, and
``PUBLISHED_MACS`` holds the multiply-add count the authors publish, so a test
checks every build lands within a few percent of it:

- MobileNetV1 (Howard et al. 2017, Table 1; 569 M MACs at 1.0/224, Table 8/9 for others);
- MobileNetV2 (Sandler et al. 2018, Table 2; 300 M MACs, Table 4 / 6);
- MobileNetV3-small (Howard et al. 2019, Table 2; 56 M MACs, Table 3), torchvision layout;
- ResNet50 (He et al. 2015, Table 1; 4.1 G FLOPs counted as multiply-adds), torchvision v1.5
  (stride on the 3x3 conv);
- MobileOne S0-S4 at inference, re-parameterised (Vasu et al. 2022, Table 7 / apple/ml-mobileone
  mobileone.py: width multipliers, blocks [2, 8, 10, 1], SE in S4; 275/825/1299/1896/2978 M);
- EfficientNet-Lite0-4 (tensorflow/tpu models/official/efficientnet/lite README: no SE,
  ReLU6, stem and head fixed while scaling; 407/631/899/1440/2640 M MAdds).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .layers import Builder, Network

PUBLISHED_MACS: dict[str, float] = {
    "mobilenet_v1_1.0_224": 569e6,
    "mobilenet_v1_0.75_224": 325e6,
    "mobilenet_v1_0.5_224": 150e6,
    "mobilenet_v1_0.25_224": 41e6,
    "mobilenet_v2_1.0_224": 300e6,
    "mobilenet_v3_small": 56e6,
    "resnet50": 4.1e9,
    "mobileone_s0": 275e6,
    "mobileone_s1": 825e6,
    "mobileone_s2": 1299e6,
    "mobileone_s3": 1896e6,
    "mobileone_s4": 2978e6,
    "efficientnet_lite0": 407e6,
    "efficientnet_lite1": 631e6,
    "efficientnet_lite2": 899e6,
    "efficientnet_lite3": 1.44e9,
    "efficientnet_lite4": 2.64e9,
}


def _divisible(v: float, divisor: int = 8) -> int:
    """Channel rounding of the TF/torchvision reference code (_make_divisible)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v1(alpha: float = 1.0, size: int = 224) -> Network:
    b = Builder(f"mobilenet_v1_{alpha}_{size}", 3, size).conv(int(32 * alpha), 3, 2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    plan += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for out, stride in plan:
        b.dw(3, stride).conv(int(out * alpha), 1)
    return b.global_pool().fc(1001).net


def mobilenet_v2(alpha: float = 1.0, size: int = 224) -> Network:
    b = Builder(f"mobilenet_v2_{alpha}_{size}", 3, size).conv(_divisible(32 * alpha), 3, 2)
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2)]
    settings += [(6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    for t, c, n, s in settings:
        out = _divisible(c * alpha)
        for i in range(n):
            stride = s if i == 0 else 1
            cin = b.c
            if t != 1:
                b.conv(cin * t, 1)
            b.dw(3, stride).conv(out, 1)
            if stride == 1 and cin == out:
                b.add()
    return b.conv(max(1280, _divisible(1280 * alpha)), 1).global_pool().fc(1000).net


def mobilenet_v3_small() -> Network:
    b = Builder("mobilenet_v3_small", 3, 224).conv(16, 3, 2)
    # kernel, expanded, out, squeeze-excite, stride (torchvision mobilenetv3.py)
    cfg = [
        (3, 16, 16, True, 2),
        (3, 72, 24, False, 2),
        (3, 88, 24, False, 1),
        (5, 96, 40, True, 2),
        (5, 240, 40, True, 1),
        (5, 240, 40, True, 1),
        (5, 120, 48, True, 1),
        (5, 144, 48, True, 1),
        (5, 288, 96, True, 2),
        (5, 576, 96, True, 1),
        (5, 576, 96, True, 1),
    ]
    for k, exp, out, se, stride in cfg:
        cin = b.c
        if exp != cin:
            b.conv(exp, 1)
        b.dw(k, stride)
        if se:
            b.squeeze_excite(_divisible(exp / 4))
        b.conv(out, 1)
        if stride == 1 and cin == out:
            b.add()
    return b.conv(576, 1).global_pool().fc(1024).fc(1000).net


def resnet(blocks: tuple[int, ...] = (3, 4, 6, 3), name: str = "resnet50") -> Network:
    b = Builder(name, 3, 224).conv(64, 7, 2).pool(2)
    for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for i in range(n):
            stride = 2 if i == 0 and stage > 0 else 1
            cin, h, w = b.c, b.h, b.w
            b.conv(width, 1).conv(width, 3, stride).conv(width * 4, 1)
            if i == 0:  # projection shortcut, from the block's input
                out_c, out_h, out_w = b.c, b.h, b.w
                b.c, b.h, b.w = cin, h, w
                b.conv(width * 4, 1, stride)
                b.c, b.h, b.w = out_c, out_h, out_w
            b.add()
    return b.global_pool().fc(1000).net


MOBILEONE_WIDTHS = {
    "s0": (0.75, 1.0, 1.0, 2.0),
    "s1": (1.5, 1.5, 2.0, 2.5),
    "s2": (1.5, 2.0, 2.5, 4.0),
    "s3": (2.0, 2.5, 3.0, 4.0),
    "s4": (3.0, 3.5, 3.5, 4.0),
}


def mobileone(variant: str) -> Network:
    widths = MOBILEONE_WIDTHS[variant]
    use_se = variant == "s4"
    b = Builder(f"mobileone_{variant}", 3, 224).conv(min(64, int(64 * widths[0])), 3, 2)
    stages = [(64, 2, 0), (128, 8, 0), (256, 10, 5 if use_se else 0), (512, 1, 1 if use_se else 0)]
    for (base, n, n_se), width in zip(stages, widths, strict=True):
        planes = int(base * width)
        for i in range(n):
            se = i >= n - n_se
            b.dw(3, 2 if i == 0 else 1)
            if se:
                b.squeeze_excite(int(b.c * 0.0625))
            b.conv(planes, 1)
            if se:
                b.squeeze_excite(int(b.c * 0.0625))
    return b.global_pool().fc(1000).net


EFFICIENTNET_LITE = {  # width, depth, resolution (efficientnet_lite_builder.py)
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}


def efficientnet_lite(variant: str) -> Network:
    width, depth, size = EFFICIENTNET_LITE[variant]
    b = Builder(f"efficientnet_{variant}", 3, size).conv(32, 3, 2)
    # expand, kernel, stride, out, repeats (EfficientNet-B0)
    blocks = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3)]
    blocks += [(6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
    for j, (t, k, s, c, n) in enumerate(blocks):
        out = _divisible(c * width)
        # Lite keeps the first and last stage's repeats fixed while scaling depth.
        repeats = n if j in (0, len(blocks) - 1) else int(math.ceil(depth * n))
        for i in range(repeats):
            stride = s if i == 0 else 1
            cin = b.c
            if t != 1:
                b.conv(cin * t, 1)
            b.dw(k, stride).conv(out, 1)
            if stride == 1 and cin == out:
                b.add()
    return b.conv(1280, 1).global_pool().fc(1000).net


BUILDERS: dict[str, Callable[[], Network]] = {
    "mobilenet_v1_1.0_224": lambda: mobilenet_v1(1.0, 224),
    "mobilenet_v2_1.0_224": lambda: mobilenet_v2(1.0, 224),
    "mobilenet_v3_small": mobilenet_v3_small,
    "resnet50": resnet,
    **{f"mobileone_{v}": (lambda v=v: mobileone(v)) for v in MOBILEONE_WIDTHS},
    **{f"efficientnet_{v}": (lambda v=v: efficientnet_lite(v)) for v in EFFICIENTNET_LITE},
}


def build(name: str) -> Network:
    """A network by the name the published table uses: ``mobilenet_v1_0.5_160`` etc."""
    if name in BUILDERS:
        return BUILDERS[name]()
    if name.startswith("mobilenet_v1_"):
        alpha, size = name.removeprefix("mobilenet_v1_").split("_")
        return mobilenet_v1(float(alpha), int(size))
    raise KeyError(f"no hand-built network named {name!r}")
