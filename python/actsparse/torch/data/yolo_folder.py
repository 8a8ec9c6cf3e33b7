"""Users' detection data in YOLO format.

Layout: ``ROOT/images/NAME.png|jpg|...`` and ``ROOT/labels/NAME.txt``, one
line per box, ``class cx cy w h`` (class an integer from 0, the rest
normalised to [0, 1] of the image's width and height); an image without a
label file has no boxes. An optional ``ROOT/classes.txt`` names the classes,
one per line.

Images are resized to ``size`` x ``size`` (stretched: normalised boxes stay
valid), as float32 ``[3, size, size]`` in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from actsparse.torch.data.classification import IMAGE_SUFFIXES, DatasetError


def _read_labels(path: Path, num_classes: int | None) -> np.ndarray:
    if not path.is_file():
        return np.zeros((0, 5), np.float32)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if len(values) != 5 or values[0] != int(values[0]) or values[0] < 0:
            raise DatasetError(f"{path}:{number}: expected 'class cx cy w h' (class an integer >= 0), got {line!r}")
        if num_classes is not None and values[0] >= num_classes:
            raise DatasetError(f"{path}:{number}: class {int(values[0])} but classes.txt names {num_classes}")
        if not all(0.0 <= v <= 1.0 for v in values[1:]) or values[3] <= 0 or values[4] <= 0:
            raise DatasetError(f"{path}:{number}: cx cy w h must be in [0, 1] with w, h > 0, got {line!r}")
        rows.append(values)
    return np.asarray(rows, np.float32).reshape(-1, 5)


class YoloFolder(Dataset):
    """Items ``(image [3, size, size] float32 in [0, 1], targets [K, 5])``."""

    def __init__(self, root: str | Path, size: int = 320) -> None:
        root = Path(root)
        if not (root / "images").is_dir():
            raise DatasetError(f"{root}: no images/ directory (YOLO layout: images/ and labels/*.txt)")
        self.root, self.size = root, size
        self.images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.images:
            raise DatasetError(f"{root / 'images'}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        names = root / "classes.txt"
        self.class_names = [n.strip() for n in names.read_text().splitlines() if n.strip()] if names.is_file() else None
        self.labels = [_read_labels(root / "labels" / (p.stem + ".txt"),
                                    len(self.class_names) if self.class_names else None) for p in self.images]
        if self.class_names is None:
            found = [int(t[:, 0].max()) + 1 for t in self.labels if len(t)]
            self.class_names = [str(i) for i in range(max(found, default=1))]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.images[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        except OSError as exc:
            raise DatasetError(f"{path}: not a readable image ({exc})") from None
        pixels = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1).contiguous()
        return pixels, torch.from_numpy(self.labels[index])


def detection_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Images stacked ``[N, 3, S, S]``; targets kept as a list of ``[K_i, 5]``."""
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)
