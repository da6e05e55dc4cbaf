"""The ``genziqa`` command line: one module per command, each parses and calls one function.

Every module of this package whose name does not start with ``_`` is a command. It defines
``HELP`` (one line for ``genziqa --help``), ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import nothing heavy at module level, so ``genziqa --help``
stays instant.

Exit status: 0 when everything asked for was done, 1 when some image could not be processed
(the others still are), 2 for usage errors and for models or files that cannot be used.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ._common import OK, USAGE, say, user_words

__all__ = ["main", "OK", "USAGE"]


def commands() -> dict[str, object]:
    """The command modules of this package by command name, in name order."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            found[info.name.replace("_", "-")] = importlib.import_module(f"{__name__}.{info.name}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error, the help or the version
        return int(exit_.code or 0)
    _quiet_libraries()
    try:
        return args.module.run(args)
    except KeyboardInterrupt:
        resumes = args.command in ("score", "eval")  # they append as they go (train says its own words)
        say("interrupted." + (f" What was written so far is kept; the same genziqa {args.command} command resumes "
                              "from it." if resumes else ""))
        return 130
    except (ValueError, OSError, ArithmeticError) as err:  # Backbone/Weights/Batch errors, bad options, overflow
        say(f"error: {user_words(str(err))}")
        return USAGE


def _parser() -> argparse.ArgumentParser:
    from ... import __version__

    parser = argparse.ArgumentParser(prog="genziqa", description="GenzIQA image quality scores and heatmaps.")
    parser.add_argument("--version", action="version", version=f"genziqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in commands().items():
        command = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(command)
        command.set_defaults(module=module)
    return parser


def _quiet_libraries() -> None:
    """Keep the libraries' own progress bars and info chatter out of our output."""
    import logging
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for name in ("diffusers", "transformers", "huggingface_hub", "accelerate", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(diffusers|transformers|huggingface_hub|accelerate|peft)(\.|$)")


if __name__ == "__main__":
    sys.exit(main())
