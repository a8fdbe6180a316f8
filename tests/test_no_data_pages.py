"""Without the dataset every page says so once (issue 11 item 5), through AppTest, never touching the network.

FMNIST_DATA_DIR names an empty folder (the app never downloads into a folder the user named), or it is
unset with an empty Keras cache and a downloader that fails at once and counts its calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

import fmnist_core.data as data
from fmnist_core.constants import DATA_DIR_ENV
from ui.navigation import VIEWS_DIR

pytestmark = [pytest.mark.app]

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ["home", "data_explorer", "augmentation_lab", "training", "predictions", "classify"]
DATA_PAGES = {"home", "data_explorer", "augmentation_lab", "training", "predictions"}


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """An empty data folder, an empty runs folder, the shipped default model (no training needed)."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(empty))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")  # belt and braces: never a download
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("FMNIST_PRETRAINED_DIR", raising=False)
    data.forget_failed_download()
    yield empty
    data.forget_failed_download()


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page != "home":
        at.switch_page(f"{VIEWS_DIR}/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _data_messages(at: AppTest) -> list[str]:
    return [e.value for e in at.error if "Fashion-MNIST" in e.value]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_says_once_where_it_looked_and_what_to_do(no_data, page):
    at = _open(page)
    messages = _data_messages(at)
    if page not in DATA_PAGES:  # Classify needs only the model
        assert messages == []
        return
    assert len(messages) == 1, messages
    message = messages[0]
    assert str(no_data) in message and DATA_DIR_ENV in message and data.DOWNLOAD_COMMAND in message
    assert "None" not in message
    assert message.count("Set FMNIST_DATA_DIR") == 1, message
    assert len(at.error) == 1, [e.value for e in at.error]


def test_training_says_before_start_that_it_needs_the_data(no_data):
    at = _open("training")
    assert any("Training needs the Fashion-MNIST data" in w.value for w in at.warning)


def test_a_failed_download_is_tried_once_across_reruns_and_again_on_request(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path / "runs"))
    calls = []

    def failing_download() -> None:
        calls.append(1)
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "downloader", failing_download)
    data.forget_failed_download()
    try:
        at = _open("data_explorer")
        for _ in range(3):
            at.run()
        at.switch_page(f"{VIEWS_DIR}/home.py").run()
        assert len(calls) == 1, f"{len(calls)} download attempts in 5 page runs"
        assert len(_data_messages(at)) == 1
        at.button(key="data_try_again").click().run()
        assert len(calls) == 2
    finally:
        data.forget_failed_download()
