"""Command line: python -m fmnist_core train | resume | runs | evaluate RUN | predict RUN IMAGE..."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Sequence

from .augmentation import AugmentationConfig
from .config import OPTIMIZERS, PRESETS, SCHEDULES, VALIDATION_MODES, TrainConfig, preset
from .constants import CLASS_NAMES, DEFAULT_RUN_ID
from .errors import FmnistError
from .models import ARCHITECTURES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Subcommands defined in their own modules (fmnist_core/commands/): each has a light-weight
# ``register(subparsers)`` that adds its parser with ``set_defaults(handler=function)``; the
# handler takes the parsed arguments and returns the exit status. Heavy imports stay in handlers.
COMMAND_MODULES: tuple[str, ...] = ("fmnist_core.commands.predict", "fmnist_core.commands.export")


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="start from a named recipe")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    parser.add_argument("--schedule", choices=SCHEDULES)
    parser.add_argument("--warmup-epochs", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--ema-momentum", type=float, help="validate and save an EMA of the weights (0 = off)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--validation", choices=VALIDATION_MODES, help="holdout (5,000 training images) or test")
    parser.add_argument("--train-limit", type=int, help="train on only this many images (quick runs)")
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--mirror-averaging", action=argparse.BooleanOptionalAction, default=None,
                        help="predict on each image and its mirror image and average (test-time augmentation)")
    parser.add_argument("--rotation", type=float, help="augmentation: rotation in degrees")
    parser.add_argument("--width-shift", type=float, help="augmentation: fraction of width")
    parser.add_argument("--height-shift", type=float, help="augmentation: fraction of height")
    parser.add_argument("--zoom", type=float, help="augmentation: zoom fraction")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="augmentation: horizontal flip")
    parser.add_argument("--erasing", type=float, help="augmentation: probability of random erasing (0-1)")
    parser.add_argument("--no-augmentation", action="store_true", help="turn every augmentation off")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = preset(args.preset)
    fields = ("architecture", "epochs", "batch_size", "learning_rate", "optimizer", "schedule", "warmup_epochs",
              "weight_decay", "label_smoothing", "ema_momentum", "seed", "validation", "train_limit", "mixed_precision",
              "mirror_averaging")
    changes = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    aug = AugmentationConfig() if args.no_augmentation else config.augmentation
    aug_changes = {
        "rotation_deg": args.rotation,
        "width_shift": args.width_shift,
        "height_shift": args.height_shift,
        "zoom": args.zoom,
        "horizontal_flip": args.flip,
        "erasing": args.erasing,
    }
    aug = AugmentationConfig(**{**aug.to_dict(), **{k: v for k, v in aug_changes.items() if v is not None}})
    return config.with_changes(**changes, augmentation=aug)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmnist_core", description=__doc__)
    parser.add_argument("--runs-dir", help="runs folder (default: $FMNIST_RUNS_DIR or ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train a model and save the run")
    _add_train_options(train_parser)
    resume_parser = sub.add_parser("resume", help="continue a stopped or interrupted run")
    resume_parser.add_argument("run_id")
    runs_parser = sub.add_parser("runs", help="list saved runs with their test accuracy")
    runs_parser.add_argument("--json", action="store_true")
    eval_parser = sub.add_parser("evaluate", help="test-set metrics of a run")
    eval_parser.add_argument("run_id", nargs="?", default=DEFAULT_RUN_ID)
    eval_parser.add_argument("--json", action="store_true")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


class TerminalProgress:
    """A one-line progress bar on stderr: epoch, batch, metrics and time left."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream

    def __call__(self, event) -> None:
        from .training import BatchProgress, EpochEnd, TrainingFinished, TrainingStarted  # noqa: PLC0415

        if isinstance(event, TrainingStarted):
            print(f"run {event.run_id}: {event.epochs} epochs x {event.steps_per_epoch} batches", file=self.stream)
        elif isinstance(event, BatchProgress):
            width = 30
            filled = int(width * event.batch / max(1, event.steps_per_epoch))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\repoch {event.epoch} [{bar}] {event.batch}/{event.steps_per_epoch} "
                f"loss {event.loss:.4f} acc {event.accuracy:.4f} | {event.eta_seconds:5.0f}s left "
            )
            self.stream.flush()
        elif isinstance(event, EpochEnd):
            m = event.metrics
            val = f" val_loss {m['val_loss']:.4f} val_acc {m['val_accuracy']:.4f}" if "val_accuracy" in m else ""
            self.stream.write(
                f"\repoch {event.epoch}: loss {m['loss']:.4f} acc {m['accuracy']:.4f}{val} "
                f"({m['seconds']:.1f}s wall, {m['cpu_seconds']:.1f}s cpu)" + " " * 20 + "\n"
            )
        elif isinstance(event, TrainingFinished):
            acc = f"{event.test_accuracy:.4f}" if event.test_accuracy is not None else "n/a"
            print(f"run {event.run_id} {event.status}; test accuracy {acc}", file=self.stream)


def _store(args):
    from .runs import RunStore  # noqa: PLC0415

    return RunStore(args.runs_dir) if args.runs_dir else RunStore()


def _cmd_train(args) -> int:
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from .training import train  # noqa: PLC0415

    config = config_from_args(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C stops after the current batch, keeps the run
    result = train(config, store=_store(args), listener=TerminalProgress(), stop_event=stop,
                   command="python -m fmnist_core " + " ".join(sys.argv[1:]))
    print(result.run.run_id)
    return 0 if result.status in {"completed", "stopped"} else 1


def _cmd_resume(args) -> int:
    from .training import resume  # noqa: PLC0415

    result = resume(args.run_id, store=_store(args), listener=TerminalProgress())
    print(result.run.run_id)
    return 0


def _cmd_runs(args) -> int:
    runs = _store(args).list_runs()
    rows = [
        {
            "run_id": r.run_id,
            "status": r.status,
            "architecture": r.architecture,
            "epochs_completed": r.epochs_completed,
            "epochs": r.config.get("epochs"),
            "test_accuracy": r.test_accuracy,
            "started_at": r.meta.get("started_at"),
        }
        for r in runs
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no saved runs yet: train one with `python -m fmnist_core train`")
        return 0
    print(f"{'run id':44} {'status':12} {'architecture':12} {'epochs':>7} {'test acc':>8}")
    for row in rows:
        acc = f"{row['test_accuracy']:.4f}" if row["test_accuracy"] is not None else "-"
        print(f"{row['run_id']:44} {row['status']:12} {row['architecture']:12} "
              f"{row['epochs_completed']:>3}/{row['epochs'] or 0:<3} {acc:>8}")
    return 0


def _cmd_evaluate(args) -> int:
    from .data import load_dataset  # noqa: PLC0415
    from .evaluation import evaluate_run  # noqa: PLC0415

    store = _store(args)
    run = store.get(args.run_id)
    data = load_dataset()
    result = evaluate_run(run, lambda: store.load_model(args.run_id), data.x_test, data.y_test,
                          data.source.md5.get("t10k-images-idx3-ubyte.gz", ""))
    summary = result.summary()
    if args.json:
        print(json.dumps({"run_id": args.run_id, **summary}, indent=2))
        return 0
    print(f"run {args.run_id}: test accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f} "
          f"on {summary['count']} images")
    print(f"{'class':12} {'precision':>9} {'recall':>7} {'f1':>6}")
    for name in CLASS_NAMES:
        m = summary["per_class"][name]
        print(f"{name:12} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f}")
    return 0


COMMANDS = {"train": _cmd_train, "resume": _cmd_resume, "runs": _cmd_runs, "evaluate": _cmd_evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except FmnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
