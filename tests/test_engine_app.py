"""ui.jobs_panel through Streamlit's AppTest: every session sees the queue (position, progress, config,
submitter), a session cancels only its own jobs unless unlocked as admin. The queue files are written
directly (no Ray here: tests/test_engine_ray.py runs the engine for real)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("streamlit")
from conftest import report_optimiser_config
from streamlit.testing.v1 import AppTest

from fmnist_core.engine import Engine, EngineSettings, JobStatus
from fmnist_core.engine.records import JobState

CONFIG = report_optimiser_config(epochs=2, batch_size=32, train_limit=500)


def panel_page():
    from ui.jobs_panel import queue_panel

    queue_panel()


@pytest.fixture
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    engine = Engine(EngineSettings(runs_root=tmp_path))
    running = engine.submit(CONFIG, "bob", start_engine=False)
    engine.book.write_state(running.job_id, JobState(status=JobStatus.RUNNING, run_id="r-bob", epoch=2,
                                                     total_epochs=2, batch=8, steps_per_epoch=16, eta_seconds=30))
    mine = engine.submit(CONFIG, "ann", start_engine=False)
    theirs = engine.submit(CONFIG, "cy", start_engine=False)
    return engine, running, mine, theirs


def run_as(label: str, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_function(panel_page, default_timeout=60)
    at.session_state["jobs_submitter"] = label
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    return at.run()


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n" + "\n".join(c.value for c in at.caption)


def test_every_session_sees_positions_progress_config_and_submitters(queue):
    engine, running, mine, theirs = queue
    at = run_as("ann")
    assert not at.exception
    shown = texts(at)
    assert "#1 in the queue" in shown and "#2 in the queue" in shown
    assert "by you" in shown and "by cy" in shown and "by bob" in shown and "You are **ann**" in shown
    assert mine.submission.summary in shown
    assert at.progress[0].value == 75  # percent: epoch 2 of 2, batch 8 of 16
    assert "Epoch 2 of 2" in at.progress[0].proto.text
    # Only ann's own job has a cancel button.
    keys = [b.key for b in at.button]
    assert keys == [f"jobs_cancel_{mine.job_id}"]


def test_a_job_making_its_photo_renders_shows_their_progress(queue):
    engine, running, mine, theirs = queue
    engine.book.write_state(running.job_id, JobState(status=JobStatus.RUNNING, run_id="r-bob", renders_done=2750,
                                                     renders_total=11000, eta_seconds=300))
    at = run_as("ann")
    assert not at.exception
    assert at.progress[0].value == 25  # percent of the renders
    text = at.progress[0].proto.text
    assert "Rendering photos of training images: 2,750 of 11,000" in text and "about 5m 00s left" in text


def test_cancel_own_job_and_admin_unlocks_the_others(queue):
    engine, running, mine, theirs = queue
    at = run_as("ann")
    at.button(key=f"jobs_cancel_{mine.job_id}").click().run()
    assert engine.get(mine.job_id).status == JobStatus.CANCELLED  # no engine running: cancelled at once
    assert engine.get(theirs.job_id).position == 1
    assert "#1 in the queue" in texts(at)
    # No admin without a configured password: no Admin box at all.
    assert not [e for e in at.expander if "Admin" in e.label]
    at = run_as("ann", {"jobs_admin_password": "open sesame"})
    at.text_input(key="jobs_admin_password").input("wrong").run()
    assert any("Wrong password" in e.value for e in at.error)
    assert [b.key for b in at.button] == []
    at.text_input(key="jobs_admin_password").input("open sesame").run()
    keys = {b.key for b in at.button}
    assert keys == {f"jobs_cancel_{running.job_id}", f"jobs_cancel_{theirs.job_id}"}
    at.button(key=f"jobs_cancel_{theirs.job_id}").click().run()
    assert engine.get(theirs.job_id).status == JobStatus.CANCELLED
    at.button(key=f"jobs_cancel_{running.job_id}").click().run()
    # A running job gets a cancel request; its worker (none here) would stop after the batch.
    assert engine.get(running.job_id).cancel_requested and engine.get(running.job_id).status == JobStatus.RUNNING


def test_finished_jobs_are_listed_and_an_own_result_can_become_the_active_model(queue):
    engine, running, mine, theirs = queue
    engine.book.write_state(mine.job_id, replace(engine.get(mine.job_id).state, status=JobStatus.COMPLETED,
                                                 run_id="r-ann", test_accuracy=0.8123))
    at = run_as("ann")
    shown = texts(at)
    assert "completed: test accuracy **81.23%**" in shown
    at.button(key=f"jobs_active_{mine.job_id}").click().run()
    assert at.session_state["active_run_id"] == "r-ann"


def test_own_running_job_shows_its_curves_so_far(queue, tmp_path):
    from fmnist_core.runs import HISTORY_FILE, RunStore

    engine, running, mine, theirs = queue
    run = RunStore(tmp_path, pretrained_dir=None).create("seed_cnn", {"status": "running", "pid": 1})
    history = '{"loss": [1.2], "accuracy": [0.6], "val_loss": [1.0], "val_accuracy": [0.65]}'
    (run.path / HISTORY_FILE).write_text(history)
    engine.book.write_state(mine.job_id, JobState(status=JobStatus.RUNNING, run_id=run.run_id, epoch=2,
                                                  total_epochs=2, batch=3, steps_per_epoch=16))
    at = run_as("ann")
    assert not at.exception
    assert any(e.label == "Curves so far" for e in at.expander)
    assert at.get("plotly_chart")  # bob's running job shows no curves to ann: only one chart
    assert len(at.get("plotly_chart")) == 1


def test_own_running_job_draws_its_batch_curve_from_the_first_epoch(queue):
    """Before any epoch completes, the live curve comes from the running batch points the worker keeps
    in the state file; another session sees no chart for it."""
    import json

    engine, running, mine, theirs = queue
    curve = {"epoch": [0.1, 0.3, 0.5], "loss": [2.1, 1.7, 1.4], "accuracy": [0.2, 0.4, 0.5]}
    engine.book.write_state(mine.job_id, JobState(status=JobStatus.RUNNING, run_id="r-ann-live", epoch=1,
                                                  total_epochs=3, batch=8, steps_per_epoch=16, batch_curve=curve))
    at = run_as("ann")
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    running = [t for t in spec["data"] if t.get("name") == "Train (running)"]
    assert [t["y"] for t in running] == [curve["accuracy"], curve["loss"]]
    assert running[0]["x"] == curve["epoch"]
    assert not run_as("cy").get("plotly_chart")
