"""The parameter grid of masked-chain models for the delegate exactness tests.

Deterministic: ``grid()`` always yields the same configurations and
``build(config)`` the same model bytes and input.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from actsparse.tflite.builder import GraphBuilder


@dataclass(frozen=True)
class Config:
    index: int
    kernel: int
    stride: int
    dilation: int
    padding: str          # "same", "valid" or "pad" (explicit PAD + VALID conv)
    depthwise: bool
    multiplier: int
    density: float        # fraction of active pixels: 0.0 = all masked, 1.0 = none masked
    activation: str
    with_add: bool
    conv_bias: bool
    batch: int
    in_channels: int
    out_channels: int
    height: int
    width: int
    two_chains: bool      # a second masked chain fed directly by the first
    groups: int = 1       # a grouped CONV_2D (ResNeXt, RegNet): filters of in_channels / groups

    @property
    def chains(self) -> int:
        return 2 if self.two_chains else 1

    def __str__(self) -> str:
        kind = f"dw{self.multiplier}" if self.depthwise else f"conv{f'-g{self.groups}' if self.groups > 1 else ''}"
        return (f"{self.index:03d}-{kind}-k{self.kernel}s{self.stride}d{self.dilation}-{self.padding}-"
                f"m{self.density}-{self.activation}{'' if self.with_add else '-noadd'}-n{self.batch}"
                f"{'-2x' if self.two_chains else ''}")


def grid() -> list[Config]:
    configs = []
    rng = np.random.default_rng(2024)
    axes = itertools.product((1, 3, 5, 7), (1, 2), (1, 2), ("same", "valid", "pad"),
                             (False, True))
    for i, (kernel, stride, dilation, padding, depthwise) in enumerate(axes):
        for j in range(5 if kernel in (1, 3) else 2):
            index = len(configs)
            density = (0.0, 0.3, 0.7, 1.0, 0.5)[(i + j) % 5]
            height = int(rng.integers(dilation * (kernel - 1) + 2, dilation * (kernel - 1) + 12))
            width = int(rng.integers(dilation * (kernel - 1) + 2, dilation * (kernel - 1) + 12))
            configs.append(Config(
                index=index, kernel=kernel, stride=stride, dilation=dilation, padding=padding,
                depthwise=depthwise, multiplier=1 + (index % 2 if depthwise else 0), density=density,
                activation=("none", "relu", "relu6", "relu_n1_to_1")[index % 4],
                with_add=index % 7 != 3, conv_bias=index % 3 == 1, batch=1 + index % 2,
                in_channels=int(rng.choice((1, 3, 5, 8, 13))), out_channels=int(rng.choice((1, 4, 7, 16, 19))),
                height=height, width=width, two_chains=index % 6 == 5))
    # Grouped convs, after the rest so that their configurations stay as they were.
    grouped_rng = np.random.default_rng(2025)
    for kernel, stride, groups in itertools.product((1, 3, 5), (1, 2), (2, 3, 4)):
        index = len(configs)
        dilation = 1 + index % 2 if kernel > 1 else 1
        span = dilation * (kernel - 1)
        configs.append(Config(
            index=index, kernel=kernel, stride=stride, dilation=dilation,
            padding=("same", "valid", "pad")[index % 3], depthwise=False, multiplier=1,
            density=(0.0, 0.3, 0.7, 1.0, 0.5)[index % 5], activation=("none", "relu", "relu6", "relu_n1_to_1")[index % 4],
            with_add=index % 7 != 3, conv_bias=index % 3 == 1, batch=1 + index % 2,
            in_channels=groups * int(grouped_rng.choice((1, 2, 5, 8))),
            out_channels=groups * int(grouped_rng.choice((1, 3, 6, 16))),
            height=int(grouped_rng.integers(span + 2, span + 12)), width=int(grouped_rng.integers(span + 2, span + 12)),
            two_chains=index % 4 == 1, groups=groups))
    return configs


def _chain(g: GraphBuilder, x: int, c: Config, rng: np.random.Generator, name: str,
           in_channels: int) -> int:
    _, h, w, _ = g.shape(x)
    k, d = c.kernel, c.dilation
    pad = None
    padding = c.padding
    if padding == "pad":
        total = d * (k - 1)
        pad = (total // 2, total - total // 2, total // 2 + total % 2, total // 2)  # asymmetric when odd
        padding = "valid"
    if c.depthwise:
        out_channels = in_channels * c.multiplier
        weights = rng.normal(0, 0.5, (1, k, k, out_channels))
    else:
        out_channels = c.out_channels
        group_in = in_channels // c.groups
        weights = rng.normal(0, 1 / np.sqrt(k * k * group_in), (out_channels, k, k, group_in))
    from actsparse.tflite.builder import conv_output_size
    ph = h + (pad[0] + pad[1] if pad else 0)
    pw = w + (pad[2] + pad[3] if pad else 0)
    oh = conv_output_size(ph, k, c.stride, d, padding)
    ow = conv_output_size(pw, k, c.stride, d, padding)
    mask = (rng.permutation(oh * ow) < round(c.density * oh * ow)).astype(np.uint8).reshape(oh, ow)
    return g.masked_conv2d(
        x, weights, rng.normal(0, 0.5, out_channels), mask, depthwise=c.depthwise,
        activation=c.activation, name=name, stride=c.stride, dilation=d, padding=padding,
        conv_bias=rng.normal(0, 0.5, out_channels) if c.conv_bias else None,
        with_add=c.with_add, pad=pad)


def build(c: Config) -> tuple[bytes, np.ndarray]:
    """The annotated model and an input for it."""
    rng = np.random.default_rng(c.index)
    g = GraphBuilder()
    x = g.input("input", (c.batch, c.height, c.width, c.in_channels))
    y = _chain(g, x, c, rng, "chain0", c.in_channels)
    if c.two_chains:
        y = _chain(g, y, Config(**{**c.__dict__, "padding": "same", "stride": 1, "dilation": 1,
                                   "kernel": 3}), rng, "chain1", g.shape(y)[3])
    return g.finish([y], annotate=True), rng.standard_normal((c.batch, c.height, c.width, c.in_channels)).astype(np.float32)
