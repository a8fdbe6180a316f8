"""Command line: python -m fmnist_core train | resume | runs | evaluate RUN | predict RUN IMAGE..."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .augmentation import AugmentationConfig
from .config import PRESET_ALIASES, PRESETS, TrainConfig, preset
from .constants import CLASS_NAMES, DEFAULT_RUN_ID
from .errors import FmnistError
from .settings import settings_of
from .text import plural

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Subcommands defined in their own modules (fmnist_core/commands/): each has a light-weight
# ``register(subparsers)`` that adds its parser with ``set_defaults(handler=function)``; the
# handler takes the parsed arguments and returns the exit status. Heavy imports stay in handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "fmnist_core.commands.arch",
    "fmnist_core.commands.submit",
    "fmnist_core.commands.jobs",
    "fmnist_core.commands.cancel",
    "fmnist_core.commands.watch",
    "fmnist_core.commands.sweep",
    "fmnist_core.commands.photoset",
    "fmnist_core.commands.explain",
    "fmnist_core.commands.predict",
    "fmnist_core.commands.export",
)


GLOBAL_HELP = {
    "--runs-dir": "runs folder (default: $FMNIST_RUNS_DIR or ./runs)",
    "--json": "print the result as JSON (progress and messages go to stderr)",
}


def add_setting_options(parser: argparse.ArgumentParser, config_class: type, *, dest_prefix: str = "",
                        help_prefix: str = "") -> None:
    """One option per setting the config class declares (fmnist_core.settings); each defaults to None,
    meaning "as the preset says"."""
    for item in settings_of(config_class):
        if not item.info.cli:
            continue
        text = help_prefix + (item.info.help or item.label).rstrip(".")
        if item.info.minimum is not None or item.info.maximum is not None:
            text += f" ({item.range_text})"
        options: dict[str, Any] = {"dest": dest_prefix + item.name, "default": None, "help": text.replace("%", "%%")}
        if item.kind is not bool and item.options is None:
            options["metavar"] = item.name.upper()
        if item.kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = item.kind
            if item.options is not None:
                options["choices"] = item.options
        parser.add_argument(item.cli_flag, **options)


def add_train_options(parser: argparse.ArgumentParser, config_class: type[TrainConfig] = TrainConfig) -> None:
    parser.add_argument("--preset", choices=[*PRESETS, *PRESET_ALIASES], default="default",
                        help="start from a named recipe (report is the seed report's recipe, alias of seed)")
    add_setting_options(parser, config_class)
    parser.add_argument("--arch-file", type=Path,
                        help="train the network in this JSON specification (see `arch show`); wins over --architecture")
    add_setting_options(parser, AugmentationConfig, dest_prefix=AUG_DEST_PREFIX, help_prefix="augmentation: ")
    parser.add_argument("--no-augmentation", action="store_true", help="turn every augmentation off")


AUG_DEST_PREFIX = "aug_"


def config_from_args(args: argparse.Namespace, config_class: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """The preset with every option the user gave applied (validated by the config itself)."""
    config = preset(args.preset)
    if config_class is not type(config):
        config = config_class.from_dict(config.to_dict())

    def given(cls: type, prefix: str = "") -> dict[str, Any]:
        values = {item.name: getattr(args, prefix + item.name, None) for item in settings_of(cls) if item.info.cli}
        return {name: value for name, value in values.items() if value is not None}

    aug = AugmentationConfig() if args.no_augmentation else config.augmentation
    aug = replace(aug, **given(type(aug), AUG_DEST_PREFIX))
    changes = given(type(config))
    if getattr(args, "arch_file", None) is not None:
        from .archspec import load_spec_file  # only when a file is given

        spec = load_spec_file(args.arch_file)
        changes.update(architecture=spec.name, architecture_spec=spec)
    return config.with_changes(**changes, augmentation=aug)


def _add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """--runs-dir and --json, accepted before or after the subcommand.

    The subcommand's copies default to SUPPRESS, so a value given before the subcommand is kept
    when it is not repeated after it. A subcommand that defines one of them itself keeps its own.
    """
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if in_subcommand else {}
    for flag, options in (("--runs-dir", {"dest": "runs_dir", **({} if in_subcommand else {"default": None})}),
                          ("--json", {"dest": "json", "action": "store_true"})):
        with contextlib.suppress(argparse.ArgumentError):  # the subcommand has its own option of that name
            parser.add_argument(flag, help=GLOBAL_HELP[flag], **{**options, **default})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fmnist_core", description=__doc__)
    _add_global_options(parser, in_subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train a model and save the run")
    add_train_options(train_parser)
    resume_parser = sub.add_parser("resume", help="continue a stopped or interrupted run")
    resume_parser.add_argument("run_id")
    sub.add_parser("runs", help="list saved runs with their test accuracy")
    eval_parser = sub.add_parser("evaluate", help="test-set metrics of a run")
    eval_parser.add_argument("run_id", nargs="?", default=DEFAULT_RUN_ID)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    for command_parser in set(sub.choices.values()):
        _add_global_options(command_parser, in_subcommand=True)
    return parser


@contextlib.contextmanager
def engine_output() -> Iterator[None]:
    """While the engine works, anything a library prints on stdout (Keras' "Downloading data from
    ...") goes to stderr: stdout holds only the command's result (one run id, a table, or JSON)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


class TerminalProgress:
    """A one-line progress bar on stderr: epoch, batch, metrics and time left."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream

    def __call__(self, event) -> None:
        from .training import BatchProgress, EpochEnd, RenderProgress, TrainingFinished, TrainingStarted

        if isinstance(event, RenderProgress):
            if event.done >= event.total:
                tail = f" ready ({event.elapsed_seconds:.0f}s)" + " " * 12 + "\n"
            else:
                tail = " | estimating time left" if event.eta_seconds is None else f" | {event.eta_seconds:5.0f}s left "
            self.stream.write(f"\rphoto renders {event.done:,}/{event.total:,}{tail}")
            self.stream.flush()
        elif isinstance(event, TrainingStarted):
            print(f"run {event.run_id}: {plural(event.epochs, 'epoch')} x "
                  f"{plural(event.steps_per_epoch, 'batch', 'batches')}", file=self.stream)
        elif isinstance(event, BatchProgress):
            width = 30
            filled = int(width * event.batch / max(1, event.steps_per_epoch))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\repoch {event.epoch} [{bar}] {event.batch}/{event.steps_per_epoch} "
                f"loss {event.loss:.4f} acc {event.accuracy:.4f} | "
                + ("estimating time left" if event.eta_seconds is None else f"{event.eta_seconds:5.0f}s left ")
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
    from .runs import RunStore

    return RunStore(args.runs_dir) if args.runs_dir else RunStore()


def _print_training_result(args, result) -> None:
    if args.json:
        run = result.run
        print(json.dumps({"run_id": run.run_id, "status": str(result.status),
                          "epochs_completed": run.epochs_completed, "test_accuracy": run.test_accuracy}, indent=2))
    else:
        print(result.run.run_id)


def _cmd_train(args) -> int:
    import signal
    import threading

    config = config_from_args(args)  # validated here, before TensorFlow loads
    from .training import train

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C stops after the batch, keeps the run
    try:
        with engine_output():
            result = train(config, store=_store(args), listener=TerminalProgress(), stop_event=stop,
                           command="python -m fmnist_core " + " ".join(sys.argv[1:]))
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_training_result(args, result)
    return 0 if result.status.ended_with_a_model else 1


def _cmd_resume(args) -> int:
    from .training import resume

    with engine_output():
        result = resume(args.run_id, store=_store(args), listener=TerminalProgress())
    _print_training_result(args, result)
    return 0


def _cmd_runs(args) -> int:
    runs = _store(args).list_runs()
    rows = [
        {
            "run_id": r.run_id,
            "status": r.status,
            "architecture": r.architecture,
            "epochs_completed": r.epochs_completed,
            "epochs": r.total_epochs,
            "test_accuracy": r.test_accuracy,
            "started_at": r.record.started_at,
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
    from .data import load_dataset
    from .evaluation import cached_predictions

    store = _store(args)
    run = store.get(args.run_id)
    with engine_output():
        result = cached_predictions(run, store, load_dataset())
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
