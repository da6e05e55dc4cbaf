"""The training record: ``metrics.jsonl`` (one JSON object a line) and ``curves.png`` drawn from it.

Lines have an ``event``:

- ``"step"``: ``epoch`` (1-based), ``step`` (global optimiser step, 1-based), ``loss`` (the step's
  MSE over its whole batch), ``grad_norm`` (before clipping), ``lr``, ``seconds``;
- ``"epoch"``: ``epoch``, ``step`` (the global step it ended at), ``train_loss`` (mean step loss), ``val_srcc``, ``val_plcc``,
  ``val_images``, ``best_epoch``, ``best_srcc``, ``seconds``.

Values that are not numbers (an undefined correlation) are written as null. On resume the file is
cut back to its length at the recovery point, so it reads as if the run had never stopped.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


class MetricsLog:
    """Appends records to a JSONL file; ``size`` is its length in bytes after the last write."""

    def __init__(self, path: str | os.PathLike, *, keep_bytes: int = 0):
        self.path = Path(path)
        with open(self.path, "a+b") as f:
            f.truncate(keep_bytes)
        self.size = keep_bytes

    def write(self, record: dict) -> None:
        line = json.dumps({k: _plain(v) for k, v in record.items()}, allow_nan=False) + "\n"
        with open(self.path, "ab") as f:
            f.write(line.encode())
            f.flush()
            self.size = f.tell()


def read(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics log (a line cut short by a crash is skipped)."""
    records = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def plot_curves(records: list[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """``curves.png``: the step loss (log scale) over steps, and validation SRCC / PLCC over epochs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    steps = [r for r in records if r.get("event") == "step" and r.get("loss") is not None]
    epochs = [r for r in records if r.get("event") == "epoch"]
    figure = Figure(figsize=(7.5, 6.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss_ax, val_ax = figure.subplots(2, 1)
    if steps:
        loss_ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], color="tab:blue", linewidth=0.8,
                     alpha=0.6, label="step loss")
        ends = [r for r in epochs if r.get("train_loss") is not None]
        if ends:
            loss_ax.plot([r["step"] for r in ends], [r["train_loss"] for r in ends], "o-", color="tab:red",
                         label="epoch mean")
        if min(r["loss"] for r in steps) > 0:
            loss_ax.set_yscale("log")
        loss_ax.legend(loc="best", fontsize="small")
    loss_ax.set_xlabel("optimiser step")
    loss_ax.set_ylabel("MSE loss (raw MOS)")
    loss_ax.grid(True, alpha=0.3)
    shown = [r for r in epochs if r.get("val_srcc") is not None]
    if shown:
        val_ax.plot([r["epoch"] for r in shown], [r["val_srcc"] for r in shown], "o-", color="tab:green", label="SRCC")
        plcc = [r for r in shown if r.get("val_plcc") is not None]
        val_ax.plot([r["epoch"] for r in plcc], [r["val_plcc"] for r in plcc], "s--", color="tab:purple", label="PLCC")
        best = [r for r in shown if r.get("best_epoch") == r["epoch"]]
        if best:
            val_ax.plot([best[-1]["epoch"]], [best[-1]["val_srcc"]], "*", markersize=14, color="tab:orange",
                        label=f"best (epoch {best[-1]['epoch']})")
        val_ax.legend(loc="best", fontsize="small")
    else:
        val_ax.text(0.5, 0.5, "no validation yet" if not epochs else "no validation split",
                    ha="center", va="center", transform=val_ax.transAxes)
    val_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    val_ax.set_xlabel("epoch")
    val_ax.set_ylabel("validation correlation")
    val_ax.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title, fontsize="medium")
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    figure.savefig(partial, format="png")
    os.replace(partial, target)
    return target


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["MetricsLog", "read", "plot_curves"]
