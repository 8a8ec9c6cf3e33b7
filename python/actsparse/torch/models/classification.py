"""ResNet-18/34, MobileNetV2 and MobileNetV3-Large in their ImageNet layouts
(NCHW, 224x224 input), and a small CNN for quick CPU experiments (NCHW, any
input of 16x16 or more).

Written for actsparse (no torchvision here). Module paths follow the familiar
naming (``conv1``, ``layer1.0.conv1``, ``features.1.conv.0.0``) so masks
exported by other tools match by name.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN stages with an identity or 1x1-conv shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    """ResNet with basic blocks; ``blocks`` = blocks per stage (ResNet-18: 2, 2, 2, 2)."""

    def __init__(self, blocks: tuple[int, int, int, int], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        in_channels = 64
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            layer = nn.Sequential(BasicBlock(in_channels, width, stride),
                                  *(BasicBlock(width, width) for _ in range(blocks[index] - 1)))
            setattr(self, f"layer{index + 1}", layer)
            in_channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet18(ResNet):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__((2, 2, 2, 2), num_classes)


class ResNet34(ResNet):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__((3, 4, 6, 3), num_classes)


def conv_bn_act(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
                activation: Callable[[], nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    """Conv (same padding, no bias) -> BN [-> activation()]: module paths ``.0``, ``.1``, ``.2``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def conv_bn_relu6(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    return conv_bn_act(in_channels, out_channels, kernel, stride, groups, activation=lambda: nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t=1) -> 3x3 depthwise -> 1x1 linear projection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(in_channels, hidden, 1))
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV2(nn.Module):
    # (expand ratio t, output channels c, repeats n, first stride s)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        in_channels = _make_divisible(32 * width_mult)
        last_channels = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [conv_bn_relu6(3, in_channels, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            out_channels = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(in_channels, out_channels, s if i == 0 else 1, t))
                in_channels = out_channels
        features.append(conv_bn_relu6(in_channels, last_channels, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channels, num_classes))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.classifier(torch.flatten(x, 1))


class SqueezeExcitation(nn.Module):
    """Channel gate: global average pool -> 1x1 (ReLU) -> 1x1 (hard sigmoid) -> scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = _make_divisible(channels / 4)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(scale))))
        return x * scale


class MobileNetV3Block(nn.Module):
    """1x1 expand (skipped when it would not widen) -> k x k depthwise ->
    optional squeeze-excitation -> 1x1 linear projection (+ residual)."""

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int, squeeze: bool,
                 activation: type[nn.Module], stride: int) -> None:
        super().__init__()
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, 1, activation=activation))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, activation=activation))
        if squeeze:
            layers.append(SqueezeExcitation(expanded))
        layers.append(conv_bn_act(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_residual else self.block(x)


class MobileNetV3Large(nn.Module):
    # (kernel, expanded channels, output channels, squeeze-excitation, hard-swish, stride): the
    # paper's Table 1 (Howard et al., 2019)
    SETTINGS = ((3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
                (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
                (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
                (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
                (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        features: list[nn.Module] = [conv_bn_act(3, 16, 3, 2)]
        in_channels = 16
        for kernel, expanded, out_channels, squeeze, hard_swish, stride in self.SETTINGS:
            activation = nn.Hardswish if hard_swish else nn.ReLU
            features.append(MobileNetV3Block(in_channels, kernel, expanded, out_channels, squeeze, activation,
                                             stride))
            in_channels = out_channels
        features.append(conv_bn_act(in_channels, 960, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Linear(960, 1280), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(1280, num_classes))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def _init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def resnet18(num_classes: int = 1000) -> ResNet18:
    """ResNet-18 (11.7 M parameters at 1000 classes), random weights."""
    return ResNet18(num_classes)


def resnet34(num_classes: int = 1000) -> ResNet34:
    """ResNet-34 (21.8 M parameters at 1000 classes), random weights."""
    return ResNet34(num_classes)


def mobilenet_v3_large(num_classes: int = 1000) -> MobileNetV3Large:
    """MobileNetV3-Large (5.5 M parameters at 1000 classes): 3x3 and 5x5 depthwise
    convs, squeeze-excitation, hard-swish. Random weights."""
    return MobileNetV3Large(num_classes)


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV2:
    """MobileNetV2 (3.5 M parameters at 1000 classes, width 1.0), random weights."""
    return MobileNetV2(num_classes, width_mult)


class SmallCNN(nn.Module):
    """Five 3x3 conv-BN-ReLU layers (two of stride 2), global average pool, linear.

    About 15 M MACs at 32x32; every conv is maskable. Module paths:
    ``features.{0..4}.conv``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        plan = [(in_channels, width, 1), (width, width, 2), (width, 2 * width, 1),
                (2 * width, 2 * width, 2), (2 * width, 4 * width, 1)]
        layers = []
        for cin, cout, stride in plan:
            block = nn.Module()
            block.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            block.bn = nn.BatchNorm2d(cout)
            layers.append(block)
        self.features = nn.ModuleList(layers)
        self.classifier = nn.Linear(4 * width, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.features:
            x = torch.relu(block.bn(block.conv(x)))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def small_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 32) -> SmallCNN:
    """:class:`SmallCNN`, random weights."""
    return SmallCNN(num_classes, in_channels, width)


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms (in place).

    Freshly initialised BN is the identity in eval mode; tests and benchmarks
    use this so BN folding is actually exercised.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=generator) * 0.5 + 0.75)
                module.weight.copy_(torch.rand(c, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(c, generator=generator) * 0.1)
    return model
