"""``genziqa train``: train the quality prompts and the cross-attention LoRA on a MOS data set."""

from __future__ import annotations

import os

from ._common import OK, add_model_options, number, plural, positive, prepare, say

HELP = "train the quality prompts and LoRA on a MOS data set (resumable; several GPUs with torchrun)"
DESCRIPTION = (
    "Train GenzIQA's context vectors and cross-attention LoRA on a MOS data set (KonIQ-10k, FLIVE, CLIVE, SPAQ, "
    "KADID-10k, AGIQA-3K or a path,mos CSV) with the paper's settings: MSE on raw MOS, AdamW at 1e-4, batch 16, "
    "10 epochs. Writes into --out: best/ (the weights of the epoch with the best validation SRCC, for "
    "genziqa score --weights OUT/best), validation.csv, metrics.jsonl, curves.png and recovery.safetensors "
    "(rerun with --resume after an interruption). For several GPUs start it with "
    "torchrun --nproc_per_node N -m genziqa train ...; the batch is then shared by the processes."
)

SKIPPED_FILE = "skipped.csv"
MANY_UNREADABLE = 0.02
"""Above this share of unreadable images the run still starts, with a warning: a few broken files
are normal in a downloaded data set, many point to a missing folder or codec."""

seed = number(int, "a whole number", lambda v: v >= 0, "must be 0 or more")
rate = number(float, "a number", lambda v: v > 0, "must be positive")


def add_arguments(parser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, metavar="PATH",
                      help="the folder the data set archive was unpacked into (or its label file / a path,mos CSV)")
    data.add_argument("--dataset", metavar="NAME",
                      help="koniq10k, flive, clive, spaq, kadid10k, agiqa3k or csv (default: recognised from the files)")
    data.add_argument("--split", default="train", metavar="NAME",
                      help="split to train on (default: train): the official one where the data set has it, else "
                           "drawn by content with --split-seed")
    data.add_argument("--val-split", default="validation", metavar="NAME",
                      help="split that picks the best epoch by SRCC (default: validation); 'none' exports the last epoch")
    data.add_argument("--split-seed", type=seed, default=0,
                      help="seed of splits drawn by content (default: 0; genziqa eval --seed must match it)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the run (best/, logs, recovery file)")
    group = parser.add_argument_group("training (defaults: the paper's)")
    group.add_argument("--epochs", type=positive, default=10, help="epochs (default: 10)")
    group.add_argument("--batch-size", type=positive, default=16,
                       help="images per optimiser step over all processes (default: 16)")
    group.add_argument("--accumulate", type=positive, default=1, metavar="N",
                       help="split each process's share of a step into N micro-batches, to save memory (default: 1)")
    group.add_argument("--lr", type=rate, default=1e-4, help="AdamW learning rate (default: 1e-4)")
    group.add_argument("--seed", type=seed, default=0,
                       help="seed of the initial parameters, data order, flips, timesteps and noise (default: 0)")
    group.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    group.add_argument("--latent-cache", metavar="DIR",
                       help="keep encoded latents here (one file per image and flip) instead of encoding every time")
    group.add_argument("--save-every", type=positive, default=100, metavar="STEPS",
                       help="steps between recovery saves (default: 100; also at every epoch's end)")
    group.add_argument("--no-flips", dest="flips", action="store_false", help="no random horizontal/vertical flips")
    group.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false",
                       help="keep UNet activations instead of recomputing them: faster, much more memory")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_model_options(parser)
    for action in parser._actions:  # the shared option means "start from" here
        if action.dest == "weights":
            action.help = "start from these trained weights (folder or hub repo) instead of fresh, seeded ones"


def run(args) -> int:
    from ..data import open_dataset
    from ..evaluation import select
    from ..training import TrainConfig, TrainData, plan_run, train

    # torchrun starts this command once per process; only the first one talks.
    talk = say if os.environ.get("RANK", "0") == "0" else (lambda message: None)

    # 1. Everything cheap first: data, splits, settings, model options, output folder, resume state.
    dataset = open_dataset(args.data, args.dataset)
    training = select(dataset, args.split, seed=args.split_seed)
    validation = None
    if args.val_split.strip().lower() != "none":
        validation = select(dataset, args.val_split, seed=args.split_seed)
        if validation.name == training.name:
            raise ValueError(f"--val-split {args.val_split} is the training split itself; choose another split "
                             "(or 'none').")
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr,
                         seed=args.seed, flips=args.flips, gradient_checkpointing=args.gradient_checkpointing,
                         save_every=args.save_every, latent_cache=args.latent_cache)
    plan = prepare(args)
    source = {"dataset": dataset.name, "title": dataset.title, "root": str(dataset.root),
              "mos": dataset.mos_column, "train_split": training.to_dict(),
              "validation_split": validation.to_dict() if validation else None}
    data = TrainData(train=training.rows, validation=validation.rows if validation else None, source=source)
    # Every image is decoded once before anything loads: a broken file is skipped and reported, and
    # the run (whose data fingerprint covers the images kept) never stops half-way on it.
    first_rank = os.environ.get("RANK", "0") == "0"
    checked = len(data.train) + len(data.validation or ())
    data, unreadable = data.readable(progress=args.progress and first_rank)
    if unreadable:  # said before the run's checks, which may fail because of what was left out
        path, why = next(iter(unreadable.items()))
        talk(f"skipped {plural(len(unreadable), 'unreadable image')}, e.g. {path}: {why}")
        if len(unreadable) > MANY_UNREADABLE * checked:
            talk(f"warning: that is {len(unreadable) / checked:.0%} of the images, more than broken files explain; "
                 "check for a missing or unmounted folder, or a format Pillow cannot decode here, before trusting "
                 "this run")
    run_plan = plan_run(args.out, config, data, model_id=plan.run_id, method=plan.config.to_dict(), resume=args.resume)
    _describe(talk, dataset, data, training, validation, run_plan)
    if first_rank:
        listed = _write_skipped(run_plan.out, dataset.bad_rows, unreadable)
        if listed is not None:
            talk(f"every skipped entry and its reason: {listed}")
    if run_plan.finished:
        talk(f"the run in {run_plan.out} has done its {config.epochs} epochs; pass a larger --epochs to train on.")
        return OK

    # 2. Training.
    try:
        result = train(plan, data, args.out, config, resume=args.resume, progress=args.progress)
    except KeyboardInterrupt:
        talk(f"interrupted. {run_plan.out / 'recovery.safetensors'} holds the last save point (every "
             f"{config.save_every} steps and each epoch's end); rerun the same command with --resume to go on.")
        return 130

    # 3. What came out.
    counts = result.trainable
    if counts:
        talk(f"trained {counts['total']:,} values (LoRA {counts['lora']:,} + context {counts['context']:,})")
    if result.best is not None:
        best = "n/a" if result.best_srcc is None else f"{result.best_srcc:.4f}"
        if os.environ.get("RANK", "0") == "0":
            print(f"best epoch {result.best_epoch} of {result.epochs}  validation SRCC {best}  -> {result.best}")
    return OK


def _write_skipped(out, bad_rows, unreadable: dict[str, str]):
    """``skipped.csv`` in ``out``: each label entry and image left out of the run, and why; None
    (and no file, not even one left by an earlier attempt) when nothing was left out."""
    import csv

    path = out / SKIPPED_FILE
    if not bad_rows and not unreadable:
        path.unlink(missing_ok=True)
        return None
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["entry", "reason"])
        writer.writerows([row.ref, row.reason] for row in bad_rows)
        writer.writerows(unreadable.items())
    return path


def _describe(talk, dataset, data, training, validation, run_plan) -> None:
    cfg = run_plan.config
    talk(f"{dataset.title} at {dataset.root}: {plural(len(dataset.rows), 'image')}")
    if dataset.bad_rows:
        talk(f"skipped {plural(len(dataset.bad_rows), 'bad row')}, e.g. {dataset.bad_rows[0]}")
    for note in dataset.notes:
        talk(f"note: {note}")
    talk(f"training on {training.describe()}: {plural(len(data.train), 'image')}")
    if validation is None:
        talk("no validation split: the last epoch is exported")
    else:
        talk(f"validating on {validation.describe()}: {plural(len(data.validation), 'image')}")
    processes = "1 process" if run_plan.processes == 1 else f"{run_plan.processes} processes"
    split = f"{processes} x {plural(cfg.accumulate, 'micro-batch')} of {run_plan.micro_batch}"
    talk(f"batch {cfg.batch_size} ({split}), {run_plan.steps_per_epoch} steps per epoch, {cfg.epochs} epochs "
         f"-> {run_plan.out}")
    position = run_plan.resumed_position
    if position is not None and not run_plan.finished:
        talk(f"resuming at epoch {position.epoch + 1}, step {position.global_step}")
