"""What the page shows, drawn from core results: images to overlay, the score card, plot tables.

Nothing here calls the model: every function takes an :class:`~genziqa.core.results.Analysis`
(or a score) that was computed once, so re-drawing a map for another token or opacity is cheap.
"""

from __future__ import annotations

import html
import re

import numpy as np
from PIL import Image

from ..core.heatmaps import QUALITY_CMAP, TOKEN_CMAP, overlay
from ..core.images import LoadedImage

DISPLAY_SIDE = 768
"""Longest side of the images drawn on the page (maps are computed at the image's own size)."""

_TOKEN_LABELS = {"good": "Good", "bad": "Bad", "photo": "Photo", "x": "X (the learned context tokens)",
                 "<end>": "end of prompt"}

# Colours that read on light and dark themes alike (the card carries its own background).
_ZERO_SHOT = {"edge": "#b45309", "back": "#fffbeb", "ink": "#451a03", "badge": "#b45309"}
_TRAINED = {"edge": "#047857", "back": "#ecfdf5", "ink": "#022c22", "badge": "#047857"}
_ERROR = {"edge": "#b91c1c", "back": "#fef2f2", "ink": "#450a0a", "badge": "#b91c1c"}
_IDLE = {"edge": "#6b7280", "back": "#f9fafb", "ink": "#111827", "badge": "#6b7280"}


def display_image(loaded: LoadedImage, side: int = DISPLAY_SIDE) -> Image.Image:
    """The decoded image as 8-bit RGB for the page, at most ``side`` px on its longest side.

    ``loaded.pixels`` is ``(3, H, W) float32 in [0, 1]`` (16-bit files keep their precision in the
    core; only this picture for the screen is 8-bit).
    """
    rgb = (loaded.pixels.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # [H, W, 3]
    picture = Image.fromarray(rgb)
    if max(picture.size) > side:
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    return picture


def token_overlay(analysis, base: Image.Image, token: str, opacity: float) -> Image.Image:
    """``base`` under the attention map of ``token`` (a word from ``analysis.token_choices()``)."""
    return overlay(base, analysis.token_map(token), alpha=float(opacity), cmap=TOKEN_CMAP)


def quality_overlay(analysis, base: Image.Image, opacity: float) -> Image.Image:
    """``base`` under the signed spatial quality map (blue pulls the score up, red down)."""
    return overlay(base, analysis.quality_map(), alpha=float(opacity), cmap=QUALITY_CMAP, symmetric=True)


def token_choices(analysis) -> list[tuple[str, str]]:
    """(label, word) pairs for the token picker, in prompt order."""
    return [(_TOKEN_LABELS.get(word, word), word) for word in analysis.token_choices()]


def short_layer_name(name: str) -> str:
    """``down_blocks.1.attentions.0.transformer_blocks.0.attn2`` -> ``down1.0``; ``mid_block...`` -> ``mid``."""
    match = re.match(r"(down|up)_blocks\.(\d+)\.attentions\.(\d+)", name)
    if match:
        return f"{match.group(1)}{match.group(2)}.{match.group(3)}"
    return "mid" if name.startswith("mid_block") else name


def timestep_table(analysis):
    """Long table (timestep, value, series) of the per-timestep score s_t and error gap b_t."""
    import pandas as pd

    rows = []
    for t, s, b in zip(analysis.timesteps, analysis.per_timestep, analysis.error_gap):
        rows.append({"timestep": int(t), "value": float(s), "series": "s_t (score)"})
        rows.append({"timestep": int(t), "value": float(b), "series": "b_t (error gap)"})
    return pd.DataFrame(rows)


def layer_table(analysis):
    """Table (layer, statistic) of the cross-attention statistic m_l, mean over timesteps;
    None when the scorer did not compute it."""
    import pandas as pd

    stats = np.asarray(analysis.layer_stats, dtype=np.float64)  # [T, L]
    if not np.isfinite(stats).any():
        return None
    means = np.nanmean(np.where(np.isfinite(stats), stats, np.nan), axis=0)  # [L]
    names = [short_layer_name(n) for n in analysis.layer_names]
    return pd.DataFrame({"layer": names, "statistic": means.astype(float)})


def _card(colours: dict, kicker: str, body: str, note: str = "", badge: str = "") -> str:
    badge_html = (f'<span style="display:inline-block;background:{colours["badge"]};color:#fff;font-weight:700;'
                  f'letter-spacing:.06em;padding:2px 10px;border-radius:999px;font-size:.85rem">{badge}</span>'
                  if badge else "")
    note_html = f'<div style="margin-top:8px;font-size:.92rem">{note}</div>' if note else ""
    return (f'<div style="border:2px solid {colours["edge"]};background:{colours["back"]};color:{colours["ink"]};'
            f'border-radius:12px;padding:14px 18px">'
            f'<div style="display:flex;justify-content:space-between;align-items:center;gap:8px">'
            f'<span style="font-size:.9rem;font-weight:600">{kicker}</span>{badge_html}</div>'
            f'{body}{note_html}</div>')


def model_badge(zero_shot: bool) -> str:
    return "ZERO-SHOT" if zero_shot else "TRAINED"


def zero_shot_note(zero_shot: bool, short: bool = False) -> str:
    if zero_shot and short:
        return "Zero-shot score: rank images by it; it is not a calibrated quality rating."
    if zero_shot:
        return ("<b>Zero-shot:</b> untrained “Good Photo.” / “Bad Photo.” prompts. Compare scores between "
                "images scored by this model; a score is not a calibrated quality rating (MOS).")
    return "Trained GenzIQA weights: higher means better predicted quality."


def score_card(score: float, label: str, zero_shot: bool, detail: str = "") -> str:
    """HTML card: the score, big, with the model label and its zero-shot / trained badge."""
    colours = _ZERO_SHOT if zero_shot else _TRAINED
    body = (f'<div style="font-size:3rem;font-weight:800;line-height:1.1;margin-top:4px" data-testid="genziqa-score">'
            f'{score:.4f}</div>'
            f'<div style="font-size:.9rem;word-break:break-all">model: <code style="color:inherit;background:none">'
            f'{html.escape(label)}</code></div>')
    if detail:
        body += f'<div style="font-size:.85rem;opacity:.8;margin-top:2px">{html.escape(detail)}</div>'
    return _card(colours, "GenzIQA score · higher = better", body, zero_shot_note(zero_shot, short=True),
                 model_badge(zero_shot))


def error_card(message: str) -> str:
    """HTML card for an image that could not be scored; the page keeps working."""
    body = f'<div style="margin-top:6px;font-size:1rem;word-break:break-word" data-testid="genziqa-error">{html.escape(message)}</div>'
    return _card(_ERROR, "This image could not be scored", body, "Nothing else is affected: try another image.",
                 "ERROR")


def idle_card(label: str, zero_shot: bool) -> str:
    """HTML card shown before any image: what will happen and with which model."""
    body = ('<div style="margin-top:6px">Upload an image, paste one (Ctrl+V) or pick an example: its score '
            'appears here, with the maps below.</div>'
            f'<div style="font-size:.9rem;margin-top:6px;word-break:break-all">model: <code style="color:inherit;'
            f'background:none">{html.escape(label)}</code></div>')
    return _card(_IDLE, "GenzIQA score · higher = better", body, zero_shot_note(zero_shot, short=True),
                 model_badge(zero_shot))


def model_banner(label: str, zero_shot: bool, speed: str) -> str:
    """HTML banner at the top of the page: which model, zero-shot or not, and what a request costs."""
    colours = _ZERO_SHOT if zero_shot else _TRAINED
    body = (f'<div style="margin-top:4px;word-break:break-all"><code style="color:inherit;background:none">'
            f'{html.escape(label)}</code></div>'
            f'<div style="font-size:.92rem;margin-top:4px">{html.escape(speed)}</div>')
    return _card(colours, "Model", body, zero_shot_note(zero_shot), model_badge(zero_shot))
