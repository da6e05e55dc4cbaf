"""``genziqa demo``: open the web demo (Gradio) on this machine."""

from __future__ import annotations

import argparse

from ._common import OK, USAGE, add_model_options, number, prepare, say

HELP = "serve the web demo: score, heatmaps and batch ranking in the browser (needs genziqa[demo])"
DESCRIPTION = (
    "Serve the Gradio demo: one image's score with its quality and attention maps, a batch ranking "
    "with a CSV, and an API (/score, /heatmap, /analyze) for gradio_client. The page comes up at once; "
    "the model loads on the first request. Listens on 127.0.0.1 only, unless --host or --share says otherwise."
)

port_number = number(int, "a port number", lambda v: 1 <= v <= 65535, "is outside 1..65535")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    group = parser.add_argument_group("server")
    group.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for your network)")
    group.add_argument("--port", type=port_number, default=None,
                       help="port (default: 7860, or the next free one)")
    group.add_argument("--share", action="store_true",
                       help="also open a temporary public link through Gradio's share service")


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401 - only to say clearly what is missing
    except ImportError:
        say("error: the demo needs Gradio, which is not installed. Install it with: pip install 'genziqa[demo]'")
        return USAGE
    from ...gradio_app import build_demo, launch

    plan = prepare(args)  # every cheap check now, so a wrong option fails before the server starts
    demo = build_demo(plan=plan)
    model = demo.genziqa_model
    note = " — untrained scores, for ranking only" if model.zero_shot else ""
    say(f"genziqa demo: {model.label} on {model.device_type} in {model.dtype_name}{note}; "
        "the model loads on the first request. Ctrl+C stops the server.")
    launch(demo, host=args.host, port=args.port, share=args.share)
    return OK
