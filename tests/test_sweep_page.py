"""The Sweeps page and the Training page's sweep panel through AppTest, and the sweep's chart as a pure
function. The sweep is written on disk as the engine and its trials would write it (no Ray here:
tests/test_sweep_ray.py runs a real sweep)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from apptest_checks import figure, no_errors
from streamlit.testing.v1 import AppTest

from fmnist_core.config import preset
from fmnist_core.engine import Engine, EngineSettings, JobStatus
from fmnist_core.engine.records import JobKind, JobState
from fmnist_core.engine.sweep_records import SweepBook, TrialRecord, TrialStatus
from fmnist_core.engine.sweep_space import make_sweep
from fmnist_core.sweep_chart import sweep_parallel_coordinates
from ui.navigation import VIEWS_DIR

pytestmark = [pytest.mark.app]

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120
ME = "guest-ann"


# ---------------------------------------------------------------- the chart (pure)
def test_parallel_coordinates_has_an_axis_per_hyperparameter_and_both_accuracies():
    rows = [
        {"learning_rate": 0.001, "architecture": "fast_cnn", "best_val_accuracy": 0.81, "test_accuracy": 0.80},
        {"learning_rate": 0.01, "architecture": "seed_cnn", "best_val_accuracy": 0.72, "test_accuracy": None},
        {"learning_rate": 0.003, "architecture": "fast_cnn", "best_val_accuracy": None, "test_accuracy": None},
    ]
    fig = sweep_parallel_coordinates(rows, ["learning_rate", "architecture"], {"learning_rate": "Learning rate"})
    (trace,) = fig.data
    assert trace.type == "parcoords"
    labels = [d.label for d in trace.dimensions]
    assert labels == ["Learning rate (log)", "architecture", "Validation accuracy", "Test accuracy"]
    assert list(trace.dimensions[0].values) == pytest.approx([-3.0, -2.0])  # only the two scored trials, log10
    assert list(trace.dimensions[1].ticktext) == ["fast_cnn", "seed_cnn"]
    assert list(trace.dimensions[1].values) == [0, 1]
    assert list(trace.line.color) == [0.81, 0.72]
    assert list(trace.dimensions[3].values) == [0.80, 0.72]  # an unknown test accuracy sits at the bottom


def test_parallel_coordinates_says_so_before_any_trial_has_a_score():
    fig = sweep_parallel_coordinates([{"epochs": 2, "best_val_accuracy": None}], ["epochs"])
    assert not fig.data and "No trial has finished an epoch" in fig.layout.annotations[0].text


# ---------------------------------------------------------------- the page
@pytest.fixture
def fake_sweep(tmp_path, monkeypatch):
    """A running sweep of three trials: one completed, one early-stopped, one training."""
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    engine = Engine(EngineSettings(runs_root=tmp_path))
    spec = make_sweep(preset("default").with_changes(train_limit=1500),
                      {"learning_rate": "0.001,0.003,0.01", "epochs": "2"}, asha=True)
    job = engine.submit(spec.base_config(), ME, sweep=spec, start_engine=False)
    engine.book.write_state(job.job_id, JobState(status=JobStatus.RUNNING))
    book = SweepBook(tmp_path)
    book.write_trial(job.job_id, TrialRecord(0, TrialStatus.COMPLETED, run_id="run-trial-1", epochs_done=2,
                                             total_epochs=2, val_accuracy=0.84, best_val_accuracy=0.84,
                                             val_curve=[0.8, 0.84], test_accuracy=0.83, train_seconds=41.0))
    book.write_trial(job.job_id, TrialRecord(1, TrialStatus.EARLY_STOPPED, run_id="run-trial-2", epochs_done=1,
                                             total_epochs=2, val_accuracy=0.61, best_val_accuracy=0.61,
                                             val_curve=[0.61], test_accuracy=0.6, train_seconds=20.0))
    book.write_trial(job.job_id, TrialRecord(2, TrialStatus.RUNNING, run_id="run-trial-3", total_epochs=2))
    for index, (run_id, status, accuracy) in enumerate((("run-trial-1", "completed", 0.83),
                                                         ("run-trial-2", "stopped", 0.6))):
        fake_run(tmp_path, run_id, status, accuracy, job.job_id, index, spec.trials[index])
    return engine, job.job_id


def fake_run(root: Path, run_id: str, status: str, accuracy: float, sweep_id: str, index: int,
             hyperparameters: dict) -> None:
    """A saved run as the app lists it (a model file with its recorded checksum; never loaded here)."""
    from fmnist_core.runs import MODEL_FILE, RunInfo, RunStore, sha256_file

    folder = root / run_id
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(b"not a real model: only listed and made active, never loaded")
    RunStore(root, pretrained_dir=None).write_meta(RunInfo(run_id, folder, {
        "status": status, "config": preset("default").to_dict(), "test": {"accuracy": accuracy},
        "model_sha256": sha256_file(folder / MODEL_FILE), "epochs_completed": 2,
        "sweep": {"sweep_id": sweep_id, "trial": index, "hyperparameters": hyperparameters}}))


def open_sweeps(label: str = ME) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["jobs_submitter"] = label
    app.run()
    app.switch_page(f"{VIEWS_DIR}/sweeps.py").run()
    assert not app.exception, app.exception
    return app


def test_the_sweeps_page_shows_the_trials_table_and_chart(fake_sweep):
    engine, sweep_id = fake_sweep
    app = open_sweeps()
    no_errors(app)
    assert app.selectbox(key="sweeps_selected").value == sweep_id
    table = app.dataframe[0].value
    assert list(table["Trial"]) == [1, 2, 3]
    assert list(table["Status"]) == ["completed", "early stopped", "running"]
    assert list(table["Learning rate"]) == [0.001, 0.003, 0.01]
    assert list(table["Test accuracy"]) == ["83.00%", "60.00%", "–"]
    assert "run-trial-1" in list(table["Run"])
    fig = figure(app, "sweep_parcoords")
    (trace,) = fig["data"]
    assert trace["type"] == "parcoords" and len(trace["dimensions"]) == 3  # learning rate, val and test accuracy
    assert "2 of 3" in " ".join(m.value for m in app.markdown)
    assert any(b.label == "Cancel the sweep" for b in app.button)


def test_a_trial_opens_as_the_active_run(fake_sweep):
    app = open_sweeps()
    picker = app.selectbox(key=f"sweep_open_{fake_sweep[1]}")
    assert picker.value == "run-trial-1"  # the best trial first
    assert app.session_state["active_run_id"] == "run-trial-1"  # the newest completed run, by default
    picker.set_value("run-trial-2").run()
    app.button(key=f"sweep_activate_{fake_sweep[1]}").click().run()
    assert app.session_state["active_run_id"] == "run-trial-2"
    assert "run-trial-2" in " ".join(m.value for m in app.sidebar.markdown) + str(app.sidebar.metric)
    assert app.button(key=f"sweep_activate_{fake_sweep[1]}").disabled  # it is the active model now


def test_cancel_from_the_page_cancels_the_sweep_and_others_cannot(fake_sweep):
    engine, sweep_id = fake_sweep
    other = open_sweeps("guest-bob")
    assert not any(b.label == "Cancel the sweep" for b in other.button)  # not theirs
    app = open_sweeps()
    app.button(key=f"sweep_cancel_{sweep_id}").click().run()
    assert engine.book.cancel_requested(sweep_id)


def test_the_training_page_starts_a_sweep_from_its_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    monkeypatch.setattr(Engine, "ensure_running", lambda self: self.status())  # the queue only: no Ray here
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["jobs_submitter"] = ME
    app.run()
    app.switch_page(f"{VIEWS_DIR}/training.py").run()
    assert not app.exception, app.exception
    app.text_input(key="sweep_form_learning_rate").input("0.01:0.001")
    app.number_input(key="sweep_form_trials").set_value(2)
    app.button(key="sweep_form_start").click().run()
    assert any("empty" in e.value for e in app.error)  # refused with the core's reason, nothing queued
    assert not Engine(EngineSettings(runs_root=tmp_path)).jobs()
    app.text_input(key="sweep_form_learning_rate").input("0.001,0.003")
    app.text_input(key="sweep_form_epochs").input("2")
    app.multiselect(key="sweep_form_architecture").set_value(["fast_cnn"])
    app.toggle(key="sweep_form_asha").set_value(True)
    app.button(key="sweep_form_start").click().run()
    assert not app.exception, app.exception
    (job,) = Engine(EngineSettings(runs_root=tmp_path)).jobs()
    assert job.submission.kind == JobKind.SWEEP and job.submission.submitter == ME
    trials = job.submission.sweep["trials"]
    assert [(t["learning_rate"], t["epochs"], t["architecture"]) for t in trials] == [
        (0.001, 2, "fast_cnn"), (0.003, 2, "fast_cnn")]
    assert job.submission.sweep["asha"]
    assert app.session_state["sweeps_selected"] == job.job_id  # the page switched to the sweep


def _queue_page():
    from ui.jobs_panel import queue_panel

    queue_panel()


def test_the_training_queue_shows_a_running_sweep_by_its_trials(fake_sweep):
    app = AppTest.from_function(_queue_page, default_timeout=TIMEOUT)
    app.session_state["jobs_submitter"] = ME
    app.run()
    no_errors(app)
    (bar,) = app.progress
    assert bar.value == 66  # percent: 2 of 3 trials ended
    assert "Sweep: 2 of 3 trials finished, trial 3 training" in bar.proto.text
    assert any(m.value.startswith("**Sweep**") for m in app.markdown)
