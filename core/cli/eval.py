"""``genziqa eval``: score a MOS data set and report SRCC, KRCC, PLCC and RMSE."""

from __future__ import annotations

import math

from ._common import FAILED, OK, add_model_options, load_scorer, number, plural, prepare, say

HELP = "score a MOS data set (KonIQ-10k, FLIVE, CLIVE, SPAQ, KADID-10k, AGIQA-3K, CSV) and report the metrics"
DESCRIPTION = ("Score the images of a public IQA data set, pointed at as its unpacked archive, and write "
               "report.json (SRCC, KRCC, PLCC raw and logistic, RMSE, bad rows, failed images), "
               "predictions.csv and scatter.png into --out. The data set is recognised from its label files "
               "unless --dataset names it. Cross-data-set protocol: train on one set, then evaluate here on "
               "another with --split all (the paper: FLIVE train split -> all 1162 CLIVE images).")

seed = number(int, "a whole number", lambda v: v >= 0, "must be 0 or more")


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="the folder the data set archive was unpacked into (or its label file / a path,mos CSV)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="koniq10k, flive, clive, spaq, kadid10k, agiqa3k or csv (default: recognised from the files)")
    parser.add_argument("--split", metavar="NAME", default=None,
                        help="train, validation, test or all (default: all). The official split where the data set "
                             "has one, else a split by content drawn with --seed")
    parser.add_argument("--seed", type=seed, default=0, help="seed of a split drawn by content (default: 0)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for report.json, predictions.csv, scatter.png and scores.csv (an interrupted "
                             "evaluation run again with the same --out resumes)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_model_options(parser)


def run(args) -> int:
    from ..data import open_dataset
    from ..evaluation import check_out_dir, evaluate, select

    # 1. Everything cheap first: the data folder, the split, the output folder, the model options.
    dataset = open_dataset(args.data, args.dataset)
    selection = select(dataset, args.split, seed=args.seed)
    out = check_out_dir(args.out)
    plan = prepare(args)
    _describe(dataset, selection, out)

    # 2. The model, then the evaluation.
    scorer = load_scorer(plan)
    result = evaluate(scorer, dataset, args.split, out, seed=args.seed, progress=args.progress, run_id=plan.run_id)

    # 3. Results on stdout, status on stderr.
    if result.reused:
        say(f"resumed: {plural(result.reused, 'score')} came from {out / 'scores.csv'} (an interrupted earlier run)")
    for path, error in result.failed[:10]:
        say(f"failed: {error}")
    if len(result.failed) > 10:
        say(f"... and {len(result.failed) - 10} more failed images (all in {out / 'report.json'})")
    m = result.metrics
    print(f"images {m.n}  SRCC {_show(m.srcc)}  KRCC {_show(m.krcc)}  PLCC {_show(m.plcc)}  "
          f"PLCC(logistic) {_show(m.plcc_logistic)}  RMSE {_show(m.rmse)}  RMSE(logistic) {_show(m.rmse_logistic)}")
    for metric, note in m.notes.items():
        say(f"note: {metric}: {note}")
    say(f"scored {result.scored}, failed {len(result.failed)} -> {out}")
    return OK if result.ok and not math.isnan(m.srcc) else FAILED


def _describe(dataset, selection, out) -> None:
    say(f"{dataset.title} at {dataset.root}: {plural(len(dataset.rows), 'image')}")
    if dataset.bad_rows:
        first = "; ".join(str(b) for b in dataset.bad_rows[:3])
        say(f"skipped {plural(len(dataset.bad_rows), 'bad row')} (all listed in report.json), e.g. {first}")
    for note in dataset.notes:
        say(f"note: {note}")
    say(f"evaluating {selection.describe()}: {plural(len(selection.rows), 'image')} -> {out}")


def _show(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"
