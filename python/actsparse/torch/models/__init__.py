"""Networks written for actsparse (no torchvision here), NCHW:

- :mod:`~actsparse.torch.models.classification`: ResNet-18/34, MobileNetV2,
  MobileNetV3-Large in their ImageNet layouts, and a small CNN;
- :mod:`~actsparse.torch.models.yolo`: a YOLOv8n-class single-stage detector.

Every name is importable from here (``from actsparse.torch.models import
resnet18, yolo_detector``); models pickled before the split load as before.
"""

from actsparse.torch.models.classification import (
    BasicBlock,
    InvertedResidual,
    MobileNetV2,
    MobileNetV3Block,
    MobileNetV3Large,
    ResNet,
    ResNet18,
    ResNet34,
    SmallCNN,
    SqueezeExcitation,
    conv_bn_act,
    conv_bn_relu6,
    mobilenet_v2,
    mobilenet_v3_large,
    randomize_batchnorm,
    resnet18,
    resnet34,
    small_cnn,
)
from actsparse.torch.models.yolo import C2f, ConvBnSiLU, DetectHead, SPPF, YoloDetector, yolo_detector

__all__ = [
    "BasicBlock", "C2f", "ConvBnSiLU", "DetectHead", "InvertedResidual", "MobileNetV2", "MobileNetV3Block",
    "MobileNetV3Large", "ResNet", "ResNet18", "ResNet34", "SPPF", "SmallCNN", "SqueezeExcitation",
    "YoloDetector", "conv_bn_act", "conv_bn_relu6", "mobilenet_v2", "mobilenet_v3_large",
    "randomize_batchnorm", "resnet18", "resnet34", "small_cnn", "yolo_detector",
]
