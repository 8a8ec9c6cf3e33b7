"""Image-classification datasets for the training example, as NCHW float32.

- ``digits``: the 1797 8x8 handwritten digits that ship inside scikit-learn
  (no download), upscaled to ``size`` x ``size`` and repeated to 3 channels;
  a fixed stratified 80/20 train/test split.
- an ImageFolder directory: ``ROOT/train/CLASS/*.png|jpg`` and
  ``ROOT/val/CLASS/...`` (or ``test``), read lazily with Pillow.
- a CIFAR-10/100 "python version" directory (``data_batch_*``/``test_batch``,
  or ``train``/``test`` for CIFAR-100).

Every dataset yields ``(image [3, size, size] float32 normalised, label int)``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm"}


class DatasetError(ValueError):
    """A dataset directory is missing or not in a layout we read."""


@dataclass
class Splits:
    train: Dataset
    test: Dataset
    num_classes: int
    classes: list[str]
    description: str


def _normalise(images: torch.Tensor) -> torch.Tensor:
    """Maps [0, 1] pixels to roughly zero mean, unit scale: (x - 0.5) / 0.25."""
    return (images - 0.5) / 0.25


def load_digits(size: int = 32, seed: int = 0) -> Splits:
    """scikit-learn's digits (offline), ``[N, 3, size, size]``, 1438 train / 359 test
    (20% of each class, rounded, held out)."""
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    images = torch.from_numpy(data.images.astype(np.float32) / 16.0)[:, None]  # [N, 1, 8, 8], 0..1
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = _normalise(images.clamp(0, 1)).repeat(1, 3, 1, 1).contiguous()
    labels = torch.from_numpy(data.target.astype(np.int64))
    rng = np.random.default_rng(seed)
    test_index = []
    for label in range(10):  # stratified: 20% of every class
        members = np.flatnonzero(data.target == label)
        test_index.extend(rng.permutation(members)[: round(0.2 * len(members))])
    is_test = np.zeros(len(labels), bool)
    is_test[test_index] = True
    train = TensorDataset(images[~is_test], labels[~is_test])
    test = TensorDataset(images[is_test], labels[is_test])
    return Splits(train, test, 10, [str(d) for d in range(10)],
                  f"scikit-learn digits upscaled to {size}x{size}: {len(train)} train / {len(test)} test")


class ImageFolderDataset(Dataset):
    """``root/CLASS/*.image`` read lazily, resized to ``size`` x ``size``, RGB."""

    def __init__(self, root: Path, size: int, classes: list[str] | None = None) -> None:
        self.root, self.size = Path(root), size
        found = sorted(d.name for d in self.root.iterdir() if d.is_dir())
        self.classes = classes if classes is not None else found
        if not self.classes:
            raise DatasetError(f"{root}: no class directories")
        self.samples = [(path, index) for index, name in enumerate(self.classes)
                        for path in sorted((self.root / name).glob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
        if not self.samples:
            raise DatasetError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class directories")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read image: {exc}") from None
        array = torch.from_numpy(np.asarray(rgb, np.float32) / 255.0).permute(2, 0, 1)
        return _normalise(array), label


def _load_cifar(root: Path, size: int) -> Splits:
    def read(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in names:
            with open(root / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            images.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch.get("labels", batch.get("fine_labels", [])))
        x = torch.from_numpy(np.concatenate(images).astype(np.float32) / 255.0)
        if size != 32:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return _normalise(x), torch.tensor(labels, dtype=torch.int64)

    if (root / "data_batch_1").exists():
        train_names = sorted(p.name for p in root.glob("data_batch_*"))
        test_names = ["test_batch"]
    else:
        train_names, test_names = ["train"], ["test"]
    x_train, y_train = read(train_names)
    x_test, y_test = read(test_names)
    classes = int(max(y_train.max(), y_test.max())) + 1
    return Splits(TensorDataset(x_train, y_train), TensorDataset(x_test, y_test), classes,
                  [str(c) for c in range(classes)], f"CIFAR batches in {root}: {len(y_train)} train / {len(y_test)} test")


def load_dataset(spec: str, size: int = 32, seed: int = 0) -> Splits:
    """``"digits"`` or a directory (ImageFolder with train/ and val/ or test/, or CIFAR batches).

    Raises:
        DatasetError: the directory does not exist or is in neither layout.
    """
    if spec == "digits":
        return load_digits(size, seed)
    root = Path(spec)
    if not root.is_dir():
        raise DatasetError(f"{spec}: not 'digits' and not a directory")
    if (root / "data_batch_1").exists() or ((root / "train").is_file() and (root / "test").is_file()):
        return _load_cifar(root, size)
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DatasetError(f"{root}: expected train/ and val/ (or test/) class directories, "
                           "or CIFAR python batches (data_batch_1 ... test_batch)")
    train = ImageFolderDataset(root / "train", size)
    test = ImageFolderDataset(test_dir, size, train.classes)
    return Splits(train, test, len(train.classes), train.classes,
                  f"image folders in {root}: {len(train)} train / {len(test)} {test_dir.name}")
