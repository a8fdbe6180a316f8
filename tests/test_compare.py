"""Compare what changed: architecture differences between runs (pure, and on the Training page) and the
test images one run gets right and the other wrong (pure, and on the Predictions page)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fmnist_core.archspec import ArchitectureSpec, Conv, Dense, Dropout, Flatten, MaxPool
from fmnist_core.archspec_diff import architecture_diff
from fmnist_core.models import ARCHITECTURES, EXPERIMENTS
from fmnist_core.run_compare import fixed_and_broken
from ui.compare_panel import settings_changes

SEED = ARCHITECTURES["seed_cnn"].spec
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_diff_of_the_guided_experiments_names_each_edit():
    no_dropout = architecture_diff(SEED, EXPERIMENTS["seed_no_dropout"].spec)
    assert [c.describe() for c in no_dropout.changes] == [
        "Removed layer 3: Dropout 0.25", "Removed layer 6: Dropout 0.25", "Removed layer 9: Dropout 0.5"]
    assert no_dropout.parameters == (225_034, 225_034)
    no_pool = architecture_diff(SEED, EXPERIMENTS["seed_no_pooling"].spec)
    assert {c.change for c in no_pool.changes} == {"removed"} and no_pool.multiply_adds[1] > no_pool.multiply_adds[0]
    assert architecture_diff(SEED, SEED).same


def test_diff_of_changed_settings_and_added_layers():
    a = ArchitectureSpec("a", (Conv(32, 3, padding="valid"), MaxPool(2), Flatten(), Dense(128)))
    b = ArchitectureSpec("b", (Conv(16, 5, padding="valid"), MaxPool(2), Flatten(), Dense(128), Dropout(0.5)))
    changes = architecture_diff(a, b).changes
    assert [c.change for c in changes] == ["changed", "added"]
    assert changes[0].settings == (("filters", 32, 16), ("kernel", 3, 5))
    assert changes[0].describe() == "Layer 1, convolution: filters 32 → 16, kernel 3 → 5"
    assert changes[1].describe() == "Added layer 5: Dropout 0.5"
    swapped = architecture_diff(a, ArchitectureSpec("c", (Conv(32, 3, padding="valid"), Flatten(), Dense(128))))
    assert [c.describe() for c in swapped.changes] == ["Removed layer 2: Max pooling 2x2"]


def test_fixed_and_broken_sets():
    y = np.array([0, 1, 2, 3, 4, 5])
    before = np.array([0, 9, 2, 9, 4, 5])  # wrong on 1 and 3
    after = np.array([0, 1, 9, 9, 4, 9])  # fixes 1, breaks 2 and 5, still wrong on 3
    result = fixed_and_broken(y, before, after)
    assert result.fixed.tolist() == [1] and result.broken.tolist() == [2, 5] and result.net == -1
    assert result.net == int((after == y).sum() - (before == y).sum())
    with pytest.raises(ValueError):
        fixed_and_broken(y, before[:3], after)


def test_settings_changes_lists_only_what_differs():
    a = {"architecture": "seed_cnn", "epochs": 7, "augmentation": {"zoom": 0.0}, "architecture_spec": None}
    b = {"architecture": "x", "epochs": 10, "augmentation": {"zoom": 0.1}, "architecture_spec": {"layers": []}}
    assert settings_changes(a, b) == ["augmentation zoom 0.0 → 0.1", "epochs 7 → 10"]


# ---------------------------------------------------------------- the pages
def _fake_run(root, run_id, spec, accuracy, started, epochs=2):
    from fmnist_core.config import TrainConfig

    config = TrainConfig(architecture=spec.name, architecture_spec=None if spec.name in ARCHITECTURES else spec,
                         epochs=epochs)
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "config": config.to_dict(), "architecture_spec": spec.to_dict(), "status": "completed",
        "started_at": started, "epochs_completed": epochs, "test": {"accuracy": accuracy, "loss": 0.5}}))
    (folder / "history.json").write_text(json.dumps({"accuracy": [0.7, 0.8], "val_accuracy": [0.7, accuracy],
                                                      "loss": [0.9, 0.6], "val_loss": [0.9, 0.7]}))


def test_training_page_shows_what_changed_between_two_runs(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    _fake_run(tmp_path, "20260101-100000-seed_cnn-aaaa", SEED, 0.85, "2026-01-01T10:00:00+00:00", epochs=7)
    _fake_run(tmp_path, "20260101-110000-seed_no_dropout-bbbb", EXPERIMENTS["seed_no_dropout"].spec, 0.8725,
              "2026-01-01T11:00:00+00:00", epochs=10)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/training.py").run()
    assert not at.exception
    at.multiselect(key="tr_compare_runs").set_value(["20260101-110000-seed_no_dropout-bbbb",
                                                     "20260101-100000-seed_cnn-aaaa"]).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "from `20260101-100000-seed_cnn-aaaa` (before) to `20260101-110000-seed_no_dropout-bbbb` (after)" in text
    assert "- Removed layer 3: Dropout 0.25" in text and "- Removed layer 9: Dropout 0.5" in text
    assert "- epochs 7 → 10" in text
    metrics = {m.label: m for m in at.metric}
    assert metrics["Test accuracy after"].value == "87.25%" and "+2.25 points" in metrics["Test accuracy after"].delta
    at.multiselect(key="tr_compare_runs").set_value(["20260101-100000-seed_cnn-aaaa"]).run()
    assert any("Choose exactly two runs" in c.value for c in at.caption)


def test_predictions_page_lists_what_a_change_fixed_and_broke(trained_run, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store, run_id = trained_run
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    shutil.copytree(store.root / run_id, tmp_path / run_id)
    before_id = "20200101-000000-before-0000"
    shutil.copytree(store.root / run_id, tmp_path / before_id)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["active_run_id"] = run_id
    at.run()
    at.switch_page("views/predictions.py").run()  # evaluates the active run: predictions.npz beside its model
    assert not at.exception
    with np.load(tmp_path / run_id / "predictions.npz") as stored:
        key, probabilities = str(stored["key"]), stored["probabilities"]
    from fmnist_core.data import load_dataset

    y = load_dataset().y_test
    after = probabilities.argmax(axis=1)
    right, wrong = np.flatnonzero(after == y), np.flatnonzero(after != y)
    before = probabilities.copy()
    for i in right[:50]:  # the "before" run got these wrong: the change fixed them
        before[i] = np.eye(10)[(y[i] + 1) % 10]
    for i in wrong[:30]:  # and these right: the change broke them
        before[i] = np.eye(10)[y[i]]
    np.savez_compressed(tmp_path / before_id / "predictions.npz", key=np.array(key), probabilities=before)
    at.selectbox(key="pr_compare_run").set_value(before_id).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**50 fixed**, **30 broken**, net +20 images" in text
    assert {t.label for t in at.tabs} >= {"Fixed (50)", "Broken (30)"}
    charts = {chart.key for chart in at.get("plotly_chart")}
    assert {"pr_fixed_grid", "pr_broken_grid"} <= charts
