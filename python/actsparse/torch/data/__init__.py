"""Datasets for the examples, NCHW float32:

- :mod:`~actsparse.torch.data.classification`: digits (offline), ImageFolder
  and CIFAR directories, ``(image, label)``;
- :mod:`~actsparse.torch.data.scenes`: an offline synthetic detection set
  (shapes of several classes on textured backgrounds, deterministic by seed);
- :mod:`~actsparse.torch.data.yolo_folder`: users' detection data in YOLO
  format (``images/``, ``labels/*.txt`` of ``class cx cy w h``).

Detection datasets yield ``(image [3, size, size] in [0, 1], targets [K, 5])``
with targets ``class, cx, cy, w, h`` normalised to [0, 1] (YOLO's convention);
:func:`detection_collate` batches them.
"""

from actsparse.torch.data.classification import (
    IMAGE_SUFFIXES,
    DatasetError,
    ImageFolderDataset,
    Splits,
    load_dataset,
    load_digits,
)
from actsparse.torch.data.scenes import SHAPES, SyntheticScenes, write_yolo_folder
from actsparse.torch.data.yolo_folder import YoloFolder, detection_collate

__all__ = [
    "IMAGE_SUFFIXES", "SHAPES", "DatasetError", "ImageFolderDataset", "Splits", "SyntheticScenes", "YoloFolder",
    "detection_collate", "load_dataset", "load_digits", "write_yolo_folder",
]
