"""PyTorch side of actsparse: activation masks on convolutions, sparse
training (:mod:`actsparse.torch.training`), models, datasets.

Importing this package imports torch. Layouts here are PyTorch's: activations
NCHW, masks ``[H_out, W_out]`` with 1 = keep.
"""

from actsparse.torch.bin_mask import import_bin_mask, read_bin_mask, write_bin_mask
from actsparse.torch.masks import (
    MaskedConv2d,
    MaskError,
    attach_masks,
    eligible_convs,
    masked_convs,
    set_mask,
)
from actsparse.torch.resample import resample_masks
from actsparse.torch.training import PolynomialSchedule, SparsityController

__all__ = [
    "MaskError",
    "MaskedConv2d",
    "PolynomialSchedule",
    "SparsityController",
    "attach_masks",
    "eligible_convs",
    "import_bin_mask",
    "masked_convs",
    "read_bin_mask",
    "resample_masks",
    "set_mask",
    "write_bin_mask",
]
