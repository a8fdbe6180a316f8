"""`watch JOB`: the progress bar of a queued or running job, until it ends."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("watch", help="follow a queued or running job's progress until it ends")
    parser.add_argument("job_id")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between updates")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..engine import Engine, EngineSettings, JobStatus
    from ..engine.display import progress_bar

    engine = Engine(EngineSettings.from_env(args.runs_dir))
    job = None
    for job in engine.follow(args.job_id, poll_s=max(0.1, args.interval)):
        sys.stderr.write("\r" + progress_bar(job)[:110].ljust(110))
        sys.stderr.flush()
    sys.stderr.write("\n")
    assert job is not None
    print(f"{job.job_id} {job.status} run {job.state.run_id or '-'}"
          + (f" test accuracy {job.state.test_accuracy:.4f}" if job.state.test_accuracy is not None else "")
          + (f" ({job.state.error})" if job.state.error else ""))
    return 0 if job.status in {JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.CANCELLED} else 1
