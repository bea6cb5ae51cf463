"""A network as the predictor sees it: a list of layers with their work and their bytes.

One representation for every source: the published networks built by hand
(``zoo.py``) and the variants edgeops makes (``graphs.py`` reads ONNX, TFLite and
Core ML files into it). A prediction is a sum over layers (nn-Meter, MobiSys'21:
kernel-level prediction), so two networks with the same MACs but different layer
shapes get different figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Layer kinds the latency model has a constant for.
KINDS = ("conv", "pointwise", "depthwise", "fc", "elementwise")


@dataclass(frozen=True)
class Layer:
    kind: str  # one of KINDS
    macs: int
    weights: int  # parameter count (elements, not bytes)
    in_elems: int  # activation elements read
    out_elems: int  # activation elements written


@dataclass(frozen=True)
class Compression:
    """How a variant's weights and activations are stored, from its recipe or its graph."""

    weight_bits: float = 16.0  # bits per weight as stored (palette bits, int8, fp16, fp32)
    sparsity: float = 0.0  # share of weights that are zero and stored sparse
    activation_bits: int = 16  # 8 for W8A8 / full-int8 graphs, 32 for fp32 graphs
    float_weights_bits: int = 16  # the dense float type weights expand to

    @property
    def label(self) -> str:
        parts = [f"w{self.weight_bits:g}", f"a{self.activation_bits}"]
        if self.sparsity:
            parts.append(f"sparse{self.sparsity:.2f}")
        return "-".join(parts)


@dataclass
class Network:
    """Layers in execution order, plus the input size (for the memory estimate)."""

    name: str
    layers: list[Layer] = field(default_factory=list)
    input_elems: int = 0

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def largest_activation_elems(self) -> int:
        return max((layer.in_elems + layer.out_elems for layer in self.layers), default=0)


class Builder:
    """Appends layers while tracking the feature map (NCHW, batch 1), for the hand-built networks."""

    def __init__(self, name: str, channels: int, size: int) -> None:
        self.net = Network(name, input_elems=channels * size * size)
        self.c, self.h, self.w = channels, size, size

    def conv(self, out: int, k: int, stride: int = 1, groups: int = 1) -> Builder:
        cin = self.c
        h, w = -(-self.h // stride), -(-self.w // stride)
        out_elems = out * h * w
        per_out = (cin // groups) * k * k
        if groups == cin and groups > 1:
            kind = "depthwise"
        elif k == 1:
            kind = "pointwise"
        else:
            kind = "conv"
        self.net.layers.append(
            Layer(kind, out_elems * per_out, out * per_out + out, cin * self.h * self.w, out_elems)
        )
        self.c, self.h, self.w = out, h, w
        return self

    def dw(self, k: int, stride: int = 1) -> Builder:
        return self.conv(self.c, k, stride, groups=self.c)

    def add(self) -> Builder:
        """A residual sum (or a multiply, e.g. squeeze-and-excite's scale)."""
        n = self.c * self.h * self.w
        self.net.layers.append(Layer("elementwise", 0, 0, 2 * n, n))
        return self

    def pool(self, stride: int) -> Builder:
        n = self.c * self.h * self.w
        self.h, self.w = -(-self.h // stride), -(-self.w // stride)
        self.net.layers.append(Layer("elementwise", 0, 0, n, self.c * self.h * self.w))
        return self

    def global_pool(self) -> Builder:
        n = self.c * self.h * self.w
        self.net.layers.append(Layer("elementwise", 0, 0, n, self.c))
        self.h = self.w = 1
        return self

    def fc(self, out: int) -> Builder:
        cin = self.c * self.h * self.w
        self.net.layers.append(Layer("fc", cin * out, cin * out + out, cin, out))
        self.c, self.h, self.w = out, 1, 1
        return self

    def squeeze_excite(self, squeeze: int) -> Builder:
        """Pool, two 1x1 convs on the pooled vector, and the channel-wise scale."""
        c, h, w = self.c, self.h, self.w
        n = c * h * w
        self.net.layers += [
            Layer("elementwise", 0, 0, n, c),
            Layer("fc", c * squeeze, c * squeeze + squeeze, c, squeeze),
            Layer("fc", squeeze * c, squeeze * c + c, squeeze, c),
            Layer("elementwise", 0, 0, n + c, n),
        ]
        return self
