"""Text views of jobs for the terminal (`jobs`, `watch`): pure functions, job in, string out."""

from __future__ import annotations

from .records import Job, JobStatus


def where(job: Job) -> str:
    """Position in the queue, progress, or how it ended, in a few words."""
    state = job.state
    if state.status == JobStatus.QUEUED:
        return f"queued #{job.position}" + (" (cancelling)" if job.cancel_requested else "")
    if state.status in {JobStatus.STARTING}:
        return "starting"
    if state.status in {JobStatus.RUNNING, JobStatus.STOPPING}:
        if not state.total_epochs:
            return f"{state.status} (loading)"
        return (f"{state.status} {state.fraction:4.0%} epoch {max(1, state.epoch)}/{state.total_epochs} "
                f"batch {state.batch}/{state.steps_per_epoch}")
    tail = f" test acc {state.test_accuracy:.4f}" if state.test_accuracy is not None else ""
    return f"{state.status}{tail}"


def jobs_table(jobs: list[Job]) -> str:
    if not jobs:
        return "no jobs: queue one with `python -m fmnist_core submit`"
    lines = [f"{'job':22} {'submitter':14} {'where':44} {'run':32} config"]
    for job in jobs:
        lines.append(f"{job.job_id:22} {job.submission.submitter[:14]:14} {where(job)[:44]:44} "
                     f"{(job.state.run_id or '-')[:32]:32} {job.submission.summary}")
    return "\n".join(lines)


def progress_bar(job: Job, width: int = 30) -> str:
    """One line, redrawn in place by `watch`."""
    state = job.state
    if state.status in {JobStatus.RUNNING, JobStatus.STOPPING} and state.steps_per_epoch:
        filled = int(width * state.batch / max(1, state.steps_per_epoch))
        bar = "#" * filled + "-" * (width - filled)
        metrics = " ".join(f"{k} {v:.4f}" for k, v in state.metrics.items() if k in {"loss", "accuracy"})
        eta = f" | {state.eta_seconds:5.0f}s left" if state.eta_seconds is not None else ""
        return (f"epoch {max(1, state.epoch)}/{state.total_epochs} [{bar}] {state.batch}/{state.steps_per_epoch} "
                f"{metrics}{eta}")
    return where(job)
