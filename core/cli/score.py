"""``genziqa score``: images and folders into a resumable CSV / JSONL results file, or, with
``--engine ray``, into a folder of parquet shards scored on a Ray cluster."""

from __future__ import annotations

from ._common import (
    FAILED, OK, USAGE, add_model_options, load_scorer, model_options, number, plural, positive, prepare, say,
)

HELP = "score images into a CSV or JSONL file, or on a Ray cluster into parquet shards (resumable)"
DESCRIPTION = ("Score images and folders (searched recursively) into a results file with one row per "
               "image: path, score, model, run, error. Rerunning the same command skips images already "
               "scored and retries failed ones. With --engine ray, sources may also be text files of paths "
               "and parquet/CSV tables with a path column, and --out is a folder of parquet shards.")

# Options that only the Ray engine reads (their default None means "not given").
_RAY_OPTIONS = {"address": "--address", "concurrency": "--concurrency", "batch_size": "--batch-size",
                "gpus_per_actor": "--gpus-per-actor", "cpus_per_actor": "--cpus-per-actor",
                "path_column": "--path-column"}
_SHOWN_FAILURES = 20  # a cluster job can fail thousands of images: the shards hold every error

_share = number(float, "a number", lambda v: v > 0, "must be above 0")


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="image files and folders; with --engine ray also .txt lists and .parquet/.csv tables")
    parser.add_argument("--out", required=True,
                        help="results file (.csv or .jsonl); with --engine ray a folder of parquet shards")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this machine (default); ray: a Ray cluster (pip install 'genziqa[ray]')")
    ray = parser.add_argument_group("ray engine")
    ray.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray instance)")
    ray.add_argument("--concurrency", type=positive, metavar="N",
                     help="scoring actors (default: one per GPU, else the cluster's CPUs / --cpus-per-actor)")
    ray.add_argument("--batch-size", type=positive, metavar="N",
                     help="images per actor call and per shard (default: 128 on GPUs, 4 on CPUs)")
    ray.add_argument("--gpus-per-actor", type=_share, metavar="G", help="GPUs per actor, may be a fraction (default 1)")
    ray.add_argument("--cpus-per-actor", type=_share, metavar="C",
                     help="CPUs per actor (default: 1 beside a GPU, else 4 = torch threads)")
    ray.add_argument("--path-column", metavar="NAME", help="column of image paths in table sources (default: path)")
    add_model_options(parser)


def run(args) -> int:
    if args.engine == "ray":
        return _run_ray(args)
    given = [flag for name, flag in _RAY_OPTIONS.items() if getattr(args, name) is not None]
    if given:
        say(f"error: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --engine ray only.")
        return USAGE

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


def _run_ray(args) -> int:
    from ..engines.ray import JobFailed, prepare_job

    options = {name: getattr(args, name) for name in _RAY_OPTIONS if getattr(args, name) is not None}
    job = prepare_job(args.paths, args.out, weights=args.weights, backbone=args.backbone, **model_options(args),
                      **options)
    note = " — untrained scores, for ranking only" if job.zero_shot else ""
    say(f"{job.describe()}{note}")
    say(f"{plural(len(job.paths), 'image')} ({len(job.todo)} to score) -> {args.out}")
    try:
        summary = job.run(progress=args.progress)
    except JobFailed as err:
        say(f"error: {err}")
        return FAILED
    for failure in summary.failures[:_SHOWN_FAILURES]:
        say(f"failed: {failure.error}")
    if summary.failed > _SHOWN_FAILURES:
        say(f"... and {summary.failed - _SHOWN_FAILURES} more failures: their rows in the shards carry the error")
    skipped = f", {summary.skipped} already in the folder" if summary.skipped else ""
    say(f"scored {summary.scored}, failed {summary.failed}{skipped} -> {summary.out} "
        f"({plural(summary.shards, 'shard')})")
    return FAILED if summary.failed else OK
