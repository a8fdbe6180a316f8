"""`sweep`: queue a hyperparameter sweep (Ray Tune trials, optional ASHA early stopping) and print its id;
`sweeps [ID]`: list the sweeps, or one sweep's table of trials.

Each hyperparameter option takes one value (fixed), a list `a,b,c` or a range `low:high`; names, ranges
and help come from the settings schema (engine/sweep_space.py), so the Training page's form and this
command accept and refuse the same spaces.
"""

from __future__ import annotations

import argparse
import json

# The option of each sweepable hyperparameter (short names, as people write them).
FLAGS = {"learning_rate": "--lr", "batch_size": "--batch-size", "epochs": "--epochs",
         "augmentation_strength": "--aug-strength", "architecture": "--arch"}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import PRESET_ALIASES, PRESETS
    from ..engine.sweep_space import MAX_TRIALS, SWEEPABLE, sweep_setting

    parser = sub.add_parser("sweep", help="queue a hyperparameter sweep on the engine (Ray Tune) and print its id",
                            description="Each hyperparameter takes a value, a list a,b,c or a range low:high.")
    for name in SWEEPABLE:
        item = sweep_setting(name)
        if item.options:
            text = f"{item.label}: value or list a,b; one of {', '.join(map(str, item.options))}"
        else:
            text = f"{item.label}: value, list a,b or range low:high; {item.range_text}"
        if name == "augmentation_strength":
            text += f" ({item.info.help})"
        parser.add_argument(FLAGS[name], dest=name, metavar="VALUES", help=text.replace("%", "%%"))
    parser.add_argument("--trials", type=int, help=f"number of trials (1-{MAX_TRIALS}); default: every combination "
                        "of the listed values (required with a range)")
    parser.add_argument("--asha", action="store_true", help="stop weak trials early (Ray Tune's ASHA on "
                        "per-epoch validation accuracy)")
    parser.add_argument("--preset", choices=[*PRESETS, *PRESET_ALIASES], default="default",
                        help="the recipe every trial starts from")
    parser.add_argument("--train-limit", type=int, help="train each trial on this many images (a quick sweep)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trials drawn from the space")
    parser.add_argument("--as", dest="submitter", default=None, help="submitter label (default: USER@cli)")
    parser.set_defaults(handler=handle)

    show = sub.add_parser("sweeps", help="list the sweeps, or one sweep's trials")
    show.add_argument("sweep_id", nargs="?", help="show this sweep's table of trials")
    show.set_defaults(handler=handle_show)


def handle(args: argparse.Namespace) -> int:
    from ..config import preset
    from ..engine import Engine, EngineSettings
    from ..engine.sweep_space import SWEEPABLE, make_sweep
    from .submit import default_submitter

    base = preset(args.preset)
    if args.train_limit is not None:
        base = base.with_changes(train_limit=args.train_limit)
    spec = make_sweep(base, {name: getattr(args, name) for name in SWEEPABLE}, trials=args.trials, asha=args.asha,
                      seed=args.seed)
    engine = Engine(EngineSettings.from_env(args.runs_dir))
    job = engine.submit(spec.base_config(), args.submitter or default_submitter(), sweep=spec)
    if args.json:
        print(json.dumps({"sweep_id": job.job_id, "trials": [dict(t) for t in spec.trials]}, indent=2))
    else:
        print(job.job_id)
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def trials_text(report) -> str:
    """A sweep's table of trials for the terminal (pure: report in, text out)."""
    names = list(report.spec.names)
    sub = report.job.submission
    lines = [f"sweep {report.sweep_id} ({report.status}) by {sub.submitter}: {sub.summary}",
             "  ".join([f"{'trial':5}", *(f"{n[:14]:>14}" for n in names), f"{'status':14}", f"{'epochs':>6}",
                        f"{'val acc':>8}", f"{'test acc':>8}", f"{'seconds':>8}", "run"])]
    for row in report.rows:
        r = row.record
        lines.append("  ".join([f"{row.number:5}", *(f"{_cell(row.hyperparameters.get(n))[:14]:>14}" for n in names),
                                f"{str(r.status):14}", f"{r.epochs_done:>3}/{r.total_epochs or '-':<2}",
                                f"{_cell(r.best_val_accuracy and round(r.best_val_accuracy, 4)):>8}",
                                f"{_cell(r.test_accuracy and round(r.test_accuracy, 4)):>8}",
                                f"{_cell(r.train_seconds and round(r.train_seconds, 1)):>8}", r.run_id or "-"]))
    return "\n".join(lines)


def handle_show(args: argparse.Namespace) -> int:
    from ..engine import EngineSettings
    from ..engine.sweep_records import get_sweep, list_sweeps

    root = EngineSettings.from_env(args.runs_dir).runs_root
    if args.sweep_id:
        report = get_sweep(root, args.sweep_id)
        print(json.dumps(report.to_dict(), indent=2) if args.json else trials_text(report))
        return 0
    reports = list_sweeps(root)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return 0
    if not reports:
        print("no sweeps yet: start one with `python -m fmnist_core sweep --lr 0.001,0.003 --epochs 2`")
        return 0
    for report in reports:
        best = report.best
        tail = f"best trial {best.number} ({best.record.best_val_accuracy:.4f} val)" if best else "no result yet"
        print(f"{report.sweep_id}  {str(report.status):10} {report.finished_trials}/{len(report.rows)} trials  "
              f"{tail}  {report.job.submission.summary}")
    return 0
