"""fmnist_core.photo_renders: which images are rendered, that renders are seeded and cached, that a
stopped render keeps its work, that a broken cache is made again, and that training adds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmnist_core import photo_renders as pr
from fmnist_core.constants import VALIDATION_SIZE
from fmnist_core.data import stratified_split


def _small_garments(count: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """count 28x28 'garments': a bright filled rectangle with some shading, class = i % 10."""
    rng = np.random.default_rng(5)
    images = np.zeros((count, 28, 28), np.uint8)
    for i in range(count):
        top, left = rng.integers(2, 8, 2)
        images[i, top : top + 16 + i % 5, left : left + 14] = rng.integers(120, 250, (16 + i % 5, 14))
    return images, np.arange(count) % 10


def test_render_order_never_includes_the_holdout_images():
    labels = np.arange(12_000) % 10
    order = pr.render_order(labels)
    held_out = stratified_split(np.arange(len(labels)), labels).x_val
    assert len(order) == len(labels) - VALIDATION_SIZE
    assert not set(order.tolist()) & set(held_out.tolist())
    assert len(set(order.tolist())) == len(order)
    np.testing.assert_array_equal(order, pr.render_order(labels))  # fixed, whatever the caller


def test_renders_are_seeded_cached_and_shared_by_every_count(tmp_path):
    images, labels = _small_garments()
    reports = []
    first = pr.photo_renders(images, labels, 12, tmp_path, progress=lambda *a: reports.append(a), threads=2)
    assert first.tried == 12 and first.from_cache == 0
    assert len(first.images) == len(first.labels) == len(first.indices)
    assert first.images.shape[1:] == (28, 28) and first.images.dtype == np.uint8
    assert 10 <= len(first.images) <= 12
    np.testing.assert_array_equal(first.labels, labels[first.indices])
    assert set(first.indices.tolist()) <= set(pr.render_order(labels)[:12].tolist())
    assert reports[0][:3] == (0, 12, 0) and reports[-1][:2] == (12, 12)
    # The garment is light, centred, on black (the tall rectangles leave the side columns dark).
    assert all(img.max() > 150 and img[:, [0, -1]].mean() + 60 < img[10:18, 10:18].mean() for img in first.images)

    # A smaller count is a prefix of the cached renders, with nothing rendered again.
    fewer = pr.photo_renders(images, labels, 6, tmp_path, threads=1)
    assert fewer.from_cache == 6
    kept = np.isin(first.indices, fewer.indices)
    np.testing.assert_array_equal(fewer.images, first.images[kept])

    # A fresh cache renders the same pixels (each image has its own seed; thread count does not matter).
    again = pr.photo_renders(images, labels, 12, tmp_path / "elsewhere", threads=1)
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.indices, first.indices)


def test_a_stopped_render_keeps_its_work_and_the_next_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(pr, "CHUNK", 4)
    images, labels = _small_garments()
    chunks = []
    stopped = pr.photo_renders(images, labels, 20, tmp_path, progress=lambda *a: chunks.append(a),
                               should_stop=lambda: len(chunks) >= 3)
    assert stopped.tried == 8  # the first report, then two chunks of 4
    resumed = pr.photo_renders(images, labels, 20, tmp_path)
    assert resumed.from_cache == 8 and resumed.tried == 20
    fresh = pr.photo_renders(images, labels, 20, tmp_path / "fresh")
    np.testing.assert_array_equal(resumed.images, fresh.images)


def test_a_render_that_fails_keeps_the_chunks_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr(pr, "CHUNK", 4)
    images, labels = _small_garments()
    order = pr.render_order(labels)
    real = pr.render_example

    def flaky(image, index):
        if index == int(order[9]):  # in the third chunk
            raise RuntimeError("a render bug")
        return real(image, index)

    monkeypatch.setattr(pr, "render_example", flaky)
    with pytest.raises(RuntimeError):
        pr.photo_renders(images, labels, 20, tmp_path)
    monkeypatch.setattr(pr, "render_example", real)
    assert pr.rendered_count(pr.render_cache_path(tmp_path, images, labels), labels) == 8  # two whole chunks
    assert pr.photo_renders(images, labels, 20, tmp_path).from_cache == 8


def test_a_broken_cache_file_is_made_again(tmp_path):
    images, labels = _small_garments(12)
    path = pr.render_cache_path(tmp_path, images, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    result = pr.photo_renders(images, labels, 5, tmp_path)
    assert result.tried == 5 and result.from_cache == 0
    assert pr.photo_renders(images, labels, 5, tmp_path).from_cache == 5  # and it was rewritten


def test_the_cache_belongs_to_its_dataset(tmp_path):
    images, labels = _small_garments(12)
    other = images.copy()
    other[0, 0, 0] ^= 1
    assert pr.render_cache_path(tmp_path, images, labels) != pr.render_cache_path(tmp_path, other, labels)


def test_the_cache_follows_the_code_not_its_comments_or_docstrings():
    """Seven minutes of renders are kept when a comment or a docstring of the pipeline changes, and made
    again when its code, or RENDER_VERSION, does."""
    code = '''"""Module."""
LIMIT = 144  # work size


class Finder:
    """Why it finds."""

    def find(self, x):
        """How."""
        return min(x, LIMIT)
'''
    reworded = code.replace('"""Module."""', '"""Module, explained at length."""').replace("  # work size", "")
    reworded = reworded.replace('"""How."""', '"""How, with a measurement."""\n        # and a note')
    assert pr.code_fingerprint([code]) == pr.code_fingerprint([reworded])
    assert pr.code_fingerprint([code]) != pr.code_fingerprint([code.replace("LIMIT = 144", "LIMIT = 72")])
    assert pr.code_fingerprint([code]) != pr.code_fingerprint([code.replace("min(x", "max(x")])
    assert pr.code_fingerprint([code]) != pr.code_fingerprint([code], version=pr.RENDER_VERSION + 1)
    assert pr._code_fingerprint() in pr.render_cache_path(Path("."), *_small_garments(2)).name


def test_with_photo_renders_appends_images_and_labels():
    images, labels = _small_garments(12)
    renders = pr.PhotoRenders(images[:3], labels[:3], np.arange(3), 3, 0)
    x, y = pr.with_photo_renders(images, labels, renders)
    assert x.shape == (15, 28, 28) and y.tolist() == labels.tolist() + labels[:3].tolist()
    empty = pr.PhotoRenders(np.zeros((0, 28, 28), np.uint8), np.zeros(0, int), np.zeros(0, int), 0, 0)
    assert pr.with_photo_renders(images, labels, empty)[0] is images


@pytest.mark.slow
def test_training_with_photo_renders_adds_them_and_reports_progress(synthetic_dataset, tmp_store, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    from conftest import report_optimiser_config

    from fmnist_core.training import RenderProgress, TrainingStarted, train

    events = []
    # photo renders of 6% of the 1,000 images: 60
    config = report_optimiser_config(epochs=1, batch_size=50, validation="test", seed=3, photo_renders=0.06)
    result = train(config, dataset=synthetic_dataset, store=tmp_store, listener=events.append)
    renders = [e for e in events if isinstance(e, RenderProgress)]
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert renders[0].done == 0 and renders[-1].done == renders[-1].total == 60
    kept = result.run.meta["photo_renders"]["images"]
    assert 0 < kept <= 60 and result.run.meta["photo_renders"]["tried"] == 60
    assert result.run.meta["train_images"] == len(synthetic_dataset.y_train) + kept
    assert started.steps_per_epoch == -(-(len(synthetic_dataset.y_train) + kept) // 50)
    assert events.index(renders[-1]) < events.index(started)


def test_stopping_while_rendering_stops_the_run_before_its_first_batch(synthetic_dataset, tmp_store, tmp_path,
                                                                        monkeypatch):
    import threading

    from conftest import report_optimiser_config

    from fmnist_core.runs import RunStatus
    from fmnist_core.training import RenderProgress, train

    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pr, "CHUNK", 4)
    stop = threading.Event()

    def listener(event):
        if isinstance(event, RenderProgress) and event.done >= 8:
            stop.set()

    config = report_optimiser_config(epochs=1, batch_size=50, validation="test", seed=3, photo_renders=0.4)
    result = train(config, dataset=synthetic_dataset, store=tmp_store, listener=listener, stop_event=stop)
    assert result.status == RunStatus.STOPPED
    assert result.run.epochs_completed == 0
    assert result.run.meta["photo_renders"]["tried"] == 8
