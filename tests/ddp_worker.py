"""Run under torchrun by tests/test_training_ddp.py: two ranks train a small CNN
with DDP on *different* data and record a digest of the masks in force at
every step. Buffers are not broadcast (broadcast_buffers=False), so equal
masks come from the controller alone. Rank 0 writes all ranks' records to
the JSON file given as argv[1]."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from actsparse.torch.models import small_cnn  # noqa: E402
from actsparse.torch.training import SparsityController  # noqa: E402


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # same initial weights on every rank
    model = small_cnn(width=8)
    controller = SparsityController(model, torch.zeros(1, 3, 16, 16), 0.3, begin_step=2, end_step=10,
                                    criterion="lnorm", seed=11)
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = torch.Generator().manual_seed(100 + rank)  # each rank its own batches
    digests, losses = [], []
    for step in range(14):
        controller.before_step(step)
        masks = controller.masks()
        digests.append(hashlib.sha1(b"".join(m.tobytes() for m in masks.values())).hexdigest())
        x = torch.randn(8, 3, 16, 16, generator=data)
        y = torch.randint(0, 10, (8,), generator=data)
        loss = F.cross_entropy(ddp(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        controller.after_step(step, loss)
        losses.append(float(loss))
    record = {"rank": rank, "digests": digests, "losses": losses, "best_step": controller.best_step,
              "frozen": controller.frozen, "sparsity": controller.current_sparsity()}
    gathered = [None] * world
    dist.all_gather_object(gathered, record)
    if rank == 0:
        Path(sys.argv[1]).write_text(json.dumps(gathered, indent=1))
    # No rank tears the group down while another still talks through it:
    # rank 1 leaving while rank 0 wrote the file made rank 0's gloo abort
    # (SIGABRT, "terminate called without an active exception") once, in a
    # full test run on a loaded host.
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
