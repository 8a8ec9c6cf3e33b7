"""Datasets of the training example (actsparse.torch.data): offline digits,
ImageFolder and CIFAR directories, and their error messages."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from actsparse.torch.data import DatasetError, load_dataset


def test_digits_are_offline_nchw_and_stratified():
    splits = load_dataset("digits", size=16, seed=0)
    assert (len(splits.train), len(splits.test), splits.num_classes) == (1438, 359, 10)
    x, y = splits.train[0]
    assert tuple(x.shape) == (3, 16, 16) and str(x.dtype) == "torch.float32"
    labels = np.array([int(splits.test[i][1]) for i in range(len(splits.test))])
    assert all(30 <= (labels == c).sum() <= 40 for c in range(10))  # ~20% of each class


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    splits = load_dataset(str(tmp_path), size=8)
    assert splits.classes == ["cat", "dog"] and len(splits.train) == 6 and len(splits.test) == 4
    x, y = splits.test[3]
    assert tuple(x.shape) == (3, 8, 8) and y == 1
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"not a png")
    broken = load_dataset(str(tmp_path), size=8).train
    index = [path.name for path, _ in broken.samples].index("broken.png")
    with pytest.raises(DatasetError, match="broken.png: cannot read image"):
        broken[index]


def test_cifar_batches(tmp_path):
    rng = np.random.default_rng(1)
    for name, count in (("data_batch_1", 5), ("data_batch_2", 4), ("test_batch", 3)):
        batch = {"data": rng.integers(0, 255, (count, 3072), dtype=np.uint8), "labels": list(range(count))}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    splits = load_dataset(str(tmp_path), size=32)
    assert len(splits.train) == 9 and len(splits.test) == 3 and splits.num_classes == 5
    assert tuple(splits.train[0][0].shape) == (3, 32, 32)


def test_bad_directories_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="not 'digits' and not a directory"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="expected train/ and val/"):
        load_dataset(str(tmp_path))
    (tmp_path / "val" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(str(tmp_path))
