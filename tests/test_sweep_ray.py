"""A real sweep through the real engine: a private local Ray instance, Ray Tune with ASHA, trials trained
through the public training API. Slow (Ray's start, then small real trainings, one at a time):
`FMNIST_DATA_DIR=... python -m pytest -m slow tests/test_sweep_ray.py`.

One engine serves both tests (module fixture), so Ray starts once."""

from __future__ import annotations

import time

import pytest
from conftest import require_real_data

from fmnist_core.config import preset
from fmnist_core.engine import Engine, EngineSettings, JobStatus
from fmnist_core.engine.sweep_records import TrialStatus, get_sweep, sweep_tag
from fmnist_core.engine.sweep_space import make_sweep
from fmnist_core.runs import RunStatus, RunStore
from fmnist_core.sweep_chart import sweep_parallel_coordinates

pytestmark = pytest.mark.slow

TIMEOUT = 900.0
# The default recipe on 1,000 images in batches of 64 (16 steps an epoch). A learning rate of 1e-5 barely
# moves the weights in 16 steps, so after its first epoch the second trial is far below the first
# (3e-3): ASHA (reduction factor 2) stops it at the first rung. Grid order: the trials run as listed.
BASE = preset("default").with_changes(train_limit=1000, seed=11)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    require_real_data()
    runs = tmp_path_factory.mktemp("sweep-runs")
    engine = Engine(EngineSettings(runs_root=runs))
    yield engine
    assert engine.shutdown(timeout=120), "the engine did not stop"


def wait_for(engine: Engine, sweep_id: str, predicate, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    report = get_sweep(engine.settings.runs_root, sweep_id)
    while time.monotonic() < deadline:
        report = get_sweep(engine.settings.runs_root, sweep_id)
        if predicate(report):
            return report
        time.sleep(0.5)
    log = (engine.book.root / "engine.log").read_text()[-3000:]
    pytest.fail(f"sweep {sweep_id} did not get there in {timeout}s: {report.to_dict()}\n{log}")


def test_a_sweep_runs_its_trials_with_asha_and_every_run_reaches_the_runs_folder(engine):
    spec = make_sweep(BASE, {"learning_rate": "0.003,0.00001,0.001", "batch_size": "64", "epochs": "2"}, asha=True)
    job = engine.submit(spec.base_config(), "sweeper", sweep=spec)
    report = wait_for(engine, job.job_id, lambda r: not r.status.active)
    assert report.status == JobStatus.COMPLETED, report.to_dict()
    statuses = [row.status for row in report.rows]
    assert statuses[0] == TrialStatus.COMPLETED and statuses[1] == TrialStatus.EARLY_STOPPED, report.to_dict()
    assert statuses[2] in {TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED}
    assert report.rows[1].record.epochs_done == 1 and len(report.rows[1].record.val_curve) == 1
    assert report.rows[0].record.best_val_accuracy > report.rows[1].record.best_val_accuracy

    store = RunStore(engine.settings.runs_root, pretrained_dir=None)
    for row in report.rows:  # every trial's run is an ordinary, usable run, grouped under the sweep
        run = store.get(row.record.run_id)
        tag = sweep_tag(run)
        assert (tag.sweep_id, tag.trial) == (job.job_id, row.index)
        assert run.usable and run.test_accuracy == pytest.approx(row.record.test_accuracy)
        assert run.config["learning_rate"] == row.hyperparameters["learning_rate"]
        assert run.config["train_limit"] == 1000
    assert store.get(report.rows[1].record.run_id).status == RunStatus.STOPPED  # early-stopped, kept
    assert engine.get(job.job_id).state.run_id == report.best.record.run_id  # the entry opens the winner

    rows = [{**row.hyperparameters, "best_val_accuracy": row.record.best_val_accuracy,
             "test_accuracy": row.record.test_accuracy} for row in report.rows]
    fig = sweep_parallel_coordinates(rows, list(report.spec.varying))
    assert len(fig.data[0].line.color) == 3  # one line per trial


def test_cancelling_a_sweep_stops_its_training_trial_and_skips_the_rest(engine):
    slow = BASE.with_changes(train_limit=4000, batch_size=32)  # 125 steps an epoch: still training when cancelled
    spec = make_sweep(slow, {"learning_rate": "0.003,0.001,0.0003", "epochs": "3"})
    job = engine.submit(spec.base_config(), "sweeper", sweep=spec)
    wait_for(engine, job.job_id, lambda r: r.rows[0].record.run_id is not None)
    engine.cancel(job.job_id, "sweeper")
    report = wait_for(engine, job.job_id, lambda r: not r.status.active, timeout=300)
    assert report.status == JobStatus.STOPPED
    assert [row.status for row in report.rows] == [TrialStatus.STOPPED, TrialStatus.NOT_RUN, TrialStatus.NOT_RUN]
    run = RunStore(engine.settings.runs_root, pretrained_dir=None).get(report.rows[0].record.run_id)
    assert run.status == RunStatus.STOPPED and run.epochs_completed < 3  # stopped after its batch, kept
    assert sweep_tag(run).sweep_id == job.job_id
