"""fmnist_core.jobs.JobManager: one background training job per server, progress snapshots,
stop, and failures reported rather than raised."""

from __future__ import annotations

import time

import pytest
from conftest import report_optimiser_config

from fmnist_core.errors import TrainingBusyError
from fmnist_core.jobs import ACTIVE_JOB_STATUSES, JOB_MANAGER, JobManager, JobStatus
from fmnist_core.runs import RunStatus

# 1,000 synthetic images in batches of 50 -> 20 batches per epoch. Many epochs, so the job is
# certainly still running when the test stops it (a stopped job ends after the current batch).
LONG_CONFIG = report_optimiser_config(epochs=100, batch_size=50, validation="test", seed=1)


def wait_for(predicate, manager: JobManager, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = manager.snapshot()
        if predicate(snap):
            return snap
        time.sleep(0.05)
    pytest.fail(f"condition not reached within {timeout}s; last snapshot: {manager.snapshot()}")


def test_job_statuses_and_the_one_active_set():
    """The active set (which holds the server's one training slot) is defined once, and a run's end
    state maps onto the job's; a status the job does not know ends it as failed."""
    assert {JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING} == ACTIVE_JOB_STATUSES
    assert [s for s in JobStatus if s.active] == [JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING]
    assert JobStatus.of_run(RunStatus.COMPLETED) is JobStatus.COMPLETED
    assert JobStatus.of_run(RunStatus.STOPPED) is JobStatus.STOPPED
    assert JobStatus.of_run(RunStatus.INTERRUPTED) is JobStatus.FAILED
    assert JobStatus.RUNNING == "running" and str(JobStatus.STOPPING) == "stopping"  # as stored and shown
    assert JOB_MANAGER.snapshot() is None or JOB_MANAGER.snapshot().status in set(JobStatus)


def test_job_runs_reports_progress_refuses_a_second_and_stops(synthetic_dataset, tmp_store):
    manager = JobManager()
    assert manager.snapshot() is None
    assert manager.stop() is False  # nothing to stop

    first = manager.start(LONG_CONFIG, store=tmp_store, dataset=synthetic_dataset)
    assert first.job_id == 1 and first.active and first.config == LONG_CONFIG
    with pytest.raises(TrainingBusyError):
        manager.start(LONG_CONFIG, store=tmp_store, dataset=synthetic_dataset)

    first_batches = wait_for(lambda s: s.status == JobStatus.RUNNING and s.batch > 0, manager)
    assert first_batches.eta_seconds is None or first_batches.eta_seconds > 0  # "estimating" at first
    # A point of the live curve from the first reported batch on, before any epoch ends.
    assert first_batches.batch_curve["epoch"] and first_batches.batch_curve["loss"]
    snap = wait_for(lambda s: s.eta_seconds is not None, manager)
    assert snap.run_id and tmp_store.get(snap.run_id).status == RunStatus.RUNNING
    assert snap.total_epochs == 100 and snap.steps_per_epoch == 20
    assert snap.epoch >= 1 and 1 <= snap.batch <= 20
    assert 0.0 < snap.fraction < 1.0 and snap.elapsed_seconds > 0
    assert snap.eta_seconds is not None and snap.eta_seconds > 0
    with pytest.raises(TrainingBusyError):  # still refused while it runs
        manager.start(LONG_CONFIG, store=tmp_store, dataset=synthetic_dataset)

    # Snapshots are copies: changing one does not reach the job.
    snap.history.setdefault("loss", []).append(123.0)
    assert manager.snapshot().history.get("loss", []) != snap.history["loss"]

    assert manager.stop() is True
    assert manager.snapshot().status in {JobStatus.STOPPING, JobStatus.STOPPED}
    final = manager.wait(timeout=120)
    assert final.status == JobStatus.STOPPED and not final.active
    assert final.test_accuracy is not None and final.error is None
    assert final.epoch < 100
    run = tmp_store.get(final.run_id)
    assert run.status == RunStatus.STOPPED and run.has_model

    # Once it ended, a new job may start (and is refused no longer).
    again = manager.start(LONG_CONFIG, store=tmp_store, dataset=synthetic_dataset)
    assert again.job_id == 2
    wait_for(lambda s: s.status == JobStatus.RUNNING, manager)
    manager.stop()
    assert manager.wait(timeout=120).status == JobStatus.STOPPED


def test_failing_job_reports_failed_with_the_message(synthetic_dataset, tmp_store):
    manager = JobManager()
    # holdout validation needs more than 5,000 training images; the synthetic set has 1,000.
    manager.start(LONG_CONFIG.with_changes(validation="holdout"), store=tmp_store, dataset=synthetic_dataset)
    final = manager.wait(timeout=120)
    assert final.status == JobStatus.FAILED and not final.active
    assert "val_size" in final.error
    assert final.test_accuracy is None
    (run,) = tmp_store.list_runs()
    assert run.status == RunStatus.FAILED and "val_size" in run.meta["error"]


def test_job_that_fails_before_creating_a_run(synthetic_dataset, tmp_path):
    """Errors raised before any event (here: the runs folder is a file) still end as 'failed'."""
    from fmnist_core.runs import RunStore

    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("a file where the runs folder should be")
    manager = JobManager()
    manager.start(LONG_CONFIG, store=RunStore(not_a_folder, pretrained_dir=None), dataset=synthetic_dataset)
    final = manager.wait(timeout=60)
    assert final.status == JobStatus.FAILED and final.error and final.run_id is None


def test_live_curve_gets_a_point_every_few_seconds_and_at_each_epoch_end():
    from fmnist_core.jobs import CURVE_POINT_SECONDS, _Job
    from fmnist_core.training import BatchProgress

    job = _Job(1, None)

    def batch(epoch, index, seconds):
        return BatchProgress(epoch=epoch, batch=index, steps_per_epoch=10, loss=1.0, accuracy=0.5,
                             elapsed_seconds=seconds, eta_seconds=None, running_loss=2.0 - seconds / 10,
                             running_accuracy=seconds / 10)

    for index, seconds in enumerate((0.2, 0.4, CURVE_POINT_SECONDS + 0.3, CURVE_POINT_SECONDS + 0.5), start=1):
        job.add_curve_point(batch(1, index, seconds))
    job.add_curve_point(batch(1, 10, CURVE_POINT_SECONDS + 0.6))  # the epoch's last batch: always a point
    assert job.batch_curve["epoch"] == [0.1, 0.3, 1.0]
    assert job.batch_curve["loss"] == pytest.approx([1.98, 2.0 - (CURVE_POINT_SECONDS + 0.3) / 10,
                                                     2.0 - (CURVE_POINT_SECONDS + 0.6) / 10])
    assert len(job.batch_curve["accuracy"]) == 3
