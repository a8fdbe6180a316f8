"""The Streamlit app, page by page, through Streamlit's own AppTest (no browser).

A copy of conftest's tiny trained run (seed_cnn, 1 epoch, 2,000 images) sits in a private
runs folder, with the shipped default run switched off, so every page has a real active
model. Each test then drives a page's main widgets and checks that what is shown changes
the way a user would expect. The Training page only submits to the engine's queue; its tests
replace the engine process by tests/standin_engine.py (no Ray start per test), whose jobs still
train in their own worker processes, and wait on the queue files as the page does.

Not covered here (AppTest cannot do it): drawing on the canvas in a browser (the canvas is
checked to render, and the drawing path is tested through the same ui function the page
calls), the fragment's timed auto-refresh (AppTest runs a fragment once per run; the tests
rerun by hand), and how the pages look.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest_checks import figure, no_errors
from streamlit.testing.v1 import AppTest

from ui.navigation import VIEWS_DIR

pytestmark = [pytest.mark.app]

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120  # seconds per AppTest run: the first TensorFlow import is slow on 2 busy cores
CORRECT = "#2ca02c"
WRONG = "#d62728"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def app_runs(trained_run, tmp_path_factory):
    """A private runs folder holding a copy of conftest's tiny trained run (seed_cnn, 1 epoch,
    2,000 images); the tests add their own runs beside it."""
    from fmnist_core.runs import RunStore

    store, run_id = trained_run
    runs = tmp_path_factory.mktemp("app-runs")
    shutil.copytree(store.root / run_id, runs / run_id)
    run = RunStore(runs, pretrained_dir=None).get(run_id)
    return {"runs": runs, "run_id": run_id, "accuracy": run.test_accuracy}


@pytest.fixture()
def app_env(app_runs, monkeypatch):
    """Point the app at the private runs folder, with the shipped default run switched off."""
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(app_runs["runs"]))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")  # never pick up a shipped default run
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return app_runs


@pytest.fixture()
def at(app_env) -> AppTest:
    """A fresh session of the app, on the Home page, with the fixture's model active."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["active_run_id"] = app_env["run_id"]
    app.run()
    assert not app.exception
    return app


def open_page(app: AppTest, page: str) -> AppTest:
    app.switch_page(f"{VIEWS_DIR}/{page}.py").run()
    assert not app.exception, app.exception
    return app


def grid_titles(fig: dict) -> list[tuple[str, str]]:
    """(text, colour) of each image title in an image_grid figure."""
    return [(a["text"], a["font"]["color"]) for a in fig["layout"].get("annotations", [])]


def values(data) -> np.ndarray:
    """A Plotly array from figure JSON: a plain list, or Plotly 6's typed {"bdata", "dtype", "shape"}."""
    if isinstance(data, dict) and "bdata" in data:
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        shape = data.get("shape")
        if shape:
            array = array.reshape([int(n) for n in str(shape).split(",")])
        return array
    return np.asarray(data)


def grid_images(fig: dict) -> np.ndarray:
    """The images of an image_grid figure (JSON), cut from its one mosaic trace."""
    meta = fig["layout"]["meta"]
    mosaic = values(fig["data"][0]["z"])
    height, width = meta["image_size"]
    return np.array([mosaic[y : y + height, x : x + width] for x, y in meta["cells"]], dtype=np.uint8)


def sidebar_text(app: AppTest) -> str:
    return " ".join(m.value for m in app.sidebar.markdown) + " " + " ".join(str(m.value) for m in app.sidebar.metric)


# ---------------------------------------------------------------- every page renders
@pytest.mark.parametrize("page", ["home", "data_explorer", "augmentation_lab", "training", "sweeps", "predictions",
                                  "classify"])
def test_every_page_renders_with_the_active_model_in_the_sidebar(at, app_env, page):
    open_page(at, page)
    no_errors(at)
    assert app_env["run_id"] in sidebar_text(at)
    assert at.title, "every page has a title"


def test_home_shows_dataset_model_card_and_links(at, app_env):
    no_errors(at)
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics["Training images"] == "60,000" and metrics["Classes"] == "10"
    assert metrics["Test accuracy"] == f"{100 * app_env['accuracy']:.2f}%"
    assert "Parameters" in metrics and "Multiply-adds / image" in metrics  # read from run.json
    assert any("official Fashion-MNIST files" in c.value or "copy" in c.value for c in at.caption)
    assert any("pytest fixture" in c.value for c in at.code)  # how it was trained
    links = {link.proto.page for link in at.get("page_link")}
    assert {"data_explorer", "augmentation_lab", "training", "predictions", "classify"} <= links  # url paths


@pytest.mark.slow
def test_home_does_not_import_tensorflow(app_env):
    """Home opens without loading TensorFlow/Keras (checked in a fresh interpreter)."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT})
        at.run()
        print(json.dumps({{
            "exception": [e.value for e in at.exception],
            "metrics": [m.label for m in at.main.metric],
            "tensorflow": "tensorflow" in sys.modules,
            "keras": "keras" in sys.modules,
        }}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exception"] == []
    assert "Test accuracy" in report["metrics"], "the model card was rendered"
    assert report["tensorflow"] is False and report["keras"] is False


# ---------------------------------------------------------------- data explorer
def test_data_explorer_filters_shuffles_and_pages(at):
    open_page(at, "data_explorer")
    first = grid_titles(figure(at, "dx_grid"))
    assert len(first) == 24
    assert len({t.split("<br>")[0] for t, _ in first}) > 1  # all classes mixed

    at.multiselect(key="dx_classes").set_value(["Trouser"]).run()
    no_errors(at)
    titles = grid_titles(figure(at, "dx_grid"))
    assert len(titles) == 24 and all(t.split("<br>")[0] == "Trouser" for t, _ in titles)

    at.number_input(key="dx_page").set_value(2).run()
    page_two = grid_titles(figure(at, "dx_grid"))
    assert all(t.split("<br>")[0] == "Trouser" for t, _ in page_two) and page_two != titles

    at.button[0].click().run()  # Reshuffle: a new seed and back to page 1
    assert at.number_input(key="dx_seed").value == 1 and at.number_input(key="dx_page").value == 1
    assert grid_titles(figure(at, "dx_grid")) != titles

    at.selectbox(key="dx_per_page").set_value(48).run()  # how many
    assert len(grid_titles(figure(at, "dx_grid"))) == 48

    at.multiselect(key="dx_classes").set_value(["Bag", "Sandal"]).run()
    at.segmented_control(key="dx_split").set_value("test").run()
    no_errors(at)
    assert {t.split("<br>")[0] for t, _ in grid_titles(figure(at, "dx_grid"))} <= {"Bag", "Sandal"}
    assert any("2,000 images of Bag, Sandal in the test set" in c.value for c in at.caption)

    counts = figure(at, "dx_counts")
    assert [trace["name"] for trace in counts["data"]] == ["Train", "Test"]
    means = figure(at, "dx_means")
    assert len(grid_images(means)) == 10


# ---------------------------------------------------------------- augmentation lab
def test_augmentation_lab_updates_live_and_hands_settings_to_training(at):
    open_page(at, "augmentation_lab")
    no_errors(at)
    # It opens on the seed report's settings, so the first view already shows augmentation.
    assert at.slider(key="lab_rotation_deg").value == 10.0 and at.toggle(key="lab_horizontal_flip").value is True
    assert at.slider(key="lab_width_shift").value == at.slider(key="lab_zoom").value == 0.1
    first = grid_images(figure(at, "lab_grid"))
    assert len(first) == 9  # the original and 8 versions
    assert sum(not np.array_equal(first[0], img) for img in first[1:]) >= 6
    assert not any("Every transform is off" in i.value for i in at.info)

    for name in ("rotation_deg", "width_shift", "height_shift", "zoom"):
        at.slider(key=f"lab_{name}").set_value(0.0)
    at.toggle(key="lab_horizontal_flip").set_value(False).run()
    no_errors(at)
    images = grid_images(figure(at, "lab_grid"))
    assert np.array_equal(images[0], first[0])
    assert all(np.array_equal(images[0], img) for img in images[1:]), "all transforms off: copies of the original"
    assert any("Every transform is off" in i.value for i in at.info)

    at.slider(key="lab_rotation_deg").set_value(40.0).run()
    no_errors(at)
    rotated = grid_images(figure(at, "lab_grid"))
    assert np.array_equal(rotated[0], images[0])  # the original is unchanged
    assert sum(not np.array_equal(rotated[0], img) for img in rotated[1:]) >= 6

    at.number_input(key="lab_seed").set_value(7).run()
    assert not np.array_equal(grid_images(figure(at, "lab_grid"))[1:], rotated[1:])  # a new random draw

    at.selectbox(key="lab_class").set_value("Sneaker").run()
    assert "Sneaker" in " ".join(c.value for c in at.caption)

    at.toggle(key="lab_horizontal_flip").set_value(True).run()
    at.slider(key="lab_erasing").set_value(0.5).run()
    no_errors(at)
    next(b for b in at.button if b.label == "Use these settings for training").click().run()
    no_errors(at)
    assert at.slider(key="aug_rotation_deg").value == 40.0  # now on the Training page, pre-filled
    assert at.toggle(key="aug_horizontal_flip").value is True
    assert at.slider(key="aug_erasing").value == 0.5
    assert any("Augmentation lab" in i.value for i in at.info)


def test_augmentation_lab_shows_an_image_as_a_photo_and_what_the_pipeline_makes_of_it(at):
    open_page(at, "augmentation_lab")
    assert not at.image  # rendered only when asked: it takes a moment
    at.toggle(key="lab_show_photo").set_value(True).run()
    no_errors(at)
    captions = [caption for img in at.image for caption in img.captions]
    assert captions == ["The rendered photo", "What the model is trained on (28x28)"]


# ---------------------------------------------------------------- training
def _quick_run_settings(app: AppTest, epochs: int) -> None:
    """A small seed-CNN run on the dataset alone: photo renders have their own tests (test_photo_renders,
    test_engine_app), and each test session starts with an empty render cache, so the default's share made
    the 12,000-image resume test render 2,400 photos first (164 s alone on 2 cores with them, 37 s without)."""
    app.selectbox(key="tr_architecture").set_value("seed_cnn")
    app.number_input(key="tr_photo_renders").set_value(0.0)
    app.number_input(key="tr_epochs").set_value(epochs)
    app.number_input(key="tr_batch_size").set_value(100)
    app.selectbox(key="tr_optimizer").set_value("adam")
    app.selectbox(key="tr_schedule").set_value("constant")
    app.toggle(key="tr_use_subset").set_value(True)
    app.run()  # the subset size is enabled once the toggle is on
    app.number_input(key="tr_train_limit").set_value(200)
    app.run()


def _start(app: AppTest) -> None:
    next(b for b in app.button if b.label == "Start training").click().run()
    no_errors(app)


def test_training_presets_fill_the_form(at):
    open_page(at, "training")
    from fmnist_core.config import PRESETS

    assert at.number_input(key="tr_epochs").value == PRESETS["default"].epochs  # the default preset
    assert at.toggle(key="tr_mixed_precision").value is PRESETS["default"].mixed_precision
    at.segmented_control(key="tr_preset").set_value("seed").run()
    no_errors(at)
    assert at.selectbox(key="tr_architecture").value == "seed_cnn"
    assert at.number_input(key="tr_epochs").value == 50
    assert at.number_input(key="tr_batch_size").value == 64
    assert at.selectbox(key="tr_validation").value == "test"
    assert at.slider(key="aug_rotation_deg").value == 10.0 and at.toggle(key="aug_horizontal_flip").value is True
    assert at.toggle(key="tr_mixed_precision").value is False  # the report trained in float32
    assert at.toggle(key="tr_mirror_averaging").value is False
    at.segmented_control(key="tr_preset").set_value("best").run()
    no_errors(at)
    best = PRESETS["best"]
    assert at.selectbox(key="tr_architecture").value == best.architecture == "large_cnn"
    assert at.toggle(key="tr_mirror_averaging").value is True
    assert at.slider(key="aug_erasing").value == best.augmentation.erasing > 0


def _estimate_caption(app: AppTest) -> str:
    return next((c.value for c in app.caption if "on this machine" in c.value and "About" in c.value), "")


def test_training_shows_the_run_time_estimated_on_this_machine_before_start(at):
    """#17 item 5: the estimate follows the settings and says what it is measured from."""
    from fmnist_core.config import PRESETS

    open_page(at, "training")
    # The fixture's only run is a seed_cnn trained here: for another network it is the rough guide.
    first = _estimate_caption(at)
    assert f"{PRESETS['default'].epochs} epochs of 66,000 images" in first and "1 run on this machine" in first
    # 55,000 images and photo renders of a fifth of them, none made yet (the tests' cache folder is new).
    assert any("First, 11,000 of its 11,000 photo renders are made" in c.value for c in at.caption)
    at.segmented_control(key="tr_preset").set_value("seed").run()
    no_errors(at)
    seed = _estimate_caption(at)
    assert "50 epochs of 60,000 images" in seed and "of seed_cnn" in seed  # the same network's own speed
    at.number_input(key="tr_epochs").set_value(5).run()
    assert "5 epochs of 60,000 images" in _estimate_caption(at)


@pytest.fixture()
def standin(app_env, monkeypatch):
    """The engine process replaced by tests/standin_engine.py (no Ray start per test; each job still
    trains in its own worker process through the engine's worker code)."""
    from standin_engine import StandInEngine

    from fmnist_core.engine import Engine

    engine = StandInEngine(app_env["runs"])
    monkeypatch.setattr(Engine, "ensure_running", lambda self: engine.ensure_running())
    yield engine
    engine.close()


def _my_jobs(app: AppTest):
    from fmnist_core.engine import Engine

    me = app.session_state["jobs_submitter"]
    return [job for job in Engine().jobs() if job.submission.submitter == me]


def _wait_for(job_id: str, predicate, timeout: float = 240.0):
    import time

    from fmnist_core.engine import Engine

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Engine().get(job_id)
        if predicate(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got there: {Engine().get(job_id)}")


def _panel_text(app: AppTest) -> str:
    return "\n".join(m.value for m in app.markdown) + "\n" + "\n".join(c.value for c in app.caption)


@pytest.mark.slow
def test_training_is_queued_trains_outside_the_web_process_and_becomes_active(at, app_env, standin):
    from fmnist_core.engine import Engine
    from fmnist_core.runs import RunStore

    open_page(at, "training")
    assert any(s.value == "Training queue" for s in at.subheader)
    _quick_run_settings(at, epochs=1)
    _start(at)
    (job,) = _my_jobs(at)
    assert job.submission.config["train_limit"] == 200 and job.submission.config["epochs"] == 1
    assert job.submission.summary in _panel_text(at) and "by you" in _panel_text(at)
    assert any(f"Job **{job.job_id}** submitted" in s.value for s in at.success)
    # Start stays enabled: a second job would queue behind this one.
    assert not next(b for b in at.button if b.label == "Start training").disabled

    # The job trains in a worker process, never in this (the web server's) process.
    running = _wait_for(job.job_id, lambda j: j.state.pid is not None or not j.status.active)
    assert running.state.pid == standin.worker_pids[job.job_id] != os.getpid()

    # A second session sees the same queue, with the submitter's label instead of "you".
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.run()
    open_page(other, "training")
    assert f"by {at.session_state['jobs_submitter']}" in _panel_text(other)

    final = Engine().wait(job.job_id, timeout=240)
    assert final.status == "completed", final
    at.run()
    no_errors(at)
    assert any(f"`{job.job_id}` completed: test accuracy" in m.value for m in at.markdown)
    run_id = final.state.run_id
    assert RunStore(app_env["runs"], pretrained_dir=None).get(run_id).status == "completed"

    at.button(key=f"jobs_active_{job.job_id}").click().run()
    no_errors(at)
    assert run_id in sidebar_text(at)

    # The new run is in Load and Compare (added to Compare's earlier selection without a click).
    assert any(run_id in option for option in at.selectbox(key="tr_load_run").options)
    assert run_id in at.multiselect(key="tr_compare_runs").value
    at.multiselect(key="tr_compare_runs").set_value([app_env["run_id"], run_id]).run()
    compare = figure(at, "tr_compare_chart")
    assert {trace["name"] for trace in compare["data"]} == {app_env["run_id"], run_id}

    # Load: make the fixture's run active again from the list.
    at.selectbox(key="tr_load_run").set_value(app_env["run_id"]).run()
    at.button(key="tr_make_active").click().run()
    no_errors(at)
    assert app_env["run_id"] in sidebar_text(at)


@pytest.mark.slow
def test_training_stop_keeps_a_stopped_run(at, app_env, standin):
    from fmnist_core.engine import JobStatus
    from fmnist_core.runs import RunStore

    open_page(at, "training")
    _quick_run_settings(at, epochs=20)
    _start(at)
    (job,) = _my_jobs(at)
    _wait_for(job.job_id, lambda j: j.status == JobStatus.RUNNING and j.state.batch > 0)
    at.run()
    stop = at.button(key=f"jobs_cancel_{job.job_id}")
    assert stop.label == "Stop"
    stop.click().run()
    no_errors(at)
    final = _wait_for(job.job_id, lambda j: not j.status.active)
    assert final.status == JobStatus.STOPPED, final
    assert final.state.epoch < 20  # it stopped early, after the batch it was on
    at.run()
    no_errors(at)
    assert any(f"`{job.job_id}` stopped" in m.value for m in at.markdown)
    assert RunStore(app_env["runs"], pretrained_dir=None).get(final.state.run_id).status == "stopped"


@pytest.mark.slow
def test_training_resume_continues_a_stopped_run(at, app_env, standin):
    from fmnist_core.engine import Engine, JobStatus
    from fmnist_core.runs import RunStore

    open_page(at, "training")
    _quick_run_settings(at, epochs=2)
    # 120 batches an epoch: on a fast, quiet CPU epoch 2 still lasts long enough to be stopped inside it.
    at.number_input(key="tr_train_limit").set_value(12000).run()
    _start(at)
    (job,) = _my_jobs(at)
    _wait_for(job.job_id, lambda j: j.state.epoch >= 2 or not j.status.active)  # epoch 1 is checkpointed
    Engine().cancel(job.job_id, at.session_state["jobs_submitter"])  # what the Stop button does
    stopped = _wait_for(job.job_id, lambda j: not j.status.active)
    store = RunStore(app_env["runs"], pretrained_dir=None)
    run = store.get(stopped.state.run_id)
    assert stopped.status == JobStatus.STOPPED and run.resumable, (stopped, run.epochs_completed)

    at.run()
    at.selectbox(key="tr_load_run").set_value(run.run_id).run()
    resume = at.button(key="tr_resume")
    assert not resume.disabled
    resume.click().run()
    no_errors(at)
    resumed = [j for j in _my_jobs(at) if j.job_id != job.job_id]
    assert len(resumed) == 1 and resumed[0].submission.resume_run_id == run.run_id
    final = Engine().wait(resumed[0].job_id, timeout=240)
    assert final.status == JobStatus.COMPLETED and final.state.run_id == run.run_id, final
    assert store.get(run.run_id).epochs_completed == 2


# ---------------------------------------------------------------- predictions
def test_predictions_metrics_filters_and_detail(at, app_env):
    open_page(at, "predictions")
    no_errors(at)
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics["Test accuracy"] == f"{100 * app_env['accuracy']:.2f}%"
    confusion = figure(at, "pr_confusion")
    assert confusion["data"][0]["x"][0] == "T-shirt/top" and len(confusion["data"][0]["y"]) == 10
    assert at.dataframe, "per-class table"

    titles = grid_titles(figure(at, "pr_grid"))
    assert len(titles) == 24 and all(t.startswith("Pred: ") for t, _ in titles)

    at.toggle(key="pr_wrong_only").set_value(True).run()
    no_errors(at)
    wrong = grid_titles(figure(at, "pr_grid"))
    assert wrong and all(color == WRONG for _, color in wrong)
    for text, _ in wrong:
        pred, true = text.split("<br>")
        assert pred.removeprefix("Pred: ").rsplit(" (", 1)[0] != true.removeprefix("True: ")

    at.multiselect(key="pr_true").set_value(["Shirt"]).run()
    at.selectbox(key="pr_sort").set_value("confidence_asc").run()
    shirts = grid_titles(figure(at, "pr_grid"))
    assert shirts and all(t.endswith("True: Shirt") and c == WRONG for t, c in shirts)

    picker = at.selectbox(key="pr_selected")
    second = int(picker.options[1].split()[0].lstrip("#"))  # labels read "#<test index> ✗ true …"
    picker.set_value(second).run()
    no_errors(at)
    assert any(f"Test image #{second}" in caption for img in at.image for caption in img.captions)
    bars = figure(at, "pr_bars")
    assert len(values(bars["data"][0]["x"])) == 10
    assert any(m.value.startswith("Top 3:") for m in at.markdown)

    at.toggle(key="pr_wrong_only").set_value(False).run()
    at.multiselect(key="pr_true").set_value([]).run()
    at.multiselect(key="pr_pred").set_value(["Trouser"]).run()
    assert all("Pred: Trouser" in t for t, _ in grid_titles(figure(at, "pr_grid")))


# ---------------------------------------------------------------- classify
def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_classify_upload_shows_model_input_and_prediction(at):
    from fmnist_core.data import load_dataset

    open_page(at, "classify")
    assert at.get("bidi_component"), "the drawing canvas renders under this Streamlit"
    boot = load_dataset().x_test[0]  # an ankle boot, enlarged like a photo
    enlarged = _png(np.kron(boot, np.ones((8, 8), np.uint8)))
    at.file_uploader(key="cl_upload").set_value(("boot.png", enlarged, "image/png"))
    at.run()
    no_errors(at)
    assert any(m.value.startswith("### Prediction: ") for m in at.markdown)
    assert any(m.value.startswith("1. ") for m in at.markdown)  # the top 3
    assert len(values(figure(at, "cl_upload_bars")["data"][0]["x"])) == 10
    assert len(at.image) >= 2  # the original and the 28x28 input

    at.file_uploader(key="cl_upload").set_value(("broken.png", b"\x89PNG\r\n\x1a\n but not really", "image/png"))
    at.run()
    assert not at.exception
    assert any("This image cannot be classified" in e.value for e in at.error)


def test_classify_photo_outline_and_crop_sliders(at):
    """Issue #14: the photo is shown with the found outline; narrowing the crop re-classifies at once."""
    from PIL import Image

    from fmnist_core.data import load_dataset

    boot = load_dataset().x_test[0]
    photo = np.full((300, 600, 3), (205, 190, 170), np.uint8)  # a beige table
    garment = np.kron(boot, np.ones((8, 8), np.uint8))[8:216, 8:216]
    photo[40:248, 30:238] = np.where(garment[..., None] > 30, (150, 40, 60), photo[40:248, 30:238])
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=80)
    open_page(at, "classify")
    at.file_uploader(key="cl_upload").set_value(("boot.jpg", buffer.getvalue(), "image/jpeg"))
    at.run()
    no_errors(at)
    assert any("Outlined" in c.value for c in at.caption)
    horizontal = next(s for s in at.slider if s.label.startswith("Left and right"))
    horizontal.set_value((0, 50)).run()
    no_errors(at)
    assert any("Framed: your crop." in c.value for c in at.caption)
    assert any(m.value.startswith("### Prediction: ") for m in at.markdown)
    horizontal = next(s for s in at.slider if s.label.startswith("Left and right"))
    horizontal.set_value((60, 100)).run()  # only the empty table
    assert not at.exception
    assert any("No garment found" in e.value for e in at.error)


def test_classify_drawing_path_through_the_page_function(app_env):
    """The Draw tab calls ui.classify.classify_drawing on the canvas' RGBA pixels; AppTest cannot draw."""
    from fmnist_core.errors import EmptyImageError
    from fmnist_core.runs import RunStore
    from ui.classify import classify_drawing

    run = RunStore(app_env["runs"], pretrained_dir=None).get(app_env["run_id"])
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255  # black background, opaque
    canvas[40:240, 70:130, :3] = 255  # two white trouser legs
    canvas[40:240, 150:210, :3] = 255
    canvas[40:80, 70:210, :3] = 255
    result = classify_drawing(run, canvas)
    assert result.probabilities.shape == (10,) and abs(float(result.probabilities.sum()) - 1) < 1e-4
    assert len(result.top3) == 3 and result.preprocessed.as_uint8().shape == (28, 28)
    with pytest.raises(EmptyImageError):
        classify_drawing(run, np.zeros((280, 280, 4), np.uint8))


# ---------------------------------------------------------------- empty state and errors
def test_without_any_model_every_page_says_what_to_do(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path / "no-runs"))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    for page in ("home", "data_explorer", "training", "predictions", "classify"):
        open_page(app, page)
        if page != "training":  # it may show the last job's outcome from another test
            no_errors(app)
        if page in {"home", "predictions", "classify"}:
            assert any("Train one on the Training page" in i.value for i in app.info), page
    assert any("None yet" in c.value for c in app.sidebar.caption)


def test_errors_are_friendly_and_never_tracebacks(tmp_path):
    from fmnist_core.data import load_dataset
    from fmnist_core.errors import DataNotFoundError, TrainingBusyError
    from ui.layout import friendly_error

    assert "already training" in friendly_error(TrainingBusyError("busy"))
    with pytest.raises(DataNotFoundError) as missing:  # the core's message says where it looked and what to set
        load_dataset(tmp_path / "no-data")
    assert "FMNIST_DATA_DIR" in friendly_error(missing.value) and str(tmp_path) in friendly_error(missing.value)

    def page():
        from ui.layout import guarded

        with guarded():
            raise RuntimeError("secret internal detail")

    app = AppTest.from_function(page, default_timeout=30)
    app.run()
    assert not app.exception
    assert len(app.error) == 1 and "secret" not in app.error[0].value


def test_compare_selection_adds_new_runs_and_drops_deleted_ones():
    from ui.state import compare_selection

    runs = ["r5", "r4", "r3", "r2", "r1"]  # newest first, as RunStore lists them
    assert compare_selection(None, None, runs) == ["r5", "r4", "r3"]
    # The user narrowed the choice to r3; then r6 was trained and r4 deleted.
    assert compare_selection(["r3"], runs, ["r6", "r5", "r3", "r2", "r1"]) == ["r6", "r3"]
    # Nothing new: the user's choice stands, even an empty one.
    assert compare_selection([], runs, runs) == []
    assert compare_selection(["r1", "r5"], runs, runs) == ["r1", "r5"]
