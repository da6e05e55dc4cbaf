"""What the commands share: model options, loading with a banner, messages, number parsers."""

from __future__ import annotations

import argparse
import re
import sys

from ..messages import plural  # noqa: F401  (the commands' one import for messages)

OK, FAILED, USAGE = 0, 1, 2


def say(message: str) -> None:
    """A status line on stderr (stdout carries results only)."""
    print(message, file=sys.stderr, flush=True)


# API argument names in core's messages, as the command line spells them.
_OPTION_NAMES = {
    "backbone_config": "--backbone-config", "prediction_type": "--prediction-type", "backbone": "--backbone",
    "weights": "--weights", "device": "--device", "dtype": "--dtype", "revision": "--revision",
    "unet_rows": "--unet-rows", "resolution": "--resolution", "gpus_per_actor": "--gpus-per-actor",
    "cpus_per_actor": "--cpus-per-actor", "concurrency": "--concurrency", "batch_size": "--batch-size",
    "path_column": "--path-column", "address": "--address", "accumulate": "--accumulate", "epochs": "--epochs",
    "lr": "--lr", "seed": "--seed", "save_every": "--save-every",
}
_API_ARGUMENT = re.compile(r"\b(" + "|".join(sorted(_OPTION_NAMES, key=len, reverse=True)) + r")=\s*")


def user_words(message: str) -> str:
    """Core's messages name API arguments (``backbone='sd15'``); say them as options instead."""
    return _API_ARGUMENT.sub(lambda m: _OPTION_NAMES[m.group(1)] + " ", message)


def number(cast, kind: str, ok, requirement: str):
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


positive = number(int, "a whole number", lambda v: v >= 1, "must be at least 1")
fraction = number(float, "a number", lambda v: 0.0 <= v <= 1.0, "is outside [0, 1]")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose and place the model (every command that scores has them)."""
    group = parser.add_argument_group("model")
    group.add_argument("--weights", help="trained GenzIQA weights: folder or hub repo (default: zero-shot)")
    group.add_argument("--backbone", help="hub id, short name (sd21base, sd15), diffusers folder or .safetensors "
                                          "file (default: the weights' backbone, else SD 2.1-base)")
    group.add_argument("--revision", help="hub revision of the backbone")
    group.add_argument("--backbone-config", metavar="FOLDER",
                       help="diffusers-layout folder of component configs, for a single file whose shapes "
                            "differ from SD 1.5 / SD 2.1-base")
    group.add_argument("--prediction-type", choices=("epsilon", "v_prediction"),
                       help="override the detected prediction type of the backbone")
    group.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    group.add_argument("--dtype", default="auto", help="auto (float32 on CPU, float16 on GPU), float32, bfloat16, float16")
    group.add_argument("--unet-rows", type=positive, default=None, metavar="N",
                       help="UNet rows per call; one image is 16 rows (default: 4 on CPU, 32 on GPU)")
    group.add_argument("--resolution", type=positive,
                       help="side the images are resized to (default: 512, or the weights' own)")


def prepare(args):
    """The checked load plan for the model options: cheap (no model is loaded)."""
    from ..api import prepare as prepare_load

    return prepare_load(args.weights, args.backbone, **model_options(args))


def model_options(args) -> dict:
    """The model options as keyword arguments of :func:`genziqa.prepare` (weights and backbone aside)."""
    return {"device": args.device, "dtype": args.dtype, "revision": args.revision, "unet_rows": args.unet_rows,
            "prediction_type": args.prediction_type, "backbone_config": args.backbone_config,
            "resolution": args.resolution}


def load_scorer(plan):
    """Load the planned scorer and say what it is, where it runs and whether it is trained."""
    scorer = plan.load()
    note = " — untrained scores, for ranking only" if scorer.zero_shot else ""
    say(f"genziqa {scorer.label} on {scorer.backbone.device} in {str(scorer.backbone.dtype).removeprefix('torch.')}{note}")
    return scorer
