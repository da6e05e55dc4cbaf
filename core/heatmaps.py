"""Heatmaps (METHOD 4): token lookup, resizing to the image, colour overlays.

torch and matplotlib are imported only when a map is resized or drawn, so the colour constants
and the token lookup cost nothing to import (ComfyUI lists node inputs from them at start-up).
"""

from __future__ import annotations

import numpy as np

from .messages import suggest

PROMPTS = ("good", "bad")

# The colours every face of genziqa draws with, so a map means the same in the CLI, the demo and
# ComfyUI. The signed quality map: red where the image pulls the score down, blue where it pulls
# it up (a diverging map that stays readable with red-green colour blindness). Token maps: bright
# where the token draws attention.
QUALITY_CMAP = "RdBu"
TOKEN_CMAP = "inferno"
DEFAULT_ALPHA = 0.5
"""Opacity of a map over its image."""
END_NAMES = ("<end>", "<eot>", "end", "<|endoftext|>")


def _word(token: str) -> str:
    return token.replace("</w>", "").lower()


def _real_tokens(row: tuple[str, ...]) -> tuple[str, ...]:
    """A prompt's tokens up to and including the end token (padding repeats it, or '!')."""
    return row[: row.index("<|endoftext|>") + 1]


def token_words(tokens: tuple[tuple[str, ...], ...], prompt: str = "auto") -> list[str]:
    """The words a user can ask a map of, in prompt order, for ``prompt`` (all prompts: ``"auto"``)."""
    rows = range(len(tokens)) if prompt == "auto" else [_prompt_index(prompt)]
    words: list[str] = []
    for p in rows:
        for t in _real_tokens(tokens[p])[1:-1]:
            word = _word(t).rstrip(".")
            if word and word not in words:  # punctuation alone is no word to pick
                words.append(word)
    return [*words, "<end>"]


def _prompt_index(prompt: str) -> int:
    if prompt not in ("auto", *PROMPTS):
        raise ValueError(f"prompt={prompt!r} must be 'good', 'bad' or 'auto'.")
    return 0 if prompt == "auto" else PROMPTS.index(prompt)


def find_token(tokens: tuple[tuple[str, ...], ...], token: str | int, prompt: str = "auto") -> tuple[int, list[int]]:
    """(prompt index, token positions) for a word or position; errors list what exists."""
    first = _prompt_index(prompt)
    candidates = range(len(tokens)) if prompt == "auto" else [first]
    if isinstance(token, (int, np.integer)):
        if not 0 <= int(token) < len(tokens[first]):
            raise ValueError(f"token position {token} is outside 0..{len(tokens[first]) - 1}.")
        return first, [int(token)]
    wanted = str(token).lower()
    for p in candidates:
        row = _real_tokens(tokens[p])
        if wanted in END_NAMES:
            return p, [len(row) - 1]
        positions = [i for i, t in enumerate(row) if _word(t) in (wanted, wanted.rstrip("."))]
        if positions:
            return p, positions
    where = "the prompts" if prompt == "auto" else f"the {prompt} prompt"
    choices = token_words(tokens, prompt)
    raise ValueError(f"token {token!r} is not in {where}; choose one of {choices}.{suggest(wanted, choices)}")


def resize(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an ``(h, w)`` map to ``size`` = (width, height); float32."""
    import torch
    import torch.nn.functional as F

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
    """``(H, W, 3)`` uint8 colours of a map (diverging maps suit ``symmetric`` data, e.g. :data:`QUALITY_CMAP`)."""
    from matplotlib import colormaps

    if cmap not in colormaps:
        raise ValueError(f"unknown colour map {cmap!r}.{suggest(cmap, colormaps)}")
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


def with_legend(picture, cmap: str, low: str, high: str):
    """``picture`` (PIL) with a colour bar under it: the colour map from ``low`` to ``high``."""
    from PIL import Image, ImageDraw, ImageFont

    width = picture.width
    bar_h = max(8, picture.height // 40)
    text_h = max(12, picture.height // 30)
    pad = max(4, bar_h // 2)
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None].repeat(bar_h, axis=0)  # [bar_h, W]
    from matplotlib import colormaps

    colours = (colormaps[cmap](ramp)[..., :3] * 255 + 0.5).astype(np.uint8)
    canvas = Image.new("RGB", (width, picture.height + pad + bar_h + pad + text_h + pad), "white")
    canvas.paste(picture.convert("RGB"), (0, 0))
    canvas.paste(Image.fromarray(colours), (0, picture.height + pad))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=text_h)
    y = picture.height + pad + bar_h + pad
    draw.text((pad, y), low, fill="black", font=font)
    draw.text((width - pad - draw.textlength(high, font=font), y), high, fill="black", font=font)
    return canvas
