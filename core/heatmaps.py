"""Heatmaps (METHOD 4): token lookup, resizing to the image, colour overlays.

matplotlib is imported only when a colour map is drawn.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PROMPTS = ("good", "bad")
END_NAMES = ("<end>", "<eot>", "end", "<|endoftext|>")


def _word(token: str) -> str:
    return token.replace("</w>", "").lower()


def find_token(tokens: tuple[tuple[str, ...], ...], token: str | int, prompt: str = "auto") -> tuple[int, list[int]]:
    """(prompt index, token positions) for a word or position; errors list what exists."""
    if prompt not in ("auto", *PROMPTS):
        raise ValueError(f"prompt={prompt!r} must be 'good', 'bad' or 'auto'.")
    candidates = range(len(tokens)) if prompt == "auto" else [PROMPTS.index(prompt)]
    if isinstance(token, (int, np.integer)):
        p = 0 if prompt == "auto" else PROMPTS.index(prompt)
        if not 0 <= int(token) < len(tokens[p]):
            raise ValueError(f"token position {token} is outside 0..{len(tokens[p]) - 1}.")
        return p, [int(token)]
    wanted = str(token).lower()
    for p in candidates:
        row = tokens[p]
        if wanted in END_NAMES:
            return p, [row.index("<|endoftext|>")]
        positions = [i for i, t in enumerate(row) if _word(t) == wanted.rstrip(".") or _word(t) == wanted]
        # Padding repeats the end token (SD 1.x) or '!' (SD 2.x); keep only real tokens.
        positions = [i for i in positions if i <= row.index("<|endoftext|>")]
        if positions:
            return p, positions
    words = sorted({_word(t) for row in tokens for t in row[1 : row.index("<|endoftext|>")]})
    raise ValueError(f"token {token!r} is not in the prompts; choose one of {words} or '<end>'.")


def resize(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an ``(h, w)`` map to ``size`` = (width, height); float32."""
    t = torch.from_numpy(np.array(grid, dtype=np.float32))[None, None]  # a copy: results are read-only
    out = F.interpolate(t, size=(size[1], size[0]), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def normalize(heat: np.ndarray, symmetric: bool = False, clip: float = 99.0) -> np.ndarray:
    """To [0, 1], robust to a few extreme cells: min-max between the (100 - clip)th and clip-th
    percentiles, or around zero (0.5 = no effect, scaled by the clip-th percentile of |heat|)
    when ``symmetric``. Values beyond the percentiles saturate."""
    heat = np.asarray(heat, dtype=np.float32)
    if symmetric:
        scale = float(np.percentile(np.abs(heat), clip)) or 1.0
        return np.clip(0.5 + 0.5 * heat / scale, 0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(heat, (100 - clip, clip)))
    return np.clip((heat - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(heat)


def colorize(heat: np.ndarray, cmap: str = "inferno", symmetric: bool = False) -> np.ndarray:
    """``(H, W, 3)`` uint8 colours of a map (diverging maps suit ``symmetric`` data, e.g. 'RdBu_r')."""
    from matplotlib import colormaps

    if cmap not in colormaps:
        import difflib

        close = difflib.get_close_matches(cmap, list(colormaps), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown colour map {cmap!r}.{hint}")
    rgba = colormaps[cmap](normalize(heat, symmetric))
    return (rgba[..., :3] * 255 + 0.5).astype(np.uint8)


def overlay(image, heat: np.ndarray, *, alpha: float = 0.5, cmap: str = "inferno", symmetric: bool = False):
    """A PIL image: ``image`` (PIL or (H, W, 3) uint8) blended with the coloured ``heat`` map,
    which is resized to the image if needed."""
    from PIL import Image

    base = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    base = base.convert("RGB")
    if heat.shape != (base.height, base.width):
        heat = resize(heat, base.size)
    colours = Image.fromarray(colorize(heat, cmap, symmetric))
    return Image.blend(base, colours, float(alpha))
