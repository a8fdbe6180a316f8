"""Training page: a saved run can be downloaded in each export format (zip with model + README)."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from fmnist_core.export_formats import ExportFormat
from ui.export_panel import zip_folder
from ui.navigation import VIEWS_DIR

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_zip_folder_keeps_the_tree(tmp_path):
    (tmp_path / "saved_model" / "variables").mkdir(parents=True)
    (tmp_path / "saved_model" / "variables" / "v.index").write_bytes(b"x")
    (tmp_path / "README.md").write_text("hi")
    names = zipfile.ZipFile(io.BytesIO(zip_folder(tmp_path, "run-fmt"))).namelist()
    assert names == ["run-fmt/README.md", "run-fmt/saved_model/variables/v.index"]


def test_training_page_prepares_a_litert_download(trained_run, tmp_path, monkeypatch):
    store, run_id = trained_run
    shutil.copytree(store.root / run_id, tmp_path / "runs" / run_id)
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page(f"{VIEWS_DIR}/training.py").run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="tr_export_format")
    picker.select_index(next(i for i, label in enumerate(picker.options) if label.startswith("LiteRT ("))).run()
    assert at.selectbox(key="tr_export_format").value == ExportFormat.LITERT.value
    at.button(key="tr_export_prepare").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    downloads = at.get("download_button")
    assert len(downloads) == 1
    assert any("model.tflite + README.md" in c.value for c in at.caption)
