"""A sweep's turn in the queue: Ray Tune runs its planned trials, ASHA stopping the weak ones early.

Runs as the body of the engine's Ray task for a queue entry of kind `sweep` (daemon.py), so a sweep is
scheduled, listed and cancelled like any job and survives a web-server restart the same way. That task
asks Ray for no CPU (it only coordinates); each trial is a Tune actor asking for what one training job
asks for, and at most `concurrency` (the engine's FMNIST_ENGINE_PARALLEL) train at once. Trials in one
runs folder still train one at a time while `fmnist_core.training` holds its per-folder training lock.

Tune runs the SweepSpec's trials as a grid over the planned list (the trials were drawn when the sweep
was submitted: engine/sweep_space.py) with metric `val_accuracy` (reported at every epoch's end) and,
when asked, `ASHAScheduler(time_attr="training_iteration", max_t=<most epochs>, grace_period=1,
reduction_factor=2)`: a factor of 2 rather than Tune's default 4, because a classroom sweep has a handful
of trials and 4 would stop all but one at every rung. A cancel request (the entry's cancel file) makes a
Tune `Stopper` end the experiment; each trial itself also watches that file and stops after its batch.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from .records import JobBook, JobStatus, this_host
from .sweep_records import SweepBook, TrialStatus, trial_rows
from .sweep_space import SweepSpec

ASHA_REDUCTION_FACTOR = 2
ASHA_GRACE_PERIOD = 1


def tune_resources(job_options: dict[str, Any]) -> dict[str, float]:
    """A trial's Tune resources from the Ray options a training job of this engine gets (pure)."""
    resources = {"cpu": float(job_options.get("num_cpus", 1))}
    if job_options.get("num_gpus"):
        resources["gpu"] = float(job_options["num_gpus"])
    return resources


def trial_folder_name(trial: Any) -> str:
    """Tune's folder of a trial: `trial-<n>` rather than every hyperparameter in the name."""
    index = trial.config["trial"]["index"]
    return "barrier" if index < 0 else f"trial-{index + 1}"


def run_sweep_job(runs_root: str, job_id: str, job_options: dict[str, Any], concurrency: int,
                  node_id: str | None = None) -> str:
    """Run the sweep `job_id` to its end in this process (a Ray worker); returns the entry's final status."""
    # Tune's own result loggers (CSV, JSON, TensorBoard) are not needed: each trial writes its own file.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # a trial cancelled in epoch 1 has none
    jobs, sweeps = JobBook(runs_root), SweepBook(runs_root)
    sub = jobs.submission(job_id)
    spec = SweepSpec.from_dict(sub.sweep or {})
    state = replace(jobs.state(job_id), status=JobStatus.RUNNING, pid=os.getpid(), host=this_host(),
                    node_id=node_id, started_at=time.time())
    jobs.write_state(job_id, state)
    try:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        from .sweep_trial import BARRIER_INDEX, CancelStopper, SweepTrial
    except ImportError as exc:  # ray without its `tune` extra: say what to install, not "the worker died"
        jobs.write_state(job_id, replace(state, status=JobStatus.FAILED, finished_at=time.time(),
                                         error=f"sweeps need Ray Tune (pip install -r requirements.txt): {exc}"))
        return str(JobStatus.FAILED)

    scheduler = None
    if spec.asha:
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
                                  grace_period=ASHA_GRACE_PERIOD, reduction_factor=ASHA_REDUCTION_FACTOR)
    planned = [{"index": index, **trial} for index, trial in enumerate(spec.trials)]
    planned.append({"index": BARRIER_INDEX})  # see sweep_trial.BARRIER_INDEX
    tuner = tune.Tuner(
        tune.with_resources(SweepTrial, tune_resources(job_options)),
        param_space={"trial": tune.grid_search(planned), "runs_root": str(runs_root), "sweep_id": job_id},
        tune_config=tune.TuneConfig(metric=spec.metric, mode="max", scheduler=scheduler, num_samples=1,
                                    max_concurrent_trials=max(1, min(concurrency, len(spec.trials))),
                                    trial_dirname_creator=trial_folder_name),
        run_config=tune.RunConfig(name="tune", storage_path=str(sweeps.folder(job_id).resolve()),
                                  stop=CancelStopper(jobs, sweeps, job_id), verbose=0, log_to_file=True,
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    error = None
    try:
        tuner.fit()
    except Exception as exc:  # noqa: BLE001 - the sweep's failure is its entry's result
        error = f"{type(exc).__name__}: {exc}"
    rows = trial_rows(spec, sweeps.trials(job_id), JobStatus.COMPLETED)
    finished = [row for row in rows if row.status in {TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED,
                                                        TrialStatus.STOPPED}]
    scored = [row for row in finished if row.record.best_val_accuracy is not None]
    best = max(scored, key=lambda row: row.record.best_val_accuracy or 0.0) if scored else None
    if jobs.cancel_requested(job_id):
        status = JobStatus.STOPPED
    elif error or not finished:
        status = JobStatus.FAILED
        failed = [row for row in rows if row.record.error]
        if not error and failed:
            error = f"{len(failed)} of {len(rows)} trials failed; trial {failed[0].number}: {failed[0].record.error}"
    else:
        status = JobStatus.COMPLETED
    # The entry's run is the best trial's, so "open the run" on the queue goes to the sweep's winner.
    jobs.write_state(job_id, replace(state, status=status, finished_at=time.time(), error=error,
                                     run_id=best.record.run_id if best else None,
                                     test_accuracy=best.record.test_accuracy if best else None))
    return str(status)

