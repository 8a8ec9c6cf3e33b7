#!/usr/bin/env python3
"""Train a CNN with activation sparsity (actsparse.torch.SparsityController).

The reference recipe (METHOD.md): Adam, linear LR decay, label smoothing 0.1,
gradient clipping 10; sparsity ramps with a power-2 polynomial from 10% to 50%
of the run, masks chosen by the lnorm criterion, then frozen from the
lowest-loss draw and fine-tuned. Optional distillation from a dense teacher
(KL on softmax, weight 5).

Writes to --out: model.pt (whole model, eval mode, frozen masks: convert it
with `python converter/convert.py OUT/model.pt OUT/model.tflite`),
checkpoint.pt (resume with --resume), masks.png, metrics.json.

examples:
  # offline: scikit-learn's digits, small CNN, sparsity 0.2 (about a minute)
  python examples/train.py --data digits --sparsity 0.2 --out runs/digits-s0.2
  # your data: ImageFolder (train/ and val/) or CIFAR python batches
  python examples/train.py --data ~/data/cifar-10-batches-py --model resnet18 --epochs 60 \\
      --sparsity 0.3 --skip-1x1 --out runs/cifar-s0.3
  # distil from a dense run
  python examples/train.py --data digits --sparsity 0.3 --teacher runs/dense/model.pt --out runs/kd
  # two processes with DDP (gloo on CPU)
  torchrun --standalone --nproc_per_node 2 examples/train.py --data digits --sparsity 0.2 --out runs/ddp
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

MODELS = ("small_cnn", "resnet18", "mobilenet_v2")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="digits", help="'digits' (offline) or a dataset directory")
    p.add_argument("--model", choices=MODELS, default="small_cnn")
    p.add_argument("--image-size", type=int, default=32, help="square input side in pixels (default 32)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=10.0)
    p.add_argument("--sparsity", type=float, default=0.2, help="target sparsity; 0 trains dense")
    p.add_argument("--criterion", choices=("lnorm", "random"), default="lnorm")
    p.add_argument("--begin", type=float, default=0.1, help="ramp start, fraction of the run (default 0.1)")
    p.add_argument("--end", type=float, default=0.5, help="ramp end / freeze, fraction of the run (default 0.5)")
    p.add_argument("--frequency", type=int, default=1, help="steps between mask draws while ramping")
    p.add_argument("--skip-1x1", action="store_true", help="leave 1x1 convs dense")
    p.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                   help="leave convs whose module path matches PATTERN (fnmatch) dense; repeatable")
    p.add_argument("--skip-first", action="store_true")
    p.add_argument("--skip-last", action="store_true")
    p.add_argument("--teacher", type=Path, help="a dense model (.pt) to distil from")
    p.add_argument("--distill-weight", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if _cuda() else "cpu")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N epochs of this invocation (checkpointed); --resume continues")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def build_model(name: str, num_classes: int):
    from actsparse.torch import models

    return getattr(models, name)(num_classes=num_classes)


def evaluate(model, loader, device) -> float:
    """Top-1 accuracy in percent."""
    import torch

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
            total += len(y)
    return 100.0 * correct / max(total, 1)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from tqdm import tqdm

    from actsparse.torch.checkpoint import load_training_state, save_run_outputs, save_training_state
    from actsparse.torch.data import load_dataset
    from actsparse.torch.training import SparsityController

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
        if args.device.startswith("cuda"):
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    splits = load_dataset(args.data, args.image_size, args.seed)
    sampler = DistributedSampler(splits.train, world, rank, shuffle=True, seed=args.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(splits.train, args.batch_size, shuffle=sampler is None, sampler=sampler,
                              drop_last=True, num_workers=args.workers, generator=generator)
    test_loader = DataLoader(splits.test, 256, num_workers=args.workers)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * args.epochs

    model = build_model(args.model, splits.num_classes).to(device)
    example = torch.zeros(1, 3, args.image_size, args.image_size)
    controller = None
    if args.sparsity > 0:
        controller = SparsityController(
            model, example, args.sparsity, total_steps=total_steps, begin_step=args.begin,
            end_step=args.end, frequency=args.frequency, criterion=args.criterion,
            skip_1x1=args.skip_1x1, skip=args.skip, skip_first=args.skip_first,
            skip_last=args.skip_last, seed=args.seed)
    teacher = None
    if args.teacher:
        teacher = torch.load(args.teacher, map_location=device, weights_only=False).eval()
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / max(total_steps, 1))

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = args.out / "checkpoint.pt"
    start_epoch, history = 0, []
    if args.resume:
        start_epoch, history = load_training_state(checkpoint_path, model=model, optimizer=optimizer,
                                                   schedule=schedule, controller=controller, generator=generator,
                                                   map_location=device)

    started = time.time()
    show = rank == 0 and not args.quiet
    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_model.train()
        losses = []
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", disable=not show,
                   leave=False)
        for i, (x, y) in enumerate(bar):
            step = epoch * steps_per_epoch + i
            if controller is not None:
                controller.before_step(step)
            x, y = x.to(device), y.to(device)
            # Random shifts of up to 1/16 of the side: cheap augmentation.
            shift = max(1, args.image_size // 16)
            dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=generator))
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            logits = train_model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            if teacher is not None:
                with torch.no_grad():
                    target = F.softmax(teacher(x), dim=1)
                loss = loss + args.distill_weight * F.kl_div(F.log_softmax(logits, 1), target,
                                                             reduction="batchmean")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            schedule.step()
            if controller is not None:
                controller.after_step(step, loss)
            losses.append(float(loss.detach()))
            if show:
                sparsity = np.mean(list(controller.current_sparsity().values())) if controller else 0.0
                bar.set_postfix(loss=f"{losses[-1]:.3f}", sparsity=f"{sparsity:.3f}")
        accuracy = evaluate(model, test_loader, device)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "top1": accuracy})
        if show:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.4f}, top-1 {accuracy:.2f}%"
                  + (f", frozen={controller.frozen}" if controller else ""), file=sys.stderr)
        if rank == 0:
            save_training_state(checkpoint_path, model=model, optimizer=optimizer, schedule=schedule,
                                controller=controller, generator=generator, epoch=epoch + 1, history=history,
                                args=vars(args))

    if last_epoch < args.epochs:
        print(f"stopped after epoch {last_epoch}/{args.epochs}; continue with --resume", file=sys.stderr)
        if world > 1:
            torch.distributed.destroy_process_group()
        return {"stopped_after_epoch": last_epoch, "history": history}
    if controller is not None and not controller.frozen:
        controller.before_step(controller.schedule.end_step)  # a run shorter than end: freeze now
    accuracy = evaluate(model, test_loader, device)
    metrics = {"model": args.model, "data": splits.description, "train_images": len(splits.train),
               "test_images": len(splits.test), "sparsity": args.sparsity,
               "criterion": args.criterion, "epochs": args.epochs, "top1": accuracy,
               "train_seconds": round(time.time() - started, 1), "world_size": world,
               "layer_sparsity": controller.current_sparsity() if controller else {},
               "best_step": controller.best_step if controller else None, "history": history}
    if rank == 0:
        saved = save_run_outputs(args.out, model=model, controller=controller, metrics=metrics)
        print(f"top-1 {accuracy:.2f}% -> {saved}", file=sys.stderr)
    if world > 1:
        torch.distributed.destroy_process_group()
    return metrics


if __name__ == "__main__":
    from actsparse.torch.data import DatasetError
    from actsparse.torch.masks import MaskError

    try:
        main()
    except (DatasetError, MaskError) as exc:
        raise SystemExit(f"error: {exc}") from None
