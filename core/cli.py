"""The ``genziqa`` command: score folders into a resumable results file, draw heatmaps.

Exit status: 0 when everything asked for was done, 1 when some image could not be scored (the
others still are), 2 for usage errors and for models or files that cannot be used.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from . import heatmaps
from .api import load
from .batch import collect_images, output_format, score_to_file
from .config import GenzIQAConfig
from .images import ImageError, load_image

OK, FAILED, USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error or the help
        return int(exit_.code or 0)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        _say("interrupted. Rows written so far are kept; rerun the same command to resume.")
        return 130
    except (ValueError, OSError) as err:  # Backbone/Weights/Batch errors and bad options
        _say(f"error: {err}")
        return USAGE


# -- commands --------------------------------------------------------------------------------


def _score(args) -> int:
    # Check the inputs and the output name before spending time on loading the model.
    images = collect_images(args.paths)
    output_format(args.out)
    scorer = _load(args)
    _say(f"{len(images)} images -> {args.out}")
    summary = score_to_file(scorer, images, args.out, progress=args.progress)
    for failure in summary.failures:
        _say(f"failed: {failure.error}")
    skipped = f", {summary.skipped} already in the file" if summary.skipped else ""
    _say(f"scored {summary.scored}, failed {summary.failed}{skipped} -> {summary.out}")
    return FAILED if summary.failed else OK


def _heatmap(args) -> int:
    if Path(args.out).suffix.lower() != ".png":
        raise ValueError(f"--out {args.out!r}: heatmaps are written as PNG; give a name ending in .png.")
    heatmaps.colorize(np.zeros((1, 1), np.float32), _cmap(args))  # unknown names fail before loading
    try:
        image = load_image(args.image, args.image)
    except ImageError as err:
        _say(f"failed: {err}")
        return FAILED
    scorer = _load(args)
    analysis = scorer.analyze(image.pixels)
    token = int(args.token) if args.token is not None and args.token.isdigit() else args.token
    heat = analysis.quality_map() if token is None else analysis.token_map(token, args.prompt)
    # The pixels as scored: EXIF orientation applied, transparency on white.
    base = (image.pixels.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # [H, W, 3]
    picture = heatmaps.overlay(base, heat, alpha=args.alpha, cmap=_cmap(args), symmetric=token is None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, format="PNG")
    what = "quality map" if token is None else f"map of token {args.token!r}"
    print(f"{args.image}\tscore {analysis.score!r}\t{analysis.model}")
    _say(f"{what} -> {args.out}")
    return OK


def _cmap(args) -> str:
    return args.cmap or ("inferno" if args.token is not None else "RdBu_r")


def _load(args):
    config = None if args.resolution is None else dataclasses.replace(GenzIQAConfig(), resolution=args.resolution)
    scorer = load(args.weights, args.backbone, device=args.device, dtype=args.dtype, revision=args.revision,
                  config=config, batch_size=args.batch_size)
    note = " — scores are untrained, for ranking only" if scorer.zero_shot else ""
    _say(f"genziqa {scorer.label}{note}")
    return scorer


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- arguments -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    model = argparse.ArgumentParser(add_help=False)
    group = model.add_argument_group("model")
    group.add_argument("--weights", help="trained GenzIQA weights: folder or hub repo (default: zero-shot)")
    group.add_argument("--backbone", help="hub id, diffusers folder or .safetensors file "
                                          "(default: the weights' backbone, else SD 2.1-base)")
    group.add_argument("--revision", help="hub revision of the backbone")
    group.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    group.add_argument("--dtype", default="auto", help="auto (float32 on CPU, half precision on GPU), float32, ...")
    group.add_argument("--batch-size", type=_positive, default=None,
                       help="UNet rows per call; one image is 16 rows (default: 4 on CPU, 32 on GPU)")
    group.add_argument("--resolution", type=_positive,
                       help="side the images are resized to (default: 512, or the weights' own)")

    parser = argparse.ArgumentParser(prog="genziqa", description="GenzIQA image quality scores and heatmaps.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score = commands.add_parser(
        "score", parents=[model], help="score images into a CSV or JSONL file (resumable)",
        description="Score images and folders (searched recursively) into a results file with one "
                    "row per image: path, score, model, error. Rerunning the same command skips "
                    "images already scored and retries failed ones.")
    score.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders")
    score.add_argument("--out", required=True, help="results file: .csv or .jsonl")
    score.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    score.set_defaults(run=_score)

    heat = commands.add_parser(
        "heatmap", parents=[model], help="draw where an image gains or loses quality",
        description="Overlay a heatmap on IMAGE. Default: the signed quality map (red pulls the "
                    "score up, blue down). With --token: that prompt token's attention map.")
    heat.add_argument("image", metavar="IMAGE")
    heat.add_argument("--out", required=True, help="PNG to write (the size of IMAGE)")
    heat.add_argument("--token", help="prompt word (good, bad, photo, <end>) or position; default: quality map")
    heat.add_argument("--prompt", choices=("auto", "good", "bad"), default="auto",
                      help="prompt the token is taken from (default: the one containing it)")
    heat.add_argument("--alpha", type=_fraction, default=0.5, help="heatmap opacity in [0, 1] (default: 0.5)")
    heat.add_argument("--cmap", help="matplotlib colour map (default: RdBu_r for the quality map, inferno for tokens)")
    heat.set_defaults(run=_heatmap)
    return parser


def _number(cast, kind: str, ok, requirement: str):
    """An argparse type: ``cast`` the text, then check it with ``ok``."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{value} {requirement}")
        return value
    return parse


_positive = _number(int, "a whole number", lambda v: v >= 1, "must be at least 1")
_fraction = _number(float, "a number", lambda v: 0.0 <= v <= 1.0, "is outside [0, 1]")


if __name__ == "__main__":
    sys.exit(main())
