"""Training checkpoints of the examples: everything a resumed run needs to
continue exactly as an uninterrupted one (model, optimizer, LR schedule,
sparsity controller, data-order generator, torch's RNG, epoch, history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def save_training_state(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        schedule: Any, controller: Any, generator: torch.Generator, epoch: int,
                        history: list[dict], args: dict) -> None:
    """Write the state after ``epoch`` epochs (``controller`` may be None)."""
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "controller": controller.state_dict() if controller else None,
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch,
                "history": history, "args": args}, path)


def load_training_state(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        schedule: Any, controller: Any, generator: torch.Generator,
                        map_location: str | torch.device = "cpu") -> tuple[int, list[dict]]:
    """Restore what :func:`save_training_state` wrote; returns (epochs done,
    history). Exits with a one-line error when ``path`` does not exist."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: --resume: {path} does not exist")
    state = torch.load(path, map_location=map_location, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if controller is not None:
        controller.load_state_dict(state["controller"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return state["epoch"], state.get("history", [])


def save_run_outputs(out: str | Path, *, model: torch.nn.Module, controller: Any, metrics: dict) -> Path:
    """A finished run's files in ``out``: model.pt (the whole model, eval
    mode: convert it with converter/convert.py), masks.png (every layer's
    mask, when trained with a controller) and metrics.json. Returns model.pt."""
    import json

    from actsparse.png import mask_grid, write_gray_png

    out = Path(out)
    model.eval().cpu()
    torch.save(model, out / "model.pt")
    if controller is not None:
        write_gray_png(out / "masks.png", mask_grid(list(controller.masks().values())))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return out / "model.pt"
