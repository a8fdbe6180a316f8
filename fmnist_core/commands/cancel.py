"""`cancel JOB`: drop a queued job, or stop a running one after its current batch (its run is kept)."""

from __future__ import annotations

import argparse
import getpass


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cancel", help="cancel a queued or running job (your own, or any with --admin)")
    parser.add_argument("job_id")
    parser.add_argument("--as", dest="submitter", default=None, help="who you are (default: USER@cli)")
    parser.add_argument("--admin", action="store_true",
                        help="cancel anyone's job: asks for jobs_admin_password from .streamlit/secrets.toml")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..engine import Engine, EngineSettings, JobError
    from ..engine.admin import check_password, configured_password
    from .submit import default_submitter

    admin = False
    if args.admin:
        configured = configured_password()
        if configured is None:
            raise JobError("admin cancel is off: set jobs_admin_password in .streamlit/secrets.toml")
        admin = check_password(getpass.getpass("admin password: "), configured)
        if not admin:
            raise JobError("wrong admin password")
    engine = Engine(EngineSettings.from_env(args.runs_dir))
    job = engine.cancel(args.job_id, args.submitter or default_submitter(), admin=admin)
    print(f"{job.job_id}: {job.status}{' (cancel requested)' if job.status.active else ''}")
    return 0
