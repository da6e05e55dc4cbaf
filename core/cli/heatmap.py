"""``genziqa heatmap``: where one image gains or loses quality, or one prompt token's attention."""

from __future__ import annotations

import os
from pathlib import Path

from ._common import FAILED, OK, USAGE, add_model_options, fraction, load_scorer, prepare, say

HELP = "draw where an image gains or loses quality"
DESCRIPTION = ("Overlay a heatmap on IMAGE. Default: the signed quality map (red pulls the score down, "
               "blue up). With --token: that prompt token's attention map.")


def add_arguments(parser) -> None:
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--out", required=True, help="PNG to write (the size of IMAGE, plus the legend if asked)")
    parser.add_argument("--token", help="prompt word (good, bad, photo, x for the context tokens, <end>) or "
                                        "position; default: the quality map")
    parser.add_argument("--prompt", choices=("auto", "good", "bad"), default="auto",
                        help="prompt the token is taken from (default: the one containing it)")
    parser.add_argument("--alpha", type=fraction, default=None,
                        help="heatmap opacity in [0, 1] (default: genziqa.core.heatmaps.DEFAULT_ALPHA, 0.5)")
    parser.add_argument("--cmap", help="matplotlib colour map (default: RdBu for the quality map, red = pulls the score down; "
                             "inferno for tokens)")
    parser.add_argument("--legend", action="store_true", help="add a colour bar under the picture")
    parser.add_argument("--json", action="store_true",
                        help="print the analysis (score, per-timestep and per-layer numbers) as JSON on stdout")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_model_options(parser)


def run(args) -> int:
    import json

    import numpy as np

    from .. import heatmaps
    from ..images import ImageError, load_image
    from ..prompts import prompt_tokens

    # Everything that can be checked is checked before minutes go into loading the model.
    if Path(args.out).suffix.lower() != ".png":
        raise ValueError(f"--out {args.out!r}: heatmaps are written as PNG; give a name ending in .png.")
    if os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} is a folder; give a file name ending in .png.")
    cmap = args.cmap or (heatmaps.TOKEN_CMAP if args.token is not None else heatmaps.QUALITY_CMAP)
    heatmaps.colorize(np.zeros((1, 1), np.float32), cmap)  # an unknown name fails here
    if os.path.isdir(args.image):
        say(f"error: {args.image!r} is a folder; heatmap draws one image. Give one image file "
            "(genziqa score takes folders).")
        return USAGE
    if not os.path.exists(args.image):
        say(f"error: not found: {args.image!r}. Check the spelling; relative paths are resolved from {os.getcwd()}.")
        return USAGE
    token = int(args.token) if args.token is not None and args.token.isdigit() else args.token
    plan = prepare(args)
    if token is not None:
        heatmaps.find_token(prompt_tokens(plan.config, zero_shot=plan.zero_shot), token, args.prompt)
    try:
        image = load_image(args.image, args.image)
    except ImageError as err:
        say(f"failed: {err}")
        return FAILED

    scorer = load_scorer(plan)
    try:
        analysis = scorer.analyze(image.pixels, progress=args.progress)
    except FloatingPointError as err:  # a half-precision overflow: this image failed, nothing else did
        say(f"failed: {args.image}: {err}")
        return FAILED
    heat = analysis.quality_map() if token is None else analysis.token_map(token, args.prompt)
    # The pixels as scored: EXIF orientation applied, transparency on white.
    base = (image.pixels.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # [H, W, 3]
    alpha = heatmaps.DEFAULT_ALPHA if args.alpha is None else args.alpha
    picture = heatmaps.overlay(base, heat, alpha=alpha, cmap=cmap, symmetric=token is None)
    if args.legend:
        labels = ("pulls the score down", "pulls it up") if token is None else ("less attention", "more attention")
        picture = heatmaps.with_legend(picture, cmap, *labels)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, format="PNG")
    what = "quality map" if token is None else f"map of token {args.token!r}"
    if args.json:
        print(json.dumps({**analysis.to_dict(), "source": args.image, "heatmap": str(args.out)}, ensure_ascii=False))
    else:
        print(f"{args.image}\tscore {analysis.score:.5f}\t{analysis.model}")
    say(f"{what} -> {args.out}")
    return OK
