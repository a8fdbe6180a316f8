"""`submit`: queue a training job on the engine (same options as `train`) and print its id."""

from __future__ import annotations

import argparse
import getpass


def default_submitter() -> str:
    return f"{getpass.getuser()}@cli"


def _train_option_functions():
    """cli.py's option builder and parser into a TrainConfig: the same ones `train` uses."""
    from .. import cli  # cli imports this module while it builds its parser

    return cli.add_train_options, cli.config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("submit", help="queue a training job on the engine (Ray) and print its id")
    add, _ = _train_option_functions()
    add(parser)
    parser.add_argument("--as", dest="submitter", default=None, help="submitter label (default: USER@cli)")
    parser.add_argument("--resume", metavar="RUN", help="queue the continuation of a stopped or interrupted run")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..engine import Engine, EngineSettings

    _, parse = _train_option_functions()
    engine = Engine(EngineSettings.from_env(args.runs_dir))
    job = engine.submit(parse(args), args.submitter or default_submitter(), resume_run_id=args.resume)
    print(job.job_id)
    return 0
