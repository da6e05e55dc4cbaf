"""What travels on the pack's own wires: GENZIQA_MODEL and GENZIQA_SCORES.

A GENZIQA_MODEL is a loaded scorer with the names the user picked; a GENZIQA_SCORES is one
score per image of a batch with the model that made them, so Filter, Rank and Save never score
again and every file can say which model produced its number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

from ..core.messages import plural

CATEGORY = "image/quality/GenzIQA"
MODEL = "GENZIQA_MODEL"
SCORES = "GENZIQA_SCORES"
ZERO_SHOT = "zero-shot"

UNCALIBRATED = ("zero-shot scores are uncalibrated: compare images within a batch "
                "(rank, best fraction) rather than against a fixed number")


@dataclass(eq=False)
class GenzIQAModel:
    """A loaded scorer (``genziqa.core.Scorer``) and how the user chose it."""

    scorer: object
    backbone: str
    """The backbone as picked: a checkpoint name, ``diffusers/<folder>`` or a hub id."""
    weights: str
    """``zero-shot`` or the weights folder's name under models/genziqa."""
    compute_device: object
    """torch.device the scorer runs on."""
    home_device: object
    """torch.device it waits on between runs (ComfyUI's offload device for a GPU model)."""

    @property
    def zero_shot(self) -> bool:
        return bool(self.scorer.zero_shot)

    @property
    def label(self) -> str:
        """``zero-shot · <backbone>`` or ``genziqa:<weights> · <backbone>``: what made a score,
        without the machine's absolute paths."""
        what = ZERO_SHOT if self.zero_shot else f"genziqa:{self.weights}"
        return f"{what} · {self.backbone}"

    @property
    def resolution(self) -> int:
        return int(self.scorer.config.resolution)

    @property
    def run(self) -> str:
        """Core's run identity (backbone and weights content, method, dtype), '' if unknown."""
        return str(getattr(self.scorer, "run_id", "") or "")

    def memory_required(self) -> int:
        """Bytes to free on the compute device before the scorer moves there: its weights plus
        an estimate of one UNet call's working memory."""
        bb = self.scorer.backbone
        weights = sum(p.numel() * p.element_size() for m in (bb.unet, bb.vae) for p in m.parameters())
        side = self.resolution // bb.vae_scale
        rows = int(getattr(self.scorer, "unet_rows", 1))
        # Activations of SD's UNet with fused attention: roughly 16 KiB per latent cell and row.
        return weights + rows * side * side * 16 * 1024

    def scores_of(self, values: Sequence[float]) -> "QualityScores":
        return QualityScores(scores=tuple(float(v) for v in values), model=self.label, zero_shot=self.zero_shot,
                             backbone=self.backbone, weights=self.weights, run=self.run)

    def describe(self) -> str:
        bb = self.scorer.backbone
        dtype = str(bb.dtype).removeprefix("torch.")
        note = f" ({UNCALIBRATED})" if self.zero_shot else ""
        return f"GenzIQA {self.label}, {self.resolution}px, on {self.compute_device} in {dtype}{note}"


@dataclass(frozen=True)
class QualityScores:
    """One GenzIQA score per image of a batch (higher = better), in the batch's order."""

    scores: tuple[float, ...]
    model: str
    zero_shot: bool
    backbone: str
    weights: str
    run: str = ""

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return math.fsum(self.scores) / len(self.scores) if self.scores else float("nan")

    def take(self, positions: Sequence[int]) -> "QualityScores":
        """The scores of ``positions``, in that order (follows a filtered or ranked batch)."""
        return replace(self, scores=tuple(self.scores[i] for i in positions))

    def record(self, index: int) -> dict:
        """What a saved file keeps about its image's score (JSON-ready)."""
        from .. import __version__

        return {"score": self.scores[index], "model": self.model, "zero_shot": self.zero_shot,
                "backbone": self.backbone, "weights": self.weights, "run": self.run,
                "genziqa_version": __version__}

    def report(self, title: str = "GenzIQA scores") -> str:
        """Readable lines: the model, then ``#index  score`` per image, then the mean."""
        lines = [f"{title} — {self.model}"]
        if self.zero_shot:
            lines.append(f"({UNCALIBRATED})")
        lines += [f"#{i}  {s:.4f}" for i, s in enumerate(self.scores)]
        if self.scores:
            lines.append(f"mean {self.mean:.4f} over {plural(len(self.scores), 'image')}")
        return "\n".join(lines)

