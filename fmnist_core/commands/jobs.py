"""`jobs`: the engine's queue (queued, running and recent jobs), with progress."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("jobs", help="the training queue: queued and running jobs with progress")
    parser.add_argument("--all", action="store_true", help="include finished jobs")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..engine import Engine, EngineSettings
    from ..engine.display import jobs_table

    engine = Engine(EngineSettings.from_env(args.runs_dir))
    jobs = [job for job in engine.jobs() if args.all or job.status.active]
    if args.json:
        print(json.dumps({"engine": engine.status().message, "jobs": [job.to_dict() for job in jobs]}, indent=2))
        return 0
    print(engine.status().message)
    print(jobs_table(jobs))
    return 0
