"""The recovery file: everything needed to continue an interrupted run, kept apart from the
exported weights (as timm's CheckpointSaver keeps its recovery and best files apart).

One safetensors file, ``recovery.safetensors``, replaced atomically at every save:

- tensors ``param/<name>``: the trainable parameters (names as in the weights file);
  ``adam/<name>/exp_avg``, ``adam/<name>/exp_avg_sq``, ``adam/<name>/step``: AdamW's state;
- metadata ``genziqa_recovery``: JSON with the position (epoch, step in epoch, global step), the
  running epoch loss, the best epoch so far, the metrics log's length at this point, the gradient
  scaler's state, and what the run was started with (its training knobs, model identity and data
  fingerprint), which a resume must match.

No random generator state is stored because none is used: every draw of the loop is a function of
(seed, epoch, position) (:mod:`.schedule`), so the position *is* the generator state.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

FORMAT = "genziqa-recovery"
VERSION = 1
_META_KEY = "genziqa_recovery"


class RecoveryError(ValueError):
    """A recovery file is unreadable or belongs to another run; the message says what to do."""


@dataclass
class Position:
    """Where a run stands; saved between optimiser steps only, so it is always consistent."""

    epoch: int = 0
    """Epoch in progress, 0-based (equal to the number of epochs when the run is complete)."""
    step_in_epoch: int = 0
    """Optimiser steps done in that epoch."""
    global_step: int = 0
    epoch_loss_sum: float = 0.0
    """Sum of the step losses of the epoch in progress (for the epoch's mean loss)."""
    best_epoch: int | None = None
    """1-based epoch of the exported weights."""
    best_srcc: float | None = None
    log_bytes: int = 0
    """Length of the metrics log when this position was saved; a resume cuts the log back to it."""
    scaler: dict = field(default_factory=dict)


def save(path: str | os.PathLike, *, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer,
         position: Position, started: dict) -> Path:
    """Write the recovery file (atomically). ``started``: the run's identity, checked on resume."""
    from safetensors.torch import save_file

    tensors = {f"param/{name}": p.detach().to("cpu", torch.float32).contiguous() for name, p in params.items()}
    index = {id(p): name for name, p in params.items()}
    for param, state in optimizer.state.items():
        name = index[id(param)]
        for key, value in state.items():
            value = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            tensors[f"adam/{name}/{key}"] = value.detach().to("cpu").contiguous()
    meta = {"format": FORMAT, "version": VERSION, "position": asdict(position), "started": started}
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    save_file(tensors, str(partial), metadata={_META_KEY: json.dumps(meta)})
    os.replace(partial, target)
    return target


def read_meta(path: str | os.PathLike) -> dict:
    """The metadata of a recovery file (reads the header only; cheap)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(_META_KEY)
    except Exception as err:  # safetensors raises its own types for damaged files
        raise RecoveryError(f"{path}: cannot be read as a recovery file ({err}); it may be damaged. Start a new run "
                            "in another --out folder (the exported weights in best/ are not affected).") from None
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != FORMAT:
        raise RecoveryError(f"{path}: not a genziqa recovery file.")
    if int(meta.get("version", 0)) > VERSION:
        raise RecoveryError(f"{path}: written by a newer genziqa (recovery version {meta['version']}); upgrade to resume it.")
    return meta


def check_same_run(meta: dict, started: dict, path: str | os.PathLike) -> None:
    """Refuse to resume ``meta`` with different training knobs, model or data, saying what differs."""
    theirs = meta.get("started", {})
    problems = []
    for key, label in (("train", "training setting"), ("method", "method setting")):
        a, b = started.get(key, {}), theirs.get(key, {})
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                problems.append(f"{label} {name}: {a.get(name)!r} now, {b.get(name)!r} in the interrupted run")
    if started.get("model") != theirs.get("model"):
        from ..identity import differences

        problems += [f"model {d}" for d in differences(started.get("model", ""), theirs.get("model", ""))] or ["model"]
    if started.get("data") != theirs.get("data"):
        problems.append(f"training data: {started.get('data_summary')} now, {theirs.get('data_summary')} in the "
                        "interrupted run (the rows or their MOS differ)")
    if problems:
        listed = "\n  ".join(problems)
        raise RecoveryError(f"{path} belongs to a run started differently, so resuming it would not continue that "
                            f"run:\n  {listed}\nRepeat the original options to resume, or choose another --out for a "
                            "new run.")


def load(path: str | os.PathLike, *, params: dict[str, torch.nn.Parameter],
         optimizer: torch.optim.Optimizer) -> Position:
    """Restore parameters and optimiser state in place from the recovery file; returns the position."""
    from safetensors.torch import load_file

    meta = read_meta(path)
    tensors = load_file(str(path))
    missing = [name for name in params if f"param/{name}" not in tensors]
    if missing:
        raise RecoveryError(f"{path}: holds no values for {missing[:3]}; it was written for another model.")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors[f"param/{name}"].to(param.device, param.dtype))
    state = optimizer.state_dict()
    restored = {}
    for index, (name, param) in enumerate(params.items()):
        prefix = f"adam/{name}/"
        entry = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if entry:
            restored[index] = entry
    state["state"] = restored
    optimizer.load_state_dict(state)  # moves moments onto each parameter's device and dtype
    return Position(**meta["position"])


__all__ = ["Position", "RecoveryError", "save", "read_meta", "check_same_run", "load", "FORMAT"]
