#!/usr/bin/env python3
"""Train the YOLOv8n-class detector (actsparse.torch.models.yolo) with
activation sparsity (actsparse.torch.SparsityController), and report COCO
mAP@0.5 and mAP@0.5:0.95 (pycocotools) on held-out images.

Data: the offline synthetic scenes (default; shapes of several classes on
textured backgrounds, actsparse.torch.data.SyntheticScenes) or a YOLO-format
folder (images/, labels/*.txt of "class cx cy w h"; with train/ and val/
subfolders, else a seeded 80/20 split). Losses: actsparse.torch.detection
(centre-based assignment, GIoU + distribution focal loss + class BCE);
optional distillation from a dense teacher on the raw head outputs.
Sparsity follows the reference schedule (METHOD.md): ramp from 10% to 50%
of the run, the lowest-loss draw frozen, then fine-tuning.

Writes to --out: model.pt (whole model, eval mode, frozen masks: convert
it with `python converter/convert.py OUT/model.pt OUT/model.tflite`),
checkpoint.pt (resume with --resume), masks.png, metrics.json.

examples:
  # offline, tiny (a minute or two on 2 cores)
  python examples/train_detect.py --epochs 3 --train-images 128 --sparsity 0.2 --out runs/det-s0.2
  # a dense teacher, then a sparse student distilled from it
  python examples/train_detect.py --epochs 30 --sparsity 0 --out runs/det-dense
  python examples/train_detect.py --epochs 30 --sparsity 0.3 --teacher runs/det-dense/model.pt --out runs/det-kd
  # your data (YOLO format), the "n" widths, 320x320
  python examples/train_detect.py --data ~/data/my-yolo --image-size 320 --widths 16,32,64,128,256 \\
      --depths 1,2,2,1 --epochs 100 --sparsity 0.3 --out runs/mine
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="synthetic", help="'synthetic' (offline) or a YOLO-format folder")
    p.add_argument("--image-size", type=int, default=128, help="square input side, a multiple of 32 (default 128)")
    p.add_argument("--train-images", type=int, default=512, help="synthetic: training images (default 512)")
    p.add_argument("--val-images", type=int, default=128, help="synthetic: held-out images (default 128)")
    p.add_argument("--num-classes", type=int, default=3, help="synthetic: shape classes, 1-5 (default 3)")
    p.add_argument("--widths", type=_ints, default=(8, 16, 32, 64, 128),
                   help="the five backbone widths (default 8,16,32,64,128; the 'n' scale is 16,32,64,128,256)")
    p.add_argument("--depths", type=_ints, default=(1, 1, 1, 1), help="bottlenecks per stage (default 1,1,1,1)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--grad-clip", type=float, default=10.0)
    p.add_argument("--sparsity", type=float, default=0.2, help="target sparsity; 0 trains dense")
    p.add_argument("--criterion", choices=("lnorm", "random"), default="lnorm")
    p.add_argument("--begin", type=float, default=0.1, help="ramp start, fraction of the run")
    p.add_argument("--end", type=float, default=0.5, help="ramp end / freeze, fraction of the run")
    p.add_argument("--skip-1x1", action="store_true", help="leave 1x1 convs dense")
    p.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                   help="leave convs whose module path matches PATTERN (fnmatch) dense, e.g. 'head.*'; repeatable")
    p.add_argument("--teacher", type=Path, help="a dense detector (.pt) to distil from")
    p.add_argument("--distill-weight", type=float, default=1.0)
    p.add_argument("--score-threshold", type=float, default=0.01, help="detections kept for mAP (default 0.01)")
    p.add_argument("--iou-threshold", type=float, default=0.6, help="NMS IoU threshold (default 0.6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N epochs of this invocation (checkpointed); --resume continues")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.image_size % 32 or args.image_size < 64:
        p.error(f"--image-size must be a multiple of 32 and at least 64, got {args.image_size}")
    if len(args.widths) != 5 or len(args.depths) != 4:
        p.error(f"--widths needs 5 values and --depths 4, got {len(args.widths)} and {len(args.depths)}")
    if not 0 <= args.sparsity < 1:
        p.error(f"--sparsity must be in [0, 1), got {args.sparsity}")
    return args


def load_data(args: argparse.Namespace):
    """(train set, validation set, class names)."""
    import torch
    from torch.utils.data import Subset

    from actsparse.torch.data import SyntheticScenes, YoloFolder

    if args.data == "synthetic":
        train = SyntheticScenes(args.train_images, args.image_size, args.num_classes, seed=args.seed)
        val = SyntheticScenes(args.val_images, args.image_size, args.num_classes, seed=args.seed + 10_000)
        return train, val, train.class_names
    root = Path(args.data).expanduser()
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = YoloFolder(root / "train", args.image_size), YoloFolder(root / "val", args.image_size)
        return train, val, train.class_names
    full = YoloFolder(root, args.image_size)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(args.seed)).tolist()
    cut = max(1, len(full) // 5)
    return Subset(full, order[cut:]), Subset(full, order[:cut]), full.class_names


def evaluate(model, loader, num_classes: int, image_size: int, args: argparse.Namespace):
    import torch

    from actsparse.detect import mean_average_precision, postprocess

    model.eval()
    found, truths = [], []
    with torch.no_grad():
        for images, targets in loader:
            outputs = [o.numpy() for o in model(images)]
            found += postprocess(outputs, num_classes, score_threshold=args.score_threshold,
                                 iou_threshold=args.iou_threshold)
            truths += [t.numpy() for t in targets]
    return mean_average_precision(found, truths, (image_size, image_size), num_classes)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from actsparse.torch.checkpoint import load_training_state, save_run_outputs, save_training_state
    from actsparse.torch.data import detection_collate
    from actsparse.torch.detection import DetectionLoss, distillation_loss
    from actsparse.torch.models import yolo_detector
    from actsparse.torch.training import SparsityController

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_set, val_set, class_names = load_data(args)
    num_classes = len(class_names)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, drop_last=len(train_set) >= args.batch_size,
                              collate_fn=detection_collate, generator=generator)
    val_loader = DataLoader(val_set, 32, collate_fn=detection_collate)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * args.epochs

    model = yolo_detector(num_classes, args.widths, args.depths)
    model.head.reset_biases(args.image_size)
    size = args.image_size
    controller = None
    if args.sparsity > 0:
        controller = SparsityController(model, torch.zeros(1, 3, size, size), args.sparsity, total_steps=total_steps,
                                        begin_step=args.begin, end_step=args.end, criterion=args.criterion,
                                        skip_1x1=args.skip_1x1, skip=args.skip, seed=args.seed)
    teacher = None
    if args.teacher:
        if not args.teacher.is_file():
            raise SystemExit(f"error: --teacher: {args.teacher} does not exist")
        teacher = torch.load(args.teacher, map_location="cpu", weights_only=False).eval()
    criterion = DetectionLoss(num_classes, model.reg_max)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    warmup = max(1, min(steps_per_epoch, total_steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.05, 1.0 - step / max(total_steps, 1)))

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = args.out / "checkpoint.pt"
    start_epoch, history = 0, []
    if args.resume:
        start_epoch, history = load_training_state(checkpoint_path, model=model, optimizer=optimizer,
                                                   schedule=schedule, controller=controller, generator=generator)

    started = time.time()
    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        model.train()
        losses = []
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", disable=args.quiet,
                   leave=False)
        for i, (images, targets) in enumerate(bar):
            step = epoch * steps_per_epoch + i
            if controller is not None:
                controller.before_step(step)
            # Horizontal flips of half the batch: the boxes' cx mirrors.
            flip = torch.rand(len(images), generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            targets = [torch.cat([t[:, :1], 1 - t[:, 1:2], t[:, 2:]], 1) if f else t for t, f in zip(targets, flip)]
            outputs = model(images)
            loss, parts = criterion(outputs, targets, (size, size))
            if teacher is not None:
                with torch.no_grad():
                    taught = teacher(images)
                loss = loss + args.distill_weight * len(images) * distillation_loss(outputs, taught, model.reg_max,
                                                                                     num_classes)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            schedule.step()
            if controller is not None:
                controller.after_step(step, loss)
            losses.append(float(loss.detach()) / len(images))
            if not args.quiet:
                sparsity = np.mean(list(controller.current_sparsity().values())) if controller else 0.0
                bar.set_postfix(loss=f"{losses[-1]:.3f}", box=f"{parts['box']:.3f}", sparsity=f"{sparsity:.3f}")
        scores = evaluate(model, val_loader, num_classes, size, args)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "map50": scores.map50,
                        "map50_95": scores.map50_95})
        if not args.quiet:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.4f}, mAP@0.5 {scores.map50:.3f}, "
                  f"mAP@0.5:0.95 {scores.map50_95:.3f}" + (f", frozen={controller.frozen}" if controller else ""),
                  file=sys.stderr)
        save_training_state(checkpoint_path, model=model, optimizer=optimizer, schedule=schedule,
                            controller=controller, generator=generator, epoch=epoch + 1, history=history,
                            args={k: str(v) for k, v in vars(args).items()})

    if last_epoch < args.epochs:
        print(f"stopped after epoch {last_epoch}/{args.epochs}; continue with --resume", file=sys.stderr)
        return {"stopped_after_epoch": last_epoch, "history": history}
    if controller is not None and not controller.frozen:
        controller.before_step(controller.schedule.end_step)  # a run shorter than end: freeze now
    scores = evaluate(model, val_loader, num_classes, size, args)
    metrics = {"data": args.data, "classes": class_names, "image_size": size, "widths": list(args.widths),
               "depths": list(args.depths), "train_images": len(train_set), "val_images": len(val_set),
               "sparsity": args.sparsity, "skip_1x1": args.skip_1x1, "skip": args.skip,
               "teacher": str(args.teacher or ""),
               "epochs": args.epochs, "seed": args.seed, "map50": scores.map50, "map50_95": scores.map50_95,
               "val_boxes": scores.boxes, "train_seconds": round(time.time() - started, 1),
               "layer_sparsity": controller.current_sparsity() if controller else {}, "history": history}
    saved = save_run_outputs(args.out, model=model, controller=controller, metrics=metrics)
    print(f"mAP@0.5 {scores.map50:.3f}, mAP@0.5:0.95 {scores.map50_95:.3f} -> {saved}", file=sys.stderr)
    return metrics


if __name__ == "__main__":
    from actsparse.torch.data import DatasetError
    from actsparse.torch.masks import MaskError

    try:
        main()
    except (DatasetError, MaskError) as exc:
        raise SystemExit(f"error: {exc}") from None
