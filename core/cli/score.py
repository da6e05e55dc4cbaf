"""``genziqa score``: images and folders into a resumable CSV / JSONL results file."""

from __future__ import annotations

from ._common import FAILED, OK, add_model_options, load_scorer, plural, prepare, say

HELP = "score images into a CSV or JSONL file (resumable)"
DESCRIPTION = ("Score images and folders (searched recursively) into a results file with one row per "
               "image: path, score, model, run, error. Rerunning the same command skips images already "
               "scored and retries failed ones.")


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders")
    parser.add_argument("--out", required=True, help="results file: .csv or .jsonl")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_model_options(parser)


def run(args) -> int:
    from ..engines.local import check_output, collect_images, output_format, score_to_file

    # Everything that can be checked is checked before minutes go into loading the model.
    images = collect_images(args.paths)
    output_format(args.out)
    plan = prepare(args)
    done = {r.source for r in check_output(args.out, plan.run_id) if r.ok}
    todo = sum(1 for p in images if str(p) not in done)
    scorer = load_scorer(plan)
    say(f"{plural(len(images), 'image')} ({todo} to score) -> {args.out}")
    summary = score_to_file(scorer, images, args.out, progress=args.progress)
    for failure in summary.failures:
        say(f"failed: {failure.error}")
    skipped = f", {summary.skipped} already in the file" if summary.skipped else ""
    say(f"scored {summary.scored}, failed {summary.failed}{skipped} -> {summary.out}")
    return FAILED if summary.failed else OK
